//! The counters the layers read, and how one send or conversion updates
//! them. Layers only read; [`Counters::record_send`] and
//! [`Counters::record_conversion`] are the only writers, called by the
//! engine after scoring, so a send never counts towards its own score twice.
//! The one exception is [`Probes`], whose held sends are counted where a
//! probe is chosen, in the decision itself.

use std::sync::Mutex;

use crate::clock::Timestamp;
use crate::number::{Classification, LineType};
use crate::state::{Count, KeyHasher, Kind, Series, SeriesWindows, TableSize, Windows};
use crate::state::{LONG_BUCKET_S, SHORT_BUCKET_S};

use super::layers::baseline::Baselines;
use super::layers::conversion::ConversionRates;
use super::layers::pattern::Sequences;
use super::SendFacts;

mod capacity;
mod keys;
mod probes;
mod sends;

pub use capacity::{Capacity, CapacityError};
use keys::carrier_key;
pub use keys::Keys;
pub use probes::Probes;
use probes::PROBED_KEYS;
pub use sends::SendsOf;

/// Every counter of the engine. Survives policy reloads.
pub struct Counters {
    pub hasher: KeyHasher,
    /// Sends per number: 6 × 10 min, each bucket counting to
    /// [`NUMBER_BUCKET_MAX`] (velocity rules on a number stay below it):
    /// this table and `trusted` grow with distinct numbers, and a narrow
    /// count takes 24 bytes a slot instead of 40.
    pub numbers: Windows<6, u16>,
    /// Sends per carrier, country and line type (messages that went out)
    /// and per account and client context (every attempt): 2 h in
    /// 5-minute buckets and 24 h in hourly ones. Read through
    /// [`Counters::sends_of`], which also finds the ranges'.
    sends: SeriesWindows,
    /// Sends per range3 and range4, as `sends` but 16-bit: a range holds
    /// at most 10,000 numbers, so more than 65,535 messages to one in an
    /// hour is a flood whatever the exact count, and ranges are the
    /// aggregate keys a spray over many numbers multiplies (112 bytes a
    /// slot instead of 208).
    range_sends: SeriesWindows<u16>,
    /// Sends to a number not seen in the last hour, per range (24 × 5 min).
    /// A range4 holds 10,000 numbers and each counts at most once in
    /// `numbers`' hour, so a 5-minute bucket stays below `u16::MAX`
    /// (unless a number is evicted and seen again, which saturates).
    pub distinct: Windows<24, u16>,
    /// Conversions per range, carrier, country, line type, at the same
    /// two resolutions: slow campaigns show only in the long one.
    pub conversions: SeriesWindows,
    /// Numbers that converted (trust): only "any" is read.
    pub trusted: Windows<2, u16>,
    /// Each country's learned conversion rate (bounded by the number of
    /// countries).
    pub rates: Mutex<ConversionRates>,
    pub sequences: Sequences,
    pub baselines: Mutex<Baselines>,
    pub probes: Probes,
    /// Real users the engine expects to have stopped per country, in
    /// thousandths, over 24 hourly buckets (the friction budget,
    /// [`super::economics`]).
    pub friction: Windows<24>,
}

/// The most sends one number's 10-minute bucket counts: a velocity rule
/// on a number must allow fewer.
pub const NUMBER_BUCKET_MAX: u32 = <u16 as Count>::MAX;

/// What of a send is counted. Every attempt counts for velocity (a refused
/// attempt is evidence too); only a message that went out counts towards
/// conversion rates and destination volumes, since only it could convert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Delivery {
    /// Scored and forwarded (or forwarded in shadow mode).
    #[default]
    Sent,
    /// Scored and held or refused: the attempt only.
    Stopped,
    /// A held send released later: the delivery of an attempt already
    /// counted.
    Released,
}

impl Counters {
    /// Every table's entries and bytes, by name (`/metrics`): the state
    /// that grows with distinct numbers, ranges and clients, each bounded.
    pub fn sizes(&self) -> [(&'static str, TableSize); 11] {
        [
            ("numbers", self.numbers.size()),
            ("sends", self.sends.size()),
            ("range_sends", self.range_sends.size()),
            ("distinct", self.distinct.size()),
            ("conversions", self.conversions.size()),
            ("trusted", self.trusted.size()),
            ("sequences", self.sequences.size()),
            ("friction", self.friction.size()),
            ("probes_held", self.probes.held.size()),
            ("probes_sent", self.probes.sent.size()),
            ("probes_answered", self.probes.answered.size()),
        ]
    }

    /// Bytes of every table when full: the memory the counters can reach.
    pub fn ceiling_bytes(&self) -> usize {
        self.sizes().iter().map(|(_, s)| s.max_bytes).sum()
    }

    pub fn new(hasher: KeyHasher, cap: Capacity) -> Counters {
        Counters {
            hasher,
            numbers: Windows::new(600, cap.numbers),
            sends: SeriesWindows::new(cap.aggregates),
            range_sends: SeriesWindows::new(cap.aggregates),
            distinct: Windows::new(SHORT_BUCKET_S, cap.aggregates),
            conversions: SeriesWindows::new(cap.aggregates),
            // Two 45-day buckets: "converted in the last 45 to 90 days".
            trusted: Windows::new(45 * 86_400, cap.numbers),
            sequences: Sequences::new(cap.aggregates),
            baselines: Mutex::new(Baselines::default()),
            rates: Mutex::new(ConversionRates::default()),
            probes: Probes::new(),
            friction: Windows::new(3600, PROBED_KEYS),
        }
    }

    /// The table counting the sends of keys of `kind`.
    pub fn sends_of(&self, kind: Kind) -> SendsOf<'_> {
        match kind {
            Kind::Range3 | Kind::Range4 => SendsOf::Ranges(&self.range_sends),
            _ => SendsOf::Others(&self.sends),
        }
    }

