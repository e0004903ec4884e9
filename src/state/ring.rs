//! A ring of `N` time buckets: counts over a sliding window with
//! bucket-width resolution, in `4 + N × size_of::<C>()` bytes.

/// A bucket's count. `u32` by default; `u16` for a family whose counts a
/// bucket cannot exceed for a reason (a range's distinct numbers), or
/// where a count past 65,535 says no more than 65,535 does (a number's
/// sends): that halves the ring, and these are the tables that grow with
/// distinct numbers. Adds saturate, so a full bucket reads as its maximum,
/// never as a small count.
pub trait Count: Copy + Default + Eq + std::fmt::Debug {
    /// The largest count a bucket holds.
    const MAX: u32;
    fn get(self) -> u32;
    /// `self + n`, capped at [`Count::MAX`].
    fn plus(self, n: u32) -> Self;
}

impl Count for u32 {
    const MAX: u32 = u32::MAX;
    fn get(self) -> u32 {
        self
    }
    fn plus(self, n: u32) -> Self {
        self.saturating_add(n)
    }
}

impl Count for u16 {
    const MAX: u32 = u16::MAX as u32;
    fn get(self) -> u32 {
        u32::from(self)
    }
    fn plus(self, n: u32) -> Self {
        u16::try_from(u32::from(self).saturating_add(n)).unwrap_or(u16::MAX)
    }
}

/// Counts per time bucket. `head` is the absolute index (time / width) of
/// the newest bucket; older buckets are reused as time moves on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring<const N: usize, C: Count = u32> {
    head: u32,
    counts: [C; N],
}

impl<const N: usize, C: Count> Ring<N, C> {
    pub fn new(bucket: u32) -> Ring<N, C> {
        Ring {
            head: bucket,
            counts: [C::default(); N],
        }
    }

    /// The newest bucket index this ring has seen.
    pub fn head(&self) -> u32 {
        self.head
    }

    /// Moves the head to `bucket`, clearing buckets that fell out. Events
    /// older than the head (out-of-order input) land in their own bucket if
    /// it is still in the ring.
    fn advance(&mut self, bucket: u32) {
        if bucket <= self.head {
            return;
        }
        let gap = (bucket - self.head) as usize;
        if gap >= N {
            self.counts = [C::default(); N];
        } else {
            for i in 1..=gap {
                self.counts[(self.head as usize + i) % N] = C::default();
            }
        }
        self.head = bucket;
    }

    pub fn add(&mut self, bucket: u32, n: u32) {
        self.advance(bucket);
        if self.head - bucket < N as u32 {
            let slot = &mut self.counts[bucket as usize % N];
            *slot = slot.plus(n);
        }
    }

    /// Sum of the buckets `now - back + 1 ..= now` (the last `back` buckets,
    /// the current one included).
    pub fn sum(&self, now: u32, back: u32) -> u32 {
        self.sum_between(now, back, 0)
    }

