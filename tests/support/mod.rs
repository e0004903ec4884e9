//! Test support: the real `tollgate` binary as a child process, a recording
//! fake upstream, and two clients (a raw HTTP/1.1 one for exact bytes and slow
//! clients, a hyper one for ordinary calls, h2 and TLS).
//!
//! Every test file does `mod support;` and uses only what it needs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How long a test waits for something that should happen (start-up, a log
/// line, a request at the fake). Generous: the machine may be loaded.
pub const WAIT: Duration = Duration::from_secs(30);

/// Every upstream name the shipped route files declare.
pub const UPSTREAMS: [&str; 10] = [
    "twilio-api",
    "twilio-verify",
    "twilio-lookups",
    "vonage-rest",
    "vonage-api",
    "plivo-api",
    "sinch-api",
    "telnyx-api",
    "infobip-api",
    "bird-api",
];

/// The repository's shipped route files.
pub fn shipped_routes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("routes")
}

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

/// A unique directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "tollgate-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("creating a temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` (relative) and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("creating a temp subdir");
        }
        std::fs::write(&p, contents).expect("writing a temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Policies and credentials
// ---------------------------------------------------------------------------

/// A policy file like the shipped default, with the given deny lists.
pub fn policy_with_deny(numbers: &[&str], ranges: &[&str], countries: &[&str]) -> String {
    let list = |xs: &[&str]| {
        xs.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"mode = "enforce"

[thresholds]
hold = 60
block = 80

[number]
block_invalid = true
block_line_types = ["premium_rate", "shared_cost", "toll_free", "uan", "fixed_line", "pager", "voicemail"]
risk_line_types = {{ voip = 30 }}

[lists.allow]
numbers = []
ranges = []
countries = []

[lists.deny]
numbers = [{}]
ranges = [{}]
countries = [{}]
"#,
        list(numbers),
        list(ranges),
        list(countries)
    )
}

/// `Basic base64(user:secret)`.
pub fn basic_auth(user: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    )
}

// ---------------------------------------------------------------------------
// The tollgate child process
// ---------------------------------------------------------------------------

type Lines = Arc<Mutex<Vec<String>>>;

/// A self-signed certificate for `localhost` / `127.0.0.1`.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCert {
    pub fn generate() -> TestCert {
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("generating a test certificate");
        TestCert {
            cert_pem: ck.cert.pem(),
            key_pem: ck.key_pair.serialize_pem(),
        }
    }
}

/// How to start tollgate.
#[derive(Default)]
pub struct Builder {
    upstreams: Vec<(String, String)>,
    config: Option<String>,
    policy: Option<String>,
    routes: Option<PathBuf>,
    shadow: bool,
    tls: bool,
    extra: Vec<String>,
    env: Vec<(String, String)>,
}

impl Builder {
    /// An environment variable for the tollgate process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// `--upstream NAME=URL`.
    pub fn upstream(mut self, name: &str, url: &str) -> Self {
        self.upstreams.push((name.to_owned(), url.to_owned()));
        self
    }

    /// Every shipped upstream pointed at `url`.
    pub fn all_upstreams(mut self, url: &str) -> Self {
        for n in UPSTREAMS {
            self.upstreams.push((n.to_owned(), url.to_owned()));
        }
        self
    }

    /// A `--config` file with this TOML text (a `ServeConfig`).
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_owned());
        self
    }

    /// A `--policy` file with this TOML text.
    pub fn policy(mut self, toml: &str) -> Self {
        self.policy = Some(toml.to_owned());
        self
    }

    /// `--routes DIR`.
    pub fn routes(mut self, dir: &Path) -> Self {
        self.routes = Some(dir.to_owned());
        self
    }

    /// `--shadow`.
    pub fn shadow(mut self) -> Self {
        self.shadow = true;
        self
    }

    /// A TLS listener with a fresh self-signed certificate.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.extra.push(a.to_owned());
        self
    }

    pub async fn start(self) -> Tollgate {
        let dir = TempDir::new("serve");
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--admin-listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            dir.path().join("data").display().to_string(),
        ];
        for (n, u) in &self.upstreams {
            args.push("--upstream".into());
            args.push(format!("{n}={u}"));
        }
        if let Some(c) = &self.config {
            args.push("--config".into());
            args.push(dir.write("config.toml", c).display().to_string());
        }
        if let Some(p) = &self.policy {
            args.push("--policy".into());
            args.push(dir.write("policy.toml", p).display().to_string());
        }
        if let Some(r) = &self.routes {
            args.push("--routes".into());
            args.push(r.display().to_string());
        }
        if self.shadow {
            args.push("--shadow".into());
        }
        let mut cert = None;
        if self.tls {
            let c = TestCert::generate();
            args.push("--tls-listen".into());
            args.push("127.0.0.1:0".into());
            args.push("--tls-cert".into());
            args.push(dir.write("cert.pem", &c.cert_pem).display().to_string());
            args.push("--tls-key".into());
            args.push(dir.write("key.pem", &c.key_pem).display().to_string());
            cert = Some(c);
        }
        args.extend(self.extra);
        Tollgate::spawn(args, self.env, dir, cert).await
    }
}

