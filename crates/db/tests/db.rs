//! The db suite, run against SQLite (a file in a temp dir) and PostgreSQL (a fresh database per
//! test on the server at $HOCLIEU_TEST_POSTGRES, default postgres://postgres@127.0.0.1:5432/postgres).

use hoclieu_db::{Db, Error, MaterialWrite, NewFile, OnExisting, Outcome, PoolConfig};
use hoclieu_domain::{ImportRecord, Scope, Vocabularies};
use sea_orm::{ConnectionTrait, Database, Statement};

struct Backend {
    db: Db,
    name: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl Backend {
    async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url, &PoolConfig::default()).await.unwrap();
        db.migrate().await.unwrap();
        Backend { db, name: "sqlite", _dir: Some(dir), pg_drop: None }
    }

    async fn postgres() -> Backend {
        let admin_url = std::env::var("HOCLIEU_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required by the db tests but {admin_url} is unreachable ({e}). \
                 Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) \
                 or point HOCLIEU_TEST_POSTGRES at a server."
            )
        });
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_raw(Statement::from_string(admin.get_database_backend(), format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => unreachable!(),
        };
        let db = Db::connect(&url, &PoolConfig::default()).await.unwrap();
        db.migrate().await.unwrap();
        Backend { db, name: "postgres", _dir: None, pg_drop: Some((admin_url, name)) }
    }

    async fn finish(self) {
        self.db.close().await.unwrap();
        if let Some((admin_url, name)) = self.pg_drop {
            let admin = Database::connect(&admin_url).await.unwrap();
            admin
                .execute_raw(Statement::from_string(admin.get_database_backend(), format!("DROP DATABASE {name}")))
                .await
                .unwrap();
        }
    }
}

/// Runs `body` once per backend.
macro_rules! on_every_backend {
    (|$b:ident| $body:block) => {
        for make in [0, 1] {
            let $b = if make == 0 { Backend::sqlite().await } else { Backend::postgres().await };
            $body
            $b.finish().await;
        }
    };
}

fn meta(json: &str) -> hoclieu_domain::MaterialMeta {
    ImportRecord::from_json(json).unwrap().validate(&Vocabularies::embedded(), true).unwrap()
}

fn file(name: &str, sha: char, key: &str) -> NewFile {
    NewFile {
        name: name.into(),
        media_type: "application/pdf".into(),
        sha256: sha.to_string().repeat(64),
        size: 1234,
        object_key: key.into(),
    }
}

fn write(json: &str, files: Vec<NewFile>) -> MaterialWrite {
    MaterialWrite::published(meta(json), files)
}

const A: &str = r#"{"id":"a","title":"Bài 1. Mệnh đề","subject":"toan","grade":10,"resource_type":"bai-giang"}"#;
const B: &str = r#"{"title":"Bài 2. Tập hợp","subject":"toan","grade":10,"resource_type":"ke-hoach-bai-day"}"#;

#[tokio::test]
async fn migrations_are_idempotent() {
    on_every_backend!(|b| {
        b.db.migrate().await.unwrap();
        assert!(b.db.pending_migrations().await.unwrap().is_empty(), "{}", b.name);
        b.db.ping().await.unwrap();
    });
}

