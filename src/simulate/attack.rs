//! Pumping campaigns, one generator per attack shape described in the seed
//! articles: sequential range sweeps, range/carrier rotation, traffic shaped
//! to blend into served countries, low-and-slow pacing under per-range
//! thresholds, residential-proxy distribution, non-mobile numbers, and a
//! plain burst. Each campaign draws from its own seed stream, so adding or
//! changing one never perturbs another or the organic traffic.

use std::sync::Arc;

use super::countries::{SERVED_HIGH_COST, UNSERVED_HIGH_COST};
use super::event::{Label, SimEvent, SimKind};
use super::ip;
use super::organic::{Accounts, Organic};
use super::plans::{Block, Kind, Plans};
use super::rng::Rng;
use crate::clock::Timestamp;
use crate::number::Region;

const MINUTE: i64 = 60_000;

/// The shape of a campaign and its knobs.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// Sequential numbers through one range of an expensive country.
    RangeSweep { per_min: f64 },
    /// Random numbers in one range at a time, hopping range, carrier and
    /// country every `hop_min` minutes.
    RangeRotation {
        per_min: f64,
        hop_min: f64,
        countries: usize,
    },
    /// Fresh numbers spread over the ranges of served expensive countries,
    /// at `fraction` of each country's organic volume and on its diurnal
    /// curve, from residential IPs of the country.
    Blending { fraction: f64, countries: usize },
    /// A steady trickle spread over `ranges` ranges in `countries`
    /// countries, so that no range or number crosses a threshold.
    LowAndSlow {
        per_hour: f64,
        ranges: usize,
        countries: usize,
    },
    /// Every send from a different residential IP and device worldwide.
    Distributed { per_min: f64, ranges: usize },
    /// Premium-rate, fixed-line and VoIP numbers.
    NonMobile { per_min: f64 },
    /// Everything at once.
    Burst { sends: u32, minutes: f64 },
    /// Blending into `countries` small served countries at once (each at
    /// most 1.5% of the platform's sessions), at a share of each one's
    /// volume drawn per seed from `fraction` (low, high); a share of the
    /// pumped numbers drawn from `resend` is sent again a minute or two
    /// later, as a real user who did not get the code is. The campaign's
    /// conversion share is drawn per seed from `convert`, overriding the
    /// campaign's own.
    SmallBlend {
        fraction: (f64, f64),
        countries: usize,
        convert: (f64, f64),
        resend: (f64, f64),
    },
    /// Several campaigns in one run, as on a bad day.
    Overlap(Vec<Campaign>),
}

impl Shape {
    /// The scenario family, used in labels (`attack:<family>`).
    pub fn family(&self) -> &'static str {
        match self {
            Shape::RangeSweep { .. } => "range_sweep",
            Shape::RangeRotation { .. } => "range_rotation",
            Shape::Blending { .. } => "blending",
            Shape::LowAndSlow { .. } => "low_and_slow",
            Shape::Distributed { .. } => "distributed",
            Shape::NonMobile { .. } => "non_mobile",
            Shape::Burst { .. } => "burst",
            Shape::SmallBlend { .. } => "small_blend",
            Shape::Overlap(_) => "overlap",
        }
    }
}

/// One campaign of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Campaign {
    /// Variant name, unique within a catalogue (`range_sweep/fast`).
    pub variant: String,
    pub shape: Shape,
    /// Minutes after the run's start at which the campaign may begin; the
    /// actual start is jittered by up to `jitter_min` from the seed.
    pub start_min: i64,
    pub jitter_min: i64,
    pub hours: f64,
    /// Share of sends the attacker completes (pumpers sometimes verify a
    /// few to look organic).
    pub convert: f64,
}

impl Campaign {
    pub fn label(&self) -> Label {
        Label::Attack(self.shape.family().into())
    }
}

struct Emitter<'a> {
    out: &'a mut Vec<SimEvent>,
    label: Label,
    convert: f64,
    account: Arc<str>,
}

