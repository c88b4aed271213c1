//! `hoclieu-bench`: measures hoclieu beside PostgreSQL full-text search, SQLite FTS5, nginx and
//! the machine's own limits, in one run, and writes `report.md`, `results.json` and
//! `latency.png`. `make bench` (1M records), `make bench-quick` (100k) and `make bench-smoke`
//! (10k, in CI) run it; see docs/PERFORMANCE.md.

mod bytes;
mod inproc;
mod load;
mod peers;
mod procs;
mod queries;
mod report;
mod stats;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use clap::Parser;
use serde::Serialize;

use crate::stats::{Latency, Spread};

#[derive(Parser, Debug, Clone, Serialize)]
#[command(about = "Benchmarks hoclieu beside PostgreSQL FTS, SQLite FTS5, nginx and the machine")]
pub struct Args {
    /// How many generated records.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// Where records, databases and indexes are made (reused records are kept between runs).
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
    /// Where report.md, results.json and latency.png are written.
    #[arg(long, default_value = "bench")]
    out: PathBuf,
    /// The hoclieu binary (default: the one beside this program).
    #[arg(long)]
    hoclieu: Option<PathBuf>,
    /// How many times each measurement is repeated (the report gives the median and range).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// How many times `hoclieu reindex` is measured (it is the longest single step).
    #[arg(long, default_value_t = 3)]
    reindex_repeats: usize,
    /// How many passes of the query mix each peer gets (a pass of stress queries on PostgreSQL
    /// at 1M records takes about a minute).
    #[arg(long, default_value_t = 3)]
    peer_repeats: usize,
    /// Seconds of each HTTP load run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent connections of the HTTP load runs.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    connections: Vec<usize>,
    /// Size of the downloaded file, MiB.
    #[arg(long, default_value_t = 1024)]
    download_mib: u64,
    /// Size of the uploaded file, MiB.
    #[arg(long, default_value_t = 2048)]
    upload_mib: u64,
    /// Generated queries of each class (selective, stress) and suggest prefixes.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Label of this run in the report (e.g. "bench", "bench-quick", "bench-smoke").
    #[arg(long, default_value = "bench")]
    label: String,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_gib: f64,
    pub cpu: String,
    pub kernel: String,
    pub os: String,
}

#[derive(Debug, Serialize)]
pub struct ImportRun {
    pub backend: String,
    /// Records per second of the database import alone, as `hoclieu import` reports it.
    pub records_per_sec: f64,
    pub import_secs: f64,
    /// The whole command, start to exit.
    pub total_secs: f64,
}

/// One query class measured on one engine: latency, and how many of its queries found something.
#[derive(Debug, Serialize)]
pub struct ClassResult {
    pub class: String,
    pub latency: Latency,
    pub found: usize,
}

#[derive(Debug, Serialize)]
pub struct PeerRun {
    pub engine: String,
    pub version: String,
    pub load_secs: f64,
    pub size_bytes: u64,
    pub classes: Vec<ClassResult>,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub args: Args,
    pub started: String,
    pub total_secs: f64,
    pub machine: Machine,
    pub versions: Vec<(String, String)>,
    pub records: u64,
    pub generate_secs: f64,
    pub mix: queries::QueryMix,
    pub imports: Vec<ImportRun>,
    pub reindex_secs: Spread,
    pub index_bytes: u64,
    pub index_docs: u64,
    /// hoclieu in-process: eval, selective, stress and suggest.
    pub hoclieu: Vec<ClassResult>,
    pub peers: Vec<PeerRun>,
    pub http: Vec<load::LoadLevel>,
    pub server_idle_rss_mib: f64,
    pub bytes: bytes::Bytes,
    pub notes: Vec<String>,
}

fn phase(started: Instant, what: &str) {
    eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

fn machine() -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let meminfo = read("/proc/meminfo");
    let mem_kib: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    let os = read("/etc/os-release")
        .lines()
        .find(|l| l.starts_with("PRETTY_NAME="))
        .map(|l| l.trim_start_matches("PRETTY_NAME=").trim_matches('"').to_owned())
        .unwrap_or_default();
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_gib: mem_kib / 1024.0 / 1024.0,
        cpu,
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        os,
    }
}

/// Versions of the crates that matter, from Cargo.lock.
fn crate_versions() -> Vec<(String, String)> {
    let lock = include_str!("../../../Cargo.lock");
    let mut out = Vec::new();
    for name in ["tantivy", "actix-web", "sea-orm", "sqlx", "object_store", "tokio"] {
        let needle = format!("name = \"{name}\"\nversion = \"");
        if let Some(i) = lock.find(&needle) {
            let rest = &lock[i + needle.len()..];
            out.push((format!("{name} (crate)"), rest[..rest.find('"').unwrap_or(0)].to_owned()));
        }
    }
    out
}

