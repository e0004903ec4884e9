//! What a backtest found, in numbers: sends, stopped (blocked or held), by
//! action, reason, country and ground-truth label, and the money the
//! stopped sends would have cost. Also the per-minute timeline and score
//! histogram the HTML report draws.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::event::Event;
use crate::clock::Timestamp;
use crate::number::{Classification, ParseError, Region};
use crate::policy::Prices;
use crate::policy::{Action, Decision};

/// Counts for one slice of the sends (a country, a label).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Row {
    pub sends: u64,
    pub allowed: u64,
    pub held: u64,
    pub blocked: u64,
    pub cost: f64,
    pub cost_stopped: f64,
}

impl Row {
    fn add(&mut self, action: Action, cost: f64) {
        self.sends += 1;
        self.cost += cost;
        match action {
            Action::Allow => self.allowed += 1,
            Action::Hold => self.held += 1,
            Action::Block => self.blocked += 1,
        }
        if action != Action::Allow {
            self.cost_stopped += cost;
        }
    }

    pub fn stopped(&self) -> u64 {
        self.held + self.blocked
    }

    pub fn stopped_pct(&self) -> f64 {
        pct(self.stopped() as f64, self.sends as f64)
    }

    pub fn cost_stopped_pct(&self) -> f64 {
        pct(self.cost_stopped, self.cost)
    }
}

pub fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

/// Input bookkeeping shown with the summary.
#[derive(Clone, Debug, Default)]
pub struct InputStats {
    pub format: String,
    pub events: u64,
    pub conversions: u64,
    pub conversions_unparseable: u64,
    pub conversions_undelivered: u64,
    pub malformed: u64,
    pub ignored: u64,
    pub resorted: bool,
}

