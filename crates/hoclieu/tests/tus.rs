//! Resumable uploads (tus 1.0) against the running server: the protocol by hand, dropped
//! connections, restarts, expiry, and a real tus client nobody here wrote (tuspy).

mod support;

use std::io::Write;

use sha2::{Digest, Sha256};
use support::*;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn b64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut v = b"%PDF-1.4\n".to_vec();
    v.extend((0..n).map(|i| ((i * 31) as u8).wrapping_add(seed)));
    v
}

struct Tus<'a> {
    server: &'a Server,
    token: String,
}

impl Tus<'_> {
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let auth = format!("Bearer {}", self.token);
        let mut all = vec![("Tus-Resumable", "1.0.0"), ("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        let url = self.server.url(path);
        let a = agent();
        match method {
            "POST" => {
                let mut r = a.post(&url);
                for (k, v) in &all {
                    r = r.header(*k, *v);
                }
                r.send(body).unwrap()
            }
            "PATCH" => {
                let mut r = a.patch(&url);
                for (k, v) in &all {
                    r = r.header(*k, *v);
                }
                r.send(body).unwrap()
            }
            "HEAD" => {
                let mut r = a.head(&url);
                for (k, v) in &all {
                    r = r.header(*k, *v);
                }
                r.call().unwrap()
            }
            "DELETE" => {
                let mut r = a.delete(&url);
                for (k, v) in &all {
                    r = r.header(*k, *v);
                }
                r.call().unwrap()
            }
            _ => unreachable!(),
        }
    }

    fn create(&self, length: usize, metadata: &str) -> (u16, String) {
        let len = length.to_string();
        let r = self.request("POST", "/api/v1/uploads", &[("Upload-Length", &len), ("Upload-Metadata", metadata)], b"");
        (r.status().as_u16(), header(&r, "location"))
    }

    fn patch(&self, location: &str, offset: usize, data: &[u8], checksum: Option<&str>) -> Response {
        let off = offset.to_string();
        let mut h = vec![("Upload-Offset", off.as_str()), ("Content-Type", "application/offset+octet-stream")];
        if let Some(c) = checksum {
            h.push(("Upload-Checksum", c));
        }
        self.request("PATCH", location, &h, data)
    }

    fn offset(&self, location: &str) -> (u16, String) {
        let r = self.request("HEAD", location, &[], b"");
        (r.status().as_u16(), header(&r, "upload-offset"))
    }
}

fn metadata(name: &str, json: Option<&str>) -> String {
    let mut m = format!("filename {}", b64(name.as_bytes()));
    if let Some(j) = json {
        m.push_str(&format!(",metadata {}", b64(j.as_bytes())));
    }
    m
}

const META: &str = r#"{"title":"Video thí nghiệm rơi tự do","subject":"vat-li","grade":10,"resource_type":"video"}"#;

