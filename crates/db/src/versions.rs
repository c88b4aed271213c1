//! Versions of published materials: an edit of a published material (its metadata, its files or
//! both) is a proposed version that goes through review while the published one stays visible;
//! approving it makes it the published material and keeps the one it replaces, files included.
//! Files are immutable: a version replaces the set of files, never the bytes of one.

use chrono::{DateTime, Utc};
use hoclieu_domain::{MaterialMeta, Status, Step};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
use uuid::Uuid;

use std::collections::HashMap;

use hoclieu_domain::StoredFile;
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::entity::{blob, material, material_file, material_version, version_file};
use crate::materials::{NewFile, append_changes_for, meta_columns, meta_of, register_blobs};
use crate::workflow::{Actor, append_audit};
use crate::{Db, Error, Result, lock_change_sequence};

/// Status of a version row that was published and has been replaced by a newer one.
pub const PREVIOUS: &str = "previous";

/// A version of a material.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Version {
    pub id: Uuid,
    pub material_id: Uuid,
    pub number: u32,
    /// `draft`, `submitted`, `rejected` (proposed), `published` (current) or `previous`.
    pub status: String,
    pub meta: MaterialMeta,
    pub reason: Option<String>,
    pub author: Option<Uuid>,
    pub files: Vec<VersionFile>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A file of a version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionFile {
    pub id: Uuid,
    pub name: String,
    pub media_type: String,
    pub sha256: String,
    pub size: u64,
}

