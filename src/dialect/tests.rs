//! Byte-level checks of every dialect against the shipped route files.

use super::*;
use crate::route::{RouteTable, Source};

fn table() -> RouteTable {
    RouteTable::build(&Source::embedded(), &Default::default()).expect("embedded routes build")
}

fn answer_json(route_id: &str, class: &str) -> (u16, String, serde_json::Value) {
    let t = table();
    let r = t
        .sends()
        .iter()
        .find(|r| r.id == route_id)
        .expect("route exists");
    let a = &r.spec.answers;
    let answer = match class {
        "invalid_number" => &a.invalid_number,
        "line_type" => &a.line_type,
        "geo" => &a.geo,
        "fraud" => &a.fraud,
        "malformed" => &a.malformed,
        _ => &a.too_large,
    };
    let resp = r.spec.dialect.reject(
        answer,
        &RejectContext {
            to: "+2348031234567",
            prefix: "+23480",
        },
    );
    let ct = resp.headers()[http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let v = serde_json::from_slice(resp.body()).unwrap();
    (resp.status().as_u16(), ct, v)
}

#[test]
fn twilio_messages_geo_is_21408_exactly() {
    let (status, ct, v) = answer_json("twilio.messages", "geo");
    assert_eq!(status, 400);
    assert!(ct.starts_with("application/json"));
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"code":21408,"message":"Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +2348031234567","more_info":"https://www.twilio.com/docs/errors/21408","status":400}"#
    );
}

#[test]
fn twilio_codes_per_class() {
    for (route, class, code, status) in [
        ("twilio.messages", "invalid_number", 21211, 400),
        ("twilio.messages", "line_type", 21614, 400),
        ("twilio.messages", "fraud", 21408, 400),
        ("twilio.verify", "invalid_number", 60200, 400),
        ("twilio.verify", "line_type", 60205, 400),
        ("twilio.verify", "geo", 60605, 403),
        ("twilio.verify", "fraud", 60410, 403),
    ] {
        let (s, _, v) = answer_json(route, class);
        assert_eq!(
            (
                s,
                v["code"].as_i64().unwrap(),
                v["status"].as_u64().unwrap()
            ),
            (status, code, status as u64),
            "{route} {class}"
        );
    }
    let (_, _, v) = answer_json("twilio.verify", "fraud");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("+23480 prefix is blocked for the SMS channel"));
}

#[test]
fn vonage_sms_refusals_are_http_200_with_string_statuses() {
    for (class, status) in [("invalid_number", "3"), ("geo", "29"), ("fraud", "7")] {
        let (s, _, v) = answer_json("vonage.sms", class);
        assert_eq!(s, 200);
        assert_eq!(v["message-count"], "1");
        assert_eq!(v["messages"][0]["status"], status);
        assert_eq!(v["messages"][0]["to"], "+2348031234567");
        assert!(v["messages"][0]["error-text"].is_string());
    }
}

#[test]
fn vonage_v2_refusals_are_problem_json() {
    let (s, ct, v) = answer_json("vonage.verify-v2", "fraud");
    assert_eq!(s, 403);
    assert_eq!(ct, "application/problem+json");
    for k in ["type", "title", "detail", "instance"] {
        assert!(v[k].is_string(), "{k}");
    }
    let (s, _, v) = answer_json("vonage.verify-legacy", "fraud");
    assert_eq!(s, 200);
    assert_eq!(v["status"], "7");
    assert_eq!(v["request_id"], "");
}

#[test]
fn plivo_refusal_has_api_id_and_error() {
    let (s, _, v) = answer_json("plivo.message", "geo");
    assert_eq!(s, 403);
    assert!(v["api_id"].is_string());
    assert!(v["error"].as_str().unwrap().contains("+2348031234567"));
}

#[test]
fn plivo_reports_dropped_destinations_as_invalid_numbers() {
    let answer = br#"{"api_id":"a","message":"message(s) queued","message_uuid":["u1"]}"#;
    let out = DialectKind::PlivoMessage
        .report_dropped(answer, &["+2348031234567"])
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["invalid_number"][0], "+2348031234567");
    assert_eq!(v["message_uuid"][0], "u1");
    assert!(DialectKind::TwilioMessage
        .report_dropped(answer, &["x"])
        .is_none());
}

#[test]
fn answers_that_do_not_fit_the_dialect_are_refused_at_load() {
    let text = Source::embedded()
        .into_iter()
        .find(|s| s.origin.ends_with("twilio.toml"))
        .unwrap()
        .text
        .replacen("code = 21211", "code = \"21211\"", 1);
    let err = RouteTable::build(
        &[Source {
            origin: "twilio.toml".into(),
            text,
        }],
        &Default::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("integer `code`"), "{err}");
}
