//! Resumable uploads in progress (the tus protocol's server state).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::upload;
use crate::{Db, Error, Result};

/// One stored piece of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPart {
    pub offset: u64,
    pub size: u64,
    pub key: String,
}

/// An upload as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: Uuid,
    pub length: u64,
    pub offset: u64,
    pub parts: Vec<UploadPart>,
    pub metadata_header: String,
    pub file_name: Option<String>,
    /// The material's metadata as import JSON, when given at creation.
    pub record: Option<String>,
    pub api_key_id: Option<Uuid>,
    /// How the material enters the workflow (the ingest crate's JSON), decided when the upload
    /// started, so a server that finishes it after a restart makes the same material.
    pub origin: Option<String>,
    pub material_id: Option<Uuid>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Upload {
    pub fn is_complete(&self) -> bool {
        self.offset == self.length
    }
}

/// What a new upload starts with.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub length: u64,
    pub metadata_header: String,
    pub file_name: Option<String>,
    pub record: Option<String>,
    pub api_key_id: Option<Uuid>,
    pub origin: Option<String>,
    pub expires_at: DateTime<Utc>,
}

fn to_upload(m: upload::Model) -> Result<Upload> {
    let parts = serde_json::from_str(&m.parts).map_err(|e| Error::Corrupt(format!("upload {} parts: {e}", m.id)))?;
    Ok(Upload {
        id: m.id,
        length: m.length.max(0) as u64,
        offset: m.offset.max(0) as u64,
        parts,
        metadata_header: m.metadata_header,
        file_name: m.file_name,
        record: m.record,
        api_key_id: m.api_key_id,
        origin: m.origin,
        material_id: m.material_id,
        error: m.error,
        created_at: m.created_at,
        updated_at: m.updated_at,
        expires_at: m.expires_at,
    })
}

impl Db {
    pub async fn create_upload(&self, new: NewUpload) -> Result<Upload> {
        let now = Utc::now();
        let model = upload::ActiveModel {
            id: Set(Uuid::now_v7()),
            length: Set(new.length as i64),
            offset: Set(0),
            parts: Set("[]".into()),
            metadata_header: Set(new.metadata_header),
            file_name: Set(new.file_name),
            record: Set(new.record),
            api_key_id: Set(new.api_key_id),
            origin: Set(new.origin),
            material_id: Set(None),
            error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            expires_at: Set(new.expires_at),
        };
        to_upload(upload::Entity::insert(model).exec_with_returning(&self.conn).await?)
    }

    pub async fn upload(&self, id: Uuid) -> Result<Option<Upload>> {
        upload::Entity::find_by_id(id).one(&self.conn).await?.map(to_upload).transpose()
    }

    /// Records a stored part if the upload is still at `expected_offset` (another request may
    /// have appended meanwhile); returns the upload after, or `None` when it moved on.
    pub async fn append_upload_part(
        &self,
        id: Uuid,
        expected_offset: u64,
        part: UploadPart,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Upload>> {
        let txn = self.conn.begin().await?;
        crate::sqlite_write_lock(&txn).await?;
        let Some(row) = upload::Entity::find_by_id(id).lock_exclusive().one(&txn).await? else {
            return Err(Error::NotFound(format!("upload {id}")));
        };
        let mut current = to_upload(row)?;
        if current.offset != expected_offset || expected_offset + part.size > current.length {
            return Ok(None);
        }
        current.offset += part.size;
        current.parts.push(part);
        current.expires_at = expires_at;
        upload::Entity::update_many()
            .col_expr(upload::Column::Offset, sea_orm::sea_query::Expr::value(current.offset as i64))
            .col_expr(
                upload::Column::Parts,
                sea_orm::sea_query::Expr::value(serde_json::to_string(&current.parts).expect("parts serialise")),
            )
            .col_expr(upload::Column::ExpiresAt, sea_orm::sea_query::Expr::value(expires_at))
            .col_expr(upload::Column::UpdatedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(upload::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(current))
    }

    /// Records how a complete upload ended: its material (its parts, now copied into the
    /// material's file and removed, are forgotten), or why none was made (parts kept for
    /// another try). The material itself records its upload when it commits
    /// ([`MaterialWrite::from_upload`](crate::MaterialWrite)).
    pub async fn finish_upload(&self, id: Uuid, material: Option<Uuid>, error: Option<String>) -> Result<()> {
        let mut update = upload::Entity::update_many()
            .col_expr(upload::Column::MaterialId, sea_orm::sea_query::Expr::value(material))
            .col_expr(upload::Column::Error, sea_orm::sea_query::Expr::value(error))
            .col_expr(upload::Column::UpdatedAt, sea_orm::sea_query::Expr::value(Utc::now()));
        if material.is_some() {
            update = update.col_expr(upload::Column::Parts, sea_orm::sea_query::Expr::value("[]"));
        }
        update.filter(upload::Column::Id.eq(id)).exec(&self.conn).await?;
        Ok(())
    }

    /// Complete uploads that know their material's metadata but have made no material and
    /// recorded no error, untouched since `idle_since`: their finishing was interrupted (a
    /// crash, a restart, an outage) and is to be resumed.
    pub async fn interrupted_uploads(&self, idle_since: DateTime<Utc>, limit: u64) -> Result<Vec<Upload>> {
        use sea_orm::ExprTrait;
        use sea_orm::sea_query::Expr;
        let rows = upload::Entity::find()
            .filter(Expr::col(upload::Column::Offset).eq(Expr::col(upload::Column::Length)))
            .filter(upload::Column::Record.is_not_null())
            .filter(upload::Column::MaterialId.is_null())
            .filter(upload::Column::Error.is_null())
            .filter(upload::Column::UpdatedAt.lt(idle_since))
            .filter(upload::Column::ExpiresAt.gt(Utc::now()))
            .limit(limit)
            .all(&self.conn)
            .await?;
        rows.into_iter().map(to_upload).collect()
    }

    /// Marks an upload as being finished now (so other servers leave it alone for a while).
    pub async fn touch_upload(&self, id: Uuid) -> Result<()> {
        upload::Entity::update_many()
            .col_expr(upload::Column::UpdatedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(upload::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Deletes an upload's row; the caller deletes its parts.
    pub async fn delete_upload(&self, id: Uuid) -> Result<bool> {
        Ok(upload::Entity::delete_by_id(id).exec(&self.conn).await?.rows_affected > 0)
    }

    /// Uploads whose expiry has passed.
    pub async fn expired_uploads(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<Upload>> {
        let rows =
            upload::Entity::find().filter(upload::Column::ExpiresAt.lt(now)).limit(limit).all(&self.conn).await?;
        rows.into_iter().map(to_upload).collect()
    }

    /// Keys of every part of every upload (for consistency checks).
    pub async fn upload_part_keys(&self) -> Result<Vec<String>> {
        let rows: Vec<String> =
            upload::Entity::find().select_only().column(upload::Column::Parts).into_tuple().all(&self.conn).await?;
        let mut keys = Vec::new();
        for r in rows {
            let parts: Vec<UploadPart> = serde_json::from_str(&r).unwrap_or_default();
            keys.extend(parts.into_iter().map(|p| p.key));
        }
        Ok(keys)
    }
}
