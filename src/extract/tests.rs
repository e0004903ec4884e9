use super::*;
use crate::route::{RouteTable, SendEndpoint, Source};

fn spec(id: &str) -> SendEndpoint {
    let t = RouteTable::build(&Source::embedded(), &Default::default()).unwrap();
    t.sends().iter().find(|r| r.id == id).unwrap().spec.clone()
}

fn form(s: &str) -> Body {
    Body::parse(
        crate::route::BodyEncoding::Form,
        Some("application/x-www-form-urlencoded"),
        s.as_bytes(),
    )
    .unwrap()
}

fn json(s: &str) -> Body {
    Body::parse(
        crate::route::BodyEncoding::Auto,
        Some("application/json; charset=utf-8"),
        s.as_bytes(),
    )
    .unwrap()
}

#[test]
fn twilio_whatsapp_prefix_becomes_the_channel() {
    let x = extract(
        &spec("twilio.messages"),
        &form("To=whatsapp%3A%2B14155550100&From=x"),
        Some("AC1"),
        None,
    )
    .unwrap();
    assert_eq!(x.destinations[0].address, "+14155550100");
    assert_eq!(x.destinations[0].channel, "whatsapp");
    assert!(x.destinations[0].scored);
    assert_eq!(x.account.as_deref(), Some("AC1"));
}

#[test]
fn twilio_verify_email_is_not_scored() {
    let x = extract(
        &spec("twilio.verify"),
        &form("To=a%40b.example&Channel=email"),
        None,
        None,
    )
    .unwrap();
    assert!(!x.destinations[0].scored);
    let x = extract(
        &spec("twilio.verify"),
        &form("To=%2B14155550100&Channel=sms"),
        None,
        None,
    )
    .unwrap();
    assert!(x.destinations[0].scored);
}

#[test]
fn vonage_verify_v2_pairs_each_workflow_step_with_its_channel() {
    let body = json(
        r#"{"brand":"x","workflow":[{"channel":"email","to":"a@b.example"},{"channel":"sms","to":"447700900123"}]}"#,
    );
    let x = extract(&spec("vonage.verify-v2"), &body, None, Some("key")).unwrap();
    assert_eq!(x.destinations.len(), 2);
    assert_eq!(
        (x.destinations[0].channel.as_str(), x.destinations[0].scored),
        ("email", false)
    );
    assert_eq!(
        (x.destinations[1].channel.as_str(), x.destinations[1].scored),
        ("sms", true)
    );
    assert_eq!(x.account.as_deref(), Some("key"));
}

#[test]
fn vonage_sms_takes_form_or_json_and_the_api_key_as_account() {
    let s = spec("vonage.sms");
    let a = extract(
        &s,
        &form("api_key=k1&to=447700900123&from=x&text=hi"),
        None,
        None,
    )
    .unwrap();
    let b = extract(
        &s,
        &json(r#"{"api_key":"k1","to":"447700900123","from":"x"}"#),
        None,
        None,
    )
    .unwrap();
    assert_eq!(a.destinations, b.destinations);
    assert_eq!(a.account.as_deref(), Some("k1"));
}

#[test]
fn plivo_dst_splits_on_angle_bracket() {
    let x = extract(
        &spec("plivo.message"),
        &json(r#"{"src":"x","dst":"14155550100<447700900123<","text":"hi"}"#),
        Some("MA1"),
        None,
    )
    .unwrap();
    let d: Vec<&str> = x.destinations.iter().map(|d| d.address.as_str()).collect();
    assert_eq!(d, ["14155550100", "447700900123"]);
}

#[test]
fn vonage_legacy_verify_reads_the_country_hint() {
    let x = extract(
        &spec("vonage.verify-legacy"),
        &form("number=07700900123&country=gb&brand=x"),
        None,
        None,
    )
    .unwrap();
    assert_eq!(x.region_hint.map(|r| r.to_string()).as_deref(), Some("GB"));
}

#[test]
fn missing_destination_and_bad_bodies_are_errors() {
    assert!(matches!(
        extract(&spec("twilio.messages"), &form("From=x&Body=y"), None, None),
        Err(ExtractError::NoDestination(_))
    ));
    assert!(Body::parse(crate::route::BodyEncoding::Json, None, b"{not json").is_err());
    assert!(Body::parse(crate::route::BodyEncoding::Form, None, &[0xff, 0xfe]).is_err());
    assert!(Body::parse(
        crate::route::BodyEncoding::Form,
        Some("application/json"),
        b"{}"
    )
    .is_err());
    // JSON of the wrong shape: no destination, not a panic.
    assert!(extract(
        &spec("vonage.verify-v2"),
        &json(r#"{"workflow":"nope"}"#),
        None,
        None
    )
    .is_err());
    assert!(extract(&spec("vonage.verify-v2"), &json(r#"[1,2,3]"#), None, None).is_err());
}

#[test]
fn a_form_body_mislabelled_as_json_is_read_as_form_on_auto_routes() {
    // What the vonage v4 SDK sends for SMS after any JSON call on the client.
    let b = Body::parse(
        crate::route::BodyEncoding::Auto,
        Some("application/json"),
        b"api_key=k&to=447700900123&text=hi",
    )
    .unwrap();
    let x = extract(&spec("vonage.sms"), &b, None, None).unwrap();
    assert_eq!(x.destinations[0].address, "447700900123");
    // Broken JSON stays an error, and JSON-only routes never fall back.
    assert!(Body::parse(
        crate::route::BodyEncoding::Auto,
        Some("application/json"),
        b"{\"to\": "
    )
    .is_err());
    assert!(Body::parse(
        crate::route::BodyEncoding::Json,
        Some("application/json"),
        b"to=1"
    )
    .is_err());
}
