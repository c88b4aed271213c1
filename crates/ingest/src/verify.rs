//! `hoclieu verify`: every blob the database knows has its object with the right size and
//! SHA-256; objects nothing refers to are reported, and removed with `repair`.

use std::collections::HashSet;

use chrono::Utc;
use futures_util::TryStreamExt;
use hoclieu_storage::Storage;
use sha2::{Digest, Sha256};

use crate::{Ingest, Result};

/// What `verify` found.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub blobs_checked: u64,
    pub bytes_hashed: u64,
    /// Blobs whose object is missing, or has another size or hash (data loss: not repairable).
    pub damaged: Vec<String>,
    /// Objects no blob or upload refers to.
    pub orphans: Vec<String>,
    /// Pieces of objects whose writing was cut short (a crash during an upload): local disk only.
    pub unfinished: Vec<String>,
    /// Blobs no file uses any more (after deletions).
    pub unused: Vec<String>,
    /// Orphans and unused blobs removed (with `repair`).
    pub removed: u64,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
            && self.orphans.len() + self.unused.len() + self.unfinished.len() == self.removed as usize
    }
}

impl Ingest {
    /// Checks storage against the database. `hash`: re-read every object and compare its
    /// SHA-256 (slow on large stores); `repair`: remove orphans and unused blobs older than
    /// `grace` (younger ones may belong to an upload in flight: bytes are stored before their
    /// row commits). `progress(done, total)` follows the blobs checked.
    pub async fn verify(
        &self,
        hash: bool,
        repair: bool,
        grace: std::time::Duration,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<VerifyReport> {
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::hours(1));
        let mut report = VerifyReport::default();
        let total = self.db.count_blobs().await?;
        let mut known: HashSet<String> = HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.db.blobs_page(after.as_deref(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.sha256.clone());
            for blob in page {
                known.insert(blob.object_key.clone());
                report.blobs_checked += 1;
                match self.storage.size(&blob.object_key).await {
                    Err(hoclieu_storage::Error::NotFound(_)) => {
                        report.damaged.push(format!("{}: object {} is missing", blob.sha256, blob.object_key))
                    }
                    Err(e) => return Err(e.into()),
                    Ok(size) if size != blob.size => report.damaged.push(format!(
                        "{}: object {} has {size} bytes, expected {}",
                        blob.sha256, blob.object_key, blob.size
                    )),
                    Ok(_) if hash => {
                        let read = self.storage.read(&blob.object_key, None).await?;
                        let mut hasher = Sha256::new();
                        let mut body = read.body;
                        while let Some(chunk) = body.try_next().await? {
                            report.bytes_hashed += chunk.len() as u64;
                            hasher.update(&chunk);
                        }
                        let actual = hex::encode(hasher.finalize());
                        if actual != blob.sha256 {
                            report
                                .damaged
                                .push(format!("{}: object {} has SHA-256 {actual}", blob.sha256, blob.object_key));
                        }
                    }
                    Ok(_) => {}
                }
                if !blob.used {
                    report.unused.push(format!("{} ({})", blob.sha256, blob.object_key));
                    if repair && Utc::now() - blob.created_at >= grace {
                        // Its preview images go with it (their names are in the derivation).
                        let derived = self.db.derivation(&blob.sha256).await?;
                        if self.db.delete_unused_blob(&blob.sha256).await? {
                            self.storage.delete(&blob.object_key).await?;
                            for image in derived.iter().flat_map(|d| &d.derived.images) {
                                self.storage.delete(&Storage::derived_key(&blob.sha256, &image.name)).await?;
                            }
                            report.removed += 1;
                        }
                    }
                }
                progress(report.blobs_checked, total.max(report.blobs_checked));
            }
        }
        known.extend(self.db.upload_part_keys().await?);
        for prefix in ["blobs", "uploads"] {
            let mut listing = self.storage.list_keys(prefix);
            while let Some(object) = listing.try_next().await? {
                if known.contains(&object.key) {
                    continue;
                }
                report.orphans.push(object.key.clone());
                if repair && Utc::now() - object.modified >= grace {
                    self.storage.delete(&object.key).await?;
                    report.removed += 1;
                }
            }
        }
        for piece in self.storage.unfinished_writes().await? {
            report.unfinished.push(format!("{} ({} bytes)", piece.key, piece.size));
            if repair && Utc::now() - piece.modified >= grace {
                self.storage.remove_unfinished_write(&piece.key).await?;
                report.removed += 1;
            }
        }
        Ok(report)
    }
}