#[test]
fn the_protocol_step_by_step() {
    let data = Data::new().with_env("HOCLIEU__SERVER__MAX_UPLOAD_BYTES", "1000000");
    let token = data.api_key("admin");
    let server = data.serve(&[]);
    let tus = Tus { server: &server, token };

    let r = agent().options(&server.url("/api/v1/uploads")).call().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert!(
        header(&r, "tus-extension").contains("creation-with-upload")
            && header(&r, "tus-extension").contains("expiration")
    );
    assert_eq!(header(&r, "tus-max-size"), "1000000");
    assert_eq!(header(&r, "tus-checksum-algorithm"), "sha1,sha256");

    // Refused before a byte is sent: wrong version, too large, bad metadata, no key.
    let r = agent()
        .post(&server.url("/api/v1/uploads"))
        .header("Authorization", &format!("Bearer {}", tus.token))
        .header("Upload-Length", "10")
        .send(&b""[..])
        .unwrap();
    assert_eq!(r.status(), 412);
    assert_eq!(tus.create(1_000_001, &metadata("a.pdf", None)).0, 413);
    let (status, _) =
        tus.create(10, &metadata("a.pdf", Some(r#"{"title":"x","subject":"thiên văn","resource_type":"video"}"#)));
    assert_eq!(status, 422);
    let r = agent()
        .post(&server.url("/api/v1/uploads"))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .send(&b""[..])
        .unwrap();
    assert_eq!(r.status(), 401);

    let file = bytes(600_000, 1);
    let (status, location) = tus.create(file.len(), &metadata("Thí nghiệm rơi tự do.mp4", Some(META)));
    assert_eq!(status, 201);
    assert!(location.starts_with("/api/v1/uploads/"), "{location}");
    assert_eq!(tus.offset(&location), (200, "0".to_owned()));

    // Wrong offset, wrong type, wrong checksum: refused, nothing kept.
    assert_eq!(tus.patch(&location, 5, &file[..10], None).status(), 409);
    let r = tus.request("PATCH", &location, &[("Upload-Offset", "0"), ("Content-Type", "application/json")], b"{}");
    assert_eq!(r.status(), 415);
    let wrong = format!("sha256 {}", b64(&Sha256::digest(b"something else")));
    let (status, body) = json_of(tus.patch(&location, 0, &file[..300_000], Some(&wrong)));
    assert_eq!((status, body["error"]["code"].as_str()), (460, Some("checksum_mismatch")));
    assert_eq!(tus.offset(&location).1, "0");

    // Two parts with checksums (sha1, as tuspy sends, and sha256).
    use sha1::Digest as _;
    let first = format!("sha1 {}", b64(&sha1::Sha1::digest(&file[..300_000])));
    let r = tus.patch(&location, 0, &file[..300_000], Some(&first));
    assert_eq!((r.status().as_u16(), header(&r, "upload-offset")), (204, "300000".to_owned()));
    assert!(!header(&r, "upload-expires").is_empty());
    let second = format!("sha256 {}", b64(&Sha256::digest(&file[300_000..])));
    let r = tus.patch(&location, 300_000, &file[300_000..], Some(&second));
    assert_eq!(r.status(), 204);
    let material = header(&r, "hoclieu-material");
    assert!(material.starts_with("/api/v1/materials/"), "the last byte made the material");
    let (_, m) = server.json(&material);
    assert_eq!(m["title"], "Video thí nghiệm rơi tự do");
    assert_eq!(m["files"][0]["name"], "Thí nghiệm rơi tự do.mp4");
    assert_eq!(m["files"][0]["sha256"], hex::encode(Sha256::digest(&file)));
    assert_eq!(bytes_of(server.get(m["files"][0]["download_url"].as_str().unwrap())), file);
    server.wait_for_hits("thi nghiem roi tu do", 1);
    // The parts are gone; the upload reports its material.
    assert_eq!(count(&data.path().join("objects/uploads")), 0);
    let (_, status) = json_of(tus.request_get(&location));
    assert_eq!(status["complete"], true);
    assert_eq!(status["material_url"], material.as_str());

    // Termination.
    let (_, other) = tus.create(100, &metadata("b.pdf", None));
    assert_eq!(tus.patch(&other, 0, &bytes(10, 2), None).status(), 204);
    assert_eq!(tus.request("DELETE", &other, &[], b"").status(), 204);
    assert_eq!(tus.offset(&other).0, 404);
    assert_eq!(count(&data.path().join("objects/uploads")), 0);

    // creation-with-upload: the first bytes ride on the POST.
    let small = bytes(50_000, 3);
    let len = small.len().to_string();
    let meta = metadata("nho.pdf", Some(r#"{"title":"Tệp nhỏ","subject":"toan","resource_type":"bai-tap"}"#));
    let r = tus.request(
        "POST",
        "/api/v1/uploads",
        &[("Upload-Length", &len), ("Upload-Metadata", &meta), ("Content-Type", "application/offset+octet-stream")],
        &small,
    );
    assert_eq!((r.status().as_u16(), header(&r, "upload-offset")), (201, len.clone()));
    assert!(header(&r, "hoclieu-material").starts_with("/api/v1/materials/"));

    // Another key cannot see or touch the upload.
    let other_key = data.api_key("admin");
    let stranger = Tus { server: &server, token: other_key };
    assert_eq!(stranger.offset(&location).0, 404);
}

impl Tus<'_> {
    fn request_get(&self, path: &str) -> Response {
        agent().get(&self.server.url(path)).header("Authorization", &format!("Bearer {}", self.token)).call().unwrap()
    }
}

fn count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map_or(0, |d| d.flatten().map(|e| if e.path().is_dir() { count(&e.path()) } else { 1 }).sum())
}

/// Sends a PATCH whose body stops halfway, as a dropped school connection does.
fn interrupted_patch(server: &Server, token: &str, location: &str, offset: usize, announced: usize, sent: &[u8]) {
    let addr = server.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {announced}\r\n\r\n"
    )
    .unwrap();
    s.write_all(sent).unwrap();
    s.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(s);
}

#[test]
fn dropped_connections_and_restarts_keep_what_arrived() {
    let data = Data::new();
    let token = data.api_key("admin");
    let file = bytes(2_000_000, 7);
    let location = {
        let server = data.serve(&[]);
        let tus = Tus { server: &server, token: token.clone() };
        let (status, location) = tus.create(file.len(), &metadata("Bài giảng dài.pdf", None));
        assert_eq!(status, 201);
        interrupted_patch(&server, &token, &location, 0, file.len(), &file[..700_000]);
        let kept = eventually(|| {
            let (_, o) = tus.offset(&location);
            (o != "0").then_some(o)
        });
        assert_eq!(kept, "700000", "the bytes that arrived are kept");
        location
        // The server is killed (SIGKILL) here.
    };
    let server = data.serve(&[]);
    let tus = Tus { server: &server, token: token.clone() };
    assert_eq!(tus.offset(&location), (200, "700000".to_owned()), "the upload survived the restart");
    let r = tus.patch(&location, 700_000, &file[700_000..], None);
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "hoclieu-material"), "", "no metadata yet: no material");
    // Metadata in a follow-up call.
    let auth = format!("Bearer {token}");
    let early = tus.request("POST", &format!("{location}/material"), &[("Content-Type", "application/json")], b"{}");
    assert_eq!(early.status(), 422, "the metadata is still checked");
    let body = r#"{"title":"Bài giảng dài","subject":"ngu-van","grade":8,"resource_type":"bai-giang"}"#.as_bytes();
    let r =
        agent().post(&server.url(&format!("{location}/material"))).header("Authorization", &auth).send(body).unwrap();
    let (status, m) = json_of(r);
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["files"][0]["sha256"], hex::encode(Sha256::digest(&file)));
    let again =
        agent().post(&server.url(&format!("{location}/material"))).header("Authorization", &auth).send(body).unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(count(&data.path().join("objects/uploads")), 0);
}