/// Runs `tollgate serve` on ephemeral ports with its data in `data` and
/// `extra` arguments, without the `unset` environment variables, until it
/// exits: for start-up refusals.
pub fn serve_until_exit(
    data: &Path,
    extra: &[&std::ffi::OsStr],
    unset: &[&str],
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data)
    .args(extra);
    for v in unset {
        cmd.env_remove(v);
    }
    cmd.output().unwrap()
}

/// A running `tollgate serve`. Killed on drop.
pub struct Tollgate {
    child: Child,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    pub tls: Option<SocketAddr>,
    pub cert: Option<TestCert>,
    stdout: Lines,
    stderr: Lines,
    pub dir: TempDir,
}

fn drain(reader: impl std::io::Read + Send + 'static, into: Lines) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            match line {
                Ok(l) => into.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    });
}

impl Tollgate {
    pub fn builder() -> Builder {
        Builder::default()
    }

    async fn spawn(
        args: Vec<String>,
        env: Vec<(String, String)>,
        dir: TempDir,
        cert: Option<TestCert>,
    ) -> Tollgate {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(&args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting tollgate");
        let stdout: Lines = Arc::default();
        let stderr: Lines = Arc::default();
        drain(child.stdout.take().unwrap(), stdout.clone());
        drain(child.stderr.take().unwrap(), stderr.clone());
        let want_tls = cert.is_some();
        let deadline = Instant::now() + WAIT;
        let (proxy, admin, tls) = loop {
            let found = listening(&stdout);
            let (p, a, t) = (found.get("proxy"), found.get("admin"), found.get("tls"));
            if let (Some(p), Some(a)) = (p, a) {
                if !want_tls || t.is_some() {
                    break (*p, *a, t.copied());
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "tollgate exited during start-up ({status}); args {args:?}\nstdout:\n{}\nstderr:\n{}",
                    stdout.lock().unwrap().join("\n"),
                    stderr.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "tollgate did not log its listeners in time; stdout:\n{}",
                stdout.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let tg = Tollgate {
            child,
            proxy,
            admin,
            tls,
            cert,
            stdout,
            stderr,
            dir,
        };
        loop {
            if let Ok(r) = raw_request(tg.admin, b"GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n").await {
                if r.status == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "tollgate never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tg
    }

    /// `http://<proxy><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Every stdout line so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stdout_text(&self) -> String {
        self.stdout().join("\n")
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Every stdout line that is JSON.
    pub fn json_logs(&self) -> Vec<Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The `fields` of every decision log line.
    pub fn decisions(&self) -> Vec<Value> {
        self.json_logs()
            .into_iter()
            .filter(|v| v["fields"]["message"] == "decision")
            .map(|v| v["fields"].clone())
            .collect()
    }

    /// Waits until at least `n` decision lines were logged; returns them.
    pub async fn wait_decisions(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let d = self.decisions();
            if d.len() >= n {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} decision lines, got {}:\n{}",
                d.len(),
                self.stdout_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a JSON log line whose `fields.message` is `message`.
    pub async fn wait_log(&self, message: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = self
                .json_logs()
                .into_iter()
                .find(|v| v["fields"]["message"] == message)
            {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no log line {message:?}:\n{}",
                self.stdout_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill")
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// The exit status if it exits within `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `GET /healthz` on the admin listener answers 200.
    pub async fn healthy(&self) -> bool {
        matches!(
            raw_request(self.admin, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").await,
            Ok(r) if r.status == 200
        )
    }
}

impl Drop for Tollgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `listener name -> address` from the "listening" log lines.
fn listening(lines: &Lines) -> BTreeMap<String, SocketAddr> {
    let mut out = BTreeMap::new();
    for l in lines.lock().unwrap().iter() {
        let Ok(v) = serde_json::from_str::<Value>(l) else {
            continue;
        };
        let f = &v["fields"];
        if f["message"] != "listening" {
            continue;
        }
        if let (Some(name), Some(addr)) = (f["listener"].as_str(), f["addr"].as_str()) {
            if let Ok(a) = addr.parse() {
                out.insert(name.to_owned(), a);
            }
        }
    }
    out
}

/// Runs `tollgate <args>` to completion: (exit status, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running tollgate");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A local address nothing listens on.
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

// ---------------------------------------------------------------------------
// The fake upstream
// ---------------------------------------------------------------------------

/// One request exactly as the fake upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    /// In the order hyper hands them over (per name, in wire order).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
    /// The body ended in an error (the sender gave up mid-body).
    pub body_error: bool,
}

impl Recorded {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_all(name).into_iter().next()
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the recorded body is JSON")
    }
}

/// The fake's answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    /// Sent in this order; names may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Canned {
    pub fn new(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Canned {
        Canned {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.into(),
        }
    }

    pub fn json(status: u16, body: &str) -> Canned {
        Canned::new(
            status,
            &[("content-type", "application/json")],
            body.to_owned(),
        )
    }
}

/// How the fake behaves after reading a request.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Answer at once with the canned response.
    Answer,
    /// Wait, then answer.
    Delay(Duration),
    /// Read the whole request, then close the connection without answering.
    CloseAfterRead,
}

struct FakeState {
    requests: Mutex<Vec<Recorded>>,
    canned: Mutex<Canned>,
    mode: Mutex<Mode>,
    arrived: Notify,
    connections: AtomicUsize,
}

/// A hyper 1.x server on 127.0.0.1:0 that records every request.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    /// Answers `200 {"ok":true}` by default.
    pub async fn start() -> FakeUpstream {
        FakeUpstream::with(Canned::json(200, r#"{"ok":true}"#)).await
    }

    pub async fn with(canned: Canned) -> FakeUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState {
            requests: Mutex::new(Vec::new()),
            canned: Mutex::new(canned),
            mode: Mutex::new(Mode::Answer),
            arrived: Notify::new(),
            connections: AtomicUsize::new(0),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                tokio::spawn(async move {
                    let close = Arc::new(Notify::new());
                    let close2 = close.clone();
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let st = st.clone();
                        let close = close2.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(fake_answer(st, close, req).await)
                        }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = close.notified() => {}
                    }
                });
            }
        });
        FakeUpstream { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// The only request received (panics unless exactly one).
    pub fn only(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one upstream request: {r:#?}");
        r.into_iter().next().unwrap()
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn set_canned(&self, c: Canned) {
        *self.state.canned.lock().unwrap() = c;
    }

    pub fn set_mode(&self, m: Mode) {
        *self.state.mode.lock().unwrap() = m;
    }

    pub fn clear(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + WAIT;
        loop {
            let notified = self.state.arrived.notified();
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "the fake upstream got {} requests, expected {n}",
                r.len()
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_answer(
    st: Arc<FakeState>,
    close: Arc<Notify>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let (body, body_error) = match body.collect().await {
        Ok(c) => (c.to_bytes(), false),
        Err(_) => (Bytes::new(), true),
    };
    let rec = Recorded {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body,
        body_error,
    };
    st.requests.lock().unwrap().push(rec);
    st.arrived.notify_waiters();
    let mode = *st.mode.lock().unwrap();
    match mode {
        Mode::Answer => {}
        Mode::Delay(d) => tokio::time::sleep(d).await,
        Mode::CloseAfterRead => {
            close.notify_one();
            std::future::pending::<()>().await;
        }
    }
    let canned = st.canned.lock().unwrap().clone();
    let mut resp = Response::new(Full::new(canned.body));
    *resp.status_mut() = StatusCode::from_u16(canned.status).unwrap();
    for (k, v) in &canned.headers {
        resp.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    resp
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 client
// ---------------------------------------------------------------------------

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines as written, names as written, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 connection.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<RawConn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream,
            buf: Vec::new(),
        })
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response (Content-Length, chunked, or to end of stream).
    pub async fn read_response(&mut self) -> std::io::Result<RawResponse> {
        let eof = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("connection closed while reading {what}"),
            )
        };
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.fill().await? == 0 {
                return Err(eof("the response head"));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("bad status line {status_line:?}"),
                )
            })?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
            .collect();
        let mut resp = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let no_body = status / 100 == 1 || status == 204 || status == 304;
        if no_body {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    if self.fill().await? == 0 {
                        return Err(eof("a chunk size"));
                    }
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                    .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size")
                })?;
                self.buf.drain(..line_end + 2);
                if size == 0 {
                    // Trailers (none expected) and the final CRLF.
                    loop {
                        if let Some(i) = find(&self.buf, b"\r\n") {
                            if i == 0 {
                                self.buf.drain(..2);
                                break;
                            }
                            self.buf.drain(..i + 2);
                            continue;
                        }
                        if self.fill().await? == 0 {
                            break;
                        }
                    }
                    return Ok(resp);
                }
                while self.buf.len() < size + 2 {
                    if self.fill().await? == 0 {
                        return Err(eof("a chunk"));
                    }
                }
                resp.body.extend_from_slice(&self.buf[..size]);
                self.buf.drain(..size + 2);
            }
        }
        if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad content-length")
            })?;
            while self.buf.len() < len {
                if self.fill().await? == 0 {
                    return Err(eof("the body"));
                }
            }
            resp.body = self.buf.drain(..len).collect();
            return Ok(resp);
        }
        while self.fill().await? > 0 {}
        resp.body = std::mem::take(&mut self.buf);
        Ok(resp)
    }

    /// Waits for the server to close the connection; returns how long it
    /// took, or `None` when it is still open after `max`. Bytes read meanwhile
    /// are kept (an error response the server wrote before closing).
    pub async fn closed_within(&mut self, max: Duration) -> Option<Duration> {
        let start = Instant::now();
        loop {
            let left = max.checked_sub(start.elapsed())?;
            match tokio::time::timeout(left, self.fill()).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// What was read but not consumed.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Writes `bytes` on a fresh connection and reads one response.
pub async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<RawResponse> {
    let mut c = RawConn::connect(addr).await?;
    c.send(bytes).await?;
    tokio::time::timeout(WAIT, c.read_response())
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no response"))?
}

/// A complete HTTP/1.1 request with a Content-Length body.
pub fn raw_post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("POST {path} HTTP/1.1\r\nHost: tollgate.test\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

// ---------------------------------------------------------------------------
// hyper clients
// ---------------------------------------------------------------------------

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn collect(resp: Response<Incoming>) -> Reply {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("reading the body").to_bytes();
    Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    }
}

/// Builds a request.
pub fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(body.into())).unwrap()
}

