//! The byte-level bodies. Field order follows what each provider sends.

use serde_json::{json, Value};

fn to_vec(v: Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Twilio: `{"code":21408,"message":"…","more_info":"https://www.twilio.com/docs/errors/21408","status":400}`.
pub fn twilio_error(code: i64, message: &str, status: u16) -> Vec<u8> {
    to_vec(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

/// Vonage SMS: HTTP 200 and every value a string.
pub fn vonage_sms_error(to: &str, status: &str, text: &str) -> Vec<u8> {
    to_vec(json!({
        "message-count": "1",
        "messages": [{ "to": to, "status": status, "error-text": text }],
    }))
}

/// Vonage legacy Verify: `request_id` is blank in an error.
pub fn vonage_verify_legacy_error(status: &str, text: &str) -> Vec<u8> {
    to_vec(json!({ "request_id": "", "status": status, "error_text": text }))
}

/// RFC 7807 problem details, as the Vonage v2 APIs write them.
pub fn problem(kind: &str, title: &str, detail: &str) -> Vec<u8> {
    to_vec(json!({
        "type": kind,
        "title": title,
        "detail": detail,
        "instance": uuid::Uuid::new_v4().to_string(),
    }))
}

/// Plivo: `{"api_id":"<uuid>","error":"…"}`.
pub fn plivo_error(message: &str) -> Vec<u8> {
    to_vec(json!({ "api_id": uuid::Uuid::new_v4().to_string(), "error": message }))
}

/// Plivo lists destinations it did not queue under `invalid_number`.
pub fn plivo_add_invalid(answer: &[u8], dropped: &[&str]) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(answer).ok()?;
    let obj = v.as_object_mut()?;
    let list = obj
        .entry("invalid_number")
        .or_insert_with(|| Value::Array(Vec::new()));
    let arr = list.as_array_mut()?;
    arr.extend(dropped.iter().map(|d| Value::String((*d).to_owned())));
    serde_json::to_vec(&v).ok()
}
