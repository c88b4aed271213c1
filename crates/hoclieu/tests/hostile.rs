//! The hostile-file corpus (`fixtures/hostile/make_corpus.py`: PDF page-tree, XObject and flate
//! bombs, image and zip bombs, traversal, billion laughs, polyglots, active SVG/HTML, truncated
//! media) through the real pipeline: uploaded to a running server whose workers derive them in
//! the sandbox. The server must stay up and small, every job must end (ready, or failed with a
//! reason) within its limits, and nothing may keep running afterwards.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// Limits for this run: short, so the whole corpus takes a minute or two.
const JOB_TIMEOUT_SECS: u64 = 20;
const MAX_ATTEMPTS: u64 = 2;
const SANDBOX_MB: u64 = 512;
/// The server itself never parses a file: it stays far below the sandbox's cap.
const SERVER_RSS_LIMIT_KB: u64 = 400 * 1024;

fn corpus() -> (tempfile::TempDir, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let script = repo().join("fixtures/hostile/make_corpus.py");
    let out = std::process::Command::new("python3").arg(&script).arg(dir.path()).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert!(manifest.len() >= 30, "the corpus is complete");
    (dir, manifest)
}

/// A value (in kB) of the process's `/proc/<pid>/status`.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok()).unwrap_or(0)
}

/// Processor time (user + system, in clock ticks) the process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Processes whose parent is `pid`.
fn children(pid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(head.to_owned());
        }
    }
    found
}

