//! Transparency: the proxy changes nothing it should not (the linkerd2-proxy
//! idea). For passthrough and allowed sends the upstream sees the client's
//! method, path, query, end-to-end headers and body; the client sees the
//! upstream's status, headers and body. Only `Host` (always the upstream's),
//! hop-by-hop headers and tollgate's own `X-Tollgate-*` headers change.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use http::{Method, Version};
use support::*;

const AUTH_USER: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_SECRET: &str = "sup3r-s3cret-auth-token";

/// The headers a client response carries that the fake's hyper adds itself.
const SERVER_ADDED: [&str; 2] = ["content-length", "date"];

/// What the upstream must have seen for a request the client sent with
/// `client_headers` (Host excluded): the same end-to-end headers and
/// `Host` = the fake.
fn assert_upstream_headers(
    rec: &Recorded,
    client_headers: &[(&str, &str)],
    fake: &FakeUpstream,
    body_len: Option<usize>,
) {
    let mut want = multimap(lower(client_headers));
    want.insert("host".into(), vec![fake.addr.to_string()]);
    if let Some(n) = body_len {
        want.entry("content-length".into())
            .or_insert_with(|| vec![n.to_string()]);
    }
    let got = multimap(rec.headers.clone());
    assert_eq!(got, want, "headers at the upstream");
}

