//! The single writer of an index: applies the database's change sequence and rebuilds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hoclieu_db::Db;
use hoclieu_domain::Status;
use tantivy::{IndexWriter, TantivyError, Term};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{Error, Payload, Result, SCHEMA_VERSION, SearchIndex};

/// Changes read from the database per round trip.
const CHANGES_PER_READ: u64 = 2_000;
/// Materials loaded per round trip during a rebuild.
const MATERIALS_PER_READ: u64 = 1_000;
/// Documents buffered before an intermediate commit during a long catch-up or rebuild.
const DOCS_PER_COMMIT: usize = 200_000;

/// Holds the index writer (one per index directory, across processes).
pub struct Indexer {
    index: SearchIndex,
    writer: Option<IndexWriter>,
    applied: i64,
    /// Set once the index is known not to be ahead of the database.
    checked_against_db: bool,
}

impl Indexer {
    /// Takes the writer lock of `index`. Fails with [`Error::Locked`] when another process (or
    /// another `Indexer`) holds it.
    pub fn acquire(index: &SearchIndex, memory_budget_mb: usize) -> Result<Indexer> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        let budget = (memory_budget_mb.max(threads * 16)) << 20;
        let writer = match index.index.writer_with_num_threads(threads, budget) {
            Ok(w) => w,
            Err(TantivyError::LockFailure(..)) => {
                return Err(Error::Locked(index.location.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        let applied = index.applied_seq()?;
        Ok(Indexer { index: index.clone(), writer: Some(writer), applied, checked_against_db: false })
    }

    /// The last change-sequence number applied and committed.
    pub fn applied_seq(&self) -> i64 {
        self.applied
    }

    fn writer(&self) -> &IndexWriter {
        self.writer.as_ref().expect("the writer is only taken during a commit")
    }

    /// Applies every change after the last applied one. Returns how many changes were applied.
    pub async fn catch_up(&mut self, db: &Db) -> Result<u64> {
        if !self.checked_against_db {
            let last = db.last_seq().await?;
            if self.applied > last {
                // The database is older than the index (restored from a backup, or replaced).
                tracing::warn!(
                    index_seq = self.applied,
                    db_seq = last,
                    "the index is ahead of the database: rebuilding"
                );
                self.rebuild(db, |_, _| {}).await?;
            }
            self.checked_against_db = true;
        }
        let mut applied = 0u64;
        let mut buffered = 0usize;
        loop {
            let changes = db.changes_after(self.applied, CHANGES_PER_READ).await?;
            let Some(last) = changes.last() else { break };
            let last = last.seq;
            let mut ids: Vec<Uuid> = changes.iter().map(|c| c.material_id).collect();
            ids.sort_unstable();
            ids.dedup();
            let materials: HashMap<Uuid, hoclieu_domain::Material> =
                db.materials(&ids).await?.into_iter().map(|m| (m.id, m)).collect();
            let texts = db.material_texts(&ids).await?;
            for id in &ids {
                self.writer().delete_term(Term::from_field_text(self.index.fields.id, &id.to_string()));
                if let Some(m) = materials.get(id).filter(|m| m.status == Status::Published) {
                    let text = texts.get(id).map(String::as_str);
                    self.writer().add_document(self.index.fields.document(m, &self.index.lang.vocab, text))?;
                    buffered += 1;
                }
            }
            applied += changes.len() as u64;
            self.applied = last;
            if buffered >= DOCS_PER_COMMIT {
                self.commit().await?;
                buffered = 0;
            }
        }
        if applied > 0 {
            self.commit().await?;
        }
        Ok(applied)
    }

    /// Rebuilds the index from the database alone. `progress(done, total)` is called as
    /// materials are added. Searches see the old index until the new one is committed.
    pub async fn rebuild(&mut self, db: &Db, mut progress: impl FnMut(u64, u64)) -> Result<u64> {
        // Everything up to this point is in the tables read below; later changes replay.
        let seq = db.last_seq().await?;
        let total = db.count_materials().await?;
        self.writer().delete_all_documents()?;
        let mut done = 0u64;
        let mut after = None;
        loop {
            let ids = db.material_ids_page(after, MATERIALS_PER_READ).await?;
            let Some(&last) = ids.last() else { break };
            after = Some(last);
            let texts = db.material_texts(&ids).await?;
            for m in db.materials(&ids).await? {
                if m.status == Status::Published {
                    let text = texts.get(&m.id).map(String::as_str);
                    self.writer().add_document(self.index.fields.document(&m, &self.index.lang.vocab, text))?;
                }
            }
            done += ids.len() as u64;
            progress(done, total.max(done));
        }
        self.applied = seq;
        self.commit().await?;
        self.checked_against_db = true;
        Ok(done)
    }

    /// Adds materials directly, without a database, and commits. For evaluation and benchmark
    /// indexes that do not follow a change sequence; a serving index gets its documents from
    /// [`catch_up`](Self::catch_up) and [`rebuild`](Self::rebuild) only.
    pub async fn load<'a>(&mut self, materials: impl IntoIterator<Item = &'a hoclieu_domain::Material>) -> Result<u64> {
        let mut n = 0;
        for m in materials {
            self.writer().add_document(self.index.fields.document(m, &self.index.lang.vocab, None))?;
            n += 1;
        }
        self.commit().await?;
        Ok(n)
    }

    /// Commits on a blocking thread, recording the applied sequence number, and makes the
    /// commit visible to searches — after the spelling lexicon and the suggestion table have
    /// caught up with it, when it changed them a lot (a first import), so no search sees new
    /// documents with an old lexicon.
    async fn commit(&mut self) -> Result<()> {
        let mut writer = self.writer.take().expect("writer present");
        let payload =
            serde_json::to_string(&Payload { schema: SCHEMA_VERSION, seq: self.applied }).expect("payload serialises");
        let (writer, result) = tokio::task::spawn_blocking(move || {
            let result = writer.prepare_commit().and_then(|mut prepared| {
                prepared.set_payload(&payload);
                prepared.commit()
            });
            (writer, result)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
        self.writer = Some(writer);
        result?;
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.refresh_derived_on_latest_commit())
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        self.index.reload()
    }
}

/// Keeps `index` following the database: takes the writer when it is free, applies changes
/// when woken by `wake` (a local write) or every `poll` (writes by other processes), and
/// retries after errors. Runs until the task is dropped.
pub async fn follow(index: SearchIndex, db: Db, wake: Arc<Notify>, poll: Duration, memory_budget_mb: usize) {
    let mut indexer: Option<Indexer> = None;
    let mut warned_locked = false;
    loop {
        if indexer.is_none() {
            match Indexer::acquire(&index, memory_budget_mb) {
                Ok(i) => {
                    tracing::info!(seq = i.applied_seq(), "index writer acquired");
                    indexer = Some(i);
                }
                Err(Error::Locked(path)) => {
                    if !warned_locked {
                        tracing::warn!(path = %path.display(), "index is locked by another process; searching its commits and retrying");
                        warned_locked = true;
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot open the index writer"),
            }
        }
        if indexer.is_none() {
            // Another process writes the index: search its latest commit.
            let latest = index.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let _ = latest.refresh_derived_on_latest_commit();
                latest.reload()
            })
            .await;
        }
        // The lexicon and the suggestion table follow the commits (when stale), here rather than
        // in a request.
        let derived = index.clone();
        match tokio::task::spawn_blocking(move || derived.refresh_derived(false)).await {
            Ok(Ok(true)) => tracing::debug!("spelling lexicon and suggestion table rebuilt"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot rebuild the spelling lexicon"),
            Err(e) => tracing::warn!(error = %e, "the lexicon task failed"),
        }
        if let Some(i) = indexer.as_mut() {
            match i.catch_up(&db).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(changes = n, seq = i.applied_seq(), "index caught up"),
                Err(e) => {
                    tracing::warn!(error = %e, "index catch-up failed; will retry");
                    if matches!(e, Error::Tantivy(_) | Error::Task(_)) {
                        // Start again from the last commit with a fresh writer.
                        indexer = None;
                    }
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
