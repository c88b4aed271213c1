//! The production stack: PostgreSQL for metadata, a real S3-compatible server (s3s-fs) for
//! files, several replicas, and the failures they must survive.

mod support;

use hoclieu_testkit::{PgDatabase, S3Server};
use sha2::{Digest, Sha256};
use support::*;

fn production(pg: &PgDatabase, s3: &S3Server) -> Data {
    let mut data = Data::new().with_env("HOCLIEU__DATABASE__URL", &pg.url);
    for (k, v) in s3.env() {
        data = data.with_env(&k, &v);
    }
    data
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

#[test]
fn postgres_and_s3_with_proxied_and_redirected_downloads() {
    let (pg, s3) = (PgDatabase::create(), S3Server::start());
    let data = production(&pg, &s3);
    let token = data.api_key("admin");
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend((0..(9 << 20)).map(|i| (i % 253) as u8)); // above one multipart part
    let meta = r#"{"title":"Bài giảng Đường tròn","subject":"toan","grade":9,"resource_type":"bai-giang"}"#;
    let (url, sha) = {
        let server = data.serve(&[]);
        let (status, m) = server.upload(Some(&token), meta, &[("Bài giảng Hoá 10.pdf", &pdf)]);
        assert_eq!(status, 201, "{m}");
        assert_eq!(m["files"][0]["sha256"], hex::encode(Sha256::digest(&pdf)));
        let url = m["files"][0]["download_url"].as_str().unwrap().to_owned();
        assert_eq!(bytes_of(server.get(&url)), pdf, "proxied through hoclieu");
        let r = server.get_with(&url, &[("Range", "bytes=10-19")]);
        assert_eq!((r.status().as_u16(), bytes_of(r)), (206, pdf[10..20].to_vec()));
        server.wait_for_hits("duong tron", 1);
        (url, m["files"][0]["sha256"].as_str().unwrap().to_owned())
    };
    // The objects are in the bucket, under generated keys only.
    let stored: Vec<_> = walk(&s3.dir.path().join(&s3.bucket));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].contains("/blobs/"));

    let redirecting = data_with(&data, "HOCLIEU__STORAGE__DOWNLOAD", "redirect");
    let server = redirecting.serve(&[]);
    let r = agent().get(&server.url(&url)).call().unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(header(&r, "cache-control"), "no-store");
    let location = header(&r, "location");
    assert!(location.starts_with(&s3.endpoint), "{location}");
    let mut direct = agent().get(&location).call().unwrap();
    assert_eq!(direct.status(), 200);
    assert!(
        header(&direct, "content-disposition").contains("filename*=UTF-8''B%C3%A0i"),
        "{}",
        header(&direct, "content-disposition")
    );
    let bytes = direct.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
    let ranged = agent().get(&location).header("Range", "bytes=0-3").call().unwrap();
    assert_eq!((ranged.status().as_u16(), bytes_of(ranged)), (206, b"%PDF".to_vec()));
    let at = location.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &location[at..at + 1] == "0" { "1" } else { "0" };
    let tampered = format!("{}{flipped}{}", &location[..at], &location[at + 1..]);
    assert_eq!(agent().get(&tampered).call().unwrap().status(), 403);
    // Downloads are counted in both modes (one proxied full GET, one redirect).
    eventually(|| {
        let id = url.split('/').nth(4).unwrap();
        (server.json(&format!("/api/v1/materials/{id}")).1["counts"]["downloads"] == 2).then_some(())
    });
}

fn data_with(base: &Data, key: &str, value: &str) -> Data {
    let mut d = Data { dir: tempfile::tempdir().unwrap(), env: base.env.clone() };
    d.env.push((key.to_owned(), value.to_owned()));
    // Same database and bucket; a fresh index directory is rebuilt from the database.
    d
}

fn walk(p: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(p).map_or(Vec::new(), |d| {
        d.flatten()
            .flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path().display().to_string()] })
            .collect()
    })
}

