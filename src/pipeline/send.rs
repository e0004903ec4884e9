//! A send's phases after routing: read → extract → classify → decide → act
//! → record.

use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, Response};
use hyper::body::Incoming;

use super::body::{self, bytes_response, ReadError};
use super::forward;
use super::Pipeline;
use crate::clock::Timestamp;
use crate::dialect::{HeldContext, RejectContext};
use crate::extract::{self, without_destinations, Body, Destination};
use crate::hold::HoldInput;
use crate::number::{Classification, ParseError};
use crate::policy::{Action, Decision, RejectClass, SendFacts};
use crate::route::{Answer, PartialPolicy, SendRoute};
use crate::telemetry::{self, DecisionRecord};
use crate::upstream::ProxyBody;

/// One destination after the decide phase.
struct Verdict<'a> {
    destination: &'a Destination,
    /// `None` for unscored channels (email).
    scored: Option<Scored>,
}

struct Scored {
    number: Result<Classification, ParseError>,
    decision: Decision,
}

impl Verdict<'_> {
    /// Whether this destination stops the send (block or hold).
    fn stops(&self) -> bool {
        self.scored
            .as_ref()
            .is_some_and(|s| matches!(s.decision.action, Action::Block | Action::Hold))
    }

    fn blocks(&self) -> bool {
        self.scored
            .as_ref()
            .is_some_and(|s| s.decision.action == Action::Block)
    }
}

/// What the act phase does with the whole send.
enum Outcome {
    Forward,
    /// Refuse; the index of the destination whose reason words the refusal.
    Reject(usize),
    /// Forward without the blocked destinations (`partial = "drop"`).
    Drop,
    /// Hold the whole send for review; the destination that caused it.
    Hold(usize),
}

