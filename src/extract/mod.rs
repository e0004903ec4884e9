//! Pulls what scoring needs out of a send's body, as its route says:
//! destinations (each with its channel), account, sender, callback URL and
//! a region hint. Form and JSON bodies; nothing here can panic on input.

mod body;
mod rewrite;

use crate::number::Region;
use crate::route::SendEndpoint;

pub use body::{Body, BodyError};
pub use rewrite::without_destinations;

/// One destination of a send.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// As the client wrote it (`whatsapp:+14155550100`). Never logged.
    pub raw: String,
    /// The address less any channel prefix (`+14155550100`).
    pub address: String,
    /// Lower-case channel (`sms`, `whatsapp`, `email`, …).
    pub channel: String,
    /// `false` for channels the route forwards unscored (`email`).
    pub scored: bool,
}

/// Everything tollgate takes from one send.
#[derive(Debug)]
pub struct Extracted {
    pub destinations: Vec<Destination>,
    pub account: Option<String>,
    pub from: Option<String>,
    pub callback: Option<String>,
    pub region_hint: Option<Region>,
    /// A Messaging Service send (Twilio): held answers say `accepted`.
    pub via_service: bool,
}

/// Why a send could not be understood. Answered in the provider's
/// `malformed` shape; nothing is forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("the send names no destination in `{0}`")]
    NoDestination(String),
}

/// Extracts a send. `path_account` is the `{account}` path variable, if any;
/// `basic_user` the Basic-auth user name, if any.
pub fn extract(
    spec: &SendEndpoint,
    body: &Body,
    path_account: Option<&str>,
    basic_user: Option<&str>,
) -> Result<Extracted, ExtractError> {
    let pairs = body.values_with_channel(&spec.to, spec.channel.as_deref());
    let mut destinations = Vec::with_capacity(pairs.len());
    for (value, channel) in pairs {
        let mut add = |part: &str| {
            let raw = part.trim();
            if !raw.is_empty() {
                destinations.push(destination(spec, raw, channel.as_deref()));
            }
        };
        match &spec.to_separator {
            Some(sep) if !sep.is_empty() => value.split(sep.as_str()).for_each(add),
            _ => add(&value),
        }
    }
    if destinations.is_empty() {
        return Err(ExtractError::NoDestination(spec.to.clone()));
    }
    let account = path_account
        .map(str::to_owned)
        .or_else(|| spec.account_field.as_deref().and_then(|f| body.first(f)))
        .or_else(|| basic_user.map(str::to_owned));
    Ok(Extracted {
        destinations,
        account,
        from: spec.from.as_deref().and_then(|f| body.first(f)),
        callback: spec.callback.as_deref().and_then(|f| body.first(f)),
        region_hint: spec
            .region_field
            .as_deref()
            .and_then(|f| body.first(f))
            .and_then(|r| Region::parse(&r)),
        via_service: spec.service_field.as_deref().is_some_and(|f| body.has(f)),
    })
}

fn destination(spec: &SendEndpoint, raw: &str, channel: Option<&str>) -> Destination {
    let mut address = raw;
    let mut channel = channel
        .unwrap_or(&spec.default_channel)
        .to_ascii_lowercase();
    if spec.channel_prefix {
        if let Some((prefix, rest)) = raw.split_once(':') {
            if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_alphabetic()) {
                channel = prefix.to_ascii_lowercase();
                address = rest;
            }
        }
    }
    let scored = !spec
        .skip_channels
        .iter()
        .any(|c| c.eq_ignore_ascii_case(&channel));
    Destination {
        raw: raw.to_owned(),
        address: address.to_owned(),
        channel,
        scored,
    }
}

#[cfg(test)]
mod tests;
