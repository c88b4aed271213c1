//! Isolation: untrusted files are parsed in a child process, never in the server.
//!
//! A parser bug on a hostile file (an allocation of terabytes, unbounded recursion, an endless
//! loop) cannot be caught inside a process: an abort or a stack overflow kills it, and a thread
//! that loops cannot be stopped. So every derivation and every page rendered on request runs in
//! a child (`hoclieu derive-one`) with an address-space cap, a CPU-time limit, a wall-clock
//! timeout and its own process group; whatever the child does, the caller gets an `Error`.
//!
//! The request goes to the child's standard input as JSON; the reply comes back on its standard
//! output as JSON. Files (the input, page images, the converted PDF) are paths in a directory
//! the caller owns.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hoclieu_domain::{Derived, PreviewKind};
use serde::{Deserialize, Serialize};

use crate::process::{Caps, Finished, describe_failure, run_capped};
use crate::{Error, Options, Output, Part, Result};

/// The subcommand of the `hoclieu` binary that serves as the child.
pub const SUBCOMMAND: &str = "derive-one";

/// How untrusted files are parsed: `program args…` as a capped child process.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The program (the `hoclieu` binary itself) and the arguments that make it the child.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Address-space cap of the child, in MiB.
    pub memory_mb: u64,
    /// Wall-clock and CPU-time limit of a whole derivation.
    pub derive_timeout: Duration,
    /// Wall-clock and CPU-time limit of one page rendered on request.
    pub render_timeout: Duration,
}

impl Sandbox {
    /// The running binary as the child (`hoclieu derive-one`).
    pub fn current_exe(memory_mb: u64, derive_timeout: Duration, render_timeout: Duration) -> std::io::Result<Self> {
        Ok(Sandbox {
            program: std::env::current_exe()?,
            args: vec![SUBCOMMAND.into()],
            memory_mb,
            derive_timeout,
            render_timeout,
        })
    }

    /// Derives text and a preview from `input` in a child process (see [`crate::derive`]),
    /// within `derive_timeout` in all. A PDF's pages and its text are derived by two children: a
    /// file that kills the text extractor keeps its pages (and says why it has no text).
    pub fn derive(
        &self,
        input: &Path,
        kind: PreviewKind,
        media_type: &str,
        work: &Path,
        options: &Options,
    ) -> Result<Output> {
        if kind != PreviewKind::Pdf {
            return self.derive_part(input, kind, media_type, work, options, Part::Whole, self.derive_timeout);
        }
        let started = std::time::Instant::now();
        let mut out = self.derive_part(input, kind, media_type, work, options, Part::PdfPages, self.derive_timeout)?;
        let left = self.derive_timeout.saturating_sub(started.elapsed()).max(Duration::from_secs(1));
        match self.derive_part(input, kind, media_type, work, options, Part::PdfText, left) {
            Ok(text) => out.text = text.text,
            Err(e @ Error::Io(_)) => return Err(e),
            Err(e) => out.derived.notes.push(format!("no text: {e}")),
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn derive_part(
        &self,
        input: &Path,
        kind: PreviewKind,
        media_type: &str,
        work: &Path,
        options: &Options,
        part: Part,
        timeout: Duration,
    ) -> Result<Output> {
        let request = Request::Derive {
            input: input.to_owned(),
            kind,
            media_type: media_type.to_owned(),
            work: work.to_owned(),
            options: options.clone(),
            part,
        };
        // Converters run inside the child and may be given more room than the child itself.
        let caps = Caps {
            memory_mb: self.memory_mb,
            memory_hard_mb: self.memory_mb.max(options.converter_memory_mb),
            timeout,
        };
        match self.call(&request, caps)? {
            Reply::Derived { text, derived, files } => {
                // Only files inside the work directory are taken: the reply is not trusted either.
                if let Some((_, bad)) = files.iter().find(|(_, p)| !p.starts_with(work)) {
                    return Err(Error::Crashed(format!("the reader named a file outside its directory: {bad:?}")));
                }
                Ok(Output { text, derived: *derived, files })
            }
            other => Err(unexpected(other)),
        }
    }

    /// Renders page `page` of the PDF at `pdf`, `width` pixels wide, into the JPEG `output`;
    /// returns the image's size.
    pub fn render_page(&self, pdf: &Path, page: u32, width: u32, output: &Path) -> Result<(u32, u32)> {
        let request = Request::Render { pdf: pdf.to_owned(), page, width, output: output.to_owned() };
        let caps = Caps { memory_mb: self.memory_mb, memory_hard_mb: self.memory_mb, timeout: self.render_timeout };
        match self.call(&request, caps)? {
            Reply::Rendered { width, height } => Ok((width, height)),
            other => Err(unexpected(other)),
        }
    }

    fn call(&self, request: &Request, caps: Caps) -> Result<Reply> {
        let input = serde_json::to_vec(request).expect("a request serialises");
        let finished = run_capped(&self.program, &self.args, &input, caps, &[]).map_err(|e| match e {
            Error::Io(e) => Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot start the sandbox {}: {e}", self.program.display()),
            )),
            other => other,
        })?;
        read_reply(&finished, caps)
    }
}

