//! A durable job queue on the database (SQLite or PostgreSQL, no extension needed).
//!
//! At-least-once: a worker claims a job with a lease (a fresh id and an expiry); finishing or
//! retrying checks that the lease is still the worker's. A worker that crashes or hangs loses
//! its lease when it expires, and the job runs again. Claims are compare-and-set updates on the
//! lease column, so two workers never hold one job at the same time.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::entity::job;
use crate::{Db, Result};

/// A claimed job. `attempts` counts this one, including earlier claims whose worker died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub attempts: u32,
    pub lease: Uuid,
    /// Why the previous attempt failed, when it said.
    pub last_error: Option<String>,
}

/// How many jobs wait and run, for health pages and the CLI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub waiting: u64,
    pub running: u64,
}

pub(crate) fn new_job(kind: &str, key: &str, now: chrono::DateTime<Utc>) -> job::ActiveModel {
    job::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        kind: Set(kind.to_owned()),
        key: Set(key.to_owned()),
        attempts: Set(0),
        run_after: Set(now),
        lease: Set(None),
        leased_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
    }
}

pub(crate) fn on_conflict_keep() -> OnConflict {
    OnConflict::columns([job::Column::Kind, job::Column::Key]).do_nothing().to_owned()
}

impl Db {
    /// Queues a job unless one with this kind and key is already waiting or running.
    pub async fn enqueue_job(&self, kind: &str, key: &str) -> Result<()> {
        job::Entity::insert(new_job(kind, key, Utc::now()))
            .on_conflict(on_conflict_keep())
            .try_insert()
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    /// Takes the oldest job that is due, holding it for `lease_for`. `None` when nothing is due.
    pub async fn claim_job(&self, lease_for: Duration) -> Result<Option<Job>> {
        // A lost race (another worker took the candidate) moves on to the next candidate.
        for _ in 0..8 {
            let now = Utc::now();
            let candidate = job::Entity::find()
                .filter(job::Column::RunAfter.lte(now))
                .filter(Condition::any().add(job::Column::LeasedUntil.is_null()).add(job::Column::LeasedUntil.lt(now)))
                .order_by_asc(job::Column::RunAfter)
                .order_by_asc(job::Column::Id)
                .one(&self.conn)
                .await?;
            let Some(c) = candidate else { return Ok(None) };
            let lease = Uuid::new_v4();
            let until = now + chrono::Duration::from_std(lease_for).unwrap_or(chrono::Duration::hours(1));
            let held = match c.lease {
                Some(old) => job::Column::Lease.eq(old),
                None => job::Column::Lease.is_null(),
            };
            let claimed = job::Entity::update_many()
                .col_expr(job::Column::Lease, Expr::value(lease))
                .col_expr(job::Column::LeasedUntil, Expr::value(until))
                .col_expr(job::Column::Attempts, Expr::value(c.attempts + 1))
                .filter(job::Column::Id.eq(c.id))
                .filter(held)
                .exec(&self.conn)
                .await?
                .rows_affected
                == 1;
            if claimed {
                return Ok(Some(Job {
                    id: c.id,
                    kind: c.kind,
                    key: c.key,
                    attempts: u32::try_from(c.attempts + 1).unwrap_or(u32::MAX),
                    lease,
                    last_error: c.last_error,
                }));
            }
        }
        Ok(None)
    }

    /// Extends a running job's lease to `lease_for` from now. Returns false when the lease was
    /// lost (it expired and another worker claimed the job).
    pub async fn renew_job(&self, job: &Job, lease_for: Duration) -> Result<bool> {
        let until = Utc::now() + chrono::Duration::from_std(lease_for).unwrap_or(chrono::Duration::hours(1));
        let res = job::Entity::update_many()
            .col_expr(job::Column::LeasedUntil, Expr::value(until))
            .filter(job::Column::Id.eq(job.id))
            .filter(job::Column::Lease.eq(job.lease))
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Puts a claimed job back to run again after `after`, recording why it failed. Returns
    /// false when the lease was lost (the job expired and another worker has it).
    pub async fn retry_job(&self, job: &Job, error: &str, after: Duration) -> Result<bool> {
        let run_after = Utc::now() + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::hours(1));
        let res = job::Entity::update_many()
            .col_expr(job::Column::Lease, Expr::value(Option::<Uuid>::None))
            .col_expr(job::Column::LeasedUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .col_expr(job::Column::RunAfter, Expr::value(run_after))
            .col_expr(job::Column::LastError, Expr::value(error.to_owned()))
            .filter(job::Column::Id.eq(job.id))
            .filter(job::Column::Lease.eq(job.lease))
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Jobs waiting (due or later) and running (leased and not expired).
    pub async fn job_counts(&self) -> Result<JobCounts> {
        let now = Utc::now();
        let total = job::Entity::find().count(&self.conn).await?;
        let running = job::Entity::find().filter(job::Column::LeasedUntil.gte(now)).count(&self.conn).await?;
        Ok(JobCounts { waiting: total - running, running })
    }
}
