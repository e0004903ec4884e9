//! The optional lookup layer end to end: the real binary asks a fake Twilio
//! Lookup v2 service within its budget and scores the answer; a lookup that
//! fails is scored as the policy says (open by default).

mod support;

use support::*;

const MESSAGES: &str = "/2010-04-01/Accounts/AC1/Messages.json";
const FORM: &str = "application/x-www-form-urlencoded";

const RISKY: &str = r#"{"phone_number":"+447400123456","valid":true,
  "line_type_intelligence":{"error_code":null,"carrier_name":"X","type":"nonFixedVoip"},
  "sms_pumping_risk":{"carrier_risk_category":"high","number_blocked":false,"sms_pumping_risk_score":91,"error_code":null}}"#;

fn policy(on_error: &str) -> String {
    format!(
        // A 91% risk to a GB number ($0.052) is worth a stop only where a
        // user is worth little: the trade is tested on its own.
        "{}\n[lookup]\nenabled = true\nbudget_ms = 300\non_error = \"{on_error}\"\n[economics]\nuser_value = 0.001\n",
        policy_with_deny(&[], &[], &[])
    )
}

/// One Twilio send to a valid GB mobile.
async fn send_to_gb_mobile(tg: &Tollgate) -> RawResponse {
    raw_request(
        tg.proxy,
        &raw_post(
            MESSAGES,
            &[("Content-Type", FORM)],
            b"To=%2B447400123456&Body=hi",
        ),
    )
    .await
    .unwrap()
}

async fn start(lookup_url: &str, api_url: &str, on_error: &str) -> Tollgate {
    Tollgate::builder()
        .policy(&policy(on_error))
        .upstream("twilio-api", api_url)
        .upstream("twilio-lookups", lookup_url)
        .env("TWILIO_ACCOUNT_SID", "AClookup")
        .env("TWILIO_AUTH_TOKEN", "lookup-secret")
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_risk_answer_blocks_the_send_and_the_answer_is_cached() {
    let lookups = FakeUpstream::with(Canned::json(200, RISKY)).await;
    let api = FakeUpstream::start().await;
    let tg = start(&lookups.url(), &api.url(), "open").await;
    for _ in 0..2 {
        let r = send_to_gb_mobile(&tg).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["code"], 21408);
    }
    assert_eq!(
        api.count(),
        0,
        "a blocked send never reaches the aggregator"
    );
    let asked = lookups.requests();
    assert_eq!(asked.len(), 1, "the second send is answered from the cache");
    assert_eq!(
        asked[0].uri.to_string(),
        "/v2/PhoneNumbers/%2B447400123456?Fields=sms_pumping_risk%2Cline_type_intelligence"
    );
    assert_eq!(
        asked[0].header("authorization").as_deref(),
        Some(basic_auth("AClookup", "lookup-secret").as_str())
    );
    let d = tg.wait_decisions(1).await;
    assert!(
        d[0]["reasons"]
            .as_str()
            .unwrap()
            .contains("lookup.sms_pumping_risk"),
        "{}",
        d[0]
    );
    assert!(!tg.stdout_text().contains("lookup-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_is_down_fails_open_or_closed_as_the_policy_says() {
    let dead = format!("http://{}", dead_addr());
    let api = FakeUpstream::start().await;
    let open = start(&dead, &api.url(), "open").await;
    let r = send_to_gb_mobile(&open).await;
    assert_eq!(r.status, 200);
    assert_eq!(api.count(), 1, "fail open: forwarded");

    let api = FakeUpstream::start().await;
    let closed = start(&dead, &api.url(), "closed").await;
    let _ = send_to_gb_mobile(&closed).await;
    let d = closed.wait_decisions(1).await;
    assert!(
        d[0]["reasons"]
            .as_str()
            .unwrap()
            .contains("lookup.unavailable"),
        "{}",
        d[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_a_lookup_policy_refuses_to_start() {
    let (status, _out, err) = run_cli(&["check"]);
    assert!(status.success(), "{err}");
    let dir = TempDir::new("lookup-nocreds");
    let policy = dir.write("policy.toml", policy("open"));
    let out = serve_until_exit(
        &dir.path().join("data"),
        &["--policy".as_ref(), policy.as_os_str()],
        &["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TWILIO_ACCOUNT_SID"));
}
