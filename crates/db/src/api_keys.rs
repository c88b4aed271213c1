//! API keys for LMS systems and scripts: random tokens, stored as SHA-256, shown once.

use chrono::{DateTime, Duration, Utc};
use hoclieu_domain::Scope;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entity::api_key;
use crate::{Db, Error, Result};

/// Prefix of every token, so leaked tokens are easy to recognise in logs and by scanners.
pub const TOKEN_PREFIX: &str = "hl_";

/// An API key as listed (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub organization: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn to_key(m: api_key::Model) -> Result<ApiKey> {
    let scopes = m
        .scopes
        .split_whitespace()
        .map(|s| Scope::parse(s).ok_or_else(|| Error::Corrupt(format!("api key {} has scope {s:?}", m.id))))
        .collect::<Result<_>>()?;
    Ok(ApiKey {
        id: m.id,
        name: m.name,
        prefix: m.prefix,
        scopes,
        organization: m.organization,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
    })
}

impl Db {
    /// Creates a key; returns it and its token (the only time the token is available).
    pub async fn create_api_key(
        &self,
        name: &str,
        scopes: &[Scope],
        organization: Option<&str>,
    ) -> Result<(ApiKey, String)> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| Error::Corrupt(format!("no randomness available: {e}")))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(random));
        let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        names.sort();
        names.dedup();
        let model = api_key::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.to_owned()),
            prefix: Set(token[..TOKEN_PREFIX.len() + 8].to_owned()),
            token_hash: Set(hash(&token)),
            scopes: Set(names.join(" ")),
            organization: Set(organization.map(str::to_owned)),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
        };
        let stored = api_key::Entity::insert(model).exec_with_returning(&self.conn).await?;
        Ok((to_key(stored)?, token))
    }

    /// The live (not revoked) key with this token. Records the use, at most once a minute.
    pub async fn authenticate(&self, token: &str) -> Result<Option<ApiKey>> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let found = api_key::Entity::find().filter(api_key::Column::TokenHash.eq(hash(token))).one(&self.conn).await?;
        let Some(model) = found.filter(|m| m.revoked_at.is_none()) else {
            return Ok(None);
        };
        let now = Utc::now();
        if model.last_used_at.is_none_or(|t| now - t > Duration::minutes(1)) {
            api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAt, sea_orm::sea_query::Expr::value(now))
                .filter(api_key::Column::Id.eq(model.id))
                .exec(&self.conn)
                .await?;
        }
        to_key(model).map(Some)
    }

    /// Every key, newest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = api_key::Entity::find().order_by_desc(api_key::Column::CreatedAt).all(&self.conn).await?;
        rows.into_iter().map(to_key).collect()
    }

    /// Revokes a key by id; returns whether a live key was revoked.
    pub async fn revoke_api_key(&self, id: Uuid) -> Result<bool> {
        let result = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, sea_orm::sea_query::Expr::value(Utc::now()))
            .filter(api_key::Column::Id.eq(id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected > 0)
    }
}
