//! The report: `report.md` (figures side by side, each as a ratio to the peer or the machine's
//! limit, targets met or not), `results.json` (everything, for later comparison) and
//! `latency.png` (drawn by bench/plot.py with matplotlib).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::stats::{Latency, Spread};
use crate::{ClassResult, Results};

const PLOT_SCRIPT: &str = include_str!("../../../bench/plot.py");

/// MiB → MB (10^6 bytes), the unit of the targets.
fn mb(mib: f64) -> f64 {
    mib * 1.048_576
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 { format!("{:.1}×", a / b) } else { "–".into() }
}

fn mark(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn class<'a>(rows: &'a [ClassResult], name: &str) -> Option<&'a ClassResult> {
    rows.iter().find(|r| r.class == name)
}

pub fn write(r: &Results) -> std::io::Result<PathBuf> {
    let (out, work) = (r.args.out.as_path(), r.args.work.as_path());
    let json = serde_json::to_string_pretty(r).map_err(std::io::Error::other)?;
    let json_path = out.join("results.json");
    std::fs::write(&json_path, json)?;
    let png = out.join("latency.png");
    let plot = plot(&json_path, &png, work);

    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# hoclieu benchmark report\n");
    let _ = writeln!(
        w,
        "`make {}`: {} generated records, run {} in {:.0} min. Every figure is the median of {} runs \
         with the range in parentheses ({} for `hoclieu reindex`, {} passes for each peer), except \
         the imports and the peers' loads, measured once. Produced by `hoclieu-bench` \
         (crates/bench); how to read it and why the misses are missed: docs/PERFORMANCE.md.\n",
        r.args.label,
        r.records,
        r.started,
        r.total_secs / 60.0,
        r.args.repeats,
        r.args.reindex_repeats,
        r.args.peer_repeats,
    );
    for n in &r.notes {
        let _ = writeln!(w, "> {n}\n");
    }

    let m = &r.machine;
    let _ = writeln!(w, "## Machine\n");
    let _ = writeln!(
        w,
        "{} cores, {:.1} GiB memory, {}; {} (kernel {}). Server, load generator and peers share these cores.\n",
        m.cores, m.memory_gib, m.cpu, m.os, m.kernel
    );
    let _ = writeln!(w, "| software | version |\n|---|---|");
    for (k, v) in &r.versions {
        let _ = writeln!(w, "| {k} | {v} |");
    }

    // Targets first: what a reader wants to know.
    let pg = r.peers.iter().find(|p| p.engine.starts_with("PostgreSQL"));
    let lat = |rows: &[ClassResult], c: &str, f: fn(&Latency) -> Spread| {
        class(rows, c).map_or(f64::NAN, |x| f(&x.latency).median)
    };
    let http64 = r.http.iter().find(|h| h.connections == 64);
    let sqlite_import = r.imports.iter().find(|i| i.backend == "SQLite");
    let pg_import = r.imports.iter().find(|i| i.backend == "PostgreSQL");
    let b = &r.bytes;
    let _ = writeln!(w, "\n## Targets (stated for 1,000,000 records on a 2-core machine)\n");
    let _ = writeln!(w, "| target | measured | |\n|---|---:|---|");
    let mut target = |name: &str, value: String, met: bool| {
        let _ = writeln!(w, "| {name} | {value} | {} |", mark(met));
    };
    let sel99 = lat(&r.hoclieu, "selective", |l| l.p99_ms);
    target("search p99 in-process, selective ≤ 15 ms", format!("{sel99:.1} ms"), sel99 <= 15.0);
    let st99 = lat(&r.hoclieu, "stress", |l| l.p99_ms);
    target("search p99 in-process, stress ≤ 30 ms", format!("{st99:.1} ms"), st99 <= 30.0);
    let sug99 = lat(&r.hoclieu, "suggest", |l| l.p99_ms);
    target("suggest p99 ≤ 10 ms", format!("{sug99:.1} ms"), sug99 <= 10.0);
    if let Some(h) = http64 {
        target(
            "HTTP at 64 connections ≥ 2,000 requests/s",
            format!("{:.0}/s", h.requests_per_sec.median),
            h.requests_per_sec.median >= 2000.0,
        );
        target("HTTP at 64 connections p99 ≤ 50 ms", format!("{:.1} ms", h.p99_ms.median), h.p99_ms.median <= 50.0);
    }
    if let Some(pg) = pg {
        for c in ["selective", "stress"] {
            let ours = lat(&r.hoclieu, c, |l| l.qps);
            let theirs = lat(&pg.classes, c, |l| l.qps);
            target(
                &format!("≥ 20× PostgreSQL FTS throughput ({c}, one thread each)"),
                ratio(ours, theirs),
                ours / theirs >= 20.0,
            );
        }
    }
    for i in [sqlite_import, pg_import].into_iter().flatten() {
        target(
            &format!("import ≥ 20,000 records/s ({})", i.backend),
            format!("{:.0}/s", i.records_per_sec),
            i.records_per_sec >= 20_000.0,
        );
    }
    let reindex_1m = r.reindex_secs.median * 1_000_000.0 / r.records.max(1) as f64;
    target(
        "reindex of 1M ≤ 20 s",
        if r.records == 1_000_000 {
            format!("{:.1} s", r.reindex_secs.median)
        } else {
            format!("{:.1} s (scaled from {:.1} s)", reindex_1m, r.reindex_secs.median)
        },
        reindex_1m <= 20.0,
    );
    target(
        "download ≥ nginx on the same file",
        format!("{} of nginx", ratio(b.hoclieu_download_gbps.median, b.nginx_gbps.median)),
        b.hoclieu_download_gbps.median >= b.nginx_gbps.median,
    );
    target(
        "download ≥ 2 GB/s",
        format!("{:.2} GB/s", b.hoclieu_download_gbps.median),
        b.hoclieu_download_gbps.median >= 2.0,
    );
    target(
        "upload ≥ 320 MB/s (SHA-256 and fsync included)",
        format!("{:.0} MB/s", b.hoclieu_upload_mbps.median),
        b.hoclieu_upload_mbps.median >= 320.0,
    );
    target(
        &format!("server peak RSS receiving {} MiB ≤ 150 MB", b.upload_mib),
        format!("{:.0} MB", mb(b.server_peak_rss_upload_mib)),
        mb(b.server_peak_rss_upload_mib) <= 150.0,
    );

    // Import.
    let _ = writeln!(w, "\n## 1. Import and index\n");
    let _ = writeln!(w, "| | records | database import | records/s | whole command |");
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    for i in &r.imports {
        let _ = writeln!(
            w,
            "| hoclieu import, {} | {} | {:.1} s | {:.0} | {:.1} s |",
            i.backend, r.records, i.import_secs, i.records_per_sec, i.total_secs
        );
    }
    for p in &r.peers {
        let _ = writeln!(
            w,
            "| peer: {} load + index | {} | {:.1} s | {:.0} | – |",
            p.engine,
            r.records,
            p.load_secs,
            r.records as f64 / p.load_secs.max(1e-9)
        );
    }
    let _ = writeln!(
        w,
        "\n`hoclieu reindex` (from SQLite): {} s. Index: {} documents, {:.1} MiB on disk{}.\n",
        r.reindex_secs.show(1),
        r.index_docs,
        r.index_bytes as f64 / 1048576.0,
        r.peers
            .iter()
            .map(|p| format!("; {}: {:.1} MiB", p.engine, p.size_bytes as f64 / 1048576.0))
            .collect::<String>()
    );
    let _ = writeln!(w, "(records generated in {:.1} s, or reused from an earlier run)", r.generate_secs);

    // In-process.
    let _ = writeln!(w, "\n## 2. Search in-process, one thread\n");
    let _ = writeln!(
        w,
        "Query mix: {} evaluation queries (fixtures/eval, as teachers type them), {} selective queries (two \
         adjacent syllables around the rarest word of a lesson title, folded), {} stress queries (one to three \
         of the commonest syllables: {}), {} suggest prefixes. hoclieu computes facets (subject, grade, series, \
         type, level), highlighted snippets and spelling corrections in every search; the peers only rank the \
         top 10 and count.\n",
        r.mix.eval.len(),
        r.mix.selective.len(),
        r.mix.stress.len(),
        r.mix.common.iter().take(8).map(String::as_str).collect::<Vec<_>>().join(", "),
        r.mix.prefixes.len()
    );
    let _ =
        writeln!(w, "| engine | class | found | p50 ms | p90 ms | p99 ms | max ms | queries/s | hoclieu ÷ engine |");
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let engines: Vec<(&str, &[ClassResult])> = std::iter::once(("hoclieu", r.hoclieu.as_slice()))
        .chain(r.peers.iter().map(|p| (p.engine.as_str(), p.classes.as_slice())))
        .collect();
    for c in ["eval", "selective", "stress", "suggest"] {
        for (name, rows) in &engines {
            let Some(ClassResult { latency: l, found, .. }) = class(rows, c) else { continue };
            let ours = lat(&r.hoclieu, c, |l| l.qps);
            let _ = writeln!(
                w,
                "| {name} | {c} | {found}/{} | {} | {} | {} | {} | {} | {} |",
                l.queries,
                l.p50_ms.show(2),
                l.p90_ms.show(2),
                l.p99_ms.show(2),
                l.max_ms.show(1),
                l.qps.show(0),
                if *name == "hoclieu" { "1×".into() } else { ratio(ours, l.qps.median) }
            );
        }
    }

    // HTTP.
    let _ = writeln!(w, "\n## 3. Search over HTTP under load (wrk, keep-alive, the whole query mix)\n");
    let _ = writeln!(
        w,
        "Each run {} s; wrk runs on the same 2 cores as the server. Server RSS idle (after warm-up): {:.0} MB.\n",
        r.args.seconds,
        mb(r.server_idle_rss_mib)
    );
    let _ =
        writeln!(w, "| connections | requests/s | p50 ms | p99 ms | p99.9 ms | errors / requests | server peak RSS |");
    let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|");
    for h in &r.http {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} / {} | {:.0} MB |",
            h.connections,
            h.requests_per_sec.show(0),
            h.p50_ms.show(2),
            h.p99_ms.show(1),
            h.p999_ms.show(1),
            h.errors,
            h.requests,
            mb(h.server_rss_mib)
        );
    }
    if let Some(pg) = pg {
        // Queries per second over the whole mix: total queries over total time.
        let secs: f64 = pg.classes.iter().map(|c| c.latency.queries as f64 / c.latency.qps.median).sum();
        let pg_qps = pg.classes.iter().map(|c| c.latency.queries as f64).sum::<f64>() / secs.max(1e-9);
        if let Some(h) = http64 {
            let _ = writeln!(
                w,
                "\nFor scale: PostgreSQL FTS answers the same mix at {:.0} queries/s on one connection \
                 in-process; hoclieu over HTTP at 64 connections answers {} as many.",
                pg_qps,
                ratio(h.requests_per_sec.median, pg_qps)
            );
        }
    }

    // Bytes.
    let _ = writeln!(w, "\n## 4. Bytes\n");
    let _ = writeln!(w, "| | throughput | ÷ nginx | ÷ cat |\n|---|---:|---:|---:|");
    let _ = writeln!(
        w,
        "| `cat file > /dev/null` ({} MiB, page cache) | {} GB/s | | 1× |",
        b.download_mib,
        b.cat_gbps.show(2)
    );
    let _ = writeln!(
        w,
        "| nginx (sendfile), curl | {} GB/s | 1× | {} |",
        b.nginx_gbps.show(2),
        ratio(b.nginx_gbps.median, b.cat_gbps.median)
    );
    let _ = writeln!(
        w,
        "| hoclieu download (local, proxy mode), curl | {} GB/s | {} | {} |",
        b.hoclieu_download_gbps.show(2),
        ratio(b.hoclieu_download_gbps.median, b.nginx_gbps.median),
        ratio(b.hoclieu_download_gbps.median, b.cat_gbps.median)
    );
    let _ = writeln!(
        w,
        "| hoclieu upload of {} MiB (multipart, SHA-256, fsync) | {} MB/s | | |",
        b.upload_mib,
        b.hoclieu_upload_mbps.show(0)
    );
    let _ = writeln!(
        w,
        "\nServer RSS before the uploads {:.0} MB, peak while receiving them {:.0} MB.",
        mb(b.server_rss_before_upload_mib),
        mb(b.server_peak_rss_upload_mib)
    );

    let _ = writeln!(w, "\n## Latency distributions\n");
    match plot {
        Ok(()) => {
            let _ = writeln!(w, "![latency distributions](latency.png)");
        }
        Err(e) => {
            let _ = writeln!(w, "(no plot: {e})");
        }
    }
    let path = out.join("report.md");
    std::fs::write(&path, md)?;
    Ok(path)
}

fn plot(json: &Path, png: &Path, work: &Path) -> Result<(), String> {
    let script = work.join("plot.py");
    std::fs::write(&script, PLOT_SCRIPT).map_err(|e| e.to_string())?;
    // Debian's python3 has Debian's matplotlib (make bench-tools installs python3-matplotlib).
    let python = if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let out = Command::new(python).arg(&script).arg(json).arg(png).output().map_err(|e| format!("{python}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let msg = String::from_utf8_lossy(&out.stderr);
        let line = msg.lines().last().unwrap_or("").to_owned();
        eprintln!("warning: plot failed: {msg}");
        Err(line)
    }
}
