//! The derive worker against a real database, storage and child processes: a sandbox that
//! crashes, one that hangs, and a job whose workers keep dying.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hoclieu_db::Db;
use hoclieu_domain::{DerivedStatus, ImportRecord, Vocabularies};
use hoclieu_ingest::{Ingest, Origin, WorkerConfig, run_one};
use hoclieu_preview::{Options, Sandbox};
use hoclieu_storage::Storage;

struct Setup {
    ingest: Ingest,
    db: Db,
    storage: Storage,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Db::connect(&url, &Default::default()).await.unwrap();
    db.migrate().await.unwrap();
    let storage = Storage::local(&dir.path().join("objects")).unwrap();
    let ingest = Ingest::new(db.clone(), storage.clone(), Arc::new(Vocabularies::embedded()));
    Setup { ingest, db, storage, _dir: dir }
}

/// Uploads a small PDF (which queues its derive job); returns its SHA-256.
async fn upload_pdf(s: &Setup, text: &str) -> String {
    let bytes = Bytes::from(format!("%PDF-1.4\n% {text}\n"));
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes)]);
    let staged = s.ingest.stage_file("de-thi.pdf", body, 1 << 20).await.unwrap();
    let sha = staged.0.sha256.clone();
    let record =
        ImportRecord::from_json(r#"{"title":"Đề thi","subject":"toan","resource_type":"de-kiem-tra"}"#).unwrap();
    s.ingest.create(&record, vec![staged], &Origin::PUBLISHED).await.unwrap();
    sha
}

/// A worker whose sandbox is `sh -c script`.
fn worker(script: &str, timeout: Duration) -> WorkerConfig {
    WorkerConfig {
        sandbox: Sandbox {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            memory_mb: 256,
            derive_timeout: timeout,
            render_timeout: timeout,
        },
        concurrency: 1,
        max_attempts: 3,
        retry_base: Duration::from_millis(10),
        poll: Duration::from_millis(10),
        options: Options::default(),
    }
}

#[tokio::test]
async fn a_crashing_reader_fails_the_file_and_not_the_worker() {
    let s = setup().await;
    let sha = upload_pdf(&s, "a").await;
    // The child dies as a parser with a memory fault would.
    let config = worker("kill -SEGV $$", Duration::from_secs(10));
    assert!(run_one(&s.db, &s.storage, &config).await.unwrap());
    let d = s.db.derivation(&sha).await.unwrap().unwrap();
    assert_eq!(d.status, DerivedStatus::Failed);
    assert!(d.reason.as_deref().unwrap().contains("memory fault"), "{:?}", d.reason);
    assert!(!run_one(&s.db, &s.storage, &config).await.unwrap(), "a file that crashes the reader is not retried");
}

#[tokio::test]
async fn a_hanging_reader_is_killed_at_its_timeout_and_retried_then_failed() {
    let s = setup().await;
    let sha = upload_pdf(&s, "b").await;
    let config = worker("sleep 60", Duration::from_millis(500));
    let started = Instant::now();
    let mut runs = 0;
    while s.db.derivation(&sha).await.unwrap().unwrap().status == DerivedStatus::Pending {
        if !run_one(&s.db, &s.storage, &config).await.unwrap() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        runs += 1;
        assert!(started.elapsed() < Duration::from_secs(20), "the hanging child was not stopped");
    }
    assert_eq!(runs, 3, "max_attempts runs, then failed");
    let d = s.db.derivation(&sha).await.unwrap().unwrap();
    assert_eq!(d.status, DerivedStatus::Failed);
    assert!(d.reason.as_deref().unwrap().contains("longer than"), "{:?}", d.reason);
}

#[tokio::test]
async fn a_job_whose_workers_keep_dying_is_failed_and_never_claimed_again() {
    let s = setup().await;
    let sha = upload_pdf(&s, "c").await;
    // Three workers take the job and die without a word: their leases expire.
    for _ in 0..3 {
        let job = s.db.claim_job(Duration::from_millis(20)).await.unwrap().expect("the job is due");
        assert_eq!(job.key, sha);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    // The next worker does not run it (it would die too) but records why it gave up.
    let config = worker("echo must not run >&2; exit 9", Duration::from_secs(5));
    assert!(run_one(&s.db, &s.storage, &config).await.unwrap());
    let d = s.db.derivation(&sha).await.unwrap().unwrap();
    assert_eq!(d.status, DerivedStatus::Failed);
    assert!(d.reason.as_deref().unwrap().contains("gave up after 3 attempts"), "{:?}", d.reason);
    assert!(s.db.claim_job(Duration::from_secs(1)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_running_job_keeps_its_lease() {
    let s = setup().await;
    upload_pdf(&s, "d").await;
    let job = s.db.claim_job(Duration::from_millis(300)).await.unwrap().unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(s.db.renew_job(&job, Duration::from_millis(300)).await.unwrap());
        assert!(s.db.claim_job(Duration::from_secs(1)).await.unwrap().is_none(), "renewed: not claimable");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = s.db.claim_job(Duration::from_secs(1)).await.unwrap().expect("expired: claimable");
    assert!(!s.db.renew_job(&job, Duration::from_secs(1)).await.unwrap(), "the old lease is gone");
    assert_eq!(taken.attempts, 2);
}
