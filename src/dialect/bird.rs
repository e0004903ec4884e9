//! Bird (MessageBird) SMS API, `POST /messages`.
//!
//! Refusals are HTTP 422 `{"errors":[{"code","description","parameter"}]}`;
//! a send is answered with a Message object (201) whose `recipients.items`
//! carry each recipient as a JSON integer with its own status. Shapes follow
//! the official SDKs (messagebird/python-rest-api, go-rest-api testdata).

use serde_json::{json, Map, Value};

use super::{Answer, FailedMessage, FailureCallback, HeldContext, RejectContext};
use crate::clock::Timestamp;

/// Where the API says a message lives (`href`).
const MESSAGES_URL: &str = "https://rest.messagebird.com/messages/";

/// The statuses the Python SDK turns into `ErrorException`; any other 4xx
/// raises a bare `requests.HTTPError` (http_client.py).
const SDK_ERROR_STATUSES: [u16; 4] = [401, 404, 405, 422];

fn to_vec(v: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// RFC 3339 as MessageBird writes it: `2016-05-03T14:26:57+00:00`.
fn datetime(t: Timestamp) -> String {
    let s = t.to_rfc3339_seconds();
    match s.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => s,
    }
}

/// A recipient as MessageBird lists it: the MSISDN as an integer (the Go SDK
/// reads `int64`). Anything that is not a plain international number stays
/// the string the client sent.
fn msisdn(raw: &str) -> Value {
    let digits = raw.trim().trim_start_matches('+');
    if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = digits.parse::<u64>() {
            return Value::from(n);
        }
    }
    Value::String(raw.to_owned())
}

/// `code` must be MessageBird's integer error code, and `status` one the
/// Python SDK raises `ErrorException` for.
pub fn check_answer(a: &Answer) -> Result<(), &'static str> {
    if !a.code.as_integer().is_some_and(|c| c >= 0) {
        return Err("a non-negative integer `code` (MessageBird error code, e.g. 9)");
    }
    if !SDK_ERROR_STATUSES.contains(&a.status) {
        return Err("`status` 401, 404, 405 or 422 (the SDK raises ErrorException only for these)");
    }
    Ok(())
}

/// `{"errors":[{"code":9,"description":"no (correct) recipients found","parameter":"recipient"}]}`.
/// The route answer's `title` is the error's `parameter` (null when absent).
pub fn reject(a: &Answer, message: &str, _ctx: &RejectContext<'_>) -> (&'static str, Vec<u8>) {
    let body = json!({
        "errors": [{
            "code": a.code.as_integer().unwrap_or(9),
            "description": message,
            "parameter": a.title.as_deref(),
        }],
    });
    ("application/json", to_vec(&body))
}

/// 32 lower-case hex digits, as MessageBird message ids are.
pub fn synthetic_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The Message object MessageBird answers a create with (HTTP 201), one
/// recipient `sent` (pending at MessageBird).
pub fn held(c: &HeldContext<'_>) -> (u16, Vec<u8>) {
    let now = datetime(c.now);
    let body = json!({
        "id": c.id,
        "href": format!("{MESSAGES_URL}{}", c.id),
        "direction": "mt",
        "type": "sms",
        "originator": c.from,
        "body": c.text.unwrap_or(""),
        "reference": null,
        "validity": null,
        "gateway": null,
        "typeDetails": {},
        "datacoding": "plain",
        "mclass": 1,
        "scheduledDatetime": null,
        "createdDatetime": now,
        "recipients": {
            "totalCount": 1,
            "totalSentCount": 1,
            "totalDeliveredCount": 0,
            "totalDeliveryFailedCount": 0,
            "items": [{
                "recipient": msisdn(c.to),
                "status": "sent",
                "statusDatetime": now,
                "messagePartCount": 1,
            }],
        },
    });
    (201, to_vec(&body))
}

/// The Message id in the upstream's answer.
pub fn real_id(answer: &Value) -> Option<&Value> {
    answer.get("id").filter(|v| v.is_string())
}

fn add_count(o: &mut Map<String, Value>, key: &str, n: u64) {
    let cur = o.get(key).and_then(Value::as_u64).unwrap_or(0);
    o.insert(key.to_owned(), Value::from(cur + n));
}

/// Lists the dropped recipients in the Message as MessageBird lists a
/// recipient it could not deliver to: status `delivery_failed`, counted in
/// `totalCount` and `totalDeliveryFailedCount`.
pub fn report_dropped(answer: &[u8], dropped: &[&str]) -> Option<Vec<u8>> {
    if dropped.is_empty() {
        return None;
    }
    let mut v: Value = serde_json::from_slice(answer).ok()?;
    let at = v.get("createdDatetime").cloned().unwrap_or(Value::Null);
    let recipients = v.get_mut("recipients")?.as_object_mut()?;
    let n = dropped.len() as u64;
    add_count(recipients, "totalCount", n);
    add_count(recipients, "totalDeliveryFailedCount", n);
    let items = recipients
        .entry("items")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()?;
    items.extend(dropped.iter().map(
        |d| json!({ "recipient": msisdn(d), "status": "delivery_failed", "statusDatetime": at }),
    ));
    serde_json::to_vec(&v).ok()
}

/// A held answer restated as failed, for `GET /messages/{id}` after a
/// reviewer rejected it.
pub fn failed_view(held_answer: &[u8], now: Timestamp) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(held_answer).ok()?;
    let recipients = v.get_mut("recipients")?.as_object_mut()?;
    let total = recipients
        .get("totalCount")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    recipients.insert("totalSentCount".into(), Value::from(0u64));
    recipients.insert("totalDeliveryFailedCount".into(), Value::from(total));
    for item in recipients.get_mut("items")?.as_array_mut()? {
        if let Some(o) = item.as_object_mut() {
            o.insert("status".into(), json!("delivery_failed"));
            o.insert("statusDatetime".into(), json!(datetime(now)));
        }
    }
    serde_json::to_vec(&v).ok()
}

