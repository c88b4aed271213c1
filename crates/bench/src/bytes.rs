//! Bytes: a 1 GiB download through hoclieu (local backend, proxy mode) beside nginx serving the
//! same file and beside `cat file > /dev/null`; a 2 GiB upload with the server's peak RSS.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use crate::procs::{self, Nginx, Server};
use crate::queries::Rng;
use crate::stats::Spread;

#[derive(Debug, Clone, Serialize)]
pub struct Bytes {
    pub download_mib: u64,
    pub upload_mib: u64,
    /// GB/s (10^9 bytes per second).
    pub cat_gbps: Spread,
    pub nginx_gbps: Spread,
    pub hoclieu_download_gbps: Spread,
    /// MB/s (10^6 bytes per second), SHA-256 and fsync included.
    pub hoclieu_upload_mbps: Spread,
    pub server_rss_before_upload_mib: f64,
    pub server_peak_rss_upload_mib: f64,
}

/// Writes `mib` MiB of incompressible bytes (a different stream for each seed).
fn make_file(path: &Path, mib: u64, seed: u64) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut rng = Rng::new(seed);
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        out.write_all(&block)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn curl_download_gbps(url: &str, expect: u64) -> Result<f64, String> {
    let out = procs::run(Command::new("curl").args([
        "-s",
        "-f",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download} %{time_total}",
        url,
    ]))?;
    let mut it = out.split_whitespace();
    let size: u64 = it.next().and_then(|v| v.parse().ok()).ok_or("curl size")?;
    let secs: f64 = it.next().and_then(|v| v.parse().ok()).ok_or("curl time")?;
    if size != expect {
        return Err(format!("{url}: got {size} bytes, expected {expect}"));
    }
    Ok(size as f64 / secs / 1e9)
}

/// Uploads one file as a new material; returns (seconds, the download URL of its file).
fn upload(base: &str, token: &str, file: &Path, n: usize) -> Result<(f64, String), String> {
    let metadata = serde_json::json!({
        "title": format!("Video đo tốc độ tải lên {n}"),
        "subject": "toan", "grade": 10, "resource_type": "video",
    });
    let started = Instant::now();
    let out = procs::run(Command::new("curl").args([
        "-s",
        "-f",
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Expect:",
        "-F",
        &format!("metadata={metadata}"),
        "-F",
        &format!("file=@{};filename=bench-{n}.bin", file.display()),
        &format!("{base}/api/v1/materials"),
    ]))?;
    let secs = started.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("upload answer {out}: {e}"))?;
    let url = v["files"][0]["download_url"].as_str().ok_or_else(|| format!("no download_url in {out}"))?;
    Ok((secs, url.to_owned()))
}

pub fn measure(
    hoclieu: &Path,
    work: &Path,
    download_mib: u64,
    upload_mib: u64,
    repeats: usize,
) -> Result<Bytes, String> {
    let dir = work.join("bytes");
    let _ = std::fs::remove_dir_all(&dir);
    let files = dir.join("files");
    std::fs::create_dir_all(&files).map_err(|e| e.to_string())?;
    let data = dir.join("data");
    let token_out = procs::run(
        Command::new(hoclieu)
            .args(["apikey", "create", "--name", "bench", "--scope", "admin", "--data-dir"])
            .arg(&data),
    )?;
    let token =
        token_out.lines().find(|l| l.starts_with("hl_")).ok_or("no token printed by apikey create")?.trim().to_owned();
    let env = [("HOCLIEU__SERVER__MAX_UPLOAD_BYTES", ((upload_mib.max(download_mib) * 2) << 20).to_string())];
    let server = Server::start(hoclieu, &data, &env, &dir.join("serve.log"))?;
    std::thread::sleep(std::time::Duration::from_secs(1));
    let before = procs::rss_mib(server.pid()).map_or(f64::NAN, |r| r.0);

    // Uploads: a different file each time (identical bytes would be stored once).
    let mut upload_mbps = Vec::new();
    let big: PathBuf = files.join("upload.bin");
    for n in 0..repeats {
        make_file(&big, upload_mib, 1000 + n as u64).map_err(|e| e.to_string())?;
        let (secs, _) = upload(&server.base, &token, &big, n)?;
        upload_mbps.push((upload_mib << 20) as f64 / secs / 1e6);
    }
    let peak = procs::rss_mib(server.pid()).map_or(f64::NAN, |r| r.1);
    let _ = std::fs::remove_file(&big);

    // Downloads of one file through hoclieu, nginx and cat (all from the page cache after the first).
    let file = files.join("download.bin");
    make_file(&file, download_mib, 7).map_err(|e| e.to_string())?;
    let size = download_mib << 20;
    let (_, url) = upload(&server.base, &token, &file, repeats)?;
    let url = format!("{}{url}", server.base);
    curl_download_gbps(&url, size)?;
    let hoclieu_gbps: Vec<f64> = (0..repeats).map(|_| curl_download_gbps(&url, size)).collect::<Result<_, _>>()?;
    drop(server);

    let nginx = Nginx::start(&files, &dir)?;
    let nginx_url = format!("{}/download.bin", nginx.base);
    curl_download_gbps(&nginx_url, size)?;
    let nginx_gbps: Vec<f64> = (0..repeats).map(|_| curl_download_gbps(&nginx_url, size)).collect::<Result<_, _>>()?;
    drop(nginx);

    let mut cat_gbps = Vec::new();
    for _ in 0..repeats {
        let started = Instant::now();
        let status = Command::new("cat")
            .arg(&file)
            .stdout(std::fs::File::create("/dev/null").map_err(|e| e.to_string())?)
            .stderr(Stdio::inherit())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("cat {} failed", file.display()));
        }
        cat_gbps.push(size as f64 / started.elapsed().as_secs_f64() / 1e9);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Bytes {
        download_mib,
        upload_mib,
        cat_gbps: Spread::of(&cat_gbps),
        nginx_gbps: Spread::of(&nginx_gbps),
        hoclieu_download_gbps: Spread::of(&hoclieu_gbps),
        hoclieu_upload_mbps: Spread::of(&upload_mbps),
        server_rss_before_upload_mib: before,
        server_peak_rss_upload_mib: peak,
    })
}
