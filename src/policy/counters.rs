//! The counters the layers read, and how one send or conversion updates
//! them. Layers only read; [`Counters::record_send`] and
//! [`Counters::record_conversion`] are the only writers, called by the
//! engine after scoring, so a send never counts towards its own score twice.

use std::sync::Mutex;

use crate::clock::Timestamp;
use crate::number::{Classification, Region};
use crate::state::{Key, KeyHasher, Kind, Windows};

use super::layers::baseline::Baselines;
use super::layers::pattern::Sequences;
use super::SendFacts;

/// Per-number rings: 6 × 10 min.
pub type NumberWindows = Windows<6>;
/// Short rings: 24 × 5 min (2 h).
pub type ShortWindows = Windows<24>;
/// Long rings: 24 × 1 h.
pub type LongWindows = Windows<24>;

/// Every counter of the engine. Survives policy reloads.
pub struct Counters {
    pub hasher: KeyHasher,
    /// Sends per number.
    pub numbers: NumberWindows,
    /// Sends per range, carrier, country, account, client context.
    pub short: ShortWindows,
    pub long: LongWindows,
    /// Sends to a number not seen in the last hour, per range.
    pub distinct: ShortWindows,
    /// Conversions per number (trust), range, carrier, country.
    pub conversions: ShortWindows,
    pub trusted: Windows<2>,
    pub sequences: Sequences,
    pub baselines: Mutex<Baselines>,
}

/// The keys of one send, hashed once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys {
    pub number: Option<Key>,
    pub range3: Option<Key>,
    pub range4: Option<Key>,
    pub carrier: Option<Key>,
    pub country: Option<Key>,
    pub account: Option<Key>,
    pub client_ip: Option<Key>,
    pub device: Option<Key>,
    pub session: Option<Key>,
    pub region: Option<Region>,
}

impl Keys {
    pub fn get(&self, kind: Kind) -> Option<Key> {
        match kind {
            Kind::Number => self.number,
            Kind::Range3 => self.range3,
            Kind::Range4 => self.range4,
            Kind::Carrier => self.carrier,
            Kind::Country => self.country,
            Kind::Account => self.account,
            Kind::ClientIp => self.client_ip,
            Kind::Device => self.device,
            Kind::Session => self.session,
            Kind::Global => None,
        }
    }
}

/// Sizes of the families (keys), bounded by construction.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    pub numbers: usize,
    pub aggregates: usize,
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            numbers: 1 << 21,
            aggregates: 1 << 19,
        }
    }
}

impl Counters {
    pub fn new(hasher: KeyHasher, cap: Capacity) -> Counters {
        Counters {
            hasher,
            numbers: Windows::new(600, cap.numbers),
            short: Windows::new(300, cap.aggregates),
            long: Windows::new(3600, cap.aggregates),
            distinct: Windows::new(300, cap.aggregates),
            conversions: Windows::new(300, cap.aggregates),
            // Two 45-day buckets: "converted in the last 45 to 90 days".
            trusted: Windows::new(45 * 86_400, cap.numbers),
            sequences: Sequences::new(cap.aggregates),
            baselines: Mutex::new(Baselines::default()),
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
                .map(|n| h.key(Kind::Carrier, &format!("{}:{n}", c.calling_code)));
            k.country = c.region.map(|r| h.key(Kind::Country, r.as_str()));
            k.region = c.region;
        }
        k
    }

    /// Counts one send attempt (whatever its outcome).
    pub fn record_send(&self, keys: &Keys, number: Option<&Classification>, now: Timestamp) {
        let mut first_in_hour = false;
        if let Some(k) = keys.number {
            first_in_hour = self.numbers.add(k, now, 1, 6) == 0;
        }
        for k in [
            keys.range3,
            keys.range4,
            keys.carrier,
            keys.country,
            keys.account,
            keys.client_ip,
            keys.device,
            keys.session,
        ]
        .into_iter()
        .flatten()
        {
            self.short.add(k, now, 1, 1);
            self.long.add(k, now, 1, 1);
        }
        if first_in_hour {
            for k in [keys.range3, keys.range4].into_iter().flatten() {
                self.distinct.add(k, now, 1, 1);
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

    /// Counts one conversion.
    pub fn record_conversion(&self, keys: &Keys, now: Timestamp) {
        if let Some(k) = keys.number {
            self.trusted.add(k, now, 1, 1);
        }
        for k in [keys.range3, keys.range4, keys.carrier, keys.country]
            .into_iter()
            .flatten()
        {
            self.conversions.add(k, now, 1, 1);
        }
    }

    /// A number that converted in the last 45–90 days.
    pub fn is_trusted(&self, keys: &Keys, now: Timestamp) -> bool {
        keys.number.is_some_and(|k| self.trusted.sum(k, now, 2) > 0)
    }
}
