//! How much of a blending campaign any send-time detector must miss.
//!
//! A blended send is drawn exactly like an organic user's first send to a
//! new number of the same country at the same hour: the same ranges,
//! residential IPs of the country, a fresh device, the country's diurnal
//! curve (see `attack.rs`). Only its non-conversion differs, and that shows
//! only as evidence adds up: until it does, stopping a blended send means
//! stopping the organic sends it cannot be told from.
//!
//! For each campaign this adds up, hour by hour from the campaign's first
//! send, the expected log-likelihood ratio of the new-number slice
//! "converts at the campaign-diluted rate" against "converts at its own
//! rate", with both rates known exactly and without noise, and counts the
//! cost the campaign sent before that evidence reached `threshold` nats.
//! No detector working at that evidence threshold (that false-alarm rate)
//! stops those sends, so the figure is a floor on what is missed: real
//! detectors learn the rates, see noise and wait for conversions.
//!
//! Two floors: evidence per country (what a per-country detector has), and
//! evidence pooled over exactly the countries the campaign hits (an oracle
//! that knows them; lower still).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::event::{SimEvent, SimKind};
use crate::backtest::Prices;
use crate::number::Region;

const HOUR_MS: i64 = 3_600_000;

/// The alternative the no-attack CUSUM tests: the default policy's drift
/// ratio.
pub const NULL_RATIO: f64 = 0.85;

/// A campaign's cost and what the floors say it must lose.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Floor {
    pub cost: f64,
    /// Per threshold (in the order given): cost sent before a per-country
    /// detector can have the evidence.
    pub per_country: Vec<f64>,
    /// The same with evidence pooled over the campaign's countries.
    pub pooled: Vec<f64>,
}

