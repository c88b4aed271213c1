//! Workflow transitions and the audit log: a material's status changes in one transaction with
//! its change-sequence entry (so the index follows) and its audit record.

use chrono::{DateTime, Utc};
use hoclieu_domain::{Material, Status, Step};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use crate::entity::{audit, material};
use crate::materials::append_changes_for;
use crate::{Db, Error, Result, lock_change_sequence};

/// Who did something, from where, for the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// "user", "api_key", "cli" or "anonymous".
    pub kind: String,
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub ip: Option<String>,
}

impl Actor {
    pub fn cli() -> Actor {
        let user = std::env::var("USER").ok();
        Actor { kind: "cli".into(), id: None, name: user, ip: None }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub details: serde_json::Value,
    pub ip: Option<String>,
}

pub(crate) async fn append_audit(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    action: &str,
    target: (&str, Option<String>),
    details: serde_json::Value,
) -> Result<()> {
    audit::Entity::insert(audit::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        at: Set(Utc::now()),
        actor_kind: Set(actor.kind.clone()),
        actor_id: Set(actor.id),
        actor_name: Set(actor.name.clone()),
        action: Set(action.to_owned()),
        target_kind: Set(target.0.to_owned()),
        target_id: Set(target.1),
        details: Set(details.to_string()),
        ip: Set(actor.ip.clone()),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

impl Db {
    /// Records an action in the audit log.
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: (&str, Option<String>),
        details: serde_json::Value,
    ) -> Result<()> {
        append_audit(&self.conn, actor, action, target, details).await
    }

    /// Audit records after `after` (by id), oldest first, at most `limit`.
    pub async fn audit_entries(&self, after: i64, limit: u64) -> Result<Vec<AuditEntry>> {
        let rows = audit::Entity::find()
            .filter(audit::Column::Id.gt(after))
            .order_by_asc(audit::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
                id: r.id,
                at: r.at,
                actor_kind: r.actor_kind,
                actor_id: r.actor_id,
                actor_name: r.actor_name,
                action: r.action,
                target_kind: r.target_kind,
                target_id: r.target_id,
                ip: r.ip,
            })
            .collect())
    }

    /// Takes a workflow step: checks it applies to the stored status, records the new status
    /// (and the reason, for rejections and withdrawals), a change for the index and an audit
    /// record, in one transaction. `None` when the material does not exist.
    pub async fn take_step(
        &self,
        id: Uuid,
        step: Step,
        reason: Option<&str>,
        actor: &Actor,
    ) -> Result<Option<Material>> {
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;
        let Some(row) = material::Entity::find_by_id(id).one(&txn).await? else { return Ok(None) };
        let from = Status::parse(&row.status).ok_or_else(|| Error::Corrupt(format!("material {id} status")))?;
        let Some(to) = step.apply(from) else {
            return Err(Error::InvalidState(format!(
                "a {} material cannot take the step {:?}",
                from.as_str(),
                step.as_str()
            )));
        };
        let reason = reason.map(str::to_owned).filter(|_| step.needs_reason());
        let now = Utc::now();
        material::Entity::update_many()
            .col_expr(material::Column::Status, sea_orm::sea_query::Expr::value(to.as_str()))
            .col_expr(material::Column::StatusReason, sea_orm::sea_query::Expr::value(reason.clone()))
            .col_expr(material::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
            .filter(material::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        append_changes_for(&txn, &[id], now).await?;
        let details =
            serde_json::json!({"from": from.as_str(), "to": to.as_str(), "reason": reason, "title": row.title});
        append_audit(&txn, actor, &format!("material.{}", step.as_str()), ("material", Some(id.to_string())), details)
            .await?;
        txn.commit().await?;
        self.material(id).await
    }

    /// Edits a material in place (drafts and rejected materials): its metadata and, when `files`
    /// is given, its set of files (already durable in storage), with a change for the index and
    /// an audit record. The external id cannot change. Returns the material (`None` when it does
    /// not exist) and the objects made redundant by identical stored bytes.
    pub async fn update_metadata(
        &self,
        id: Uuid,
        meta: &hoclieu_domain::MaterialMeta,
        files: Option<&[crate::NewFile]>,
        actor: &Actor,
    ) -> Result<(Option<Material>, Vec<String>)> {
        let txn = self.conn.begin().await?;
        lock_change_sequence(&txn).await?;
        let Some(row) = material::Entity::find_by_id(id).one(&txn).await? else { return Ok((None, Vec::new())) };
        if meta.external_id.is_some() && meta.external_id != row.external_id {
            return Err(Error::Conflict("the external id of a material cannot change".into()));
        }
        let now = Utc::now();
        let mut redundant = Vec::new();
        if let Some(files) = files {
            redundant = crate::materials::register_blobs(&txn, files, now).await?;
            crate::materials::replace_files(&txn, id, files, now).await?;
        }
        let model = crate::materials::meta_columns(id, meta, now);
        material::Entity::update(model).exec(&txn).await?;
        append_changes_for(&txn, &[id], now).await?;
        let details =
            serde_json::json!({"before": row.title, "after": meta.title, "files": files.map(<[crate::NewFile]>::len)});
        append_audit(&txn, actor, "material.edit", ("material", Some(id.to_string())), details).await?;
        txn.commit().await?;
        Ok((self.material(id).await?, redundant))
    }

    /// Materials in `status`, oldest first (the review queue), optionally of one subject or
    /// province.
    pub async fn materials_in_status(
        &self,
        status: Status,
        subject: Option<&str>,
        province: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Material>> {
        let mut q = material::Entity::find()
            .select_only()
            .column(material::Column::Id)
            .filter(material::Column::Status.eq(status.as_str()))
            .order_by_asc(material::Column::UpdatedAt)
            .limit(limit);
        if let Some(s) = subject {
            q = q.filter(material::Column::Subject.eq(s));
        }
        if let Some(p) = province {
            q = q.filter(material::Column::Province.eq(p));
        }
        let ids: Vec<Uuid> = q.into_tuple().all(&self.conn).await?;
        self.materials_in_order(&ids).await
    }

    /// Materials an account created, newest first.
    pub async fn materials_by_author(&self, author: Uuid, offset: u64, limit: u64) -> Result<Vec<Material>> {
        let ids: Vec<Uuid> = material::Entity::find()
            .select_only()
            .column(material::Column::Id)
            .filter(material::Column::AuthorId.eq(author))
            .order_by_desc(material::Column::CreatedAt)
            .order_by_desc(material::Column::Id)
            .offset(offset)
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await?;
        self.materials_in_order(&ids).await
    }

    async fn materials_in_order(&self, ids: &[Uuid]) -> Result<Vec<Material>> {
        let mut found: std::collections::HashMap<Uuid, Material> =
            self.materials(ids).await?.into_iter().map(|m| (m.id, m)).collect();
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }
}
