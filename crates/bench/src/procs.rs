//! Processes the benchmark runs beside itself: `hoclieu serve`, nginx, wrk, curl; and what
//! /proc says about their memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Resident memory of a process in MiB: (current, peak since it started).
pub fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Samples a process's RSS every 100 ms on a thread until stopped; returns the highest seen.
pub struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<f64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut max = 0.0f64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some((now, _)) = rss_mib(pid) {
                    max = max.max(now);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            max
        });
        RssSampler { stop, handle }
    }

    pub fn finish(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.join().unwrap_or(f64::NAN)
    }
}

/// A `hoclieu serve` on a free port, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(hoclieu: &Path, data_dir: &Path, env: &[(&str, String)], log: &Path) -> Result<Server, String> {
        let port = hoclieu_testkit::free_port();
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(hoclieu)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
            .env("HOCLIEU__LOG__LEVEL", "warn")
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("start {}: {e}", hoclieu.display()))?;
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("hoclieu serve exited with {status}; see {}", log.display()));
            }
            if curl_status(&format!("{}/readyz", server.base)) == Some(200) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!("hoclieu serve not ready after 10 minutes; see {}", log.display()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP status of a GET, or None when nothing answered.
pub fn curl_status(url: &str) -> Option<u16> {
    let out = Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|&c| c != 0)
}

/// Runs a command, returning its standard output, or an error naming it with its standard error.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first line a command prints of its version (on stdout or stderr), or "not found".
pub fn version_of(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).stdin(Stdio::null()).output() {
        Ok(out) => {
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned()
        }
        Err(_) => "not found".into(),
    }
}

/// Total size of the files under a directory.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// nginx serving one directory on a free port (sendfile on, like a stock install), stopped when
/// dropped. One process without a master, so that stopping it leaves no worker behind.
pub struct Nginx {
    child: Child,
    pub base: String,
}

impl Nginx {
    pub fn start(root: &Path, work: &Path) -> Result<Nginx, String> {
        let port = hoclieu_testkit::free_port();
        let prefix = work.join("nginx");
        std::fs::create_dir_all(prefix.join("logs")).map_err(|e| e.to_string())?;
        let conf = format!(
            "master_process off;\nworker_processes 1;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  default_type application/octet-stream;\n\
             \x20 client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fastcgi;\n\
             \x20 uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
             \x20 server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
            p = prefix.display(),
            root = root.display(),
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start nginx: {e} (make bench-tools installs it)"))?;
        if !hoclieu_testkit::wait_for_port(port, Duration::from_secs(10)) {
            return Err(format!("nginx did not start; see {}", prefix.join("logs/error.log").display()));
        }
        Ok(Nginx { child, base: format!("http://127.0.0.1:{port}") })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
