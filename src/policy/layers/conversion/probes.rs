//! Probes: a destination held for not converting still lets one held
//! send in `probe_every` through, and backs off while nobody answers.

use super::ConversionLayer;
use crate::clock::Timestamp;
use crate::policy::counters::{Counters, Keys};
use crate::policy::{Reason, RejectClass, Scope};

/// Which held sends of a destination go out as probes (see
/// [`Config::probe_every`] and [`Config::probe_backoff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProbeSchedule {
    pub(super) every: u32,
    pub(super) backoff: u32,
}

impl ProbeSchedule {
    /// Doublings at most: one held send in 64 × `every`.
    const MAX_DOUBLINGS: u32 = 6;

    /// The interval in force if the `n`-th held send (1-based, within the
    /// window) is a probe; `None` if it is not. While earlier probes have
    /// `answered` (one of them converted), there is no backoff.
    pub(super) fn interval(&self, n: u64, answered: bool) -> Option<u64> {
        let every = u64::from(self.every);
        if every == 0 || n == 0 {
            return None;
        }
        if self.backoff == 0 || answered {
            return (n % every == 0).then_some(every);
        }
        // Stage s holds `backoff` probes spaced every·2^s apart; the last
        // stage runs on.
        let stage_len = |s: u32| (every * u64::from(self.backoff)) << s;
        let (mut stage, mut start) = (0, 0);
        while stage < Self::MAX_DOUBLINGS && n > start + stage_len(stage) {
            start += stage_len(stage);
            stage += 1;
        }
        let gap = every << stage;
        ((n - start) % gap == 0).then_some(gap)
    }
}

impl ConversionLayer {
    /// Whether a stopped send goes out as a probe (see
    /// [`Config::probe_every`]). Only when this layer's reasons are what
    /// stopped it: the rest of `reasons` weigh under `hold`. Every such
    /// held send, the probe included, counts towards the next probe.
    pub fn probe(
        &self,
        keys: &Keys,
        counters: &Counters,
        reasons: &[Reason],
        hold: u32,
        now: Timestamp,
    ) -> Option<Reason> {
        if self.probes.every == 0 {
            return None;
        }
        let ours = |r: &&Reason| r.code.starts_with("conversion.");
        let others: u32 = reasons.iter().filter(|r| !ours(r)).map(|r| r.weight).sum();
        if others >= hold {
            return None;
        }
        // The heaviest conversion reason names the destination held.
        let held = reasons.iter().filter(ours).max_by_key(|r| r.weight)?;
        let (key, what) = match held.code {
            "conversion.carrier" => (keys.carrier?, "carrier"),
            "conversion.line_type" => (keys.line_type?, "line type"),
            "conversion.country" | "conversion.country_deficit" | "conversion.country_drift" => {
                (keys.country?, "country")
            }
            _ => return None,
        };
        let held_sends = counters.probes.hold(key, now);
        let every = self
            .probes
            .interval(held_sends, counters.probes.answered(key, now))?;
        if let Some(number) = keys.number {
            counters.probes.sent(number, now);
        }
        Some(Reason {
            code: "conversion.probe",
            detail: crate::detail!(
                "sent as a probe: this {what} is held for not converting, and one held send in {every} goes out to see whether it converts again"
            ),
            weight: 0,
            class: RejectClass::Fraud,
            scope: Scope::Local,
            pumping: None,
        })
    }
}
