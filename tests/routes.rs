//! Route files, `tollgate check`, shadow mode, multi-destination sends,
//! decision logs and shutdown.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const FORM: &str = "application/x-www-form-urlencoded";
const DENIED: &str = "+14155550199";

fn form(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut h = vec![("Content-Type", FORM)];
    h.extend_from_slice(headers);
    raw_post(path, &h, body)
}

fn json_post(path: &str, body: &[u8]) -> Vec<u8> {
    raw_post(path, &[("Content-Type", "application/json")], body)
}

/// A directory with copies of the shipped route files.
fn routes_dir_with_shipped() -> TempDir {
    let dir = TempDir::new("routes");
    for entry in std::fs::read_dir(shipped_routes_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            dir.write(
                p.file_name().unwrap().to_str().unwrap(),
                std::fs::read(&p).unwrap(),
            );
        }
    }
    dir
}

// ---------------------------------------------------------------------------
// A new provider is a new file
// ---------------------------------------------------------------------------

const SIGNALWIRE: &str = r#"# SignalWire speaks Twilio's LaML REST dialect under its own prefix.
provider = "signalwire"

[upstreams]
signalwire-api = "https://example.signalwire.com"

[[send]]
name = "messages"
path = "/api/laml/2010-04-01/Accounts/{account}/Messages.json"
upstream = "signalwire-api"
body = "form"
to = "To"
from = "From"
callback = "StatusCallback"
dialect = "twilio-message"

[send.answers.invalid_number]
status = 400
code = 21211
message = "SignalWire: {to} is not a valid phone number."
[send.answers.line_type]
status = 400
code = 21614
message = "SignalWire: {to} is not a mobile number."
[send.answers.geo]
status = 403
code = 21612
message = "SignalWire: {to} is outside the allowed regions."
[send.answers.fraud]
status = 422
code = 30450
message = "SignalWire: {to} was blocked as suspected SMS pumping."
[send.answers.malformed]
status = 400
code = 21604
message = "SignalWire: To is required."
[send.answers.too_large]
status = 413
code = 21617
message = "SignalWire: the message is too long."