#[tokio::test]
async fn writes_record_changes_in_order_and_reimport_is_idempotent() {
    on_every_backend!(|b| {
        let db = &b.db;
        assert_eq!(db.last_seq().await.unwrap(), 0);
        let w = db
            .write_materials(
                vec![write(A, vec![file("Bài 1.pdf", 'a', "k1"), file("Phụ lục.pdf", 'b', "k2")]), write(B, vec![])],
                OnExisting::Update,
            )
            .await
            .unwrap();
        assert!(matches!(w.outcomes[..], [Outcome::Created(_), Outcome::Created(_)]), "{}", b.name);
        assert!(w.redundant_objects.is_empty());
        let a = db.material(w.outcomes[0].id()).await.unwrap().unwrap();
        assert_eq!(a.meta.title, "Bài 1. Mệnh đề");
        assert_eq!(a.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["Bài 1.pdf", "Phụ lục.pdf"]);
        assert_eq!(a.files[0].object_key, "k1");
        assert_eq!(a.files[0].size, 1234);
        let changes = db.changes_after(0, 100).await.unwrap();
        assert_eq!(changes.len(), 2);
        assert!(changes[0].seq < changes[1].seq);

        // The same line again changes nothing and records nothing.
        let again = db
            .write_materials(
                vec![write(A, vec![file("Bài 1.pdf", 'a', "k1"), file("Phụ lục.pdf", 'b', "k2")])],
                OnExisting::Update,
            )
            .await
            .unwrap();
        assert_eq!(again.outcomes, vec![Outcome::Unchanged(a.id)]);
        assert_eq!(db.last_seq().await.unwrap(), changes[1].seq);

        // A changed title updates the same material and records one change.
        let edited = A.replace("Mệnh đề", "Mệnh đề toán học");
        let upd = db
            .write_materials(vec![write(&edited, vec![file("Bài 1.pdf", 'a', "k1")])], OnExisting::Update)
            .await
            .unwrap();
        assert_eq!(upd.outcomes, vec![Outcome::Updated(a.id)]);
        let a2 = db.material(a.id).await.unwrap().unwrap();
        assert_eq!(a2.meta.title, "Bài 1. Mệnh đề toán học");
        assert_eq!(a2.files.len(), 1);
        assert_eq!(a2.created_at, a.created_at);
        let after = db.changes_after(changes[1].seq, 100).await.unwrap();
        assert_eq!(after.iter().map(|c| c.material_id).collect::<Vec<_>>(), vec![a.id]);
        assert_eq!(db.count_materials().await.unwrap(), 2);
        assert_eq!(db.material_by_external_id("a").await.unwrap().unwrap().id, a.id);
    });
}

#[tokio::test]
async fn api_creation_refuses_a_taken_external_id() {
    on_every_backend!(|b| {
        b.db.write_materials(vec![write(A, vec![])], OnExisting::Conflict).await.unwrap();
        let err = b.db.write_materials(vec![write(A, vec![])], OnExisting::Conflict).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{}: {err}", b.name);
        assert_eq!(b.db.count_materials().await.unwrap(), 1);
    });
}

#[tokio::test]
async fn identical_bytes_are_stored_once() {
    on_every_backend!(|b| {
        let first =
            b.db.write_materials(vec![write(B, vec![file("x.pdf", 'c', "key-first")])], OnExisting::Update)
                .await
                .unwrap();
        assert!(first.redundant_objects.is_empty());
        let second =
            b.db.write_materials(vec![write(B, vec![file("y.pdf", 'c', "key-second")])], OnExisting::Update)
                .await
                .unwrap();
        assert_eq!(second.redundant_objects, vec!["key-second".to_owned()], "{}", b.name);
        let m = b.db.material(second.outcomes[0].id()).await.unwrap().unwrap();
        assert_eq!(m.files[0].object_key, "key-first");
        assert_eq!(b.db.blob_key(&"c".repeat(64)).await.unwrap().as_deref(), Some("key-first"));
    });
}

#[tokio::test]
async fn a_repeated_id_within_one_batch_makes_one_material() {
    on_every_backend!(|b| {
        let later = A.replace("Mệnh đề", "Mệnh đề (bản sửa)");
        let w = b.db.write_materials(vec![write(A, vec![]), write(&later, vec![])], OnExisting::Update).await.unwrap();
        assert_eq!(w.outcomes[0].id(), w.outcomes[1].id(), "{}", b.name);
        assert_eq!(b.db.count_materials().await.unwrap(), 1);
        assert_eq!(b.db.material(w.outcomes[0].id()).await.unwrap().unwrap().meta.title, "Bài 1. Mệnh đề (bản sửa)");
    });
}

#[tokio::test]
async fn deletes_downloads_and_paging() {
    on_every_backend!(|b| {
        let items = (0..5).map(|_| write(B, vec![])).collect();
        let w = b.db.write_materials(items, OnExisting::Update).await.unwrap();
        let ids: Vec<_> = w.outcomes.iter().map(|o| o.id()).collect();
        let page1 = b.db.material_ids_page(None, 3).await.unwrap();
        let page2 = b.db.material_ids_page(page1.last().copied(), 3).await.unwrap();
        assert_eq!([page1, page2].concat(), ids, "{}", b.name);

        b.db.add_downloads(&[(ids[0], 3), (ids[0], 2), (ids[1], 1)]).await.unwrap();
        assert_eq!(b.db.material(ids[0]).await.unwrap().unwrap().downloads, 5);

        let before = b.db.last_seq().await.unwrap();
        assert!(b.db.delete_material(ids[2]).await.unwrap());
        assert!(!b.db.delete_material(ids[2]).await.unwrap());
        assert!(b.db.material(ids[2]).await.unwrap().is_none());
        let changes = b.db.changes_after(before, 10).await.unwrap();
        assert_eq!(changes.iter().map(|c| c.material_id).collect::<Vec<_>>(), vec![ids[2]]);
    });
}