#[test]
fn hostile_files_cannot_take_the_server_down() {
    let (dir, manifest) = corpus();
    let data = Data::new()
        .with_env("HOCLIEU__PREVIEW__WORKERS", "2")
        // Only the first page when derived: later ones are rendered on request, in the sandbox.
        .with_env("HOCLIEU__PREVIEW__PAGES", "1")
        .with_env("HOCLIEU__PREVIEW__RENDER_TIMEOUT_SECS", "10")
        .with_env("HOCLIEU__PREVIEW__JOB_TIMEOUT_SECS", &JOB_TIMEOUT_SECS.to_string())
        .with_env("HOCLIEU__PREVIEW__CONVERTER_TIMEOUT_SECS", "10")
        .with_env("HOCLIEU__PREVIEW__SANDBOX_MEMORY_MB", &SANDBOX_MB.to_string())
        .with_env("HOCLIEU__PREVIEW__MAX_ATTEMPTS", &MAX_ATTEMPTS.to_string())
        .with_env("HOCLIEU__PREVIEW__RETRY_AFTER_SECS", "1");
    let token = data.api_key("admin");
    let mut server = data.serve(&[]);
    let pid = server.child.id();

    // One material per file, so each file's fate is its own.
    let mut uploaded = Vec::new();
    for (i, entry) in manifest.iter().enumerate() {
        let bytes = std::fs::read(dir.path().join(entry["file"].as_str().unwrap())).unwrap();
        let name = entry["name"].as_str().unwrap();
        let meta = format!(
            r#"{{"title":"Tệp thử số {i}","subject":"tin-hoc","grade":8,"resource_type":"tai-lieu-tham-khao"}}"#
        );
        let (status, m) = server.upload(Some(&token), &meta, &[(name, &bytes)]);
        match status {
            201 => {
                let file = m["files"][0]["id"].as_str().unwrap().to_owned();
                uploaded.push((name.to_owned(), m["id"].as_str().unwrap().to_owned(), file));
            }
            // Refused at the door (a program, say): with its reason, never a crash.
            _ => assert!(status < 500 && m["error"]["code"].is_string(), "{name}: {status} {m}"),
        }
    }
    assert!(uploaded.len() >= manifest.len() - 3, "most hostile files are accepted as uploads");

    // Every job ends within its attempts and limits; meanwhile the server answers and stays small.
    let per_job = Duration::from_secs(MAX_ATTEMPTS * (JOB_TIMEOUT_SECS + 5) + 5);
    let deadline = Instant::now() + per_job * (uploaded.len() as u32).div_ceil(2) + Duration::from_secs(60);
    let mut pending: Vec<&(String, String, String)> = uploaded.iter().collect();
    let mut outcomes: Vec<(String, Value)> = Vec::new();
    let mut peak_rss = 0;
    while !pending.is_empty() {
        assert!(server.child.try_wait().unwrap().is_none(), "the server died");
        assert_eq!(server.get("/healthz").status(), 200);
        peak_rss = peak_rss.max(status_kb(pid, "VmRSS:"));
        pending.retain(|(name, material, file)| {
            let (status, body) = server.json(&format!("/api/v1/materials/{material}/files/{file}/preview"));
            assert_eq!(status, 200, "{name}: {body}");
            if body["status"] == "pending" {
                return true;
            }
            outcomes.push((name.clone(), body));
            false
        });
        assert!(
            Instant::now() < deadline,
            "jobs still pending: {:?}",
            pending.iter().map(|p| &p.0).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    for (name, body) in &outcomes {
        match body["status"].as_str() {
            Some("ready") => {}
            Some("failed") => {
                let reason = body["reason"].as_str().unwrap_or_default();
                assert!(!reason.is_empty(), "{name}: failed without a reason: {body}");
            }
            other => panic!("{name}: unexpected status {other:?}: {body}"),
        }
    }
    let failed = outcomes.iter().filter(|(_, b)| b["status"] == "failed").count();
    eprintln!("{} files: {failed} failed with a reason, {} ready", outcomes.len(), outcomes.len() - failed);
    for (name, body) in &outcomes {
        eprintln!("  {name}: {} {}", body["status"], body["reason"]);
    }
    // The bombs are refused, not half-read: the PDF page-tree bomb and the zip bomb, at least.
    for bomb in ["docx-zip-bomb-1gb.docx", "pdf-page-count-2e40.pdf"] {
        if let Some((_, body)) = outcomes.iter().find(|(n, _)| n.as_str() == bomb) {
            assert!(body["status"] == "failed" || body["pages"].as_u64().unwrap_or(0) < 1000, "{bomb}: {body}");
        }
    }

    let find = |name: &str| uploaded.iter().find(|(n, _, _)| n == name).expect(name);
    // Package entries are served within the zip's limits: an entry too large or too compressed
    // to be real content is not served, and one that inflates beyond its declared size stops there.
    let (_, m, f) = find("package-big-entry-1gib.zip");
    assert_eq!(server.get(&format!("/goi/{m}/{f}/index.html")).status(), 200);
    let (status, e) = server.json(&format!("/goi/{m}/{f}/big.bin"));
    assert_eq!((status, e["error"]["code"].as_str()), (404, Some("not_found")), "{e}");
    let (_, m, f) = find("package-lying-sizes.zip");
    let r = server.get(&format!("/goi/{m}/{f}/data.txt"));
    assert_eq!((r.status().as_u16(), header(&r, "content-length")), (200, "10".to_owned()));
    assert_eq!(bytes_of(r), b"0123456789", "the declared 10 bytes, no more");
    // A page rendered on request that would recurse forever: refused with a reason, in time.
    let (_, m, f) = find("pdf-bomb-on-page-2.pdf");
    let (_, manifest) = server.json(&format!("/api/v1/materials/{m}/files/{f}/preview"));
    assert_eq!(manifest["status"], "ready", "page 1 is fine: {manifest}");
    assert!(manifest["notes"].to_string().contains("no text"), "the text extractor died alone: {manifest}");
    let started = Instant::now();
    let r = server.get(&format!("/api/v1/materials/{m}/files/{f}/preview/p2-w320.jpg"));
    let (status, content_type) = (r.status().as_u16(), header(&r, "content-type"));
    assert_eq!((status, content_type.as_str()), (422, "application/json"), "page 2 is the bomb");
    assert_eq!(json_of(r).1["error"]["code"], "preview_unavailable");
    assert!(started.elapsed() < Duration::from_secs(30), "the render was stopped in time");
    assert_eq!(server.get("/healthz").status(), 200);

    // Nothing keeps running: no sandbox or converter left, no core held by the server.
    std::thread::sleep(Duration::from_secs(1));
    let left = children(pid);
    assert!(left.is_empty(), "processes left running: {left:?}");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    assert!(used < 100, "the idle server used {used} ticks of processor time in 2 s");
    let hwm = status_kb(pid, "VmHWM:");
    eprintln!("server peak RSS {} MiB (sampled {} MiB)", hwm / 1024, peak_rss / 1024);
    assert!(hwm < SERVER_RSS_LIMIT_KB, "the server grew to {hwm} kB");
    // And it still serves: a search finds the materials.
    let (status, found) = server.json("/api/v1/search?q=t%E1%BB%87p+th%E1%BB%AD&per_page=1");
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["total"].as_u64().unwrap(), uploaded.len() as u64);
}