impl Floor {
    pub fn merge(&mut self, o: &Floor) {
        self.cost += o.cost;
        for (a, b) in [
            (&mut self.per_country, &o.per_country),
            (&mut self.pooled, &o.pooled),
        ] {
            a.resize(a.len().max(b.len()), 0.0);
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// Kullback–Leibler divergence of Bernoulli(`p`) from Bernoulli(`q`): the
/// expected evidence (nats) one send at rate `p` gives against rate `q`.
fn kl(p: f64, q: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    let q = q.clamp(1e-6, 1.0 - 1e-6);
    p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln()
}

/// New-number sends of one country in one hour.
#[derive(Clone, Copy, Default)]
struct Hour {
    organic: u32,
    attack: u32,
    attack_cost: f64,
}

/// The floors of one run (organic traffic and one campaign, ordered), at
/// each of `thresholds` (nats).
pub fn floor(events: &[SimEvent], prices: &Prices, thresholds: &[f64]) -> Floor {
    // Numbers that converted: later sends to them are returning users.
    let mut trusted: HashMap<Arc<str>, ()> = HashMap::new();
    // Whether the last send to a number not yet trusted was the attack's.
    let mut last: HashMap<Arc<str>, bool> = HashMap::new();
    // Per country: organic new-number sends and their conversions.
    let mut slice: HashMap<Region, (u64, u64)> = HashMap::new();
    let (mut attack_sends, mut attack_conversions) = (0u64, 0u64);
    let mut hours: HashMap<Region, BTreeMap<i64, Hour>> = HashMap::new();
    let mut cost = 0.0;
    for e in events {
        match e.kind {
            SimKind::Conversion => {
                if trusted.insert(e.to.clone(), ()).is_some() {
                    continue;
                }
                match last.remove(&e.to) {
                    Some(true) => attack_conversions += 1,
                    Some(false) => slice.entry(e.region).or_default().1 += 1,
                    None => {}
                }
            }
            SimKind::Send => {
                if trusted.contains_key(&e.to) {
                    continue;
                }
                let attack = e.label.is_attack();
                last.insert(e.to.clone(), attack);
                let h = hours
                    .entry(e.region)
                    .or_default()
                    .entry(e.ts.millis().div_euclid(HOUR_MS))
                    .or_default();
                if attack {
                    let price = prices.price(Some(e.region));
                    attack_sends += 1;
                    cost += price;
                    h.attack += 1;
                    h.attack_cost += price;
                } else {
                    slice.entry(e.region).or_default().0 += 1;
                    h.organic += 1;
                }
            }
        }
    }
    let attack_rate = if attack_sends == 0 {
        0.0
    } else {
        attack_conversions as f64 / attack_sends as f64
    };
    // Each attacked country's hours from the campaign's first send there:
    // (hour, evidence gathered in it, attack cost sent in it).
    let mut attacked: Vec<Vec<(i64, f64, f64)>> = Vec::new();
    for (region, by_hour) in &hours {
        let Some(first) = by_hour.iter().find(|(_, h)| h.attack > 0).map(|(t, _)| *t) else {
            continue;
        };
        let (sends, conversions) = slice.get(region).copied().unwrap_or_default();
        if sends == 0 {
            continue;
        }
        let own = conversions as f64 / sends as f64;
        attacked.push(
            by_hour
                .range(first..)
                .map(|(t, h)| {
                    let n = f64::from(h.organic + h.attack);
                    let mixed = if n > 0.0 {
                        (f64::from(h.organic) * own + f64::from(h.attack) * attack_rate) / n
                    } else {
                        own
                    };
                    (*t, n * kl(mixed, own), h.attack_cost)
                })
                .collect(),
        );
    }
    // Cost sent up to and including the hour in which the evidence, added
    // up from the start, reaches `threshold`.
    let missed = |hours: &[(i64, f64, f64)], threshold: f64| {
        let mut evidence = 0.0;
        let mut missed = 0.0;
        for &(_, e, c) in hours {
            missed += c;
            evidence += e;
            if evidence >= threshold {
                break;
            }
        }
        missed
    };
    let mut pooled: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for hours in &attacked {
        for &(t, e, c) in hours {
            let p = pooled.entry(t).or_default();
            p.0 += e;
            p.1 += c;
        }
    }
    let pooled: Vec<(i64, f64, f64)> = pooled.into_iter().map(|(t, (e, c))| (t, e, c)).collect();
    Floor {
        cost,
        per_country: thresholds
            .iter()
            .map(|&th| attacked.iter().map(|h| missed(h, th)).sum())
            .collect(),
        pooled: thresholds.iter().map(|&th| missed(&pooled, th)).collect(),
    }
}

/// False alarms with no attack: how often a CUSUM of the new-number
/// slice ("converts at `ratio` × its rate" against "at its rate", hour by
/// hour, the rate known exactly) crosses each threshold, for one country
/// at a time (the highest of `countries`) and for the sum over them (a
/// detector that pools the countries a campaign might hit).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NullAlarms {
    /// Hours watched (the first day is left out: no one is trusted yet).
    pub hours: u64,
    /// Per threshold: times the highest single country's CUSUM crossed it.
    pub single: Vec<u64>,
    /// Per threshold: times the sum over `countries` crossed it.
    pub pooled: Vec<u64>,
    /// Per threshold: hours the highest single country and the sum spent
    /// at or above it.
    pub single_hours: Vec<u64>,
    pub pooled_hours: Vec<u64>,
    /// The sum's mean level with no attack (nats).
    pub pooled_mean: f64,
}

impl NullAlarms {
    pub fn merge(&mut self, o: &NullAlarms) {
        let mean = |a: f64, ha: u64, b: f64, hb: u64| {
            if ha + hb == 0 {
                0.0
            } else {
                (a * ha as f64 + b * hb as f64) / (ha + hb) as f64
            }
        };
        self.pooled_mean = mean(self.pooled_mean, self.hours, o.pooled_mean, o.hours);
        self.hours += o.hours;
        for (a, b) in [
            (&mut self.single, &o.single),
            (&mut self.pooled, &o.pooled),
            (&mut self.single_hours, &o.single_hours),
            (&mut self.pooled_hours, &o.pooled_hours),
        ] {
            a.resize(a.len().max(b.len()), 0);
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

/// [`NullAlarms`] of organic traffic (ordered), for `countries`.
pub fn null_alarms(
    events: &[SimEvent],
    countries: &[Region],
    ratio: f64,
    thresholds: &[f64],
) -> NullAlarms {
    let mut trusted: HashMap<Arc<str>, ()> = HashMap::new();
    let mut last: HashMap<Arc<str>, i64> = HashMap::new();
    // Per country and hour: new-number sends, and the conversions of the
    // numbers sent to in that hour.
    let mut hours: HashMap<Region, BTreeMap<i64, (u32, u32)>> = HashMap::new();
    for e in events.iter().filter(|e| countries.contains(&e.region)) {
        if trusted.contains_key(&e.to) {
            continue;
        }
        match e.kind {
            SimKind::Send => {
                let h = e.ts.millis().div_euclid(HOUR_MS);
                last.insert(e.to.clone(), h);
                hours.entry(e.region).or_default().entry(h).or_default().0 += 1;
            }
            SimKind::Conversion => {
                trusted.insert(e.to.clone(), ());
                if let Some(h) = last.remove(&e.to) {
                    hours.entry(e.region).or_default().entry(h).or_default().1 += 1;
                }
            }
        }
    }
    let Some(first) = events
        .first()
        .map(|e| e.ts.millis().div_euclid(HOUR_MS) + 24)
    else {
        return NullAlarms::default();
    };
    let last_hour = events
        .last()
        .map_or(first, |e| e.ts.millis().div_euclid(HOUR_MS));
    let rates: Vec<(f64, &BTreeMap<i64, (u32, u32)>)> = hours
        .values()
        .filter_map(|by| {
            let (n, k) = by.values().fold((0u64, 0u64), |(n, k), (a, b)| {
                (n + u64::from(*a), k + u64::from(*b))
            });
            (n > 0 && k > 0).then(|| (k as f64 / n as f64, by))
        })
        .collect();
    let mut cusum = vec![0.0f64; rates.len()];
    let mut out = NullAlarms {
        single: vec![0; thresholds.len()],
        pooled: vec![0; thresholds.len()],
        single_hours: vec![0; thresholds.len()],
        pooled_hours: vec![0; thresholds.len()],
        ..NullAlarms::default()
    };
    let (mut single_on, mut pooled_on) =
        (vec![false; thresholds.len()], vec![false; thresholds.len()]);
    let mut level = 0.0;
    for h in first..last_hour {
        for ((p, by), s) in rates.iter().zip(cusum.iter_mut()) {
            let (n, k) = by.get(&h).copied().unwrap_or_default();
            let q = (ratio * p).clamp(1e-6, 1.0 - 1e-6);
            let step = f64::from(k) * (q / p).ln()
                + f64::from(n - k.min(n)) * ((1.0 - q) / (1.0 - p)).ln();
            *s = (*s + step).max(0.0);
        }
        let single = cusum.iter().copied().fold(0.0, f64::max);
        let pooled: f64 = cusum.iter().sum();
        level += pooled;
        out.hours += 1;
        for (i, th) in thresholds.iter().enumerate() {
            for (value, on, count, hours) in [
                (
                    single,
                    &mut single_on[i],
                    &mut out.single[i],
                    &mut out.single_hours[i],
                ),
                (
                    pooled,
                    &mut pooled_on[i],
                    &mut out.pooled[i],
                    &mut out.pooled_hours[i],
                ),
            ] {
                if value >= *th && !*on {
                    *count += 1;
                }
                *on = value >= *th;
                *hours += u64::from(*on);
            }
        }
    }
    if out.hours > 0 {
        out.pooled_mean = level / out.hours as f64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::simulate::event::Label;

    fn event(min: i64, kind: SimKind, to: &str, attack: bool) -> SimEvent {
        SimEvent {
            ts: Timestamp(min * 60_000),
            kind,
            id: String::new(),
            to: to.into(),
            account: None,
            client_ip: None,
            device: None,
            label: if attack {
                Label::Attack("blending".into())
            } else {
                Label::Organic
            },
            region: Region::parse("NG").expect("NG"),
        }
    }

    /// `hours` of 20 organic new numbers an hour converting at 3 in 4, and
    /// from `from_hour` on `attack` blended sends an hour that never do.
    fn run(hours: i64, from_hour: i64, attack: i64) -> Vec<SimEvent> {
        let mut out = Vec::new();
        for h in 0..hours {
            for i in 0..20 {
                let to = format!("+23480{h:04}{i:04}");
                out.push(event(h * 60 + i, SimKind::Send, &to, false));
                if i % 4 != 0 {
                    out.push(event(h * 60 + i + 1, SimKind::Conversion, &to, false));
                }
            }
            if h >= from_hour {
                for i in 0..attack {
                    let to = format!("+23481{h:04}{i:04}");
                    out.push(event(h * 60 + 30 + i, SimKind::Send, &to, true));
                }
            }
        }
        out.sort_by_key(SimEvent::order_key);
        out
    }

    #[test]
    fn the_no_attack_cusum_alarms_once_for_a_stretch_converting_less() {
        // 20 new numbers an hour converting 15 (the country's rate, 3 in
        // 4), except hours 30-35, which convert 10: about 2.1 nats an hour
        // against 0.85 x the rate, over 7 nats within four hours.
        let mut events = Vec::new();
        for h in 0..60i64 {
            let converting = if (30..36).contains(&h) { 10 } else { 15 };
            for i in 0..20 {
                let to = format!("+23480{h:04}{i:04}");
                events.push(event(h * 60 + i, SimKind::Send, &to, false));
                if i < converting {
                    events.push(event(h * 60 + i + 1, SimKind::Conversion, &to, false));
                }
            }
        }
        events.sort_by_key(SimEvent::order_key);
        let ng = [Region::parse("NG").expect("NG")];
        let a = null_alarms(&events, &ng, 0.85, &[7.0, 100.0]);
        // Hours 24..59 watched (the first day is left out).
        assert_eq!(a.hours, 35);
        assert_eq!(a.single, [1, 0]);
        assert_eq!(a.single, a.pooled, "one country: the sum is the country");
        assert!((3..=8).contains(&a.single_hours[0]), "{a:?}");
        // Steady traffic alone never alarms.
        let steady: Vec<SimEvent> = events
            .iter()
            .filter(|e| !(30 * 60..36 * 60 + 30).contains(&(e.ts.millis() / 60_000)))
            .cloned()
            .collect();
        assert_eq!(null_alarms(&steady, &ng, 0.85, &[7.0]).single, [0]);
    }

    #[test]
    fn a_lighter_campaign_and_a_higher_threshold_lose_more_before_the_evidence() {
        let prices = Prices::embedded().expect("prices");
        let ng = prices.price(Region::parse("NG"));
        let heavy = floor(&run(48, 24, 20), &prices, &[1.0, 7.0]);
        let light = floor(&run(48, 24, 4), &prices, &[1.0, 7.0]);
        assert!((heavy.cost - 24.0 * 20.0 * ng).abs() < 1e-6);
        // Doubling an hour's new numbers with sends that never convert is
        // about 12.5 nats in the first hour: one hour's cost lost at either
        // threshold.
        assert!((heavy.per_country[0] - 20.0 * ng).abs() < 1e-6, "{heavy:?}");
        assert!((heavy.per_country[1] - 20.0 * ng).abs() < 1e-6, "{heavy:?}");
        // A fifth more, about 0.9 nats an hour: 1 nat takes two hours and
        // 7 nats eight.
        assert!(
            (light.per_country[0] - 2.0 * 4.0 * ng).abs() < 1e-6,
            "{light:?}"
        );
        assert!(
            (light.per_country[1] - 8.0 * 4.0 * ng).abs() < 1e-6,
            "{light:?}"
        );
        // One country: pooling changes nothing.
        assert_eq!(light.per_country, light.pooled);
        // No campaign, nothing to lose.
        let none = floor(&run(48, 48, 20), &prices, &[7.0]);
        assert_eq!((none.cost, none.per_country[0]), (0.0, 0.0));
    }
}
