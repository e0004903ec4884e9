//! Infobip SMS: v2 (`/sms/2/text/advanced` and its v1/binary/legacy kin) and
//! v3 (`/sms/3/messages`).
//!
//! Infobip refuses a *destination* with HTTP 200 and a per-message status in
//! group 5 REJECTED, one `messages[]` entry per destination; HTTP errors are
//! for requests that fail validation (v2 `requestError.serviceException`, v3
//! `ApiError`). Shapes follow the Infobip SMS OpenAPI (3.210.0) examples,
//! field order included, and what the two Python SDKs parse
//! (infobip-api-python-sdk 5.0.1 needs every status field; the official
//! infobip-api-python-client 6.0.0 needs `groupName` from its enum and every
//! `ApiError` field to fill `ApiException.data`).
//!
//! `FailureCallback` is the shared struct of `super` (see the dialect brief).

use serde_json::{json, Map, Value};

use super::{Answer, FailedMessage, FailureCallback, HeldContext, RejectContext};
use crate::clock::Timestamp;

/// Which generation of the SMS API a route speaks; their answers differ
/// (`to` vs `destination` + `details`, `requestError` vs `ApiError`, the
/// delivery report's `smsCount` vs `messageCount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V2,
    V3,
}

/// Status group 5: "rejected by Infobip or the operator before it could be sent".
const REJECTED: (i64, &str) = (5, "REJECTED");
/// Group 1, id 26: what a send answer says for an accepted message.
const PENDING_ACCEPTED: (i64, &str, i64, &str, &str) = (
    1,
    "PENDING",
    26,
    "PENDING_ACCEPTED",
    "Message sent to next instance",
);
/// How dropped destinations and rejected held sends are reported: the
/// destination is blocklisted on the account (status 14).
const BLOCKLISTED: (i64, &str, &str) = (
    14,
    "REJECTED_DESTINATION_BLOCKLISTED",
    "Destination address blocklisted",
);

fn to_vec(v: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Load-time check. `status = 200` is a refused destination: `code` is the
/// status id and `title` its name. Any other status is an HTTP error: `code`
/// is the v2 `messageId` / v3 `errorCode`, and v3 needs `title` (`action`).
pub fn check_answer(api: Api, a: &Answer) -> Result<(), &'static str> {
    if a.status == 200 {
        return match (a.code.as_integer(), a.title.as_deref()) {
            (Some(id), Some(name)) if id >= 0 && !name.is_empty() => Ok(()),
            _ => Err("an integer `code` (status id) and a `title` (status name) with status 200"),
        };
    }
    let code = a.code.as_str().is_some_and(|c| !c.is_empty());
    match api {
        Api::V2 if code => Ok(()),
        Api::V2 => Err("a `code` string (the serviceException messageId) for an HTTP error"),
        Api::V3 if code && a.title.is_some() => Ok(()),
        Api::V3 => Err("a `code` string (errorCode) and a `title` (action) for an HTTP error"),
    }
}

/// A status object, in each version's field order.
fn status(api: Api, group: (i64, &str), id: i64, name: &str, description: &str) -> Value {
    match api {
        Api::V2 => json!({
            "description": description,
            "groupId": group.0,
            "groupName": group.1,
            "id": id,
            "name": name,
        }),
        Api::V3 => json!({
            "groupId": group.0,
            "groupName": group.1,
            "id": id,
            "name": name,
            "description": description,
        }),
    }
}

/// One `messages[]` entry of a send answer.
fn entry(api: Api, id: &str, status: Value, to: &str) -> Value {
    match api {
        Api::V2 => json!({ "messageId": id, "status": status, "to": to }),
        Api::V3 => json!({
            "messageId": id,
            "status": status,
            "destination": to,
            "details": { "messageCount": 1 },
        }),
    }
}

/// A refusal. Status 200: the send answer with one REJECTED message for the
/// destination (no `bulkId`: Infobip gives one only for several messages).
/// Otherwise the version's error body.
pub fn reject(
    api: Api,
    a: &Answer,
    message: &str,
    ctx: &RejectContext<'_>,
) -> (&'static str, Vec<u8>) {
    let body = if a.status == 200 {
        let s = status(
            api,
            REJECTED,
            a.code.as_integer().unwrap_or(0),
            a.title.as_deref().unwrap_or(REJECTED.1),
            message,
        );
        json!({ "messages": [entry(api, &synthetic_id(), s, ctx.to)] })
    } else {
        let code = a.code.as_str().unwrap_or("BAD_REQUEST");
        match api {
            Api::V2 => json!({
                "requestError": { "serviceException": { "messageId": code, "text": message } },
            }),
            Api::V3 => json!({
                "errorCode": code,
                "description": message,
                "action": a.title.as_deref().unwrap_or(""),
                "violations": [],
                "resources": [],
            }),
        }
    };
    ("application/json", to_vec(&body))
}