[[passthrough]]
prefix = "/api/laml/"
upstream = "signalwire-api"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_with_an_existing_dialect_is_a_new_route_file_only() {
    let twilio_fake = FakeUpstream::start().await;
    let sw_fake = FakeUpstream::with(Canned::json(
        201,
        r#"{"sid":"SMsw","status":"queued","to":"+14155550100"}"#,
    ))
    .await;
    let dir = routes_dir_with_shipped();
    dir.write("signalwire.toml", SIGNALWIRE);
    let tg = Tollgate::builder()
        .routes(dir.path())
        .all_upstreams(&twilio_fake.url())
        .upstream("signalwire-api", &sw_fake.url())
        .policy(&policy_with_deny(&[DENIED], &[], &[]))
        .start()
        .await;
    let path = "/api/laml/2010-04-01/Accounts/PJ0123/Messages.json";
    let auth = basic_auth("PJ0123", "sw-token");

    // Allowed: reaches SignalWire's upstream byte-identical.
    let body = b"To=%2B14155550100&From=%2B14155550000&Body=Hello+from+SignalWire";
    let r = raw_request(
        tg.proxy,
        &form(path, &[("Authorization", auth.as_str())], body),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json(),
        json!({"sid":"SMsw","status":"queued","to":"+14155550100"})
    );
    let rec = sw_fake.only();
    assert_eq!(rec.uri.to_string(), path);
    assert_eq!(rec.body.as_ref(), body);
    assert_eq!(rec.header("authorization"), Some(auth.clone()));

    // Blocked: Twilio's shape, the new file's code and text.
    let r = raw_request(
        tg.proxy,
        &form(
            path,
            &[("Authorization", auth.as_str())],
            b"To=%2B14155550199&Body=hi",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json(),
        json!({
            "code": 30450,
            "message": "SignalWire: +14155550199 was blocked as suspected SMS pumping.",
            "more_info": "https://www.twilio.com/docs/errors/30450",
            "status": 422,
        })
    );
    let r = raw_request(tg.proxy, &form(path, &[], b"To=%2B1&Body=hi"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "SignalWire: +1 is not a valid phone number."
    );

    // Its passthrough prefix goes to its upstream too.
    let r = raw_request(
        tg.proxy,
        b"GET /api/laml/2010-04-01/Accounts/PJ0123/Messages/SMsw.json HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(sw_fake.count(), 2);

    // Decisions name the new provider and route.
    let d = tg.wait_decisions(3).await;
    assert_eq!(d[0]["provider"], "signalwire");
    assert_eq!(d[0]["route"], "signalwire.messages");
    assert_eq!(d[1]["action"], "block");

    // Twilio is untouched.
    let r = raw_request(
        tg.proxy,
        &form(
            "/2010-04-01/Accounts/AC1/Messages.json",
            &[],
            b"To=%2B14155550100&Body=hi",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(twilio_fake.count(), 1);
    assert_eq!(sw_fake.count(), 2);
}

// ---------------------------------------------------------------------------
// tollgate check
// ---------------------------------------------------------------------------

#[test]
fn check_accepts_the_shipped_files() {
    let shipped = shipped_routes_dir();
    let policy = shipped.parent().unwrap().join("policies/default.toml");
    for args in [
        vec!["check"],
        vec!["check", "--routes", shipped.to_str().unwrap()],
        vec![
            "check",
            "--routes",
            shipped.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    ] {
        let (status, stdout, stderr) = run_cli(&args);
        assert!(status.success(), "{args:?}: {status}\n{stdout}\n{stderr}");
        assert_eq!(stdout.lines().last(), Some("ok"), "{args:?}: {stdout}");
        assert!(stdout.contains("twilio.messages"), "{stdout}");
        assert!(stdout.contains("plivo.message"), "{stdout}");
    }
}

/// Runs `check` on the shipped files plus `broken.toml`; returns stderr.
fn check_broken(text: &str) -> (TempDir, String, String) {
    let dir = routes_dir_with_shipped();
    let path = dir.write("broken.toml", text);
    let (status, stdout, stderr) = run_cli(&["check", "--routes", dir.path().to_str().unwrap()]);
    assert!(!status.success(), "check accepted a broken file:\n{stdout}");
    assert_eq!(status.code(), Some(1));
    (dir, path.display().to_string(), stderr)
}

#[test]
fn check_reports_a_syntax_error_with_file_line_and_column() {
    let (_dir, path, stderr) = check_broken(
        "provider = \"acme\"\n\n[upstreams]\nacme-api = \"https://api.acme.test\"\n\n[[send]]\nname = \"sms\"\npath = \"/sms\"\nupstream = \"acme-api\"\nbody = \"form\"\nto = \"To\" oops\n",
    );
    // `oops` on line 11, after `to = "To" ` (column 11).
    let line = stderr.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(&format!("{path}:11:11: ")),
        "expected `{path}:11:11: message`, got:\n{stderr}"
    );
    assert!(line.len() > path.len() + 8, "no message: {line}");
}

#[test]
fn check_reports_an_unknown_key_with_file_line_and_column() {
    let (_dir, path, stderr) = check_broken(
        "provider = \"acme\"\n\n[upstreams]\nacme-api = \"https://api.acme.test\"\n\n[[passthrough]]\nprefix = \"/acme/\"\nupstraem = \"acme-api\"\n",
    );
    let line = stderr.lines().next().unwrap_or_default();
    assert!(
        line.starts_with(&format!("{path}:8:1: ")) && line.contains("upstraem"),
        "expected `{path}:8:1: … upstraem …`, got:\n{stderr}"
    );
}

#[test]
fn check_reports_a_semantic_error_with_file_line_and_column() {
    // Valid TOML, but the send names an upstream the file does not declare.
    let (_dir, path, stderr) = check_broken(
        "provider = \"acme\"\n\n[upstreams]\nacme-api = \"https://api.acme.test\"\n\n[[passthrough]]\nprefix = \"/acme/\"\nupstream = \"acme-apj\"\n",
    );
    let line = stderr.lines().next().unwrap_or_default();
    assert!(
        line.contains("acme-apj"),
        "the message names the bad upstream: {stderr}"
    );
    assert!(
        line.starts_with(&format!("{path}:8:")),
        "expected `{path}:8:COL: message` (the line of `upstream = \"acme-apj\"`), got:\n{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Shadow mode
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_forwards_a_blocked_send_and_logs_the_block() {
    let fake = FakeUpstream::with(Canned::json(201, r#"{"sid":"SM1","status":"queued"}"#)).await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .policy(&policy_with_deny(&[DENIED], &[], &[]))
        .shadow()
        .start()
        .await;
    let body = b"To=%2B14155550199&From=%2B14155550000&Body=hi";
    let r = raw_request(
        tg.proxy,
        &form("/2010-04-01/Accounts/AC1/Messages.json", &[], body),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.json(), json!({"sid":"SM1","status":"queued"}));
    assert_eq!(fake.only().body.as_ref(), body);

    let d = tg.wait_decisions(1).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0]["action"], "block");
    assert_eq!(d[0]["outcome"], "shadow_forwarded");
    assert_eq!(d[0]["shadow"], true);
    assert_eq!(d[0]["reasons"], "lists.deny_number");

    // An invalid number is forwarded too.
    let r = raw_request(
        tg.proxy,
        &form(
            "/v2/Services/VA1/Verifications",
            &[],
            b"To=%2B12&Channel=sms",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(fake.count(), 2);
    let d = tg.wait_decisions(2).await;
    assert_eq!(d[1]["action"], "block");
    assert_eq!(d[1]["outcome"], "shadow_forwarded");
}

// ---------------------------------------------------------------------------
// Plivo bulk sends
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plivo_bulk_drops_blocked_destinations_and_reports_them() {
    let answer = r#"{"api_id":"9a8e7d6c-0000-4000-8000-000000000001","message":"message(s) queued","message_uuid":["1b2c3d4e-0000-4000-8000-000000000002"]}"#;
    let fake = FakeUpstream::with(Canned::new(
        202,
        &[("content-type", "application/json"), ("x-plivo", "1")],
        answer,
    ))
    .await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .policy(&policy_with_deny(&[DENIED], &[], &[]))
        .start()
        .await;
    let path = "/v1/Account/MA1/Message/";
    let auth = basic_auth("MA1", "plivo-secret");

    let sent = r#"{"src":"+14155550000","dst":"+14155550199<+14155550100","text":"Your code is 4321","type":"sms","url":"https://example.com/cb","powerpack_uuid":null,"n":1.5,"flags":[true,false]}"#;
    let r = raw_request(
        tg.proxy,
        &raw_post(
            path,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            sent.as_bytes(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    let rec = fake.only();
    let forwarded = String::from_utf8(rec.body.to_vec()).unwrap();
    assert_eq!(
        forwarded,
        r#"{"src":"+14155550000","dst":"+14155550100","text":"Your code is 4321","type":"sms","url":"https://example.com/cb","powerpack_uuid":null,"n":1.5,"flags":[true,false]}"#
    );
    assert_eq!(
        rec.header("content-length"),
        Some(forwarded.len().to_string())
    );
    assert_eq!(rec.header("authorization"), Some(auth.clone()));
    assert_eq!(
        rec.header("content-type").as_deref(),
        Some("application/json")
    );

    // The client's answer: the provider's, plus the dropped number.
    let v = r.json();
    assert_eq!(
        v,
        json!({
            "api_id": "9a8e7d6c-0000-4000-8000-000000000001",
            "message": "message(s) queued",
            "message_uuid": ["1b2c3d4e-0000-4000-8000-000000000002"],
            "invalid_number": ["+14155550199"],
        })
    );
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["api_id", "message", "message_uuid", "invalid_number"]
    );
    assert_eq!(r.header("x-plivo"), Some("1"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );

    let d = tg.wait_decisions(2).await;
    let outcomes: Vec<(&str, &str)> = d
        .iter()
        .map(|x| {
            (
                x["action"].as_str().unwrap(),
                x["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(outcomes, [("block", "dropped"), ("allow", "forwarded")]);

    // Every destination blocked: refused, nothing forwarded.
    let r = raw_request(
        tg.proxy,
        &json_post(
            path,
            br#"{"src":"+14155550000","dst":"+14155550199<+12","text":"hi"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("+14155550199"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.count(), 1);
}

// ---------------------------------------------------------------------------
// Decision logs
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_masked_decision_line_per_scored_destination_and_no_secrets() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .policy(&policy_with_deny(&[DENIED], &[], &[]))
        .start()
        .await;
    let secret = "tw-auth-token-5ecr3t";
    let auth = basic_auth("AC0123456789abcdef0123456789abcdef", secret);

    // 1 destination (allowed).
    let r = raw_request(
        tg.proxy,
        &form(
            "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
            &[("Authorization", auth.as_str())],
            b"To=%2B14155550123&From=%2B14155550000&Body=Your+code+is+918273",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    // 3 destinations (one denied, one invalid, one allowed).
    let r = raw_request(
        tg.proxy,
        &raw_post(
            "/v1/Account/MA1/Message/",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &basic_auth("MA1", secret)),
            ],
            br#"{"src":"+14155550000","dst":"+14155550199<+12<+447400123456","text":"hi"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    // An email verification is not scored: no decision line.
    let r = raw_request(
        tg.proxy,
        &form(
            "/v2/Services/VA1/Verifications",
            &[("Authorization", auth.as_str())],
            b"To=someone%40example.com&Channel=email",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(fake.count(), 3);

    let d = tg.wait_decisions(4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let d2 = tg.decisions();
    assert_eq!(d2.len(), 4, "one line per scored destination: {d2:#?}");

    let summary: Vec<(String, String, String, String)> = d
        .iter()
        .map(|x| {
            (
                x["route"].as_str().unwrap().to_owned(),
                x["provider"].as_str().unwrap().to_owned(),
                x["action"].as_str().unwrap().to_owned(),
                x["reasons"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str, e: &str| (a.into(), b.into(), c.into(), e.into());
    assert_eq!(
        summary,
        vec![
            s("twilio.messages", "twilio", "allow", ""),
            s("plivo.message", "plivo", "block", "lists.deny_number"),
            s("plivo.message", "plivo", "block", "number.unparseable"),
            s("plivo.message", "plivo", "allow", ""),
        ]
    );
    for x in &d {
        for field in ["country", "line_type", "channel", "to", "outcome"] {
            assert!(x[field].is_string(), "`{field}` missing: {x}");
        }
        assert!(x["latency_us"].is_u64(), "latency_us: {x}");
        assert!(x["score"].is_u64(), "score: {x}");
    }
    assert_eq!(d[0]["line_type"], "fixed_line_or_mobile");
    assert_eq!(d[2]["line_type"], "unparseable");
    assert_eq!(d[0]["channel"], "sms");
    // Masked: last two digits only (plus the calling code when known).
    let to0 = d[0]["to"].as_str().unwrap();
    assert!(
        to0.starts_with('+') && to0.ends_with("23") && to0.contains('*'),
        "{to0}"
    );
    assert!(d[3]["to"].as_str().unwrap().ends_with("56"));

    let out = tg.stdout_text();
    let b64 = auth.trim_start_matches("Basic ");
    for leak in [
        "14155550123",
        "4155550123",
        "14155550199",
        "447400123456",
        secret,
        b64,
        "918273",
        "someone@example.com",
    ] {
        assert!(!out.contains(leak), "`{leak}` appears in the logs:\n{out}");
    }
    assert!(!tg.stderr_text().contains(secret));
}

// ---------------------------------------------------------------------------
// Shutdown
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let fake = FakeUpstream::with(Canned::json(201, r#"{"sid":"SMslow","status":"queued"}"#)).await;
    fake.set_mode(Mode::Delay(Duration::from_millis(1500)));
    let mut tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .config("[limits]\nshutdown_grace_s = 10\n")
        .start()
        .await;

    // An idle keep-alive connection must not hold shutdown up.
    let mut idle = RawConn::connect(tg.proxy).await.unwrap();
    idle.send(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(idle.read_response().await.unwrap().status, 404);

    let proxy = tg.proxy;
    let in_flight = tokio::spawn(async move {
        raw_request(
            proxy,
            &raw_post(
                "/2010-04-01/Accounts/AC1/Messages.json",
                &[("Content-Type", FORM)],
                b"To=%2B14155550100&Body=slow",
            ),
        )
        .await
    });
    fake.wait_for(1).await;
    let signalled = Instant::now();
    tg.sigterm();

    let r = tokio::time::timeout(Duration::from_secs(15), in_flight)
        .await
        .expect("the in-flight request finished")
        .unwrap()
        .expect("the in-flight request got an answer");
    assert_eq!(r.status, 201);
    assert_eq!(r.json(), json!({"sid":"SMslow","status":"queued"}));

    let status = tg
        .wait_exit(Duration::from_secs(12))
        .await
        .expect("tollgate exited within the grace period");
    assert!(status.success(), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "shutdown took {:?}",
        signalled.elapsed()
    );
    assert_eq!(fake.count(), 1);
    let logs = tg.json_logs();
    let messages: Vec<&str> = logs
        .iter()
        .filter_map(|v| v["fields"]["message"].as_str())
        .collect();
    assert!(messages.contains(&"stopped"), "{messages:?}");
}

/// `tollgate serve` without `--routes` runs on the embedded files: every
/// file in `routes/` must be one of them, byte for byte.
#[test]
fn every_shipped_route_file_is_embedded() {
    let dir = shipped_routes_dir();
    let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = format!("routes/{}", p.file_name().unwrap().to_string_lossy());
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    on_disk.sort();
    let mut embedded: Vec<(String, String)> = tollgate::route::EMBEDDED
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    embedded.sort();
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&embedded), names(&on_disk));
    assert!(
        embedded == on_disk,
        "an embedded route file differs from routes/"
    );
}