fn to_version(m: material_version::Model, files: &mut HashMap<Uuid, Vec<VersionFile>>) -> Result<Version> {
    Ok(Version {
        files: files.remove(&m.id).unwrap_or_default(),
        meta: serde_json::from_str(&m.meta).map_err(|e| Error::Corrupt(format!("version {}: {e}", m.id)))?,
        id: m.id,
        material_id: m.material_id,
        number: u32::try_from(m.number).unwrap_or(0),
        status: m.status,
        reason: m.reason,
        author: m.author_id,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn is_open(status: &str) -> bool {
    matches!(status, "draft" | "submitted" | "rejected")
}

impl Db {
    /// Every version of a material, oldest first (the published one and earlier ones included
    /// once an edit has been approved; proposed ones while under review).
    pub async fn versions(&self, material_id: Uuid) -> Result<Vec<Version>> {
        let rows = material_version::Entity::find()
            .filter(material_version::Column::MaterialId.eq(material_id))
            .order_by_asc(material_version::Column::Number)
            .all(&self.conn)
            .await?;
        let mut files = files_of_versions(&self.conn, rows.iter().map(|r| r.id).collect()).await?;
        rows.into_iter().map(|r| to_version(r, &mut files)).collect()
    }

    pub async fn version(&self, material_id: Uuid, number: u32) -> Result<Option<Version>> {
        let Some(row) = material_version::Entity::find()
            .filter(material_version::Column::MaterialId.eq(material_id))
            .filter(material_version::Column::Number.eq(number as i32))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let mut files = files_of_versions(&self.conn, vec![row.id]).await?;
        to_version(row, &mut files).map(Some)
    }

    /// Proposed versions in `status` (oldest change first), with their materials, optionally
    /// of one subject or province (of the published material).
    pub async fn versions_in_status(
        &self,
        status: &str,
        subject: Option<&str>,
        province: Option<&str>,
        limit: u64,
    ) -> Result<Vec<(hoclieu_domain::Material, Version)>> {
        let rows = material_version::Entity::find()
            .filter(material_version::Column::Status.eq(status))
            .order_by_asc(material_version::Column::UpdatedAt)
            .limit(limit)
            .all(&self.conn)
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.material_id).collect();
        let materials: HashMap<Uuid, hoclieu_domain::Material> =
            self.materials(&ids).await?.into_iter().map(|m| (m.id, m)).collect();
        let mut files = files_of_versions(&self.conn, rows.iter().map(|r| r.id).collect()).await?;
        let mut out = Vec::new();
        for r in rows {
            let Some(m) = materials.get(&r.material_id) else { continue };
            if subject.is_some_and(|s| s != m.meta.subject)
                || province.is_some_and(|p| Some(p) != m.meta.province.as_deref())
            {
                continue;
            }
            out.push((m.clone(), to_version(r, &mut files)?));
        }
        Ok(out)
    }

    /// A file of a version, with its object key.
    pub async fn version_file(&self, material_id: Uuid, number: u32, file_id: Uuid) -> Result<Option<StoredFile>> {
        let Some(v) = self.version(material_id, number).await? else { return Ok(None) };
        let Some(f) = v.files.into_iter().find(|f| f.id == file_id) else { return Ok(None) };
        let b = blob::Entity::find_by_id(f.sha256.clone())
            .one(&self.conn)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("file {} has no blob {}", f.id, f.sha256)))?;
        Ok(Some(StoredFile {
            id: f.id,
            name: f.name,
            size: f.size,
            media_type: f.media_type,
            sha256: f.sha256,
            object_key: b.object_key,
            preview: None,
        }))
    }

    /// Proposes a new version of a published material: new metadata and, when `files` is given,
    /// a new set of files (already durable in storage; otherwise the files stay as they are).
    /// Updates the open proposal (a draft, or a rejected one, which becomes a draft again) or
    /// starts one. Refused while one is in review. Returns the version and the objects made
    /// redundant by identical stored bytes.
    pub async fn propose_version(
        &self,
        material_id: Uuid,
        meta: &MaterialMeta,
        files: Option<&[NewFile]>,
        actor: &Actor,
    ) -> Result<(Version, Vec<String>)> {
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;
        let Some(current) = material::Entity::find_by_id(material_id).one(&txn).await? else {
            return Err(Error::NotFound(format!("material {material_id}")));
        };
        let all = material_version::Entity::find()
            .filter(material_version::Column::MaterialId.eq(material_id))
            .order_by_asc(material_version::Column::Number)
            .all(&txn)
            .await?;
        let now = Utc::now();
        let redundant = match files {
            Some(f) => register_blobs(&txn, f, now).await?,
            None => Vec::new(),
        };
        let meta_json = serde_json::to_string(meta).expect("metadata serialises");
        let id = match all.iter().find(|v| is_open(&v.status)) {
            Some(open) if open.status == "submitted" => {
                return Err(Error::InvalidState("a proposed version is in review: wait for its decision".into()));
            }
            Some(open) => {
                material_version::Entity::update_many()
                    .col_expr(material_version::Column::Meta, Expr::value(meta_json))
                    .col_expr(material_version::Column::Status, Expr::value("draft"))
                    .col_expr(material_version::Column::UpdatedAt, Expr::value(now))
                    .filter(material_version::Column::Id.eq(open.id))
                    .exec(&txn)
                    .await?;
                if let Some(f) = files {
                    set_version_files(&txn, material_id, open.id, f, now).await?;
                    material_version::Entity::update_many()
                        .col_expr(material_version::Column::FilesChanged, Expr::value(true))
                        .filter(material_version::Column::Id.eq(open.id))
                        .exec(&txn)
                        .await?;
                }
                open.id
            }
            None => {
                let number = all.iter().map(|v| v.number).max().unwrap_or(current.version).max(current.version) + 1;
                let id = Uuid::now_v7();
                material_version::Entity::insert(material_version::ActiveModel {
                    id: Set(id),
                    material_id: Set(material_id),
                    number: Set(number),
                    status: Set("draft".into()),
                    meta: Set(meta_json),
                    reason: Set(None),
                    author_id: Set(actor.id.filter(|_| actor.kind == "user")),
                    created_at: Set(now),
                    updated_at: Set(now),
                    files_changed: Set(files.is_some()),
                })
                .exec_without_returning(&txn)
                .await?;
                match files {
                    Some(f) => set_version_files(&txn, material_id, id, f, now).await?,
                    None => copy_current_files(&txn, material_id, id).await?,
                }
                id
            }
        };
        let details = serde_json::json!({"title": meta.title, "files": files.map(<[NewFile]>::len)});
        append_audit(&txn, actor, "material.propose_version", ("material", Some(material_id.to_string())), details)
            .await?;
        txn.commit().await?;
        let row = material_version::Entity::find_by_id(id)
            .one(&self.conn)
            .await?
            .ok_or_else(|| Error::NotFound(format!("version {id}")))?;
        let mut files = files_of_versions(&self.conn, vec![id]).await?;
        Ok((to_version(row, &mut files)?, redundant))
    }

    /// Takes a workflow step on a proposed version. Approving it publishes its metadata (with a
    /// change for the index) and keeps the replaced metadata as the previous version.
    pub async fn take_version_step(
        &self,
        material_id: Uuid,
        number: u32,
        step: Step,
        reason: Option<&str>,
        actor: &Actor,
    ) -> Result<Option<Version>> {
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;
        let Some(v) = material_version::Entity::find()
            .filter(material_version::Column::MaterialId.eq(material_id))
            .filter(material_version::Column::Number.eq(number as i32))
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        let from = Status::parse(&v.status).filter(|_| is_open(&v.status));
        let to = from.and_then(|f| step.apply(f)).filter(|_| step != Step::Withdraw);
        let Some(to) = to else {
            return Err(Error::InvalidState(format!(
                "a {} version cannot take the step {:?}",
                v.status,
                step.as_str()
            )));
        };
        let now = Utc::now();
        let reason = reason.map(str::to_owned).filter(|_| step.needs_reason());
        if to == Status::Published {
            let current = material::Entity::find_by_id(material_id)
                .one(&txn)
                .await?
                .ok_or_else(|| Error::NotFound(format!("material {material_id}")))?;
            // Keep what is being replaced: the published row becomes previous, or (first edit)
            // a snapshot of the material's current metadata is recorded.
            let demoted = material_version::Entity::update_many()
                .col_expr(material_version::Column::Status, Expr::value(PREVIOUS))
                .filter(material_version::Column::MaterialId.eq(material_id))
                .filter(material_version::Column::Status.eq("published"))
                .exec(&txn)
                .await?
                .rows_affected;
            if demoted == 0 {
                let meta = serde_json::to_string(&meta_of(&current)?).expect("metadata serialises");
                let snapshot = Uuid::now_v7();
                material_version::Entity::insert(material_version::ActiveModel {
                    id: Set(snapshot),
                    material_id: Set(material_id),
                    number: Set(current.version),
                    status: Set(PREVIOUS.into()),
                    meta: Set(meta),
                    reason: Set(None),
                    author_id: Set(current.author_id),
                    created_at: Set(current.created_at),
                    updated_at: Set(now),
                    files_changed: Set(false),
                })
                .exec_without_returning(&txn)
                .await?;
                copy_current_files(&txn, material_id, snapshot).await?;
            }
            if v.files_changed {
                publish_version_files(&txn, material_id, v.id).await?;
            } else {
                // Metadata only: the version carries the material's files as they are now (an
                // import may have changed them since the proposal).
                version_file::Entity::delete_many().filter(version_file::Column::VersionId.eq(v.id)).exec(&txn).await?;
                copy_current_files(&txn, material_id, v.id).await?;
            }
            let meta: MaterialMeta =
                serde_json::from_str(&v.meta).map_err(|e| Error::Corrupt(format!("version {}: {e}", v.id)))?;
            material::Entity::update(material::ActiveModel {
                version: Set(v.number),
                ..meta_columns(material_id, &meta, now)
            })
            .exec(&txn)
            .await?;
            append_changes_for(&txn, &[material_id], now).await?;
        }
        material_version::Entity::update_many()
            .col_expr(material_version::Column::Status, Expr::value(to.as_str()))
            .col_expr(material_version::Column::Reason, Expr::value(reason.clone()))
            .col_expr(material_version::Column::UpdatedAt, Expr::value(now))
            .filter(material_version::Column::Id.eq(v.id))
            .exec(&txn)
            .await?;
        let details = serde_json::json!({"version": number, "from": v.status, "to": to.as_str(), "reason": reason});
        append_audit(
            &txn,
            actor,
            &format!("material.version_{}", step.as_str()),
            ("material", Some(material_id.to_string())),
            details,
        )
        .await?;
        txn.commit().await?;
        self.version(material_id, number).await
    }
}