#[derive(Clone, Debug)]
pub struct Summary {
    pub currency: String,
    pub input: InputStats,
    pub total: Row,
    pub by_country: HashMap<Option<Region>, Row, ahash::RandomState>,
    pub by_label: BTreeMap<String, Row>,
    /// Stopped sends per reason code (a send counts once per reason).
    pub by_reason: HashMap<&'static str, u64, ahash::RandomState>,
    /// Per-minute [allowed, held, blocked].
    pub timeline: BTreeMap<i64, [u64; 3]>,
    /// Sends per score (0–100) and action.
    pub scores: Vec<[u64; 3]>,
    /// Sends whose price came from the record itself.
    pub own_price: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl Summary {
    pub fn new(currency: &str) -> Summary {
        Summary {
            currency: currency.to_string(),
            input: InputStats::default(),
            total: Row::default(),
            by_country: HashMap::default(),
            by_label: BTreeMap::new(),
            by_reason: HashMap::default(),
            timeline: BTreeMap::new(),
            scores: vec![[0; 3]; 101],
            own_price: 0,
            first: None,
            last: None,
        }
    }

    /// Adds one scored send.
    pub fn add(
        &mut self,
        e: &Event<'_>,
        number: Result<&Classification, &ParseError>,
        d: &Decision,
        prices: &Prices,
    ) {
        let region = number.ok().and_then(|c| c.region);
        let cost = match e.price {
            Some(p) => {
                self.own_price += 1;
                p
            }
            None => prices.price(region),
        };
        self.total.add(d.action, cost);
        self.by_country
            .entry(region)
            .or_default()
            .add(d.action, cost);
        if let Some(label) = &e.label {
            match self.by_label.get_mut(label.as_ref()) {
                Some(r) => r.add(d.action, cost),
                None => {
                    let mut r = Row::default();
                    r.add(d.action, cost);
                    self.by_label.insert(label.to_string(), r);
                }
            }
        }
        let ai = d.action as usize;
        if d.action != Action::Allow {
            for r in &d.reasons {
                *self.by_reason.entry(r.code).or_default() += 1;
            }
        }
        self.timeline
            .entry(e.ts.millis().div_euclid(60_000))
            .or_default()[ai] += 1;
        self.scores[d.score.min(100) as usize][ai] += 1;
        self.first = Some(self.first.map_or(e.ts, |f| f.min(e.ts)));
        self.last = Some(self.last.map_or(e.ts, |l| l.max(e.ts)));
    }

    /// Ground truth split into organic and attack, when labels were present.
    pub fn truth(&self) -> Option<(Row, Row)> {
        if self.by_label.is_empty() {
            return None;
        }
        let mut organic = Row::default();
        let mut attack = Row::default();
        for (label, r) in &self.by_label {
            let dst = if label.starts_with("attack") {
                &mut attack
            } else {
                &mut organic
            };
            dst.sends += r.sends;
            dst.allowed += r.allowed;
            dst.held += r.held;
            dst.blocked += r.blocked;
            dst.cost += r.cost;
            dst.cost_stopped += r.cost_stopped;
        }
        Some((organic, attack))
    }

    /// Countries sorted by cost avoided, then sends.
    pub fn countries(&self) -> Vec<(String, Row)> {
        let mut v: Vec<(String, Row)> = self
            .by_country
            .iter()
            .map(|(r, row)| (country_name(*r), *row))
            .collect();
        v.sort_by(|a, b| {
            b.1.cost_stopped
                .total_cmp(&a.1.cost_stopped)
                .then(b.1.stopped().cmp(&a.1.stopped()))
                .then(b.1.sends.cmp(&a.1.sends))
                .then(a.0.cmp(&b.0))
        });
        v
    }

    pub fn reasons(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<(&'static str, u64)> =
            self.by_reason.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// The plain-text summary printed on stdout.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let t = &self.total;
        let i = &self.input;
        let _ = writeln!(
            s,
            "input       {} events ({} format): {} sends, {} conversions{}",
            i.events,
            i.format,
            t.sends,
            i.conversions,
            if i.resorted { "; re-sorted by ts" } else { "" }
        );
        if i.malformed + i.ignored + i.conversions_unparseable > 0 {
            let _ = writeln!(
                s,
                "            {} malformed records skipped, {} other records ignored, {} conversions to non-numbers",
                i.malformed, i.ignored, i.conversions_unparseable
            );
        }
        if i.conversions_undelivered > 0 {
            let _ = writeln!(
                s,
                "            {} conversions not replayed: the send before each was stopped, so its code was never delivered",
                i.conversions_undelivered
            );
        }
        if let (Some(a), Some(b)) = (self.first, self.last) {
            let _ = writeln!(s, "period      {} .. {}", a.to_rfc3339(), b.to_rfc3339());
        }
        let _ = writeln!(s, "sends       {}", t.sends);
        let _ = writeln!(
            s,
            "stopped     {} ({:.2}%): block {}, hold {}; allowed {}",
            t.stopped(),
            t.stopped_pct(),
            t.blocked,
            t.held,
            t.allowed
        );
        let _ = writeln!(
            s,
            "cost        {} {:.2} in total, {:.2} avoided ({:.1}%){}",
            self.currency,
            t.cost,
            t.cost_stopped,
            t.cost_stopped_pct(),
            if self.own_price > 0 {
                format!("; {} sends priced from the record itself", self.own_price)
            } else {
                String::new()
            }
        );
        if let Some((organic, attack)) = self.truth() {
            let _ = writeln!(s, "\nground truth (labels)");
            let _ = writeln!(
                s,
                "  attack cost stopped  {:.2}% ({:.2} of {:.2}), attack sends stopped {:.2}% of {}",
                attack.cost_stopped_pct(),
                attack.cost_stopped,
                attack.cost,
                attack.stopped_pct(),
                attack.sends
            );
            let _ = writeln!(
                s,
                "  organic stopped      {:.3}% ({} of {})",
                organic.stopped_pct(),
                organic.stopped(),
                organic.sends
            );
            let _ = writeln!(
                s,
                "  {:<28} {:>9} {:>9} {:>8}",
                "label", "sends", "stopped", "%"
            );
            for (label, r) in &self.by_label {
                let _ = writeln!(
                    s,
                    "  {:<28} {:>9} {:>9} {:>7.2}%",
                    label,
                    r.sends,
                    r.stopped(),
                    r.stopped_pct()
                );
            }
        }
        let _ = writeln!(s, "\nby action");
        for (name, n) in [("allow", t.allowed), ("hold", t.held), ("block", t.blocked)] {
            let _ = writeln!(
                s,
                "  {:<8} {:>9} {:>7.2}%",
                name,
                n,
                pct(n as f64, t.sends as f64)
            );
        }
        let reasons = self.reasons();
        let _ = writeln!(s, "\nby reason (stopped sends)");
        if reasons.is_empty() {
            let _ = writeln!(s, "  (none)");
        }
        for (code, n) in reasons {
            let _ = writeln!(s, "  {code:<32} {n:>9}");
        }
        let countries = self.countries();
        let _ = writeln!(
            s,
            "\nby country (top 25 by cost avoided; {} countries)",
            countries.len()
        );
        let _ = writeln!(
            s,
            "  {:<8} {:>9} {:>9} {:>8} {:>12}",
            "country", "sends", "stopped", "%", "avoided"
        );
        for (c, r) in countries.iter().take(25) {
            let _ = writeln!(
                s,
                "  {:<8} {:>9} {:>9} {:>7.2}% {:>12.2}",
                c,
                r.sends,
                r.stopped(),
                r.stopped_pct(),
                r.cost_stopped
            );
        }
        s
    }
}

pub fn country_name(r: Option<Region>) -> String {
    r.map(|r| r.to_string()).unwrap_or_else(|| "unknown".into())
}
