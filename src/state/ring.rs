//! A ring of `N` time buckets: counts over a sliding window with
//! bucket-width resolution, in `4 + 4N` bytes.

/// Counts per time bucket. `head` is the absolute index (time / width) of
/// the newest bucket; older buckets are reused as time moves on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring<const N: usize> {
    head: u32,
    counts: [u32; N],
}

impl<const N: usize> Ring<N> {
    pub fn new(bucket: u32) -> Ring<N> {
        Ring {
            head: bucket,
            counts: [0; N],
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
            self.counts = [0; N];
        } else {
            for i in 1..=gap {
                self.counts[(self.head as usize + i) % N] = 0;
            }
        }
        self.head = bucket;
    }

    pub fn add(&mut self, bucket: u32, n: u32) {
        self.advance(bucket);
        if self.head - bucket < N as u32 {
            let slot = &mut self.counts[bucket as usize % N];
            *slot = slot.saturating_add(n);
        }
    }

    /// Sum of the buckets `now - back + 1 ..= now` (the last `back` buckets,
    /// the current one included).
    pub fn sum(&self, now: u32, back: u32) -> u32 {
        self.sum_between(now, back, 0)
    }

    /// Sum of buckets from `back` buckets ago up to `skip` buckets ago
    /// (exclusive): `skip = 1` leaves the current bucket out.
    pub fn sum_between(&self, now: u32, back: u32, skip: u32) -> u32 {
        let back = back.min(N as u32);
        let mut total = 0u32;
        for age in skip..back {
            let Some(b) = now.checked_sub(age) else { break };
            if b > self.head || self.head - b >= N as u32 {
                continue;
            }
            total = total.saturating_add(self.counts[b as usize % N]);
        }
        total
    }
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

    #[test]
    fn late_events_land_in_their_bucket_or_nowhere() {
        let mut r: Ring<4> = Ring::new(10);
        r.add(12, 1);
        r.add(11, 1);
        r.add(5, 1); // too old: dropped
        assert_eq!(r.sum(12, 4), 2);
    }
}