pub async fn handle(
    p: &Pipeline,
    route: &SendRoute,
    vars: &[(&str, &str)],
    parts: Parts,
    incoming: Incoming,
    now: Timestamp,
    started: Instant,
) -> Response<ProxyBody> {
    let spec = &route.spec;
    let path_account = var(vars, "account");

    // Phase: read.
    let bytes = match body::read(incoming, &parts.headers, &p.limits).await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => {
            tracing::info!(route = %route.id, limit = p.limits.max_body_bytes, "send body too large");
            return reject(route, &spec.answers.too_large, "", "");
        }
        Err(e) => {
            tracing::info!(route = %route.id, error = %e, "client body read failed");
            return e.answer();
        }
    };

    // Phase: extract. Two differing content types would let tollgate and
    // the upstream read two different sends out of one body.
    let mut types = parts.headers.get_all(CONTENT_TYPE).iter();
    let content_type = types.next().and_then(|v| v.to_str().ok());
    if types.any(|other| Some(other.to_str().unwrap_or("")) != content_type) {
        tracing::info!(route = %route.id, "send with conflicting content types refused");
        return reject(route, &spec.answers.malformed, "", "");
    }
    let extracted = Body::parse(spec.body, content_type, &bytes)
        .map_err(extract::ExtractError::from)
        .and_then(|b| {
            // The Basic-auth user only counts when the path names no account.
            let user = match path_account {
                Some(_) => None,
                None => basic_user(&parts.headers),
            };
            let x = extract::extract(spec, &b, path_account, user.as_deref())?;
            Ok((b, x))
        });
    let (parsed, extracted) = match extracted {
        Ok(pair) => pair,
        Err(reason) => {
            tracing::info!(route = %route.id, reason = %reason, "malformed send refused");
            return reject(route, &spec.answers.malformed, "", "");
        }
    };

    // Phases: classify and decide, per scored destination. The client
    // context is the request's, the same for every destination.
    let (client_ip, device, session) = forward::client_context(&parts.headers);
    // A send with several scored destinations counts each delivery only
    // once the act phase knows which went out.
    let several = extracted.destinations.iter().filter(|d| d.scored).count() > 1;
    let client = (client_ip, device, session);
    let mut verdicts = Vec::with_capacity(extracted.destinations.len());
    for destination in &extracted.destinations {
        if !destination.scored {
            verdicts.push(Verdict {
                destination,
                scored: None,
            });
            continue;
        }
        let number = p
            .classifier
            .parse_and_classify(&destination.address, extracted.region_hint);
        let facts = send_facts(route, &extracted, destination, client);
        // Phase: enrich (optional lookup, bounded by its time budget).
        // Boxed, as the rare outcomes below are: this future is moved
        // whole per request and should be no larger than the common path.
        let lookup = match (&p.lookup, &number) {
            (Some(l), Ok(c)) if c.valid => Some(Box::pin(l.enrich(c.number.digits())).await),
            _ => None,
        };
        let decision = if several {
            p.engine
                .decide_attempt(&facts, number.as_ref(), lookup.as_ref(), now)
        } else {
            p.engine
                .decide_enriched(&facts, number.as_ref(), lookup.as_ref(), now)
        };
        verdicts.push(Verdict {
            destination,
            scored: Some(Scored { number, decision }),
        });
    }

    // Phase: act.
    let shadow = p.engine.shadow();
    let outcome = outcome(route, &verdicts, shadow);

    if several {
        for v in &verdicts {
            let forwarded = match outcome {
                Outcome::Forward => true,
                Outcome::Drop => !v.stops(),
                Outcome::Reject(_) | Outcome::Hold(_) => false,
            };
            if let (true, Some(Scored { number: Ok(c), .. })) = (forwarded, &v.scored) {
                let facts = send_facts(route, &extracted, v.destination, client);
                p.engine.count_forwarded(&facts, c, now);
            }
        }
    }

    // Phase: record.
    let latency = started.elapsed();
    for v in &verdicts {
        if let Some(s) = &v.scored {
            telemetry::record_decision(DecisionRecord {
                route: &route.id,
                provider: &route.provider,
                channel: &v.destination.channel,
                to: telemetry::mask_destination(s.number.as_ref().ok(), &v.destination.address),
                number: s.number.as_ref().ok(),
                decision: &s.decision,
                outcome: match (&outcome, v.stops()) {
                    (Outcome::Hold(_), true) => "held",
                    (_, false) => "forwarded",
                    (Outcome::Forward, true) => "shadow_forwarded",
                    (Outcome::Reject(_), true) => "rejected",
                    (Outcome::Drop, true) => "dropped",
                },
                shadow,
                latency,
                log: &p.decision_log,
                audit: p.audit.as_ref(),
                metrics: &p.metrics,
                now,
            });
        }
    }

    match outcome {
        Outcome::Forward => forward::buffered(p, &route.upstream, parts, bytes).await,
        Outcome::Reject(i) => {
            let Some(v) = verdicts.get(i) else {
                return reject(route, &spec.answers.fraud, "", "");
            };
            let class = v
                .scored
                .as_ref()
                .map(|s| s.decision.reject_class())
                .unwrap_or(RejectClass::Fraud);
            let prefix = v
                .scored
                .as_ref()
                .and_then(|s| s.number.as_ref().ok())
                .map(|n| {
                    format!(
                        "+{}",
                        n.number.range(n.number.digits().len().saturating_sub(5))
                    )
                })
                .unwrap_or_default();
            reject(route, answer(route, class), &v.destination.raw, &prefix)
        }
        Outcome::Drop => Box::pin(drop_blocked(p, route, parts, &parsed, &verdicts)).await,
        Outcome::Hold(i) => {
            let Some(v) = verdicts.get(i) else {
                return reject(route, &spec.answers.fraud, "", "");
            };
            Box::pin(hold(
                p, route, vars, parts, bytes, &parsed, &extracted, v, now,
            ))
            .await
        }
    }
}

/// Phase: hold. Stores the send durably, then answers as the provider
/// does when it queues a send. If the send cannot be stored it is refused
/// (fail closed): answering "queued" for a send that could be lost would
/// be a lie the platform cannot detect.
#[allow(clippy::too_many_arguments)]
async fn hold(
    p: &Pipeline,
    route: &SendRoute,
    vars: &[(&str, &str)],
    parts: Parts,
    bytes: Bytes,
    parsed: &Body,
    x: &extract::Extracted,
    v: &Verdict<'_>,
    now: Timestamp,
) -> Response<ProxyBody> {
    let spec = &route.spec;
    let (Some(queue), Some(scored)) = (&p.hold, &v.scored) else {
        return reject(route, &spec.answers.fraud, &v.destination.raw, "");
    };
    let dialect = spec.dialect;
    let id = dialect.synthetic_id(now);
    let text = spec.text.as_deref().and_then(|f| parsed.first(f));
    let via_service = spec.service_field.as_deref().and_then(|f| parsed.first(f));
    let (status, answer) = dialect.held(&HeldContext {
        id: &id,
        to: &v.destination.raw,
        from: x.from.as_deref(),
        text: text.as_deref(),
        account: x.account.as_deref(),
        service: var(vars, "service"),
        channel: &v.destination.channel,
        via_service: via_service.as_deref(),
        now,
    });
    let number = scored.number.as_ref().ok();
    let input = HoldInput {
        id: id.clone(),
        route: route.id.clone(),
        provider: route.provider.clone(),
        method: parts.method.clone(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|q| q.as_str().to_owned())
            .unwrap_or_else(|| "/".into()),
        headers: forward::upstream_headers(parts.headers),
        body: bytes,
        answer: answer.clone(),
        to: number
            .map(|n| format!("+{}", n.number.digits()))
            .unwrap_or_else(|| v.destination.raw.clone()),
        from: x.from.clone(),
        account: x.account.clone(),
        country: number.and_then(|n| n.region).map(|r| r.to_string()),
        reasons: scored
            .decision
            .codes()
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
        score: scored.decision.score,
        now,
        ttl_s: i64::from(p.engine.policy().hold.ttl_for(&route.id).seconds()),
        callback: x.callback.clone(),
    };
    match queue.hold(input).await {
        Ok(()) => bytes_response(crate::dialect::json_response(
            status,
            "application/json; charset=utf-8",
            answer,
        )),
        Err(e) => {
            tracing::error!(route = %route.id, error = %e, "could not store a held send; refusing it");
            reject(route, &spec.answers.fraud, &v.destination.raw, "")
        }
    }
}

