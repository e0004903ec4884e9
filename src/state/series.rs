//! A key's counts at two resolutions in one entry: the last 2 h in
//! 5-minute buckets and the last 24 h in hourly ones.
//!
//! Every send updates both rings of its keys, and the conversion layer
//! reads both, so they sit side by side: one probe and adjacent cache
//! lines instead of two maps (the backtest is bound by these misses).

use super::ring::Count;
use super::table::{Entry, Table};
use super::windows::bucket;
use super::{Key, Ring};
use crate::clock::Timestamp;

/// Width of the short buckets, in seconds.
pub const SHORT_BUCKET_S: u32 = 300;
/// Width of the long buckets, in seconds.
pub const LONG_BUCKET_S: u32 = 3600;
/// Short buckets per long one.
const PER_LONG: u32 = LONG_BUCKET_S / SHORT_BUCKET_S;
/// Buckets of each ring.
const BUCKETS: usize = 24;

/// 24 × 5 min and 24 × 1 h. Ticks are short buckets; the long bucket of a
/// tick is `tick / 12`, so both heads always describe the same time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Series<C: Count = u32> {
    short: Ring<BUCKETS, C>,
    long: Ring<BUCKETS, C>,
}

impl<C: Count> Series<C> {
    /// The same counts in a `u32` series.
    pub fn widen(&self) -> Series {
        Series {
            short: self.short.widen(),
            long: self.long.widen(),
        }
    }

    fn add(&mut self, tick: u32, n: u32) {
        self.short.add(tick, n);
        self.long.add(tick / PER_LONG, n);
    }

    /// Short buckets from `back` ago to `skip` ago (exclusive), at `tick`.
    pub fn short(&self, tick: u32, back: u32, skip: u32) -> u32 {
        self.short.sum_between(tick, back, skip)
    }

    /// Hourly buckets from `back` ago to `skip` ago (exclusive), at `tick`.
    pub fn long(&self, tick: u32, back: u32, skip: u32) -> u32 {
        self.long.sum_between(tick / PER_LONG, back, skip)
    }
}

impl<C: Count> Entry for Series<C> {
    fn new(tick: u32) -> Self {
        Series {
            short: Ring::new(tick),
            long: Ring::new(tick / PER_LONG),
        }
    }
    fn head(&self) -> u32 {
        self.short.head()
    }
    fn expired(&self, tick: u32) -> bool {
        (tick / PER_LONG).saturating_sub(self.long.head()) >= BUCKETS as u32
    }
}

/// A family of [`Series`] with counts of type `C`, at most `capacity`
/// keys.
pub struct SeriesWindows<C: Count = u32> {
    table: Table<Series<C>>,
}

impl SeriesWindows {
    /// The tick (short bucket) of `now`.
    pub fn tick(now: Timestamp) -> u32 {
        bucket(now, i64::from(SHORT_BUCKET_S) * 1000)
    }
}

impl<C: Count> SeriesWindows<C> {
    pub fn new(capacity: usize) -> SeriesWindows<C> {
        SeriesWindows {
            table: Table::new(capacity),
        }
    }

    /// Starts loading the entry of `key` (see [`Table::prefetch`]).
    pub fn prefetch(&self, key: Key) {
        self.table.prefetch(key);
    }

    pub fn size(&self) -> super::TableSize {
        self.table.size()
    }

    /// Adds `n` at `now` in both resolutions.
    pub fn bump(&self, key: Key, now: Timestamp, n: u32) {
        let tick = SeriesWindows::tick(now);
        self.table.update(key, tick, |s| s.add(tick, n));
    }

    /// Runs `f` on the series of `key`, if there is one.
    pub fn read<R>(&self, key: Key, f: impl FnOnce(&Series<C>) -> R) -> Option<R> {
        self.table.read(key, f)
    }

    /// The last `back` short buckets (current included).
    pub fn short_sum(&self, key: Key, now: Timestamp, back: u32) -> u32 {
        let tick = SeriesWindows::tick(now);
        self.table
            .read(key, |s| s.short(tick, back, 0))
            .unwrap_or(0)
    }

    /// The last `back` hourly buckets (current included).
    pub fn long_sum(&self, key: Key, now: Timestamp, back: u32) -> u32 {
        let tick = SeriesWindows::tick(now);
        self.table.read(key, |s| s.long(tick, back, 0)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{KeyHasher, Kind};

    #[test]
    fn both_resolutions_count_the_same_sends() {
        let w: SeriesWindows = SeriesWindows::new(1000);
        let k = KeyHasher::seeded(3).key(Kind::Country, "NG");
        let t0 = Timestamp(1_790_000_000_000);
        for i in 0..30 {
            w.bump(k, t0.plus_seconds(i * 600), 2);
        }
        let now = t0.plus_seconds(29 * 600);
        // 2 h of 5-minute buckets hold the last 12 sends; 24 h all 30.
        assert_eq!(w.short_sum(k, now, 24), 24);
        assert_eq!(w.long_sum(k, now, 24), 60);
        let tick = SeriesWindows::tick(now);
        assert_eq!(w.read(k, |s| s.short(tick, 24, 1)), Some(22));
        assert_eq!(w.long_sum(k, now.plus_seconds(25 * 3600), 24), 0);
    }

    #[test]
    fn an_entry_expires_when_its_day_is_over() {
        let t0 = Timestamp(1_790_000_000_000);
        let tick = SeriesWindows::tick(t0);
        let s = <Series as Entry>::new(tick);
        let narrow = <Series<u16> as Entry>::new(tick);
        assert_eq!(narrow.widen(), s);
        assert!(!s.expired(tick + 23 * PER_LONG));
        assert!(s.expired(tick + 25 * PER_LONG));
    }
}
