//! Synthetic answers, exactly as each aggregator writes them, so the official
//! SDKs raise (or return) what they would for the real thing.
//!
//! The *shape* of each answer lives here, in Rust, because SDKs parse it and
//! it must be exact. The *values* (status, code, text per refusal class) are
//! data in the route files, so a provider that reuses a dialect is a new
//! route file only.

mod answers;
mod bird;
mod held;
mod infobip;
mod shapes;
mod sinch;
mod telnyx;

pub use answers::{Answer, Answers};
pub use held::HeldContext;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde::Deserialize;

use crate::clock::Timestamp;

/// The families of answer shapes tollgate can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DialectKind {
    /// Twilio REST errors: `{"code","message","more_info","status"}`.
    TwilioMessage,
    /// Twilio Verify v2: same error shape as the REST API.
    TwilioVerify,
    /// Vonage SMS API: HTTP 200 with per-message string statuses.
    VonageSms,
    /// Vonage legacy Verify: HTTP 200 `{"request_id","status","error_text"}`.
    VonageVerifyLegacy,
    /// Vonage Verify v2: RFC 7807 problem JSON.
    VonageVerifyV2,
    /// Vonage Messages API: RFC 7807 problem JSON.
    VonageMessages,
    /// Plivo: `{"api_id","error"}`.
    PlivoMessage,
    /// Bird (MessageBird) SMS: HTTP 422 `{"errors":[{"code","description","parameter"}]}`.
    BirdMessage,
    /// Sinch SMS (XMS) batches: `{"code","text"}`.
    SinchBatch,
    /// Telnyx Messaging v2: `{"errors":[{"code","title","detail","source"}]}`.
    TelnyxMessage,
    /// Telnyx Verify v2: the same error list.
    TelnyxVerify,
    /// Infobip SMS v2 (`/sms/2/text/advanced`): a refused destination is a
    /// REJECTED message in a 200 answer; bad requests `requestError`.
    InfobipSmsV2,
    /// Infobip SMS v3 (`/sms/3/messages`): the same, errors as `ApiError`.
    InfobipSmsV3,
}

/// What a refusal is about, beyond the route file's answer.
pub struct RejectContext<'a> {
    /// The destination as the client wrote it (`{to}` in answer texts).
    pub to: &'a str,
    /// `+` and the leading digits of the number (`{prefix}`), as Twilio
    /// names a blocked prefix.
    pub prefix: &'a str,
}

impl DialectKind {
    /// Checks at load time that the route file's answers fit this dialect,
    /// so a bad file fails `tollgate check` instead of a live request.
    pub fn check_answers(self, answers: &Answers) -> Result<(), String> {
        let all = [
            ("invalid_number", &answers.invalid_number),
            ("line_type", &answers.line_type),
            ("geo", &answers.geo),
            ("fraud", &answers.fraud),
            ("malformed", &answers.malformed),
            ("too_large", &answers.too_large),
        ];
        for (name, a) in all {
            if StatusCode::from_u16(a.status).is_err() {
                return Err(format!("answers.{name}: bad HTTP status {}", a.status));
            }
            self.check_answer(a)
                .map_err(|want| format!("answers.{name}: the {self:?} dialect needs {want}"))?;
        }
        Ok(())
    }

