//! The policy file's top level. Each layer's section is defined next to the
//! layer (`layers/*.rs`); doc comments are the policy reference.

use serde::Deserialize;

use super::layers;
use super::Action;

/// A policy file (`policies/default.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `enforce` acts on decisions; `shadow` records them and forwards
    /// every send (the safe first step of every deployment).
    #[serde(default)]
    pub mode: Mode,
    /// Score thresholds.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// The number layer: validity and line type.
    #[serde(default)]
    pub number: layers::number::Config,
    /// Allow and deny lists of numbers, ranges and countries.
    #[serde(default)]
    pub lists: layers::lists::Config,
    /// Permitted countries, risk tiers, per-country caps.
    #[serde(default)]
    pub geo: layers::geo::Config,
    /// Sliding-window rate rules.
    #[serde(default)]
    pub velocity: layers::velocity::Config,
    /// Enumeration patterns inside ranges.
    #[serde(default)]
    pub pattern: layers::pattern::Config,
    /// Conversion rates and trusted numbers.
    #[serde(default)]
    pub conversion: layers::conversion::Config,
    /// Learned per-country volume.
    #[serde(default)]
    pub baseline: layers::baseline::Config,
    /// The trade behind every soft stop and the per-country friction
    /// budget.
    #[serde(default)]
    pub economics: super::economics::Config,
    /// How long sends are held and what happens at the deadline.
    #[serde(default)]
    pub hold: HoldPolicy,
    /// Optional external number intelligence (Twilio Lookup v2).
    #[serde(default)]
    pub lookup: super::lookup::Config,
}

/// `[hold]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoldPolicy {
    /// How long a send waits for review (OTPs go stale: 10m by default).
    pub ttl: Span,
    /// Per-route deadlines (`"twilio.verify" = "5m"`).
    pub routes: std::collections::BTreeMap<String, Span>,
    /// At the deadline: `reject` (default), `release`, or `rescore` (score
    /// the number again: released if it would now be allowed).
    pub on_expiry: OnExpiry,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExpiry {
    #[default]
    Reject,
    Release,
    Rescore,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        HoldPolicy {
            ttl: Span(600),
            routes: Default::default(),
            on_expiry: OnExpiry::Reject,
        }
    }
}

impl HoldPolicy {
    pub fn ttl_for(&self, route: &str) -> Span {
        self.routes.get(route).copied().unwrap_or(self.ttl)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Enforce,
    Shadow,
}

/// Scores are 0–100; at or above `block` a send is blocked, at or above
/// `hold` it is held for review.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub hold: u32,
    pub block: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            hold: 60,
            block: 80,
        }
    }
}

impl Thresholds {
    pub fn validate(&self) -> Result<(), String> {
        if self.block > 100 || self.hold > self.block {
            return Err(format!(
                "thresholds must satisfy hold <= block <= 100 (hold = {}, block = {})",
                self.hold, self.block
            ));
        }
        Ok(())
    }

    pub fn action(&self, score: u32) -> Action {
        if score >= self.block {
            Action::Block
        } else if score >= self.hold {
            Action::Hold
        } else {
            Action::Allow
        }
    }
}

/// A time span in policy files: `"90s"`, `"10m"`, `"1h"`, `"24h"`, `"7d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub u32);

impl Span {
    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl std::str::FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Span, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: u32 = n
            .parse()
            .map_err(|_| format!("`{s}` is not a span like \"10m\" or \"24h\""))?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("`{s}`: the unit must be s, m, h or d")),
        };
        n.checked_mul(mult)
            .map(Span)
            .ok_or_else(|| format!("`{s}` is too long"))
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
