//! One counter family of single rings: a [`Table`] of [`Ring`]s of `N`
//! buckets of a given width.

use super::ring::Count;
use super::table::{Entry, Table};
use super::{Key, Ring};
use crate::clock::Timestamp;

impl<const N: usize, C: Count> Entry for Ring<N, C> {
    fn new(tick: u32) -> Self {
        Ring::new(tick)
    }
    fn head(&self) -> u32 {
        Ring::head(self)
    }
    fn expired(&self, tick: u32) -> bool {
        tick.saturating_sub(Ring::head(self)) >= N as u32
    }
}

/// One counter family: rings of `N` buckets of `width_s` seconds, counts
/// of type `C` (see [`Count`]), at most `capacity` keys.
pub struct Windows<const N: usize, C: Count = u32> {
    /// `width_s` in milliseconds: the bucket of a time is one division
    /// (floor(floor(ms / 1000) / w) = floor(ms / (1000 w))), taken on
    /// every read and write.
    width_ms: i64,
    table: Table<Ring<N, C>>,
}

impl<const N: usize, C: Count> Windows<N, C> {
    pub fn new(width_s: u32, capacity: usize) -> Windows<N, C> {
        Windows {
            width_ms: i64::from(width_s.max(1)) * 1000,
            table: Table::new(capacity),
        }
    }

    fn bucket(&self, now: Timestamp) -> u32 {
        bucket(now, self.width_ms)
    }

    /// Starts loading the entry of `key` (see [`Table::prefetch`]).
    pub fn prefetch(&self, key: Key) {
        self.table.prefetch(key);
    }

    /// Adds `n` at `now` and returns the window sum over `back` buckets
    /// *before* the addition.
    pub fn add(&self, key: Key, now: Timestamp, n: u32, back: u32) -> u32 {
        let bucket = self.bucket(now);
        self.table.update(key, bucket, |ring| {
            let before = ring.sum(bucket, back);
            ring.add(bucket, n);
            before
        })
    }

    /// Adds `n` at `now` (a write that does not need the sum before it).
    pub fn bump(&self, key: Key, now: Timestamp, n: u32) {
        let bucket = self.bucket(now);
        self.table.update(key, bucket, |ring| ring.add(bucket, n));
    }

    /// The sum over the last `back` buckets (current included).
    pub fn sum(&self, key: Key, now: Timestamp, back: u32) -> u32 {
        self.sum_between(key, now, back, 0)
    }

    /// The sum from `back` buckets ago to `skip` buckets ago (exclusive).
    pub fn sum_between(&self, key: Key, now: Timestamp, back: u32, skip: u32) -> u32 {
        let bucket = self.bucket(now);
        self.table
            .read(key, |r| r.sum_between(bucket, back, skip))
            .unwrap_or(0)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn size(&self) -> super::TableSize {
        self.table.size()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// The bucket of `now` for buckets `width_ms` wide, clamped to `u32`.
pub(super) fn bucket(now: Timestamp, width_ms: i64) -> u32 {
    now.millis()
        .div_euclid(width_ms)
        .clamp(0, i64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{KeyHasher, Kind};

    #[test]
    fn counts_per_key_over_the_window() {
        let w: Windows<6> = Windows::new(600, 1000);
        let h = KeyHasher::seeded(1);
        let k = h.key(Kind::Number, "2348031234567");
        let t0 = Timestamp(1_000_000_000_000);
        assert_eq!(w.add(k, t0, 1, 6), 0);
        assert_eq!(w.add(k, t0.plus_seconds(60), 1, 6), 1);
        assert_eq!(w.sum(k, t0.plus_seconds(120), 6), 2);
        assert_eq!(w.sum(k, t0.plus_seconds(3 * 3600), 6), 0);
        assert_eq!(w.sum(h.key(Kind::Number, "other"), t0, 6), 0);
        w.bump(k, t0.plus_seconds(180), 3);
        assert_eq!(w.sum(k, t0.plus_seconds(180), 6), 5);
        assert_eq!(w.add(k, t0.plus_seconds(240), 1, 6), 5);
    }

    #[test]
    fn buckets_are_whole_seconds_over_the_width() {
        let w: Windows<6> = Windows::new(300, 1000);
        for ms in [
            0i64,
            999,
            1000,
            299_999,
            300_000,
            300_999,
            1_790_000_123_456,
            -1,
            -1000,
            -300_001,
        ] {
            let expected = (ms.div_euclid(1000) / 300).clamp(0, i64::from(u32::MAX)) as u32;
            assert_eq!(w.bucket(Timestamp(ms)), expected, "{ms} ms");
        }
    }

    #[test]
    fn stays_bounded_under_a_spray_of_keys() {
        let w: Windows<6> = Windows::new(600, 64 * 100);
        let h = KeyHasher::seeded(2);
        let t0 = Timestamp(1_000_000_000_000);
        for i in 0..200_000u64 {
            w.add(
                h.key(Kind::Number, &i.to_string()),
                t0.plus_seconds((i / 1000) as i64),
                1,
                6,
            );
        }
        let keys = w.len();
        assert!(keys <= 64 * 100, "{keys} keys");
        // the most recent keys survive
        assert_eq!(
            w.sum(h.key(Kind::Number, "199999"), t0.plus_seconds(200), 6),
            1
        );
    }
}
