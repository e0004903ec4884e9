//! Replay: events through the engine in time order, each send scored with
//! its own timestamp, each conversion fed back at its own timestamp.
//!
//! This is the live proxy's decision path, not a model of it: the same
//! [`Classifier`] parse and classify, the same [`SendFacts`] (built by
//! [`send_facts`], which tests share with a pipeline-shaped loop so the two
//! cannot drift), the same [`Engine::decide`]. The [`Scorer`] trait exists
//! so that tests can put a spy in the engine's place and prove the
//! no-look-ahead order.
//!
//! A log records what happened when every send went out. Where the engine
//! stops a send, the code never reaches the phone, so a conversion the log
//! records after it (before any later send to the number went out) is not
//! fed back: the engine learns from the traffic it would have let through,
//! as it does live.

use std::collections::HashSet;

use super::event::{Event, Kind};
use super::order::Ordered;
use crate::clock::Timestamp;
use crate::number::{Classification, Classifier, ParseError};
use crate::policy::{Decision, Engine, SendFacts};

/// The engine seam as the replay uses it.
pub trait Scorer {
    fn decide(
        &self,
        send: &SendFacts<'_>,
        number: Result<&Classification, &ParseError>,
        now: Timestamp,
    ) -> Decision;
    fn record_conversion(&self, number: &Classification, now: Timestamp);
    /// Whether a send so decided would have gone out.
    fn forwards(&self, decision: &Decision) -> bool {
        decision.action == crate::policy::Action::Allow
    }
}

impl Scorer for Engine {
    fn decide(
        &self,
        send: &SendFacts<'_>,
        number: Result<&Classification, &ParseError>,
        now: Timestamp,
    ) -> Decision {
        Engine::decide(self, send, number, now)
    }

    fn record_conversion(&self, number: &Classification, now: Timestamp) {
        Engine::record_conversion(self, number, now)
    }

    fn forwards(&self, decision: &Decision) -> bool {
        Engine::forwards(self, decision)
    }
}

/// Where recorded sends are taken to have come in: the route and provider
/// the live proxy would have matched.
#[derive(Clone, Debug)]
pub struct Context {
    pub route: String,
    pub provider: String,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            route: "twilio.messages".into(),
            provider: "twilio".into(),
        }
    }
}

/// The send's facts, as the pipeline builds them from a request.
pub fn send_facts<'e>(ctx: &'e Context, e: &'e Event<'_>) -> SendFacts<'e> {
    SendFacts {
        route: &ctx.route,
        provider: &ctx.provider,
        account: e.account.as_deref(),
        channel: e.channel.as_deref().unwrap_or("sms"),
        client_ip: e.client_ip.as_deref(),
        device: e.device.as_deref(),
        session: e.session.as_deref(),
    }
}

/// What a replay did besides scoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub sends: u64,
    pub conversions: u64,
    /// Conversions whose `to` is not a number (not fed to the engine).
    pub conversions_unparseable: u64,
    /// Conversions of a number whose last send the engine stopped: that
    /// code never reached the phone, so the conversion the log recorded
    /// would not have happened (not fed to the engine).
    pub conversions_undelivered: u64,
}

/// Replays `events`; `on_send` sees each send with its classification and
/// decision, in order.
pub fn replay<'a, S, F>(
    scorer: &S,
    classifier: &Classifier,
    ctx: &Context,
    events: &Ordered<'a>,
    mut on_send: F,
) -> Counts
where
    S: Scorer + ?Sized,
    F: FnMut(&Event<'a>, Result<&Classification, &ParseError>, &Decision),
{
    let mut counts = Counts::default();
    // Numbers whose last send was stopped: few, so the set stays small.
    let mut undelivered: HashSet<Box<str>, ahash::RandomState> = HashSet::default();
    for e in events.events() {
        let number = classifier.parse_and_classify(&e.to, None);
        match e.kind {
            Kind::Send => {
                counts.sends += 1;
                let facts = send_facts(ctx, e);
                let decision = scorer.decide(&facts, number.as_ref(), e.ts);
                if let Ok(c) = &number {
                    let digits = c.number.digits();
                    if scorer.forwards(&decision) {
                        if !undelivered.is_empty() {
                            undelivered.remove(digits);
                        }
                    } else {
                        undelivered.insert(digits.into());
                    }
                }
                on_send(e, number.as_ref(), &decision);
            }
            Kind::Conversion => match &number {
                Ok(c) if undelivered.contains(c.number.digits()) => {
                    counts.conversions_undelivered += 1;
                }
                Ok(c) => {
                    counts.conversions += 1;
                    scorer.record_conversion(c, e.ts);
                }
                Err(_) => counts.conversions_unparseable += 1,
            },
        }
    }
    counts
}
