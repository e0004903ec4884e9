//! The optional lookup layer: asks an external number-intelligence service
//! (Twilio Lookup v2, fields `sms_pumping_risk` and `line_type_intelligence`)
//! about a destination, behind a cache, a time budget and a fail-open /
//! fail-closed switch. Off by default: it costs money and a round trip, so it
//! is for platforms that already pay for it.
//!
//! The pipeline calls [`Lookup::enrich`] (async, bounded by the budget)
//! before the engine decides; the engine turns the answer into reasons with
//! [`Lookup::signals`], so backtests (which have no answers) score the rest
//! of the policy exactly as live traffic does.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, Request};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use crate::policy::{Reason, RejectClass, Span};
use crate::upstream::{ProxyBody, UpstreamClient};

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

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("lookup.base_url `{0}` is not an absolute URL")]
    BaseUrl(String),
    #[error("lookup credentials: environment variable {0} is not set")]
    Credentials(String),
}

pub struct Lookup {
    cfg: Config,
    base_url: String,
    client: UpstreamClient,
    auth: String,
    cache: moka::sync::Cache<String, Arc<Answer>>,
}

impl Lookup {
    /// `default_base` is used when the config names no base URL.
    pub fn build(
        cfg: Config,
        default_base: &str,
        client: UpstreamClient,
    ) -> Result<Lookup, LookupError> {
        let base_url = cfg
            .base_url
            .clone()
            .unwrap_or_else(|| default_base.to_owned());
        let base: http::Uri = base_url
            .parse()
            .map_err(|_| LookupError::BaseUrl(base_url.clone()))?;
        if base.scheme().is_none() || base.authority().is_none() {
            return Err(LookupError::BaseUrl(base_url));
        }
        let var =
            |name: &str| std::env::var(name).map_err(|_| LookupError::Credentials(name.to_owned()));
        let (sid, token) = (var(&cfg.account_sid_env)?, var(&cfg.auth_token_env)?);
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"))
        );
        let cache = moka::sync::Cache::builder()
            .max_capacity(cfg.cache_capacity)
            .time_to_live(Duration::from_secs(u64::from(cfg.cache_ttl.seconds())))
            .build();
        Ok(Lookup {
            cfg,
            base_url,
            client,
            auth,
            cache,
        })
    }

    /// Asks about `e164_digits` (no `+`), within the time budget.
    pub async fn enrich(&self, e164_digits: &str) -> Outcome {
        if let Some(hit) = self.cache.get(e164_digits) {
            return Outcome::Answer(hit);
        }
        let budget = Duration::from_millis(self.cfg.budget_ms);
        match tokio::time::timeout(budget, self.fetch(e164_digits)).await {
            Err(_) => Outcome::Unavailable(format!("no answer within {budget:?}")),
            Ok(Err(e)) => Outcome::Unavailable(e),
            Ok(Ok(answer)) => {
                let answer = Arc::new(answer);
                self.cache.insert(e164_digits.to_owned(), answer.clone());
                Outcome::Answer(answer)
            }
        }
    }

    async fn fetch(&self, digits: &str) -> Result<Answer, String> {
        let url = format!(
            "{}/v2/PhoneNumbers/%2B{digits}?Fields=sms_pumping_risk%2Cline_type_intelligence",
            self.base_url.trim_end_matches('/')
        );
        let req: Request<ProxyBody> = Request::get(url)
            .header(header::AUTHORIZATION, &self.auth)
            .header(header::ACCEPT, "application/json")
            .body(crate::upstream::full(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let resp = self.client.send(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), 256 * 1024)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("the lookup answered {status}"));
        }
        parse(&body).ok_or_else(|| "the lookup answer is not the expected JSON".to_owned())
    }

    /// Reasons from an outcome, by this lookup's own configuration.
    pub fn signals(&self, outcome: &Outcome, out: &mut Vec<Reason>) {
        self.cfg.signals(outcome, out);
    }
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
            });
        }
    }
}

/// Reads the two fields tollgate uses from a Lookup v2 answer.
pub fn parse(body: &[u8]) -> Option<Answer> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let risk = v.get("sms_pumping_risk").filter(|r| r.is_object());
    let line = v.get("line_type_intelligence").filter(|r| r.is_object());
    Some(Answer {
        risk_score: risk
            .and_then(|r| r.get("sms_pumping_risk_score"))
            .and_then(|s| s.as_u64())
            .map(|s| s.min(100) as u8),
        carrier_risk: risk
            .and_then(|r| r.get("carrier_risk_category"))
            .and_then(|s| s.as_str())
            .map(str::to_owned),
        number_blocked: risk
            .and_then(|r| r.get("number_blocked"))
            .and_then(|b| b.as_bool()),
        line_type: line
            .and_then(|l| l.get("type"))
            .and_then(|t| t.as_str())
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests;
