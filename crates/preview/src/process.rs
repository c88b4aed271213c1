//! Child processes under caps: an address-space limit, a CPU-time limit, a file-size limit, no
//! core dumps, their own process group (a timeout kills the whole group, grandchildren too) and a
//! wall-clock timeout. Used for the external converters and for the sandboxed derivation itself
//! (`sandbox`).

use std::ffi::OsStr;
use std::io::{Read, Seek, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

use crate::{Error, Options, Result};

/// Largest file a capped process may write (page images, LibreOffice's PDF).
const MAX_FILE_BYTES: u64 = 4 << 30;
/// Largest standard output read back from a capped process.
const MAX_STDOUT_BYTES: u64 = 256 << 20;

/// Paths of the external programs this server may use; `None` where one is not installed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Converters {
    pub soffice: Option<PathBuf>,
    pub pdftoppm: Option<PathBuf>,
    pub ffmpeg: Option<PathBuf>,
    pub ffprobe: Option<PathBuf>,
}

impl Converters {
    /// Looks the programs up on `PATH`.
    pub fn detect() -> Converters {
        Converters {
            soffice: which("soffice").or_else(|| which("libreoffice")),
            pdftoppm: which("pdftoppm"),
            ffmpeg: which("ffmpeg"),
            ffprobe: which("ffprobe"),
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

/// What a capped process may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// Address space, in MiB (the soft limit: allocations beyond it fail).
    pub memory_mb: u64,
    /// The hard address-space limit its own children may be given (≥ `memory_mb`).
    pub memory_hard_mb: u64,
    /// Wall-clock time; the CPU-time limit is the same number of seconds.
    pub timeout: Duration,
}

/// How a capped process ended.
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The end of its standard error (for reasons).
    pub stderr_tail: String,
}

/// Runs `program` with `args` under `caps`, feeding it `stdin`. `Err(Error::Timeout)` when it
/// outlives `caps.timeout` (it and its process group are killed).
pub(crate) fn run_capped<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    stdin: &[u8],
    caps: Caps,
    envs: &[(&str, &OsStr)],
) -> Result<Finished> {
    let mut stdout = tempfile::tempfile()?;
    let mut stderr = tempfile::tempfile()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_empty() { Stdio::null() } else { Stdio::piped() })
        .stdout(stdout.try_clone()?)
        .stderr(stderr.try_clone()?)
        .process_group(0);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let limits = [
        (libc::RLIMIT_AS, caps.memory_mb << 20, caps.memory_hard_mb.max(caps.memory_mb) << 20),
        // SIGXCPU at the soft limit, SIGKILL a little later if it is ignored.
        (libc::RLIMIT_CPU, caps.timeout.as_secs().max(1), caps.timeout.as_secs().max(1) + 5),
        (libc::RLIMIT_FSIZE, MAX_FILE_BYTES, MAX_FILE_BYTES),
        (libc::RLIMIT_CORE, 0, 0),
    ];
    // SAFETY: between fork and exec only async-signal-safe calls are allowed; setrlimit is one,
    // and the closure allocates nothing (the limits are computed before the fork).
    unsafe {
        cmd.pre_exec(move || {
            for (resource, soft, hard) in limits {
                let limit = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    if let Some(mut input) = child.stdin.take() {
        // A child that dies before reading its request is reported by its status below.
        let _ = input.write_all(stdin);
    }
    let waited = child.wait_timeout(caps.timeout);
    // Whatever happened, nothing of the group may outlive the call (LibreOffice forks).
    kill_group(child.id());
    let status = match waited? {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Timeout { seconds: caps.timeout.as_secs() });
        }
    };
    let mut err = Vec::new();
    stderr.rewind()?;
    stderr.take(1 << 20).read_to_end(&mut err)?;
    let err = String::from_utf8_lossy(&err);
    let stderr_tail: String = err.trim().chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
    let mut out = Vec::new();
    stdout.rewind()?;
    stdout.take(MAX_STDOUT_BYTES).read_to_end(&mut out)?;
    Ok(Finished { status, stdout: out, stderr_tail })
}

fn kill_group(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on a process group id we created; ESRCH (already gone) is fine.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Why a capped process ended badly, in words a curator can read.
pub(crate) fn describe_failure(finished: &Finished, caps: Caps) -> String {
    let tail = &finished.stderr_tail;
    if tail.contains("memory allocation of") || tail.contains("cannot allocate memory") {
        return format!("it needs more than the memory cap of {} MiB", caps.memory_mb);
    }
    if tail.contains("overflowed its stack") {
        return "it nests too deeply (the reader ran out of stack)".into();
    }
    match finished.status.signal() {
        Some(libc::SIGXCPU) | Some(libc::SIGKILL) => {
            format!("it needs more than {} s of processor time", caps.timeout.as_secs())
        }
        Some(libc::SIGSEGV) | Some(libc::SIGBUS) => "the reader crashed on it (memory fault)".into(),
        Some(libc::SIGABRT) => format!("the reader aborted on it: {}", last_line(tail)),
        Some(signal) => format!("the reader was stopped by signal {signal}"),
        None => format!("the reader failed ({}): {}", finished.status, last_line(tail)),
    }
}

fn last_line(text: &str) -> &str {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim()
}

/// Runs an external converter; returns its standard output. Fails when it exits non-zero (with
/// the end of its standard error) or outlives the converter timeout.
pub(crate) fn run<S: AsRef<OsStr>>(program: &Path, args: &[S], options: &Options) -> Result<Vec<u8>> {
    let name = program.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let fail = |message: String| Error::Converter { program: name.clone(), message };
    let caps = Caps {
        memory_mb: options.converter_memory_mb,
        memory_hard_mb: options.converter_memory_mb,
        timeout: options.converter_timeout,
    };
    let home = std::env::temp_dir();
    let finished = match run_capped(program, args, &[], caps, &[("HOME", home.as_os_str())]) {
        Ok(f) => f,
        Err(Error::Timeout { seconds }) => return Err(fail(format!("stopped after {seconds} s"))),
        Err(Error::Io(e)) => return Err(fail(format!("cannot start: {e}"))),
        Err(e) => return Err(e),
    };
    if !finished.status.success() {
        return Err(fail(format!("{}: {}", finished.status, finished.stderr_tail)));
    }
    Ok(finished.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_converter_that_hangs_is_stopped_with_its_children() {
        let options = Options { converter_timeout: Duration::from_millis(300), ..Options::default() };
        let started = Instant::now();
        let marker = tempfile::tempdir().unwrap();
        let file = marker.path().join("alive");
        // The grandchild would touch the file after 2 s if the group were not killed.
        let script = format!("(sleep 2; touch {}) & sleep 30", file.display());
        let err = run(Path::new("/bin/sh"), &["-c", &script], &options).unwrap_err();
        assert!(err.to_string().contains("stopped after"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_secs(3));
        assert!(!file.exists(), "a grandchild outlived the timeout");
    }

    #[test]
    fn failures_carry_the_end_of_stderr() {
        let err =
            run(Path::new("/bin/sh"), &["-c", "echo 'no such page' >&2; exit 3"], &Options::default()).unwrap_err();
        assert!(err.to_string().contains("no such page"), "{err}");
        let out = run(Path::new("/bin/sh"), &["-c", "printf ok"], &Options::default()).unwrap();
        assert_eq!(out, b"ok");
    }

    #[test]
    fn memory_and_cpu_are_capped() {
        let caps = Caps { memory_mb: 64, memory_hard_mb: 64, timeout: Duration::from_secs(1) };
        // The address-space cap is visible to the child.
        let f = run_capped(Path::new("/bin/sh"), &["-c", "ulimit -v"], &[], caps, &[]).unwrap();
        assert_eq!(String::from_utf8_lossy(&f.stdout).trim(), (64 * 1024).to_string());
        // A busy loop is stopped by the CPU limit or the wall clock, whichever comes first.
        let started = Instant::now();
        let r = run_capped(Path::new("/bin/sh"), &["-c", "while :; do :; done"], &[], caps, &[]);
        assert!(started.elapsed() < Duration::from_secs(10));
        match r {
            Err(Error::Timeout { .. }) => {}
            Ok(f) => assert!(matches!(f.status.signal(), Some(libc::SIGXCPU | libc::SIGKILL)), "{:?}", f.status),
            Err(e) => panic!("{e}"),
        }
    }
}
