//! The web pages in a real browser: Chromium, driven by Playwright from tests/browser/journey.mjs,
//! as a teacher (a search on a desktop and on a phone, a facet, a material page with its preview
//! and JSON-LD, a download checked against its SHA-256), a curator (sign-in, a 50 MB upload that
//! survives a dropped connection, submission for review), a reviewer (approval) and a teacher
//! again (the new material found first).
//!
//! Needs node 20+, playwright-core in tests/browser/node_modules and Debian's chromium: `make
//! tools` installs the last two. Screenshots go to target/screenshots (failure.png when a step
//! fails).

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const PASSWORD: &str = "mật khẩu thử nghiệm";
/// The lesson the teacher's query ("giao an toan 10 tap hop") is about.
const LESSON: &str = "Tập hợp và các phép toán trên tập hợp";
const BIG_FILE_BYTES: usize = 50 * 1024 * 1024;
/// The script stops itself after 10 minutes; this is the backstop.
const JOURNEY_TIMEOUT: Duration = Duration::from_secs(12 * 60);

struct Tools {
    node: String,
    chromium: String,
}

fn missing(what: &str) -> String {
    format!("{what}: run `make tools` (it installs Debian's chromium and runs `npm ci --prefix tests/browser`)")
}

/// Node, playwright-core and Chromium; a missing one fails the test saying how to get it.
fn tools() -> Tools {
    let var = |key: &str, default: &str| {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_owned())
    };
    let node = var("HOCLIEU_TEST_NODE", "node");
    let chromium = var("HOCLIEU_TEST_CHROMIUM", "/usr/bin/chromium");
    let version = Command::new(&node)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| {
            panic!("node ({node}) does not run: install Node.js 20+ (`make tools` does not) or set HOCLIEU_TEST_NODE")
        });
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(major >= 20, "node {version} ({node}) is too old: playwright-core needs Node.js 20 or newer");
    let playwright = repo().join("tests/browser/node_modules/playwright-core/package.json");
    assert!(playwright.is_file(), "{}", missing("playwright-core is not installed in tests/browser"));
    let no_chromium = format!("Chromium is not at {chromium} (HOCLIEU_TEST_CHROMIUM)");
    assert!(Path::new(&chromium).is_file(), "{}", missing(&no_chromium));
    Tools { node, chromium }
}

/// The title of the demo material the teacher's query must find first.
fn expected_first() -> String {
    let jsonl = std::fs::read_to_string(repo().join("fixtures/demo/materials.jsonl")).unwrap();
    let titles: Vec<String> = jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|r| r["title"].as_str().filter(|t| t.contains(LESSON)).map(str::to_owned))
        .collect();
    assert_eq!(titles.len(), 1, "one demo material about {LESSON}: {titles:?}");
    titles.into_iter().next().unwrap()
}

/// Text that barely compresses: random lowercase words in short lines, without digits (so that
/// nothing in it matches the number in the title the curator gives it).
fn big_text_file(path: &Path) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut text = Vec::with_capacity(BIG_FILE_BYTES + 8);
    while text.len() < BIG_FILE_BYTES {
        let r = next();
        for i in 0..8 {
            let b = (r >> (i * 8)) as u8 % 32;
            text.push(match b {
                0..=25 => b'a' + b,
                26..=30 => b' ',
                _ => b'\n',
            });
        }
    }
    text.truncate(BIG_FILE_BYTES);
    std::fs::write(path, text).unwrap();
}