#[test]
fn a_postgresql_restart_is_survived() {
    let pg = hoclieu_testkit::PrivatePostgres::start();
    let data = Data::new()
        .with_env("HOCLIEU__DATABASE__URL", &pg.url())
        .with_env("HOCLIEU__DATABASE__ACQUIRE_TIMEOUT_SECS", "2")
        .with_env("HOCLIEU__DATABASE__CONNECT_TIMEOUT_SECS", "2");
    let token = data.api_key("admin");
    let server = data.serve(&["--demo", repo().join("fixtures/demo/materials.jsonl").to_str().unwrap()]);
    let m = eventually(|| {
        let (_, m) = server.json("/api/v1/search?per_page=1");
        (m["total"] == 48).then_some(m)
    });
    let id = m["hits"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(server.json(&format!("/api/v1/materials/{id}")).0, 200);

    pg.stop();
    // Requests that need the database fail cleanly; the process stays up; search still answers
    // from its index.
    let (status, body) = server.json(&format!("/api/v1/materials/{id}"));
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("service_unavailable")), "{body}");
    assert_eq!(server.json("/readyz").0, 503);
    assert_eq!(server.json("/healthz").0, 200);
    assert_eq!(server.json("/api/v1/search?q=duong+tron").0, 200);
    let (status, _) = server.upload(
        Some(&token),
        r#"{"title":"x","subject":"toan","resource_type":"video","url":"https://a.vn"}"#,
        &[],
    );
    assert_eq!(status, 503);

    pg.start_again();
    // Service resumes without restarting hoclieu.
    eventually(|| (server.json(&format!("/api/v1/materials/{id}")).0 == 200).then_some(()));
    assert_eq!(server.json("/readyz").0, 200);
    let (status, m) = server.upload(
        Some(&token),
        r#"{"title":"Sau khi khởi động lại","subject":"toan","resource_type":"video","url":"https://a.vn"}"#,
        &[],
    );
    assert_eq!(status, 201, "{m}");
    server.wait_for_hits("sau khi khoi dong lai", 1);
}

#[test]
fn replicas_share_postgresql_and_s3_with_their_own_indexes() {
    let (pg, s3) = (PgDatabase::create(), S3Server::start());
    let a_data = production(&pg, &s3);
    let token = a_data.api_key("admin");
    let b_data = data_with(&a_data, "HOCLIEU__LOG__LEVEL", "warn");
    let (a, b) = (a_data.serve(&[]), b_data.serve(&[]));

    // Written through one replica, found through the other within two seconds.
    let started = std::time::Instant::now();
    let (status, m) = a.upload(
        Some(&token),
        r#"{"title":"Dao động tắt dần","subject":"vat-li","grade":11,"resource_type":"bai-giang"}"#,
        &[("dao-dong.pdf", b"%PDF-1.4 dao dong")],
    );
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    b.wait_for_hits("dao dong tat dan", 1);
    let elapsed = started.elapsed();
    assert!(elapsed < std::time::Duration::from_secs(2), "replica B saw the upload after {elapsed:?}");
    // The bytes come from the shared bucket through either replica.
    let url = m["files"][0]["download_url"].as_str().unwrap();
    assert_eq!(bytes_of(b.get(url)), b"%PDF-1.4 dao dong");

    // A deletion through B disappears from both.
    assert_eq!(b.delete(&format!("/api/v1/materials/{id}"), &token).status(), 204);
    a.wait_for_hits("dao dong tat dan", 0);
    b.wait_for_hits("dao dong tat dan", 0);
    assert_eq!(a.json(&format!("/api/v1/materials/{id}")).0, 404);
    assert_eq!(b.delete(&format!("/api/v1/materials/{id}"), &token).status(), 404);

    // A new replica on an empty index directory catches up by itself.
    let out = a_data.run(&["import", repo().join("fixtures/demo/materials.jsonl").to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    a.wait_for_hits("", 48);
    let c_data = data_with(&a_data, "HOCLIEU__LOG__LEVEL", "warn");
    let c = c_data.serve(&[]);
    c.wait_for_hits("", 48);
    assert_eq!(c.json("/api/v1/search?q=duong+tron").1["total"], a.json("/api/v1/search?q=duong+tron").1["total"]);

    // `verify` on the bucket: the deleted material's file is unused, and repaired away.
    let out = a_data.run(&["verify"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("UNUSED") && text.contains("Checked 44 blobs"), "{text}");
    let out = a_data.run(&["verify", "--repair", "--grace-minutes", "0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(a_data.run(&["verify"]).status.success());
}
