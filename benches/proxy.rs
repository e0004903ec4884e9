//! Proxy throughput and latency: tollgate (`--shadow`, default policy, so
//! every layer runs and every send is forwarded) against nginx `proxy_pass`,
//! both in front of the same fast upstream (nginx `return 201 '…'`).
//!
//! `cargo bench --bench proxy` — installs nginx and wrk (Debian) when
//! missing. Prints ratios measured in the same run, with interleaved rounds
//! (these machines are shared and noisy):
//!
//! - throughput: tollgate / nginx on a fixed Twilio send, against nginx
//!   with upstream keepalive (target ≥ 1.0: what an SRE would deploy) and,
//!   for reference, stock `proxy_pass` (see `start_nginx`);
//! - fresh-number flood: every request a never-seen number from ~30
//!   countries, against the fixed-number run (target ≥ 0.9);
//! - latency: an open-loop generator at half of tollgate's peak rate,
//!   measured from each request's *scheduled* time (no coordinated
//!   omission); p99 added over the direct upstream (target ≤ 1 ms).
//!
//! Env: `TOLLGATE_BENCH_SECONDS` (per run, default 8), `TOLLGATE_BENCH_ROUNDS`
//! (default 3), `TOLLGATE_BENCH_CONNECTIONS` (default 64),
//! `TOLLGATE_BENCH_RATE` (the open-loop rate, req/s, instead of half of the
//! measured peak: to compare builds at one rate). tollgate reads its own
//! `TOLLGATE_PROXY_THREADS` (`shared` for the work-stealing runtime).
//!
//! Wall-clock rates here move with whatever else the machine runs; for
//! instructions per request (stable under load) use
//! `benches/proxy/callgrind.sh`, the same set-up under callgrind.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

const BODY: &str = "To=%2B447400123456&From=%2B15005550006&Body=Your+code+is+123456";
const PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";
const AUTH: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2tlbg==";

#[path = "common/mod.rs"]
mod common;
use common::env_or;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn install(packages: &[&str]) {
    eprintln!("installing {packages:?} (Debian)");
    let sudo = if unsafe_is_root() { "" } else { "sudo " };
    let cmd = format!("{sudo}apt-get update -qq && {sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {} >/dev/null", packages.join(" "));
    let ok = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "could not install {packages:?}");
}

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

fn nginx_bin() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nginx"))
}

struct Proc(Child);

impl Drop for Proc {
    /// SIGTERM, so nginx's master takes its workers down with it (a SIGKILL
    /// would orphan them) and tollgate shuts down gracefully.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(addr: SocketAddr) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on {addr}");
}

