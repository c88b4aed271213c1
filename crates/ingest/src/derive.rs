//! The background worker: takes derive jobs from the database's queue, derives text and
//! previews from the blob's bytes (on a blocking thread, never a request thread), stores the
//! images beside the blob and records the result — which appends a change, so the index
//! picks up the text and the thumbnail.
//!
//! The file is parsed in a sandboxed child process (`hoclieu_preview::Sandbox`): whatever a
//! hostile file does to the parser, this process only sees an error.
//!
//! A crash at any point loses nothing: the job stays in the queue until its result is
//! committed, and runs again once its lease expires. Leases are short and renewed while a job
//! runs, so a job held by a process that died is taken again within [`LEASE`]; a job that has
//! been claimed `max_attempts` times without finishing is recorded as failed, never run again.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hoclieu_db::{DERIVE_JOB, Db, DerivationResult, Job};
use hoclieu_domain::{DerivedStatus, PreviewKind};
use hoclieu_preview::{Options, Sandbox};
use hoclieu_storage::Storage;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use crate::{Error, Result};

/// How long a claimed job is held without a renewal: a job whose worker died is taken again
/// after this long.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a running job's lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Where files are parsed: a capped child process.
    pub sandbox: Sandbox,
    /// Jobs run at the same time by this process.
    pub concurrency: usize,
    /// Attempts before a job is recorded as failed.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled at each attempt.
    pub retry_base: Duration,
    /// How often the queue is checked when nothing wakes the worker.
    pub poll: Duration,
    pub options: Options,
}

/// Runs `config.concurrency` job loops until the task is dropped. `wake` is notified when a
/// job is queued locally; jobs queued by other processes are found by polling.
pub async fn run_worker(db: Db, storage: Storage, config: WorkerConfig, wake: Arc<Notify>, index_wake: Arc<Notify>) {
    match db.queue_missing_derivations().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(blobs = n, "queued derivations for files stored before previews existed"),
        Err(e) => tracing::warn!(error = %e, "cannot queue missing derivations"),
    }
    let config = Arc::new(config);
    let loops = (0..config.concurrency.max(1)).map(|_| {
        let (db, storage, config, wake, index_wake) =
            (db.clone(), storage.clone(), config.clone(), wake.clone(), index_wake.clone());
        tokio::spawn(async move {
            loop {
                match run_one(&db, &storage, &config).await {
                    Ok(true) => {
                        index_wake.notify_one();
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "job queue unavailable; will retry"),
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(config.poll) => {}
                }
            }
        })
    });
    let handles: Vec<_> = loops.collect();
    // Dropping this future (server shutdown) stops the loops: jobs in flight run again later.
    let _guard = AbortOnDrop(handles.iter().map(|h| h.abort_handle()).collect());
    futures_util::future::join_all(handles).await;
}

struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::AbortHandle::abort);
    }
}

/// Runs every due job, one after another, until the queue has none (for `hoclieu worker
/// --until-idle` and tests). Returns how many ran.
pub async fn run_until_idle(db: &Db, storage: &Storage, config: &WorkerConfig) -> Result<u64> {
    db.queue_missing_derivations().await?;
    let mut n = 0;
    while run_one(db, storage, config).await? {
        n += 1;
    }
    Ok(n)
}

/// Claims and runs one job. Returns false when no job was due.
pub async fn run_one(db: &Db, storage: &Storage, config: &WorkerConfig) -> Result<bool> {
    let Some(job) = db.claim_job(LEASE).await? else {
        return Ok(false);
    };
    if job.attempts > config.max_attempts {
        // Every earlier attempt lost its lease: the process running it died (or hung) on it.
        let reason = format!(
            "gave up after {} attempts: the worker stopped while deriving this file ({})",
            config.max_attempts,
            job.last_error.as_deref().unwrap_or("no error was recorded")
        );
        tracing::warn!(sha256 = %job.key, kind = %job.kind, %reason, "job abandoned");
        db.finish_derivation(&job, failed(PreviewKind::None, reason)).await?;
        return Ok(true);
    }
    if job.kind != DERIVE_JOB {
        tracing::warn!(kind = %job.kind, "unknown job kind; retrying later (a newer server may know it)");
        db.retry_job(&job, "unknown job kind", Duration::from_secs(3600)).await?;
        return Ok(true);
    }
    let started = std::time::Instant::now();
    let work = derive_blob(db, storage, &job, &config.sandbox, &config.options);
    let result = match with_lease(db, &job, work).await {
        Some(result) => result,
        None => {
            // Another worker has the job now; its result is the one that counts.
            tracing::warn!(sha256 = %job.key, "lost the lease of a running job; dropping its result");
            return Ok(true);
        }
    };
    match result {
        Ok(result) => {
            tracing::info!(sha256 = %job.key, kind = ?result.kind, ms = started.elapsed().as_millis() as u64, "derived");
            db.finish_derivation(&job, result).await?;
        }
        Err(Failure::Permanent(kind, reason)) => {
            tracing::info!(sha256 = %job.key, %reason, "derivation failed");
            db.finish_derivation(&job, failed(kind, reason)).await?;
        }
        Err(Failure::Transient(reason)) if job.attempts >= config.max_attempts => {
            tracing::warn!(sha256 = %job.key, %reason, attempts = job.attempts, "derivation failed; giving up");
            db.finish_derivation(&job, failed(PreviewKind::None, reason)).await?;
        }
        Err(Failure::Transient(reason)) => {
            let after = config.retry_base * 2u32.saturating_pow(job.attempts.saturating_sub(1));
            tracing::warn!(sha256 = %job.key, %reason, attempts = job.attempts, "derivation failed; will retry");
            db.retry_job(&job, &reason, after).await?;
        }
    }
    Ok(true)
}

