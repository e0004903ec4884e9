//! The counts one evaluation reads, each family of a key once.

use crate::clock::Timestamp;
use crate::policy::counters::{self, Counters};
use crate::state::{Key, Kind, Series, SeriesWindows};

/// The counts one evaluation has read, by key: rules, deficits and drifts
/// ask many windows of the same few keys (the country's most of all), and
/// each family of a key is read from the counters once, when first asked.
pub struct Histories<'a> {
    counters: &'a Counters,
    tick: u32,
    read: [Option<Read>; 8],
}

struct Read {
    key: Key,
    sends: Option<Series>,
    /// Not read until asked: most ranges stop at too few sends.
    conversions: Option<Option<Series>>,
}

impl<'a> Histories<'a> {
    pub fn new(counters: &'a Counters, now: Timestamp) -> Histories<'a> {
        Histories {
            counters,
            tick: SeriesWindows::tick(now),
            read: Default::default(),
        }
    }

    fn of(&mut self, kind: Kind, k: Key) -> &mut Read {
        let at = self
            .read
            .iter()
            .position(|slot| slot.as_ref().map_or(true, |r| r.key == k));
        // Past eight keys (no policy asks that many) the last slot is reused.
        let slot = &mut self.read[at.unwrap_or(7)];
        let unread = !matches!(slot, Some(r) if r.key == k);
        if unread {
            *slot = None;
        }
        let read = slot.get_or_insert(Read {
            key: k,
            sends: None,
            conversions: None,
        });
        if unread {
            // Copied once: a series is 200 bytes.
            read.sends = self.counters.sends_of(kind).series(k);
        }
        read
    }

    /// Sends to `k` (of `kind`) in the window, less those still in grace.
    pub fn matured_sends(&mut self, kind: Kind, k: Key, window_s: u32, grace_s: u32) -> u32 {
        let tick = self.tick;
        counters::matured_sends(self.of(kind, k).sends.as_ref(), tick, window_s, grace_s)
    }

    /// Conversions of `k` (of `kind`) in the window.
    pub fn conversions_within(&mut self, kind: Kind, k: Key, window_s: u32) -> u32 {
        let (tick, counters) = (self.tick, self.counters);
        let read = self.of(kind, k);
        if read.conversions.is_none() {
            let c = read.conversions.insert(None);
            counters.conversions.read(k, |s| *c = Some(*s));
        }
        let c = read.conversions.as_ref().and_then(Option::as_ref);
        counters::within(c, tick, window_s)
    }

    /// The confirmation a deficit or drift asks of its recent stretch:
    /// `(conversions, sends)` of `k` over `window_s` (sends older than
    /// `grace_s`) unless they converted at `rate` or better. A stretch in
    /// which nothing went out (the destination was held: a held send
    /// cannot convert) says nothing against it and confirms as `(0, 0)`;
    /// probes are what bring the news that lets a held country go.
    pub fn still_under(
        &mut self,
        kind: Kind,
        k: Key,
        window_s: u32,
        grace_s: u32,
        rate: f64,
    ) -> Option<(u32, u32)> {
        let sends = self.matured_sends(kind, k, window_s, grace_s);
        let conversions = self.conversions_within(kind, k, window_s);
        (sends == 0 || f64::from(conversions) < rate * f64::from(sends))
            .then_some((conversions, sends))
    }
}