/// nginx, 2 workers: the fast upstream and two `proxy_pass` servers in
/// front of it. `tuned` keeps upstream connections alive (`keepalive 256`,
/// HTTP/1.1): what an SRE would put in tollgate's place, so the baseline.
/// `stock` is `proxy_pass` as nginx's docs first show it (HTTP/1.0 to the
/// upstream, a new connection per request), printed for reference.
fn start_nginx(dir: &Path, upstream: u16, stock: u16, tuned: u16) -> Proc {
    let conf = format!(
        r#"worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{upstream} backlog=4096;
    location / {{
      default_type application/json;
      return 201 '{{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"+447400123456"}}';
    }}
  }}
  server {{
    listen 127.0.0.1:{stock} backlog=4096;
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
    }}
  }}
  upstream fast {{ server 127.0.0.1:{upstream}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{tuned} backlog=4096;
    location / {{
      proxy_pass http://fast;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"#,
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(nginx_bin())
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("nginx: {e}"));
    wait_listening(SocketAddr::from(([127, 0, 0, 1], upstream)));
    wait_listening(SocketAddr::from(([127, 0, 0, 1], stock)));
    wait_listening(SocketAddr::from(([127, 0, 0, 1], tuned)));
    Proc(child)
}

fn start_tollgate(dir: &Path, port: u16, upstream: u16) -> Proc {
    // Cargo builds the binary, optimised, for benchmarks.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tollgate"));
    let mut child = Command::new(bin)
        .args(["serve", "--shadow", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--admin-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--upstream",
            &format!("twilio-api=http://127.0.0.1:{upstream}"),
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("tollgate: {e}"));
    // Decision logs are part of the product's cost: keep them on and drain
    // the pipe as a log shipper would, without splitting lines here (that
    // would be the harness's cost on the shared cores, not tollgate's).
    if let Some(mut out) = child.stdout.take() {
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    }
    wait_listening(SocketAddr::from(([127, 0, 0, 1], port)));
    Proc(child)
}

/// Requests per second from one `wrk` run of `script` (with `args` for the
/// script's `init`) against `port`.
fn wrk(port: u16, script: &Path, args: &[&str], seconds: u64, connections: u64) -> f64 {
    let out = Command::new("wrk")
        .args([
            "-t",
            "1",
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "-s",
        ])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("--")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("wrk: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .map(str::to_owned);
    if let Some(l) = non2xx {
        eprintln!("  warning: {}", l.trim());
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate:\n{text}"))
}

/// Open-loop latency at `rate` req/s for `seconds`: (p50, p99, p999) in µs.
///
/// wrk2's model: a fixed set of keep-alive connections, each sending its
/// share of the schedule one request at a time, and every latency measured
/// from the request's *scheduled* time, so a stall shows in full (no
/// coordinated omission). A pool that opened a connection whenever all were
/// busy would turn any stall into thousands of new connections and measure
/// the generator's own collapse instead.
fn open_loop(port: u16, rate: f64, seconds: u64, conns: u64) -> (f64, f64, f64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async move {
        let total = (rate * seconds as f64) as u64;
        let conns = conns.clamp(1, total.max(1));
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for c in 0..conns {
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut sender = None;
                for i in (c..total).step_by(conns as usize) {
                    let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(scheduled).await;
                    if sender.is_none() {
                        sender = connect(port).await;
                    }
                    let Some(s) = sender.as_mut() else {
                        errors += 1;
                        continue;
                    };
                    let req = hyper::Request::post(PATH)
                        .header("host", format!("127.0.0.1:{port}"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("authorization", AUTH)
                        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                        .unwrap_or_else(|e| panic!("{e}"));
                    let ok = match s.send_request(req).await {
                        Ok(resp) => resp.into_body().collect().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(scheduled.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                        sender = None;
                    }
                }
                (lat, errors)
            }));
        }
        let mut lat = Vec::with_capacity(total as usize);
        let mut errors = 0u64;
        for t in tasks {
            let (l, e) = t.await.unwrap_or_else(|e| panic!("{e}"));
            lat.extend(l);
            errors += e;
        }
        if errors > 0 {
            eprintln!("  warning: {errors} failed requests");
        }
        lat.sort_unstable();
        let p = |q: f64| {
            lat.get(((lat.len().max(1) - 1) as f64 * q) as usize)
                .copied()
                .unwrap_or(0) as f64
        };
        (p(0.5), p(0.99), p(0.999))
    })
}

/// One HTTP/1.1 keep-alive connection, its driver spawned.
async fn connect(port: u16) -> Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let mut missing = Vec::new();
    if !have("wrk") {
        missing.push("wrk");
    }
    if !nginx_bin().exists() && !have("nginx") {
        missing.push("nginx-light");
    }
    if !missing.is_empty() {
        install(&missing);
    }
    let seconds: u64 = env_or("TOLLGATE_BENCH_SECONDS", 8);
    let rounds: u64 = env_or("TOLLGATE_BENCH_ROUNDS", 3);
    let conns: u64 = env_or("TOLLGATE_BENCH_CONNECTIONS", 64);
    let dir = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/proxy");
    let (up, stock, tuned, tg) = (free_port(), free_port(), free_port(), free_port());
    let _nginx = start_nginx(&dir, up, stock, tuned);
    let _tollgate = start_tollgate(&dir, tg, up);

    println!("proxy benchmark: wrk -t1 -c{conns}, {seconds}s runs, {rounds} interleaved rounds");
    let [mut ns, mut nt, mut t, mut s, mut f]: [Vec<f64>; 5] = Default::default();
    // Warm-up (pools, allocator, counters).
    let (fixed, fresh) = (scripts.join("fixed.lua"), scripts.join("fresh.lua"));
    for port in [tg, stock, tuned] {
        wrk(port, &fixed, &[], 2, conns);
    }
    for r in 0..rounds {
        ns.push(wrk(stock, &fixed, &[], seconds, conns));
        nt.push(wrk(tuned, &fixed, &[], seconds, conns));
        t.push(wrk(tg, &fixed, &[], seconds, conns));
        s.push(wrk(tg, &fresh, &["one"], seconds, conns));
        f.push(wrk(tg, &fresh, &[], seconds, conns));
        let i = r as usize;
        println!(
            "  round {}: nginx stock {:.0}/s, nginx keepalive {:.0}/s, tollgate {:.0}/s; \
             through fresh.lua's generator: one number {:.0}/s, fresh numbers {:.0}/s",
            r + 1,
            ns[i],
            nt[i],
            t[i],
            s[i],
            f[i]
        );
    }
    let [nsm, ntm, tm, sm, fm] = [ns, nt, t, s, f].map(median);
    println!(
        "throughput (median): nginx proxy_pass stock {nsm:.0}/s, with upstream keepalive \
         {ntm:.0}/s; tollgate {tm:.0}/s"
    );
    println!(
        "  tollgate / nginx stock     = {:.2}  (stock proxy_pass: for reference)",
        tm / nsm
    );
    println!(
        "  tollgate / nginx keepalive = {:.2}  (target >= 1.0)",
        tm / ntm
    );
    // wrk runs on the same two cores: fresh.lua's per-request Lua costs it
    // more than fixed.lua's static request, so the flood is compared with
    // the same generator sending one number (`fresh.lua -- one`).
    println!(
        "  fresh flood / fixed        = {:.2}  (target >= 0.9; both through fresh.lua's generator)",
        fm / sm
    );
    println!(
        "  fresh flood / fixed.lua    = {:.2}  (the static request: also measures wrk's Lua)",
        fm / tm
    );

    let (rate, chosen) = match env_or("TOLLGATE_BENCH_RATE", 0u64) {
        0 => ((tm / 2.0).max(100.0), "half of tollgate's peak"),
        fixed => (fixed as f64, "TOLLGATE_BENCH_RATE"),
    };
    let lat_seconds = seconds.max(5);
    println!(
        "latency, open loop at {rate:.0} req/s ({chosen}) over {conns} connections, {lat_seconds}s each:"
    );
    let direct = open_loop(up, rate, lat_seconds, conns);
    let via_stock = open_loop(stock, rate, lat_seconds, conns);
    let via_tuned = open_loop(tuned, rate, lat_seconds, conns);
    let via_tollgate = open_loop(tg, rate, lat_seconds, conns);
    for (name, (p50, p99, p999)) in [
        ("direct upstream", direct),
        ("nginx stock", via_stock),
        ("nginx keepalive", via_tuned),
        ("tollgate", via_tollgate),
    ] {
        println!("  {name:<17} p50 {p50:>7.0} µs   p99 {p99:>7.0} µs   p99.9 {p999:>7.0} µs");
    }
    for (name, via, target) in [
        ("tollgate", via_tollgate, "  (target <= 1000 µs)"),
        ("nginx stock", via_stock, ""),
        ("nginx keepalive", via_tuned, ""),
    ] {
        println!(
            "  p99 added by {name:<15} over the direct upstream = {:>5.0} µs{target}",
            via.1 - direct.1
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