/// The client's view of an answer: the fake's canned headers (plus what the
/// fake's own HTTP stack adds), body byte-identical.
fn assert_client_sees(resp: &RawResponse, canned: &Canned) {
    assert_eq!(resp.status, canned.status, "status");
    assert_eq!(resp.body, canned.body.to_vec(), "body");
    let mut got = multimap(resp.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    assert_eq!(got.remove("date").map(|d| d.len()), Some(1), "one date");
    // tollgate's own connection management (the client asked to close).
    got.remove("connection");
    assert_eq!(
        got.remove("content-length"),
        Some(vec![canned.body.len().to_string()]),
        "content-length"
    );
    let want = multimap(canned.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    let want: BTreeMap<_, _> = want
        .into_iter()
        .filter(|(k, _)| !SERVER_ADDED.contains(&k.as_str()))
        .collect();
    assert_eq!(got, want, "response headers at the client");
}

fn raw_head(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: tollgate.example\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn cookie_canned(status: u16, body: &str) -> Canned {
    Canned::new(
        status,
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("set-cookie", "a=1; Path=/; HttpOnly"),
            ("set-cookie", "b=2; Path=/"),
            ("x-twilio-request-id", "RQ0123"),
            ("X-Odd-CASE-Header", "Kept As Is"),
            ("cache-control", "no-store"),
            ("vary", "Accept"),
            ("vary", "Origin"),
        ],
        body.to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_get_is_unchanged_both_ways() {
    let canned = cookie_canned(203, r#"{"sid":"SM1","status":"delivered","body":"é"}"#);
    let fake = FakeUpstream::with(canned.clone()).await;
    let tg = Tollgate::builder().all_upstreams(&fake.url()).start().await;

    let auth = basic_auth(AUTH_USER, AUTH_SECRET);
    let target = "/2010-04-01/Accounts/AC1/Messages/SM1.json?PageSize=20&To=%2B14155550100&a=1&a=2&empty=&x=%E2%9C%93";
    let headers = [
        ("Accept", "application/json"),
        ("X-Custom-MiXeD-Case", "Value  With   Spaces"),
        ("X-Repeat", "one"),
        ("X-Repeat", "two"),
        ("x-REPEAT", "three"),
        ("Authorization", auth.as_str()),
        (
            "User-Agent",
            "twilio-python/9.0.0 (Linux x86_64) Python/3.12",
        ),
        ("Accept-Encoding", "gzip, deflate"),
        ("Cookie", "session=abc"),
    ];
    let resp = raw_request(tg.proxy, &raw_head("GET", target, &headers))
        .await
        .unwrap();

    let rec = fake.only();
    assert_eq!(rec.method, Method::GET);
    assert_eq!(rec.uri.to_string(), target, "path and query");
    assert_eq!(rec.version, Version::HTTP_11);
    assert_eq!(rec.body.len(), 0);
    assert_upstream_headers(&rec, &headers, &fake, None);
    assert_client_sees(&resp, &canned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passthrough_post_streams_a_body_larger_than_the_send_limit() {
    // The send-body limit does not apply to passthrough: it streams.
    let big_answer: String = "0123456789abcdef".repeat(20_000); // 320 KB back
    let canned = Canned::new(200, &[("content-type", "text/plain")], big_answer);
    let fake = FakeUpstream::with(canned.clone()).await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .config("[limits]\nmax_body_bytes = 1024\n")
        .start()
        .await;

    // 1. Chunked, written in pieces with pauses.
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut c = RawConn::connect(tg.proxy).await.unwrap();
    c.send(b"POST /2010-04-01/Accounts/AC1/Calls.json?x=1 HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nX-Thing: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    for piece in body.chunks(16_384) {
        c.send(format!("{:x}\r\n", piece.len()).as_bytes())
            .await
            .unwrap();
        c.send(piece).await.unwrap();
        c.send(b"\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.send(b"0\r\n\r\n").await.unwrap();
    let resp = c.read_response().await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.body,
        canned.body.to_vec(),
        "large answer streamed back"
    );
    let rec = fake.wait_for(1).await.remove(0);
    assert_eq!(
        rec.uri.to_string(),
        "/2010-04-01/Accounts/AC1/Calls.json?x=1"
    );
    assert_eq!(rec.body.len(), body.len());
    assert!(rec.body == body, "chunked passthrough body changed");
    assert_eq!(rec.header("x-thing").as_deref(), Some("1"));
    assert_eq!(
        rec.header("content-type").as_deref(),
        Some("application/octet-stream")
    );

    // 2. With a Content-Length.
    fake.clear();
    let body2: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let req = raw_post(
        "/v1/Account/MA1/Call/",
        &[("Content-Type", "application/octet-stream")],
        &body2,
    );
    let resp = raw_request(tg.proxy, &req).await.unwrap();
    assert_eq!(resp.status, 200);
    let rec = fake.only();
    assert_eq!(rec.header("content-length"), Some(body2.len().to_string()));
    assert!(rec.body == body2, "content-length passthrough body changed");
}

/// Sends one allowed send over raw HTTP/1.1 and checks both directions.
async fn allowed_send_is_unchanged(
    path: &str,
    content_type: &str,
    body: &[u8],
    auth: &str,
    canned: Canned,
) {
    let fake = FakeUpstream::with(canned.clone()).await;
    let tg = Tollgate::builder().all_upstreams(&fake.url()).start().await;
    let headers = [
        ("Content-Type", content_type),
        ("Authorization", auth),
        ("User-Agent", "sdk/1.0"),
        ("Accept", "application/json"),
        ("X-Idempotency-Key", "k-123"),
    ];
    let resp = raw_request(tg.proxy, &raw_post(path, &headers, body))
        .await
        .unwrap();
    let rec = fake.only();
    assert_eq!(rec.method, Method::POST);
    assert_eq!(rec.uri.to_string(), path);
    assert!(
        rec.body == body,
        "body changed:\n sent {:?}\n  got {:?}",
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&rec.body)
    );
    assert_eq!(rec.header("authorization").as_deref(), Some(auth));
    assert_eq!(rec.header("content-type").as_deref(), Some(content_type));
    // raw_post adds `Connection: close` (hop-by-hop, not forwarded).
    let mut sent: Vec<(&str, &str)> = headers.to_vec();
    let len = body.len().to_string();
    sent.push(("Content-Length", &len));
    assert_upstream_headers(&rec, &sent, &fake, None);
    assert_client_sees(&resp, &canned);
    assert_eq!(tg.wait_decisions(1).await[0]["action"], "allow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_twilio_message_arrives_byte_identical() {
    let body = b"To=%2B14155550100&From=%2B14155550000&Body=Hello+world%21+%C3%A9+%26+%3D&StatusCallback=https%3A%2F%2Fexample.com%2Fcb%3Fa%3D1&MediaUrl=https%3A%2F%2Fa.example%2F1.png&MediaUrl=https%3A%2F%2Fa.example%2F2.png";
    let canned = cookie_canned(
        201,
        r#"{"account_sid":"AC1","body":"Hello world! é & =","sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"+14155550100"}"#,
    );
    allowed_send_is_unchanged(
        "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
        "application/x-www-form-urlencoded",
        body,
        &basic_auth(AUTH_USER, AUTH_SECRET),
        canned,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_vonage_sms_json_arrives_byte_identical() {
    // Unusual but valid JSON spelling: whitespace, escapes, key order.
    let body = br#"{ "api_key":"abcd1234", "api_secret":"s3cr3t", "to":"447400123456",
  "from":"Acme", "text":"Hi \u00e9 \"quoted\" \/ done", "type":"unicode" }"#;
    let canned = Canned::new(
        200,
        &[("content-type", "application/json")],
        r#"{"message-count":"1","messages":[{"to":"447400123456","message-id":"0A0000000123ABCD1","status":"0","remaining-balance":"3.14","message-price":"0.03330000","network":"23410"}]}"#,
    );
    allowed_send_is_unchanged(
        "/sms/json",
        "application/json",
        body,
        &basic_auth("abcd1234", "s3cr3t"),
        canned,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_plivo_message_arrives_byte_identical() {
    let body = br#"{"src":"+14155550000","dst":"+14155550100","text":"Your code is 123456","type":"sms","url":"https://example.com/status","method":"POST"}"#;
    let canned = Canned::new(
        202,
        &[("content-type", "application/json")],
        r#"{"api_id":"db342550-e462-11e8-8f9d-0242ac110003","message":"message(s) queued","message_uuid":["db3ce55a-e462-11e8-8f9d-0242ac110003"]}"#,
    );
    allowed_send_is_unchanged(
        "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/",
        "application/json",
        body,
        &basic_auth("MAXXXXXXXXXXXXXXXXXX", "plivo-token"),
        canned,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_sinch_batch_arrives_byte_identical() {
    // What the sinch SDK sends: Python's `json.dumps` spacing, a `to` list.
    let body = br#"{"to": ["+447400123456", "+4915123456789"], "from": "+14155550100", "body": "Your code is 123456", "type": "mt_text", "callback_url": "https://example.com/dlr"}"#;
    let canned = Canned::new(
        201,
        &[("content-type", "application/json")],
        r#"{"id":"01FC66621XXXXX119Z8PMV1QPQ","to":["+447400123456","+4915123456789"],"from":"+14155550100","canceled":false,"body":"Your code is 123456","type":"mt_text"}"#,
    );
    allowed_send_is_unchanged(
        "/xms/v1/e2e0123456789abcdef0123456789abc/batches",
        "application/json",
        body,
        "Bearer sinch-api-token",
        canned,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_telnyx_message_arrives_byte_identical() {
    let body = br#"{"to":"+447400123456","from":"+18445550001","text":"Your code is 123456","webhook_url":"https://example.com/hook"}"#;
    let canned = Canned::new(
        200,
        &[("content-type", "application/json")],
        r#"{"data":{"record_type":"message","id":"40385f64-5717-4562-b3fc-2c963f66afa6","to":[{"phone_number":"+447400123456","status":"queued"}]}}"#,
    );
    allowed_send_is_unchanged(
        "/v2/messages",
        "application/json",
        body,
        "Bearer KEYtest_secret",
        canned,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_infobip_advanced_send_arrives_byte_identical() {
    let body = br#"{"messages":[{"destinations":[{"to":"447400123456","messageId":"m-1"},{"to":"4915123456789"}],"from":"InfoSMS","text":"Your code is 123456","notifyUrl":"https://example.com/dlr"}],"bulkId":"b-1"}"#;
    let canned = Canned::new(
        200,
        &[("content-type", "application/json")],
        r#"{"bulkId":"b-1","messages":[{"to":"447400123456","status":{"groupId":1,"groupName":"PENDING","id":26,"name":"PENDING_ACCEPTED","description":"Message sent to next instance"},"messageId":"m-1"}]}"#,
    );
    allowed_send_is_unchanged(
        "/sms/2/text/advanced",
        "application/json",
        body,
        "App infobip-api-key",
        canned,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_bird_message_arrives_byte_identical() {
    // Recipients as the Python SDK joins them, and as numbers (Go, Node).
    for body in [
        &br#"{"originator": "Tollgate", "body": "Your code is 123456", "recipients": "+447400123456,+4915123456789"}"#[..],
        br#"{"originator":"Tollgate","body":"Your code is 123456","recipients":[447400123456,4915123456789]}"#,
    ] {
        let canned = Canned::new(
            201,
            &[("content-type", "application/json")],
            r#"{"id":"e8077d803532c0b5937c639b60216938","recipients":{"totalCount":2,"totalSentCount":2,"items":[]}}"#,
        );
        allowed_send_is_unchanged(
            "/messages",
            "application/json",
            body,
            "AccessKey bird-access-key",
            canned,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_is_the_route_files_never_the_clients_host() {
    let fake = FakeUpstream::start().await;
    let tg = Tollgate::builder().all_upstreams(&fake.url()).start().await;
    let send_body = b"To=%2B14155550100&From=%2B14155550000&Body=hi";

    // Origin-form with a hostile Host.
    let req = format!(
        "POST /2010-04-01/Accounts/AC1/Messages.json HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        send_body.len()
    );
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(send_body);
    assert_eq!(raw_request(tg.proxy, &bytes).await.unwrap().status, 200);

    // Absolute-form naming another host, as a forward-proxy client would.
    let req = format!(
        "POST http://evil.example:8080/2010-04-01/Accounts/AC1/Messages.json HTTP/1.1\r\nHost: evil.example:8080\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        send_body.len()
    );
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(send_body);
    assert_eq!(raw_request(tg.proxy, &bytes).await.unwrap().status, 200);

    // Passthrough, absolute-form.
    let req = b"GET http://169.254.169.254/2010-04-01/Accounts/AC1.json?x=1 HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
    assert_eq!(raw_request(tg.proxy, req).await.unwrap().status, 200);

    // h2 with a hostile :authority.
    let r = send_h2c(
        tg.proxy,
        request(
            "GET",
            "http://evil.example/2010-04-01/Accounts/AC1.json",
            &[],
            "",
        ),
    )
    .await;
    assert_eq!(r.status, 200);

    let recs = fake.wait_for(4).await;
    let seen: Vec<(String, Option<String>)> = recs
        .iter()
        .map(|r| (r.uri.to_string(), r.header("host")))
        .collect();
    let host = Some(fake.addr.to_string());
    assert_eq!(
        seen,
        vec![
            (
                "/2010-04-01/Accounts/AC1/Messages.json".to_owned(),
                host.clone()
            ),
            (
                "/2010-04-01/Accounts/AC1/Messages.json".to_owned(),
                host.clone()
            ),
            ("/2010-04-01/Accounts/AC1.json?x=1".to_owned(), host.clone()),
            ("/2010-04-01/Accounts/AC1.json".to_owned(), host),
        ]
    );
    for r in &recs {
        assert_eq!(r.header_all("host").len(), 1, "one Host header");
    }
}

/// Headers a client may send that must never reach the upstream.
const STRIPPED: [(&str, &str); 9] = [
    ("Connection", "keep-alive, X-Foo"),
    ("X-Foo", "hop-by-hop because Connection names it"),
    ("Keep-Alive", "timeout=5, max=100"),
    ("TE", "trailers"),
    ("Upgrade", "websocket"),
    ("Proxy-Authorization", "Basic cHJveHk6cHJveHk="),
    ("X-Tollgate-Client-IP", "203.0.113.9"),
    ("X-Tollgate-Device", "device-123"),
    ("X-Tollgate-Session", "session-456"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_and_hop_by_hop_headers_are_not_forwarded() {
    let canned = Canned::new(
        200,
        &[
            ("content-type", "application/json"),
            ("connection", "x-bar"),
            ("x-bar", "hop-by-hop in the answer"),
            ("keep-alive", "timeout=5"),
            ("x-end-to-end", "kept"),
        ],
        r#"{"ok":true}"#,
    );
    let fake = FakeUpstream::with(canned).await;
    let tg = Tollgate::builder().all_upstreams(&fake.url()).start().await;
    let kept = [("X-Keep", "yes"), ("Accept", "*/*")];

    // Passthrough.
    let mut headers: Vec<(&str, &str)> = STRIPPED.to_vec();
    headers.extend(kept);
    let resp = raw_request(
        tg.proxy,
        &raw_head("GET", "/2010-04-01/Accounts/AC1.json", &headers),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-end-to-end"), Some("kept"));
    for h in ["x-bar", "keep-alive"] {
        assert_eq!(resp.header(h), None, "{h} in the answer reached the client");
    }

    // A send.
    let body = b"To=%2B14155550100&Body=hi";
    let mut send_headers = headers.clone();
    send_headers.push(("Content-Type", "application/x-www-form-urlencoded"));
    let len = body.len().to_string();
    send_headers.push(("Content-Length", &len));
    let mut req = raw_head(
        "POST",
        "/2010-04-01/Accounts/AC1/Messages.json",
        &send_headers,
    );
    req.extend_from_slice(body);
    let resp = raw_request(tg.proxy, &req).await.unwrap();
    assert_eq!(resp.status, 200);

    let recs = fake.wait_for(2).await;
    for (i, rec) in recs.iter().enumerate() {
        for (name, _) in STRIPPED {
            assert!(
                !rec.has_header(name),
                "request {i}: `{name}` reached the upstream: {:?}",
                rec.headers
            );
        }
    }
    assert_upstream_headers(&recs[0], &kept, &fake, None);
    let mut want_send: Vec<(&str, &str)> = kept.to_vec();
    want_send.push(("Content-Type", "application/x-www-form-urlencoded"));
    want_send.push(("Content-Length", &len));
    assert_upstream_headers(&recs[1], &want_send, &fake, None);
    assert!(recs[1].body == body.as_slice());
}

const TWILIO_FORM: &str = "To=%2B14155550100&From=%2B14155550000&Body=Hello+over+h2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_prior_knowledge_on_the_plain_listener() {
    let canned = cookie_canned(201, r#"{"sid":"SM1","status":"queued"}"#);
    let fake = FakeUpstream::with(canned.clone()).await;
    let tg = Tollgate::builder().all_upstreams(&fake.url()).start().await;
    let auth = basic_auth(AUTH_USER, AUTH_SECRET);

    // Passthrough.
    let r = send_h2c(
        tg.proxy,
        request(
            "GET",
            &tg.url("/2010-04-01/Accounts/AC1/Messages.json?PageSize=1"),
            &[("authorization", &auth), ("x-custom", "1")],
            "",
        ),
    )
    .await;
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.status.as_u16(), 201);
    assert_eq!(r.body, canned.body);
    let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1; Path=/; HttpOnly", "b=2; Path=/"]);

    // A send.
    let r = send_h2c(
        tg.proxy,
        request(
            "POST",
            &tg.url("/2010-04-01/Accounts/AC1/Messages.json"),
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            TWILIO_FORM,
        ),
    )
    .await;
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.status.as_u16(), 201);
    assert_eq!(r.body, canned.body);

    let recs = fake.wait_for(2).await;
    assert_eq!(
        recs[0].uri.to_string(),
        "/2010-04-01/Accounts/AC1/Messages.json?PageSize=1"
    );
    assert_eq!(recs[0].header("x-custom").as_deref(), Some("1"));
    assert_eq!(recs[0].header("host"), Some(fake.addr.to_string()));
    assert_eq!(recs[1].body, TWILIO_FORM.as_bytes());
    assert_eq!(recs[1].header("authorization"), Some(auth.clone()));
    assert_eq!(recs[1].header("host"), Some(fake.addr.to_string()));
    assert_eq!(tg.wait_decisions(1).await[0]["action"], "allow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_and_http11_by_alpn_on_the_tls_listener() {
    let canned = cookie_canned(201, r#"{"sid":"SM1","status":"queued"}"#);
    let fake = FakeUpstream::with(canned.clone()).await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .tls()
        .start()
        .await;
    let addr = tg.tls.expect("a TLS listener");
    let cert = tg.cert.as_ref().unwrap().cert_pem.clone();
    let auth = basic_auth(AUTH_USER, AUTH_SECRET);
    let base = format!("https://localhost:{}", addr.port());

    // h2: passthrough, then a send.
    let (alpn, r) = send_tls(
        addr,
        &cert,
        &[b"h2", b"http/1.1"],
        request(
            "GET",
            &format!("{base}/2010-04-01/Accounts/AC1.json?q=%2B1"),
            &[("authorization", &auth)],
            "",
        ),
    )
    .await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(r.version, Version::HTTP_2);
    assert_eq!(r.status.as_u16(), 201);
    assert_eq!(r.body, canned.body);
    assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);

    let (alpn, r) = send_tls(
        addr,
        &cert,
        &[b"h2"],
        request(
            "POST",
            &format!("{base}/2010-04-01/Accounts/AC1/Messages.json"),
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            TWILIO_FORM,
        ),
    )
    .await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(r.status.as_u16(), 201);
    assert_eq!(r.body, canned.body);

    // HTTP/1.1 by ALPN.
    let (alpn, r) = send_tls(
        addr,
        &cert,
        &[b"http/1.1"],
        request(
            "POST",
            "/2010-04-01/Accounts/AC1/Messages.json",
            &[
                ("host", "localhost"),
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            TWILIO_FORM,
        ),
    )
    .await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(r.version, Version::HTTP_11);
    assert_eq!(r.status.as_u16(), 201);
    assert_eq!(r.body, canned.body);

    let recs = fake.wait_for(3).await;
    assert_eq!(
        recs[0].uri.to_string(),
        "/2010-04-01/Accounts/AC1.json?q=%2B1"
    );
    for r in &recs[1..] {
        assert_eq!(r.body, TWILIO_FORM.as_bytes());
        assert_eq!(r.header("authorization"), Some(auth.clone()));
        assert_eq!(r.header("host"), Some(fake.addr.to_string()));
    }
    assert_eq!(tg.wait_decisions(2).await.len(), 2);
}