/// Waits until the files of the material titled `title` have previews with page images (the
/// server's workers derive the demo files in the background; LibreOffice takes seconds a file).
fn wait_for_previews(server: &Server, title: &str) {
    let (status, found) = server.json(&format!("/api/v1/search?q={}", encode(title)));
    assert_eq!(status, 200, "{found}");
    let hit = found["hits"].as_array().unwrap().iter().find(|h| h["title"] == title);
    let id = hit.unwrap_or_else(|| panic!("no demo material {title:?}: {found}"))["id"].as_str().unwrap().to_owned();
    let (_, material) = server.json(&format!("/api/v1/materials/{id}"));
    let deadline = Instant::now() + Duration::from_secs(240);
    for file in material["files"].as_array().unwrap() {
        let path = format!("/api/v1/materials/{id}/files/{}/preview", file["id"].as_str().unwrap());
        loop {
            let (status, preview) = server.json(&path);
            assert_eq!(status, 200, "{path}: {preview}");
            if preview["status"] != "pending" {
                let images = preview["images"].as_array().map_or(0, Vec::len);
                assert!(
                    preview["status"] == "ready" && images > 0,
                    "the preview of {title:?} has no page images (LibreOffice and pdftoppm come with `make \
                     tools`): {preview}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "the preview of {title:?} is still pending after 4 minutes: {preview}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// What a child process writes to a pipe, read as it comes so that the pipe never fills.
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Captured {
    fn new(pipe: Option<impl Read + Send + 'static>) -> Captured {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let reader = pipe.map(|mut pipe| {
            let bytes = bytes.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => bytes.lock().unwrap().extend_from_slice(&buf[..n]),
                    }
                }
            })
        });
        Captured { bytes, reader }
    }

    /// The last `limit` bytes, once the writer closed the pipe (waiting `wait` at most).
    fn text(&self, wait: Duration, limit: usize) -> String {
        let deadline = Instant::now() + wait;
        while self.reader.as_ref().is_some_and(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let bytes = self.bytes.lock().unwrap();
        String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(limit)..]).into_owned()
    }
}

/// Runs journey.mjs; returns whether it passed and what it printed.
fn journey(tools: &Tools, env: &[(&str, &str)]) -> (bool, String) {
    let script = repo().join("tests/browser/journey.mjs");
    let mut child = Command::new(&tools.node)
        .arg(&script)
        .current_dir(repo())
        .envs(env.iter().copied())
        .env("CHROMIUM", &tools.chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", tools.node, script.display()));
    let (stdout, stderr) = (Captured::new(child.stdout.take()), Captured::new(child.stderr.take()));
    let deadline = Instant::now() + JOURNEY_TIMEOUT;
    let passed = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let wait = Duration::from_secs(5);
    let mut output = stdout.text(wait, 1 << 20) + &stderr.text(wait, 1 << 20);
    if Instant::now() > deadline {
        output += &format!("\n(stopped after {} s)", JOURNEY_TIMEOUT.as_secs());
    }
    (passed, output)
}

#[test]
fn a_teacher_a_curator_and_a_reviewer_in_a_real_browser() {
    let tools = tools();
    let expect_first = expected_first();
    let files = tempfile::tempdir().unwrap();
    let big = files.path().join("Bài giảng lớn.txt");
    big_text_file(&big);

    let data = Data::new().with_env("HOCLIEU__PREVIEW__WORKERS", "4");
    data.user("giaovien", "curator", PASSWORD, &[]);
    // No subjects: a reviewer of every subject.
    data.user("thamdinh", "reviewer", PASSWORD, &[]);
    let out = data.run(&["import", repo().join("fixtures/demo/materials.jsonl").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut server = data.serve(&[]);
    let server_log = Captured::new(server.child.stderr.take());
    wait_for_previews(&server, &expect_first);

    let screenshots = repo().join("target/screenshots");
    let env = [
        ("BASE_URL", server.base.as_str()),
        ("CURATOR_LOGIN", "giaovien"),
        ("REVIEWER_LOGIN", "thamdinh"),
        ("PASSWORD", PASSWORD),
        ("BIG_FILE", big.to_str().unwrap()),
        ("SCREENSHOTS", screenshots.to_str().unwrap()),
        ("EXPECT_FIRST", expect_first.as_str()),
    ];
    let (passed, output) = journey(&tools, &env);
    assert!(
        passed,
        "the browser journey failed (screenshots in {}):\n{output}\n--- server log (end) ---\n{}",
        screenshots.display(),
        server_log.text(Duration::ZERO, 20_000)
    );
    println!("{output}");
}
