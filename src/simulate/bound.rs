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

use std::collections::{BTreeMap, HashMap, HashSet};
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
        add_into(&mut self.per_country, &o.per_country);
        add_into(&mut self.pooled, &o.pooled);
    }
}

/// Adds `b` to `a` element by element (`a` grows to `b`'s length).
fn add_into<T: Copy + Default + std::ops::AddAssign>(a: &mut Vec<T>, b: &[T]) {
    a.resize(a.len().max(b.len()), T::default());
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

/// Kullback–Leibler divergence of Bernoulli(`p`) from Bernoulli(`q`): the
/// expected evidence (nats) one send at rate `p` gives against rate `q`.
pub(super) fn kl(p: f64, q: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    let q = q.clamp(1e-6, 1.0 - 1e-6);
    p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln()
}

/// Sends to new numbers (not converted before) of one country in one hour,
/// and the conversions of the numbers sent to in that hour.
#[derive(Clone, Copy, Default)]
pub(super) struct Hour {
    pub(super) organic: u32,
    pub(super) organic_converted: u32,
    pub(super) attack: u32,
    pub(super) attack_converted: u32,
    pub(super) attack_cost: f64,
}

/// One run's new-number slice, per country and hour, read from its
/// (ordered) events: a number's first conversion is credited to the hour
/// of its last send, and later sends to it are a returning user's.
pub(super) fn new_number_hours(
    events: &[SimEvent],
    price: impl Fn(Region) -> f64,
) -> HashMap<Region, BTreeMap<i64, Hour>> {
    let mut trusted: HashSet<Arc<str>> = HashSet::new();
    // The country, hour and side of the last send to each number.
    let mut last: HashMap<Arc<str>, (Region, i64, bool)> = HashMap::new();
    let mut hours: HashMap<Region, BTreeMap<i64, Hour>> = HashMap::new();
    for e in events {
        if trusted.contains(&e.to) {
            continue;
        }
        match e.kind {
            SimKind::Send => {
                let attack = e.label.is_attack();
                let hour = e.ts.millis().div_euclid(HOUR_MS);
                last.insert(e.to.clone(), (e.region, hour, attack));
                let h = hours.entry(e.region).or_default().entry(hour).or_default();
                if attack {
                    h.attack += 1;
                    h.attack_cost += price(e.region);
                } else {
                    h.organic += 1;
                }
            }
            SimKind::Conversion => {
                trusted.insert(e.to.clone());
                if let Some((region, hour, attack)) = last.remove(&e.to) {
                    let h = hours.entry(region).or_default().entry(hour).or_default();
                    if attack {
                        h.attack_converted += 1;
                    } else {
                        h.organic_converted += 1;
                    }
                }
            }
        }
    }
    hours
}

/// A country's own new-number conversion rate over the run (organic
/// sends only), if it had any.
pub(super) fn own_rate(by_hour: &BTreeMap<i64, Hour>) -> Option<f64> {
    let (sends, converted) = by_hour.values().fold((0u64, 0u64), |(n, k), h| {
        (n + u64::from(h.organic), k + u64::from(h.organic_converted))
    });
    (sends > 0).then(|| converted as f64 / sends as f64)
}

/// The floors of one run (organic traffic and one campaign, ordered), at
/// each of `thresholds` (nats).
pub fn floor(events: &[SimEvent], prices: &Prices, thresholds: &[f64]) -> Floor {
    let hours = new_number_hours(events, |r| prices.price(Some(r)));
    let (attack_sends, attack_converted, cost) =
        hours
            .values()
            .flat_map(BTreeMap::values)
            .fold((0u64, 0u64, 0.0), |(n, k, c), h| {
                (
                    n + u64::from(h.attack),
                    k + u64::from(h.attack_converted),
                    c + h.attack_cost,
                )
            });
    let attack_rate = if attack_sends == 0 {
        0.0
    } else {
        attack_converted as f64 / attack_sends as f64
    };
    // Each attacked country's hours from the campaign's first send there:
    // (hour, evidence gathered in it, attack cost sent in it).
    let mut attacked: Vec<Vec<(i64, f64, f64)>> = Vec::new();
    for by_hour in hours.values() {
        let Some(first) = by_hour.iter().find(|(_, h)| h.attack > 0).map(|(t, _)| *t) else {
            continue;
        };
        let Some(own) = own_rate(by_hour) else {
            continue;
        };
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

/// How often one statistic crossed each threshold, and the hours it spent
/// at or above it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alarms {
    /// Per threshold: times the statistic rose to it.
    pub crossings: Vec<u64>,
    /// Per threshold: hours at or above it.
    pub hours_on: Vec<u64>,
}

impl Alarms {
    fn new(thresholds: usize) -> Alarms {
        Alarms {
            crossings: vec![0; thresholds],
            hours_on: vec![0; thresholds],
        }
    }

    /// One hour at `value`, after an hour at `before`.
    fn watch(&mut self, before: f64, value: f64, thresholds: &[f64]) {
        for (i, th) in thresholds.iter().enumerate() {
            if value >= *th {
                self.hours_on[i] += 1;
                if before < *th {
                    self.crossings[i] += 1;
                }
            }
        }
    }

    fn merge(&mut self, o: &Alarms) {
        add_into(&mut self.crossings, &o.crossings);
        add_into(&mut self.hours_on, &o.hours_on);
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
    /// The highest single country's CUSUM.
    pub single: Alarms,
    /// The sum over `countries`.
    pub pooled: Alarms,
    /// The sum's level added up over the hours watched (nats × hours).
    pub pooled_level: f64,
}

impl NullAlarms {
    pub fn merge(&mut self, o: &NullAlarms) {
        self.hours += o.hours;
        self.single.merge(&o.single);
        self.pooled.merge(&o.pooled);
        self.pooled_level += o.pooled_level;
    }

    /// The sum's mean level with no attack (nats).
    pub fn pooled_mean(&self) -> f64 {
        if self.hours == 0 {
            0.0
        } else {
            self.pooled_level / self.hours as f64
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
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return NullAlarms::default();
    };
    let first = first.ts.millis().div_euclid(HOUR_MS) + 24;
    let last = last.ts.millis().div_euclid(HOUR_MS);
    let hours = new_number_hours(events, |_| 0.0);
    let watched: Vec<(f64, &BTreeMap<i64, Hour>)> = hours
        .iter()
        .filter(|(region, _)| countries.contains(region))
        .filter_map(|(_, by)| own_rate(by).filter(|&p| p > 0.0).map(|p| (p, by)))
        .collect();
    let mut cusum = vec![0.0f64; watched.len()];
    let mut out = NullAlarms {
        single: Alarms::new(thresholds.len()),
        pooled: Alarms::new(thresholds.len()),
        ..NullAlarms::default()
    };
    // Nothing is on before the first hour.
    let (mut single_before, mut pooled_before) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for h in first..last {
        for ((p, by), s) in watched.iter().zip(cusum.iter_mut()) {
            let (n, k) = by
                .get(&h)
                .map_or((0, 0), |h| (h.organic, h.organic_converted));
            let q = (ratio * p).clamp(1e-6, 1.0 - 1e-6);
            let step = f64::from(k) * (q / p).ln()
                + f64::from(n - k.min(n)) * ((1.0 - q) / (1.0 - p)).ln();
            *s = (*s + step).max(0.0);
        }
        let single = cusum.iter().copied().fold(0.0, f64::max);
        let pooled: f64 = cusum.iter().sum();
        out.single.watch(single_before, single, thresholds);
        out.pooled.watch(pooled_before, pooled, thresholds);
        (single_before, pooled_before) = (single, pooled);
        out.pooled_level += pooled;
        out.hours += 1;
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
        assert_eq!(a.single.crossings, [1, 0]);
        assert_eq!(a.single, a.pooled, "one country: the sum is the country");
        assert!((3..=8).contains(&a.single.hours_on[0]), "{a:?}");
        // Steady traffic alone never alarms.
        let steady: Vec<SimEvent> = events
            .iter()
            .filter(|e| !(30 * 60..36 * 60 + 30).contains(&(e.ts.millis() / 60_000)))
            .cloned()
            .collect();
        assert_eq!(
            null_alarms(&steady, &ng, 0.85, &[7.0]).single.crossings,
            [0]
        );
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