/// MessageBird's status report: `GET <reportUrl>?id=…&recipient=…&status=delivery_failed&statusDatetime=…`
/// (support article 360001869258). No body; the recipient without `+`.
pub fn failure_callback(m: &FailedMessage<'_>) -> FailureCallback {
    let &FailedMessage { id, to, now, .. } = m;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("id", id)
        .append_pair("recipient", to.trim().trim_start_matches('+'))
        .append_pair("status", "delivery_failed")
        .append_pair("statusDatetime", &datetime(now))
        .finish();
    FailureCallback {
        method: "GET",
        content_type: None,
        body: Vec::new(),
        query: Some(query),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: toml::Value, title: Option<&str>) -> Answer {
        Answer {
            status,
            code,
            message: "no (correct) recipients found".into(),
            title: title.map(str::to_owned),
        }
    }

    #[test]
    fn refusal_is_messagebirds_error_list() {
        let a = answer(422, toml::Value::Integer(9), Some("recipient"));
        assert!(check_answer(&a).is_ok());
        let ctx = RejectContext {
            to: "+31612345678",
            prefix: "+3161",
        };
        let (ct, body) = reject(&a, &a.message, &ctx);
        assert_eq!(ct, "application/json");
        // ruby-rest-api issue #24, as the API wrote it.
        let doc: Value = serde_json::from_str(
            r#"{"errors":[{"code":9,"description":"no (correct) recipients found","parameter":"recipient"}]}"#,
        )
        .unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), doc);
        let none = reject(
            &answer(422, toml::Value::Integer(21), None),
            "Bad request",
            &ctx,
        )
        .1;
        assert!(String::from_utf8(none)
            .unwrap()
            .contains(r#""parameter":null"#));
    }

    #[test]
    fn answers_the_sdk_cannot_raise_are_refused_at_load() {
        assert!(check_answer(&answer(422, toml::Value::String("9".into()), None)).is_err());
        assert!(check_answer(&answer(403, toml::Value::Integer(9), None)).is_err());
        assert!(check_answer(&answer(422, toml::Value::Integer(-1), None)).is_err());
    }

    #[test]
    fn held_answer_is_a_message_object() {
        let id = synthetic_id();
        assert!(
            id.len() == 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let c = HeldContext {
            id: &id,
            to: "+31612345678",
            from: Some("TestName"),
            text: Some("Hello World"),
            account: None,
            service: None,
            channel: "sms",
            via_service: None,
            now: Timestamp(1_462_285_617_000), // 2016-05-03T14:26:57Z
        };
        let (status, body) = held(&c);
        assert_eq!(status, 201);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["href"],
            format!("https://rest.messagebird.com/messages/{id}")
        );
        assert_eq!(v["createdDatetime"], "2016-05-03T14:26:57+00:00");
        assert_eq!(v["recipients"]["items"][0]["recipient"], 31612345678u64);
        assert_eq!(v["recipients"]["items"][0]["status"], "sent");
        assert_eq!(real_id(&v), Some(&json!(id)));
        let failed: Value = serde_json::from_slice(&failed_view(&body, c.now).unwrap()).unwrap();
        assert_eq!(
            failed["recipients"]["items"][0]["status"],
            "delivery_failed"
        );
        assert_eq!(failed["recipients"]["totalDeliveryFailedCount"], 1);
    }

    #[test]
    fn dropped_recipients_are_listed_as_delivery_failed() {
        // go-rest-api sms/testdata/messageObject.json, trimmed.
        let doc = br#"{"id":"6fe65f90454aa61536e6a88b88972670","createdDatetime":"2022-01-05T10:02:59+00:00",
            "recipients":{"totalCount":1,"totalSentCount":1,"totalDeliveredCount":0,"totalDeliveryFailedCount":0,
            "items":[{"recipient":31612345678,"status":"sent","statusDatetime":"2022-01-05T10:02:59+00:00"}]}}"#;
        let out = report_dropped(doc, &["+31687654321", "not-a-number"]).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let r = &v["recipients"];
        assert_eq!(
            (r["totalCount"].clone(), r["totalSentCount"].clone()),
            (json!(3), json!(1))
        );
        assert_eq!(r["totalDeliveryFailedCount"], 2);
        assert_eq!(r["items"][1]["recipient"], 31687654321u64);
        assert_eq!(r["items"][1]["status"], "delivery_failed");
        assert_eq!(r["items"][1]["statusDatetime"], "2022-01-05T10:02:59+00:00");
        assert_eq!(r["items"][2]["recipient"], "not-a-number");
        assert!(report_dropped(doc, &[]).is_none());
        assert!(report_dropped(b"{\"errors\":[]}", &["+1"]).is_none());
    }

    #[test]
    fn failure_report_is_a_get_with_messagebirds_query() {
        // The support article's example, with status delivery_failed.
        let cb = failure_callback(&FailedMessage {
            id: "e8077d803532c0b5937c639b60216938",
            to: "+31612345678",
            from: None,
            account: None,
            now: Timestamp(1_462_265_890_000), // 2016-05-03T08:58:10Z
        });
        assert_eq!(
            (cb.method, cb.content_type, cb.body.len()),
            ("GET", None, 0)
        );
        assert_eq!(
            cb.query.as_deref(),
            Some("id=e8077d803532c0b5937c639b60216938&recipient=31612345678&status=delivery_failed&statusDatetime=2016-05-03T08%3A58%3A10%2B00%3A00")
        );
    }
}
