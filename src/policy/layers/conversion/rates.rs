//! Learned conversion rates per country and the hour-by-hour evidence
//! (a CUSUM) that a country converts under its own rate.

use std::collections::HashMap;

use super::Cusum;
use crate::clock::Timestamp;
use crate::number::Region;

/// Each country's conversion rate learned from its own traffic: decayed
/// sums of sends and conversions, folded in hour by hour (the hour in
/// progress is never part of what was learned). An hour that converts far
/// below the learned rate (3σ or more) is not learned from, so a campaign
/// does not teach the engine that its own traffic is normal.
#[derive(Debug, Default)]
pub struct ConversionRates {
    /// Per country: all its sends, and (`true`) those to numbers that had
    /// not converted before.
    countries: HashMap<(Region, bool), Rate, ahash::RandomState>,
}

#[derive(Debug, Clone)]
struct Rate {
    hour: i64,
    sends: u32,
    conversions: u32,
    learned_sends: f64,
    learned_conversions: f64,
    /// The last whole hours: (hour, sends, conversions), by hour modulo
    /// the length.
    history: [(i64, u32, u32); HISTORY_HOURS],
}

/// What a drift's CUSUM says at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Log-likelihood ratio (nats).
    pub llr: f64,
    /// Fired and not yet released.
    pub on: bool,
    /// Hours since the evidence last was nil.
    pub hours: u32,
    /// The learned rate judged against.
    pub p0: f64,
}

/// Whole hours of per-country history kept for drifts.
pub const HISTORY_HOURS: usize = 48;

/// Decay per hour: a memory of about a week.
const RATE_DECAY: f64 = 1.0 - 1.0 / 168.0;
/// Hours this far below the learned rate are not learned from.
const UNLEARNED_Z: f64 = 3.0;

impl Rate {
    fn new(hour: i64) -> Rate {
        Rate {
            hour,
            sends: 0,
            conversions: 0,
            learned_sends: 0.0,
            learned_conversions: 0.0,
            history: [(i64::MIN, 0, 0); HISTORY_HOURS],
        }
    }

    /// Sends and conversions of a whole hour, if still known.
    fn hour_counts(&self, hour: i64) -> Option<(u32, u32)> {
        if hour == self.hour {
            return Some((self.sends, self.conversions));
        }
        let (h, n, c) = self.history[hour.rem_euclid(HISTORY_HOURS as i64) as usize];
        (h == hour).then_some((n, c))
    }

    fn fold(&mut self) {
        self.history[self.hour.rem_euclid(HISTORY_HOURS as i64) as usize] =
            (self.hour, self.sends, self.conversions);
        let (n, c) = (f64::from(self.sends), f64::from(self.conversions));
        let anomalous = self.learned_sends >= 100.0 && n >= 10.0 && {
            let p0 = self.learned_conversions / self.learned_sends;
            p0 > 0.0 && p0 < 1.0 && (p0 * n - c) / (n * p0 * (1.0 - p0)).sqrt() >= UNLEARNED_Z
        };
        self.learned_sends *= RATE_DECAY;
        self.learned_conversions *= RATE_DECAY;
        if !anomalous {
            self.learned_sends += n;
            self.learned_conversions += c;
        }
    }

    fn observe(&mut self, hour: i64, sends: u32, conversions: u32) {
        if hour > self.hour {
            self.fold();
            // Silent hours only decay (at most a few weeks of them matter).
            let gap = (hour - self.hour - 1).clamp(0, 24 * 28) as i32;
            let d = RATE_DECAY.powi(gap);
            self.learned_sends *= d;
            self.learned_conversions *= d;
            self.hour = hour;
            self.sends = 0;
            self.conversions = 0;
        }
        if hour == self.hour {
            self.sends = self.sends.saturating_add(sends);
            self.conversions = self.conversions.saturating_add(conversions);
        }
    }
}

impl ConversionRates {
    /// Counts sends and conversions to `region` at `now`; `fresh`: to (of)
    /// a number that had not converted before, counted in both slices.
    pub fn observe(
        &mut self,
        region: Region,
        fresh: bool,
        now: Timestamp,
        sends: u32,
        conversions: u32,
    ) {
        let hour = now.millis().div_euclid(3_600_000);
        let slices: &[bool] = if fresh { &[false, true] } else { &[false] };
        for &slice in slices {
            self.countries
                .entry((region, slice))
                .or_insert_with(|| Rate::new(hour))
                .observe(hour, sends, conversions);
        }
    }

    /// The CUSUM of the whole hours before `now` (up to `hours` back) of
    /// the log-likelihood ratio of converting at `ratio` × the learned rate
    /// rather than at it, run oldest hour first with the drift's hysteresis
    /// and cap. `None` while the learned rate rests on fewer than
    /// `min_mass` sends.
    pub fn evidence(
        &self,
        region: Region,
        fresh: bool,
        now: Timestamp,
        c: &Cusum,
        min_mass: f64,
    ) -> Option<Evidence> {
        let r = self.countries.get(&(region, fresh))?;
        let (p0, mass) = self.learned(region, fresh)?;
        if mass < min_mass || p0 <= 0.0 || p0 >= 1.0 {
            return None;
        }
        let p1 = c.ratio * p0;
        let (a, b) = (c.ratio.ln(), ((1.0 - p1) / (1.0 - p0)).ln());
        let current = now.millis().div_euclid(3_600_000);
        let mut e = Evidence {
            llr: 0.0,
            on: false,
            hours: 0,
            p0,
        };
        for back in (1..=i64::from(c.hours)).rev() {
            let Some((n, k)) = r.hour_counts(current - back) else {
                continue;
            };
            let (n, k) = (f64::from(n), f64::from(k.min(n)));
            e.llr = (e.llr + k * a + (n - k) * b).clamp(0.0, c.cap);
            e.hours = if e.llr > 0.0 { e.hours + 1 } else { 0 };
            e.on = e.llr >= if e.on { c.release } else { c.threshold };
        }
        Some(e)
    }

    /// The learned rate and the (decayed) number of sends it rests on, of
    /// all the country's sends or (`fresh`) of those to new numbers.
    pub fn learned(&self, region: Region, fresh: bool) -> Option<(f64, f64)> {
        let r = self.countries.get(&(region, fresh))?;
        (r.learned_sends > 0.0).then(|| (r.learned_conversions / r.learned_sends, r.learned_sends))
    }
}