fn read_reply(finished: &Finished, caps: Caps) -> Result<Reply> {
    if !finished.status.success() {
        return Err(Error::Crashed(describe_failure(finished, caps)));
    }
    let reply: Reply = serde_json::from_slice(&finished.stdout)
        .map_err(|e| Error::Crashed(format!("the reader gave no readable answer: {e}")))?;
    match reply {
        Reply::Failed { kind, message } => Err(kind.into_error(message)),
        reply => Ok(reply),
    }
}

fn unexpected(reply: Reply) -> Error {
    Error::Crashed(format!("the reader answered another request: {reply:?}"))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
enum Request {
    Derive { input: PathBuf, kind: PreviewKind, media_type: String, work: PathBuf, options: Options, part: Part },
    Render { pdf: PathBuf, page: u32, width: u32, output: PathBuf },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
enum Reply {
    Derived { text: Option<String>, derived: Box<Derived>, files: Vec<(String, PathBuf)> },
    Rendered { width: u32, height: u32 },
    Failed { kind: FailureKind, message: String },
}

/// [`Error`]'s variants, as they cross the process boundary.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FailureKind {
    Corrupt,
    Limit,
    UnsafePath,
    Converter,
    Io,
    Crashed,
    Timeout,
}

impl FailureKind {
    fn of(e: &Error) -> (FailureKind, String) {
        match e {
            Error::Corrupt(m) => (FailureKind::Corrupt, m.clone()),
            Error::Limit(m) => (FailureKind::Limit, m.clone()),
            Error::UnsafePath(m) => (FailureKind::UnsafePath, m.clone()),
            Error::Converter { program, message } => (FailureKind::Converter, format!("{program}: {message}")),
            Error::Io(e) => (FailureKind::Io, e.to_string()),
            Error::Crashed(m) => (FailureKind::Crashed, m.clone()),
            Error::Timeout { seconds } => (FailureKind::Timeout, seconds.to_string()),
        }
    }

    fn into_error(self, message: String) -> Error {
        match self {
            FailureKind::Corrupt => Error::Corrupt(message),
            FailureKind::Limit => Error::Limit(message),
            FailureKind::UnsafePath => Error::UnsafePath(message),
            FailureKind::Converter => {
                let (program, message) = message.split_once(": ").unwrap_or(("converter", &message));
                Error::Converter { program: program.to_owned(), message: message.to_owned() }
            }
            FailureKind::Io => Error::Io(std::io::Error::other(message)),
            FailureKind::Crashed => Error::Crashed(message),
            FailureKind::Timeout => Error::Timeout { seconds: message.parse().unwrap_or(0) },
        }
    }
}

/// Largest request read by the child (a request names paths; it carries no file).
const MAX_REQUEST_BYTES: u64 = 1 << 20;

/// The child's side: reads one request on standard input, does it, writes the reply on standard
/// output. Returns the process exit code (0 when a reply was written, failures included).
pub fn child_main() -> std::process::ExitCode {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_REQUEST_BYTES).read_to_end(&mut input) {
        eprintln!("derive-one: cannot read the request: {e}");
        return std::process::ExitCode::from(2);
    }
    let request: Request = match serde_json::from_slice(&input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("derive-one: not a request ({e}); this subcommand is run by hoclieu itself");
            return std::process::ExitCode::from(2);
        }
    };
    // Panics are answers too (a corrupt file); aborts and stack overflows end the process and
    // are reported by the parent from the exit status.
    let reply = match catch_unwind(AssertUnwindSafe(|| handle(request))) {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => {
            let (kind, message) = FailureKind::of(&e);
            Reply::Failed { kind, message }
        }
        Err(_) => Reply::Failed { kind: FailureKind::Corrupt, message: "the reader cannot read this file".into() },
    };
    let out = serde_json::to_vec(&reply).expect("a reply serialises");
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(&out).and_then(|()| stdout.flush()).is_err() {
        return std::process::ExitCode::from(2);
    }
    std::process::ExitCode::SUCCESS
}

fn handle(request: Request) -> Result<Reply> {
    match request {
        Request::Derive { input, kind, media_type, work, options, part } => {
            let out = crate::derive_part(&input, kind, &media_type, &work, &options, part)?;
            Ok(Reply::Derived { text: out.text, derived: Box::new(out.derived), files: out.files })
        }
        Request::Render { pdf, page, width, output } => {
            let (width, height) = crate::pdf::render_page_to(&pdf, page, width, &output)?;
            Ok(Reply::Rendered { width, height })
        }
    }
}