/// A block anywhere refuses the send (or drops that destination); a send
/// whose only stops are holds is held whole.
fn outcome(route: &SendRoute, verdicts: &[Verdict<'_>], shadow: bool) -> Outcome {
    let Some(first_stop) = verdicts.iter().position(Verdict::stops) else {
        return Outcome::Forward;
    };
    if shadow {
        return Outcome::Forward;
    }
    let some_go = verdicts.iter().any(|v| !v.stops());
    if route.spec.partial == PartialPolicy::Drop && some_go {
        return Outcome::Drop;
    }
    match verdicts.iter().position(Verdict::blocks) {
        Some(b) => Outcome::Reject(b),
        None => Outcome::Hold(first_stop),
    }
}

fn answer(route: &SendRoute, class: RejectClass) -> &Answer {
    let a = &route.spec.answers;
    match class {
        RejectClass::InvalidNumber => &a.invalid_number,
        RejectClass::LineType => &a.line_type,
        RejectClass::Geo => &a.geo,
        RejectClass::Fraud => &a.fraud,
    }
}

fn reject(route: &SendRoute, answer: &Answer, to: &str, prefix: &str) -> Response<ProxyBody> {
    bytes_response(
        route
            .spec
            .dialect
            .reject(answer, &RejectContext { to, prefix }),
    )
}

/// Forwards a multi-destination send without its blocked destinations and
/// reports those the way the provider reports invalid ones.
async fn drop_blocked(
    p: &Pipeline,
    route: &SendRoute,
    mut parts: Parts,
    parsed: &Body,
    verdicts: &[Verdict<'_>],
) -> Response<ProxyBody> {
    let dropped: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.stops())
        .map(|v| v.destination.raw.as_str())
        .collect();
    let sep = route.spec.to_separator.as_deref();
    let Some(body) = without_destinations(parsed, &route.spec.to, sep, &dropped) else {
        return reject(route, &route.spec.answers.malformed, "", "");
    };
    parts.headers.remove(CONTENT_LENGTH);
    let limit = p.limits.max_body_bytes.max(1 << 20);
    let (resp_parts, resp_body) =
        match forward::buffered_read(p, &route.upstream, parts, Bytes::from(body), limit).await {
            Ok(r) => r,
            Err(resp) => return resp,
        };
    let merged = if resp_parts.status.is_success() {
        route.spec.dialect.report_dropped(&resp_body, &dropped)
    } else {
        None
    };
    let out = merged.map(Bytes::from).unwrap_or(resp_body);
    body::rewritten(resp_parts, out)
}

/// What the engine is told about one destination of a send.
fn send_facts<'a>(
    route: &'a SendRoute,
    extracted: &'a extract::Extracted,
    destination: &'a Destination,
    (client_ip, device, session): (Option<&'a str>, Option<&'a str>, Option<&'a str>),
) -> SendFacts<'a> {
    SendFacts {
        route: &route.id,
        provider: &route.provider,
        account: extracted.account.as_deref(),
        channel: &destination.channel,
        client_ip,
        device,
        session,
    }
}

/// A path variable's value.
fn var<'v>(vars: &[(&str, &'v str)], name: &str) -> Option<&'v str> {
    vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// The Basic-auth user name (Twilio account SID, Vonage API key, Plivo auth
/// id). The password is never decoded into anything that outlives this call.
fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split(':')
        .next()
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}
