//! `tollgate serve --warm`: history counted before the first request. A
//! number that converted in the history is trusted from the start, and a
//! country the history shows not converting is held from the start; a
//! cold engine knows neither.

mod support;

use support::*;

const MESSAGES: &str = "/2010-04-01/Accounts/AC1/Messages.json";
const FORM: &str = "application/x-www-form-urlencoded";

/// The last three hours: twenty GB numbers sent to, one of them verified.
fn history() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ts = |ms: i64| tollgate::clock::Timestamp(ms).to_rfc3339();
    let mut out = String::new();
    for i in 0..20i64 {
        let at = now - 3 * 3_600_000 + i * 60_000;
        out.push_str(&format!(
            "{{\"ts\":\"{}\",\"event\":\"send\",\"to\":\"+4474001234{i:02}\"}}\n",
            ts(at)
        ));
        if i == 0 {
            out.push_str(&format!(
                "{{\"ts\":\"{}\",\"event\":\"conversion\",\"to\":\"+447400123400\"}}\n",
                ts(at + 30_000)
            ));
        }
    }
    // An hour from now: left out, as the clock has not got there.
    out.push_str(&format!(
        "{{\"ts\":\"{}\",\"event\":\"send\",\"to\":\"+447400123499\"}}\n",
        ts(now + 3_600_000)
    ));
    out
}

async fn send(tg: &Tollgate, to: &str) -> RawResponse {
    let body = format!("To={}&Body=hi", to.replace('+', "%2B"));
    raw_request(
        tg.proxy,
        &raw_post(MESSAGES, &[("Content-Type", FORM)], body.as_bytes()),
    )
    .await
    .unwrap()
}

async fn start(api: &FakeUpstream, warm: Option<&TempDir>) -> Tollgate {
    let mut b = Tollgate::builder()
        .policy(&format!(
            // Every stop worth its user: this is about what the warm
            // start teaches, not about the trade.
            "{}\n[[conversion.rules]]\nkey = \"country\"\nwindow = \"24h\"\nmin_sends = 5\nbelow = 0.1\nweight = 60\n[economics]\nuser_value = 0.0\n",
            policy_with_deny(&[], &[], &[])
        ))
        .upstream("twilio-api", &api.url());
    if let Some(dir) = warm {
        let path = dir.path().join("history.jsonl");
        b = b.arg("--warm").arg(path.to_str().unwrap());
    }
    b.start().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warmed_engine_trusts_who_verified_and_holds_where_nobody_does() {
    let api = FakeUpstream::start().await;
    let dir = TempDir::new("warm-history");
    dir.write("history.jsonl", history());
    let tg = start(&api, Some(&dir)).await;
    let log = tg.wait_log("counted the warm history").await;
    let fields = &log["fields"];
    assert_eq!(fields["sends"], 20, "{log}");
    assert_eq!(fields["conversions"], 1, "{log}");
    assert_eq!(fields["left_out_recent"], 1, "{log}");
    // Verified in the history: trusted, forwarded.
    let r = send(&tg, "+447400123400").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(api.count(), 1);
    // A new GB number: 1 conversion in 20 sends, held.
    send(&tg, "+447400123477").await;
    assert_eq!(api.count(), 1, "a held send is not forwarded");
    let d = tg.wait_decisions(2).await;
    assert_eq!(d[1]["action"], "hold", "{}", d[1]);
    assert!(
        d[1]["reasons"]
            .as_str()
            .unwrap()
            .contains("conversion.country"),
        "{}",
        d[1]
    );

    // The same two sends to a cold engine: both forwarded.
    let api = FakeUpstream::start().await;
    let cold = start(&api, None).await;
    send(&cold, "+447400123400").await;
    send(&cold, "+447400123477").await;
    assert_eq!(api.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_that_cannot_warm_stops_the_start_with_the_reason() {
    let dir = TempDir::new("warm-bad");
    let no_conversions = dir.write(
        "sends.jsonl",
        "{\"ts\":\"2026-10-01T10:00:00Z\",\"event\":\"send\",\"to\":\"+447400123456\"}\n",
    );
    for (path, expected) in [
        (no_conversions, "no conversions"),
        (dir.path().join("missing.jsonl"), "reading the warm history"),
    ] {
        let out = serve_until_exit(
            &dir.path().join("data"),
            &["--warm".as_ref(), path.as_os_str()],
            &[],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{err}");
    }
}
