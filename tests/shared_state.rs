//! Counters shared across replicas through a real `redis-server`: two
//! tollgate processes behind one Redis score one number as one process
//! would; without `[shared]` they do not; with Redis hung or gone, sends
//! are still scored and forwarded at once, and the replicas catch up when
//! Redis is back.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const MESSAGES: &str = "/2010-04-01/Accounts/AC1/Messages.json";
const FORM: &str = "application/x-www-form-urlencoded";
/// A valid GB mobile: the default policy allows up to 4 sends an hour to
/// one number (`velocity.number`), then adds 25 and 10 per extra send.
const BODY: &[u8] = b"To=%2B447400123456&Body=hi";

// ---------------------------------------------------------------------------
// A real redis-server on a free port
// ---------------------------------------------------------------------------

struct Redis {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl Redis {
    fn start() -> Redis {
        let port = dead_addr().port();
        let mut r = Redis {
            child: None,
            port,
            dir: TempDir::new("redis"),
        };
        r.spawn();
        r
    }

    /// Starts (again) on the same port, empty (no persistence).
    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `redis-server` ({e}): install it (Debian: \
                     apt-get install redis-server; tests/run.sh does)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while !ping(self.addr()) {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(Child::id).expect("redis running");
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} redis-server");
    }

    /// Kills it: every connection drops, the data is gone.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `PING` answered with `+PONG`.
fn ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

// ---------------------------------------------------------------------------
// Replicas
// ---------------------------------------------------------------------------

fn shared_config(redis: &Redis) -> String {
    format!(
        "[shared]\nredis = \"{}\"\nflush_interval = \"50ms\"\nstream = \"test:counts\"\n",
        redis.url()
    )
}

async fn replica(upstream: &FakeUpstream, config: Option<&str>) -> Tollgate {
    // The default policy with every stop worth its user: these tests are
    // about counting across replicas, not about the trade (whose tests
    // are the engine's).
    let policy =
        include_str!("../policies/default.toml").replace("user_value = 1.0", "user_value = 0.0");
    let mut b = Tollgate::builder()
        .all_upstreams(&upstream.url())
        .policy(&policy);
    if let Some(c) = config {
        b = b.config(c);
    }
    b.start().await
}

/// One send to the number; the answer and how long it took.
async fn send(tg: &Tollgate) -> (RawResponse, Duration) {
    let t = Instant::now();
    let r = raw_request(
        tg.proxy,
        &raw_post(MESSAGES, &[("Content-Type", FORM)], BODY),
    )
    .await
    .expect("the proxy answers");
    (r, t.elapsed())
}

/// A counter or gauge from the replica's `/metrics`.
async fn metric(tg: &Tollgate, name: &str) -> u64 {
    let r = raw_request(tg.admin, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .expect("metrics");
    let text = r.text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Waits until `tg` has counted at least `n` events of other replicas.
async fn wait_applied(tg: &Tollgate, n: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = metric(tg, "tollgate_shared_applied_events_total").await;
        if got >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "applied {got} remote events, expected {n}:\n{}",
            tg.stdout_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last decision line's (action, score, reasons).
async fn last_decision(tg: &Tollgate, count: usize) -> (String, u64, String) {
    let d = tg.wait_decisions(count).await;
    let f = &d[count - 1];
    (
        f["action"].as_str().unwrap_or("").to_owned(),
        f["score"].as_u64().unwrap_or(0),
        f["reasons"].as_str().unwrap_or("").to_owned(),
    )
}

/// Sends to one number alternately through `a` and `b`, `n` times, each
/// replica waiting (when `shared`) until it has counted the other's sends
/// before its own. Returns every decision in send order.
async fn alternate(
    a: &Tollgate,
    b: &Tollgate,
    n: usize,
    shared: bool,
) -> Vec<(String, u64, String)> {
    let mut decisions = Vec::new();
    let (mut on_a, mut on_b) = (0usize, 0usize);
    for i in 0..n {
        let (me, mine, theirs) = if i % 2 == 0 {
            (a, &mut on_a, on_b)
        } else {
            (b, &mut on_b, on_a)
        };
        if shared {
            wait_applied(me, theirs as u64).await;
        }
        let (r, _) = send(me).await;
        assert!(r.status < 500, "send {i}: {}", r.text());
        *mine += 1;
        decisions.push(last_decision(me, *mine).await);
    }
    decisions
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_score_one_number_as_one_process() {
    let redis = Redis::start();
    let upstream = FakeUpstream::start().await;
    let cfg = shared_config(&redis);
    let a = replica(&upstream, Some(&cfg)).await;
    let b = replica(&upstream, Some(&cfg)).await;
    let d = alternate(&a, &b, 11, true).await;
    // Sends 1-4 are within the limit; from the 5th each one adds weight, as
    // in one process: 25, 35, 45, 55, 65 (held), 75 (held), 85 (blocked).
    for (i, (action, score, reasons)) in d.iter().enumerate() {
        if i < 4 {
            assert!(
                !reasons.contains("velocity.number"),
                "send {}: {reasons}",
                i + 1
            );
        } else {
            assert!(
                reasons.contains("velocity.number"),
                "send {}: {reasons}",
                i + 1
            );
            assert!(
                *score >= 25 + 10 * (i as u64 - 4),
                "send {}: {score}",
                i + 1
            );
        }
        if i == 10 {
            assert_eq!(action, "block", "the 11th send: {score} {reasons}");
        }
    }
    // The two held sends and the blocked one never reached the provider.
    assert_eq!(upstream.count(), 8);
    // A published its first five sends (the sixth may still wait for a flush).
    assert!(metric(&a, "tollgate_shared_published_events_total").await >= 5);
    assert_eq!(metric(&a, "tollgate_shared_dropped_total").await, 0);

    // A replica started now counts the stream's recent history first: its
    // first send to the number is the twelfth.
    let c = replica(&upstream, Some(&cfg)).await;
    wait_applied(&c, 11).await;
    let (r, _) = send(&c).await;
    assert!(r.status < 500, "{}", r.text());
    let (action, score, reasons) = last_decision(&c, 1).await;
    assert_eq!(action, "block", "{score} {reasons}");
    assert_eq!(upstream.count(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_shared_counters_each_replica_sees_only_its_own_sends() {
    let upstream = FakeUpstream::start().await;
    let a = replica(&upstream, None).await;
    let b = replica(&upstream, None).await;
    let d = alternate(&a, &b, 11, false).await;
    // Each replica saw at most 6 sends: the 5th and 6th on A add weight,
    // nothing comes near a hold, and every send is forwarded.
    for (i, (action, score, reasons)) in d.iter().enumerate() {
        assert_eq!(action, "allow", "send {}: {score} {reasons}", i + 1);
        // A's sends are 1, 3, 5, 7, 9, 11: its 5th own send is the 9th.
        assert_eq!(
            reasons.contains("velocity.number"),
            i >= 8,
            "send {}: {reasons}",
            i + 1
        );
    }
    upstream.wait_for(11).await;
    assert_eq!(upstream.count(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_served_at_once_while_redis_hangs_or_is_gone_and_counts_catch_up() {
    let mut redis = Redis::start();
    let upstream = FakeUpstream::start().await;
    let cfg = shared_config(&redis);
    let a = replica(&upstream, Some(&cfg)).await;
    let b = replica(&upstream, Some(&cfg)).await;
    let (r, _) = send(&a).await;
    assert_eq!(r.status, 200, "{}", r.text());
    wait_applied(&b, 1).await;

    // Hung (SIGSTOP: connections open, nothing answers), then gone.
    redis.signal("-STOP");
    let mut sent = 1;
    for phase in ["hung", "gone"] {
        for _ in 0..2 {
            let (r, took) = send(&a).await;
            sent += 1;
            assert_eq!(r.status, 200, "{phase}: {}", r.text());
            // Redis calls time out after 2 s: a send waiting on one would
            // take at least that.
            assert!(
                took < Duration::from_secs(1),
                "{phase}: a send took {took:?}"
            );
            upstream.wait_for(sent).await;
            // Let the publisher try (and fail) in the meantime.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        if phase == "hung" {
            redis.kill();
        }
    }
    assert!(
        metric(&a, "tollgate_shared_buffered_events").await >= 1,
        "nothing waits for Redis"
    );
    // B scored alone meanwhile: it has counted one of A's five sends.
    assert_eq!(metric(&b, "tollgate_shared_applied_events_total").await, 1);

    // Back (empty): A publishes what it buffered, B counts it, and B's own
    // next send to the number is the sixth within the hour.
    redis.spawn();
    wait_applied(&b, 5).await;
    let (r, took) = send(&b).await;
    assert!(
        r.status < 500 && took < Duration::from_secs(1),
        "{took:?} {}",
        r.text()
    );
    let (_, score, reasons) = last_decision(&b, 1).await;
    assert!(reasons.contains("velocity.number"), "{score} {reasons}");
    assert!(metric(&a, "tollgate_shared_publish_errors_total").await >= 1);
    assert_eq!(metric(&a, "tollgate_shared_buffered_events").await, 0);
    assert_eq!(metric(&a, "tollgate_shared_dropped_total").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_starts_and_serves_when_redis_is_not_there() {
    let upstream = FakeUpstream::start().await;
    let cfg = format!("[shared]\nredis = \"redis://{}\"\n", dead_addr());
    let a = replica(&upstream, Some(&cfg)).await;
    for _ in 0..3 {
        let (r, took) = send(&a).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(took < Duration::from_secs(1), "a send took {took:?}");
    }
    let deadline = Instant::now() + WAIT;
    while metric(&a, "tollgate_shared_publish_errors_total").await == 0 {
        assert!(Instant::now() < deadline, "no publish error counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&a, "tollgate_shared_connected").await, 0);
    assert_eq!(upstream.count(), 3);
}

#[test]
fn a_bad_shared_section_stops_start_up_with_its_reason() {
    let dir = TempDir::new("shared-config");
    let data = dir.path().join("data").display().to_string();
    for (toml, want) in [
        ("[shared]\nredis = \"http://127.0.0.1:1\"\n", "shared.redis"),
        (
            "[shared]\nredis = \"redis://127.0.0.1:1\"\nflush = \"1s\"\n",
            "3:1: unknown field `flush`",
        ),
        (
            "[shared]\nredis = \"redis://127.0.0.1:1\"\nflush_interval = \"1 s\"\n",
            "not a duration",
        ),
    ] {
        let cfg = dir.write("config.toml", toml).display().to_string();
        let (status, _, stderr) = run_cli(&[
            "serve",
            "--config",
            &cfg,
            "--data-dir",
            &data,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ]);
        assert!(!status.success(), "{toml}");
        assert!(stderr.contains(want), "{toml}: {stderr}");
    }
}
