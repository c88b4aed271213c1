//! Real servers for tests, started on free ports and torn down when dropped:
//! - [`S3Server`]: s3s-fs, an S3-compatible server that checks SigV4 signatures;
//! - [`PgDatabase`]: a fresh database on the PostgreSQL server of the machine.
//!
//! Missing servers are errors, not skips: CI must run these tests (`.ci/run` installs s3s-fs and
//! starts PostgreSQL).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Waits until something listens on `port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn s3s_fs_binary() -> PathBuf {
    if let Ok(p) = std::env::var("HOCLIEU_TEST_S3S_FS") {
        return PathBuf::from(p);
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo"));
    let candidate = home.join("bin/s3s-fs");
    if candidate.exists() { candidate } else { PathBuf::from("s3s-fs") }
}

/// An s3s-fs server with one bucket, over a temporary directory.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub dir: tempfile::TempDir,
}

impl S3Server {
    pub fn start() -> S3Server {
        let dir = tempfile::tempdir().expect("a temp dir");
        let bucket = "hoclieu-test".to_owned();
        std::fs::create_dir_all(dir.path().join(&bucket)).expect("bucket dir");
        let (access_key, secret_key) = ("hoclieu-test-key".to_owned(), "hoclieu-test-secret-0123456789".to_owned());
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(s3s_fs_binary())
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--access-key",
                    &access_key,
                    "--secret-key",
                    &secret_key,
                ])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "s3s-fs is required by the storage tests but could not be started ({e}); install it with \
                         `cargo install s3s-fs --version 0.14.1 --features binary --locked` (make tools does), \
                         or point HOCLIEU_TEST_S3S_FS at it"
                    )
                });
            if wait_for_port(port, Duration::from_secs(10)) {
                return S3Server {
                    child,
                    endpoint: format!("http://127.0.0.1:{port}"),
                    bucket,
                    access_key,
                    secret_key,
                    dir,
                };
            }
            // Lost a race for the port: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start");
    }

    /// Environment variables that point a hoclieu process at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("HOCLIEU__STORAGE__BACKEND", "s3"),
            ("HOCLIEU__STORAGE__S3__ENDPOINT", self.endpoint.as_str()),
            ("HOCLIEU__STORAGE__S3__BUCKET", self.bucket.as_str()),
            ("HOCLIEU__STORAGE__S3__REGION", "us-east-1"),
            ("HOCLIEU__STORAGE__S3__ACCESS_KEY_ID", self.access_key.as_str()),
            ("HOCLIEU__STORAGE__S3__SECRET_ACCESS_KEY", self.secret_key.as_str()),
            ("HOCLIEU__STORAGE__S3__ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The PostgreSQL server used by tests: `$HOCLIEU_TEST_POSTGRES` or the local one.
pub fn postgres_admin_url() -> String {
    std::env::var("HOCLIEU_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn psql(admin_url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([admin_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// A fresh database on the test PostgreSQL server, dropped when this is dropped.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        let admin = postgres_admin_url();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        psql(&admin, &format!("CREATE DATABASE {name}")).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required by these tests but {admin} did not answer ({e}). Start it \
                 (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or point \
                 HOCLIEU_TEST_POSTGRES at a server."
            )
        });
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("HOCLIEU_TEST_POSTGRES must end with /DATABASE"),
        };
        PgDatabase { url, name, admin }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// A PostgreSQL server of its own (initdb in a temporary directory, on a free port), for tests
/// that stop and restart it without disturbing anything else.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|d| d.flatten().map(|e| e.path().join("bin")).find(|p| p.join("initdb").exists()))
            .expect("PostgreSQL server binaries under /usr/lib/postgresql/*/bin (Debian package postgresql)");
        let dir = tempfile::tempdir().expect("a temp dir");
        // PostgreSQL refuses to run as root: use the postgres account when we are root.
        let as_postgres =
            Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot give the test cluster to the postgres user");
        }
        let pg = PrivatePostgres { bin, dir, port: free_port(), as_postgres };
        let data = pg.dir.path().join("data");
        let out = pg.run("initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.ctl("start");
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let path = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        c.args(args).current_dir(self.dir.path()).output().expect("a PostgreSQL tool")
    }

    fn ctl(&self, action: &str) {
        let data = self.dir.path().join("data");
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log");
        let out = self.run(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &options, "-w", "-m", "fast", action],
        );
        assert!(
            out.status.success(),
            "pg_ctl {action}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn stop(&self) {
        self.ctl("stop");
    }

    pub fn start_again(&self) {
        self.ctl("start");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.run("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]);
    }
}
