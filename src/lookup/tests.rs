//! The lookup client against a local fake Lookup v2 server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::*;
use crate::upstream::Timeouts;

const RISKY: &str = r#"{"phone_number":"+2348031234567","valid":true,
  "line_type_intelligence":{"error_code":null,"carrier_name":"X","type":"nonFixedVoip"},
  "sms_pumping_risk":{"carrier_risk_category":"high","number_blocked":false,"sms_pumping_risk_score":91,"error_code":null}}"#;

/// A fake that answers `body` after `delay_ms`, recording paths and auth.
async fn fake(
    body: &'static str,
    delay_ms: u64,
) -> (
    SocketAddr,
    Arc<AtomicUsize>,
    Arc<Mutex<Vec<(String, String)>>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (h, s) = (hits.clone(), seen.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (h, s) = (h.clone(), s.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (h, s) = (h.clone(), s.clone());
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        s.lock().unwrap().push((req.uri().to_string(), auth));
                        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            body.as_bytes(),
                        ))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, hits, seen)
}

fn lookup(addr: SocketAddr, f: impl FnOnce(&mut Config)) -> Lookup {
    std::env::set_var("TOLLGATE_TEST_LOOKUP_SID", "AC123");
    std::env::set_var("TOLLGATE_TEST_LOOKUP_TOKEN", "secret");
    let mut cfg = Config {
        enabled: true,
        account_sid_env: "TOLLGATE_TEST_LOOKUP_SID".into(),
        auth_token_env: "TOLLGATE_TEST_LOOKUP_TOKEN".into(),
        budget_ms: 500,
        ..Config::default()
    };
    f(&mut cfg);
    Lookup::build(
        cfg,
        &format!("http://{addr}"),
        UpstreamClient::new(&Timeouts::default(), None).unwrap(),
    )
    .unwrap()
}

fn codes(l: &Lookup, o: &Outcome) -> Vec<(&'static str, u32)> {
    let mut out = Vec::new();
    l.signals(o, &mut out);
    out.iter().map(|r| (r.code, r.weight)).collect()
}

#[tokio::test]
async fn asks_for_both_fields_with_basic_auth_and_scores_the_answer() {
    let (addr, _, seen) = fake(RISKY, 0).await;
    let l = lookup(addr, |_| {});
    let o = l.enrich("2348031234567").await;
    assert_eq!(
        codes(&l, &o),
        [("lookup.sms_pumping_risk", 60), ("lookup.line_type", 30)]
    );
    let (uri, auth) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        uri,
        "/v2/PhoneNumbers/%2B2348031234567?Fields=sms_pumping_risk%2Cline_type_intelligence"
    );
    assert_eq!(
        auth,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("AC123:secret")
        )
    );
}

#[tokio::test]
async fn answers_are_cached_per_number() {
    let (addr, hits, _) = fake(RISKY, 0).await;
    let l = lookup(addr, |_| {});
    l.enrich("2348031234567").await;
    l.enrich("2348031234567").await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    l.enrich("2348031234568").await;
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_slow_service_misses_the_budget_and_fails_open_or_closed() {
    let (addr, _, _) = fake(RISKY, 400).await;
    let open = lookup(addr, |c| c.budget_ms = 50);
    let started = std::time::Instant::now();
    let o = open.enrich("2348031234567").await;
    assert!(started.elapsed() < std::time::Duration::from_millis(300));
    assert!(matches!(o, Outcome::Unavailable(_)));
    assert!(codes(&open, &o).is_empty());
    let closed = lookup(addr, |c| {
        c.budget_ms = 50;
        c.on_error = OnError::Closed;
    });
    let o = closed.enrich("2348031234567").await;
    assert_eq!(codes(&closed, &o), [("lookup.unavailable", 30)]);
}

#[tokio::test]
async fn a_service_that_is_down_or_talks_nonsense_is_unavailable() {
    let l = lookup("127.0.0.1:9".parse().unwrap(), |_| {});
    assert!(matches!(
        l.enrich("2348031234567").await,
        Outcome::Unavailable(_)
    ));
    let (addr, _, _) = fake("<html>oops</html>", 0).await;
    let l = lookup(addr, |_| {});
    assert!(matches!(
        l.enrich("2348031234567").await,
        Outcome::Unavailable(_)
    ));
}

#[test]
fn parses_the_spec_example_and_tolerates_null_fields() {
    let a = parse(br#"{"sms_pumping_risk":{"carrier_risk_category":"moderate","number_blocked":false,"sms_pumping_risk_score":61},"line_type_intelligence":null}"#).unwrap();
    assert_eq!(a.risk_score, Some(61));
    assert_eq!(a.carrier_risk.as_deref(), Some("moderate"));
    assert_eq!(a.line_type, None);
    let a =
        parse(br#"{"sms_pumping_risk":null,"line_type_intelligence":{"type":"mobile"}}"#).unwrap();
    assert_eq!(
        (a.risk_score, a.line_type.as_deref()),
        (None, Some("mobile"))
    );
    assert!(parse(b"not json").is_none());
}

#[test]
fn missing_credentials_are_a_start_up_error() {
    let cfg = Config {
        enabled: true,
        account_sid_env: "TOLLGATE_TEST_NO_SUCH_VAR".into(),
        ..Config::default()
    };
    let err = Lookup::build(
        cfg,
        "http://127.0.0.1:9",
        UpstreamClient::new(&Timeouts::default(), None).unwrap(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("TOLLGATE_TEST_NO_SUCH_VAR"));
}
