//! Versions of published materials: an edit of a published material is a proposed version that
//! goes through review while the published one stays visible; approving it makes it the
//! published metadata and keeps the one it replaces.

use chrono::{DateTime, Utc};
use hoclieu_domain::{MaterialMeta, Status, Step};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use uuid::Uuid;

use crate::entity::{material, material_version};
use crate::materials::{append_changes_for, meta_of};
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn to_version(m: material_version::Model) -> Result<Version> {
    Ok(Version {
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
        rows.into_iter().map(to_version).collect()
    }

    pub async fn version(&self, material_id: Uuid, number: u32) -> Result<Option<Version>> {
        material_version::Entity::find()
            .filter(material_version::Column::MaterialId.eq(material_id))
            .filter(material_version::Column::Number.eq(number as i32))
            .one(&self.conn)
            .await?
            .map(to_version)
            .transpose()
    }

    /// Proposes new metadata for a published material: updates the open proposal (a draft or a
    /// rejected one, which becomes a draft again) or starts one. Refused while one is in review.
    pub async fn propose_version(&self, material_id: Uuid, meta: &MaterialMeta, actor: &Actor) -> Result<Version> {
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
                })
                .exec_without_returning(&txn)
                .await?;
                id
            }
        };
        let details = serde_json::json!({"title": meta.title});
        append_audit(&txn, actor, "material.propose_version", ("material", Some(material_id.to_string())), details)
            .await?;
        txn.commit().await?;
        let row = material_version::Entity::find_by_id(id).one(&self.conn).await?;
        to_version(row.ok_or_else(|| Error::NotFound(format!("version {id}")))?)
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
                material_version::Entity::insert(material_version::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    material_id: Set(material_id),
                    number: Set(current.version),
                    status: Set(PREVIOUS.into()),
                    meta: Set(meta),
                    reason: Set(None),
                    author_id: Set(current.author_id),
                    created_at: Set(current.created_at),
                    updated_at: Set(now),
                })
                .exec_without_returning(&txn)
                .await?;
            }
            let meta: MaterialMeta =
                serde_json::from_str(&v.meta).map_err(|e| Error::Corrupt(format!("version {}: {e}", v.id)))?;
            let json = |l: &[String]| serde_json::to_string(l).expect("a list of strings serialises");
            material::Entity::update(material::ActiveModel {
                id: Set(material_id),
                title: Set(meta.title.clone()),
                description: Set(meta.description.clone()),
                subject: Set(meta.subject.clone()),
                grade: Set(meta.grade.map(i16::from)),
                series: Set(meta.series.clone()),
                resource_type: Set(meta.resource_type.clone()),
                chapter: Set(meta.chapter.clone()),
                lesson: Set(meta.lesson.clone()),
                keywords: Set(json(&meta.keywords)),
                authors: Set(json(&meta.authors)),
                organization: Set(meta.organization.clone()),
                province: Set(meta.province.clone()),
                license: Set(meta.license.clone()),
                language: Set(meta.language.clone()),
                url: Set(meta.url.clone()),
                version: Set(v.number),
                updated_at: Set(now),
                ..Default::default()
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
