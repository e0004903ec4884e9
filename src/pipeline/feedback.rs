//! Feedback endpoints (Twilio VerificationCheck, Vonage Verify checks, …):
//! forwarded unchanged; their answer tells whether a code was used, which is
//! the strongest signal there is that a send reached a real person.

use std::time::Instant;

use http::request::Parts;
use http::Response;
use hyper::body::Incoming;

use super::body;
use super::{forward, Pipeline};
use crate::clock::Timestamp;
use crate::extract::Body;
use crate::route::FeedbackRoute;
use crate::upstream::ProxyBody;

/// Largest feedback answer read whole; larger ones are still passed on.
const ANSWER_LIMIT: usize = 1 << 20;

pub async fn handle(
    p: &Pipeline,
    route: &FeedbackRoute,
    parts: Parts,
    incoming: Incoming,
    now: Timestamp,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let bytes = match body::read(incoming, &parts.headers, &p.limits).await {
        Ok(b) => b,
        Err(e) => return e.answer(),
    };
    let spec = &route.spec;
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = Body::parse(spec.body, content_type.as_deref(), &bytes).ok();
    let (resp_parts, answer) =
        match forward::buffered_read(p, &route.upstream, parts, bytes, ANSWER_LIMIT).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
    if resp_parts.status.is_success() {
        let answer_json = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .map(Body::Json);
        if is_conversion(route, request.as_ref(), answer_json.as_ref()) {
            let number = spec
                .number
                .as_deref()
                .and_then(|src| match src.split_once(':') {
                    Some(("response", field)) => answer_json.as_ref().and_then(|b| b.first(field)),
                    Some(("request", field)) => request.as_ref().and_then(|b| b.first(field)),
                    _ => None,
                });
            let classified = number
                .as_deref()
                .and_then(|n| p.classifier.parse_and_classify(n, None).ok());
            if let Some(c) = &classified {
                p.engine.record_conversion(c, now);
            }
            tracing::info!(
                target: "tollgate::conversion",
                route = %route.id,
                to = classified.as_ref().map(|c| c.masked()).as_deref().unwrap_or("unknown"),
                latency_us = started.elapsed().as_micros() as u64,
                "conversion"
            );
        }
    }
    Response::from_parts(resp_parts, crate::upstream::full(answer))
}

fn is_conversion(route: &FeedbackRoute, request: Option<&Body>, answer: Option<&Body>) -> bool {
    let spec = &route.spec;
    let request_ok = match &spec.request_field {
        Some(field) => request.and_then(|b| b.first(field)).is_some_and(|v| {
            spec.request_values
                .iter()
                .any(|w| w.eq_ignore_ascii_case(&v))
        }),
        None => true,
    };
    let answer_ok = match &spec.success_field {
        Some(field) => answer.and_then(|b| b.first(field)).is_some_and(|v| {
            spec.success_values
                .iter()
                .any(|w| w.eq_ignore_ascii_case(&v))
        }),
        None => true,
    };
    request_ok && answer_ok
}
