//! The scoring engine.
//!
//! The pipeline calls [`Engine::decide`] once per destination, with the
//! number's classification and the time passed in. Layers (each a module
//! under [`layers`] with its own config section) add [`Reason`]s; hard rules
//! (lists, invalid numbers, unreachable line types) decide outright, and
//! otherwise the summed weights are compared with the policy's thresholds.
//!
//! The engine never reads the clock: a backtest passes recorded event times
//! and gets exactly the decisions the live proxy would have made.

mod config;
pub mod counters;
mod decision;
pub mod economics;
pub mod layers;
pub mod lookup;
pub mod prices;

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use config::{HoldPolicy, Mode, OnExpiry, PolicyConfig, Span, Thresholds};
pub use decision::{Action, Decision, Detail, Reason, RejectClass, Scope, Trade};
pub use prices::Prices;

use crate::clock::Timestamp;
use crate::number::{Classification, ParseError};
use crate::source::SourceError;
use crate::state::KeyHasher;
pub use counters::Delivery;
use counters::{Capacity, Counters, Keys};

/// The policy shipped in `policies/default.toml`, compiled in.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../policies/default.toml");

/// Facts about a send that are not about the number.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendFacts<'a> {
    /// Route id, `twilio.messages`.
    pub route: &'a str,
    pub provider: &'a str,
    pub account: Option<&'a str>,
    pub channel: &'a str,
    /// Optional end-user context from `X-Tollgate-*` request headers.
    pub client_ip: Option<&'a str>,
    pub device: Option<&'a str>,
    pub session: Option<&'a str>,
}

/// What a layer looks at.
pub struct Subject<'a> {
    pub send: &'a SendFacts<'a>,
    /// The classification, or why the destination is not a number at all.
    pub number: Result<&'a Classification, &'a ParseError>,
    /// What the optional lookup service said (live traffic only).
    pub lookup: Option<&'a lookup::Outcome>,
    /// The number converted in the last 45–90 days (read once per send:
    /// scoring and counting both ask).
    pub trusted: bool,
    pub now: Timestamp,
}

/// Told of every send and conversion the engine counted from its own
/// traffic (never of remote ones), so they can be replicated to other
/// replicas (the `shared` adapter implements it). Called on the hot path:
/// must not block.
pub trait CountSink: Send + Sync {
    fn sent(
        &self,
        send: &SendFacts<'_>,
        number: Option<&Classification>,
        delivery: Delivery,
        now: Timestamp,
    );
    fn converted(&self, number: &Classification, now: Timestamp);
}

/// A validated, compiled policy.
#[derive(Debug)]
pub struct Policy {
    pub mode: Mode,
    pub thresholds: Thresholds,
    pub hold: HoldPolicy,
    pub lookup: lookup::Config,
    lists: layers::lists::Lists,
    number: layers::number::NumberLayer,
    geo: layers::geo::GeoLayer,
    velocity: layers::velocity::VelocityLayer,
    pattern: layers::pattern::PatternLayer,
    conversion: layers::conversion::ConversionLayer,
    baseline: layers::baseline::BaselineLayer,
    economics: economics::Economics,
}

impl Policy {
    /// Parses and validates policy text; errors carry file and line.
    pub fn build(origin: &Path, text: &str) -> Result<Policy, SourceError> {
        let cfg: PolicyConfig =
            toml::from_str(text).map_err(|e| SourceError::toml(origin, text, &e))?;
        let semantic =
            |section: &str, msg: String| SourceError::semantic(origin, msg).near(text, section);
        cfg.thresholds
            .validate()
            .map_err(|m| semantic("[thresholds]", m))?;
        Ok(Policy {
            mode: cfg.mode,
            thresholds: cfg.thresholds,
            hold: cfg.hold,
            lookup: cfg.lookup,
            lists: cfg
                .lists
                .build(origin.parent())
                .map_err(|m| semantic("[lists", m))?,
            number: cfg.number.build().map_err(|m| semantic("[number]", m))?,
            geo: cfg.geo.build().map_err(|m| semantic("[geo", m))?,
            velocity: cfg.velocity.build().map_err(|m| semantic("[velocity", m))?,
            pattern: cfg.pattern.build().map_err(|m| semantic("[pattern]", m))?,
            conversion: cfg
                .conversion
                .build()
                .map_err(|m| semantic("[conversion", m))?,
            baseline: cfg
                .baseline
                .build()
                .map_err(|m| semantic("[baseline]", m))?,
            economics: cfg
                .economics
                .build(origin.parent())
                .map_err(|m| semantic("[economics", m))?,
        })
    }

