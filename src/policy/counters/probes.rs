//! Probe bookkeeping: which held destinations were sent a probe, and
//! whether the probe converted.

use super::Keys;
use crate::clock::Timestamp;
use crate::state::{Key, Windows};

/// Carriers, countries and line types with held sends counted for probes.
pub(super) const PROBED_KEYS: usize = 1 << 12;

/// Numbers remembered as probes (a probe is at most one held send in
/// `probe_every`).
const PROBED_NUMBERS: usize = 1 << 14;

/// Probe bookkeeping (see `[conversion] probe_every`): held sends per
/// carrier, country or line type, the numbers sent as probes, and which
/// destinations' probes converted, all over 24 hours.
pub struct Probes {
    /// Sends held for not converting, per destination (24 × 1 h).
    pub(super) held: Windows<24>,
    /// Numbers sent as probes in the last hour or two, so that their
    /// conversion is credited to the probed destinations.
    pub(super) sent: Windows<2>,
    /// Conversions of probes per destination (24 × 1 h).
    pub(super) answered: Windows<24>,
}

impl Probes {
    pub(super) fn new() -> Probes {
        Probes {
            held: Windows::new(3600, PROBED_KEYS),
            sent: Windows::new(3600, PROBED_NUMBERS),
            answered: Windows::new(3600, PROBED_KEYS),
        }
    }

    /// Counts one more send held for not converting under `destination`;
    /// returns how many there were in the last 24 hours, this one included.
    pub fn hold(&self, destination: Key, now: Timestamp) -> u64 {
        u64::from(self.held.add(destination, now, 1, 24)) + 1
    }

    /// Whether a probe to `destination` converted in the last 24 hours.
    pub fn answered(&self, destination: Key, now: Timestamp) -> bool {
        self.answered.sum(destination, now, 24) > 0
    }

    /// Remembers that `number` went out as a probe.
    pub fn sent(&self, number: Key, now: Timestamp) {
        self.sent.bump(number, now, 1);
    }

    /// A conversion: if its number went out as a probe, each of its
    /// destinations has had its answer.
    pub(super) fn converted(&self, keys: &Keys, now: Timestamp) {
        let Some(number) = keys.number else { return };
        if self.sent.sum(number, now, 2) == 0 {
            return;
        }
        for d in [keys.carrier, keys.country, keys.line_type]
            .into_iter()
            .flatten()
        {
            self.answered.bump(d, now, 1);
        }
    }
}
