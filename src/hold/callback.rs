//! Failure callbacks for rejected held sends, shaped and signed as each
//! provider's own status callbacks, so the platform's webhook handler sees
//! an ordinary failed message.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{header, Request};
use sha1::Sha1;

use super::Sealed;
use crate::clock::Timestamp;
use crate::dialect::{DialectKind, FailedMessage, FailureCallback};
use crate::store::HeldRow;
use crate::upstream::UpstreamClient;

pub const MAX_ATTEMPTS: u32 = 6;

/// 2 s, 8 s, 32 s, … capped at 10 minutes.
pub fn backoff_ms(attempts: u32) -> i64 {
    (2_000i64 << (2 * attempts.min(8))).min(600_000)
}

pub async fn deliver(
    client: &UpstreamClient,
    dialect: DialectKind,
    url: &str,
    row: &HeldRow,
    s: &Sealed,
    now: Timestamp,
) -> Result<(), String> {
    let params: Vec<(&str, String)> = match dialect {
        DialectKind::TwilioMessage => vec![
            ("AccountSid", s.account.clone().unwrap_or_default()),
            ("ApiVersion", "2010-04-01".into()),
            ("ErrorCode", "30450".into()),
            ("From", s.from.clone().unwrap_or_default()),
            ("MessageSid", row.id.clone()),
            ("MessageStatus", "failed".into()),
            ("SmsSid", row.id.clone()),
            ("SmsStatus", "failed".into()),
            ("To", s.to.clone()),
        ],
        DialectKind::VonageSms => vec![
            ("msisdn", s.to.clone()),
            ("to", s.from.clone().unwrap_or_default()),
            ("messageId", row.id.clone()),
            ("status", "rejected".into()),
            ("err-code", "7".into()),
        ],
        DialectKind::PlivoMessage => vec![
            ("MessageUUID", row.id.clone()),
            ("Status", "failed".into()),
            ("ErrorCode", "450".into()),
            ("To", s.to.clone()),
            ("From", s.from.clone().unwrap_or_default()),
        ],
        _ => {
            let failed = FailedMessage {
                id: &row.id,
                to: &s.to,
                from: s.from.as_deref(),
                account: s.account.as_deref(),
                now,
            };
            return match dialect.failure_callback(&failed) {
                Some(cb) => send(client, url, cb).await,
                None => Ok(()),
            };
        }
    };
    // The serializer is not `Send`: finish it before any await.
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params {
            form.append_pair(k, v);
        }
        form.finish()
    };
    let uri: http::Uri = url.parse().map_err(|e| format!("bad callback URL: {e}"))?;
    let mut req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::USER_AGENT, "TwilioProxy/1.1")
        .body(crate::upstream::full(body))
        .map_err(|e| e.to_string())?;
    if dialect == DialectKind::TwilioMessage {
        if let Some(token) = auth_token(s) {
            let sig = twilio_signature(&token, url, &params);
            if let Ok(v) = http::HeaderValue::from_str(&sig) {
                req.headers_mut().insert("x-twilio-signature", v);
            }
        }
    }
    answered(client.send(req).await.map_err(|e| e.to_string())?.status())
}

/// Sends a dialect's own failure report: a JSON POST, or a GET with the
/// report in the query (MessageBird).
async fn send(client: &UpstreamClient, url: &str, cb: FailureCallback) -> Result<(), String> {
    let url = match &cb.query {
        Some(q) if url.contains('?') => format!("{url}&{q}"),
        Some(q) => format!("{url}?{q}"),
        None => url.to_owned(),
    };
    let uri: http::Uri = url.parse().map_err(|e| format!("bad callback URL: {e}"))?;
    let mut req = Request::builder().method(cb.method).uri(uri);
    if let Some(ct) = cb.content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req
        .body(crate::upstream::full(cb.body))
        .map_err(|e| e.to_string())?;
    answered(client.send(req).await.map_err(|e| e.to_string())?.status())
}

fn answered(status: http::StatusCode) -> Result<(), String> {
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the callback answered {status}"))
    }
}

/// The Basic-auth password of the held request (the Twilio auth token),
/// which Twilio signs callbacks with.
fn auth_token(s: &Sealed) -> Option<String> {
    let (_, v) = s
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))?;
    let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    let value = String::from_utf8(raw).ok()?;
    let b64 = value.strip_prefix("Basic ")?;
    let creds = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?,
    )
    .ok()?;
    creds.split_once(':').map(|(_, p)| p.to_owned())
}

/// Twilio's request signature: HMAC-SHA1 of the URL followed by each POST
/// parameter's name and value, sorted by name, keyed with the auth token.
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(token.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_twilios_documented_example() {
        // Twilio's documented example; the value is what the twilio SDK's
        // RequestValidator computes for it.
        let params: Vec<(&str, String)> = vec![
            ("CallSid", "CA1234567890ABCDE".into()),
            ("Caller", "+12349013030".into()),
            ("Digits", "1234".into()),
            ("From", "+12349013030".into()),
            ("To", "+18005551212".into()),
        ];
        let sig = twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params,
        );
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }
}