    /// The value of a real user the trade weighs stops against
    /// (`[economics] user_value`).
    pub fn user_value(&self) -> f64 {
        self.economics.user_value()
    }

    /// Most of a country's sends its uncertain stops may reach in 24 h
    /// (`[economics] friction_budget`).
    pub fn friction_budget(&self) -> f64 {
        self.economics.friction_budget()
    }

    pub fn embedded() -> Result<Policy, SourceError> {
        Policy::build(Path::new("policies/default.toml"), EMBEDDED_DEFAULT)
    }

    pub fn load(path: &Path) -> Result<Policy, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::io(path, e))?;
        Policy::build(path, &text)
    }

    /// A send stopped only by the conversion layer may still go out as a
    /// probe (see `[conversion] probe_every`). Runs after scoring, on live
    /// and backtest sends alike, never on [`Engine::peek`].
    fn probe(&self, d: &mut Decision, keys: &Keys, counters: &Counters, now: Timestamp) {
        if d.action == Action::Allow || d.hard {
            return;
        }
        let probe = self
            .conversion
            .probe(keys, counters, &d.reasons, self.thresholds.hold, now);
        if let Some(reason) = probe {
            d.action = Action::Allow;
            d.reasons.push(reason);
        }
    }

    /// Scores one destination against the counters as they stand (this
    /// send not yet counted). `runtime` lists (set through the admin API)
    /// come before the policy's own.
    fn decide(
        &self,
        s: &Subject<'_>,
        keys: &Keys,
        counters: &Counters,
        runtime: &layers::lists::Lists,
    ) -> Decision {
        // Hard rules first: lists decide before anything is scored.
        if let Some(decision) = runtime.decide(s).or_else(|| self.lists.decide(s)) {
            return decision;
        }
        let mut reasons = Vec::new();
        let hard = self.number.evaluate(s, &mut reasons)
            || self.geo.evaluate(s, keys, counters, &mut reasons);
        if hard {
            reasons.sort_by(|a, b| b.weight.cmp(&a.weight));
            return Decision {
                action: Action::Block,
                score: 100,
                reasons,
                hard: true,
                trade: None,
            };
        }
        if self.conversion.trust && s.trusted {
            reasons.push(Reason {
                code: "conversion.trusted_number",
                detail: "this number converted before".into(),
                weight: 0,
                class: RejectClass::Fraud,
                scope: Scope::Local,
                pumping: None,
            });
            return Decision {
                action: Action::Allow,
                score: 0,
                reasons,
                hard: false,
                trade: None,
            };
        }
        if let Some(outcome) = s.lookup {
            self.lookup.signals(outcome, &mut reasons);
        }
        self.conversion.evaluate(s, keys, counters, &mut reasons);
        self.velocity.evaluate(s, keys, counters, &mut reasons);
        self.pattern.evaluate(s, keys, counters, &mut reasons);
        self.baseline.evaluate(s, keys, counters, &mut reasons);
        reasons.sort_by(|a, b| b.weight.cmp(&a.weight));
        let score = self.score(&reasons);
        let mut d = Decision {
            action: self.thresholds.action(score),
            score,
            reasons,
            hard: false,
            trade: None,
        };
        // Any evidence is weighed (explain and the decision log show both
        // sides); only a stop can be let go for not being worth it.
        if score > 0 {
            let trade = self.economics.trade(s, &d.reasons);
            self.economics.weigh(&mut d, trade);
        }
        d
    }

    /// The score of soft evidence. Country-wide reasons add to local ones
    /// but alone stay under `hold`: they raise suspicion of the sends in a
    /// country, and only local evidence says which of them to stop.
    fn score(&self, reasons: &[Reason]) -> u32 {
        let sum = |scope: Scope| -> u32 {
            reasons
                .iter()
                .filter(|r| r.scope == scope)
                .map(|r| r.weight)
                .sum()
        };
        let (local, country) = (sum(Scope::Local), sum(Scope::Country));
        let score = if local == 0 {
            country.min(self.thresholds.hold.saturating_sub(1))
        } else {
            local + country
        };
        score.min(100)
    }
}

