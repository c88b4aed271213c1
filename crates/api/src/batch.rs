//! Writes gathered in memory and sent to the database in batches (download counts, the search
//! log), so a busy morning costs one small transaction a second rather than one per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hoclieu_db::{Db, SearchLogEntry};
use uuid::Uuid;

#[derive(Default)]
pub struct DownloadCounter {
    pending: Mutex<HashMap<Uuid, u64>>,
}

impl DownloadCounter {
    pub fn add(&self, material: Uuid) {
        *self.pending.lock().expect("counter lock").entry(material).or_default() += 1;
    }

    /// Writes the pending counts; on failure they are kept for the next flush.
    pub async fn flush(&self, db: &Db) {
        let batch: Vec<(Uuid, u64)> =
            std::mem::take(&mut *self.pending.lock().expect("counter lock")).into_iter().collect();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = db.add_downloads(&batch).await {
            tracing::warn!(error = %e, "could not record download counts; will retry");
            let mut pending = self.pending.lock().expect("counter lock");
            for (id, n) in batch {
                *pending.entry(id).or_default() += n;
            }
        }
    }

    /// Flushes every `interval` until the task is dropped.
    pub async fn run(&self, db: Db, interval: Duration) {
        loop {
            tokio::time::sleep(interval).await;
            self.flush(&db).await;
        }
    }
}

/// Searches waiting to be logged. Bounded: when the database is unreachable for long, the
/// oldest entries are dropped rather than memory growing.
#[derive(Default)]
pub struct SearchLog {
    pending: Mutex<Vec<SearchLogEntry>>,
}

/// Most entries kept in memory between flushes.
const MAX_PENDING_SEARCHES: usize = 10_000;

impl SearchLog {
    pub fn record(&self, entry: SearchLogEntry) {
        let mut pending = self.pending.lock().expect("search log lock");
        if pending.len() >= MAX_PENDING_SEARCHES {
            pending.remove(0);
        }
        pending.push(entry);
    }

    pub async fn flush(&self, db: &Db) {
        let batch = std::mem::take(&mut *self.pending.lock().expect("search log lock"));
        if let Err(e) = db.log_searches(&batch).await {
            tracing::warn!(error = %e, entries = batch.len(), "could not write the search log; will retry");
            let mut pending = self.pending.lock().expect("search log lock");
            let room = MAX_PENDING_SEARCHES.saturating_sub(pending.len());
            pending.splice(0..0, batch.into_iter().rev().take(room).rev());
        }
    }

    /// Flushes every `interval` and forgets entries older than `keep` once a day, until the
    /// task is dropped.
    pub async fn run(&self, db: Db, interval: Duration, keep: Duration) {
        let mut last_prune = std::time::Instant::now() - Duration::from_secs(86_400);
        loop {
            tokio::time::sleep(interval).await;
            self.flush(&db).await;
            if last_prune.elapsed() >= Duration::from_secs(86_400) {
                let before =
                    chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(180));
                match db.prune_search_log(before).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "pruned the search log"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not prune the search log"),
                }
                last_prune = std::time::Instant::now();
            }
        }
    }
}
