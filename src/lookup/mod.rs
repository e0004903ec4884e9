//! The optional lookup layer: asks an external number-intelligence service
//! (Twilio Lookup v2, fields `sms_pumping_risk` and `line_type_intelligence`)
//! about a destination, behind a cache, a time budget and a fail-open /
//! fail-closed switch. Off by default: it costs money and a round trip, so it
//! is for platforms that already pay for it.
//!
//! The pipeline calls [`Lookup::enrich`] (async, bounded by the budget)
//! before the engine decides; the engine turns the answer into reasons
//! itself (the `[lookup]` section, [`Outcome`] and their scoring are the
//! engine's, in `policy::lookup`, re-exported here), so backtests (which
//! have no answers) score the rest of the policy exactly as live traffic
//! does.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, Request};
use http_body_util::{BodyExt, Limited};

pub use crate::policy::lookup::{Answer, Config, OnError, Outcome};
use crate::policy::Reason;
use crate::upstream::{ProxyBody, UpstreamClient};

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
