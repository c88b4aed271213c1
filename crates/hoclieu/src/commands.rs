//! The subcommands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoclieu_api::{App, DownloadCounter, SearchLog, Settings};
use hoclieu_domain::Scope;
use hoclieu_index::{Indexer, SearchIndex};
use hoclieu_ingest::Ingest;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Notify;

use crate::Global;
use crate::config::{Config, DownloadMode};
use crate::context::{self, Error, Result, Schema};

/// Import errors printed in full; the rest are counted.
const ERRORS_SHOWN: usize = 100;

fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
    pb
}

pub async fn serve(g: &Global, mut config: Config, bind: Option<String>, demo: Option<PathBuf>) -> Result<ExitCode> {
    if let Some(b) = bind {
        b.parse::<std::net::SocketAddr>()
            .map_err(|_| Error::Message(format!("--bind must be HOST:PORT with an IP address, got {b:?}")))?;
        config.server.bind = b;
    }
    let vocab = context::vocabularies(&config)?;
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let storage = context::storage(&config, &g.data_dir)?;
    let index = SearchIndex::open(&config.index_dir(&g.data_dir), context::language(&config, vocab.clone())?)?
        .with_cache(config.search.cache_mb << 20);
    let ingest = Ingest::new(db.clone(), storage.clone(), vocab.clone());

    if let Some(demo) = demo {
        // Only on a database that never held anything: a second start reuses the data.
        if db.last_seq().await? == 0 {
            let report = ingest.import_jsonl(&demo, |_| {}).await?;
            tracing::info!(created = report.created, failed = report.errors.len(), file = %demo.display(), "demo materials imported");
            for e in &report.errors {
                tracing::warn!("{}: {e}", demo.display());
            }
        }
    }

    // The spelling lexicon and the suggestion table, before the first request (requests never
    // build them; the index follower keeps them current).
    let started = Instant::now();
    let derived = index.clone();
    tokio::task::spawn_blocking(move || derived.refresh_derived(true))
        .await
        .map_err(|e| Error::Message(format!("building the spelling lexicon: {e}")))??;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        documents = index.num_docs(),
        "spelling lexicon and suggestion table built"
    );

    let wake = Arc::new(Notify::new());
    let poll = Duration::from_millis(config.index.poll_interval_ms.max(10));
    let follower = tokio::spawn(hoclieu_index::follow(
        index.clone(),
        db.clone(),
        wake.clone(),
        poll,
        config.index.writer_memory_mb,
    ));
    let downloads = Arc::new(DownloadCounter::default());
    let flusher = {
        let (downloads, db) = (downloads.clone(), db.clone());
        let every = Duration::from_millis(config.downloads.flush_interval_ms.max(10));
        tokio::spawn(async move { downloads.run(db, every).await })
    };

    let search_log = Arc::new(SearchLog::default());
    let log_writer = {
        let (search_log, db) = (search_log.clone(), db.clone());
        let keep = Duration::from_secs(config.search.query_log_days.max(1) * 86_400);
        tokio::spawn(async move { search_log.run(db, Duration::from_secs(1), keep).await })
    };
    let upload_ttl = Duration::from_secs(config.uploads.expire_secs.max(1));
    let job_wake = Arc::new(Notify::new());
    let janitor = {
        let (ingest, wake, job_wake) = (ingest.clone(), wake.clone(), job_wake.clone());
        let expire_every = (upload_ttl / 2).clamp(Duration::from_secs(1), Duration::from_secs(600));
        tokio::spawn(async move {
            let mut last_expiry: Option<Instant> = None;
            // At start, uploads this server was finishing when it stopped are taken up at once.
            let mut idle = Duration::from_secs(2);
            loop {
                if last_expiry.is_none_or(|t| t.elapsed() >= expire_every) {
                    last_expiry = Some(Instant::now());
                    match ingest.remove_expired_uploads().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(removed = n, "removed expired uploads"),
                        Err(e) => tracing::warn!(error = %e, "could not remove expired uploads"),
                    }
                }
                // Uploads whose last byte was stored but whose material was not made (this or
                // another server stopped while finishing them).
                match ingest.resume_interrupted_uploads(idle).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(finished = n, "finished interrupted uploads");
                        wake.notify_one();
                        job_wake.notify_one();
                    }
                    Err(e) => tracing::warn!(error = %e, "could not finish interrupted uploads"),
                }
                idle = hoclieu_ingest::RESUME_AFTER;
                tokio::time::sleep(Duration::from_secs(5).min(expire_every)).await;
            }
        })
    };
    let worker_config = config.worker()?;
    let sandbox = worker_config.sandbox.clone();
    let worker = (config.preview.workers > 0).then(|| {
        let mut worker_config = worker_config;
        worker_config.concurrency = config.preview.workers;
        log_converters(&worker_config);
        tokio::spawn(hoclieu_ingest::run_worker(
            db.clone(),
            storage.clone(),
            worker_config,
            job_wake.clone(),
            wake.clone(),
        ))
    });
    let listener = std::net::TcpListener::bind(&config.server.bind)
        .map_err(|e| Error::Message(format!("cannot listen on {}: {e}", config.server.bind)))?;
    let addr = listener.local_addr()?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let search_threads = if config.search.threads == 0 { cores } else { config.search.threads };
    let app = App {
        db: db.clone(),
        storage,
        index,
        searches: hoclieu_api::SearchGate::new(config.search.max_in_flight, search_threads),
        ingest,
        vocab,
        index_wake: wake,
        job_wake,
        downloads: downloads.clone(),
        search_log: search_log.clone(),
        renders: Arc::new(tokio::sync::Semaphore::new(2)),
        sandbox,
        packages: Default::default(),
        logins: Default::default(),
        settings: Settings {
            max_upload_bytes: config.server.max_upload_bytes,
            workers: config.server.workers,
            query_log: config.search.query_log,
            upload_ttl,
            preview_widths: config.preview.widths.clone(),
            preview_max_pages: config.preview.max_pages,
            require_sign_in: config.accounts.require_sign_in,
            trusted_proxies: config.trusted_proxies().map_err(Error::Message)?,
            session_idle: Duration::from_secs(config.accounts.session_idle_minutes.max(1) * 60),
            session_lifetime: Duration::from_secs(config.accounts.session_lifetime_hours.max(1) * 3600),
            download: match config.storage.download {
                DownloadMode::Proxy => hoclieu_api::DownloadMode::Proxy,
                DownloadMode::Redirect => {
                    hoclieu_api::DownloadMode::Redirect(Duration::from_secs(config.storage.presign_ttl_secs.max(1)))
                }
            },
        },
    };
    let server = hoclieu_api::server(app, listener)?;
    println!("hoclieu đang chạy tại http://{addr}/ (listening on http://{addr}/)");
    std::io::stdout().flush()?;
    server.await?;
    if let Some(w) = worker {
        w.abort();
    }
    follower.abort();
    flusher.abort();
    log_writer.abort();
    janitor.abort();
    downloads.flush(&db).await;
    search_log.flush(&db).await;
    Ok(ExitCode::SUCCESS)
}