#[test]
fn expired_uploads_are_removed() {
    let data = Data::new().with_env("HOCLIEU__UPLOADS__EXPIRE_SECS", "1");
    let token = data.api_key("admin");
    let server = data.serve(&[]);
    let tus = Tus { server: &server, token };
    let (_, location) = tus.create(1000, &metadata("a.pdf", None));
    assert_eq!(tus.patch(&location, 0, &bytes(100, 1), None).status(), 204);
    assert_eq!(count(&data.path().join("objects/uploads")), 1);
    eventually(|| (tus.offset(&location).0 == 404 && count(&data.path().join("objects/uploads")) == 0).then_some(()));
}

/// The Python interpreter with tuspy: $HOCLIEU_TEST_PYTHON (set by `make test`), else python3.
fn python() -> String {
    std::env::var("HOCLIEU_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

#[test]
fn a_real_tus_client_uploads_is_interrupted_and_resumes() {
    let data = Data::new();
    let token = data.api_key("admin");
    let server = data.serve(&[]);
    let file = bytes(3 * 1024 * 1024, 9);
    let path = data.path().join("Video thí nghiệm.mp4");
    std::fs::write(&path, &file).unwrap();
    let script = repo().join("crates/hoclieu/tests/tus_client.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .args([&server.url("/api/v1/uploads"), &token, path.to_str().unwrap(), META])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tuspy failed (install it: `make tools`, or pip install tuspy): {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(
        report["interrupted_at"].as_u64().unwrap() > 0
            && report["interrupted_at"].as_u64().unwrap() < file.len() as u64
    );
    assert_eq!(
        report["resumed_from"], report["interrupted_at"],
        "the client resumed from the offset the server reported"
    );
    let location = report["url"].as_str().unwrap().trim_start_matches(&server.base).to_owned();
    let tus = Tus { server: &server, token };
    let (_, status) = json_of(tus.request_get(&location));
    assert_eq!(status["complete"], true, "{status}");
    let (_, m) = server.json(status["material_url"].as_str().unwrap());
    assert_eq!(m["files"][0]["sha256"], hex::encode(Sha256::digest(&file)));
    assert_eq!(m["files"][0]["name"], "Video thí nghiệm.mp4");
}