    pub fn keys(&self, send: &SendFacts<'_>, number: Option<&Classification>) -> Keys {
        let h = &self.hasher;
        let mut k = Keys {
            account: send.account.map(|a| h.key(Kind::Account, a)),
            client_ip: send.client_ip.map(|a| h.key(Kind::ClientIp, a)),
            device: send.device.map(|a| h.key(Kind::Device, a)),
            session: send.session.map(|a| h.key(Kind::Session, a)),
            ..Keys::default()
        };
        if let Some(c) = number {
            k.number = Some(h.key(Kind::Number, c.number.digits()));
            k.range3 = Some(h.key(Kind::Range3, c.number.range(3)));
            k.range4 = Some(h.key(Kind::Range4, c.number.range(4)));
            k.carrier = c
                .carrier
                .as_deref()
                .map(|n| carrier_key(h, c.calling_code, n));
            k.country = c.region.map(|r| h.key(Kind::Country, r.as_str()));
            k.fresh_country = c.region.map(|r| h.key(Kind::FreshCountry, r.as_str()));
            k.line_type = Some(h.key(Kind::LineType, c.line_type.as_str()));
            k.region = c.region;
        }
        k
    }

    /// Starts loading every entry a send with these keys reads and
    /// writes: most of them (its number, ranges and client) are not in
    /// cache, and prefetching them all at once overlaps the misses.
    pub fn prefetch_send(&self, keys: &Keys) {
        if let Some(k) = keys.number {
            self.numbers.prefetch(k);
            self.trusted.prefetch(k);
        }
        for (kind, k) in keys.number_aggregates_by_kind() {
            self.sends_of(kind).prefetch(k);
        }
        for k in keys.client_context().chain(keys.fresh_country) {
            self.sends.prefetch(k);
        }
        for k in [keys.range3, keys.range4].into_iter().flatten() {
            self.distinct.prefetch(k);
        }
        if let Some(k) = keys.range4 {
            self.sequences.prefetch(k);
        }
    }

    /// Starts loading every entry a conversion with these keys writes.
    pub fn prefetch_conversion(&self, keys: &Keys) {
        if let Some(k) = keys.number {
            self.trusted.prefetch(k);
        }
        for k in keys
            .number_aggregates()
            .into_iter()
            .chain([keys.fresh_country])
            .flatten()
        {
            self.conversions.prefetch(k);
        }
    }

    /// Counts one send: the attempt (whatever its outcome: a refused
    /// attempt is evidence too) and, when the message went out, its
    /// delivery (see [`Delivery`]); `trusted` is [`Counters::is_trusted`]
    /// for it, which scoring has already read.
    pub fn record_send(
        &self,
        keys: &Keys,
        number: Option<&Classification>,
        trusted: bool,
        now: Timestamp,
        delivery: Delivery,
    ) {
        if delivery != Delivery::Released {
            self.record_attempt(keys, number, now);
        }
        if delivery != Delivery::Stopped {
            self.record_delivery(keys, number, trusted, now);
        }
    }

    /// The attempt: the number's and the client's velocity, distinct and
    /// sequential numbers per range, the country's volume.
    fn record_attempt(&self, keys: &Keys, number: Option<&Classification>, now: Timestamp) {
        let mut first_in_hour = false;
        if let Some(k) = keys.number {
            first_in_hour = self.numbers.add(k, now, 1, 6) == 0;
        }
        for k in keys.client_context() {
            self.sends.bump(k, now, 1);
        }
        if first_in_hour {
            for k in [keys.range3, keys.range4].into_iter().flatten() {
                self.distinct.bump(k, now, 1);
            }
        }
        if let (Some(k), Some(c)) = (keys.range4, number) {
            self.sequences.observe(k, c.number.digits(), now);
        }
        if let Some(region) = keys.region {
            self.baselines
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(region, now);
        }
    }