impl Emitter<'_> {
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        rng: &mut Rng,
        t: i64,
        to: String,
        region: Region,
        client_ip: String,
        device: String,
    ) {
        let to: Arc<str> = to.into();
        self.out.push(SimEvent {
            ts: Timestamp(t),
            kind: SimKind::Send,
            id: String::new(),
            to: to.clone(),
            account: Some(self.account.clone()),
            client_ip: Some(client_ip.into()),
            device: Some(device.into()),
            label: self.label.clone(),
            region,
        });
        if rng.chance(self.convert) {
            self.out.push(SimEvent {
                ts: Timestamp(t + rng.range(15_000, 90_000)),
                kind: SimKind::Conversion,
                id: String::new(),
                to,
                account: None,
                client_ip: None,
                device: None,
                label: Label::Organic,
                region,
            });
        }
    }
}

fn regions(codes: &[&str]) -> Vec<Region> {
    codes.iter().filter_map(|c| Region::parse(c)).collect()
}

/// Expensive targets: mostly unserved corridors, some served countries.
fn target(rng: &mut Rng, plans: &Plans) -> Option<(Region, Vec<Block>)> {
    let pool = if rng.chance(0.7) {
        regions(UNSERVED_HIGH_COST)
    } else {
        regions(SERVED_HIGH_COST)
    };
    let r = *rng.pick(&pool)?;
    let b = plans.blocks(r, Kind::Mobile).to_vec();
    if b.is_empty() {
        None
    } else {
        Some((r, b))
    }
}

/// Up to `countries` target countries, each once (a few draws per wanted
/// country, so a small plan set cannot loop forever).
fn distinct_targets(rng: &mut Rng, plans: &Plans, countries: usize) -> Vec<(Region, Vec<Block>)> {
    let mut targets: Vec<(Region, Vec<Block>)> = Vec::new();
    for _ in 0..countries.max(1) * 4 {
        if targets.len() >= countries {
            break;
        }
        if let Some(t) = target(rng, plans) {
            if !targets.iter().any(|(r, _)| *r == t.0) {
                targets.push(t);
            }
        }
    }
    targets
}

/// Arrival times of a Poisson process of `per_min` between `from` and `to`.
fn arrivals(rng: &mut Rng, from: i64, to: i64, per_min: f64) -> Vec<i64> {
    let mut out = Vec::new();
    if per_min <= 0.0 {
        return out;
    }
    let mean = MINUTE as f64 / per_min;
    let mut t = from as f64 + rng.exponential(mean);
    while (t as i64) < to {
        out.push(t as i64);
        t += rng.exponential(mean);
    }
    out
}

/// A uniform draw in `(low, high)`.
fn between(rng: &mut Rng, (lo, hi): (f64, f64)) -> f64 {
    lo + (hi - lo) * rng.f64()
}

/// Blended sends into the organic countries `chosen` from `from` to `to`,
/// at `fraction` of each one's volume, minute by minute on its own curve;
/// each pumped number is sent again with probability `resend`.
#[allow(clippy::too_many_arguments)]
fn blend(
    rng: &mut Rng,
    em: &mut Emitter<'_>,
    organic: &Organic,
    plans: &Plans,
    chosen: &[usize],
    fraction: f64,
    resend: f64,
    (from, to): (i64, i64),
) {
    let start_m = (from - organic.start.millis()) / MINUTE;
    let end_m = (to - organic.start.millis()) / MINUTE;
    for m in start_m..end_m {
        for &i in chosen {
            let k = rng.poisson(fraction * organic.base_rate(i, m));
            let region = organic.countries[i].1;
            let blocks = plans.blocks(region, Kind::Mobile);
            for _ in 0..k {
                let Some(b) = rng.pick(blocks) else { continue };
                let t = organic.start.millis() + m * MINUTE + rng.below(MINUTE as u64) as i64;
                let n = b.number(rng);
                let ip = ip::residential(region, rng);
                let dev = rng.hex(16);
                if resend > 0.0 && rng.chance(resend) {
                    let again = t + rng.range(40_000, 150_000);
                    em.send(rng, again, n.clone(), region, ip.clone(), dev.clone());
                }
                em.send(rng, t, n, region, ip, dev);
            }
        }
    }
}

