//! Limits and bad input (issue 2, "Limits and bad input"): one test per
//! bullet. Every refusal is in the provider's shape where the provider would
//! have answered, in tollgate's neutral JSON otherwise, and nothing that
//! could send an SMS is forwarded or retried.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const TWILIO_MESSAGES: &str = "/2010-04-01/Accounts/AC1/Messages.json";
const TWILIO_VERIFY: &str = "/v2/Services/VA1/Verifications";
const FORM: &str = "application/x-www-form-urlencoded";

fn form(path: &str, body: &[u8]) -> Vec<u8> {
    raw_post(path, &[("Content-Type", FORM)], body)
}

fn json_post(path: &str, body: &[u8]) -> Vec<u8> {
    raw_post(path, &[("Content-Type", "application/json")], body)
}

/// A Twilio error body exactly.
fn twilio(code: i64, message: &str, status: u16) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

/// Checks an RFC 7807 problem body (the `instance` is a fresh UUID).
fn assert_problem(resp: &RawResponse, status: u16, kind: &str, title: &str) {
    assert_eq!(resp.status, status, "{}", resp.text());
    assert_eq!(
        resp.header("content-type"),
        Some("application/problem+json")
    );
    let v = resp.json();
    assert_eq!(v["type"], kind, "{v}");
    assert_eq!(v["title"], title, "{v}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    let instance = v["instance"].as_str().unwrap_or_default();
    assert_eq!(instance.len(), 36, "instance is a UUID: {v}");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["type", "title", "detail", "instance"]);
}