/// "Imported N lines in 12.3 s (…" → 12.3
fn seconds_after(text: &str, marker: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains(marker))?;
    let after = &line[line.find(" in ")? + 4..];
    after.split_whitespace().next()?.parse().ok()
}

fn hoclieu_cmd(bin: &Path, args: &[&str], data: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args(args).arg("--data-dir").arg(data).stderr(Stdio::inherit());
    c.env("HOCLIEU__LOG__LEVEL", "warn");
    c
}

fn import(bin: &Path, records: &Path, data: &Path, env: &[(&str, &str)], backend: &str) -> Result<ImportRun, String> {
    let _ = std::fs::remove_dir_all(data);
    let started = Instant::now();
    // Indexing is measured by `hoclieu reindex`; importing without it keeps the run short.
    let mut cmd = hoclieu_cmd(bin, &["import", "--no-index", &records.display().to_string()], data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = procs::run(&mut cmd)?;
    let total_secs = started.elapsed().as_secs_f64();
    let import_secs = seconds_after(&out, "Imported").ok_or_else(|| format!("unexpected import output: {out}"))?;
    let lines: f64 = out
        .lines()
        .find(|l| l.starts_with("Imported"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    Ok(ImportRun { backend: backend.into(), records_per_sec: lines / import_secs.max(1e-9), import_secs, total_secs })
}

/// What the benchmark asks of every engine, hoclieu and the peers alike.
pub(crate) trait Engine {
    /// Milliseconds of one ranked top-10 query with its count; and the count.
    async fn search_ms(&mut self, q: &str) -> Result<(f64, i64), String>;
}

/// Latency per query class over `passes` passes, after a warm-up pass that also counts the
/// queries that find something.
async fn measure_classes(
    engine: &mut impl Engine,
    mix: &queries::QueryMix,
    passes: usize,
) -> Result<Vec<ClassResult>, String> {
    let mut classes = Vec::new();
    for (class, qs) in mix.classes() {
        let mut found = 0;
        for q in qs {
            if engine.search_ms(q).await?.1 > 0 {
                found += 1;
            }
        }
        let mut runs = Vec::new();
        for _ in 0..passes {
            let mut run = Vec::with_capacity(qs.len());
            for q in qs {
                run.push(engine.search_ms(q).await?.0);
            }
            runs.push(run);
        }
        classes.push(ClassResult { class: class.to_owned(), latency: Latency::of(runs), found });
    }
    Ok(classes)
}

async fn run(args: Args) -> Result<Results, String> {
    let started = Instant::now();
    let started_at = procs::run(Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M UTC")).unwrap_or_default();
    let bin = match &args.hoclieu {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("hoclieu"),
    };
    if !bin.exists() {
        return Err(format!("{} not found: build it first (make bench does)", bin.display()));
    }
    let work = std::path::absolute(&args.work).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let mut notes = Vec::new();

    let mut versions = vec![
        ("hoclieu".to_owned(), procs::version_of(bin.to_str().unwrap_or("hoclieu"), &["--version"])),
        ("rustc".to_owned(), procs::version_of("rustc", &["--version"])),
        ("wrk".to_owned(), procs::version_of("wrk", &["-v"])),
        ("nginx".to_owned(), procs::version_of("nginx", &["-v"])),
        ("curl".to_owned(), procs::version_of("curl", &["--version"])),
    ];
    versions.extend(crate_versions());

    // 1. Records, generated once per size and seed.
    phase(started, &format!("generating {} records", args.records));
    let records = work.join(format!("records-{}.jsonl", args.records));
    let t = Instant::now();
    if !records.exists() {
        let tmp = records.with_extension("tmp");
        procs::run(
            Command::new(&bin)
                .args(["generate", "--count", &args.records.to_string(), "--seed", "1", "--output"])
                .arg(&tmp)
                .stderr(Stdio::inherit()),
        )?;
        std::fs::rename(&tmp, &records).map_err(|e| e.to_string())?;
    }
    let generate_secs = t.elapsed().as_secs_f64();
    let mix = queries::build(&records, args.queries, args.queries / 2, args.queries).map_err(|e| e.to_string())?;

    // 2. Import into SQLite and PostgreSQL; reindex; index size.
    phase(started, "hoclieu import (SQLite)");
    let sqlite_data = work.join("sqlite");
    let mut imports = vec![import(&bin, &records, &sqlite_data, &[], "SQLite")?];
    phase(started, "hoclieu import (PostgreSQL)");
    {
        let pg = hoclieu_testkit::PgDatabase::create();
        let pg_data = work.join("postgres");
        imports.push(import(&bin, &records, &pg_data, &[("HOCLIEU__DATABASE__URL", &pg.url)], "PostgreSQL")?);
        let _ = std::fs::remove_dir_all(&pg_data);
    }
    phase(started, "hoclieu reindex");
    let mut reindex = Vec::new();
    for _ in 0..args.reindex_repeats.max(1) {
        let out = procs::run(&mut hoclieu_cmd(&bin, &["reindex"], &sqlite_data))?;
        reindex.push(seconds_after(&out, "Rebuilt").ok_or_else(|| format!("unexpected reindex output: {out}"))?);
    }
    let index_dir = sqlite_data.join("index");
    let index_bytes = procs::dir_size(&index_dir);

    // 3. In-process search and suggest.
    phase(started, "hoclieu search in-process");
    let mut engine = inproc::InProcess::open(&index_dir)?;
    let index_docs = engine.num_docs();
    let mut hoclieu = measure_classes(&mut engine, &mix, args.repeats).await?;
    let suggest = inproc::measure_suggest(&engine, &mix.prefixes, args.repeats)?;
    hoclieu.push(ClassResult { class: "suggest".into(), found: suggest.queries, latency: suggest });
    drop(engine);

    // 4. Peers.
    let mut peers_out = Vec::new();
    phase(started, "peer: PostgreSQL full-text search (load and GIN index)");
    {
        let db = hoclieu_testkit::PgDatabase::create();
        let mut pg = peers::PgPeer::connect(&db.url).await?;
        let version = pg.version().await?;
        versions.push(("PostgreSQL".into(), version.clone()));
        let (_, load_secs) = pg.load(&records).await?;
        phase(started, "peer: PostgreSQL full-text search (queries)");
        let classes = measure_classes(&mut pg, &mix, args.peer_repeats.max(1)).await?;
        let size_bytes = pg.size_bytes().await?;
        peers_out.push(PeerRun { engine: "PostgreSQL FTS".into(), version, load_secs, size_bytes, classes });
    }
    phase(started, "peer: SQLite FTS5");
    {
        let file = work.join("fts5.db");
        let mut lite = peers::SqlitePeer::open(&file).await?;
        let version = lite.version().await?;
        versions.push(("SQLite".into(), version.clone()));
        let (_, load_secs) = lite.load(&records).await?;
        let classes = measure_classes(&mut lite, &mix, args.peer_repeats.max(1)).await?;
        let size_bytes = lite.size_bytes().await?;
        peers_out.push(PeerRun { engine: "SQLite FTS5".into(), version, load_secs, size_bytes, classes });
        drop(lite);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }

    // 5. HTTP under load, and the server's memory.
    phase(started, "hoclieu serve under load (wrk)");
    let server = procs::Server::start(&bin, &sqlite_data, &[], &work.join("serve.log"))?;
    let all: Vec<&String> = mix.all().collect();
    let (script, paths) = load::prepare(&work, &all).map_err(|e| e.to_string())?;
    // Warm up (first touches of the index files), then measure idle memory.
    let _ = procs::run(
        Command::new("wrk").args(["-t1", "-c1", "-d2s", "-s"]).arg(&script).arg(&server.base).arg("--").arg(&paths),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let server_idle_rss_mib = procs::rss_mib(server.pid()).map_or(f64::NAN, |r| r.0);
    let mut http = Vec::new();
    for &c in &args.connections {
        phase(started, &format!("  {c} connections"));
        http.push(load::level(&server.base, server.pid(), (&script, &paths), c, args.seconds, args.repeats)?);
    }
    drop(server);

    // 6. Bytes.
    phase(started, "bytes: upload, download, nginx, cat");
    let bytes = bytes::measure(&bin, &work, args.download_mib, args.upload_mib, args.repeats)?;

    if args.records < 1_000_000 {
        notes.push(format!(
            "This run used {} records; the targets are stated for 1,000,000 (`make bench`).",
            args.records
        ));
    }
    Ok(Results {
        records: args.records,
        args,
        started: started_at.trim().to_owned(),
        total_secs: started.elapsed().as_secs_f64(),
        machine: machine(),
        versions,
        generate_secs,
        mix,
        imports,
        reindex_secs: Spread::of(&reindex),
        index_bytes,
        index_docs,
        hoclieu,
        peers: peers_out,
        http,
        server_idle_rss_mib,
        bytes,
        notes,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(results) => match report::write(&results) {
            Ok(path) => {
                eprintln!("report written to {}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: writing the report: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