    /// The delivery: a message that went out and could be converted, under
    /// the destination's aggregates and its country's learned rate. A held
    /// or refused send never reaches the phone, so it can never convert:
    /// counting it as an unconverted send would make every hold evidence
    /// for the next one, and a country held by mistake would stay held.
    fn record_delivery(
        &self,
        keys: &Keys,
        number: Option<&Classification>,
        trusted: bool,
        now: Timestamp,
    ) {
        // A send to a number that has not converted before also counts in
        // its country's "fresh" slice: valid mobile numbers only, so that
        // fixed-line or invalid destinations do not read as new numbers
        // that failed to convert.
        let fresh = !trusted
            && number.is_some_and(|c| {
                c.valid && matches!(c.line_type, LineType::Mobile | LineType::FixedLineOrMobile)
            });
        for (kind, k) in keys.number_aggregates_by_kind() {
            self.sends_of(kind).bump(k, now);
        }
        if let (true, Some(k)) = (fresh, keys.fresh_country) {
            self.sends.bump(k, now, 1);
        }
        if let Some(region) = keys.region {
            self.rates
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(region, fresh, now, 1, 0);
        }
    }

    /// Counts one conversion.
    pub fn record_conversion(&self, keys: &Keys, now: Timestamp) {
        // The first conversion of a number not trusted yet belongs to the
        // fresh slice, like the sends that led to it.
        let fresh = keys.number.is_some() && !self.is_trusted(keys, now);
        if let Some(k) = keys.number {
            self.trusted.bump(k, now, 1);
        }
        self.probes.converted(keys, now);
        for k in keys.number_aggregates().into_iter().flatten() {
            self.conversions.bump(k, now, 1);
        }
        if let (true, Some(k)) = (fresh, keys.fresh_country) {
            self.conversions.bump(k, now, 1);
        }
        if let Some(region) = keys.region {
            self.rates
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(region, fresh, now, 0, 1);
        }
    }

    /// A number that converted in the last 45–90 days.
    pub fn is_trusted(&self, keys: &Keys, now: Timestamp) -> bool {
        keys.number.is_some_and(|k| self.trusted.sum(k, now, 2) > 0)
    }
}

/// Sends in `series` within the last `window_s` seconds that are older
/// than `grace_s` (young sends have not had time to convert), at `tick`.
/// Windows up to 2 h read the 5-minute buckets; longer ones (up to 24 h)
/// the hourly buckets less the sends still in grace.
pub fn matured_sends(series: Option<&Series>, tick: u32, window_s: u32, grace_s: u32) -> u32 {
    let Some(s) = series else { return 0 };
    let skip = grace_s.div_ceil(SHORT_BUCKET_S);
    if window_s <= 7200 {
        s.short(tick, window_s.div_ceil(SHORT_BUCKET_S), skip)
    } else {
        let all = s.long(tick, window_s.div_ceil(LONG_BUCKET_S), 0);
        let young = if skip == 0 { 0 } else { s.short(tick, skip, 0) };
        all.saturating_sub(young)
    }
}

/// Counts in `series` within the last `window_s` seconds (up to 24 h), at
/// `tick`.
pub fn within(series: Option<&Series>, tick: u32, window_s: u32) -> u32 {
    let Some(s) = series else { return 0 };
    if window_s <= 7200 {
        s.short(tick, window_s.div_ceil(SHORT_BUCKET_S), 0)
    } else {
        s.long(tick, window_s.div_ceil(LONG_BUCKET_S), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::keys::NUMBER_AGGREGATE_KINDS;
    use super::*;
    use crate::state::Key;

    /// The README (and the Kubernetes memory limit sized from it) states
    /// the ceiling of the default tables: a change of capacity or of an
    /// entry's layout must update both.
    #[test]
    fn the_readme_states_the_tables_ceiling() {
        let c = Counters::new(KeyHasher::seeded(1), Capacity::default());
        let ceiling = c.ceiling_bytes();
        let readme = include_str!("../../../README.md");
        let stated = format!(
            "counter\ntables' ceiling is {} MB",
            (ceiling + 500_000) / 1_000_000
        );
        assert!(readme.contains(&stated), "README should say: {stated}");
        assert!(c
            .sizes()
            .iter()
            .all(|(_, s)| s.entries == 0 && s.bytes < s.max_bytes));
    }

    #[test]
    fn range_sends_are_counted_and_read_in_their_own_table() {
        let c = Counters::new(KeyHasher::seeded(5), Capacity::default());
        let keys = Keys {
            range3: Some(Key(11)),
            range4: Some(Key(12)),
            carrier: Some(Key(13)),
            country: Some(Key(14)),
            line_type: Some(Key(15)),
            ..Keys::default()
        };
        let now = Timestamp(1_790_000_000_000);
        for _ in 0..3 {
            c.record_send(&keys, None, false, now, Delivery::Sent);
        }
        let tick = SeriesWindows::tick(now);
        let kinds: Vec<Kind> = keys.number_aggregates_by_kind().map(|(k, _)| k).collect();
        assert_eq!(kinds, NUMBER_AGGREGATE_KINDS);
        for (kind, k) in keys.number_aggregates_by_kind() {
            let sends = c.sends_of(kind);
            assert_eq!(sends.short_sum(k, now, 1), 3, "{kind:?}");
            assert_eq!(sends.long_sum(k, now, 1), 3, "{kind:?}");
            assert_eq!(sends.series(k).map(|s| s.short(tick, 1, 0)), Some(3));
        }
        assert_eq!(c.range_sends.size().entries, 2);
        assert_eq!(c.sends.size().entries, 3);
    }
}