#[tokio::test]
async fn api_keys_authenticate_until_revoked() {
    on_every_backend!(|b| {
        let (key, token) = b
            .db
            .create_api_key("LMS Sở GD Hà Nội", &[Scope::Write, Scope::Read, Scope::Write], Some("Sở GD&ĐT Hà Nội"))
            .await
            .unwrap();
        assert!(token.starts_with("hl_") && token.len() == 67);
        assert_eq!(key.scopes, vec![Scope::Read, Scope::Write]);
        assert!(token.starts_with(&key.prefix));
        let found = b.db.authenticate(&token).await.unwrap().unwrap();
        assert_eq!(found.id, key.id);
        assert!(b.db.authenticate(&format!("{token}x")).await.unwrap().is_none());
        assert!(b.db.authenticate("Bearer nonsense").await.unwrap().is_none());
        let listed = b.db.list_api_keys().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some(), "{}", b.name);
        assert!(b.db.revoke_api_key(key.id).await.unwrap());
        assert!(!b.db.revoke_api_key(key.id).await.unwrap());
        assert!(b.db.authenticate(&token).await.unwrap().is_none());
    });
}

#[tokio::test]
async fn downloads_refresh_the_index_at_powers_of_two() {
    on_every_backend!(|b| {
        let w = b.db.write_materials(vec![write(B, vec![])], OnExisting::Update).await.unwrap();
        let id = w.outcomes[0].id();
        let start = b.db.last_seq().await.unwrap();
        let mut refreshes = Vec::new();
        for _ in 0..9 {
            let before = b.db.last_seq().await.unwrap();
            b.db.add_downloads(&[(id, 1)]).await.unwrap();
            refreshes.push(b.db.last_seq().await.unwrap() > before);
        }
        // 0→1, 1→2, 3→4, 7→8 cross a power of two; the others do not.
        assert_eq!(refreshes, [true, true, false, true, false, false, false, true, false], "{}", b.name);
        assert_eq!(b.db.changes_after(start, 100).await.unwrap().len(), 4);
        assert_eq!(b.db.material(id).await.unwrap().unwrap().downloads, 9);
    });
}

#[tokio::test]
async fn the_search_log_reports_frequent_and_fruitless_queries() {
    use chrono::{Duration, Utc};
    use hoclieu_db::SearchLogEntry;
    on_every_backend!(|b| {
        let now = Utc::now();
        let entry = |q: &str, results: u64, age_days: i64| SearchLogEntry {
            at: now - Duration::days(age_days),
            query: q.into(),
            filters: String::new(),
            results,
            corrected: None,
        };
        b.db.log_searches(&[
            entry("thiên văn học", 0, 1),
            entry("thien van hoc", 0, 0),
            entry("Thiên Văn Học", 0, 2),
            entry("robot lego", 0, 1),
            entry("tập hợp", 12, 1),
            entry("tap hop", 9, 1),
            entry("rất cũ", 0, 400),
        ])
        .await
        .unwrap();
        let since = now - Duration::days(30);
        let zero = b.db.frequent_queries(since, true, 10).await.unwrap();
        let got: Vec<(&str, u64)> = zero.iter().map(|q| (q.query.as_str(), q.searches)).collect();
        assert_eq!(got, vec![("thien van hoc", 3), ("robot lego", 1)], "{}", b.name);
        let all = b.db.frequent_queries(since, false, 1).await.unwrap();
        assert_eq!(all[0].searches, 3);
        assert_eq!(b.db.prune_search_log(now - Duration::days(365)).await.unwrap(), 1);
    });
}

