//! Test harness: the real `hoclieu` binary, run as a server on a free port over a temporary data
//! directory, driven over HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hoclieu");

/// The repository root (for fixtures).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A data directory, with helpers to run subcommands on it.
pub struct Data {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Data {
    /// Creates an account with `hoclieu user add` (password on standard input).
    pub fn user(&self, username: &str, role: &str, password: &str, extra: &[&str]) {
        use std::io::Write;
        let mut c = self.command(&["user", "add", "--username", username, "--role", role]);
        c.args(extra).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn new() -> Data {
        Data { dir: tempfile::tempdir().unwrap(), env: Vec::new() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Data {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--data-dir").arg(self.path()).args(args);
        c.env("HOCLIEU__LOG__LEVEL", "warn");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs a subcommand to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Creates an API key and returns its token.
    pub fn api_key(&self, scope: &str) -> String {
        let out = self.run(&["apikey", "create", "--name", &format!("test {scope}"), "--scope", scope]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Files stored in the local object store.
    pub fn object_count(&self) -> usize {
        fn walk(p: &Path) -> usize {
            std::fs::read_dir(p)
                .map_or(0, |d| d.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
        }
        walk(&self.path().join("objects"))
    }

    /// Starts `hoclieu serve` on a free port.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut c = self.command(&["serve", "--bind", "127.0.0.1:0"]);
        c.args(extra)
            .env("HOCLIEU__INDEX__POLL_INTERVAL_MS", "50")
            .env("HOCLIEU__DOWNLOADS__FLUSH_INTERVAL_MS", "50")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let Some(start) = line.find("http://") else {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("the server did not start: {line}{err}");
        };
        let base = line[start..].split('/').take(3).collect::<Vec<_>>().join("/");
        Server { child, base }
    }
}

/// A running server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub type Response = ureq::http::Response<ureq::Body>;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Response {
        agent().get(&self.url(path)).call().unwrap()
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut r = agent().get(&self.url(path));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.call().unwrap()
    }

    pub fn head(&self, path: &str) -> Response {
        agent().head(&self.url(path)).call().unwrap()
    }

    pub fn json(&self, path: &str) -> (u16, serde_json::Value) {
        json_of(self.get(path))
    }

    pub fn delete(&self, path: &str, token: &str) -> Response {
        agent().delete(&self.url(path)).header("Authorization", &format!("Bearer {token}")).call().unwrap()
    }

    /// Any method, with headers and a body (empty: none).
    pub fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut builder = ureq::http::Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        agent().run(builder.body(body.to_vec()).unwrap()).unwrap()
    }

    /// POSTs a raw body.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut r = agent().post(&self.url(path));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send(body).unwrap()
    }

    /// Uploads a material: metadata JSON and files (name, bytes).
    pub fn upload(&self, token: Option<&str>, metadata: &str, files: &[(&str, &[u8])]) -> (u16, serde_json::Value) {
        let (content_type, body) = multipart(Some(metadata), files);
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", content_type.as_str())];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        json_of(self.post("/api/v1/materials", &headers, &body))
    }

    /// Waits until a search for `q` has `n` hits.
    pub fn wait_for_hits(&self, q: &str, n: u64) -> serde_json::Value {
        let path = format!("/api/v1/search?q={}", encode(q));
        eventually(|| {
            let (_, body) = self.json(&path);
            (body["total"] == n).then_some(body)
        })
    }
}

pub fn json_of(mut r: Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, value)
}

pub fn bytes_of(mut r: Response) -> Vec<u8> {
    r.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap()
}

pub fn header(r: &Response, name: &str) -> String {
    r.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default()
}

/// A multipart/form-data body. File names are sent as raw UTF-8, as browsers do.
pub fn multipart(metadata: Option<&str>, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----hoclieu-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    if let Some(m) = metadata {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n").as_bytes());
        body.extend_from_slice(m.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    for (name, data) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Polls `f` until it returns `Some`, for up to 10 seconds.
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not reached within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
