//! What the worker derived from each blob: status, extracted text and the preview description.
//! A derivation is queued (a `derive` job) in the transaction that first stores a blob.

use std::collections::HashMap;

use chrono::Utc;
use hoclieu_domain::preview::PreviewState;
use hoclieu_domain::{Derived, DerivedStatus, PreviewKind};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::{blob, derivation, job, material_file};
use crate::jobs::{Job, new_job, on_conflict_keep};
use crate::materials::append_changes_for;
use crate::{CHUNK, Db, Error, Result, lock_change_sequence};

/// The job kind that derives a blob; its key is the blob's SHA-256.
pub const DERIVE_JOB: &str = "derive";

/// A blob's derivation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Derivation {
    pub sha256: String,
    pub status: DerivedStatus,
    pub kind: PreviewKind,
    pub reason: Option<String>,
    pub derived: Derived,
}

impl Derivation {
    pub fn state(&self) -> PreviewState {
        PreviewState {
            status: self.status,
            kind: self.kind,
            reason: self.reason.clone(),
            thumbnail: self.derived.thumbnail().map(|i| i.name.clone()),
        }
    }
}

/// The result of a derive job.
#[derive(Debug, Clone)]
pub struct DerivationResult {
    pub status: DerivedStatus,
    pub kind: PreviewKind,
    pub reason: Option<String>,
    pub text: Option<String>,
    pub derived: Derived,
}