    /// What one answer's `code` must be in this dialect.
    fn check_answer(self, a: &Answer) -> Result<(), &'static str> {
        let ok = match self {
            DialectKind::TwilioMessage | DialectKind::TwilioVerify => a.code.as_integer().is_some(),
            DialectKind::VonageSms | DialectKind::VonageVerifyLegacy => a
                .code
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())),
            DialectKind::VonageVerifyV2 | DialectKind::VonageMessages => {
                a.code.as_str().is_some() && a.title.is_some()
            }
            DialectKind::PlivoMessage => true,
            DialectKind::BirdMessage => return bird::check_answer(a),
            DialectKind::SinchBatch => return sinch::check_answer(a),
            DialectKind::TelnyxMessage | DialectKind::TelnyxVerify => {
                return telnyx::check_answer(a)
            }
            DialectKind::InfobipSmsV2 => return infobip::check_answer(infobip::Api::V2, a),
            DialectKind::InfobipSmsV3 => return infobip::check_answer(infobip::Api::V3, a),
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            DialectKind::TwilioMessage | DialectKind::TwilioVerify => "an integer `code`",
            DialectKind::VonageSms | DialectKind::VonageVerifyLegacy => "a `code` string of digits",
            _ => "a `code` string (the problem `type` URL) and a `title`",
        })
    }

    /// Renders one refusal.
    pub fn reject(self, answer: &Answer, ctx: &RejectContext<'_>) -> Response<Bytes> {
        let message = answer
            .message
            .replace("{to}", ctx.to)
            .replace("{prefix}", ctx.prefix);
        let (content_type, body) = match self {
            DialectKind::TwilioMessage | DialectKind::TwilioVerify => (
                "application/json; charset=utf-8",
                shapes::twilio_error(
                    answer.code.as_integer().unwrap_or(0),
                    &message,
                    answer.status,
                ),
            ),
            DialectKind::VonageSms => (
                "application/json",
                shapes::vonage_sms_error(ctx.to, answer.code.as_str().unwrap_or("5"), &message),
            ),
            DialectKind::VonageVerifyLegacy => (
                "application/json",
                shapes::vonage_verify_legacy_error(answer.code.as_str().unwrap_or("5"), &message),
            ),
            DialectKind::VonageVerifyV2 | DialectKind::VonageMessages => (
                "application/problem+json",
                shapes::problem(
                    answer.code.as_str().unwrap_or("about:blank"),
                    answer.title.as_deref().unwrap_or(""),
                    &message,
                ),
            ),
            DialectKind::PlivoMessage => ("application/json", shapes::plivo_error(&message)),
            DialectKind::BirdMessage => bird::reject(answer, &message, ctx),
            DialectKind::SinchBatch => sinch::reject(answer, &message, ctx),
            DialectKind::TelnyxMessage => telnyx::reject_message(answer, &message, ctx),
            DialectKind::TelnyxVerify => telnyx::reject_verify(answer, &message, ctx),
            DialectKind::InfobipSmsV2 => infobip::reject(infobip::Api::V2, answer, &message, ctx),
            DialectKind::InfobipSmsV3 => infobip::reject(infobip::Api::V3, answer, &message, ctx),
        };
        json_response(answer.status, content_type, body)
    }
}

impl DialectKind {
    /// Adds destinations tollgate dropped from a multi-destination send to
    /// the provider's own answer, where the provider reports invalid
    /// destinations (Plivo `invalid_number`). `None`: leave the answer as is.
    pub fn report_dropped(self, answer: &[u8], dropped: &[&str]) -> Option<Vec<u8>> {
        match self {
            DialectKind::PlivoMessage => shapes::plivo_add_invalid(answer, dropped),
            DialectKind::BirdMessage => bird::report_dropped(answer, dropped),
            DialectKind::InfobipSmsV2 => infobip::report_dropped(infobip::Api::V2, answer, dropped),
            DialectKind::InfobipSmsV3 => infobip::report_dropped(infobip::Api::V3, answer, dropped),
            _ => None,
        }
    }

    /// Whether [`DialectKind::report_dropped`] can report dropped destinations.
    pub fn reports_dropped(self) -> bool {
        matches!(
            self,
            DialectKind::PlivoMessage
                | DialectKind::BirdMessage
                | DialectKind::InfobipSmsV2
                | DialectKind::InfobipSmsV3
        )
    }
}

/// A held send rejected for good, as a failure report names it.
pub struct FailedMessage<'a> {
    /// The id the platform was given (the synthetic one).
    pub id: &'a str,
    pub to: &'a str,
    pub from: Option<&'a str>,
    pub account: Option<&'a str>,
    pub now: Timestamp,
}

/// A dialect's own delivery report saying a message failed, for the
/// platform's callback URL.
pub struct FailureCallback {
    pub method: &'static str,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    /// Appended to the callback URL (reports sent as a `GET`).
    pub query: Option<String>,
}

impl DialectKind {
    /// The failure report of the dialects whose reports are not forms
    /// (those are built, and Twilio's signed, by the hold queue). `None`:
    /// the provider sends none that the platform could expect.
    pub fn failure_callback(self, m: &FailedMessage<'_>) -> Option<FailureCallback> {
        match self {
            DialectKind::BirdMessage => Some(bird::failure_callback(m)),
            DialectKind::SinchBatch => Some(sinch::failure_callback(m)),
            DialectKind::TelnyxMessage => Some(telnyx::failure_callback(m)),
            DialectKind::InfobipSmsV2 | DialectKind::InfobipSmsV3 => {
                let api = if self == DialectKind::InfobipSmsV2 {
                    infobip::Api::V2
                } else {
                    infobip::Api::V3
                };
                Some(infobip::failure_callback(api, m))
            }
            _ => None,
        }
    }
}

/// A complete response with a JSON body and its content type.
pub fn json_response(status: u16, content_type: &'static str, body: Vec<u8>) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    resp
}

/// tollgate's own errors (unknown route, upstream down), in a neutral JSON
/// shape that names tollgate, so nobody mistakes them for the aggregator's.
pub fn neutral_error(status: StatusCode, code: &str, message: &str) -> Response<Bytes> {
    let body = serde_json::json!({
        "error": code,
        "message": message,
        "source": "tollgate",
    });
    json_response(
        status.as_u16(),
        "application/json",
        body.to_string().into_bytes(),
    )
}

#[cfg(test)]
mod tests;
