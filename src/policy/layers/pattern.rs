//! The pattern layer: the shapes enumeration leaves behind. Sequential
//! numbers inside one range (a bot walking `…100, …101, …102`), and many
//! distinct numbers in one range within the hour. (One number hammered is a
//! `velocity` rule on `number`.)

use serde::Deserialize;

use crate::clock::Timestamp;
use crate::policy::config::Span;
use crate::policy::counters::{Counters, Keys};
use crate::policy::{Reason, RejectClass, Scope, Subject};
use crate::state::{Entry, Key, Table};

/// `[pattern]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Numbers in a row, in one −4 range, each within `sequential_gap` of
    /// the previous one, that count as enumeration.
    pub sequential_min: u32,
    /// Largest step between two "sequential" numbers.
    pub sequential_gap: u32,
    pub sequential_weight: u32,
    /// Window for distinct-number counts (at most 2h).
    pub distinct_window: Span,
    /// Distinct numbers per −3 range (1,000 numbers) in the window.
    pub distinct_range3_max: u32,
    /// Distinct numbers per −4 range (10,000 numbers) in the window.
    pub distinct_range4_max: u32,
    pub distinct_weight: u32,
    /// Extra weight per distinct number beyond the maximum.
    pub distinct_weight_per_extra: u32,
    /// Share of the sends these patterns flag taken to be pumping, for
    /// the economic trade: real users do not walk a range.
    pub pumping: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sequential_min: 4,
            sequential_gap: 3,
            sequential_weight: 45,
            distinct_window: Span(3600),
            distinct_range3_max: 4,
            distinct_range4_max: 10,
            distinct_weight: 30,
            distinct_weight_per_extra: 5,
            pumping: 0.95,
        }
    }
}

#[derive(Debug)]
pub struct PatternLayer {
    cfg: ConfigValues,
}

#[derive(Debug, Clone, Copy)]
struct ConfigValues {
    seq_min: u32,
    seq_gap: u32,
    seq_weight: u32,
    buckets: u32,
    r3_max: u32,
    r4_max: u32,
    d_weight: u32,
    d_extra: u32,
    pumping: f64,
}

impl Config {
    pub fn build(&self) -> Result<PatternLayer, String> {
        let w = self.distinct_window.seconds();
        if !(300..=7200).contains(&w) {
            return Err("pattern.distinct_window must be between 5m and 2h".into());
        }
        Ok(PatternLayer {
            cfg: ConfigValues {
                seq_min: self.sequential_min.max(2),
                seq_gap: self.sequential_gap.max(1),
                seq_weight: self.sequential_weight,
                buckets: w.div_ceil(300),
                r3_max: self.distinct_range3_max,
                r4_max: self.distinct_range4_max,
                d_weight: self.distinct_weight,
                d_extra: self.distinct_weight_per_extra,
                pumping: super::share("pattern.pumping", self.pumping)?,
            },
        })
    }
}

impl PatternLayer {
    pub fn evaluate(
        &self,
        s: &Subject<'_>,
        keys: &Keys,
        counters: &Counters,
        out: &mut Vec<Reason>,
    ) {
        let c = &self.cfg;
        let (Some(n), Ok(class)) = (keys.number, s.number) else {
            return;
        };
        if let Some(r4) = keys.range4 {
            let streak =
                counters
                    .sequences
                    .streak_with(r4, class.number.digits(), c.seq_gap, s.now);
            if streak >= c.seq_min {
                out.push(Reason {
                    code: "pattern.sequential",
                    detail: crate::detail!(
                        "{streak} near-sequential numbers in a row in this range"
                    ),
                    weight: c.seq_weight,
                    class: RejectClass::Fraud,
                    scope: Scope::Local,
                    pumping: Some(c.pumping),
                });
            }
        }
        // This send adds a distinct number only if the number is new this hour.
        let new = u32::from(counters.numbers.sum(n, s.now, 6) == 0);
        for (key, max, code, name) in [
            (keys.range3, c.r3_max, "pattern.distinct_range3", "−3"),
            (keys.range4, c.r4_max, "pattern.distinct_range4", "−4"),
        ] {
            let Some(k) = key else { continue };
            let distinct = counters.distinct.sum(k, s.now, c.buckets) + new;
            if max > 0 && distinct > max {
                let extra = (distinct - max - 1).saturating_mul(c.d_extra);
                out.push(Reason {
                    code,
                    detail: crate::detail!("{distinct} distinct numbers in this {name} range within the window, over {max}"),
                    weight: c.d_weight.saturating_add(extra).min(100),
                    class: RejectClass::Fraud,
                    scope: Scope::Local,
                    pumping: Some(c.pumping),
                });
            }
        }
    }
}

/// Per-range memory of the last number seen and the current streak of
/// near-sequential numbers. Bounded like every counter family: a range
/// idle for longer than a streak lasts is dropped first, then the least
/// recently seen.
pub struct Sequences {
    table: Table<Seq>,
}

#[derive(Debug, Clone, Copy)]
struct Seq {
    last: u16,
    /// 0 until a number has been seen.
    streak: u32,
    /// Minute of the last observation.
    minute: u32,
}

impl Entry for Seq {
    fn new(tick: u32) -> Self {
        Seq {
            last: 0,
            streak: 0,
            minute: tick,
        }
    }
    fn head(&self) -> u32 {
        self.minute
    }
    fn expired(&self, tick: u32) -> bool {
        tick.saturating_sub(self.minute) > SEQ_IDLE_MINUTES
    }
}

/// A streak breaks after this many minutes without a send in the range.
const SEQ_IDLE_MINUTES: u32 = 30;

fn suffix(digits: &str) -> Option<u16> {
    digits.get(digits.len().checked_sub(4)?..)?.parse().ok()
}

fn minute(now: Timestamp) -> u32 {
    (now.millis() / 60_000).clamp(0, i64::from(u32::MAX)) as u32
}

impl Sequences {
    pub fn new(capacity: usize) -> Sequences {
        Sequences {
            table: Table::new(capacity),
        }
    }

    pub fn size(&self) -> crate::state::TableSize {
        self.table.size()
    }

    /// Starts loading the entry of `k` (see [`Table::prefetch`]).
    pub fn prefetch(&self, k: Key) {
        self.table.prefetch(k);
    }

    fn step(prev: Option<&Seq>, s: u16, gap: u32, minute: u32) -> u32 {
        match prev {
            Some(p) if p.streak > 0 && minute.saturating_sub(p.minute) <= SEQ_IDLE_MINUTES => {
                let d = u32::from(s.abs_diff(p.last));
                if d >= 1 && d <= gap {
                    p.streak + 1
                } else if d == 0 {
                    p.streak
                } else {
                    1
                }
            }
            _ => 1,
        }
    }

    /// The streak this number would make (read only).
    pub fn streak_with(&self, k: Key, digits: &str, gap: u32, now: Timestamp) -> u32 {
        let Some(s) = suffix(digits) else { return 0 };
        let minute = minute(now);
        self.table
            .read(k, |p| Self::step(Some(p), s, gap, minute))
            .unwrap_or_else(|| Self::step(None, s, gap, minute))
    }

    /// Records a number seen in the range. The gap used for recording is the
    /// widest a policy may reasonably use; reads apply the policy's own.
    pub fn observe(&self, k: Key, digits: &str, now: Timestamp) {
        let Some(s) = suffix(digits) else { return };
        let minute = minute(now);
        self.table.update(k, minute, |p| {
            let streak = Self::step(Some(p), s, 3, minute);
            *p = Seq {
                last: s,
                streak,
                minute,
            };
        });
    }
}