/// The live engine: the current policy (swappable at run time; a reload
/// keeps the old policy when the new one does not validate) and the
/// counters, which outlive policy reloads.
pub struct Engine {
    policy: ArcSwap<Policy>,
    /// Lists set at run time (admin API), checked before the policy's.
    runtime_lists: ArcSwap<layers::lists::Lists>,
    counters: Counters,
    /// `--shadow` forces shadow mode whatever the policy file says.
    force_shadow: bool,
    /// Where counted sends and conversions are also handed (replication).
    sink: Option<Arc<dyn CountSink>>,
}

impl Engine {
    /// An engine for live traffic: counter keys hashed with a random seed.
    pub fn new(policy: Policy, force_shadow: bool) -> Engine {
        Engine::with_counters(
            policy,
            force_shadow,
            Counters::new(KeyHasher::random(), Capacity::default()),
        )
    }

    /// An engine with a fixed hashing seed, for reproducible backtests.
    pub fn deterministic(policy: Policy, seed: u64) -> Engine {
        Engine::with_counters(
            policy,
            false,
            Counters::new(KeyHasher::seeded(seed), Capacity::default()),
        )
    }

    pub fn with_counters(policy: Policy, force_shadow: bool, counters: Counters) -> Engine {
        Engine {
            policy: ArcSwap::from_pointee(policy),
            runtime_lists: ArcSwap::from_pointee(layers::lists::Lists::default()),
            counters,
            force_shadow,
            sink: None,
        }
    }