/// Infobip message ids are opaque strings; the spec's own examples are
/// uuid-like (`12db39c3-7822-4e72-a3ec-c87442c0ffc5`).
pub fn synthetic_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What Infobip answers for an accepted message: 200, PENDING_ACCEPTED.
pub fn held(api: Api, c: &HeldContext<'_>) -> (u16, Vec<u8>) {
    let (g, gn, id, name, desc) = PENDING_ACCEPTED;
    let s = status(api, (g, gn), id, name, desc);
    (
        200,
        to_vec(&json!({ "messages": [entry(api, c.id, s, c.to)] })),
    )
}

/// The first message's id in the upstream's answer (both versions).
pub fn real_id(answer: &Value) -> Option<&Value> {
    answer.get("messages")?.get(0)?.get("messageId")
}

/// Appends one REJECTED `messages[]` entry per dropped destination, as
/// Infobip lists a refused destination beside the accepted ones.
pub fn report_dropped(api: Api, answer: &[u8], dropped: &[&str]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(answer).ok()?;
    let messages = v.get_mut("messages")?.as_array_mut()?;
    let (id, name, desc) = BLOCKLISTED;
    for to in dropped {
        let s = status(api, REJECTED, id, name, desc);
        messages.push(entry(api, &synthetic_id(), s, to));
    }
    serde_json::to_vec(&v).ok()
}

/// Infobip's date format: `2019-11-09T16:00:00.000+0000`.
fn infobip_time(now: Timestamp) -> String {
    let t = now.to_rfc3339();
    match t.strip_suffix('Z') {
        Some(head) => format!("{head}+0000"),
        None => t,
    }
}