    /// Sum of buckets from `back` buckets ago up to `skip` buckets ago
    /// (exclusive): `skip = 1` leaves the current bucket out.
    ///
    /// The buckets asked for and the buckets still in the ring are both
    /// contiguous, so their overlap is summed as at most two slices: this
    /// is the hottest read of the engine (every conversion rule reads it).
    pub fn sum_between(&self, now: u32, back: u32, skip: u32) -> u32 {
        let back = back.min(N as u32);
        if skip >= back || skip > now {
            return 0;
        }
        // Buckets `now - (back - 1) ..= now - skip`, none before bucket 0 …
        let newest = (now - skip).min(self.head);
        let oldest = now.saturating_sub(back - 1);
        // … and none the ring has already reused.
        let oldest = oldest.max(self.head.saturating_sub(N as u32 - 1));
        if oldest > newest {
            return 0;
        }
        let len = (newest - oldest) as usize + 1;
        let start = oldest as usize % N;
        let total: u64 = if start + len <= N {
            sum_u64(&self.counts[start..start + len])
        } else {
            sum_u64(&self.counts[start..]) + sum_u64(&self.counts[..start + len - N])
        };
        // Adding non-negative counts with saturation is the true sum capped.
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

impl<const N: usize, C: Count> Ring<N, C> {
    /// The same counts in a `u32` ring.
    pub fn widen(&self) -> Ring<N> {
        Ring {
            head: self.head,
            counts: self.counts.map(C::get),
        }
    }
}

fn sum_u64<C: Count>(counts: &[C]) -> u64 {
    counts.iter().map(|&c| u64::from(c.get())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slides_and_forgets() {
        let mut r: Ring<4> = Ring::new(10);
        r.add(10, 1);
        r.add(11, 2);
        r.add(13, 4);
        assert_eq!(r.sum(13, 4), 7);
        assert_eq!(r.sum(13, 2), 4);
        assert_eq!(r.sum_between(13, 4, 1), 3);
        r.add(14, 1); // bucket 10 falls out
        assert_eq!(r.sum(14, 4), 7);
        r.add(30, 1); // everything falls out
        assert_eq!(r.sum(30, 4), 1);
        // a window read later than the head sees only what is still inside
        assert_eq!(r.sum(32, 2), 0);
        assert_eq!(r.sum(32, 3), 1);
    }

    /// The definition `sum_between` is checked against: bucket by bucket.
    fn naive<const N: usize, C: Count>(r: &Ring<N, C>, now: u32, back: u32, skip: u32) -> u32 {
        let mut total = 0u32;
        for age in skip..back.min(N as u32) {
            let Some(b) = now.checked_sub(age) else { break };
            if b > r.head || r.head - b >= N as u32 {
                continue;
            }
            total = total.saturating_add(r.counts[b as usize % N].get());
        }
        total
    }

    #[test]
    fn sums_match_the_bucket_by_bucket_definition() {
        let mut r: Ring<5> = Ring::new(0);
        let mut seed = 7u32;
        for step in 0..2000u32 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let bucket = step / 3 + (seed >> 28) % 3;
            r.add(bucket.saturating_sub((seed >> 20) % 4), 1 + (seed >> 8) % 5);
            for now in bucket.saturating_sub(2)..bucket + 8 {
                for back in 0..8 {
                    for skip in 0..4 {
                        assert_eq!(
                            r.sum_between(now, back, skip),
                            naive(&r, now, back, skip),
                            "now {now} back {back} skip {skip} head {}",
                            r.head
                        );
                    }
                }
            }
        }
        let mut full: Ring<3> = Ring::new(2);
        full.add(2, u32::MAX);
        full.add(1, 5);
        assert_eq!(full.sum(2, 3), u32::MAX);
        assert_eq!(full.sum(0, 3), 0);
    }

    #[test]
    fn narrow_counts_saturate_and_sum_wide() {
        let mut r: Ring<3, u16> = Ring::new(0);
        r.add(0, 70_000);
        r.add(0, 1);
        assert_eq!(r.sum(0, 1), 65_535);
        r.add(1, 65_535);
        r.add(2, 65_535);
        assert_eq!(r.sum(2, 3), 3 * 65_535);
        assert_eq!(size_of::<Ring<24, u16>>(), 4 + 48);
        assert_eq!(size_of::<Ring<24>>(), 4 + 96);
        // the sliced sum agrees with the definition for narrow counts too
        let mut r: Ring<5, u16> = Ring::new(0);
        for step in 0..300u32 {
            r.add(step / 2, 1 + step % 7);
            for back in 0..7 {
                for skip in 0..3 {
                    assert_eq!(
                        r.sum_between(step / 2 + 1, back, skip),
                        naive(&r, step / 2 + 1, back, skip)
                    );
                }
            }
        }
    }

    #[test]
    fn late_events_land_in_their_bucket_or_nowhere() {
        let mut r: Ring<4> = Ring::new(10);
        r.add(12, 1);
        r.add(11, 1);
        r.add(5, 1); // too old: dropped
        assert_eq!(r.sum(12, 4), 2);
    }
}
