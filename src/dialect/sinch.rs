//! Sinch SMS REST API ("XMS") batches: `POST /xms/v1/{service_plan_id}/batches`.
//!
//! Errors are `{"code": "<snake_case code>", "text": "<human text>"}` with
//! HTTP 400 or 403 (SMS API reference, "HTTP Status Codes": "For 400 and 403,
//! the REST API returns a specific response with the fields code and text").
//! A created batch is answered 201 with the batch resource, whose `id` is a
//! 26-character ULID (`01FC66621XXXXX119Z8PMV1QPQ` in the reference). The
//! python SDK needs `type` in that answer: it picks the response model by it.

use serde_json::{json, Map, Value};

use super::{Answer, FailedMessage, FailureCallback, HeldContext, RejectContext};
use crate::clock::Timestamp;

/// Sinch keeps trying to deliver a batch for 3 days by default (`expire_at`).
const DEFAULT_EXPIRY_S: i64 = 3 * 24 * 3600;

/// Delivery report code 408 "Internal Reject", status `Aborted`: the message
/// never reached an SMSC (Delivery reports, "Delivery report error codes").
const REJECTED_DLR_CODE: u16 = 408;

fn to_vec(v: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// The codes are snake_case words (`syntax_invalid_parameter_format`,
/// `illegal_number_type`); anything else is a typo in the route file.
pub fn check_answer(a: &Answer) -> Result<(), &'static str> {
    match a.code.as_str() {
        Some(c) if !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => {
            Ok(())
        }
        _ => Err("a snake_case `code` string (`syntax_invalid_parameter_format`)"),
    }
}

/// `{"code":"…","text":"…"}`, the XMS error object.
pub fn reject(a: &Answer, message: &str, _ctx: &RejectContext<'_>) -> (&'static str, Vec<u8>) {
    let code = a.code.as_str().unwrap_or("syntax_invalid_parameter_format");
    (
        "application/json",
        to_vec(&json!({ "code": code, "text": message })),
    )
}

/// A fresh batch id: a ULID (48-bit millisecond time, 80 random bits, Crockford
/// base32), so it sorts and looks like Sinch's own ids.
pub fn synthetic_id(now: Timestamp) -> String {
    let b = *uuid::Uuid::new_v4().as_bytes();
    // Bytes 6 and 8 carry the v4 version and variant bits: skip them.
    let mut random = [0u8; 10];
    random[..6].copy_from_slice(&b[..6]);
    random[6..].copy_from_slice(&b[10..14]);
    ulid(now.millis().max(0) as u64, random)
}

fn ulid(ms: u64, random: [u8; 10]) -> String {
    const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut tail = [0u8; 16];
    tail[6..].copy_from_slice(&random);
    let mut v = (u128::from(ms & 0xFFFF_FFFF_FFFF) << 80) | u128::from_be_bytes(tail);
    let mut out = [b'0'; 26];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(v & 31) as usize];
        v >>= 5;
    }
    out.iter().map(|&c| char::from(c)).collect()
}

/// The batch as `POST …/batches` answers it (201 Created), fields in the
/// reference's order. Fields the request set but tollgate does not keep
/// (`delivery_report`, `callback_url`, `client_reference`, …) are left out
/// rather than guessed; all are optional in the SDK's models.
pub fn held(c: &HeldContext<'_>) -> (u16, Vec<u8>) {
    let kind = match c.channel {
        "mt_binary" | "mt_media" => c.channel,
        _ => "mt_text",
    };
    let created = c.now.to_rfc3339();
    let mut o = Map::new();
    o.insert("id".into(), json!(c.id));
    o.insert("to".into(), json!([c.to]));
    if let Some(from) = c.from {
        o.insert("from".into(), json!(from));
    }
    o.insert("canceled".into(), json!(false));
    if let Some(text) = c.text {
        o.insert("body".into(), json!(text));
    }
    o.insert("type".into(), json!(kind));
    o.insert("created_at".into(), json!(created));
    o.insert("modified_at".into(), json!(created));
    o.insert(
        "expire_at".into(),
        json!(c.now.plus_seconds(DEFAULT_EXPIRY_S).to_rfc3339()),
    );
    if kind != "mt_media" {
        o.insert("flash_message".into(), json!(false));
    }
    (201, to_vec(&Value::Object(o)))
}

/// The batch id of the upstream's answer to a released send.
pub fn real_id(answer: &Value) -> Option<&Value> {
    answer.get("id").filter(|v| v.is_string())
}

/// A held batch that was rejected, for `GET …/batches/{id}`: the batch
/// resource has no status, `canceled: true` is how it says it will not go out.
pub fn failed_view(held_answer: &[u8], now: Timestamp) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(held_answer).ok()?;
    let o = v.as_object_mut()?;
    o.insert("canceled".into(), json!(true));
    o.insert("modified_at".into(), json!(now.to_rfc3339()));
    serde_json::to_vec(&v).ok()
}