/// Runs `work` while renewing the job's lease; `None` when the lease was lost meanwhile.
async fn with_lease<T>(db: &Db, job: &Job, work: impl std::future::Future<Output = T>) -> Option<T> {
    let mut work = std::pin::pin!(work);
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + RENEW_EVERY, RENEW_EVERY);
    loop {
        tokio::select! {
            out = &mut work => return Some(out),
            _ = renew.tick() => match db.renew_job(job, LEASE).await {
                Ok(true) => {}
                Ok(false) => return None,
                // A database blip: the lease is still ours until it expires; try again next tick.
                Err(e) => tracing::warn!(error = %e, "cannot renew a job's lease"),
            },
        }
    }
}

fn failed(kind: PreviewKind, reason: String) -> DerivationResult {
    DerivationResult {
        status: DerivedStatus::Failed,
        kind,
        reason: Some(reason),
        text: None,
        derived: Default::default(),
    }
}

enum Failure {
    /// The file itself is the problem: retrying would fail again.
    Permanent(PreviewKind, String),
    /// The machine, the network or a converter: worth another attempt.
    Transient(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Transient(e.to_string())
    }
}

async fn derive_blob(
    db: &Db,
    storage: &Storage,
    job: &Job,
    sandbox: &Sandbox,
    options: &Options,
) -> Result<DerivationResult, Failure> {
    let sha = job.key.as_str();
    let Some(key) = db.blob_key(sha).await.map_err(Error::from)? else {
        return Err(Failure::Permanent(PreviewKind::None, "the file is no longer stored".into()));
    };
    let (name, media_type) = db.blob_file(sha).await.map_err(Error::from)?.unwrap_or_default();
    let kind = PreviewKind::of(&media_type, &name);
    if kind == PreviewKind::None {
        return Ok(DerivationResult {
            status: DerivedStatus::Ready,
            kind,
            reason: None,
            text: None,
            derived: Default::default(),
        });
    }
    let work = tempfile::tempdir().map_err(|e| Error::Io { path: "temporary directory".into(), source: e })?;
    // The converters pick formats from the extension: keep the original one.
    let ext = Path::new(&name).extension().and_then(|e| e.to_str()).filter(|e| e.chars().all(char::is_alphanumeric));
    let input = work.path().join(match ext {
        Some(ext) => format!("input.{}", ext.to_lowercase()),
        None => "input".into(),
    });
    copy_to_file(storage, &key, &input).await?;
    let out_dir = work.path().join("out");
    std::fs::create_dir_all(&out_dir).map_err(|e| Error::Io { path: out_dir.display().to_string(), source: e })?;
    let (sandbox, options, media) = (sandbox.clone(), options.clone(), media_type.clone());
    // The blocking thread only waits for the child; the child is killed at its time limit.
    let output = tokio::task::spawn_blocking(move || sandbox.derive(&input, kind, &media, &out_dir, &options))
        .await
        .map_err(|e| Failure::Transient(format!("the derivation stopped: {e}")))?;
    let output = match output {
        Ok(o) => o,
        // The machine or a converter, or too slow this time (the machine may have been busy).
        Err(
            e @ (hoclieu_preview::Error::Io(_)
            | hoclieu_preview::Error::Converter { .. }
            | hoclieu_preview::Error::Timeout { .. }),
        ) => {
            return Err(Failure::Transient(e.to_string()));
        }
        // The file itself: it would fail again.
        Err(e) => return Err(Failure::Permanent(kind, e.to_string())),
    };
    for (name, path) in &output.files {
        let bytes = tokio::fs::read(path).await.map_err(|e| Error::Io { path: name.clone(), source: e })?;
        storage.put(&Storage::derived_key(sha, name), bytes.into()).await.map_err(Error::from)?;
    }
    Ok(DerivationResult {
        status: DerivedStatus::Ready,
        kind,
        reason: None,
        text: output.text,
        derived: output.derived,
    })
}

async fn copy_to_file(storage: &Storage, key: &str, path: &Path) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::from(Error::Io { path: path.display().to_string(), source: e });
    let mut body = storage.read(key, None).await.map_err(Error::from)?.body;
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    while let Some(chunk) = body.next().await {
        file.write_all(&chunk.map_err(Error::from)?).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(())
}
