//! The velocity layer: sliding-window rates by number, range, carrier,
//! country, account and client context (`X-Tollgate-Client-IP`, `-Device`,
//! `-Session`). Each rule is data: key, window, maximum, weight.

use serde::Deserialize;

use crate::policy::config::Span;
use crate::policy::counters::{Counters, Keys, NUMBER_BUCKET_MAX};
use crate::policy::{Reason, RejectClass, Scope, Subject};
use crate::state::Kind;

/// `[velocity]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub rules: Vec<Rule>,
}

/// One rule: more than `max` sends per `key` within `window` adds `weight`,
/// plus `weight_per_extra` for each send beyond `max` (capped at 100).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `number`, `range3`, `range4`, `carrier`, `country`, `account`,
    /// `client_ip`, `device` or `session`.
    pub key: String,
    /// Up to `1h` for `number`; up to `2h` (5-minute resolution) or `24h`
    /// (1-hour resolution) for the others.
    pub window: Span,
    /// Sends allowed within `window`; for `number`, below 65,535 (a
    /// number's 10-minute bucket counts no further).
    pub max: u32,
    pub weight: u32,
    #[serde(default)]
    pub weight_per_extra: u32,
    /// Share of the sends past `max` taken to be pumping, for the
    /// economic trade (`[economics]`). Default by key: `number` 0.6 (a
    /// real user retries too), the client keys 0.9 (one IP, device or
    /// session asking codes for many numbers is a bot), the rest 0.8.
    pub pumping: Option<f64>,
}

/// The default of [`Rule::pumping`] for a key.
fn default_pumping(kind: Kind) -> f64 {
    match kind {
        Kind::Number => 0.6,
        Kind::ClientIp | Kind::Device | Kind::Session => 0.9,
        _ => 0.8,
    }
}

#[derive(Debug)]
struct Compiled {
    kind: Kind,
    name: &'static str,
    code: &'static str,
    /// Which family and how many buckets.
    family: Family,
    buckets: u32,
    window_s: u32,
    max: u32,
    weight: u32,
    per_extra: u32,
    scope: Scope,
    pumping: f64,
}

#[derive(Debug, Clone, Copy)]
enum Family {
    Number,
    Short,
    Long,
}

#[derive(Debug, Default)]
pub struct VelocityLayer {
    rules: Vec<Compiled>,
}

fn kind(name: &str) -> Option<(Kind, &'static str, &'static str)> {
    Some(match name {
        "number" => (Kind::Number, "number", "velocity.number"),
        "range3" => (Kind::Range3, "range (−3 digits)", "velocity.range3"),
        "range4" => (Kind::Range4, "range (−4 digits)", "velocity.range4"),
        "carrier" => (Kind::Carrier, "carrier", "velocity.carrier"),
        "country" => (Kind::Country, "country", "velocity.country"),
        "account" => (Kind::Account, "account", "velocity.account"),
        "client_ip" => (Kind::ClientIp, "client IP", "velocity.client_ip"),
        "device" => (Kind::Device, "device", "velocity.device"),
        "session" => (Kind::Session, "session", "velocity.session"),
        _ => return None,
    })
}

impl Config {
    pub fn build(&self) -> Result<VelocityLayer, String> {
        let mut rules = Vec::new();
        for r in &self.rules {
            let (kind, name, code) =
                kind(&r.key).ok_or_else(|| format!("velocity.rules: unknown key `{}`", r.key))?;
            let w = r.window.seconds();
            let (family, width) = match kind {
                Kind::Number if r.max >= NUMBER_BUCKET_MAX => {
                    return Err(format!(
                        "velocity.rules: a `number` max is below {NUMBER_BUCKET_MAX}"
                    ))
                }
                Kind::Number if w <= 3600 => (Family::Number, 600),
                Kind::Number => {
                    return Err("velocity.rules: a `number` window is at most 1h".into())
                }
                _ if w <= 7200 => (Family::Short, 300),
                _ if w <= 86_400 => (Family::Long, 3600),
                _ => return Err(format!("velocity.rules: `{}` window is at most 24h", r.key)),
            };
            if w < width {
                return Err(format!(
                    "velocity.rules: the `{}` window is shorter than its {width}s resolution",
                    r.key
                ));
            }
            rules.push(Compiled {
                kind,
                name,
                code,
                family,
                buckets: w.div_ceil(width),
                window_s: w,
                max: r.max,
                weight: r.weight,
                per_extra: r.weight_per_extra,
                scope: super::scope_of(kind),
                pumping: crate::policy::layers::share(
                    "velocity.rules: pumping",
                    r.pumping.unwrap_or_else(|| default_pumping(kind)),
                )?,
            });
        }
        Ok(VelocityLayer { rules })
    }
}

impl VelocityLayer {
    pub fn evaluate(
        &self,
        s: &Subject<'_>,
        keys: &Keys,
        counters: &Counters,
        out: &mut Vec<Reason>,
    ) {
        for r in &self.rules {
            let Some(k) = keys.get(r.kind) else { continue };
            let seen = match r.family {
                Family::Number => counters.numbers.sum(k, s.now, r.buckets),
                Family::Short => counters.sends_of(r.kind).short_sum(k, s.now, r.buckets),
                Family::Long => counters.sends_of(r.kind).long_sum(k, s.now, r.buckets),
            };
            let n = seen + 1;
            if n > r.max {
                let extra = (n - r.max - 1).saturating_mul(r.per_extra);
                let (name, window_s, max) = (r.name, r.window_s, r.max);
                out.push(Reason {
                    code: r.code,
                    detail: crate::detail!(
                        "{n} sends to this {name} in {}, over {max}",
                        human(window_s)
                    ),
                    weight: r.weight.saturating_add(extra).min(100),
                    class: RejectClass::Fraud,
                    scope: r.scope,
                    pumping: Some(r.pumping),
                });
            }
        }
    }
}

pub fn human(s: u32) -> String {
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
