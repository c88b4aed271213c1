//! A short run of the crash harness (`tests/crash/crash.py`; `make crash` runs the long one):
//! uploads over multipart and tus from several clients while the server is killed with SIGKILL
//! and restarted; then every acknowledged upload is downloaded and hashed, the index is compared
//! with the database, and `hoclieu verify` must be clean after its repair.

mod support;

use support::*;

#[test]
fn acknowledged_uploads_survive_kill_9() {
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/crash/crash.py"))
        .args(["--bin", BIN, "--uploads", "200", "--kills", "12", "--clients", "4", "--max-size", "1000000"])
        .args(["--seed", "7", "--tus-wait", "90", "--deadline", "600"])
        .arg("--report")
        .arg(report.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the crash harness failed:\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    eprintln!("{stdout}");
    assert!(report["kills"]["done"].as_u64().unwrap_or(0) >= 1, "{report}");
}