/// The files of versions, in order, with their sizes.
async fn files_of_versions(conn: &impl ConnectionTrait, ids: Vec<Uuid>) -> Result<HashMap<Uuid, Vec<VersionFile>>> {
    let rows = version_file::Entity::find()
        .filter(version_file::Column::VersionId.is_in(ids))
        .order_by_asc(version_file::Column::Position)
        .all(conn)
        .await?;
    let mut hashes: Vec<String> = rows.iter().map(|r| r.sha256.clone()).collect();
    hashes.sort();
    hashes.dedup();
    let mut sizes = HashMap::new();
    for chunk in hashes.chunks(crate::CHUNK) {
        for b in blob::Entity::find().filter(blob::Column::Sha256.is_in(chunk.iter().cloned())).all(conn).await? {
            sizes.insert(b.sha256, b.size as u64);
        }
    }
    let mut out: HashMap<Uuid, Vec<VersionFile>> = HashMap::new();
    for r in rows {
        let size = *sizes.get(&r.sha256).ok_or_else(|| Error::Corrupt(format!("file {} has no blob", r.file_id)))?;
        out.entry(r.version_id).or_default().push(VersionFile {
            id: r.file_id,
            name: r.name,
            media_type: r.media_type,
            sha256: r.sha256,
            size,
        });
    }
    Ok(out)
}