fn assert_neutral(resp: &RawResponse, status: u16, error: &str) {
    assert_eq!(resp.status, status, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v = resp.json();
    assert_eq!(v["error"], error, "{v}");
    assert_eq!(v["source"], "tollgate", "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

/// A valid Twilio form body padded (in `Body`) to exactly `len` bytes.
fn twilio_body_of_len(len: usize) -> Vec<u8> {
    let head = b"To=%2B14155550100&From=%2B14155550000&Body=";
    let mut b = head.to_vec();
    b.resize(len, b'a');
    b
}

// ---------------------------------------------------------------------------
// Body size limit
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_body_over_the_limit_is_413_in_the_providers_shape() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .config("[limits]\nmax_body_bytes = 1024\n")
        .start()
        .await;
    let too_large = twilio(
        21617,
        "The concatenated message body exceeds the 1600 character limit.",
        413,
    );

    // Honest Content-Length.
    let r = raw_request(tg.proxy, &form(TWILIO_MESSAGES, &twilio_body_of_len(1025)))
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json(), too_large);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    // Vonage Verify v2 and Plivo shapes.
    let big_json = format!(
        r#"{{"brand":"Acme","workflow":[{{"channel":"sms","to":"447400123456"}}],"pad":"{}"}}"#,
        "x".repeat(2000)
    );
    let r = raw_request(tg.proxy, &json_post("/v2/verify", big_json.as_bytes()))
        .await
        .unwrap();
    assert_problem(
        &r,
        413,
        "https://developer.vonage.com/api-errors#payload-too-large",
        "Payload Too Large",
    );
    let r = raw_request(
        tg.proxy,
        &json_post("/v1/Account/MA1/Message/", big_json.as_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 413);
    let v = r.json();
    assert_eq!(v["error"], "request body is too large");
    assert!(v["api_id"].is_string());

    // No Content-Length: chunked, 2 KB in small chunks, written at once (the
    // server answers after 1 KB and closes; a reset while the client is still
    // writing would lose the answer on the client's side).
    let mut chunked =
        format!("POST {TWILIO_MESSAGES} HTTP/1.1\r\nHost: t\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for piece in twilio_body_of_len(2048).chunks(100) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let mut c = RawConn::connect(tg.proxy).await.unwrap();
    c.send(&chunked).await.unwrap();
    let r = c.read_response().await.unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json(), too_large);

    // A lying Content-Length (10 MB declared, 20 bytes sent): refused at
    // once, without waiting for a body that never comes.
    let started = Instant::now();
    let mut c = RawConn::connect(tg.proxy).await.unwrap();
    c.send(
        format!(
            "POST {TWILIO_MESSAGES} HTTP/1.1\r\nHost: t\r\nContent-Type: {FORM}\r\nContent-Length: 10000000\r\n\r\nTo=%2B14155550100&B="
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), c.read_response())
        .await
        .expect("the 413 came without waiting for the body")
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.json(), too_large);
    assert!(started.elapsed() < Duration::from_secs(5));

    assert_eq!(fake.count(), 0, "nothing over the limit was forwarded");

    // The limit is inclusive: exactly 1024 bytes goes through.
    let r = raw_request(tg.proxy, &form(TWILIO_MESSAGES, &twilio_body_of_len(1024)))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(fake.only().body.len(), 1024);
}

// ---------------------------------------------------------------------------
// Slow clients
// ---------------------------------------------------------------------------

const SHORT_HEADER_TIMEOUT: &str = "[limits]\nheader_read_timeout_ms = 300\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_mid_headers_is_disconnected() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .config(SHORT_HEADER_TIMEOUT)
        .start()
        .await;

    // Half a request line, then half the headers.
    let mut half_line = RawConn::connect(tg.proxy).await.unwrap();
    half_line
        .send(b"POST /2010-04-01/Accounts/AC1/Mess")
        .await
        .unwrap();
    let mut half_headers = RawConn::connect(tg.proxy).await.unwrap();
    half_headers
        .send(format!("POST {TWILIO_MESSAGES} HTTP/1.1\r\nHost: t\r\nContent-Ty").as_bytes())
        .await
        .unwrap();

    // Meanwhile others are served.
    let ok = raw_request(
        tg.proxy,
        b"GET /2010-04-01/Accounts/AC1.json HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200);

    for (name, conn) in [
        ("half line", &mut half_line),
        ("half headers", &mut half_headers),
    ] {
        let took = conn
            .closed_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{name}: still connected after 10 s"));
        assert!(
            took < Duration::from_secs(5),
            "{name}: disconnected only after {took:?}"
        );
    }

    // Still serving.
    let ok = raw_request(
        tg.proxy,
        b"GET /2010-04-01/Accounts/AC1.json HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(fake.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_nothing_is_disconnected() {
    // Before the first byte the server does not yet know whether the
    // connection is HTTP/1.1 or h2; a silent (or one-byte) client must be
    // timed out all the same, or idle sockets pin connection slots forever.
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .config(SHORT_HEADER_TIMEOUT)
        .start()
        .await;
    let mut silent = RawConn::connect(tg.proxy).await.unwrap();
    let mut one_byte = RawConn::connect(tg.proxy).await.unwrap();
    one_byte.send(b"P").await.unwrap();
    let (silent, one_byte) = tokio::join!(
        silent.closed_within(Duration::from_secs(5)),
        one_byte.closed_within(Duration::from_secs(5))
    );
    let still_open: Vec<&str> = [("silent", silent), ("one byte", one_byte)]
        .into_iter()
        .filter(|(_, closed)| closed.is_none())
        .map(|(name, _)| name)
        .collect();
    assert!(
        still_open.is_empty(),
        "clients that sent no request head are still connected 5 s after a 300 ms header timeout: {still_open:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_whose_body_stalls_gets_408_and_is_not_forwarded() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .config("[limits]\nbody_read_timeout_ms = 400\n")
        .start()
        .await;

    // Content-Length promises 100 bytes, 20 come.
    let started = Instant::now();
    let mut c = RawConn::connect(tg.proxy).await.unwrap();
    c.send(
        format!(
            "POST {TWILIO_MESSAGES} HTTP/1.1\r\nHost: t\r\nContent-Type: {FORM}\r\nContent-Length: 100\r\n\r\nTo=%2B14155550100&Bo"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), c.read_response())
        .await
        .expect("a 408 before 10 s")
        .unwrap();
    assert_neutral(&r, 408, "request_timeout");
    assert!(started.elapsed() >= Duration::from_millis(350));

    // A chunked body that drips one byte every 50 ms never finishes in time.
    let mut c = RawConn::connect(tg.proxy).await.unwrap();
    c.send(
        format!(
            "POST /sms/json HTTP/1.1\r\nHost: t\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let drip = async {
        for b in b"to=447400123456&from=Acme&text=hello+there+this+is+slow".iter() {
            if c.send(format!("1\r\n{}\r\n", *b as char).as_bytes())
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(4), drip).await;
    let r = tokio::time::timeout(Duration::from_secs(10), c.read_response())
        .await
        .expect("a 408 for the drip")
        .unwrap();
    assert_neutral(&r, 408, "request_timeout");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.count(), 0, "a timed-out send reached the upstream");
}

// ---------------------------------------------------------------------------
// Malformed bodies
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_the_providers_400_and_are_not_forwarded() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder().all_upstreams(&fake.url()).start().await;
    let twilio_malformed = twilio(21604, "A 'To' phone number is required.", 400);

    // Twilio: invalid UTF-8 in a form body, no `To`, a JSON content type.
    for (ct, body) in [
        (FORM, &b"To=%2B14155550100&Body=caf\xe9\xff\xfe"[..]),
        (FORM, b"From=%2B14155550000&Body=hi"),
        (FORM, b""),
        ("application/json", br#"{"To":"+14155550100"}"#),
        ("multipart/form-data; boundary=x", b"--x--"),
    ] {
        let r = raw_request(
            tg.proxy,
            &raw_post(TWILIO_MESSAGES, &[("Content-Type", ct)], body),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 400, "{ct} {body:?}: {}", r.text());
        assert_eq!(r.json(), twilio_malformed, "{ct} {body:?}");
    }

    // Vonage Verify v2: not JSON, and JSON of the wrong shape.
    for body in [
        &br#"{"brand":"Acme","workflow":[{"channel":"sms","to":"4477"#[..],
        b"not json",
        b"\xff\xfe{}",
        br#"{"workflow": 5}"#,
        b"[]",
        b"null",
        b"123",
        br#""workflow""#,
        b"{}",
        br#"{"workflow":[]}"#,
        br#"{"workflow":[{"channel":"sms","to":{"a":1}}]}"#,
        br#"{"workflow":[{"channel":"sms","to":null}]}"#,
        br#"{"workflow":{"to":"447400123456"}}"#,
        br#"{"workflow":[{"channel":"sms","to":""}]}"#,
    ] {
        let r = raw_request(tg.proxy, &json_post("/v2/verify", body))
            .await
            .unwrap();
        assert_problem(
            &r,
            400,
            "https://developer.vonage.com/api-errors#bad-request",
            "Bad Request",
        );
    }

    // Vonage SMS: HTTP 200, status "2".
    let r = raw_request(tg.proxy, &json_post("/sms/json", b"{\"to\":"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"message-count":"1","messages":[{"to":"","status":"2","error-text":"Missing to param"}]})
    );

    // Plivo.
    for body in [
        &b"{\"dst\":"[..],
        br#"{"dst":5.5e400}"#,
        br#"{"src":"+1"}"#,
        b"[]",
    ] {
        let r = raw_request(tg.proxy, &json_post("/v1/Account/MA1/Message/", body))
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(
            r.json()["error"],
            "dst parameter is missing or the request body is not valid"
        );
    }

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.count(), 0, "a malformed send reached the upstream");
}

// ---------------------------------------------------------------------------
// Unknown routes
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_no_route_file_claims_gets_a_neutral_404() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder().all_upstreams(&fake.url()).start().await;
    let want = json!({
        "error": "unknown_route",
        "message": "no route file claims this path; see `tollgate check` for the routes served",
        "source": "tollgate",
    });
    for req in [
        &b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"[..],
        b"GET /nope?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /2010-04-01 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"DELETE /v3/anything HTTP/1.1\r\nHost: api.twilio.com\r\n\r\n",
        b"POST /sms HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
    ] {
        let r = raw_request(tg.proxy, req).await.unwrap();
        assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(req));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json(), want);
    }
    assert_eq!(fake.count(), 0);
}

