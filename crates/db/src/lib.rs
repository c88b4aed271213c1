//! The metadata database of hoclieu (SQLite or PostgreSQL through sea-orm): the source of truth
//! for materials, files, API keys and the change sequence.
//!
//! **Architecture invariant:** every committed change to a material appends a row to `changes`
//! in the same transaction, and change sequence numbers become visible in increasing order
//! (on PostgreSQL writers serialise on an advisory lock; SQLite has one writer). A follower that
//! has applied everything up to `seq` therefore never misses a later change.
//!
//! sea-orm types stay inside this crate: callers see `hoclieu_domain` types and the plain
//! structs defined here.

mod accounts;
mod api_keys;
mod derivations;
mod entity;
mod jobs;
mod materials;
mod migration;
mod search_log;
mod uploads;
mod versions;
mod workflow;

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement};
use sea_orm_migration::MigratorTrait;

pub use accounts::{FREE_FAILED_LOGINS, Login, MAX_WAIT, NewUser, Session, User};
pub use api_keys::ApiKey;
pub use derivations::{DERIVE_JOB, Derivation, DerivationResult};
pub use jobs::{Job, JobCounts};
pub use materials::{BlobInfo, Change, MaterialWrite, NewFile, OnExisting, Outcome, Written};
pub use search_log::{QueryCount, SearchLogEntry};
pub use uploads::{NewUpload, Upload, UploadPart};
pub use versions::{Version, VersionFile};
pub use workflow::{Actor, AuditEntry};

/// The db crate's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(String),
    /// A unique value is already taken (an external id).
    #[error("{0}")]
    Conflict(String),
    /// A workflow step that does not apply to the material's status.
    #[error("{0}")]
    InvalidState(String),
    /// The database cannot be reached right now (connection refused, pool exhausted, restart).
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    #[error("database error: {0}")]
    Database(DbErr),
    /// A row holds something the code cannot read back.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// Rows per multi-row INSERT or IN (…) list: well under SQLite's and PostgreSQL's bind limits.
const CHUNK: usize = 400;

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<DbErr> for Error {
    fn from(e: DbErr) -> Self {
        let unavailable = match &e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
                matches!(
                    s.as_ref(),
                    sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)
                ) || s.as_database_error().is_some_and(|d| {
                    // PostgreSQL: admin shutdown, cannot connect now, crash shutdown.
                    matches!(d.code().as_deref(), Some("57P01" | "57P02" | "57P03"))
                    // SQLite: database locked / busy beyond the busy timeout.
                    || matches!(d.code().as_deref(), Some("5" | "6" | "261" | "517"))
                })
            }
            _ => false,
        };
        if unavailable { Error::Unavailable(e) } else { Error::Database(e) }
    }
}

/// Connection pool settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 16,
            min_connections: 1,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
        }
    }
}

/// A handle on the database (cheap to clone: a pool).
#[derive(Debug, Clone)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects to `url` (`sqlite://PATH?mode=rwc` or `postgres://…`).
    pub async fn connect(url: &str, pool: &PoolConfig) -> Result<Db> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(pool.max_connections)
            .min_connections(pool.min_connections)
            .connect_timeout(pool.connect_timeout)
            .acquire_timeout(pool.acquire_timeout)
            .idle_timeout(pool.idle_timeout)
            .test_before_acquire(true)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                use sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
                // WAL lets the server read while `hoclieu import` writes; FULL makes a commit
                // durable (the bytes it points at already are).
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
        let conn = Database::connect(options).await?;
        Ok(Db { conn })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        migration::Migrator::up(&self.conn, None).await?;
        Ok(())
    }

    /// Names of migrations not yet applied.
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        let pending = migration::Migrator::get_pending_migrations(&self.conn).await?;
        Ok(pending.iter().map(|m| m.name().to_owned()).collect())
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        self.conn.ping().await?;
        Ok(())
    }

    /// "sqlite" or "postgres".
    pub fn backend_name(&self) -> &'static str {
        match self.conn.get_database_backend() {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    pub async fn close(self) -> Result<()> {
        self.conn.close().await?;
        Ok(())
    }
}

/// Takes SQLite's write lock at once (a statement that writes nothing), so a transaction that
/// reads before it writes waits for other writers (the busy timeout) instead of failing with
/// "database is locked" when it upgrades. PostgreSQL locks rows (`SELECT … FOR UPDATE`) instead.
async fn sqlite_write_lock(txn: &impl ConnectionTrait) -> Result<()> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        txn.execute_raw(Statement::from_string(DbBackend::Sqlite, "DELETE FROM changes WHERE 0 = 1")).await?;
    }
    Ok(())
}

/// Serialises writers of the change sequence until the transaction ends, so sequence numbers
/// commit in order: an advisory lock on PostgreSQL; on SQLite, the write lock taken at once (a
/// statement that writes nothing), so a transaction that reads before it writes waits for
/// other writers instead of failing with SQLITE_BUSY_SNAPSHOT when it upgrades.
async fn lock_change_sequence(txn: &impl ConnectionTrait) -> Result<()> {
    let sql = match txn.get_database_backend() {
        DbBackend::Postgres => "SELECT pg_advisory_xact_lock(7261001)",
        _ => "DELETE FROM changes WHERE 0 = 1",
    };
    txn.execute_raw(Statement::from_string(txn.get_database_backend(), sql)).await?;
    Ok(())
}
