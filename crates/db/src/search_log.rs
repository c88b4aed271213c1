//! The search log: queries and result counts, for reports of what teachers cannot find.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, Func, Order};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::search_log;
use crate::{Db, Result};

/// One logged search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchLogEntry {
    pub at: DateTime<Utc>,
    pub query: String,
    pub filters: String,
    pub results: u64,
    pub corrected: Option<String>,
}

/// A query with how often it was searched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCount {
    /// The most recent spelling of the query.
    pub query: String,
    pub searches: u64,
    pub last_seen: DateTime<Utc>,
}

#[derive(FromQueryResult)]
struct Row {
    query_key: String,
    searches: i64,
    last_seen: DateTime<Utc>,
}

impl Db {
    /// Appends searches to the log.
    pub async fn log_searches(&self, entries: &[SearchLogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = entries.iter().map(|e| search_log::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            created_at: Set(e.at),
            query: Set(e.query.clone()),
            query_key: Set(hoclieu_domain::text::fold_text(&e.query)),
            filters: Set(e.filters.clone()),
            results: Set(e.results as i64),
            corrected: Set(e.corrected.clone()),
        });
        for chunk in rows.collect::<Vec<_>>().chunks(200) {
            search_log::Entity::insert_many(chunk.to_vec()).exec_without_returning(&self.conn).await?;
        }
        Ok(())
    }

    /// The most frequent queries since `since`: those that found nothing when `zero_results`,
    /// all of them otherwise. Spellings that fold alike count as one query.
    pub async fn frequent_queries(
        &self,
        since: DateTime<Utc>,
        zero_results: bool,
        limit: u64,
    ) -> Result<Vec<QueryCount>> {
        let mut q = search_log::Entity::find()
            .select_only()
            .column(search_log::Column::QueryKey)
            .column_as(Expr::from(Func::count(Expr::col(search_log::Column::Id))), "searches")
            .column_as(Expr::from(Func::max(Expr::col(search_log::Column::CreatedAt))), "last_seen")
            .filter(search_log::Column::CreatedAt.gte(since))
            .group_by(search_log::Column::QueryKey)
            .order_by(Expr::col(Alias::new("searches")), Order::Desc)
            .order_by(search_log::Column::QueryKey, Order::Asc)
            .limit(limit);
        if zero_results {
            q = q.filter(search_log::Column::Results.eq(0));
        }
        let rows: Vec<Row> = q.into_model().all(&self.conn).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let latest = search_log::Entity::find()
                .filter(search_log::Column::QueryKey.eq(&r.query_key))
                .order_by_desc(search_log::Column::CreatedAt)
                .order_by_desc(search_log::Column::Id)
                .one(&self.conn)
                .await?;
            out.push(QueryCount {
                query: latest.map_or(r.query_key, |l| l.query),
                searches: r.searches.max(0) as u64,
                last_seen: r.last_seen,
            });
        }
        Ok(out)
    }

    /// Deletes log entries older than `before`; returns how many.
    pub async fn prune_search_log(&self, before: DateTime<Utc>) -> Result<u64> {
        let r =
            search_log::Entity::delete_many().filter(search_log::Column::CreatedAt.lt(before)).exec(&self.conn).await?;
        Ok(r.rows_affected)
    }
}
