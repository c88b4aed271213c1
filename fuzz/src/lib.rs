//! Shared by the fuzz targets: run one input through a parser of `hoclieu_preview`, in process
//! (the fuzzer is the sandbox here: a crash it finds is a parser bug that the service's sandbox
//! would contain, worth reporting upstream or working around).

use std::path::Path;

use hoclieu_domain::PreviewKind;
use hoclieu_domain::preview::Limits;
use hoclieu_preview::{Converters, Options};

/// Options without external converters (only in-process parsers are fuzzed), with the
/// service's default limits.
pub fn options() -> Options {
    Options {
        limits: Limits::default(),
        converters: Converters::default(),
        converter_timeout: std::time::Duration::from_secs(5),
        converter_memory_mb: 512,
    }
}

/// Writes `data` to a file named `input.{ext}` in a fresh directory and derives it as `kind`.
pub fn derive(data: &[u8], ext: &str, kind: PreviewKind, media_type: &str) {
    let dir = tempfile::tempdir_in(scratch()).expect("a scratch directory");
    let input = dir.path().join(format!("input.{ext}"));
    std::fs::write(&input, data).expect("the input is written");
    let work = dir.path().join("out");
    std::fs::create_dir_all(&work).expect("a work directory");
    let _ = hoclieu_preview::derive(&input, kind, media_type, &work, &options());
}

/// Files go to memory when the machine has /dev/shm: the fuzzer writes one per execution.
fn scratch() -> &'static Path {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm } else { Path::new("/tmp") }
}
