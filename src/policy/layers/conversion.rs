//! The conversion layer: the strongest signal there is. A pumped number
//! never types its code in, so ranges, carriers and countries whose sends do
//! not convert are suspect, and numbers that converted before are trusted.
//!
//! Conversions come from the feedback routes (Twilio VerificationCheck
//! `approved`, Vonage checks `completed`, …), the admin conversions endpoint,
//! and backtest `conversion` events.

use serde::Deserialize;

use crate::policy::config::Span;
use crate::policy::counters::{Counters, Keys};
use crate::policy::{Reason, RejectClass, Subject};
use crate::state::Kind;

/// `[conversion]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Numbers that converted in the last 45–90 days skip the soft layers
    /// (hard rules still apply).
    pub trust_converted: bool,
    /// Sends younger than this have not had time to convert (at least 5m).
    pub grace: Span,
    /// How far back sends and conversions are compared (at most 2h).
    pub window: Span,
    pub rules: Vec<Rule>,
}

/// Fewer than `below` conversions per send, over at least `min_sends`
/// sends, adds `weight`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `range3`, `range4`, `carrier` or `country`.
    pub key: String,
    pub min_sends: u32,
    pub below: f64,
    pub weight: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            trust_converted: true,
            grace: Span(600),
            window: Span(7200),
            rules: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Compiled {
    kind: Kind,
    code: &'static str,
    name: &'static str,
    min: u32,
    below: f64,
    weight: u32,
}

#[derive(Debug)]
pub struct ConversionLayer {
    pub trust: bool,
    back: u32,
    skip: u32,
    rules: Vec<Compiled>,
}

impl Config {
    pub fn build(&self) -> Result<ConversionLayer, String> {
        let (w, g) = (self.window.seconds(), self.grace.seconds());
        if w > 7200 || g < 300 || g >= w {
            return Err("conversion: need 5m <= grace < window <= 2h".into());
        }
        let rules = self
            .rules
            .iter()
            .map(|r| {
                let (kind, code, name) = match r.key.as_str() {
                    "range3" => (Kind::Range3, "conversion.range3", "−3 range"),
                    "range4" => (Kind::Range4, "conversion.range4", "−4 range"),
                    "carrier" => (Kind::Carrier, "conversion.carrier", "carrier"),
                    "country" => (Kind::Country, "conversion.country", "country"),
                    other => return Err(format!("conversion.rules: unknown key `{other}`")),
                };
                if !(0.0..=1.0).contains(&r.below) {
                    return Err("conversion.rules: `below` is a ratio between 0 and 1".into());
                }
                Ok(Compiled {
                    kind,
                    code,
                    name,
                    min: r.min_sends.max(1),
                    below: r.below,
                    weight: r.weight,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(ConversionLayer {
            trust: self.trust_converted,
            back: w.div_ceil(300),
            skip: g.div_ceil(300),
            rules,
        })
    }
}

impl ConversionLayer {
    pub fn evaluate(
        &self,
        s: &Subject<'_>,
        keys: &Keys,
        counters: &Counters,
        out: &mut Vec<Reason>,
    ) {
        for r in &self.rules {
            let Some(k) = keys.get(r.kind) else { continue };
            let sends = counters.short.sum_between(k, s.now, self.back, self.skip);
            if sends < r.min {
                continue;
            }
            let conversions = counters.conversions.sum(k, s.now, self.back);
            let rate = f64::from(conversions) / f64::from(sends);
            if rate < r.below {
                out.push(Reason {
                    code: r.code,
                    detail: format!(
                        "{conversions} of {sends} recent sends to this {} converted ({:.0}%, under {:.0}%)",
                        r.name,
                        rate * 100.0,
                        r.below * 100.0
                    ),
                    weight: r.weight,
                    class: RejectClass::Fraud,
                });
            }
        }
    }
}
