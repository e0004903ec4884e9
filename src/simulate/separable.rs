//! How much of a blending campaign a detector may stop at all, once it
//! must keep to the trade and to the friction budget.
//!
//! [`super::bound`] says what no detector can stop before the evidence is
//! in. Past that, a blended send is still drawn like an organic user's
//! first send to a new number of its country at that hour, so stopping it
//! means stopping those users too, at the same rate. An oracle that knows
//! each country-hour's attack share `p` exactly (no detector does) would
//! stop an hour's new numbers only where the trade pays
//! (`p × price > (1 − p) × user_value`), best hours first, and only as
//! many organic sends per country and day as the friction budget allows
//! (a share of that day's organic sends). What it stops is the most any
//! detector can separate; the rest of the blend is not separable under the
//! user's own terms.

use std::collections::{BTreeMap, HashMap};

use super::bound::{kl, new_number_hours, own_rate, Hour};
use super::event::{SimEvent, SimKind};
use crate::backtest::Prices;
use crate::number::Region;

const HOUR_MS: i64 = 3_600_000;

/// What the oracle must keep to.
#[derive(Clone, Copy, Debug)]
pub struct Terms {
    /// Evidence (nats, per country) before which nothing is separable.
    pub threshold: f64,
    /// The value of a real user.
    pub user_value: f64,
    /// Most organic sends stopped per country and day, as a share of its
    /// organic sends that day.
    pub budget: f64,
}

/// The blended attack cost the oracle separates in one run (organic
/// traffic and blending campaigns only, ordered).
pub fn separable(events: &[SimEvent], prices: &Prices, terms: Terms) -> f64 {
    let hours = new_number_hours(events, |r| prices.price(Some(r)));
    // Organic sends per country and day (returning users too): the base of
    // each day's budget.
    let mut organic_days: HashMap<(Region, i64), f64> = HashMap::new();
    for e in events {
        if e.kind == SimKind::Send && !e.label.is_attack() {
            let day = e.ts.millis().div_euclid(24 * HOUR_MS);
            *organic_days.entry((e.region, day)).or_default() += 1.0;
        }
    }
    let attack_rate = attack_rate(&hours);
    let mut total = 0.0;
    for (region, by_hour) in &hours {
        let Some(own) = own_rate(by_hour) else {
            continue;
        };
        let Some(price) = by_hour
            .values()
            .find(|h| h.attack > 0)
            .map(|h| h.attack_cost / f64::from(h.attack))
        else {
            continue;
        };
        // Candidate hours: after the evidence is in, where the trade pays.
        let mut days: BTreeMap<i64, Vec<(f64, &Hour)>> = BTreeMap::new();
        let mut evidence = 0.0;
        for (t, h) in by_hour.range(first_attack(by_hour)..) {
            let n = f64::from(h.organic + h.attack);
            if n > 0.0 {
                let mixed = (f64::from(h.organic) * own + f64::from(h.attack) * attack_rate) / n;
                evidence += n * kl(mixed, own);
            }
            if evidence < terms.threshold || h.attack == 0 {
                continue;
            }
            let p = f64::from(h.attack) / n;
            if p * price > (1.0 - p) * terms.user_value {
                days.entry(t.div_euclid(24)).or_default().push((p, h));
            }
        }
        for (day, mut hs) in days {
            let base = organic_days.get(&(*region, day)).copied().unwrap_or(0.0);
            let mut allowance = terms.budget * base;
            hs.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (_, h) in hs {
                if allowance <= 0.0 {
                    break;
                }
                // Stopping a share of the hour's new numbers stops that
                // share of its organic ones and of its blended ones.
                let share = if h.organic == 0 {
                    1.0
                } else {
                    (allowance / f64::from(h.organic)).min(1.0)
                };
                allowance -= share * f64::from(h.organic);
                total += share * h.attack_cost;
            }
        }
    }
    total
}

/// The blend's own conversion rate over the run.
fn attack_rate(hours: &HashMap<Region, BTreeMap<i64, Hour>>) -> f64 {
    let (n, k) = hours
        .values()
        .flat_map(BTreeMap::values)
        .fold((0u64, 0u64), |(n, k), h| {
            (n + u64::from(h.attack), k + u64::from(h.attack_converted))
        });
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}

fn first_attack(by_hour: &BTreeMap<i64, Hour>) -> i64 {
    by_hour
        .iter()
        .find(|(_, h)| h.attack > 0)
        .map_or(i64::MAX, |(t, _)| *t)
}
