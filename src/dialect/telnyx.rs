//! Telnyx API v2: Messaging (`telnyx-message`) and Verify (`telnyx-verify`).
//!
//! Both answer errors as `{"errors":[{"code":"40310","title","detail",
//! "source":{"pointer"},"meta":{"url"}}]}` with `code` a string of digits
//! (developers.telnyx.com/api/errors/40310; the OpenAPI examples in
//! team-telnyx/openapi `openapi/spec3.yml` give the `meta.url` form). The
//! official SDK (`telnyx` 4.x) raises `BadRequestError` / `PermissionDeniedError`
//! / `UnprocessableEntityError` by status and keeps the decoded body in `.body`.
//! Success answers are `{"data": …}` with UUID ids. The two dialects differ
//! only in the field they point at and in the resource they answer with.

use serde_json::{json, Value};

use super::{Answer, FailedMessage, FailureCallback, HeldContext, RejectContext};
use crate::clock::Timestamp;

const CONTENT_TYPE: &str = "application/json";

fn to_vec(v: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// The route file's code as Telnyx writes it: a string of digits.
fn code_of(a: &Answer) -> String {
    match &a.code {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One Telnyx error; `pointer` is the request field it is about.
fn error_body(a: &Answer, message: &str, pointer: &str) -> Vec<u8> {
    let code = code_of(a);
    to_vec(&json!({
        "errors": [{
            "code": code,
            "title": a.title.as_deref().unwrap_or(""),
            "detail": message,
            "source": { "pointer": pointer },
            "meta": { "url": format!("https://developers.telnyx.com/docs/overview/errors/{code}") },
        }]
    }))
}

/// Load-time check of one answer (both dialects).
pub fn check_answer(a: &Answer) -> Result<(), &'static str> {
    let digits = a
        .code
        .as_str()
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    if digits && a.title.as_deref().is_some_and(|t| !t.is_empty()) {
        Ok(())
    } else {
        Err("a `code` string of digits (\"40310\") and a `title`")
    }
}

/// `telnyx-message` refusal: the error points at `/to`.
pub fn reject_message(
    a: &Answer,
    message: &str,
    _ctx: &RejectContext<'_>,
) -> (&'static str, Vec<u8>) {
    (CONTENT_TYPE, error_body(a, message, "/to"))
}

/// `telnyx-verify` refusal: the error points at `/phone_number`.
pub fn reject_verify(
    a: &Answer,
    message: &str,
    _ctx: &RejectContext<'_>,
) -> (&'static str, Vec<u8>) {
    (CONTENT_TYPE, error_body(a, message, "/phone_number"))
}

/// Message and verification ids are both UUID v4.
pub fn synthetic_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Both answer `{"data":{"id":…}}`.
pub fn real_id(answer: &Value) -> Option<&Value> {
    answer.get("data")?.get("id")
}

/// `telnyx-message` held answer: the message resource as `POST /v2/messages`
/// answers it (HTTP 200), `to[0].status` = `queued`; also the answer to
/// `GET /v2/messages/{id}`. `account` is the request's `messaging_profile_id`.
pub fn held_message(c: &HeldContext<'_>) -> (u16, Vec<u8>) {
    let m = message(
        c.id, c.to, c.from, c.text, c.account, c.channel, "queued", c.now,
    );
    (200, to_vec(&json!({ "data": m })))
}

/// `telnyx-verify` held answer: the pending verification (HTTP 200), also
/// `GET /v2/verifications/{id}`. `account` is the request's `verify_profile_id`.
pub fn held_verify(c: &HeldContext<'_>) -> (u16, Vec<u8>) {
    let at = naive_micros(c.now);
    (
        200,
        to_vec(&json!({ "data": {
            "id": c.id,
            "type": c.channel,
            "record_type": "verification",
            "phone_number": c.to,
            "verify_profile_id": c.account,
            "custom_code": null,
            "timeout_secs": 300,
            "status": "pending",
            "created_at": at,
            "updated_at": at,
        }})),
    )
}

/// A held answer restated as failed, for status look-ups after a
/// rejection: a message goes `delivery_failed` with 40015, a verification
/// `error` (Telnyx's statuses: pending, accepted, invalid, expired, error).
pub fn failed_view(held_answer: &[u8], now: Timestamp) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(held_answer).ok()?;
    let d = v.get_mut("data")?.as_object_mut()?;
    if d.get("record_type")?.as_str()? == "verification" {
        d.insert("status".into(), json!("error"));
        d.insert("updated_at".into(), json!(naive_micros(now)));
    } else {
        for to in d.get_mut("to")?.as_array_mut()? {
            if let Some(t) = to.as_object_mut() {
                t.insert("status".into(), json!("delivery_failed"));
            }
        }
        d.insert("completed_at".into(), json!(now.to_rfc3339()));
        d.insert("errors".into(), blocked_errors());
    }
    serde_json::to_vec(&v).ok()
}

/// `telnyx-message`: `message.finalized` with `delivery_failed` and 40015
/// (Telnyx's own spam filter), POSTed as JSON to the send's `webhook_url`.
/// Unsigned: Telnyx signs with an Ed25519 key only Telnyx holds.
/// (`telnyx-verify` has none: Verify requests carry no callback URL.)
pub fn failure_callback(m: &FailedMessage<'_>) -> FailureCallback {
    let &FailedMessage {
        id,
        to,
        from,
        account,
        now,
    } = m;
    let mut payload = message(id, to, from, None, account, "sms", "delivery_failed", now);
    if let Some(p) = payload.as_object_mut() {
        p.insert("completed_at".into(), json!(now.to_rfc3339()));
        p.insert("errors".into(), blocked_errors());
    }
    // Webhooks write `occurred_at` as `2019-12-09T21:32:14.148+00:00`.
    let t = now.to_rfc3339();
    let occurred = match t.strip_suffix('Z') {
        Some(head) => format!("{head}+00:00"),
        None => t.clone(),
    };
    let body = json!({
        "data": {
            "event_type": "message.finalized",
            "id": uuid::Uuid::new_v4().to_string(),
            "occurred_at": occurred,
            "payload": payload,
            "record_type": "event",
        },
        "meta": { "attempt": 1 },
    });
    FailureCallback {
        method: "POST",
        content_type: Some(CONTENT_TYPE),
        body: to_vec(&body),
        query: None,
    }
}

/// Why a rejected hold failed: Telnyx's own spam filter (a delivery error).
fn blocked_errors() -> Value {
    json!([{
        "code": "40015",
        "title": "Blocked as spam - internal",
        "detail": "The message was blocked by the spam filter and was not delivered.",
    }])
}

/// Verify writes naive UTC with microseconds: `2020-09-14T17:03:32.965812`.
fn naive_micros(now: Timestamp) -> String {
    let t = now.to_rfc3339();
    format!("{}000", t.strip_suffix('Z').unwrap_or(&t))
}

/// `OutboundMessagePayload` in the field order of the docs' example.
#[allow(clippy::too_many_arguments)]
fn message(
    id: &str,
    to: &str,
    from: Option<&str>,
    text: Option<&str>,
    account: Option<&str>,
    channel: &str,
    status: &str,
    now: Timestamp,
) -> Value {
    let kind = match channel {
        "mms" => "MMS",
        "whatsapp" => "WHATSAPP",
        "rcs" => "RCS",
        _ => "SMS",
    };
    json!({
        "record_type": "message",
        "direction": "outbound",
        "id": id,
        "type": kind,
        "messaging_profile_id": account,
        "from": { "phone_number": from, "carrier": "", "line_type": "" },
        "to": [{ "phone_number": to, "status": status, "carrier": "", "line_type": "" }],
        "cc": [],
        "text": text,
        "media": [],
        "webhook_url": null,
        "webhook_failover_url": null,
        "encoding": "GSM-7",
        "parts": 1,
        "tags": [],
        "cost": null,
        "received_at": now.to_rfc3339(),
        "sent_at": null,
        "completed_at": null,
        "valid_until": null,
        "errors": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: &str, title: Option<&str>) -> Answer {
        Answer {
            status: 400,
            code: toml::Value::String(code.into()),
            message: "The 'to' address should be a single valid number.".into(),
            title: title.map(str::to_owned),
        }
    }

    fn held_ctx<'a>(channel: &'a str, account: Option<&'a str>) -> HeldContext<'a> {
        HeldContext {
            id: "40385f64-5717-4562-b3fc-2c963f66afa6",
            to: "+447400123456",
            from: Some("+18445550001"),
            text: Some("Your code is 123456"),
            account,
            service: None,
            channel,
            via_service: None,
            now: Timestamp(1_548_267_002_574), // 2019-01-23T18:10:02.574Z, the docs' example
        }
    }

    #[test]
    fn reject_is_the_documented_40310_body() {
        let a = answer("40310", Some("Invalid 'to' address"));
        let ctx = RejectContext {
            to: "+1234",
            prefix: "+1234",
        };
        let (ct, body) = reject_message(&a, &a.message, &ctx);
        assert_eq!(ct, "application/json");
        let got: Value = serde_json::from_slice(&body).unwrap();
        let want: Value = serde_json::from_str(
            r#"{"errors":[{"code":"40310","title":"Invalid 'to' address",
            "detail":"The 'to' address should be a single valid number.",
            "source":{"pointer":"/to"},
            "meta":{"url":"https://developers.telnyx.com/docs/overview/errors/40310"}}]}"#,
        )
        .unwrap();
        assert_eq!(got, want);
        let (_, body) = reject_verify(&a, "x", &ctx);
        let got: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(got["errors"][0]["source"]["pointer"], "/phone_number");
    }

    #[test]
    fn answers_need_a_digit_string_code_and_a_title() {
        assert!(check_answer(&answer("40309", Some("Invalid destination region"))).is_ok());
        assert!(check_answer(&answer("40309", None)).is_err());
        assert!(check_answer(&answer("invalid", Some("t"))).is_err());
        let mut int = answer("1", Some("t"));
        int.code = toml::Value::Integer(40310);
        assert!(check_answer(&int).is_err());
    }

    #[test]
    fn held_message_is_queued_and_gives_back_its_id() {
        let profile = "4000eba1-a0c0-4563-9925-b25e842a7cb6";
        let (status, body) = held_message(&held_ctx("sms", Some(profile)));
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let d = &v["data"];
        assert_eq!(
            (&d["record_type"], &d["type"]),
            (&json!("message"), &json!("SMS"))
        );
        assert_eq!(d["to"][0]["phone_number"], "+447400123456");
        assert_eq!(d["to"][0]["status"], "queued");
        assert_eq!(d["from"]["phone_number"], "+18445550001");
        assert_eq!(d["messaging_profile_id"], profile);
        assert_eq!(d["received_at"], "2019-01-23T18:10:02.574Z");
        let id = real_id(&v).and_then(Value::as_str);
        assert_eq!(id, Some("40385f64-5717-4562-b3fc-2c963f66afa6"));
        assert!(uuid::Uuid::parse_str(&synthetic_id()).is_ok());
    }

    #[test]
    fn held_verification_is_pending() {
        let profile = "12ade33a-21c0-473b-b055-b3c836e1c292";
        let (status, body) = held_verify(&held_ctx("call", Some(profile)));
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"]["record_type"], "verification");
        assert_eq!(v["data"]["status"], "pending");
        assert_eq!(v["data"]["type"], "call");
        assert_eq!(v["data"]["verify_profile_id"], profile);
        assert_eq!(v["data"]["created_at"], "2019-01-23T18:10:02.574000");
    }

    #[test]
    fn failure_callback_is_a_finalized_delivery_failed_event() {
        // 2019-12-09T21:32:14.148Z, the docs' `message.finalized` example.
        let now = Timestamp(1_575_927_134_148);
        let cb = failure_callback(&FailedMessage {
            id: "m-1",
            to: "+447400123456",
            from: Some("+18445550001"),
            account: None,
            now,
        });
        assert_eq!(
            (cb.method, cb.content_type),
            ("POST", Some("application/json"))
        );
        assert!(cb.query.is_none());
        let v: Value = serde_json::from_slice(&cb.body).unwrap();
        assert_eq!(v["data"]["event_type"], "message.finalized");
        assert_eq!(v["data"]["record_type"], "event");
        assert_eq!(v["data"]["occurred_at"], "2019-12-09T21:32:14.148+00:00");
        let p = &v["data"]["payload"];
        assert_eq!(
            (&p["id"], &p["record_type"]),
            (&json!("m-1"), &json!("message"))
        );
        assert_eq!(p["to"][0]["status"], "delivery_failed");
        assert_eq!(p["errors"][0]["code"], "40015");
        assert_eq!(v["meta"]["attempt"], 1);
        let (_, held) = held_message(&held_ctx("sms", None));
        let failed: Value = serde_json::from_slice(&failed_view(&held, now).unwrap()).unwrap();
        assert_eq!(failed["data"]["to"][0]["status"], "delivery_failed");
        assert_eq!(failed["data"]["errors"][0]["code"], "40015");
        let (_, held) = held_verify(&held_ctx("sms", None));
        let failed: Value = serde_json::from_slice(&failed_view(&held, now).unwrap()).unwrap();
        assert_eq!(failed["data"]["status"], "error");
    }
}
