//! Building the service's parts from the configuration.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hoclieu_db::{Db, PoolConfig};
use hoclieu_domain::{Synonyms, Vocabularies};
use hoclieu_index::Language;
use hoclieu_storage::{S3Config, Storage};

use crate::config::{Backend, Config};

/// The binary's error type: any crate's error, or a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Db(#[from] hoclieu_db::Error),
    #[error(transparent)]
    Storage(#[from] hoclieu_storage::Error),
    #[error(transparent)]
    Index(#[from] hoclieu_index::Error),
    #[error(transparent)]
    Ingest(#[from] hoclieu_ingest::Error),
    #[error(transparent)]
    Domain(#[from] hoclieu_domain::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Message(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// What to do about the schema when connecting.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Apply pending migrations.
    Migrate,
    /// Refuse a database whose schema is behind the code.
    RequireCurrent,
    /// Leave it as it is (for `hoclieu migrate`).
    AsIs,
}

impl Schema {
    pub fn on_start(config: &Config) -> Schema {
        if config.database.migrate_on_start { Schema::Migrate } else { Schema::RequireCurrent }
    }
}

/// Connects to the database (creating the data directory for embedded SQLite).
pub async fn database(config: &Config, data_dir: &Path, schema: Schema) -> Result<Db> {
    let url = config.database_url(data_dir);
    if url.starts_with("sqlite:") && config.database.url.is_empty() {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::Message(format!("cannot create the data directory {}: {e}", data_dir.display())))?;
    }
    let d = &config.database;
    let pool = PoolConfig {
        max_connections: d.max_connections,
        min_connections: d.min_connections,
        connect_timeout: Duration::from_secs(d.connect_timeout_secs),
        acquire_timeout: Duration::from_secs(d.acquire_timeout_secs),
        idle_timeout: Duration::from_secs(d.idle_timeout_secs),
    };
    let db = Db::connect(&url, &pool)
        .await
        .map_err(|e| Error::Message(format!("cannot open the database {}: {e}", crate::config::mask_url(&url))))?;
    match schema {
        Schema::Migrate => db.migrate().await?,
        Schema::RequireCurrent if !db.pending_migrations().await?.is_empty() => {
            return Err(Error::Message("the database schema is not up to date: run `hoclieu migrate` first".into()));
        }
        _ => {}
    }
    Ok(db)
}

pub fn storage(config: &Config, data_dir: &Path) -> Result<Storage> {
    Ok(match config.storage.backend {
        Backend::Local => Storage::local(&config.objects_dir(data_dir))?,
        Backend::Memory => Storage::memory(),
        Backend::S3 => {
            let s3 = &config.storage.s3;
            let secret = if s3.secret_access_key_file.is_empty() {
                s3.secret_access_key.clone()
            } else {
                std::fs::read_to_string(&s3.secret_access_key_file)
                    .map_err(|e| {
                        Error::Message(format!("storage.s3.secret_access_key_file {}: {e}", s3.secret_access_key_file))
                    })?
                    .trim()
                    .to_owned()
            };
            Storage::s3(&S3Config {
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                bucket: s3.bucket.clone(),
                access_key_id: s3.access_key_id.clone(),
                secret_access_key: secret,
                virtual_hosted_style: s3.virtual_hosted_style,
                allow_http: s3.allow_http,
            })?
        }
    })
}

fn vocabulary_file(config: &Config, file: &str) -> Option<String> {
    let dir = &config.vocabularies.dir;
    if dir.is_empty() { None } else { std::fs::read_to_string(Path::new(dir).join(file)).ok() }
}

pub fn vocabularies(config: &Config) -> Result<Arc<Vocabularies>> {
    let dir = &config.vocabularies.dir;
    if !dir.is_empty() && !Path::new(dir).is_dir() {
        return Err(Error::Message(format!("vocabularies.dir {dir} is not a directory")));
    }
    Ok(Arc::new(Vocabularies::load(|file| vocabulary_file(config, file))?))
}

/// Vocabularies and synonyms for search (`synonyms.toml` may be overridden like a vocabulary).
pub fn language(config: &Config, vocab: Arc<Vocabularies>) -> Result<Arc<Language>> {
    let text = vocabulary_file(config, "synonyms.toml");
    let mut synonyms = Synonyms::parse("synonyms.toml", text.as_deref().unwrap_or(hoclieu_domain::synonyms::EMBEDDED))?;
    synonyms.add_vocabularies(&vocab);
    Ok(Language::new(vocab, synonyms))
}