/// HTTP/1.1 through hyper's pooled client.
pub async fn send(req: Request<Full<Bytes>>) -> Reply {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let resp = tokio::time::timeout(WAIT, client.request(req))
        .await
        .expect("no answer in time")
        .expect("request failed");
    collect(resp).await
}

/// h2 with prior knowledge over plain TCP to `addr`; the request URI (and
/// so `:authority`) may name any host.
pub async fn send_h2c(addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let resp = tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .expect("no answer in time")
        .expect("h2c request failed");
    collect(resp).await
}

/// One request over TLS to `addr`, trusting `cert_pem`, offering `alpn`.
/// Returns the negotiated ALPN protocol and the reply; h2 when it was
/// negotiated, HTTP/1.1 otherwise.
pub async fn send_tls(
    addr: SocketAddr,
    cert_pem: &str,
    alpn: &[&[u8]],
    req: Request<Full<Bytes>>,
) -> (Option<Vec<u8>>, Reply) {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let negotiated = tls.get_ref().1.alpn_protocol().map(|p| p.to_vec());
    let io = TokioIo::new(tls);
    let resp = if negotiated.as_deref() == Some(b"h2") {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .expect("h2 handshake");
        tokio::spawn(conn);
        tokio::time::timeout(WAIT, sender.send_request(req))
            .await
            .expect("no answer in time")
            .expect("h2 request failed")
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        tokio::time::timeout(WAIT, sender.send_request(req))
            .await
            .expect("no answer in time")
            .expect("h1 request failed")
    };
    (negotiated, collect(resp).await)
}

/// The request headers a client sent, as the upstream should see them:
/// (lower-case name, value) in order.
pub fn lower(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect()
}

/// Groups (name, value) pairs by lower-case name, keeping each name's values
/// in order: header order across different names carries no meaning, order
/// within one name does (RFC 9110 §5.3).
pub fn multimap<K: AsRef<str>, V: AsRef<[u8]>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        m.entry(k.as_ref().to_ascii_lowercase())
            .or_default()
            .push(String::from_utf8_lossy(v.as_ref()).into_owned());
    }
    m
}
