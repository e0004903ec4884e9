//! The hard suite's verdict (`tollgate detect --suite hard`): what a user
//! would judge a policy by on a bad day. Per scenario, the attack cost
//! stopped against what is separable at all (the blending floor,
//! [`super::bound`]), organic sends stopped overall and in the worst
//! country on its worst day, and the net loss (attack cost let through
//! plus real users stopped at the policy's user value) against doing
//! nothing. [`curve`] adds the trade-off over a sweep of the user value.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::evaluate::{RunResult, Tally};
use crate::backtest::summary::pct;
use crate::number::Region;

/// The acceptance targets of the hard suite (held-out seeds).
pub const TARGET_ORGANIC: f64 = 0.3;
pub const TARGET_COUNTRY_DAY: f64 = 2.0;
pub const TARGET_SEPARABLE: f64 = 95.0;
pub const TARGET_NET_RATIO: f64 = 5.0;

/// Country-days with fewer organic sends are left out of the worst
/// country-day (a handful of sends makes any share meaningless).
pub const MIN_COUNTRY_DAY_SENDS: u64 = 100;

/// What a set of runs adds up to.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub runs: usize,
    pub attack: Tally,
    pub organic: Tally,
    pub inseparable: f64,
    pub net_loss: f64,
    /// Worst (country, day, organic stopped %) over the runs; every run's
    /// country-days are judged on their own.
    pub worst_day: Option<(Region, u32, f64)>,
}

impl Totals {
    pub fn of<'a>(runs: impl IntoIterator<Item = &'a RunResult>) -> Totals {
        let mut t = Totals::default();
        for r in runs {
            t.runs += 1;
            merge(&mut t.attack, &r.attack);
            merge(&mut t.organic, &r.organic);
            t.inseparable += r.inseparable;
            t.net_loss += r.net_loss();
            for ((c, d), tally) in &r.organic_by_country_day {
                if tally.sends < MIN_COUNTRY_DAY_SENDS {
                    continue;
                }
                let p = pct(tally.stopped as f64, tally.sends as f64);
                if t.worst_day.map_or(true, |(_, _, w)| p > w) {
                    t.worst_day = Some((*c, *d, p));
                }
            }
        }
        t
    }

    pub fn cost_stopped(&self) -> f64 {
        pct(self.attack.cost_stopped, self.attack.cost)
    }

    /// Attack cost stopped as a share of the separable cost.
    pub fn of_separable(&self) -> f64 {
        pct(
            self.attack.cost_stopped,
            self.attack.cost - self.inseparable,
        )
    }

    pub fn organic_stopped(&self) -> f64 {
        pct(self.organic.stopped as f64, self.organic.sends as f64)
    }

    /// Doing nothing loses the whole attack cost; how many times less this
    /// policy loses.
    pub fn net_ratio(&self) -> f64 {
        if self.net_loss <= 0.0 {
            f64::INFINITY
        } else {
            self.attack.cost / self.net_loss
        }
    }

    fn worst_text(&self) -> String {
        match self.worst_day {
            Some((c, d, p)) => format!("{c} day {d} {p:.2}%"),
            None => "–".into(),
        }
    }
}

fn merge(a: &mut Tally, b: &Tally) {
    a.sends += b.sends;
    a.stopped += b.stopped;
    a.cost += b.cost;
    a.cost_stopped += b.cost_stopped;
}

const HEADER: &str = "| scenario | runs | attack cost | cost stopped | separable | stopped of separable | organic stopped | worst country-day | net loss | × better than nothing |\n|---|---:|---:|---:|---:|---:|---:|---|---:|---:|";

fn row(out: &mut String, name: &str, t: &Totals) {
    let _ = writeln!(
        out,
        "| {name} | {} | ${:.2} | {:.1}% | ${:.2} | {:.1}% | {:.3}% | {} | ${:.2} | {:.1} |",
        t.runs,
        t.attack.cost,
        t.cost_stopped(),
        t.attack.cost - t.inseparable,
        t.of_separable(),
        t.organic_stopped(),
        t.worst_text(),
        t.net_loss,
        t.net_ratio()
    );
}

/// The per-scenario tables and the verdict on the held-out set.
pub fn markdown(runs: &[RunResult], tuning_seeds: &[u64], held_seeds: &[u64]) -> String {
    let mut out = String::new();
    let seeds = |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    for (held, title) in [
        (
            false,
            format!("Hard suite, tuning (seeds {})", seeds(tuning_seeds)),
        ),
        (
            true,
            format!(
                "Hard suite, held out (seeds {}; never tuned on)",
                seeds(held_seeds)
            ),
        ),
    ] {
        let set: Vec<&RunResult> = runs.iter().filter(|r| r.held_out == held).collect();
        if set.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title}\n\n{HEADER}");
        let mut by: BTreeMap<String, Vec<&RunResult>> = BTreeMap::new();
        for r in &set {
            let name = r.variant.clone().unwrap_or_else(|| "(organic only)".into());
            by.entry(name).or_default().push(r);
        }
        for (name, rs) in &by {
            row(&mut out, name, &Totals::of(rs.iter().copied()));
        }
        let total = Totals::of(set.iter().copied());
        row(&mut out, "**total**", &total);
        let _ = writeln!(out);
        if held {
            verdict(&mut out, &total);
        }
    }
    out
}

fn verdict(out: &mut String, t: &Totals) {
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let worst = t.worst_day.map_or(0.0, |w| w.2);
    let _ = writeln!(
        out,
        "**Held out**: organic sends stopped **{:.3}%** (≤{TARGET_ORGANIC}%: {}); worst country-day **{}** (≤{TARGET_COUNTRY_DAY}%: {}); attack cost stopped **{:.1}%** of the separable (≥{TARGET_SEPARABLE}%: {}); net loss **{:.1}×** below doing nothing (≥{TARGET_NET_RATIO}×: {}).\n",
        t.organic_stopped(),
        met(t.organic_stopped() <= TARGET_ORGANIC),
        t.worst_text(),
        met(worst <= TARGET_COUNTRY_DAY),
        t.of_separable(),
        met(t.of_separable() >= TARGET_SEPARABLE),
        t.net_ratio(),
        met(t.net_ratio() >= TARGET_NET_RATIO),
    );
}

/// The trade-off curve: one row per user value swept, over all runs of
/// each sweep point.
pub fn curve(points: &[(f64, Vec<RunResult>)]) -> String {
    let mut out = String::from(
        "### Trade-off (all runs of the plan at each user value)\n\n| user value | attack cost stopped | of separable | organic stopped | worst country-day | net loss | × better than nothing |\n|---:|---:|---:|---:|---|---:|---:|\n",
    );
    for (value, runs) in points {
        let t = Totals::of(runs);
        let _ = writeln!(
            out,
            "| ${value} | {:.1}% | {:.1}% | {:.3}% | {} | ${:.2} | {:.1} |",
            t.cost_stopped(),
            t.of_separable(),
            t.organic_stopped(),
            t.worst_text(),
            t.net_loss,
            t.net_ratio()
        );
    }
    out
}

/// Organic stopped per country over a set of runs (for tests).
pub fn by_country(runs: &[RunResult]) -> HashMap<Region, Tally> {
    let mut m: HashMap<Region, Tally> = HashMap::new();
    for r in runs {
        for (c, t) in &r.organic_by_country {
            merge(m.entry(*c).or_default(), t);
        }
    }
    m
}
