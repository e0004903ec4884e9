//! Accepted answers for held sends: what the provider says when it queues a
//! send, with synthetic ids in the provider's own format. Also the reverse
//! direction: the real id in the provider's answer to a released send, and
//! the "failed" view of a held send that was rejected.

use serde_json::{json, Value};

use super::DialectKind;
use crate::clock::Timestamp;

/// What a held answer is made of.
pub struct HeldContext<'a> {
    pub id: &'a str,
    /// The destination as the client wrote it.
    pub to: &'a str,
    pub from: Option<&'a str>,
    /// Message text, where the send has one.
    pub text: Option<&'a str>,
    /// Account (Twilio account SID, Vonage key, Plivo auth id).
    pub account: Option<&'a str>,
    /// The `{service}` path variable (Twilio Verify service SID).
    pub service: Option<&'a str>,
    pub channel: &'a str,
    pub via_service: Option<&'a str>,
    pub now: Timestamp,
}

/// 32 random lower-case hex digits.
fn hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

impl DialectKind {
    /// A fresh synthetic id in the provider's format.
    pub fn synthetic_id(self, now: Timestamp) -> String {
        match self {
            DialectKind::TwilioMessage => format!("SM{}", hex32()),
            DialectKind::TwilioVerify => format!("VE{}", hex32()),
            DialectKind::VonageVerifyLegacy => hex32(),
            DialectKind::VonageSms
            | DialectKind::VonageVerifyV2
            | DialectKind::VonageMessages
            | DialectKind::PlivoMessage => uuid::Uuid::new_v4().to_string(),
            DialectKind::BirdMessage => super::bird::synthetic_id(),
            DialectKind::SinchBatch => super::sinch::synthetic_id(now),
            DialectKind::TelnyxMessage | DialectKind::TelnyxVerify => super::telnyx::synthetic_id(),
            DialectKind::InfobipSmsV2 | DialectKind::InfobipSmsV3 => super::infobip::synthetic_id(),
        }
    }

    /// The provider's "accepted / queued" answer: (HTTP status, body).
    pub fn held(self, c: &HeldContext<'_>) -> (u16, Vec<u8>) {
        match self {
            DialectKind::TwilioMessage => (
                201,
                to_vec(&twilio_message(
                    c,
                    if c.via_service.is_some() {
                        "accepted"
                    } else {
                        "queued"
                    },
                )),
            ),
            DialectKind::TwilioVerify => {
                let created = c.now.to_rfc3339_seconds();
                let service = c.service.unwrap_or("");
                (
                    201,
                    to_vec(&json!({
                        "sid": c.id,
                        "service_sid": service,
                        "account_sid": c.account,
                        "to": c.to,
                        "channel": c.channel,
                        "status": "pending",
                        "valid": false,
                        "lookup": {},
                        "amount": null,
                        "payee": null,
                        "send_code_attempts": [{ "attempt_sid": format!("VL{}", hex32()), "channel": c.channel, "time": created }],
                        "date_created": created,
                        "date_updated": created,
                        "sna": null,
                        "url": format!("https://verify.twilio.com/v2/Services/{service}/Verifications/{}", c.id),
                    })),
                )
            }
            DialectKind::VonageSms => (
                200,
                to_vec(&json!({
                    "message-count": "1",
                    "messages": [{ "to": c.to, "message-id": c.id, "status": "0" }],
                })),
            ),
            DialectKind::VonageVerifyLegacy => {
                (200, to_vec(&json!({ "request_id": c.id, "status": "0" })))
            }
            DialectKind::VonageVerifyV2 => (202, to_vec(&json!({ "request_id": c.id }))),
            DialectKind::VonageMessages => (202, to_vec(&json!({ "message_uuid": c.id }))),
            DialectKind::PlivoMessage => (
                202,
                to_vec(&json!({
                    "api_id": uuid::Uuid::new_v4().to_string(),
                    "message": "message(s) queued",
                    "message_uuid": [c.id],
                })),
            ),
            DialectKind::BirdMessage => super::bird::held(c),
            DialectKind::SinchBatch => super::sinch::held(c),
            DialectKind::TelnyxMessage => super::telnyx::held_message(c),
            DialectKind::TelnyxVerify => super::telnyx::held_verify(c),
            DialectKind::InfobipSmsV2 => super::infobip::held(super::infobip::Api::V2, c),
            DialectKind::InfobipSmsV3 => super::infobip::held(super::infobip::Api::V3, c),
        }
    }

