//! A seeded, deterministic traffic simulator: organic OTP traffic of a
//! global platform plus pumping campaigns, with ground-truth labels, in the
//! `events` format that `tollgate backtest` reads.
//!
//! Why it exists: detection quality can only be measured against traffic
//! whose truth is known, and tuned honestly only if the same measurement
//! can be rerun with other seeds and on variants nobody tuned on
//! ([`evaluate`], `tollgate detect`).
//!
//! - [`rng`]: the PRNG and named seed streams (same seed → same bytes).
//! - [`plans`]: valid number blocks per country and line type, derived from
//!   libphonenumber metadata at development time and embedded.
//! - [`countries`]: the organic mix, diurnal and weekly curves.
//! - [`organic`]: organic sessions, resends, conversions, surprises.
//! - [`attack`]: the campaign shapes; [`catalog`]: their named variants.
//! - [`event`]: the output events and their JSONL form.
//! - [`evaluate`]: runs scenarios × seeds through the engine and tabulates.
//! - [`bound`]: the floor on what any send-time detector misses of a
//!   blending campaign (`tollgate detect --floor`).

pub mod attack;
pub mod bound;
pub mod catalog;
pub mod countries;
pub mod evaluate;
pub mod event;
pub mod ip;
pub mod organic;
pub mod plans;
pub mod rng;
pub mod separable;
pub mod verdict;

use crate::clock::Timestamp;

pub use attack::{Campaign, Shape};
pub use event::{write_jsonl, Label, SimEvent, SimKind};
pub use organic::{Accounts, Organic};
pub use plans::Plans;

/// 2026-10-01T00:00:00Z, a Thursday: the default start of a run.
pub const DEFAULT_START: Timestamp = Timestamp(1_790_812_800_000);

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub start: Timestamp,
    pub days: u32,
    /// Organic verification sessions per day (sends are ~10% more: resends).
    pub daily_sessions: f64,
    /// Marketing push and new-market launch.
    pub surprises: bool,
    pub campaigns: Vec<Campaign>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            start: DEFAULT_START,
            days: 7,
            daily_sessions: 50_000.0,
            surprises: true,
            campaigns: catalog::defaults(5),
        }
    }
}

/// A generated run.
pub struct Simulation {
    pub organic: Organic,
    /// Ordered by time (a send before a conversion of the same millisecond);
    /// sends carry ids `s1`, `s2`, … in that order.
    pub events: Vec<SimEvent>,
}

/// Generates a whole run.
pub fn run(cfg: &Config, plans: &Plans) -> Simulation {
    let accounts = Accounts::new();
    let organic = Organic::new(
        cfg.seed,
        cfg.start,
        cfg.days,
        cfg.daily_sessions,
        cfg.surprises,
    );
    let mut events = organic::generate(&organic, plans, &accounts, cfg.seed);
    for c in &cfg.campaigns {
        events.extend(attack::generate(c, &organic, plans, &accounts, cfg.seed));
    }
    finish(&mut events);
    Simulation { organic, events }
}

/// Orders events and numbers the sends.
pub fn finish(events: &mut [SimEvent]) {
    events.sort_by_key(SimEvent::order_key);
    let mut n = 0u64;
    for e in events.iter_mut() {
        if e.kind == SimKind::Send {
            n += 1;
            e.id = format!("s{n}");
        }
    }
}