    /// Hands every send and conversion counted from now on to `sink` too.
    pub fn with_sink(mut self, sink: Option<Arc<dyn CountSink>>) -> Engine {
        self.sink = sink;
        self
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    pub fn replace(&self, policy: Policy) {
        self.policy.store(Arc::new(policy));
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Scores one destination at event time `now`, then counts it: the
    /// attempt whatever the outcome (blocked attempts are evidence too),
    /// and the delivery only when the decision lets it go out
    /// ([`Engine::forwards`]).
    pub fn decide(
        &self,
        send: &SendFacts<'_>,
        number: Result<&Classification, &ParseError>,
        now: Timestamp,
    ) -> Decision {
        self.decide_enriched(send, number, None, now)
    }

    /// [`Engine::decide`] with what the optional lookup service said. Only
    /// live traffic has lookups; everything else scores identically.
    pub fn decide_enriched(
        &self,
        send: &SendFacts<'_>,
        number: Result<&Classification, &ParseError>,
        lookup: Option<&lookup::Outcome>,
        now: Timestamp,
    ) -> Decision {
        self.score_and_count(send, number, lookup, now, false)
    }

    /// [`Engine::decide_enriched`] for one destination of a send with
    /// several: counts the attempt only. Whether it goes out depends on the
    /// others too (a refused mix is refused whole), so the caller counts
    /// each delivery with [`Engine::count_forwarded`] once it knows.
    pub fn decide_attempt(
        &self,
        send: &SendFacts<'_>,
        number: Result<&Classification, &ParseError>,
        lookup: Option<&lookup::Outcome>,
        now: Timestamp,
    ) -> Decision {
        self.score_and_count(send, number, lookup, now, true)
    }

    fn score_and_count(
        &self,
        send: &SendFacts<'_>,
        number: Result<&Classification, &ParseError>,
        lookup: Option<&lookup::Outcome>,
        now: Timestamp,
        attempt_only: bool,
    ) -> Decision {
        let keys = self.counters.keys(send, number.ok());
        self.counters.prefetch_send(&keys);
        let subject = Subject {
            send,
            number,
            lookup,
            trusted: self.counters.is_trusted(&keys, now),
            now,
        };
        // One load of the policy for scoring and the probe (a reload in
        // between must not mix two policies in one decision).
        let policy = self.policy.load();
        let runtime = self.runtime_lists.load();
        let mut decision = policy.decide(&subject, &keys, &self.counters, &runtime);
        policy.probe(&mut decision, &keys, &self.counters, now);
        policy
            .economics
            .budget(&mut decision, &keys, &self.counters, now);
        let delivery = if self.forwards(&decision) && !attempt_only {
            Delivery::Sent
        } else {
            Delivery::Stopped
        };
        self.counters
            .record_send(&keys, number.ok(), subject.trusted, now, delivery);
        if let Some(sink) = &self.sink {
            sink.sent(send, number.ok(), delivery, now);
        }
        decision
    }

    /// Whether a send so decided goes out: allowed, or anything in shadow
    /// mode. The backtest asks the same, to know which codes could have
    /// been typed in.
    pub fn forwards(&self, decision: &Decision) -> bool {
        decision.action == Action::Allow || self.shadow()
    }

    /// Counts the delivery of one destination of a multi-destination send
    /// that went out, its attempt counted by [`Engine::decide_attempt`].
    pub fn count_forwarded(&self, send: &SendFacts<'_>, number: &Classification, now: Timestamp) {
        self.count_released(send, number, now);
    }

    /// Counts the delivery of a held send released at `now` (by a reviewer
    /// or at its deadline): from now on it may convert. Its attempt was
    /// counted when it was scored.
    pub fn count_released(&self, send: &SendFacts<'_>, number: &Classification, now: Timestamp) {
        self.count_unscored(send, Some(number), Delivery::Released, now);
        if let Some(sink) = &self.sink {
            sink.sent(send, Some(number), Delivery::Released, now);
        }
    }

    /// Counts a send without scoring it or handing it to the sink: a held
    /// send released here, or a send another replica scored or released
    /// (at its event time), exactly as [`Engine::decide`] and
    /// [`Engine::count_released`] count their own.
    pub fn count_unscored(
        &self,
        send: &SendFacts<'_>,
        number: Option<&Classification>,
        delivery: Delivery,
        now: Timestamp,
    ) {
        let keys = self.counters.keys(send, number);
        let trusted = self.counters.is_trusted(&keys, now);
        self.counters
            .record_send(&keys, number, trusted, now, delivery);
    }

    /// Counts a conversion as [`Engine::record_conversion`] does, without
    /// handing it to the sink: one another replica recorded, or one from
    /// the history a warm start counts.
    pub fn count_unscored_conversion(&self, number: &Classification, now: Timestamp) {
        let keys = self.counters.keys(&SendFacts::default(), Some(number));
        self.counters.record_conversion(&keys, now);
    }

    /// Scores without counting the attempt: `explain` must not change what
    /// live traffic sees.
    pub fn peek(
        &self,
        send: &SendFacts<'_>,
        number: Result<&Classification, &ParseError>,
        now: Timestamp,
    ) -> Decision {
        let keys = self.counters.keys(send, number.ok());
        let subject = Subject {
            send,
            number,
            lookup: None,
            trusted: self.counters.is_trusted(&keys, now),
            now,
        };
        let runtime = self.runtime_lists.load();
        self.policy
            .load()
            .decide(&subject, &keys, &self.counters, &runtime)
    }

    /// Replaces the run-time lists (admin API entries), at once.
    pub fn set_runtime_lists(&self, lists: layers::lists::Lists) {
        self.runtime_lists.store(Arc::new(lists));
    }

    /// Reloads the policy from `path` (the embedded default when `None`);
    /// on error the current policy stays and the error is returned.
    pub fn reload_from(&self, path: Option<&Path>) -> Result<(), SourceError> {
        let policy = match path {
            Some(p) => Policy::load(p)?,
            None => Policy::embedded()?,
        };
        self.replace(policy);
        Ok(())
    }

    /// A conversion: a code sent to `number` was used (feedback routes, the
    /// admin conversions endpoint, backtest `conversion` events). The event
    /// time is passed in like for sends.
    pub fn record_conversion(&self, number: &Classification, now: Timestamp) {
        let keys = self.counters.keys(&SendFacts::default(), Some(number));
        self.counters.prefetch_conversion(&keys);
        self.counters.record_conversion(&keys, now);
        if let Some(sink) = &self.sink {
            sink.converted(number, now);
        }
    }

    /// Shadow mode: decisions are recorded but every send is forwarded.
    pub fn shadow(&self) -> bool {
        self.force_shadow || self.policy.load().mode == Mode::Shadow
    }
}

#[cfg(test)]
mod tests;