    /// The real id in the provider's answer to a released send.
    pub fn real_id(self, answer: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(answer).ok()?;
        let id = match self {
            DialectKind::TwilioMessage | DialectKind::TwilioVerify => v.get("sid"),
            DialectKind::VonageSms => v.get("messages")?.get(0)?.get("message-id"),
            DialectKind::VonageVerifyLegacy | DialectKind::VonageVerifyV2 => v.get("request_id"),
            DialectKind::VonageMessages => v.get("message_uuid"),
            DialectKind::PlivoMessage => v.get("message_uuid")?.get(0),
            DialectKind::BirdMessage => super::bird::real_id(&v),
            DialectKind::SinchBatch => super::sinch::real_id(&v),
            DialectKind::TelnyxMessage | DialectKind::TelnyxVerify => super::telnyx::real_id(&v),
            DialectKind::InfobipSmsV2 | DialectKind::InfobipSmsV3 => super::infobip::real_id(&v),
        }?;
        id.as_str().map(str::to_owned)
    }

    /// A held answer restated as failed (Twilio error 30450, its SMS-pumping
    /// code), for status look-ups after a rejection.
    pub fn failed_view(self, held_answer: &[u8], now: Timestamp) -> Option<Vec<u8>> {
        match self {
            DialectKind::BirdMessage => return super::bird::failed_view(held_answer, now),
            DialectKind::SinchBatch => return super::sinch::failed_view(held_answer, now),
            DialectKind::TelnyxMessage | DialectKind::TelnyxVerify => {
                return super::telnyx::failed_view(held_answer, now)
            }
            _ => {}
        }
        let mut v: Value = serde_json::from_slice(held_answer).ok()?;
        let o = v.as_object_mut()?;
        match self {
            DialectKind::TwilioMessage => {
                o.insert("status".into(), json!("failed"));
                o.insert("error_code".into(), json!(30450));
                o.insert(
                    "error_message".into(),
                    json!("Message delivery blocked: SMS pumping protection"),
                );
                o.insert("date_updated".into(), json!(now.to_rfc2822()));
            }
            DialectKind::TwilioVerify => {
                o.insert("status".into(), json!("canceled"));
            }
            _ => return None,
        }
        serde_json::to_vec(&v).ok()
    }

    /// Puts the synthetic id back into the upstream's answer for the real
    /// one, so a platform that only knows the synthetic id sees one message.
    pub fn show_as(self, answer: &[u8], real: &str, synthetic: &str) -> Option<Vec<u8>> {
        let mut v: Value = serde_json::from_slice(answer).ok()?;
        replace_strings(&mut v, real, synthetic);
        serde_json::to_vec(&v).ok()
    }
}

fn replace_strings(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(a) => a.iter_mut().for_each(|x| replace_strings(x, from, to)),
        Value::Object(o) => o.values_mut().for_each(|x| replace_strings(x, from, to)),
        _ => {}
    }
}

/// Twilio's Message resource as `POST …/Messages.json` answers it.
fn twilio_message(c: &HeldContext<'_>, status: &str) -> Value {
    let account = c.account.unwrap_or("");
    let date = c.now.to_rfc2822();
    let uri = format!("/2010-04-01/Accounts/{account}/Messages/{}.json", c.id);
    json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": c.text.unwrap_or(""),
        "date_created": date,
        "date_sent": null,
        "date_updated": date,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": if c.via_service.is_some() { None } else { c.from },
        "messaging_service_sid": c.via_service,
        "num_media": "0",
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": c.id,
        "status": status,
        "subresource_uris": { "media": format!("/2010-04-01/Accounts/{account}/Messages/{}/Media.json", c.id) },
        "to": c.to,
        "uri": uri,
    })
}
