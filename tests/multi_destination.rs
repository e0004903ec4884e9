//! Multi-destination sends: each destination is scored, and only those
//! that really went out count as delivered. A destination scored "allow"
//! inside a send refused whole never reached a phone: counted as an
//! unconverted delivery, it would make its country look like pumping.

mod support;

use serde_json::json;
use support::*;

const DENIED: &str = "+447700900999";
const BATCHES: &str = "/xms/v1/plan1/batches";

/// The shipped default's number and list layers, quiet otherwise, and a
/// corridor rule on delivered sends: three unconverted ones hold Cambodia.
fn policy() -> String {
    format!(
        "{}{}",
        policy_with_deny(&[DENIED], &[], &[]),
        r#"
[baseline]
enabled = false
[pattern]
distinct_range3_max = 0
distinct_range4_max = 0
sequential_min = 1000
[economics]
user_value = 0.0
friction_budget = 1.0
[[conversion.rules]]
key = "country"
window = "24h"
grace = "0s"
min_sends = 3
below = 0.1
weight = 60
"#
    )
}

async fn batch(tg: &Tollgate, to: &[&str]) -> RawResponse {
    let body = json!({ "to": to, "from": "+14155550100", "body": "Your code is 123456" });
    let req = raw_post(
        BATCHES,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer sinch-token"),
        ],
        body.to_string().as_bytes(),
    );
    raw_request(tg.proxy, &req).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_destinations_that_went_out_count_as_delivered() {
    let fake = FakeUpstream::with(Canned::new(
        201,
        &[("content-type", "application/json")],
        r#"{"id":"01FC66621XXXXX119Z8PMV1QPQ","type":"mt_text"}"#,
    ))
    .await;
    let tg = Tollgate::builder()
        .all_upstreams(&fake.url())
        .policy(&policy())
        .start()
        .await;

    // Three batches, each a Cambodian number the policy allows beside a
    // deny-listed one: Sinch's rule refuses each whole, nothing goes out.
    for kh in ["+85512345678", "+85512345679", "+85517345670"] {
        let resp = batch(&tg, &[kh, DENIED]).await;
        assert_eq!(resp.status, 403, "{}", String::from_utf8_lossy(&resp.body));
    }
    assert_eq!(fake.requests().len(), 0);
    // So Cambodia has no delivered send yet, and the corridor rule has
    // nothing to judge: the next send goes out.
    assert_eq!(batch(&tg, &["+85592345671"]).await.status, 201);
    let d = tg.wait_decisions(7).await;
    assert_eq!(d[6]["action"], "allow", "{:#}", d[6]);

    // A batch of two that went out: three delivered now, none converted.
    assert_eq!(
        batch(&tg, &["+85592345672", "+85592345673"]).await.status,
        201
    );
    // The corridor rule has its three unconverted deliveries: held.
    let resp = batch(&tg, &["+85592345674"]).await;
    let d = tg.wait_decisions(10).await;
    assert_eq!(d[9]["action"], "hold", "{:#} {resp:?}", d[9]);
}