/// Up to `n` distinct organic countries among `candidates`.
fn choose(rng: &mut Rng, candidates: &[usize], n: usize) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::new();
    for _ in 0..candidates.len() * 3 {
        if chosen.len() >= n {
            break;
        }
        if let Some(&i) = rng.pick(candidates) {
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
    }
    chosen
}

/// Generates one campaign's events (unordered).
pub fn generate(
    c: &Campaign,
    organic: &Organic,
    plans: &Plans,
    accounts: &Accounts,
    seed: u64,
) -> Vec<SimEvent> {
    let mut rng = Rng::stream(seed, &format!("attack:{}", c.variant));
    let mut out = Vec::new();
    let start_min = c.start_min + rng.range(0, c.jitter_min.max(0));
    let from = organic.start.millis() + start_min * MINUTE;
    let to = from + (c.hours * 60.0) as i64 * MINUTE;
    let mut em = Emitter {
        out: &mut out,
        label: c.label(),
        convert: c.convert,
        account: accounts.signup.clone(),
    };
    let served: Vec<Region> = organic.countries.iter().map(|(_, r)| *r).collect();
    let rng = &mut rng;
    match &c.shape {
        Shape::RangeSweep { per_min } => {
            let Some((region, blocks)) = target(rng, plans) else {
                return out;
            };
            let Some(block) = rng.pick(&blocks) else {
                return out;
            };
            let mut range = block.sub_range(rng, 4);
            let mut i = rng.below(range.size() / 2);
            let bots = rng.range(3, 20) as u64;
            let mean = MINUTE as f64 / per_min;
            let mut t = from as f64;
            while (t as i64) < to {
                if i >= range.size() {
                    range = block.sub_range(rng, 4);
                    i = 0;
                }
                let ip = ip::datacenter(rng, bots);
                let dev = rng.hex(16);
                em.send(rng, t as i64, range.nth(i), region, ip, dev);
                i += 1;
                t += mean * (0.4 + 1.2 * rng.f64());
            }
        }
        Shape::RangeRotation {
            per_min,
            hop_min,
            countries,
        } => {
            let targets = distinct_targets(rng, plans, *countries);
            if targets.is_empty() {
                return out;
            }
            let hop = (hop_min * MINUTE as f64) as i64;
            let mut current: Option<(Region, Block)> = None;
            let mut next_hop = from;
            for t in arrivals(rng, from, to, *per_min) {
                if t >= next_hop || current.is_none() {
                    let ti = rng.below(targets.len() as u64) as usize;
                    let (region, blocks) = &targets[ti];
                    // A different carrier than the current range's when the
                    // country has one.
                    let cur_carrier = current.as_ref().and_then(|(_, b)| b.carrier.clone());
                    let other: Vec<&Block> = blocks
                        .iter()
                        .filter(|b| b.carrier.is_none() || b.carrier != cur_carrier)
                        .collect();
                    let pick = if other.is_empty() {
                        rng.pick(blocks)
                    } else {
                        rng.pick(&other).copied()
                    };
                    if let Some(b) = pick {
                        current = Some((*region, b.sub_range(rng, 4)));
                    }
                    next_hop = t + hop;
                }
                if let Some((region, range)) = &current {
                    let n = range.number(rng);
                    let ip = ip::residential(*region, rng);
                    let dev = rng.hex(16);
                    em.send(rng, t, n, *region, ip, dev);
                }
            }
        }
        Shape::Blending {
            fraction,
            countries,
        } => {
            let candidates: Vec<usize> = (0..organic.countries.len())
                .filter(|&i| SERVED_HIGH_COST.contains(&organic.countries[i].0.code))
                .collect();
            let chosen = choose(rng, &candidates, *countries);
            blend(
                rng,
                &mut em,
                organic,
                plans,
                &chosen,
                *fraction,
                0.0,
                (from, to),
            );
        }
        Shape::SmallBlend {
            fraction,
            countries,
            convert,
            resend,
        } => {
            let candidates: Vec<usize> = (0..organic.countries.len())
                .filter(|&i| organic.countries[i].0.share <= 1.5)
                .collect();
            let chosen = choose(rng, &candidates, *countries);
            let fraction = between(rng, *fraction);
            let resend = between(rng, *resend);
            em.convert = between(rng, *convert);
            blend(
                rng,
                &mut em,
                organic,
                plans,
                &chosen,
                fraction,
                resend,
                (from, to),
            );
        }
        Shape::Overlap(parts) => {
            for part in parts {
                em.out
                    .extend(generate(part, organic, plans, accounts, seed));
            }
        }
        Shape::LowAndSlow {
            per_hour,
            ranges,
            countries,
        } => {
            let targets = distinct_targets(rng, plans, *countries);
            let mut set: Vec<(Region, Block)> = Vec::new();
            for k in 0..*ranges {
                let Some((region, blocks)) = targets.get(k % targets.len().max(1)) else {
                    break;
                };
                if let Some(b) = rng.pick(blocks) {
                    set.push((*region, b.sub_range(rng, 4)));
                }
            }
            if set.is_empty() {
                return out;
            }
            for t in arrivals(rng, from, to, per_hour / 60.0) {
                let Some((region, range)) = rng.pick(&set).cloned() else {
                    continue;
                };
                let via = *rng.pick(&served).unwrap_or(&region);
                let n = range.number(rng);
                let ip = ip::residential(via, rng);
                let dev = rng.hex(16);
                em.send(rng, t, n, region, ip, dev);
            }
        }
        Shape::Distributed { per_min, ranges } => {
            let Some((region, blocks)) = target(rng, plans) else {
                return out;
            };
            let set: Vec<Block> = (0..(*ranges).max(1))
                .filter_map(|_| rng.pick(&blocks).map(|b| b.sub_range(rng, 4)))
                .collect();
            for t in arrivals(rng, from, to, *per_min) {
                let Some(range) = rng.pick(&set).cloned() else {
                    continue;
                };
                let via = *rng.pick(&served).unwrap_or(&region);
                let n = range.number(rng);
                let ip = ip::residential(via, rng);
                let dev = rng.hex(16);
                em.send(rng, t, n, region, ip, dev);
            }
        }
        Shape::NonMobile { per_min } => {
            let mut pools: Vec<(Region, Block)> = Vec::new();
            for (kind, take) in [
                (Kind::PremiumRate, 4),
                (Kind::FixedLine, 3),
                (Kind::Voip, 3),
            ] {
                let mut rs = plans.regions_with(kind);
                for _ in 0..take {
                    if rs.is_empty() {
                        break;
                    }
                    let i = rng.below(rs.len() as u64) as usize;
                    let r = rs.swap_remove(i);
                    if let Some(b) = rng.pick(plans.blocks(r, kind)) {
                        pools.push((r, b.clone()));
                    }
                }
            }
            let bots = rng.range(5, 40) as u64;
            for t in arrivals(rng, from, to, *per_min) {
                let Some((region, block)) = rng.pick(&pools).cloned() else {
                    continue;
                };
                let n = block.number(rng);
                let ip = ip::datacenter(rng, bots);
                let dev = rng.hex(16);
                em.send(rng, t, n, region, ip, dev);
            }
        }
        Shape::Burst { sends, minutes } => {
            let Some((region, blocks)) = target(rng, plans) else {
                return out;
            };
            let set: Vec<Block> = (0..2).filter_map(|_| rng.pick(&blocks).cloned()).collect();
            let span = (minutes * MINUTE as f64) as i64;
            let bots = rng.range(10, 60) as u64;
            for _ in 0..*sends {
                let Some(b) = rng.pick(&set).cloned() else {
                    continue;
                };
                let t = from + rng.below(span.max(1) as u64) as i64;
                let n = b.number(rng);
                let ip = ip::datacenter(rng, bots);
                let dev = rng.hex(16);
                em.send(rng, t, n, region, ip, dev);
            }
        }
    }
    // Nothing after the end of the run.
    let end = organic.start.millis() + organic.days as i64 * 1440 * MINUTE;
    out.retain(|e| e.ts.millis() < end);
    out
}
