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
mod decision;
pub mod layers;

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use config::{Mode, PolicyConfig, Thresholds};
pub use decision::{Action, Decision, Reason, RejectClass};

use crate::clock::Timestamp;
use crate::config::SourceError;
use crate::number::{Classification, ParseError};

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
    pub now: Timestamp,
}

/// A validated, compiled policy.
#[derive(Debug)]
pub struct Policy {
    pub mode: Mode,
    pub thresholds: Thresholds,
    lists: layers::lists::Lists,
    number: layers::number::NumberLayer,
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
            lists: cfg.lists.build().map_err(|m| semantic("[lists", m))?,
            number: cfg.number.build().map_err(|m| semantic("[number]", m))?,
        })
    }

    pub fn embedded() -> Result<Policy, SourceError> {
        Policy::build(Path::new("policies/default.toml"), EMBEDDED_DEFAULT)
    }

    pub fn load(path: &Path) -> Result<Policy, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::io(path, e))?;
        Policy::build(path, &text)
    }

    /// Scores one destination.
    pub fn decide(&self, subject: &Subject<'_>) -> Decision {
        // Hard rules first: lists decide before anything is scored.
        if let Some(decision) = self.lists.decide(subject) {
            return decision;
        }
        let mut reasons = Vec::new();
        let hard = self.number.evaluate(subject, &mut reasons);
        reasons.sort_by(|a, b| b.weight.cmp(&a.weight));
        let score = reasons.iter().map(|r| r.weight).sum::<u32>().min(100);
        let action = if hard {
            Action::Block
        } else {
            self.thresholds.action(score)
        };
        Decision {
            action,
            score,
            reasons,
            hard,
        }
    }
}

/// The live engine: the current policy, swappable at run time (reload keeps
/// the old policy when the new one does not validate).
pub struct Engine {
    policy: ArcSwap<Policy>,
    /// `--shadow` forces shadow mode whatever the policy file says.
    force_shadow: bool,
}

impl Engine {
    pub fn new(policy: Policy, force_shadow: bool) -> Engine {
        Engine {
            policy: ArcSwap::from_pointee(policy),
            force_shadow,
        }
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    pub fn replace(&self, policy: Policy) {
        self.policy.store(Arc::new(policy));
    }

    /// Scores one destination at event time `now`. Stateful layers count the
    /// attempt whatever the outcome; the caller acts on the decision.
    pub fn decide(
        &self,
        send: &SendFacts<'_>,
        number: Result<&Classification, &ParseError>,
        now: Timestamp,
    ) -> Decision {
        self.policy.load().decide(&Subject { send, number, now })
    }

    /// A conversion: a code sent to `number` was used (feedback routes, the
    /// admin conversions endpoint, backtest `conversion` events). Stateful
    /// layers learn from it; the event time is passed in like for sends.
    pub fn record_conversion(&self, number: &Classification, now: Timestamp) {
        let _ = (number, now);
    }

    /// Shadow mode: decisions are recorded but every send is forwarded.
    pub fn shadow(&self) -> bool {
        self.force_shadow || self.policy.load().mode == Mode::Shadow
    }
}
