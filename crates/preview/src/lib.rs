//! Text extraction and previews: what a teacher sees before downloading, and the words inside
//! a file that search can find.
//!
//! Everything here works on a local file (the worker copies the blob to a temporary file) and
//! is blocking: callers run it on a blocking thread, never on a request thread. Formats read in
//! process: DOCX, PPTX, XLSX, ODT, ODP, ODS, PDF (text and page images), HTML, plain text,
//! images, HTML5/SCORM packages. External programs, when installed: LibreOffice (Office → PDF),
//! `pdftoppm` (page images when the in-process renderer fails), `ffprobe`/`ffmpeg` (video and
//! audio). Each runs with a timeout and a memory cap; a missing one leaves a note, not a failure.
//!
//! **Architecture invariant:** the server never calls [`derive`] or [`render_page_to`] itself:
//! it goes through [`Sandbox`], which runs them in a capped child process.

mod html;
mod images;
mod media;
mod office;
mod package;
mod pdf;
mod process;
pub mod sandbox;
mod zipread;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hoclieu_domain::preview::Limits;
use hoclieu_domain::{Derived, PreviewKind};

pub use pdf::render_page_to;
pub use process::Converters;
pub use sandbox::Sandbox;

/// The preview crate's error type. Every variant is a reason a teacher may read (in the
/// preview manifest), so messages name the file's problem, not the code's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not what its type says, or is damaged.
    #[error("the file cannot be read: {0}")]
    Corrupt(String),
    /// The file exceeds a safety limit (decompressed size, entry count, pages).
    #[error("the file exceeds a safety limit: {0}")]
    Limit(String),
    /// A zip entry's path leaves the package (`../`, absolute paths).
    #[error("unsafe path in the package: {0:?}")]
    UnsafePath(String),
    /// An external converter failed or took too long.
    #[error("{program} failed: {message}")]
    Converter { program: String, message: String },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The sandboxed reader died on the file (memory cap, CPU limit, stack overflow, crash).
    #[error("the file cannot be read safely: {0}")]
    Crashed(String),
    /// The sandboxed reader outlived its wall-clock limit and was stopped.
    #[error("reading the file took longer than {seconds} s")]
    Timeout { seconds: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of a derivation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Options {
    pub limits: Limits,
    pub converters: Converters,
    /// Longest time an external converter may run.
    pub converter_timeout: Duration,
    /// Address-space cap for external converters, in MiB.
    pub converter_memory_mb: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            converters: Converters::detect(),
            converter_timeout: Duration::from_secs(120),
            converter_memory_mb: 2048,
        }
    }
}

/// What was derived from one file. Images are files in the caller's work directory.
#[derive(Debug, Default)]
pub struct Output {
    pub text: Option<String>,
    pub derived: Derived,
    /// (object name, path) of every file to store beside the blob: each entry of
    /// `derived.images`, and `derived.document` when there is one.
    pub files: Vec<(String, PathBuf)>,
}

/// What of a file to derive. PDF text and PDF pages come from different parsers (pdf-extract,
/// hayro) that fail on different files, so the sandbox derives them in separate processes: a
/// file that kills one still gets the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Whole,
    PdfPages,
    PdfText,
}

/// Derives text and a preview from the file at `path`. `work` is an empty directory the
/// caller removes afterwards.
pub fn derive(path: &Path, kind: PreviewKind, media_type: &str, work: &Path, options: &Options) -> Result<Output> {
    derive_part(path, kind, media_type, work, options, Part::Whole)
}

/// [`derive`], limited to `part` for PDFs (other kinds are always derived whole).
pub fn derive_part(
    path: &Path,
    kind: PreviewKind,
    media_type: &str,
    work: &Path,
    options: &Options,
    part: Part,
) -> Result<Output> {
    let mut out = Output::default();
    match kind {
        PreviewKind::Pdf => {
            if part != Part::PdfPages {
                out.text = pdf::text(path, options);
            }
            if part != Part::PdfText {
                pdf::preview(path, work, options, &mut out)?;
            }
        }
        PreviewKind::Office => {
            out.text = Some(office::text(path, media_type, &options.limits)?);
            match office::to_pdf(path, work, options) {
                Ok(pdf_path) => {
                    pdf::preview(&pdf_path, work, options, &mut out)?;
                    // Kept so later pages can be rendered on request.
                    out.derived.document = Some("document.pdf".into());
                    out.files.push(("document.pdf".into(), pdf_path));
                }
                Err(e) => out.derived.notes.push(format!("no page images: {e}")),
            }
        }
        PreviewKind::Image => images::preview(path, work, options, &mut out)?,
        PreviewKind::Video | PreviewKind::Audio => media::preview(path, kind, work, options, &mut out),
        PreviewKind::Package => {
            let info = package::read(path, &options.limits)?;
            out.text = package::text(path, &info, &options.limits)?;
            out.derived.package = Some(info);
        }
        PreviewKind::Text => out.text = Some(html::text_file(path, media_type, &options.limits)?),
        PreviewKind::None => {}
    }
    if let Some(t) = out.text.take() {
        let t = truncate_chars(hoclieu_domain::text::clean(&t, true), options.limits.max_text_chars);
        out.text = (!t.is_empty()).then_some(t);
    }
    Ok(out)
}

fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(super::truncate_chars("tiếng việt".into(), 4), "tiến");
        assert_eq!(super::truncate_chars("ab".into(), 4), "ab");
    }
}
