//! Configuration: `config/default.toml` (embedded) < `--config FILE` < `HOCLIEU__SECTION__KEY`.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};

pub const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    pub storage: Storage,
    pub index: Index,
    pub uploads: Uploads,
    pub search: Search,
    pub downloads: Downloads,
    pub accounts: Accounts,
    pub preview: Preview,
    pub vocabularies: Vocabularies,
    pub log: Log,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub bind: String,
    pub workers: usize,
    pub max_upload_bytes: u64,
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub url: String,
    pub migrate_on_start: bool,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_secs: u64,
    pub acquire_timeout_secs: u64,
    pub idle_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Local,
    Memory,
    S3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownloadMode {
    Proxy,
    Redirect,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    pub backend: Backend,
    pub local_root: String,
    pub download: DownloadMode,
    pub presign_ttl_secs: u64,
    pub s3: S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3 {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub secret_access_key_file: String,
    pub virtual_hosted_style: bool,
    pub allow_http: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub dir: String,
    pub poll_interval_ms: u64,
    pub writer_memory_mb: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uploads {
    pub expire_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    pub query_log: bool,
    pub query_log_days: u64,
    pub cache_mb: u64,
    pub max_in_flight: usize,
    pub threads: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Downloads {
    pub flush_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    pub require_sign_in: bool,
    pub session_idle_minutes: u64,
    pub session_lifetime_hours: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preview {
    pub workers: usize,
    pub job_timeout_secs: u64,
    pub max_attempts: u32,
    pub retry_after_secs: u64,
    pub converter_timeout_secs: u64,
    pub converter_memory_mb: u64,
    pub sandbox_memory_mb: u64,
    pub render_timeout_secs: u64,
    pub disabled_converters: Vec<String>,
    pub pages: u32,
    pub max_pages: u32,
    pub widths: Vec<u32>,
    pub max_unzipped_mb: u64,
    pub max_zip_entries: usize,
    pub max_text_chars: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vocabularies {
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub level: String,
}

impl Config {
    /// Loads the configuration: defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(format!("configuration file {} does not exist", path.display()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("HOCLIEU__").split("__"));
        let config: Config = figment
            .extract()
            .map_err(|e| e.into_iter().map(|e| format!("configuration: {e}")).collect::<Vec<_>>().join("\n"))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "configuration: server.bind must be HOST:PORT with an IP address, got {:?}",
                self.server.bind
            ));
        }
        self.trusted_proxies()?;
        let url = &self.database.url;
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(format!(
                "configuration: database.url must be empty, sqlite://… or postgres://…, got {:?}",
                mask_url(url)
            ));
        }
        if self.database.max_connections == 0 || self.database.min_connections > self.database.max_connections {
            return Err("configuration: database.max_connections must be ≥ 1 and ≥ min_connections".into());
        }
        if self.storage.backend == Backend::S3 {
            let s3 = &self.storage.s3;
            if s3.bucket.is_empty() || s3.access_key_id.is_empty() {
                return Err(
                    "configuration: storage.backend = \"s3\" needs storage.s3.bucket and storage.s3.access_key_id"
                        .into(),
                );
            }
            if s3.secret_access_key.is_empty() == s3.secret_access_key_file.is_empty() {
                return Err("configuration: give exactly one of storage.s3.secret_access_key and storage.s3.secret_access_key_file".into());
            }
            if s3.endpoint.starts_with("http://") && !s3.allow_http {
                return Err("configuration: storage.s3.endpoint is http:// but storage.s3.allow_http is false".into());
            }
        }
        if self.storage.download == DownloadMode::Redirect && self.storage.backend != Backend::S3 {
            return Err("configuration: storage.download = \"redirect\" needs storage.backend = \"s3\"".into());
        }
        let p = &self.preview;
        if let Some(bad) =
            p.disabled_converters.iter().find(|c| !["soffice", "pdftoppm", "ffmpeg", "ffprobe"].contains(&c.as_str()))
        {
            return Err(format!(
                "configuration: preview.disabled_converters: unknown converter {bad:?} (soffice, pdftoppm, ffmpeg, ffprobe)"
            ));
        }
        if p.widths.is_empty() || p.widths.iter().any(|&w| !(16..=4096).contains(&w)) {
            return Err("configuration: preview.widths must list widths between 16 and 4096 pixels".into());
        }
        if p.job_timeout_secs == 0 || p.converter_timeout_secs == 0 || p.render_timeout_secs == 0 || p.max_attempts == 0
        {
            return Err("configuration: preview.job_timeout_secs, converter_timeout_secs, render_timeout_secs and max_attempts must be ≥ 1".into());
        }
        if p.sandbox_memory_mb < 256 || p.converter_memory_mb < 256 {
            return Err("configuration: preview.sandbox_memory_mb and converter_memory_mb must be ≥ 256".into());
        }
        if self.search.max_in_flight == 0 {
            return Err("configuration: search.max_in_flight must be ≥ 1".into());
        }
        if self.server.max_upload_bytes == 0 {
            return Err("configuration: server.max_upload_bytes must be positive".into());
        }
        Ok(())
    }

    /// `server.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<Vec<hoclieu_domain::net::IpRange>, String> {
        self.server
            .trusted_proxies
            .iter()
            .map(|p| {
                hoclieu_domain::net::IpRange::parse(p)
                    .map_err(|e| format!("configuration: server.trusted_proxies: {e}"))
            })
            .collect()
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self, data_dir: &Path) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", data_dir.join("hoclieu.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn objects_dir(&self, data_dir: &Path) -> PathBuf {
        or_default(&self.storage.local_root, data_dir, "objects")
    }

    pub fn index_dir(&self, data_dir: &Path) -> PathBuf {
        or_default(&self.index.dir, data_dir, "index")
    }

    /// The child process that parses untrusted files (this binary's `derive-one`).
    pub fn sandbox(&self) -> std::io::Result<hoclieu_preview::Sandbox> {
        let p = &self.preview;
        hoclieu_preview::Sandbox::current_exe(
            p.sandbox_memory_mb,
            std::time::Duration::from_secs(p.job_timeout_secs),
            std::time::Duration::from_secs(p.render_timeout_secs),
        )
    }

    /// How derive jobs run, from the `[preview]` section.
    pub fn worker(&self) -> std::io::Result<hoclieu_ingest::WorkerConfig> {
        let p = &self.preview;
        let mut converters = hoclieu_preview::Converters::detect();
        for name in &p.disabled_converters {
            match name.as_str() {
                "soffice" => converters.soffice = None,
                "pdftoppm" => converters.pdftoppm = None,
                "ffmpeg" => converters.ffmpeg = None,
                _ => converters.ffprobe = None,
            }
        }
        let mut widths = p.widths.clone();
        widths.sort_unstable();
        Ok(hoclieu_ingest::WorkerConfig {
            sandbox: self.sandbox()?,
            concurrency: p.workers.max(1),
            max_attempts: p.max_attempts,
            options: hoclieu_preview::Options {
                limits: hoclieu_domain::preview::Limits {
                    max_unzipped_bytes: p.max_unzipped_mb << 20,
                    max_zip_entries: p.max_zip_entries,
                    max_text_chars: p.max_text_chars,
                    pages: p.pages,
                    max_pages: p.max_pages.max(p.pages),
                    widths,
                },
                converters,
                converter_timeout: std::time::Duration::from_secs(p.converter_timeout_secs),
                converter_memory_mb: p.converter_memory_mb,
            },
            retry_base: std::time::Duration::from_secs(p.retry_after_secs.max(1)),
            poll: std::time::Duration::from_secs(2),
        })
    }

    /// The configuration as TOML with secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = mask_url(&shown.database.url);
        if !shown.storage.s3.secret_access_key.is_empty() {
            shown.storage.s3.secret_access_key = "****".into();
        }
        toml::to_string_pretty(&shown).expect("the configuration serialises")
    }
}

fn or_default(value: &str, data_dir: &Path, name: &str) -> PathBuf {
    if value.is_empty() { data_dir.join(name) } else { PathBuf::from(value) }
}

/// `scheme://user:****@host/db`: the password of a URL replaced.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let masked = if userinfo.contains(':') { format!("{user}:****") } else { user.to_owned() };
    match path {
        Some(p) => format!("{scheme}://{masked}@{host}/{p}"),
        None => format!("{scheme}://{masked}@{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(mask_url("postgres://hoclieu:s3cr%40t@db:5432/hoclieu"), "postgres://hoclieu:****@db:5432/hoclieu");
        assert_eq!(mask_url("postgres://hoclieu@db/hoclieu"), "postgres://hoclieu@db/hoclieu");
        assert_eq!(mask_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn defaults_load() {
        let c: Config = Figment::from(Toml::string(DEFAULTS)).extract().unwrap();
        c.check().unwrap();
        assert_eq!(c.server.max_upload_bytes, 2 << 30);
    }
}
