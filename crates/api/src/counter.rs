//! Download counts, gathered in memory and written to the database in batches, so a busy
//! morning of downloads costs one small transaction a second rather than one per download.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hoclieu_db::Db;
use uuid::Uuid;

#[derive(Default)]
pub struct DownloadCounter {
    pending: Mutex<HashMap<Uuid, u64>>,
}

impl DownloadCounter {
    pub fn add(&self, material: Uuid) {
        *self
            .pending
            .lock()
            .expect("counter lock")
            .entry(material)
            .or_default() += 1;
    }

    /// Writes the pending counts; on failure they are kept for the next flush.
    pub async fn flush(&self, db: &Db) {
        let batch: Vec<(Uuid, u64)> =
            std::mem::take(&mut *self.pending.lock().expect("counter lock"))
                .into_iter()
                .collect();
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