pub async fn import(g: &Global, config: Config, file: &Path, index_after: bool) -> Result<ExitCode> {
    let vocab = context::vocabularies(&config)?;
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let storage = context::storage(&config, &g.data_dir)?;
    let ingest = Ingest::new(db.clone(), storage, vocab.clone());
    let started = Instant::now();
    let pb = bar(0, "{spinner} [{elapsed_precise}] [{bar:40}] {bytes}/{total_bytes} {msg}");
    let report = ingest
        .import_jsonl(file, |p| {
            pb.set_length(p.total_bytes);
            pb.set_position(p.bytes);
            pb.set_message(format!("{} lines, {} failed", p.lines, p.failed));
        })
        .await?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    db.audit(
        &hoclieu_db::Actor::cli(),
        "material.import",
        ("file", Some(file.display().to_string())),
        serde_json::json!({"lines": report.lines, "created": report.created, "updated": report.updated, "failed": report.errors.len()}),
    )
    .await?;
    for e in report.errors.iter().take(ERRORS_SHOWN) {
        eprintln!("{}: {e}", file.display());
    }
    if report.errors.len() > ERRORS_SHOWN {
        eprintln!("… and {} more failed lines", report.errors.len() - ERRORS_SHOWN);
    }
    println!(
        "Imported {} lines in {secs:.1} s ({:.0} lines/s): {} created, {} updated, {} unchanged, {} failed; {} files stored.",
        report.lines,
        report.lines as f64 / secs.max(1e-9),
        report.created,
        report.updated,
        report.unchanged,
        report.errors.len(),
        report.files_stored,
    );

    if !index_after {
        println!(
            "Search index not updated (--no-index): a running server or `hoclieu reindex` will index these materials."
        );
        return Ok(exit_of(&report));
    }
    // Bring the index up to date here, unless a running server owns it (it follows by itself).
    let index = SearchIndex::open(&config.index_dir(&g.data_dir), context::language(&config, vocab)?)?;
    match Indexer::acquire(&index, config.index.writer_memory_mb) {
        Ok(mut indexer) => {
            let spinner = bar(0, "{spinner} indexing… {elapsed}");
            spinner.enable_steady_tick(Duration::from_millis(120));
            let applied = indexer.catch_up(&db).await?;
            spinner.finish_and_clear();
            println!("Search index updated ({applied} changes, {} documents).", index.num_docs());
        }
        Err(hoclieu_index::Error::Locked(_)) => {
            println!("A running `hoclieu serve` owns the search index: it will index these materials within seconds.");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(exit_of(&report))
}

/// Exit status of an import: 1 when a line failed.
fn exit_of(report: &hoclieu_ingest::ImportReport) -> ExitCode {
    if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

pub async fn reindex(g: &Global, config: Config) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::RequireCurrent).await?;
    let dir = config.index_dir(&g.data_dir);
    let index = SearchIndex::open(&dir, context::language(&config, context::vocabularies(&config)?)?)?;
    let mut indexer = match Indexer::acquire(&index, config.index.writer_memory_mb) {
        Ok(i) => i,
        Err(hoclieu_index::Error::Locked(_)) => {
            return Err(Error::Message(format!(
                "the index at {} is in use by a running `hoclieu serve`; stop it first (or delete that directory and \
                 restart the server: it rebuilds the index by itself)",
                dir.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let started = Instant::now();
    let pb = bar(0, "{spinner} [{elapsed_precise}] [{bar:40}] {pos}/{len} materials ({per_sec})");
    let total = indexer
        .rebuild(&db, |done, total| {
            pb.set_length(total);
            pb.set_position(done);
        })
        .await?;
    indexer.catch_up(&db).await?;
    pb.finish_and_clear();
    println!(
        "Rebuilt the search index from {total} materials in {:.1} s: {} documents, {:.1} MiB on disk.",
        started.elapsed().as_secs_f64(),
        index.num_docs(),
        index.size_on_disk() as f64 / 1048576.0
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn migrate(g: &Global, config: Config) -> Result<ExitCode> {
    let url = crate::config::mask_url(&config.database_url(&g.data_dir));
    let db = context::database(&config, &g.data_dir, Schema::AsIs).await?;
    let pending = db.pending_migrations().await?;
    db.migrate().await?;
    if pending.is_empty() {
        println!("The database {url} is up to date.");
    } else {
        println!("Applied {} migration(s) to {url}: {}", pending.len(), pending.join(", "));
    }
    db.close().await?;
    Ok(ExitCode::SUCCESS)
}

fn log_converters(worker: &hoclieu_ingest::WorkerConfig) {
    for (name, path) in worker.options.converters.describe() {
        match path {
            Some(p) => tracing::info!(converter = name, path = %p.display(), "preview converter available"),
            None => {
                tracing::warn!(converter = name, "preview converter not installed: previews that need it will say so")
            }
        }
    }
}

/// Runs derive jobs (text extraction and previews) without serving HTTP.
pub async fn worker(g: &Global, config: Config, until_idle: bool) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let storage = context::storage(&config, &g.data_dir)?;
    let worker_config = config.worker()?;
    log_converters(&worker_config);
    if until_idle {
        let ran = hoclieu_ingest::run_until_idle(&db, &storage, &worker_config).await?;
        println!("{ran} jobs run; the queue is empty");
        return Ok(ExitCode::SUCCESS);
    }
    println!("hoclieu worker: running jobs ({} at a time); Ctrl-C to stop", worker_config.concurrency);
    let never = Arc::new(Notify::new());
    tokio::select! {
        _ = hoclieu_ingest::run_worker(db, storage, worker_config, never.clone(), never) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check_config(g: &Global, config: Config) -> Result<ExitCode> {
    let vocab = context::vocabularies(&config)?;
    println!("# Effective configuration (secrets masked)\n{}", config.to_masked_toml());
    println!("# Resolved");
    println!("# data directory: {}", g.data_dir.display());
    println!("# database: {}", crate::config::mask_url(&config.database_url(&g.data_dir)));
    println!("# objects: {}", config.objects_dir(&g.data_dir).display());
    println!("# index: {}", config.index_dir(&g.data_dir).display());
    println!(
        "# vocabularies: {} subjects, {} series, {} resource types, {} licences, {} provinces",
        vocab.subjects.terms().len(),
        vocab.series.terms().len(),
        vocab.resource_types.terms().len(),
        vocab.licenses.terms().len(),
        vocab.provinces.terms().len()
    );
    for (name, path) in config.worker()?.options.converters.describe() {
        println!("# {name}: {}", path.map_or("not installed (or disabled)".into(), |p| p.display().to_string()));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn apikey_create(
    g: &Global,
    config: Config,
    name: &str,
    scopes: &[Scope],
    organization: Option<&str>,
) -> Result<ExitCode> {
    let name = hoclieu_domain::text::clean(name, false);
    if name.is_empty() {
        return Err(Error::Message("--name must not be empty".into()));
    }
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let organization = organization.map(|o| hoclieu_domain::text::clean(o, false)).filter(|o| !o.is_empty());
    let (key, token) = db.create_api_key(&name, scopes, organization.as_deref()).await?;
    let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    db.audit(
        &hoclieu_db::Actor::cli(),
        "api_key.create",
        ("api_key", Some(key.id.to_string())),
        serde_json::json!({"name": name, "scopes": scope_names, "organization": organization}),
    )
    .await?;
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "Created API key {} ({:?}, scopes: {}). The token is shown only now:",
        key.id,
        key.name,
        scopes.join(" ")
    );
    println!("{token}");
    eprintln!("Send it as: Authorization: Bearer <token>");
    Ok(ExitCode::SUCCESS)
}

pub async fn apikey_list(g: &Global, config: Config) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    println!("{:<36}  {:<11}  {:<19}  {:<19}  {:<8}  name", "id", "prefix", "created", "last used", "state");
    for k in db.list_api_keys().await? {
        let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
        let fmt = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or("-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        };
        println!(
            "{:<36}  {:<11}  {:<19}  {:<19}  {:<8}  {} [{}]",
            k.id,
            k.prefix,
            fmt(Some(k.created_at)),
            fmt(k.last_used_at),
            if k.revoked_at.is_some() { "revoked" } else { "active" },
            k.name,
            scopes.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn apikey_revoke(g: &Global, config: Config, id: uuid::Uuid) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    if db.revoke_api_key(id).await? {
        db.audit(&hoclieu_db::Actor::cli(), "api_key.revoke", ("api_key", Some(id.to_string())), serde_json::json!({}))
            .await?;
        println!("Revoked API key {id}.");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Error::Message(format!("no active API key {id}")))
    }
}

pub fn generate(count: u64, seed: u64, output: Option<&Path>) -> Result<ExitCode> {
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let pb =
        if output.is_some() { bar(count, "{spinner} [{bar:40}] {pos}/{len} records") } else { ProgressBar::hidden() };
    for (i, record) in hoclieu_generator::Generator::new(seed).take(count as usize).enumerate() {
        serde_json::to_writer(&mut out, &record).map_err(|e| Error::Message(e.to_string()))?;
        out.write_all(b"\n")?;
        if i % 1000 == 0 {
            pb.set_position(i as u64);
        }
    }
    out.flush()?;
    pb.finish_and_clear();
    Ok(ExitCode::SUCCESS)
}

/// `hoclieu report`: the most frequent queries of the last `days` days (only those that found
/// nothing with `zero_results`).
pub async fn report(g: &Global, config: Config, zero_results: bool, days: u64, limit: u64) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let since = chrono::Utc::now() - chrono::Duration::days(days as i64);
    let rows = db.frequent_queries(since, zero_results, limit).await?;
    let what = if zero_results { " that found nothing" } else { "" };
    println!("Most frequent searches{what} in the last {days} days:");
    if rows.is_empty() {
        println!("(none)");
    }
    println!("{:>8}  {:<19}  query", "searches", "last searched");
    for r in rows {
        println!("{:>8}  {:<19}  {}", r.searches, r.last_seen.format("%Y-%m-%d %H:%M"), r.query);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn verify(g: &Global, config: Config, repair: bool, hash: bool, grace_minutes: u64) -> Result<ExitCode> {
    let vocab = context::vocabularies(&config)?;
    let db = context::database(&config, &g.data_dir, Schema::RequireCurrent).await?;
    let storage = context::storage(&config, &g.data_dir)?;
    let ingest = Ingest::new(db, storage.clone(), vocab);
    println!(
        "Verifying {} against the database{}…",
        storage.description(),
        if hash { " (sizes and SHA-256)" } else { " (sizes)" }
    );
    let pb = bar(0, "{spinner} [{elapsed_precise}] [{bar:40}] {pos}/{len} blobs");
    let report = ingest
        .verify(hash, repair, Duration::from_secs(grace_minutes * 60), |done, total| {
            pb.set_length(total);
            pb.set_position(done);
        })
        .await?;
    pb.finish_and_clear();
    for d in &report.damaged {
        println!("DAMAGED  {d}");
    }
    for o in &report.orphans {
        println!("ORPHAN   {o}");
    }
    for u in &report.unused {
        println!("UNUSED   {u}");
    }
    for u in &report.unfinished {
        println!("PARTIAL  {u}");
    }
    println!(
        "Checked {} blobs ({:.1} MiB hashed): {} damaged, {} orphaned objects, {} unused blobs, {} partial writes, {} removed.",
        report.blobs_checked,
        report.bytes_hashed as f64 / 1048576.0,
        report.damaged.len(),
        report.orphans.len(),
        report.unused.len(),
        report.unfinished.len(),
        report.removed
    );
    let leftovers = !report.orphans.is_empty() || !report.unused.is_empty() || !report.unfinished.is_empty();
    if leftovers && !repair {
        println!(
            "Run with --repair to remove orphaned objects, unused blobs and partial writes older than {grace_minutes} minutes."
        );
    }
    Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `hoclieu user add`: the password comes from standard input (one line), never an argument
/// (arguments show in `ps` and shell history). The first admin is created this way.
pub async fn user_add(g: &Global, config: Config, add: crate::UserAdd) -> Result<ExitCode> {
    use std::io::BufRead;
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let vocab = context::vocabularies(&config)?;
    let details = hoclieu_domain::workflow::validate_account(
        &add.username,
        add.name.as_deref(),
        add.email.as_deref(),
        add.organization.as_deref(),
        add.province.as_deref(),
        &vocab,
    )?;
    hoclieu_domain::workflow::check_password(&password).map_err(|m| Error::Message(format!("password: {m}")))?;
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let user = db
        .create_user(hoclieu_db::NewUser {
            username: details.username,
            email: details.email,
            display_name: details.display_name,
            organization: details.organization,
            province: details.province,
            role: add.role,
            password,
        })
        .await?;
    db.audit(
        &hoclieu_db::Actor::cli(),
        "user.create",
        ("user", Some(user.id.to_string())),
        serde_json::json!({"username": user.username, "role": user.role}),
    )
    .await?;
    println!("{}", user.id);
    eprintln!("Created {} ({}) with the role {}.", user.username, user.display_name, user.role.as_str());
    Ok(ExitCode::SUCCESS)
}

pub async fn user_list(g: &Global, config: Config) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    println!("{:<36}  {:<20}  {:<9}  {:<8}  name", "id", "username", "role", "state");
    for u in db.list_users().await? {
        let scope = [u.review_subjects.join(","), u.review_provinces.join(",")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" / ");
        println!(
            "{:<36}  {:<20}  {:<9}  {:<8}  {}{}",
            u.id,
            u.username,
            u.role.as_str(),
            if u.disabled { "disabled" } else { "active" },
            u.display_name,
            if scope.is_empty() { String::new() } else { format!(" [reviews {scope}]") }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn user_id(db: &hoclieu_db::Db, login: &str) -> Result<hoclieu_db::User> {
    db.user_by_login(login).await?.ok_or_else(|| Error::Message(format!("no account {login:?}")))
}

pub async fn user_set_role(
    g: &Global,
    config: Config,
    login: &str,
    role: hoclieu_domain::Role,
    subjects: Vec<String>,
    provinces: Vec<String>,
) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let user = user_id(&db, login).await?;
    db.set_role(user.id, role, &subjects, &provinces).await?;
    db.audit(
        &hoclieu_db::Actor::cli(),
        "user.set_role",
        ("user", Some(user.id.to_string())),
        serde_json::json!({"role": role, "subjects": subjects, "provinces": provinces}),
    )
    .await?;
    println!("{} is now {}.", user.username, role.as_str());
    Ok(ExitCode::SUCCESS)
}

pub async fn user_disable(g: &Global, config: Config, login: &str) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let user = user_id(&db, login).await?;
    db.set_disabled(user.id, true).await?;
    db.audit(&hoclieu_db::Actor::cli(), "user.disable", ("user", Some(user.id.to_string())), serde_json::json!({}))
        .await?;
    println!("{} is disabled; its sessions have ended.", user.username);
    Ok(ExitCode::SUCCESS)
}

/// `hoclieu audit`: the audit log as JSON Lines, oldest first.
pub async fn audit(g: &Global, config: Config, after: i64) -> Result<ExitCode> {
    let db = context::database(&config, &g.data_dir, Schema::on_start(&config)).await?;
    let mut after = after;
    let mut out = std::io::stdout().lock();
    loop {
        let page = db.audit_entries(after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in &page {
            writeln!(out, "{}", serde_json::to_string(e).expect("serialises"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
