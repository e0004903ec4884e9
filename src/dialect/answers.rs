//! The values of a route's synthetic answers (`[send.answers]` in route
//! files): status, code and text per refusal class. They sit with the
//! dialect that shapes them, so the route files' format points down to the
//! dialect and never the other way.

use serde::Deserialize;

/// The provider's answers, per refusal class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    /// The destination is not a valid phone number.
    pub invalid_number: Answer,
    /// The line type cannot receive an SMS (fixed line, premium rate, …).
    pub line_type: Answer,
    /// The destination country is not permitted.
    pub geo: Answer,
    /// Blocked as suspected pumping.
    pub fraud: Answer,
    /// The body could not be parsed or lacks the destination.
    pub malformed: Answer,
    /// The body is larger than the limit.
    pub too_large: Answer,
}

/// One synthetic refusal. Which fields are used depends on the dialect;
/// `{to}` in `message` is replaced by the destination as the client sent it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The provider's error code (`21408`, `"29"`, a problem `type` URL…).
    pub code: toml::Value,
    /// The provider's error text.
    pub message: String,
    /// Problem-JSON `title` (Vonage v2 APIs).
    #[serde(default)]
    pub title: Option<String>,
}
