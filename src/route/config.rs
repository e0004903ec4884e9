//! The route file format (`routes/*.toml`), one file per provider.
//!
//! These structs are the reference for route-file authors: every field is
//! documented here and unknown keys are rejected, so a typo fails `tollgate
//! check` instead of silently doing nothing.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::dialect::{Answers, DialectKind};

/// One provider's HTTP API as tollgate needs to know it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    /// Provider name used in logs, metrics and decisions (`twilio`).
    pub provider: String,
    /// Named upstream base URLs (`twilio-api = "https://api.twilio.com"`).
    /// Each can be overridden at start-up with `--upstream NAME=URL`.
    pub upstreams: BTreeMap<String, String>,
    /// Endpoints that send a message or start a verification: these are
    /// parsed and scored.
    #[serde(default)]
    pub send: Vec<SendEndpoint>,
    /// Endpoints whose answer reveals that a code was used (conversion).
    /// They are forwarded unchanged; tollgate learns from the answer.
    #[serde(default)]
    pub feedback: Vec<FeedbackEndpoint>,
    /// Status look-ups that may name a held send's synthetic id: answered by
    /// tollgate for held ids, forwarded otherwise.
    #[serde(default)]
    pub status: Vec<StatusEndpoint>,
    /// Path prefixes forwarded unchanged to an upstream when no send or
    /// feedback endpoint matches (status look-ups, account calls, …).
    #[serde(default)]
    pub passthrough: Vec<Passthrough>,
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`.
    Json,
    /// Either, chosen by the request's `Content-Type` (form when absent).
    Auto,
}

/// A send endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendEndpoint {
    /// Short name, unique within the file (`messages`); the route id in logs
    /// is `provider.name`.
    pub name: String,
    /// HTTP method, usually `POST`.
    #[serde(default = "default_post")]
    pub method: String,
    /// Path template; `{var}` matches one non-empty path segment. `{account}`
    /// is taken as the account for velocity and overrides.
    pub path: String,
    /// Other paths of the same send (`…/Messages` and `…/Messages.xml`
    /// beside `…/Messages.json`): scored the same, answered in the same
    /// dialect. A send path no route names falls to a passthrough prefix
    /// unscored, so a provider's every spelling of a send belongs here.
    #[serde(default)]
    pub also: Vec<String>,
    /// Which of `upstreams` serves it.
    pub upstream: String,
    /// Body encoding.
    pub body: BodyEncoding,
    /// Field holding the destination(s). Dotted path; `[]` iterates an array
    /// (`to`, `To`, `workflow[].to`, `to[]`). Form fields may repeat.
    pub to: String,
    /// Several destinations joined in one value by this separator (Plivo
    /// `dst` uses `<`).
    #[serde(default)]
    pub to_separator: Option<String>,
    /// Field holding the channel (`Channel`, `workflow[].channel`). When it
    /// shares the array of `to`, each destination gets its own channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// The channel when the body names none (`sms`).
    #[serde(default = "default_channel")]
    pub default_channel: String,
    /// Destinations of the form `whatsapp:+…` carry their channel as a prefix:
    /// strip it and use it as the channel.
    #[serde(default)]
    pub channel_prefix: bool,
    /// Channels that are forwarded without scoring (`email`): they cannot be
    /// pumped through a phone number range.
    #[serde(default)]
    pub skip_channels: Vec<String>,
    /// Field with a country hint for national-format numbers (Vonage legacy
    /// Verify `country`).
    #[serde(default)]
    pub region_field: Option<String>,
    /// Field with the sender (`From`).
    #[serde(default)]
    pub from: Option<String>,
    /// Field with the account when the path has no `{account}` (Vonage
    /// `api_key`); otherwise the Basic-auth user name is used.
    #[serde(default)]
    pub account_field: Option<String>,
    /// Field with the message text (`Body`, `text`), shown in held answers.
    #[serde(default)]
    pub text: Option<String>,
    /// Field with the status callback URL (`StatusCallback`, `callback`, `url`).
    #[serde(default)]
    pub callback: Option<String>,
    /// Field whose presence means a Messaging Service send (Twilio
    /// `MessagingServiceSid`): held answers then say `accepted`.
    #[serde(default)]
    pub service_field: Option<String>,
    /// How synthetic answers are shaped.
    pub dialect: DialectKind,
    /// When some destinations of a multi-destination send are blocked:
    /// `reject` the whole send, or `drop` the blocked ones, forward the rest
    /// and report the dropped ones the way the provider reports invalid
    /// destinations (Plivo `invalid_number`).
    #[serde(default)]
    pub partial: PartialPolicy,
    /// The provider's own answer for each kind of refusal.
    pub answers: Answers,
}

/// What to do with a multi-destination send when only some are blocked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialPolicy {
    #[default]
    Reject,
    Drop,
}

/// An endpoint whose answer reveals a conversion.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackEndpoint {
    /// Short name, unique within the file.
    pub name: String,
    #[serde(default = "default_post")]
    pub method: String,
    /// Path template, as for sends.
    pub path: String,
    pub upstream: String,
    /// Where the converted number is: `response:<field>` in the JSON answer or
    /// `request:<field>` in the request body.
    #[serde(default)]
    pub number: Option<String>,
    /// The conversion happened when this JSON field of the answer…
    #[serde(default)]
    pub success_field: Option<String>,
    /// …has one of these values (`approved`, `completed`). With no field, any
    /// 2xx answer counts.
    #[serde(default)]
    pub success_values: Vec<String>,
    /// A request field that must hold one of `request_values` for the call to
    /// be a conversion (Twilio Feedback `Outcome=confirmed`).
    #[serde(default)]
    pub request_field: Option<String>,
    #[serde(default)]
    pub request_values: Vec<String>,
    /// Request body encoding.
    #[serde(default = "default_auto")]
    pub body: BodyEncoding,
}

/// A status look-up endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusEndpoint {
    pub name: String,
    #[serde(default = "default_get")]
    pub method: String,
    /// Path template with the id variable (`…/Messages/{sid}.json`).
    pub path: String,
    pub upstream: String,
    /// Which path variable holds the message id.
    pub id: String,
    /// The dialect of the send the id belongs to.
    pub dialect: DialectKind,
}

/// A prefix forwarded unchanged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passthrough {
    /// Path prefix (`/2010-04-01/`).
    pub prefix: String,
    pub upstream: String,
}

fn default_post() -> String {
    "POST".to_owned()
}

fn default_get() -> String {
    "GET".to_owned()
}

fn default_channel() -> String {
    "sms".to_owned()
}

fn default_auto() -> BodyEncoding {
    BodyEncoding::Auto
}