/// The delivery report Infobip POSTs (JSON) to `notifyUrl` (v2) or
/// `webhooks.delivery.url` (v3) for a message that ends REJECTED. `to` is
/// written as Infobip does, digits without `+`. Infobip does not sign
/// reports. `account` is unused: an Infobip report names none.
pub fn failure_callback(api: Api, m: &FailedMessage<'_>) -> FailureCallback {
    let &FailedMessage {
        id, to, from, now, ..
    } = m;
    let at = infobip_time(now);
    let to = to.trim_start_matches('+');
    let (sid, sname, sdesc) = BLOCKLISTED;
    let price = json!({ "pricePerMessage": 0.0, "currency": "EUR" });
    let error = json!({
        "groupId": 0,
        "groupName": "OK",
        "id": 0,
        "name": "NO_ERROR",
        "description": "No Error",
        "permanent": false,
    });
    let mut r = Map::new();
    match api {
        Api::V2 => {
            r.insert("messageId".into(), json!(id));
            r.insert("to".into(), json!(to));
            r.insert("sentAt".into(), json!(at));
            r.insert("doneAt".into(), json!(at));
            r.insert("smsCount".into(), json!(1));
            r.insert("price".into(), price);
            r.insert("status".into(), status(api, REJECTED, sid, sname, sdesc));
            r.insert("error".into(), error);
        }
        Api::V3 => {
            r.insert("price".into(), price);
            r.insert("status".into(), status(api, REJECTED, sid, sname, sdesc));
            r.insert("error".into(), error);
            r.insert("messageId".into(), json!(id));
            r.insert("to".into(), json!(to));
            if let Some(f) = from {
                r.insert("sender".into(), json!(f));
            }
            r.insert("sentAt".into(), json!(at));
            r.insert("doneAt".into(), json!(at));
            r.insert("messageCount".into(), json!(1));
        }
    }
    FailureCallback {
        method: "POST",
        content_type: Some("application/json"),
        body: to_vec(&json!({ "results": [Value::Object(r)] })),
        query: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(status: u16, code: toml::Value, message: &str, title: Option<&str>) -> Answer {
        Answer {
            status,
            code,
            message: message.into(),
            title: title.map(str::to_owned),
        }
    }

    fn body(api: Api, ans: &Answer) -> Value {
        let ctx = RejectContext {
            to: "41793026727",
            prefix: "+41793",
        };
        let (ct, b) = reject(api, ans, &ans.message, &ctx);
        assert_eq!(ct, "application/json");
        serde_json::from_slice(&b).unwrap()
    }

    #[test]
    fn check_answer_wants_status_ids_for_200_and_codes_for_errors() {
        let ok = a(200, 8.into(), "x", Some("REJECTED_PREFIX_MISSING"));
        assert!(check_answer(Api::V2, &ok).is_ok() && check_answer(Api::V3, &ok).is_ok());
        assert!(check_answer(Api::V2, &a(200, 8.into(), "x", None)).is_err());
        assert!(check_answer(Api::V2, &a(200, "8".into(), "x", Some("X"))).is_err());
        let v2 = a(400, "BAD_REQUEST".into(), "x", None);
        assert!(check_answer(Api::V2, &v2).is_ok() && check_answer(Api::V3, &v2).is_err());
        assert!(check_answer(Api::V3, &a(400, "E400".into(), "x", Some("Check"))).is_ok());
    }

    #[test]
    fn a_refused_destination_is_a_200_answer_in_each_versions_order() {
        let ans = a(
            200,
            8.into(),
            "Number prefix missing",
            Some("REJECTED_PREFIX_MISSING"),
        );
        let v = body(Api::V2, &ans);
        assert!(v.get("bulkId").is_none());
        assert_eq!(v["messages"][0]["to"], "41793026727");
        assert_eq!(
            v["messages"][0]["status"].to_string(),
            r#"{"description":"Number prefix missing","groupId":5,"groupName":"REJECTED","id":8,"name":"REJECTED_PREFIX_MISSING"}"#
        );
        let m = &body(Api::V3, &ans)["messages"][0];
        assert_eq!(
            m["status"].to_string(),
            r#"{"groupId":5,"groupName":"REJECTED","id":8,"name":"REJECTED_PREFIX_MISSING","description":"Number prefix missing"}"#
        );
        assert_eq!(m["destination"], "41793026727");
        assert_eq!(m["details"]["messageCount"], 1);
    }

    #[test]
    fn http_errors_are_the_spec_examples() {
        let v = body(Api::V2, &a(400, "BAD_REQUEST".into(), "Bad request", None));
        assert_eq!(
            v.to_string(),
            r#"{"requestError":{"serviceException":{"messageId":"BAD_REQUEST","text":"Bad request"}}}"#
        );
        let action = "Check the syntax, violations and adjust the request.";
        let v = body(
            Api::V3,
            &a(
                400,
                "E400".into(),
                "Request cannot be processed.",
                Some(action),
            ),
        );
        assert_eq!(
            v.to_string(),
            r#"{"errorCode":"E400","description":"Request cannot be processed.","action":"Check the syntax, violations and adjust the request.","violations":[],"resources":[]}"#
        );
    }

    #[test]
    fn held_is_pending_accepted_and_real_id_reads_the_first_message() {
        let c = HeldContext {
            id: "5f6c1c2e-1111-4222-8333-444455556666",
            to: "41793026727",
            from: Some("InfoSMS"),
            text: None,
            account: None,
            service: None,
            channel: "sms",
            via_service: None,
            now: Timestamp(0),
        };
        // The spec's v2 answer for one destination.
        let spec: Value = serde_json::from_str(r#"{"bulkId":"2034072219640523073","messages":[{"messageId":"2033247207850523791","status":{"description":"Message sent to next instance","groupId":1,"groupName":"PENDING","id":26,"name":"PENDING_ACCEPTED"},"to":"41793026727"}]}"#).unwrap();
        assert_eq!(real_id(&spec), Some(&json!("2033247207850523791")));
        let (status, b) = held(Api::V2, &c);
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            (status, &v["messages"][0]["status"]),
            (200, &spec["messages"][0]["status"])
        );
        let v: Value = serde_json::from_slice(&held(Api::V3, &c).1).unwrap();
        assert_eq!(real_id(&v), Some(&json!(c.id)));
    }

    #[test]
    fn dropped_destinations_are_appended_as_rejected() {
        let up = br#"{"messages":[{"messageId":"m1","status":{},"to":"41793026727"}]}"#;
        let v: Value =
            serde_json::from_slice(&report_dropped(Api::V2, up, &["447700900999"]).unwrap())
                .unwrap();
        let ms = v["messages"].as_array().unwrap();
        assert_eq!(
            (ms.len(), &ms[0]["messageId"], &ms[1]["to"]),
            (2, &json!("m1"), &json!("447700900999"))
        );
        assert_eq!(
            (&ms[1]["status"]["groupId"], &ms[1]["status"]["id"]),
            (&json!(5), &json!(14))
        );
        assert!(report_dropped(Api::V3, br#"{"requestError":{}}"#, &["x"]).is_none());
    }

    #[test]
    fn failure_callback_is_a_json_delivery_report() {
        let cb = failure_callback(
            Api::V3,
            &FailedMessage {
                id: "id-1",
                to: "+447400123456",
                from: Some("InfoSMS"),
                account: None,
                now: Timestamp(1_438_287_151_000),
            },
        );
        assert_eq!(
            (cb.method, cb.content_type, cb.query),
            ("POST", Some("application/json"), None)
        );
        let v: Value = serde_json::from_slice(&cb.body).unwrap();
        let r = &v["results"][0];
        assert_eq!(
            (&r["messageId"], &r["to"], &r["sender"]),
            (&json!("id-1"), &json!("447400123456"), &json!("InfoSMS"))
        );
        assert_eq!(
            (&r["sentAt"], &r["messageCount"]),
            (&json!("2015-07-30T20:12:31.000+0000"), &json!(1))
        );
        assert_eq!(r["status"]["groupName"], "REJECTED");
        let v: Value = serde_json::from_slice(
            &failure_callback(
                Api::V2,
                &FailedMessage {
                    id: "i",
                    to: "44",
                    from: None,
                    account: None,
                    now: Timestamp(0),
                },
            )
            .body,
        )
        .unwrap();
        assert_eq!(v["results"][0]["smsCount"], 1);
        assert!(v["results"][0].get("sender").is_none());
    }
}
