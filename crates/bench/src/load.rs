//! Search over HTTP under load: wrk (a separate process) on keep-alive connections, cycling
//! through the query mix.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::procs;
use crate::stats::Spread;

const WRK_SCRIPT: &str = include_str!("../../../bench/wrk.lua");

#[derive(Debug, Deserialize)]
struct WrkErrors {
    connect: u64,
    read: u64,
    write: u64,
    status: u64,
    timeout: u64,
}

#[derive(Debug, Deserialize)]
struct WrkLatency {
    p50: f64,
    p99: f64,
    p999: f64,
}

#[derive(Debug, Deserialize)]
struct WrkRun {
    requests: u64,
    duration_us: f64,
    errors: WrkErrors,
    latency_us: WrkLatency,
    curve_us: Vec<(f64, f64)>,
}

/// One concurrency level, repeated: medians and spreads.
#[derive(Debug, Clone, Serialize)]
pub struct LoadLevel {
    pub connections: usize,
    pub requests_per_sec: Spread,
    pub p50_ms: Spread,
    pub p99_ms: Spread,
    pub p999_ms: Spread,
    /// Failed requests (connect/read/write errors, timeouts, non-2xx answers) over all runs.
    pub errors: u64,
    pub requests: u64,
    /// (percentile, ms) of the median run, for the plot.
    pub curve_ms: Vec<(f64, f64)>,
    /// Highest RSS of the server during these runs, MiB.
    pub server_rss_mib: f64,
}

/// Writes the wrk script and the path list (one URL path per query) into `work`.
pub fn prepare(work: &Path, queries: &[&String]) -> std::io::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let script = work.join("wrk.lua");
    std::fs::write(&script, WRK_SCRIPT)?;
    let paths = work.join("paths.txt");
    let lines: Vec<String> = queries
        .iter()
        .map(|q| {
            format!("/api/v1/search?{}", form_urlencoded::Serializer::new(String::new()).append_pair("q", q).finish())
        })
        .collect();
    std::fs::write(&paths, lines.join("\n") + "\n")?;
    Ok((script, paths))
}

/// Runs wrk at `connections` for `seconds`, `repeats` times, sampling the server's RSS.
pub fn level(
    base: &str,
    server_pid: u32,
    (script, paths): (&Path, &Path),
    connections: usize,
    seconds: u64,
    repeats: usize,
) -> Result<LoadLevel, String> {
    let threads = connections.min(2);
    let mut runs = Vec::new();
    let sampler = procs::RssSampler::start(server_pid);
    for _ in 0..repeats {
        let out = procs::run(
            Command::new("wrk")
                .arg(format!("-t{threads}"))
                .arg(format!("-c{connections}"))
                .arg(format!("-d{seconds}s"))
                .arg("--timeout")
                .arg("10s")
                .arg("-s")
                .arg(script)
                .arg(base)
                .arg("--")
                .arg(paths),
        )?;
        let json =
            out.lines().rev().find(|l| l.starts_with('{')).ok_or_else(|| format!("no result from wrk:\n{out}"))?;
        let run: WrkRun = serde_json::from_str(json).map_err(|e| format!("wrk result {json}: {e}"))?;
        runs.push(run);
    }
    let server_rss_mib = sampler.finish();
    let ms = |f: &dyn Fn(&WrkRun) -> f64| Spread::of(&runs.iter().map(|r| f(r) / 1000.0).collect::<Vec<_>>());
    let rps = Spread::of(&runs.iter().map(|r| r.requests as f64 / (r.duration_us / 1e6)).collect::<Vec<_>>());
    let mut by_p50: Vec<&WrkRun> = runs.iter().collect();
    by_p50.sort_by(|a, b| a.latency_us.p50.total_cmp(&b.latency_us.p50));
    let median = by_p50[by_p50.len() / 2];
    Ok(LoadLevel {
        connections,
        requests_per_sec: rps,
        p50_ms: ms(&|r| r.latency_us.p50),
        p99_ms: ms(&|r| r.latency_us.p99),
        p999_ms: ms(&|r| r.latency_us.p999),
        errors: runs
            .iter()
            .map(|r| r.errors.connect + r.errors.read + r.errors.write + r.errors.status + r.errors.timeout)
            .sum(),
        requests: runs.iter().map(|r| r.requests).sum(),
        curve_ms: median.curve_us.iter().map(|&(p, us)| (p, us / 1000.0)).collect(),
        server_rss_mib,
    })
}
