//! The baseline layer: each country's volume compared with what this
//! platform usually sends there at this hour of the week, learned from its
//! own traffic. A 3× surge in a small country stands out; a marketing push
//! with normal conversion adds weight here but nothing elsewhere, so it is
//! not stopped by this layer alone.
//!
//! Cold start: until a country has a day of history, its hourly volume is
//! compared with a share of the platform's whole hourly volume, so a normal
//! first day passes and a 10× surge into a country never seen before does
//! not.

use std::collections::HashMap;

use serde::Deserialize;

use crate::clock::Timestamp;
use crate::number::Region;
use crate::policy::counters::{Counters, Keys};
use crate::policy::{Reason, RejectClass, Scope, Subject};

/// `[baseline]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Current hour over the expected hour at which the layer speaks.
    pub surge_ratio: f64,
    /// Never flag an hour with fewer sends to the country than this.
    pub min_hourly: u32,
    /// Weight at `surge_ratio`; it grows linearly to twice this at 10× the
    /// ratio.
    pub weight: u32,
    /// Share of the platform's hourly volume a country without history may
    /// take before it counts as a surge.
    pub cold_start_share: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            surge_ratio: 3.0,
            min_hourly: 20,
            weight: 25,
            cold_start_share: 0.05,
        }
    }
}

#[derive(Debug)]
pub struct BaselineLayer {
    enabled: bool,
    surge: f64,
    min: u32,
    weight: u32,
    cold_share: f64,
}

impl Config {
    pub fn build(&self) -> Result<BaselineLayer, String> {
        if self.surge_ratio < 1.0 || !(0.0..=1.0).contains(&self.cold_start_share) {
            return Err("baseline: surge_ratio >= 1 and 0 <= cold_start_share <= 1".into());
        }
        Ok(BaselineLayer {
            enabled: self.enabled,
            surge: self.surge_ratio,
            min: self.min_hourly,
            weight: self.weight,
            cold_share: self.cold_start_share,
        })
    }
}

impl BaselineLayer {
    pub fn evaluate(
        &self,
        s: &Subject<'_>,
        keys: &Keys,
        counters: &Counters,
        out: &mut Vec<Reason>,
    ) {
        let Some(region) = keys.region.filter(|_| self.enabled) else {
            return;
        };
        let b = counters.baselines.lock().unwrap_or_else(|p| p.into_inner());
        let current = b.current(region, s.now) + 1;
        if current < self.min {
            return;
        }
        let (expected, basis) = match b.expected(region, s.now) {
            Some(e) => (e, "its usual volume at this hour"),
            None => (
                b.global_expected() * self.cold_share,
                "a new country's share of all traffic",
            ),
        };
        let expected = expected.max(f64::from(self.min) / self.surge);
        let ratio = f64::from(current) / expected;
        if ratio >= self.surge {
            let scale = ((ratio / self.surge - 1.0) / 9.0).clamp(0.0, 1.0);
            out.push(Reason {
                code: "baseline.surge",
                detail: crate::detail!(
                    "{current} sends to {region} this hour, {ratio:.1}× {basis}"
                ),
                weight: (f64::from(self.weight) * (1.0 + scale)).round() as u32,
                class: RejectClass::Fraud,
                scope: Scope::Country,
                pumping: Some(1.0 - 1.0 / ratio.max(1.0)),
            });
        }
    }
}

/// Learned hourly volumes per country and hour of the week.
#[derive(Debug, Default)]
pub struct Baselines {
    countries: HashMap<Region, Volume, ahash::RandomState>,
    global: Volume,
}

/// One series: the current hour's count and what past hours taught.
#[derive(Debug, Clone)]
struct Volume {
    hour: i64,
    count: u32,
    /// EWMA per hour of the week.
    slots: Box<[f32; 168]>,
    seen: Box<[u8; 168]>,
    /// EWMA over all hours.
    overall: f64,
    hours: u32,
}

impl Default for Volume {
    fn default() -> Self {
        Volume {
            hour: i64::MIN,
            count: 0,
            slots: Box::new([0.0; 168]),
            seen: Box::new([0; 168]),
            overall: 0.0,
            hours: 0,
        }
    }
}

/// Hour of the week, Monday 00:00 UTC = 0 (1970-01-01 was a Thursday).
fn how(hour: i64) -> usize {
    (hour + 72).rem_euclid(168) as usize
}

const SLOT_ALPHA: f32 = 0.3;
const OVERALL_ALPHA: f64 = 0.05;

impl Volume {
    fn fold(&mut self, hour: i64, count: u32) {
        let s = how(hour);
        let c = count as f32;
        self.slots[s] = if self.seen[s] == 0 {
            c
        } else {
            self.slots[s] + SLOT_ALPHA * (c - self.slots[s])
        };
        self.seen[s] = self.seen[s].saturating_add(1);
        self.overall = if self.hours == 0 {
            f64::from(count)
        } else {
            self.overall + OVERALL_ALPHA * (f64::from(count) - self.overall)
        };
        self.hours = self.hours.saturating_add(1);
    }

    fn observe(&mut self, now: Timestamp) {
        let hour = now.millis().div_euclid(3_600_000);
        if self.hour == i64::MIN {
            self.hour = hour;
        } else if hour > self.hour {
            self.fold(self.hour, self.count);
            // Silent hours are zero-volume hours (at most a week of them).
            let gap = (hour - self.hour - 1).min(168);
            for h in 0..gap {
                self.fold(hour - gap + h, 0);
            }
            self.hour = hour;
            self.count = 0;
        }
        if hour == self.hour {
            self.count = self.count.saturating_add(1);
        }
    }

    fn current(&self, now: Timestamp) -> u32 {
        if now.millis().div_euclid(3_600_000) == self.hour {
            self.count
        } else {
            0
        }
    }

    fn expected(&self, now: Timestamp) -> Option<f64> {
        let s = how(now.millis().div_euclid(3_600_000));
        if self.seen[s] >= 2 {
            // Same hour of the week, two weeks or more of history; never
            // below a fraction of the overall level (quiet-hour noise).
            Some(f64::from(self.slots[s]).max(self.overall * 0.25))
        } else if self.hours >= 24 {
            Some(self.overall)
        } else {
            None
        }
    }
}

impl Baselines {
    pub fn observe(&mut self, region: Region, now: Timestamp) {
        self.countries.entry(region).or_default().observe(now);
        self.global.observe(now);
    }

    pub fn current(&self, region: Region, now: Timestamp) -> u32 {
        self.countries
            .get(&region)
            .map(|v| v.current(now))
            .unwrap_or(0)
    }

    pub fn expected(&self, region: Region, now: Timestamp) -> Option<f64> {
        self.countries.get(&region).and_then(|v| v.expected(now))
    }

    /// The platform's typical hourly volume (0 before any history).
    pub fn global_expected(&self) -> f64 {
        if self.global.hours == 0 {
            f64::from(self.global.count)
        } else {
            self.global.overall.max(1.0)
        }
    }
}