/// Gives a version a new set of files. A file sent again unchanged (same name and bytes) keeps
/// its id, so links to it stay valid once the version is published.
async fn set_version_files(
    txn: &DatabaseTransaction,
    material_id: Uuid,
    version: Uuid,
    files: &[NewFile],
    now: DateTime<Utc>,
) -> Result<()> {
    version_file::Entity::delete_many().filter(version_file::Column::VersionId.eq(version)).exec(txn).await?;
    let mut current: Vec<material_file::Model> =
        material_file::Entity::find().filter(material_file::Column::MaterialId.eq(material_id)).all(txn).await?;
    let ids: Vec<Uuid> = files
        .iter()
        .map(|f| match current.iter().position(|c| c.name == f.name && c.sha256 == f.sha256) {
            Some(i) => current.swap_remove(i).id,
            None => Uuid::now_v7(),
        })
        .collect();
    let rows = files.iter().zip(ids).enumerate().map(|(i, (f, id))| version_file::ActiveModel {
        version_id: Set(version),
        file_id: Set(id),
        position: Set(i as i32),
        name: Set(f.name.clone()),
        media_type: Set(f.media_type.clone()),
        sha256: Set(f.sha256.clone()),
        created_at: Set(now),
    });
    if !files.is_empty() {
        version_file::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// Records the material's current files (same ids) as the files of a version.
async fn copy_current_files(txn: &DatabaseTransaction, material_id: Uuid, version: Uuid) -> Result<()> {
    let current = material_file::Entity::find()
        .filter(material_file::Column::MaterialId.eq(material_id))
        .order_by_asc(material_file::Column::Position)
        .all(txn)
        .await?;
    if current.is_empty() {
        return Ok(());
    }
    let rows = current.into_iter().map(|f| version_file::ActiveModel {
        version_id: Set(version),
        file_id: Set(f.id),
        position: Set(f.position),
        name: Set(f.name),
        media_type: Set(f.media_type),
        sha256: Set(f.sha256),
        created_at: Set(f.created_at),
    });
    version_file::Entity::insert_many(rows).exec_without_returning(txn).await?;
    Ok(())
}

/// Makes a version's files the material's files (keeping their ids).
async fn publish_version_files(txn: &DatabaseTransaction, material_id: Uuid, version: Uuid) -> Result<()> {
    let files = version_file::Entity::find()
        .filter(version_file::Column::VersionId.eq(version))
        .order_by_asc(version_file::Column::Position)
        .all(txn)
        .await?;
    material_file::Entity::delete_many().filter(material_file::Column::MaterialId.eq(material_id)).exec(txn).await?;
    if files.is_empty() {
        return Ok(());
    }
    let rows = files.into_iter().map(|f| material_file::ActiveModel {
        id: Set(f.file_id),
        material_id: Set(material_id),
        position: Set(f.position),
        name: Set(f.name),
        media_type: Set(f.media_type),
        sha256: Set(f.sha256),
        created_at: Set(f.created_at),
    });
    material_file::Entity::insert_many(rows).exec_without_returning(txn).await?;
    Ok(())
}
