//! External converters: found on `PATH` (or configured), run with a timeout and a memory cap,
//! in their own process group so a timeout kills their children too.

use std::ffi::OsStr;
use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use wait_timeout::ChildExt;

use crate::{Error, Options, Result};

/// Paths of the external programs this server may use; `None` where one is not installed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converters {
    pub soffice: Option<PathBuf>,
    pub pdftoppm: Option<PathBuf>,
    pub ffmpeg: Option<PathBuf>,
    pub ffprobe: Option<PathBuf>,
    /// util-linux `prlimit`, used to cap converters' memory.
    pub prlimit: Option<PathBuf>,
}

impl Converters {
    /// Looks the programs up on `PATH`.
    pub fn detect() -> Converters {
        Converters {
            soffice: which("soffice").or_else(|| which("libreoffice")),
            pdftoppm: which("pdftoppm"),
            ffmpeg: which("ffmpeg"),
            ffprobe: which("ffprobe"),
            prlimit: which("prlimit"),
        }
    }

    /// (name, path) of each converter, for `hoclieu check-config` and the logs.
    pub fn describe(&self) -> Vec<(&'static str, Option<&Path>)> {
        vec![
            ("LibreOffice (Office → PDF)", self.soffice.as_deref()),
            ("pdftoppm (PDF pages, fallback)", self.pdftoppm.as_deref()),
            ("ffmpeg (poster frames)", self.ffmpeg.as_deref()),
            ("ffprobe (duration, size)", self.ffprobe.as_deref()),
        ]
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Runs `program` with `args`; returns its standard output. Fails when it exits non-zero
/// (with the end of its standard error) or outlives the converter timeout.
pub(crate) fn run<S: AsRef<OsStr>>(program: &Path, args: &[S], options: &Options) -> Result<Vec<u8>> {
    let name = program.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let fail = |message: String| Error::Converter { program: name.clone(), message };
    let mut cmd = match &options.converters.prlimit {
        Some(prlimit) => {
            let mut c = Command::new(prlimit);
            c.arg(format!("--as={}", options.converter_memory_mb << 20)).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    };
    let mut stdout = tempfile::tempfile()?;
    let mut stderr = tempfile::tempfile()?;
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(stdout.try_clone()?)
        .stderr(stderr.try_clone()?)
        .env("HOME", std::env::temp_dir())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot start: {e}")))?;
    let status = match child.wait_timeout(options.converter_timeout)? {
        Some(status) => status,
        None => {
            // The whole group: LibreOffice starts soffice.bin as a child.
            let _ = Command::new("kill").arg("-KILL").arg(format!("-{}", child.id())).status();
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("stopped after {} s", options.converter_timeout.as_secs())));
        }
    };
    if !status.success() {
        let mut err = String::new();
        stderr.rewind()?;
        stderr.read_to_string(&mut err).ok();
        let tail: String = err.trim().chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(fail(format!("{status}: {tail}")));
    }
    let mut out = Vec::new();
    stdout.rewind()?;
    stdout.read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_converter_that_hangs_is_stopped() {
        let options = Options { converter_timeout: Duration::from_millis(300), ..Options::default() };
        let started = Instant::now();
        let err = run(Path::new("/bin/sh"), &["-c", "sleep 30 & sleep 30"], &options).unwrap_err();
        assert!(err.to_string().contains("stopped after"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn failures_carry_the_end_of_stderr() {
        let err =
            run(Path::new("/bin/sh"), &["-c", "echo 'no such page' >&2; exit 3"], &Options::default()).unwrap_err();
        assert!(err.to_string().contains("no such page"), "{err}");
        let out = run(Path::new("/bin/sh"), &["-c", "printf ok"], &Options::default()).unwrap();
        assert_eq!(out, b"ok");
    }
}
