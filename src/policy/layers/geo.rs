//! The geo layer: which countries a platform sends to at all (Twilio's "Geo
//! Permissions"), risk tiers, and per-country caps per hour and day (Plivo's
//! "Fraud Shield"). Tiers and caps are policy data, never Rust.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;

use crate::number::Region;
use crate::policy::counters::{Counters, Keys};
use crate::policy::{Reason, RejectClass, Scope, Subject};
use crate::state::Kind;

/// `[geo]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// When non-empty, only these countries may be sent to; any other is
    /// refused as a geo block.
    pub permitted: Vec<String>,
    /// Risk tiers: tier name → countries (`high = ["…"]`).
    pub tiers: BTreeMap<String, Vec<String>>,
    /// Score weight of each tier (`high = 25`).
    pub tier_weights: BTreeMap<String, u32>,
    /// Per-country send caps. Exceeding one adds `cap_weight`.
    pub caps: BTreeMap<String, Cap>,
    /// Weight added when a cap is exceeded.
    pub cap_weight: u32,
}

/// Sends allowed to one country per hour and per day (0: no cap).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cap {
    pub per_hour: u32,
    pub per_day: u32,
}

#[derive(Debug, Default)]
pub struct GeoLayer {
    permitted: HashSet<Region>,
    tier: HashMap<Region, (Arc<str>, u32), ahash::RandomState>,
    caps: HashMap<Region, Cap, ahash::RandomState>,
    cap_weight: u32,
}

fn region(c: &str, section: &str) -> Result<Region, String> {
    Region::parse(c).ok_or_else(|| format!("{section}: `{c}` is not an ISO country code"))
}

impl Config {
    pub fn build(&self) -> Result<GeoLayer, String> {
        let mut tier = HashMap::default();
        for (name, countries) in &self.tiers {
            let w = *self
                .tier_weights
                .get(name)
                .ok_or_else(|| format!("geo.tiers.{name} has no weight in geo.tier_weights"))?;
            for c in countries {
                if tier
                    .insert(region(c, "geo.tiers")?, (Arc::from(name.as_str()), w))
                    .is_some()
                {
                    return Err(format!("geo.tiers: `{c}` is in more than one tier"));
                }
            }
        }
        Ok(GeoLayer {
            permitted: self
                .permitted
                .iter()
                .map(|c| region(c, "geo.permitted"))
                .collect::<Result<_, _>>()?,
            tier,
            caps: self
                .caps
                .iter()
                .map(|(c, cap)| Ok((region(c, "geo.caps")?, *cap)))
                .collect::<Result<_, String>>()?,
            cap_weight: self.cap_weight,
        })
    }
}

impl GeoLayer {
    /// Adds reasons; returns `true` for a hard geo block.
    pub fn evaluate(
        &self,
        s: &Subject<'_>,
        keys: &Keys,
        counters: &Counters,
        out: &mut Vec<Reason>,
    ) -> bool {
        let Some(region) = keys.region else {
            return false;
        };
        if !self.permitted.is_empty() && !self.permitted.contains(&region) {
            out.push(Reason {
                code: "geo.not_permitted",
                detail: crate::detail!("{region} is not among the permitted countries"),
                weight: 100,
                class: RejectClass::Geo,
                scope: Scope::Local,
                pumping: None,
            });
            return true;
        }
        if let Some((name, w)) = self.tier.get(&region) {
            if *w > 0 {
                let name = Arc::clone(name);
                out.push(Reason {
                    code: "geo.risk_tier",
                    detail: crate::detail!("{region} is in the `{name}` risk tier"),
                    weight: *w,
                    class: RejectClass::Geo,
                    scope: Scope::Country,
                    pumping: None,
                });
            }
        }
        if let (Some(cap), Some(k)) = (self.caps.get(&region), keys.country) {
            let sends = counters.sends_of(Kind::Country);
            let hour = sends.short_sum(k, s.now, 12) + 1;
            let day = sends.long_sum(k, s.now, 24) + 1;
            let over_hour = cap.per_hour > 0 && hour > cap.per_hour;
            let over_day = cap.per_day > 0 && day > cap.per_day;
            if over_hour || over_day {
                let (n, limit, per) = if over_hour {
                    (hour, cap.per_hour, "hour")
                } else {
                    (day, cap.per_day, "day")
                };
                out.push(Reason {
                    code: "geo.cap_exceeded",
                    detail: crate::detail!(
                        "{n} sends to {region} in the last {per}, over the cap of {limit}"
                    ),
                    weight: self.cap_weight,
                    class: RejectClass::Geo,
                    scope: Scope::Local,
                    pumping: None,
                });
            }
        }
        false
    }
}