fn kind_str(kind: PreviewKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn parse_kind(s: &str) -> Option<PreviewKind> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

pub(crate) fn to_derivation(row: derivation::Model) -> Result<Derivation> {
    let corrupt = |what: &str| Error::Corrupt(format!("derivation {}: {what}", row.sha256));
    Ok(Derivation {
        status: DerivedStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
        kind: parse_kind(&row.kind).ok_or_else(|| corrupt("kind"))?,
        derived: serde_json::from_str(&row.derived).map_err(|e| corrupt(&e.to_string()))?,
        reason: row.reason,
        sha256: row.sha256,
    })
}

/// Queues the derivation of those blobs (SHA-256 and preview kind) that have none, in `txn`.
pub(crate) async fn queue_derivations(
    txn: &impl ConnectionTrait,
    blobs: &[(String, PreviewKind)],
    now: chrono::DateTime<Utc>,
) -> Result<()> {
    for chunk in blobs.chunks(CHUNK) {
        let known: Vec<String> = derivation::Entity::find()
            .select_only()
            .column(derivation::Column::Sha256)
            .filter(derivation::Column::Sha256.is_in(chunk.iter().map(|b| b.0.clone())))
            .into_tuple()
            .all(txn)
            .await?;
        let chunk: Vec<&(String, PreviewKind)> = chunk.iter().filter(|b| !known.contains(&b.0)).collect();
        if chunk.is_empty() {
            continue;
        }
        let rows = chunk.iter().map(|(sha, kind)| derivation::ActiveModel {
            sha256: Set(sha.clone()),
            status: Set(DerivedStatus::Pending.as_str().to_owned()),
            kind: Set(kind_str(*kind)),
            reason: Set(None),
            thumbnail: Set(None),
            text: Set(None),
            derived: Set("{}".to_owned()),
            updated_at: Set(now),
        });
        derivation::Entity::insert_many(rows)
            .on_conflict(OnConflict::column(derivation::Column::Sha256).do_nothing().to_owned())
            .try_insert()
            .exec_without_returning(txn)
            .await?;
        let jobs = chunk.iter().map(|(sha, _)| new_job(DERIVE_JOB, sha, now));
        job::Entity::insert_many(jobs).on_conflict(on_conflict_keep()).try_insert().exec_without_returning(txn).await?;
    }
    Ok(())
}

/// sha256, status, kind, reason, thumbnail.
type StateRow = (String, String, String, Option<String>, Option<String>);

/// What lists and search documents show of each blob's derivation (no text, no description).
pub(crate) async fn states_of(conn: &impl ConnectionTrait, hashes: &[String]) -> Result<HashMap<String, PreviewState>> {
    let mut out = HashMap::new();
    for chunk in hashes.chunks(CHUNK) {
        let rows: Vec<StateRow> = derivation::Entity::find()
            .select_only()
            .columns([
                derivation::Column::Sha256,
                derivation::Column::Status,
                derivation::Column::Kind,
                derivation::Column::Reason,
                derivation::Column::Thumbnail,
            ])
            .filter(derivation::Column::Sha256.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        for (sha256, status, kind, reason, thumbnail) in rows {
            let corrupt = |what: &str| Error::Corrupt(format!("derivation {sha256}: {what}"));
            let state = PreviewState {
                status: DerivedStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
                kind: parse_kind(&kind).ok_or_else(|| corrupt("kind"))?,
                reason,
                thumbnail,
            };
            out.insert(sha256, state);
        }
    }
    Ok(out)
}

/// Removes a blob's derivation and its queued job (the blob itself is being forgotten).
pub(crate) async fn forget(txn: &impl ConnectionTrait, sha256: &str) -> Result<()> {
    derivation::Entity::delete_by_id(sha256.to_owned()).exec(txn).await?;
    job::Entity::delete_many()
        .filter(job::Column::Kind.eq(DERIVE_JOB))
        .filter(job::Column::Key.eq(sha256))
        .exec(txn)
        .await?;
    Ok(())
}

impl Db {
    /// The derivation of a blob, if one was queued.
    pub async fn derivation(&self, sha256: &str) -> Result<Option<Derivation>> {
        let row: Option<(String, String, String, Option<String>, String)> = derivation::Entity::find()
            .select_only()
            .columns([
                derivation::Column::Sha256,
                derivation::Column::Status,
                derivation::Column::Kind,
                derivation::Column::Reason,
                derivation::Column::Derived,
            ])
            .filter(derivation::Column::Sha256.eq(sha256))
            .into_tuple()
            .one(&self.conn)
            .await?;
        row.map(|(sha256, status, kind, reason, derived)| {
            to_derivation(derivation::Model {
                sha256,
                status,
                kind,
                reason,
                thumbnail: None,
                text: None,
                derived,
                updated_at: Utc::now(),
            })
        })
        .transpose()
    }

    /// The name and media type of a file with these bytes (the first one stored), which
    /// decide how the blob is derived.
    pub async fn blob_file(&self, sha256: &str) -> Result<Option<(String, String)>> {
        Ok(material_file::Entity::find()
            .select_only()
            .columns([material_file::Column::Name, material_file::Column::MediaType])
            .filter(material_file::Column::Sha256.eq(sha256))
            .order_by_asc(material_file::Column::CreatedAt)
            .into_tuple()
            .one(&self.conn)
            .await?)
    }

    /// Queues a derivation for every blob that has none (blobs stored before derivations
    /// existed). Returns how many were queued.
    pub async fn queue_missing_derivations(&self) -> Result<u64> {
        let mut queued = 0;
        let mut after: Option<String> = None;
        loop {
            let mut q = blob::Entity::find()
                .select_only()
                .column(blob::Column::Sha256)
                .order_by_asc(blob::Column::Sha256)
                .limit(CHUNK as u64);
            if let Some(a) = &after {
                q = q.filter(blob::Column::Sha256.gt(a.clone()));
            }
            let hashes: Vec<String> = q.into_tuple().all(&self.conn).await?;
            let Some(last) = hashes.last().cloned() else { break };
            after = Some(last);
            let known = states_of(&self.conn, &hashes).await?;
            let missing: Vec<String> = hashes.into_iter().filter(|h| !known.contains_key(h)).collect();
            if missing.is_empty() {
                continue;
            }
            let files: Vec<(String, String, String)> = material_file::Entity::find()
                .select_only()
                .columns([material_file::Column::Sha256, material_file::Column::MediaType, material_file::Column::Name])
                .filter(material_file::Column::Sha256.is_in(missing.iter().cloned()))
                .into_tuple()
                .all(&self.conn)
                .await?;
            let mut kinds: HashMap<String, PreviewKind> = HashMap::new();
            for (sha, media_type, name) in files {
                kinds.entry(sha).or_insert_with(|| PreviewKind::of(&media_type, &name));
            }
            let blobs: Vec<(String, PreviewKind)> =
                missing.into_iter().map(|h| (h.clone(), kinds.get(&h).copied().unwrap_or(PreviewKind::None))).collect();
            queued += blobs.len() as u64;
            let txn = self.conn.begin().await?;
            lock_change_sequence(&txn).await?;
            queue_derivations(&txn, &blobs, Utc::now()).await?;
            txn.commit().await?;
        }
        Ok(queued)
    }

    /// Queues a blob's derivation again (after installing a converter, say), whatever its state.
    pub async fn requeue_derivation(&self, sha256: &str) -> Result<bool> {
        let txn = self.conn.begin().await?;
        let found = derivation::Entity::update_many()
            .col_expr(derivation::Column::Status, Expr::value(DerivedStatus::Pending.as_str()))
            .col_expr(derivation::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(derivation::Column::Sha256.eq(sha256))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if found {
            job::Entity::insert(new_job(DERIVE_JOB, sha256, Utc::now()))
                .on_conflict(on_conflict_keep())
                .try_insert()
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(found)
    }

    /// Records the result of a derive job and removes the job, in one transaction, and
    /// appends a change for every material using the blob so the index picks up its text and
    /// thumbnail. Returns false (and writes nothing) when the job's lease was lost.
    pub async fn finish_derivation(&self, job: &Job, result: DerivationResult) -> Result<bool> {
        let now = Utc::now();
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;
        let removed = job::Entity::delete_many()
            .filter(job::Column::Id.eq(job.id))
            .filter(job::Column::Lease.eq(job.lease))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !removed {
            return Ok(false);
        }
        let row = derivation::ActiveModel {
            sha256: Set(job.key.clone()),
            status: Set(result.status.as_str().to_owned()),
            kind: Set(kind_str(result.kind)),
            reason: Set(result.reason),
            thumbnail: Set(result.derived.thumbnail().map(|i| i.name.clone())),
            text: Set(result.text),
            derived: Set(serde_json::to_string(&result.derived).expect("derived serialises")),
            updated_at: Set(now),
        };
        derivation::Entity::insert(row)
            .on_conflict(
                OnConflict::column(derivation::Column::Sha256)
                    .update_columns([
                        derivation::Column::Status,
                        derivation::Column::Kind,
                        derivation::Column::Reason,
                        derivation::Column::Thumbnail,
                        derivation::Column::Text,
                        derivation::Column::Derived,
                        derivation::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let materials: Vec<Uuid> = material_file::Entity::find()
            .select_only()
            .column(material_file::Column::MaterialId)
            .distinct()
            .filter(material_file::Column::Sha256.eq(&job.key))
            .into_tuple()
            .all(&txn)
            .await?;
        append_changes_for(&txn, &materials, now).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// The extracted text of each material's files (in file order, joined by blank lines),
    /// for the index. Materials without text are absent.
    pub async fn material_texts(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, String>> {
        let mut out: HashMap<Uuid, String> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let files: Vec<(Uuid, String, i32)> = material_file::Entity::find()
                .select_only()
                .columns([
                    material_file::Column::MaterialId,
                    material_file::Column::Sha256,
                    material_file::Column::Position,
                ])
                .filter(material_file::Column::MaterialId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.conn)
                .await?;
            if files.is_empty() {
                continue;
            }
            let mut hashes: Vec<String> = files.iter().map(|f| f.1.clone()).collect();
            hashes.sort();
            hashes.dedup();
            let mut texts: HashMap<String, String> = HashMap::new();
            for h in hashes.chunks(CHUNK) {
                let rows: Vec<(String, Option<String>)> = derivation::Entity::find()
                    .select_only()
                    .columns([derivation::Column::Sha256, derivation::Column::Text])
                    .filter(derivation::Column::Sha256.is_in(h.iter().cloned()))
                    .filter(derivation::Column::Text.is_not_null())
                    .into_tuple()
                    .all(&self.conn)
                    .await?;
                texts.extend(rows.into_iter().filter_map(|(s, t)| Some((s, t?))));
            }
            let mut files = files;
            files.sort_by_key(|f| (f.0, f.2));
            for (material, sha, _) in files {
                if let Some(t) = texts.get(&sha).filter(|t| !t.is_empty()) {
                    let entry = out.entry(material).or_default();
                    if !entry.is_empty() {
                        entry.push_str("\n\n");
                    }
                    entry.push_str(t);
                }
            }
        }
        Ok(out)
    }
}
