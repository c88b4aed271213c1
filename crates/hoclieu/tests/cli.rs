//! The command line: import, configuration, reindex, demo start-up and recovery after restarts.

mod support;

use support::*;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["serve", "import", "reindex", "migrate", "check-config", "apikey", "generate"] {
        let out = std::process::Command::new(BIN).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}");
        assert!(stdout(&out).contains("--data-dir"), "{sub} takes --data-dir");
    }
    let out = std::process::Command::new(BIN).args(["apikey", "create", "--help"]).output().unwrap();
    assert!(stdout(&out).contains("--scope"));
}

#[test]
fn import_reports_bad_lines_and_is_idempotent() {
    let data = Data::new();
    let dir = data.path().join("src");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bai.pdf"), b"%PDF-1.4 bai").unwrap();
    let file = dir.join("in.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"id":"a","title":"Bài 1. Mệnh đề","subject":"toan","grade":10,"resource_type":"ke-hoach-bai-day","files":[{"path":"bai.pdf"}]}"#,
            r#"{"id":"b","title":"Bài 2","subject":"khong-co","resource_type":"video","url":"https://a.vn"}"#,
            r#"{"id":"c","title":"Bài 3. Tập hợp","subject":"toan","grade":"lớp 10","resource_type":"giáo án","url":"https://example.edu.vn/c"}"#,
            r#"{"id":"d","title":"Bài 4","subject":"toan","resource_type":"video","grade":99,"url":"https://a.vn"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = data.run(&["import", path]);
    assert_eq!(out.status.code(), Some(1), "some lines failed");
    let err = stderr(&out);
    assert!(err.contains("line 2: subject:"), "{err}");
    assert!(err.contains("line 4: grade:"), "{err}");
    assert!(stdout(&out).contains("2 created"), "{}", stdout(&out));
    assert!(stdout(&out).contains("2 failed"), "{}", stdout(&out));
    assert!(stdout(&out).contains("Search index updated"), "{}", stdout(&out));

    let again = data.run(&["import", path]);
    assert!(stdout(&again).contains("0 created, 0 updated, 2 unchanged, 2 failed"), "{}", stdout(&again));

    // The index was updated by the import itself: a server started now finds them at once.
    let server = data.serve(&[]);
    assert_eq!(server.json("/api/v1/search?q=tap+hop").1["total"], 1);
    assert_eq!(server.json("/api/v1/search").1["total"], 2);

    // Missing file: a clear error and exit code 2.
    let out = data.run(&["import", "/nonexistent/x.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/x.jsonl"), "{}", stderr(&out));
}

#[test]
fn ten_thousand_generated_lines_import() {
    let data = Data::new();
    let file = data.path().join("gen.jsonl");
    let out = data.run(&["generate", "--count", "10000", "--seed", "3", "--output", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let started = std::time::Instant::now();
    let out = data.run(&["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("10000 created"), "{}", stdout(&out));
    // Not a speed assertion (shared machines): the figure is reported by `make bench`.
    eprintln!("10k lines imported and indexed in {:.1} s", started.elapsed().as_secs_f64());
    let server = data.serve(&[]);
    assert_eq!(server.json("/api/v1/search").1["total"], 10000);
}

#[test]
fn configuration_layers_and_rejects_unknown_keys() {
    let data = Data::new();
    let out = data.run(&["check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("bind = \"127.0.0.1:8080\""));

    let file = data.path().join("hoclieu.toml");
    std::fs::write(&file, "[server]\nbind = \"127.0.0.1:9999\"\n").unwrap();
    let out = data.run(&["--config", file.to_str().unwrap(), "check-config"]);
    assert!(stdout(&out).contains("bind = \"127.0.0.1:9999\""), "the file overrides the defaults");
    let out = data
        .command(&["--config", file.to_str().unwrap(), "check-config"])
        .env("HOCLIEU__SERVER__BIND", "127.0.0.1:7777")
        .output()
        .unwrap();
    assert!(stdout(&out).contains("bind = \"127.0.0.1:7777\""), "the environment overrides the file");

    std::fs::write(&file, "[server]\nbnd = \"127.0.0.1:9999\"\n").unwrap();
    let out = data.run(&["--config", file.to_str().unwrap(), "check-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bnd"), "{}", stderr(&out));
    let out = data.command(&["check-config"]).env("HOCLIEU__INDEX__COLOUR", "red").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("colour"), "{}", stderr(&out));

    // The example configurations are valid.
    // (production reads its S3 secret from a file; the MinIO example from the environment).
    let out = data.run(&["--config", repo().join("config/production.example.toml").to_str().unwrap(), "check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = data
        .command(&["--config", repo().join("config/minio.example.toml").to_str().unwrap(), "check-config"])
        .env("HOCLIEU__STORAGE__S3__SECRET_ACCESS_KEY", "topsecret-s3")
        .output()
        .unwrap();
    assert!(out.status.success() && !stdout(&out).contains("topsecret-s3"), "{}", stdout(&out));
    // Secrets are masked.
    let out = data
        .command(&["check-config"])
        .env("HOCLIEU__DATABASE__URL", "postgres://hoclieu:s3cret@db.example/hoclieu")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("s3cret"));
    assert!(stdout(&out).contains("postgres://hoclieu:****@db.example/hoclieu"));
}

#[test]
fn demo_fixtures_load_once_and_a_restart_reuses_the_data() {
    let data = Data::new();
    let demo = repo().join("fixtures/demo/materials.jsonl");
    let demo = demo.to_str().unwrap();
    let seq = {
        let server = data.serve(&["--demo", demo]);
        let b = eventually(|| {
            let (_, b) = server.json("/readyz");
            (b["index"]["documents"] == 48 && b["index"]["lag"] == 0).then_some(b)
        });
        b["index"]["database_seq"].as_i64().unwrap()
    };
    let server = data.serve(&["--demo", demo]);
    let (_, b) = server.json("/readyz");
    assert_eq!(b["index"]["database_seq"], seq, "nothing imported again");
    assert_eq!(server.json("/api/v1/search").1["total"], 48);
}

#[test]
fn the_index_catches_up_after_downtime_and_rebuilds_from_the_database() {
    let data = Data::new();
    let token = data.api_key("admin");
    {
        let server = data.serve(&[]);
        let (s, _) = server.upload(
            Some(&token),
            r#"{"title":"Đường tròn","subject":"toan","resource_type":"bai-giang","url":"https://a.vn"}"#,
            &[],
        );
        assert_eq!(s, 201);
        server.wait_for_hits("duong tron", 1);
    }
    // The server was killed with SIGKILL (Server's Drop): the next one starts from the last
    // index commit and the database.
    let dir = data.path().join("more");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("m.jsonl"),
        r#"{"id":"x","title":"Tập hợp","subject":"toan","resource_type":"bai-giang","url":"https://a.vn"}"#,
    )
    .unwrap();
    let server = data.serve(&[]);
    assert_eq!(server.json("/api/v1/search?q=duong+tron").1["total"], 1);
    // An import while the server runs commits to the database; the server's index follows.
    let out = data.run(&["import", dir.join("m.jsonl").to_str().unwrap()]);
    assert!(stdout(&out).contains("running `hoclieu serve` owns the search index"), "{}", stdout(&out));
    server.wait_for_hits("tap hop", 1);
    drop(server);

    // reindex refuses while a server owns the index, and rebuilds from the database otherwise.
    let server = data.serve(&[]);
    let out = data.run(&["reindex"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("in use by a running"), "{}", stderr(&out));
    drop(server);
    std::fs::remove_dir_all(data.path().join("index")).unwrap();
    let out = data.run(&["reindex"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("from 2 materials"), "{}", stdout(&out));
    let server = data.serve(&[]);
    assert_eq!(server.json("/api/v1/search?q=duong+tron").1["total"], 1);
    assert_eq!(server.json("/api/v1/search?q=tap+hop").1["total"], 1);

    // An index directory deleted under a stopped server is rebuilt on start.
    drop(server);
    std::fs::remove_dir_all(data.path().join("index")).unwrap();
    let server = data.serve(&[]);
    server.wait_for_hits("tap hop", 1);
}

#[test]
fn migrate_reports_and_is_idempotent() {
    let data = Data::new();
    let out = data.run(&["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let applied = stdout(&out);
    assert!(applied.contains("Applied ") && applied.contains("m20261125_000001_initial"), "{applied}");
    let out = data.run(&["migrate"]);
    assert!(stdout(&out).contains("up to date"), "{}", stdout(&out));
}

#[test]
fn verify_finds_damage_orphans_and_unused_blobs_and_repairs_what_it_can() {
    let data = Data::new();
    let demo = repo().join("fixtures/demo/materials.jsonl");
    assert!(data.run(&["import", demo.to_str().unwrap()]).status.success());
    let out = data.run(&["verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("Checked 43 blobs"), "{}", stdout(&out));

    // An object nothing refers to (a crash between storing and committing leaves one).
    let orphan_dir = data.path().join("objects/blobs/zz");
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join("orphan"), b"left behind").unwrap();
    let out = data.run(&["verify", "--no-hash"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("ORPHAN   blobs/zz/orphan"), "{}", stdout(&out));
    let out = data.run(&["verify", "--repair"]);
    assert_eq!(out.status.code(), Some(1), "too young to remove within the grace period");
    let out = data.run(&["verify", "--repair", "--grace-minutes", "0"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(!orphan_dir.join("orphan").exists());

    // A piece of an object whose multipart write a kill -9 cut short: invisible to listings.
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join("0190aaaa#1"), vec![0u8; 4096]).unwrap();
    let out = data.run(&["verify", "--no-hash"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("PARTIAL  blobs/zz/0190aaaa#1 (4096 bytes)"), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 partial writes"), "{}", stdout(&out));
    let out = data.run(&["verify", "--no-hash", "--repair", "--grace-minutes", "0"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(!orphan_dir.join("0190aaaa#1").exists());

    // Damaged bytes: same size, other content (found only by hashing); and a truncated object.
    let mut blobs = Vec::new();
    collect_files(&data.path().join("objects/blobs"), &mut blobs);
    blobs.sort();
    let same_size = std::fs::read(&blobs[0]).unwrap().iter().map(|b| b ^ 0xff).collect::<Vec<u8>>();
    std::fs::write(&blobs[0], same_size).unwrap();
    let out = data.run(&["verify", "--no-hash"]);
    assert!(out.status.success(), "sizes alone do not see it");
    let out = data.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("DAMAGED") && stdout(&out).contains("has SHA-256"), "{}", stdout(&out));
    std::fs::write(&blobs[1], b"short").unwrap();
    let out = data.run(&["verify", "--no-hash", "--repair", "--grace-minutes", "0"]);
    assert_eq!(out.status.code(), Some(1), "damage is not repairable");
    assert!(stdout(&out).contains("has 5 bytes"), "{}", stdout(&out));
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() { collect_files(&e.path(), out) } else { out.push(e.path()) }
    }
}

#[test]
fn unused_blobs_are_found_after_deletions() {
    let data = Data::new();
    let token = data.api_key("admin");
    {
        let server = data.serve(&[]);
        let (status, m) = server.upload(
            Some(&token),
            r#"{"title":"Tạm","subject":"toan","resource_type":"bai-tap"}"#,
            &[("a.pdf", b"%PDF-1.4 tam")],
        );
        assert_eq!(status, 201);
        assert_eq!(server.delete(&format!("/api/v1/materials/{}", m["id"].as_str().unwrap()), &token).status(), 204);
    }
    let out = data.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("UNUSED"), "{}", stdout(&out));
    let out = data.run(&["verify", "--repair", "--grace-minutes", "0"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 removed"), "{}", stdout(&out));
    assert!(data.run(&["verify"]).status.success());
}

#[test]
fn import_without_indexing_leaves_it_to_the_server() {
    let data = Data::new();
    let demo = repo().join("fixtures/demo/materials.jsonl");
    let out = data.run(&["import", "--no-index", demo.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Search index not updated"), "{}", stdout(&out));
    assert!(!data.path().join("index").exists(), "the import must not touch the index");
    // The server indexes the materials from the change sequence on start.
    let server = data.serve(&[]);
    let body = eventually(|| {
        let (_, body) = server.json("/api/v1/search?q=tap+hop");
        (body["total"].as_u64() > Some(0)).then_some(body)
    });
    assert!(body["hits"][0]["title"].as_str().unwrap().contains("Tập hợp"), "{body}");
}