/// A per-recipient delivery report (`recipient_delivery_report_sms`), POSTed
/// as JSON to the batch's `callback_url`, saying the message was aborted.
pub fn failure_callback(m: &FailedMessage<'_>) -> FailureCallback {
    let &FailedMessage { id, to, now, .. } = m;
    let body = json!({
        "type": "recipient_delivery_report_sms",
        "batch_id": id,
        "recipient": to,
        "code": REJECTED_DLR_CODE,
        "status": "Aborted",
        "at": now.to_rfc3339(),
    });
    FailureCallback {
        method: "POST",
        content_type: Some("application/json"),
        body: to_vec(&body),
        query: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: &str, message: &str) -> Answer {
        Answer {
            status,
            code: toml::Value::String(code.into()),
            message: message.into(),
            title: None,
        }
    }

    fn ctx(now: Timestamp) -> HeldContext<'static> {
        HeldContext {
            id: "01FC66621XXXXX119Z8PMV1QPQ",
            to: "+15551231234",
            from: Some("+15551231234"),
            text: Some("Hi there! How are you?"),
            account: Some("jd63jf88477ll123ab4567cd89012ef3"),
            service: None,
            channel: "mt_text",
            via_service: None,
            now,
        }
    }

    #[test]
    fn reject_is_the_xms_error_object() {
        // The SDK contract test's body (sinch-sdk-java error-response.json).
        let a = answer(400, "syntax_invalid_parameter_format", "ignored");
        let r = RejectContext {
            to: "foo",
            prefix: "",
        };
        let (ct, body) = reject(&a, "'foo' is not a valid identifier", &r);
        assert_eq!(ct, "application/json");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"code":"syntax_invalid_parameter_format","text":"'foo' is not a valid identifier"}"#
        );
    }

    #[test]
    fn codes_must_be_snake_case_strings() {
        assert!(check_answer(&answer(403, "illegal_number_type", "x")).is_ok());
        assert!(check_answer(&answer(403, "Forbidden", "x")).is_err());
        assert!(check_answer(&answer(403, "", "x")).is_err());
        let int = Answer {
            code: toml::Value::Integer(403),
            ..answer(403, "x", "x")
        };
        assert!(check_answer(&int).is_err());
    }

    #[test]
    fn ids_are_ulids() {
        // The ULID specification's example time, 1469918176385 ms.
        assert_eq!(
            ulid(1_469_918_176_385, [0; 10]),
            "01ARYZ6S410000000000000000"
        );
        assert_eq!(ulid(0, [0xFF; 10]), "0000000000ZZZZZZZZZZZZZZZZ");
        let id = synthetic_id(Timestamp(1_700_000_000_000));
        assert_eq!(id.len(), 26);
        assert!(id.starts_with("01"), "{id}");
        assert!(id
            .bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)));
        assert_ne!(id, synthetic_id(Timestamp(1_700_000_000_000)));
    }

    #[test]
    fn held_is_a_created_text_batch() {
        let now = Timestamp(1_566_656_122_000); // 2019-08-24T14:15:22Z, the reference's example
        let (status, body) = held(&ctx(now));
        assert_eq!(status, 201);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            concat!(
                r#"{"id":"01FC66621XXXXX119Z8PMV1QPQ","to":["+15551231234"],"from":"+15551231234","#,
                r#""canceled":false,"body":"Hi there! How are you?","type":"mt_text","#,
                r#""created_at":"2019-08-24T14:15:22.000Z","modified_at":"2019-08-24T14:15:22.000Z","#,
                r#""expire_at":"2019-08-27T14:15:22.000Z","flash_message":false}"#
            )
        );
        let media = HeldContext {
            channel: "mt_media",
            text: None,
            ..ctx(now)
        };
        let v: Value = serde_json::from_slice(&held(&media).1).unwrap();
        assert_eq!(v["type"], "mt_media");
        assert!(v.get("body").is_none() && v.get("flash_message").is_none());
        let odd = HeldContext {
            channel: "sms",
            ..ctx(now)
        };
        let v: Value = serde_json::from_slice(&held(&odd).1).unwrap();
        assert_eq!(v["type"], "mt_text");
    }

    #[test]
    fn real_id_is_the_batch_id() {
        // Abridged from the reference's TextResponse example.
        let v: Value = serde_json::from_str(
            r#"{"id":"01FC66621XXXXX119Z8PMV1QPQ","to":["+15551231234","+15551256344"],"from":"+15551231234","canceled":false,"body":"Hi","type":"mt_text"}"#,
        )
        .unwrap();
        assert_eq!(real_id(&v), Some(&json!("01FC66621XXXXX119Z8PMV1QPQ")));
        assert_eq!(real_id(&json!({"code": "x", "text": "y"})), None);
    }

    #[test]
    fn failed_view_cancels_the_batch() {
        let now = Timestamp(1_566_656_122_000);
        let (_, body) = held(&ctx(now));
        let v: Value =
            serde_json::from_slice(&failed_view(&body, now.plus_seconds(60)).unwrap()).unwrap();
        assert_eq!(v["canceled"], true);
        assert_eq!(v["modified_at"], "2019-08-24T14:16:22.000Z");
        assert_eq!(v["id"], "01FC66621XXXXX119Z8PMV1QPQ");
    }

    #[test]
    fn failure_callback_is_a_recipient_delivery_report() {
        // Shape of the reference's RecipientDeliveryReport example
        // (type, batch_id, recipient, code, status, at).
        let cb = failure_callback(&FailedMessage {
            id: "01FC66621XXXXX119Z8PMV1QPQ",
            to: "+44231235674",
            from: Some("+15551231234"),
            account: None,
            now: Timestamp(1_661_847_368_930), // 2022-08-30T08:16:08.930Z
        });
        assert_eq!(
            (cb.method, cb.content_type, cb.query),
            ("POST", Some("application/json"), None)
        );
        assert_eq!(
            String::from_utf8(cb.body).unwrap(),
            concat!(
                r#"{"type":"recipient_delivery_report_sms","batch_id":"01FC66621XXXXX119Z8PMV1QPQ","#,
                r#""recipient":"+44231235674","code":408,"status":"Aborted","at":"2022-08-30T08:16:08.930Z"}"#
            )
        );
    }
}