// ---------------------------------------------------------------------------
// Blocked numbers
// ---------------------------------------------------------------------------

const DENIED: &str = "+14155550199";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_and_deny_listed_numbers_get_each_providers_refusal() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .policy(&policy_with_deny(&[DENIED], &["+1415666"], &[]))
        .start()
        .await;

    // Twilio Messages: invalid → 21211; denied number or range → 21408.
    let cases: [(&[u8], u16, Value); 6] = [
        (
            b"To=%2B12&Body=hi",
            400,
            twilio(21211, "The 'To' number +12 is not a valid phone number.", 400),
        ),
        (
            b"To=call-me-maybe&Body=hi",
            400,
            twilio(
                21211,
                "The 'To' number call-me-maybe is not a valid phone number.",
                400,
            ),
        ),
        (
            b"To=%2B14155550199&Body=hi",
            400,
            twilio(21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +14155550199", 400),
        ),
        (
            b"To=whatsapp%3A%2B14155550199&Body=hi",
            400,
            twilio(21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: whatsapp:+14155550199", 400),
        ),
        (
            b"To=%2B14156660123&Body=hi",
            400,
            twilio(21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +14156660123", 400),
        ),
        (
            b"To=%2B1%20(415)%20555-0199&Body=hi",
            400,
            twilio(21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +1 (415) 555-0199", 400),
        ),
    ];
    for (body, status, want) in cases {
        let r = raw_request(tg.proxy, &form(TWILIO_MESSAGES, body))
            .await
            .unwrap();
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.json(), want, "{}", String::from_utf8_lossy(body));
    }

    // Twilio Verify: invalid → 400 60200; denied → 403 60410.
    let r = raw_request(tg.proxy, &form(TWILIO_VERIFY, b"To=%2B12&Channel=sms"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), twilio(60200, "Invalid parameter `To`: +12", 400));
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_VERIFY, b"To=%2B14155550199&Channel=sms"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        twilio(
            60410,
            "The destination phone number has been temporarily blocked by Twilio due to fraudulent activities. +14155 prefix is blocked for the SMS channel",
            403
        )
    );

    // Vonage SMS: HTTP 200, status "7" (barred), "3" for an invalid number.
    let r = raw_request(
        tg.proxy,
        &json_post(
            "/sms/json",
            br#"{"api_key":"k","api_secret":"s","from":"Acme","to":"14155550199","text":"hi"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"message-count":"1","messages":[{"to":"14155550199","status":"7","error-text":"Number barred."}]})
    );
    let r = raw_request(
        tg.proxy,
        &form(
            "/sms/json",
            b"api_key=k&api_secret=s&from=Acme&to=12&text=hi",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"message-count":"1","messages":[{"to":"12","status":"3","error-text":"Invalid to address"}]})
    );

    // Vonage Verify v2: 403 problem.
    let r = raw_request(
        tg.proxy,
        &json_post(
            "/v2/verify",
            br#"{"brand":"Acme","workflow":[{"channel":"sms","to":"14155550199"}]}"#,
        ),
    )
    .await
    .unwrap();
    assert_problem(
        &r,
        403,
        "https://developer.vonage.com/api-errors#forbidden",
        "Forbidden",
    );

    // Plivo: 403 (the SDK raises its permission error).
    let r = raw_request(
        tg.proxy,
        &json_post(
            "/v1/Account/MA1/Message/",
            br#"{"src":"+14155550000","dst":"+14155550199","text":"hi"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
    let v = r.json();
    assert_eq!(
        v["error"],
        "This destination number is blocked due to suspected fraudulent traffic: +14155550199"
    );
    assert_eq!(v["api_id"].as_str().map(str::len), Some(36));
    assert_eq!(v.as_object().unwrap().len(), 2);

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.count(), 0, "a blocked send reached the upstream");

    // And an allowed number next to them still goes.
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_MESSAGES, b"To=%2B14155550100&Body=hi"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(fake.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_listed_country_gets_the_geo_refusal() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .policy(&policy_with_deny(&[], &[], &["NG"]))
        .start()
        .await;
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_MESSAGES, b"To=%2B2348031234567&Body=hi"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        twilio(21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +2348031234567", 400)
    );
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_VERIFY, b"To=%2B2348031234567&Channel=sms"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        twilio(
            60605,
            "Verification delivery attempt blocked by geo permissions",
            403
        )
    );
    let r = raw_request(
        tg.proxy,
        &json_post(
            "/sms/json",
            br#"{"api_key":"k","api_secret":"s","from":"Acme","to":"2348031234567","text":"hi"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        r.json(),
        json!({"message-count":"1","messages":[{"to":"2348031234567","status":"29","error-text":"Non-Whitelisted Destination"}]})
    );
    let d = tg.wait_decisions(3).await;
    assert_eq!(d[0]["country"], "NG");
    assert_eq!(d[0]["reasons"], "lists.deny_country");
    assert_eq!(fake.count(), 0);
    // A number of another country still goes.
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_MESSAGES, b"To=%2B447400123456&Body=hi"),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------------------
// Upstream failures
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_502_json() {
    let dead = format!("http://{}", dead_addr());
    let tg = Tollgate::builder().all_upstreams(&dead).start().await;
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_MESSAGES, b"To=%2B14155550100&Body=hi"),
    )
    .await
    .unwrap();
    assert_neutral(&r, 502, "upstream_unavailable");
    let r = raw_request(
        tg.proxy,
        b"GET /2010-04-01/Accounts/AC1.json HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .unwrap();
    assert_neutral(&r, 502, "upstream_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_too_slow_is_504_json_and_the_send_is_not_retried() {
    let fake = FakeUpstream::start().await;
    fake.set_mode(Mode::Delay(Duration::from_secs(4)));
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .config("[limits]\nupstream_response_timeout_ms = 400\n")
        .start()
        .await;
    let started = Instant::now();
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_MESSAGES, b"To=%2B14155550100&Body=hi"),
    )
    .await
    .unwrap();
    assert_neutral(&r, 504, "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "504 after {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fake.count(),
        1,
        "the send reached the upstream exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_closing_after_reading_a_send_is_502_and_never_retried() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder().all_upstreams(&fake.url()).start().await;

    // On a fresh upstream connection.
    fake.set_mode(Mode::CloseAfterRead);
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_MESSAGES, b"To=%2B14155550100&Body=first"),
    )
    .await
    .unwrap();
    assert_neutral(&r, 502, "upstream_unavailable");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fake.count(),
        1,
        "the send was retried: {:#?}",
        fake.requests()
    );

    // On a pooled connection that served a request before.
    fake.clear();
    fake.set_mode(Mode::Answer);
    let r = raw_request(
        tg.proxy,
        b"GET /2010-04-01/Accounts/AC1.json HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    fake.set_mode(Mode::CloseAfterRead);
    let r = raw_request(
        tg.proxy,
        &form(TWILIO_MESSAGES, b"To=%2B14155550100&Body=second"),
    )
    .await
    .unwrap();
    assert_neutral(&r, 502, "upstream_unavailable");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sends: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.body.as_ref() == b"To=%2B14155550100&Body=second")
        .collect();
    assert_eq!(sends.len(), 1, "the send was retried");
}