fn pdf_result(text: &str) -> hoclieu_db::DerivationResult {
    use hoclieu_domain::preview::PreviewImage;
    hoclieu_db::DerivationResult {
        status: hoclieu_domain::DerivedStatus::Ready,
        kind: hoclieu_domain::PreviewKind::Pdf,
        reason: None,
        text: Some(text.into()),
        derived: hoclieu_domain::Derived {
            pages: Some(2),
            images: vec![PreviewImage { page: 1, width: 320, height: 452, name: "p1-w320.jpg".into() }],
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn new_blobs_queue_one_derive_job_each() {
    on_every_backend!(|b| {
        let db = &b.db;
        let w = db
            .write_materials(
                vec![
                    write(A, vec![file("Bài 1.pdf", 'a', "k1")]),
                    write(B, vec![file("Bài 1 bản sao.pdf", 'a', "k2")]),
                ],
                OnExisting::Update,
            )
            .await
            .unwrap();
        // Identical bytes: one blob, one derivation, one job.
        assert_eq!(db.job_counts().await.unwrap().waiting, 1, "{}", b.name);
        let m = db.material(w.outcomes[0].id()).await.unwrap().unwrap();
        let state = m.files[0].preview.clone().unwrap();
        assert_eq!(state.status, hoclieu_domain::DerivedStatus::Pending);
        assert_eq!(state.kind, hoclieu_domain::PreviewKind::Pdf);

        let job = db.claim_job(std::time::Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!((job.kind.as_str(), job.key.as_str(), job.attempts), (hoclieu_db::DERIVE_JOB, &*"a".repeat(64), 1));
        assert!(db.claim_job(std::time::Duration::from_secs(60)).await.unwrap().is_none(), "leased: not claimable");
        let seq = db.last_seq().await.unwrap();
        assert!(db.finish_derivation(&job, pdf_result("Mệnh đề và tập hợp")).await.unwrap());
        assert_eq!(db.job_counts().await.unwrap(), hoclieu_db::JobCounts::default());

        // Both materials using the blob are reindexed, with the text and the thumbnail.
        let changes = db.changes_after(seq, 10).await.unwrap();
        assert_eq!(changes.len(), 2, "{}", b.name);
        let ids: Vec<_> = w.outcomes.iter().map(|o| o.id()).collect();
        let texts = db.material_texts(&ids).await.unwrap();
        assert_eq!(texts.get(&ids[1]).map(String::as_str), Some("Mệnh đề và tập hợp"));
        let m = db.material(ids[1]).await.unwrap().unwrap();
        let state = m.files[0].preview.clone().unwrap();
        assert_eq!(state.status, hoclieu_domain::DerivedStatus::Ready);
        assert_eq!(state.thumbnail.as_deref(), Some("p1-w320.jpg"));
        let d = db.derivation(&"a".repeat(64)).await.unwrap().unwrap();
        assert_eq!(d.derived.pages, Some(2));

        // A later material with the same bytes reuses the derivation: no new job.
        db.write_materials(
            vec![write(
                r#"{"title":"Bài 3","subject":"toan","resource_type":"bai-giang"}"#,
                vec![file("x.pdf", 'a', "k3")],
            )],
            OnExisting::Update,
        )
        .await
        .unwrap();
        assert_eq!(db.job_counts().await.unwrap().waiting, 0, "{}", b.name);
        // Requeueing (after installing a converter) runs it again.
        assert!(db.requeue_derivation(&"a".repeat(64)).await.unwrap());
        assert_eq!(db.job_counts().await.unwrap().waiting, 1);
    });
}

#[tokio::test]
async fn jobs_run_again_after_a_lost_lease_and_back_off_on_retry() {
    on_every_backend!(|b| {
        let db = &b.db;
        db.write_materials(vec![write(A, vec![file("Bài 1.pdf", 'c', "k1")])], OnExisting::Update).await.unwrap();
        // A worker takes the job and "crashes": its short lease expires.
        let first = db.claim_job(std::time::Duration::from_millis(200)).await.unwrap().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let second = db.claim_job(std::time::Duration::from_secs(60)).await.unwrap().unwrap();
        assert_eq!((second.id, second.attempts), (first.id, 2), "{}", b.name);
        assert_ne!(second.lease, first.lease);
        // The first worker comes back: its lease is gone, it writes nothing.
        assert!(!db.finish_derivation(&first, pdf_result("stale")).await.unwrap());
        assert!(!db.retry_job(&first, "stale", std::time::Duration::ZERO).await.unwrap());
        // The second fails transiently and backs off: not due before its time.
        assert!(db.retry_job(&second, "converter crashed", std::time::Duration::from_secs(3600)).await.unwrap());
        assert!(db.claim_job(std::time::Duration::from_secs(60)).await.unwrap().is_none());
        assert_eq!(db.job_counts().await.unwrap().waiting, 1);
        let d = db.derivation(&"c".repeat(64)).await.unwrap().unwrap();
        assert_eq!(d.status, hoclieu_domain::DerivedStatus::Pending);
    });
}

#[tokio::test]
async fn concurrent_workers_never_share_a_job() {
    on_every_backend!(|b| {
        let db = &b.db;
        let items: Vec<_> = (0..12)
            .map(|i| {
                let sha = std::char::from_digit(i, 16).unwrap();
                write(
                    &format!(r#"{{"title":"Bài {i}","subject":"toan","resource_type":"bai-giang"}}"#),
                    vec![file("a.pdf", sha, &format!("k{i}"))],
                )
            })
            .collect();
        db.write_materials(items, OnExisting::Update).await.unwrap();
        let claims = (0..4).map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = db.claim_job(std::time::Duration::from_secs(60)).await.unwrap() {
                    mine.push(job.id);
                }
                mine
            })
        });
        let mut all: Vec<i64> = Vec::new();
        for c in claims {
            all.extend(c.await.unwrap());
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!((n, all.len()), (12, 12), "{}: every job claimed exactly once", b.name);
    });
}

#[tokio::test]
async fn versions_keep_their_files_and_metadata_only_ones_follow_the_material() {
    on_every_backend!(|b| {
        let db = &b.db;
        let actor = hoclieu_db::Actor { kind: "cli".into(), ..Default::default() };
        let w = db.write_materials(vec![write(A, vec![file("Bài 1.pdf", 'a', "k1")])], OnExisting::Update).await;
        let id = w.unwrap().outcomes[0].id();
        let first = db.material(id).await.unwrap().unwrap().files[0].id;

        // A proposal with new files: the same file sent again keeps its id, a new one gets one.
        let files = [file("Bài 1.pdf", 'a', "k1-again"), file("Đáp án.pdf", 'b', "k2")];
        let (v, redundant) = db.propose_version(id, &meta(A), Some(&files), &actor).await.unwrap();
        assert_eq!(redundant, vec!["k1-again".to_owned()], "{}", b.name);
        assert_eq!((v.number, v.files.len(), v.files[0].id), (2, 2, first), "{}", b.name);
        assert_eq!(db.material(id).await.unwrap().unwrap().files.len(), 1, "published files stay until approval");
        for step in [hoclieu_domain::Step::Submit, hoclieu_domain::Step::Approve] {
            db.take_version_step(id, 2, step, None, &actor).await.unwrap();
        }
        let m = db.material(id).await.unwrap().unwrap();
        let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!((names, m.files[0].id, m.version), (vec!["Bài 1.pdf", "Đáp án.pdf"], first, 2), "{}", b.name);
        let listed = db.versions(id).await.unwrap();
        assert_eq!(
            listed.iter().map(|v| (v.number, v.status.as_str(), v.files.len())).collect::<Vec<_>>(),
            [(1, "previous", 1), (2, "published", 2)],
            "{}",
            b.name
        );
        assert!(db.version_file(id, 1, first).await.unwrap().is_some());

        // A metadata-only proposal takes the material's files as they are when it is approved.
        let renamed = A.replace("Mệnh đề", "Mệnh đề và tập hợp");
        db.propose_version(id, &meta(&renamed), None, &actor).await.unwrap();
        let reimport = db.write_materials(vec![write(A, vec![file("Mới.pdf", 'c', "k3")])], OnExisting::Update).await;
        assert!(reimport.is_ok(), "{}", b.name);
        for step in [hoclieu_domain::Step::Submit, hoclieu_domain::Step::Approve] {
            db.take_version_step(id, 3, step, None, &actor).await.unwrap();
        }
        let m = db.material(id).await.unwrap().unwrap();
        assert_eq!(
            (m.meta.title.as_str(), m.files[0].name.as_str()),
            ("Bài 1. Mệnh đề và tập hợp", "Mới.pdf"),
            "{}",
            b.name
        );
        assert_eq!(db.version(id, 3).await.unwrap().unwrap().files[0].name, "Mới.pdf");
    });
}
