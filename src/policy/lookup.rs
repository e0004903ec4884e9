//! What the engine makes of a number-intelligence answer: the policy's
//! `[lookup]` section and the reasons an answer (or its absence) adds. The
//! engine owns these types so it never depends on the adapter that asks the
//! service (the `lookup` adapter fetches and caches; this file scores).

use std::sync::Arc;

use serde::Deserialize;

use super::{Reason, RejectClass, Scope, Span};

/// `[lookup]` section of a policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Base URL of the Lookup API; the route files' `twilio-lookups`
    /// upstream (and its `--upstream` override) when unset.
    pub base_url: Option<String>,
    /// Environment variables holding the account SID and auth token used for
    /// lookups (never written in the policy file).
    pub account_sid_env: String,
    pub auth_token_env: String,
    /// How long a send may wait for the answer.
    pub budget_ms: u64,
    /// How long an answer is reused for the same number.
    pub cache_ttl: Span,
    pub cache_capacity: u64,
    /// When the service fails or is too slow: `open` (score without it) or
    /// `closed` (add `unavailable_weight`).
    pub on_error: OnError,
    pub unavailable_weight: u32,
    /// `sms_pumping_risk_score` at or above which `high_risk_weight` applies.
    pub high_risk_score: u8,
    pub high_risk_weight: u32,
    /// Score at or above which `medium_risk_weight` applies.
    pub medium_risk_score: u8,
    pub medium_risk_weight: u32,
    /// The service reports the number as blocked for pumping.
    pub number_blocked_weight: u32,
    /// Line types (Twilio's names: `nonFixedVoip`, `landline`, `pager`, …)
    /// and their weights.
    pub line_type_weights: std::collections::BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    #[default]
    Open,
    Closed,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: false,
            base_url: None,
            account_sid_env: "TWILIO_ACCOUNT_SID".into(),
            auth_token_env: "TWILIO_AUTH_TOKEN".into(),
            budget_ms: 150,
            cache_ttl: Span(86_400),
            cache_capacity: 200_000,
            on_error: OnError::Open,
            unavailable_weight: 30,
            high_risk_score: 80,
            high_risk_weight: 60,
            medium_risk_score: 50,
            medium_risk_weight: 30,
            number_blocked_weight: 80,
            line_type_weights: [("nonFixedVoip".to_owned(), 30)].into_iter().collect(),
        }
    }
}

/// What the service said about a number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub risk_score: Option<u8>,
    pub carrier_risk: Option<String>,
    pub number_blocked: Option<bool>,
    pub line_type: Option<String>,
}

/// The outcome of one enrichment.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answer(Arc<Answer>),
    /// The service failed or missed the budget.
    Unavailable(String),
}

impl Config {
    /// Reasons from an outcome (run inside the engine's decision).
    pub fn signals(&self, outcome: &Outcome, out: &mut Vec<Reason>) {
        let c = self;
        let answer = match outcome {
            Outcome::Unavailable(why) => {
                if c.on_error == OnError::Closed && c.unavailable_weight > 0 {
                    out.push(Reason {
                        code: "lookup.unavailable",
                        detail: format!(
                            "the number-intelligence lookup failed ({why}); failing closed"
                        )
                        .into(),
                        weight: c.unavailable_weight,
                        class: RejectClass::Fraud,
                        scope: Scope::Local,
                        pumping: None,
                    });
                }
                return;
            }
            Outcome::Answer(a) => a,
        };
        if answer.number_blocked == Some(true) {
            out.push(Reason {
                code: "lookup.number_blocked",
                detail: "the lookup service reports the number as blocked for SMS pumping".into(),
                weight: c.number_blocked_weight,
                class: RejectClass::Fraud,
                scope: Scope::Local,
                pumping: Some(0.97),
            });
        }
        if let Some(score) = answer.risk_score {
            let (weight, level) = if score >= c.high_risk_score {
                (c.high_risk_weight, "high")
            } else if score >= c.medium_risk_score {
                (c.medium_risk_weight, "medium")
            } else {
                (0, "")
            };
            if weight > 0 {
                out.push(Reason {
                    code: "lookup.sms_pumping_risk",
                    detail: format!(
                        "the lookup service rates the SMS pumping risk {level} ({score}/100)"
                    )
                    .into(),
                    weight,
                    class: RejectClass::Fraud,
                    scope: Scope::Local,
                    pumping: Some(f64::from(score.min(100)) / 100.0),
                });
            }
        }
        if let Some((t, w)) = answer
            .line_type
            .as_deref()
            .and_then(|t| c.line_type_weights.get_key_value(t))
        {
            out.push(Reason {
                code: "lookup.line_type",
                detail: format!("the lookup service reports a {t} line").into(),
                weight: *w,
                class: RejectClass::LineType,
                scope: Scope::Local,
                pumping: None,
            });
        }
    }
}