// ---------------------------------------------------------------------------
// Garbage
// ---------------------------------------------------------------------------

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn segment(&mut self) -> String {
        const CHARS: &[u8] = b"abcXYZ019-._~%20%2F%2B%00%FF!$&'()*+,;=:@";
        let n = 1 + self.below(12);
        let mut s = String::new();
        for _ in 0..n {
            let i = self.below(CHARS.len());
            let c = CHARS[i] as char;
            if c == '%' {
                s.push_str(*self.pick(&["%20", "%2F", "%2B", "%00", "%FF", "%E2%9C%93"]));
            } else {
                s.push(c);
            }
        }
        if self.below(10) == 0 {
            s = "..".into();
        }
        s
    }
    fn number(&mut self) -> String {
        let n = self.below(20);
        let digits: String = (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect();
        let prefix = *self.pick(&["+", "", "00", "whatsapp:+", "+ ", "++", "-", "tel:"]);
        match self.below(8) {
            0 => format!("{prefix}{digits}<{digits}<<+1"),
            1 => "é😀\u{0}".to_owned(),
            2 => "9".repeat(10_000),
            _ => format!("{prefix}{digits}"),
        }
    }
    fn json(&mut self, depth: usize) -> String {
        if depth > 4 {
            return format!("\"{}\"", self.number());
        }
        match self.below(9) {
            0 => "null".into(),
            1 => "1e400".into(),
            2 => format!("\"{}\"", self.number()),
            3 => "-0.0".into(),
            4 => "[".repeat(300) + &"]".repeat(300),
            5 | 6 => {
                let n = self.below(4);
                let items: Vec<String> = (0..n).map(|_| self.json(depth + 1)).collect();
                format!("[{}]", items.join(","))
            }
            _ => {
                let keys = [
                    "to", "To", "dst", "number", "workflow", "channel", "type", "country", "from",
                    "src", "api_key", "", "to[]",
                ];
                let n = 1 + self.below(4);
                let items: Vec<String> = (0..n)
                    .map(|_| format!("\"{}\":{}", self.pick(&keys), self.json(depth + 1)))
                    .collect();
                format!("{{{}}}", items.join(","))
            }
        }
    }
    fn form(&mut self) -> Vec<u8> {
        let keys = [
            "To", "to", "dst", "number", "Channel", "country", "Body", "", "To[]",
        ];
        let n = self.below(5);
        let mut out = Vec::new();
        for i in 0..n {
            if i > 0 {
                out.push(b'&');
            }
            out.extend_from_slice(self.pick(&keys).as_bytes());
            if self.below(5) > 0 {
                out.push(b'=');
            }
            let v = self.number();
            match self.below(3) {
                0 => out.extend_from_slice(v.as_bytes()),
                1 => out
                    .extend(form_urlencoded::byte_serialize(v.as_bytes()).flat_map(|s| s.bytes())),
                _ => out.extend_from_slice(b"%zz%%%E2%82"),
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_send_routes_never_gets_a_5xx_or_crashes() {
    let fake = FakeUpstream::start().await;
    let mut tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .policy(&policy_with_deny(&[DENIED], &["+1415666"], &[]))
        .start()
        .await;
    let mut rng = Rng(0x7011_6a7e_5eed_0001);
    // A fresh connection per request: tollgate rightly closes a connection
    // when it answers before reading a garbage body, and a pooled client can
    // race that close with its next request (a client-side error that says
    // nothing about the server).
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<http_body_util::Full<bytes::Bytes>>();

    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..400 {
        let path = match rng.below(9) {
            0 => format!("/2010-04-01/Accounts/{}/Messages.json", rng.segment()),
            1 => format!("/v2/Services/{}/Verifications", rng.segment()),
            2 => "/sms/json".to_owned(),
            3 => "/v2/verify".to_owned(),
            4 => "/verify/json".to_owned(),
            5 => "/v1/messages".to_owned(),
            6 => format!("/v1/Account/{}/Message/", rng.segment()),
            7 => format!("/v2/Services/{}/VerificationCheck", rng.segment()),
            _ => format!("/{}/{}", rng.segment(), rng.segment()),
        };
        let ct = *rng.pick(&[
            "",
            FORM,
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
            "multipart/form-data; boundary=zz",
            "text/plain",
            ";;;",
            "application/x-www-form-urlencoded; charset=latin1",
        ]);
        let body: Vec<u8> = match rng.below(4) {
            0 => {
                let n = rng.below(3000);
                rng.bytes(n)
            }
            1 => rng.json(0).into_bytes(),
            2 => rng.form(),
            _ => {
                let mut j = rng.json(0).into_bytes();
                let cut = rng.below(j.len() + 1);
                j.truncate(cut);
                j
            }
        };
        let method = *rng.pick(&["POST", "POST", "POST", "PUT", "GET"]);
        let mut b = http::Request::builder().method(method).uri(tg.url(&path));
        if !ct.is_empty() {
            b = b.header("content-type", ct);
        }
        if rng.below(3) == 0 {
            b = b.header("authorization", format!("Basic {}", rng.segment()));
        }
        let req = b
            .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
            .unwrap_or_else(|e| panic!("request {i} {path}: {e}"));
        let resp = tokio::time::timeout(WAIT, client.request(req))
            .await
            .unwrap_or_else(|_| panic!("request {i} ({method} {path}) got no answer"))
            .unwrap_or_else(|e| panic!("request {i} ({method} {path}) failed: {e}"));
        let status = resp.status().as_u16();
        let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
        *statuses.entry(status).or_default() += 1;
        assert!(
            status < 500 || status == 502 || status == 504,
            "request {i}: {method} {path} ({ct}) {:?} -> {status}",
            String::from_utf8_lossy(&body)
        );
    }

    // Garbage at the HTTP layer too.
    for i in 0..60 {
        let n = 1 + rng.below(400);
        let mut junk = rng.bytes(n);
        if i % 2 == 0 {
            let mut head = b"POST /sms/json HTTP/1.1\r\nContent-Length: ".to_vec();
            head.extend_from_slice(
                rng.pick(&["-1", "99999999999999999999", "1, 2", "abc"])
                    .as_bytes(),
            );
            head.extend_from_slice(b"\r\n\r\n");
            head.extend_from_slice(&junk);
            junk = head;
        }
        if let Ok(mut c) = RawConn::connect(tg.proxy).await {
            let _ = c.send(&junk).await;
            if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(5), c.read_response()).await
            {
                assert!(r.status < 500, "raw junk {i} -> {}", r.status);
            }
        }
    }

    assert!(tg.is_running(), "tollgate died:\n{}", tg.stderr_text());
    assert!(tg.healthy().await, "/healthz failed after the garbage");
    let ok = raw_request(
        tg.proxy,
        &form(TWILIO_MESSAGES, b"To=%2B14155550100&Body=still+alive"),
    )
    .await
    .unwrap();
    assert_eq!(ok.status, 200, "statuses seen: {statuses:?}");
    assert!(
        !tg.stderr_text().contains("panicked"),
        "a panic was logged:\n{}",
        tg.stderr_text()
    );
}
