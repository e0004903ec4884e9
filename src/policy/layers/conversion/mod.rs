//! The conversion layer: the strongest signal there is. A pumped number
//! never types its code in, so ranges, carriers, countries and line types
//! whose sends do not convert are suspect, and numbers that converted before
//! are trusted.
//!
//! Two kinds of rule:
//! - `rules`: an absolute floor. Fewer than `below` conversions per send
//!   over a window (5 minutes to 24 hours). With a short window they catch
//!   a range that stopped converting; with a 24 h window and a small
//!   `min_sends` they catch destinations the platform never converts in at
//!   all (a corridor it does not serve, VoIP numbers nobody verifies), and
//!   ranges visited a few times a day by a low-and-slow campaign.
//! - `deficits`: each country against its **own learned rate**. Campaigns
//!   shaped to blend into a served country (its volume share, its diurnal
//!   curve) leave no trace but one: the country converts less than it
//!   usually does. A deficit fires when the recent rate is both well under
//!   the learned one (`ratio`) and statistically so (`z` standard
//!   deviations), so a quiet hour in a small country does not.
//!
//! Conversions come from the feedback routes (Twilio VerificationCheck
//! `approved`, Vonage checks `completed`, …), the admin conversions endpoint,
//! and backtest `conversion` events.

//!
//! The layer's parts, one file each:
//! - [`config`]: the `[conversion]` section and what it compiles to;
//! - the rules (absolute floors per range, carrier, country, line type):
//!   this file;
//! - [`country`]: each country against its own learned rate (deficits,
//!   drift);
//! - [`probes`]: which held sends go out to see whether they convert;
//! - [`rates`]: the learned rates and the hour-by-hour evidence;
//! - [`histories`]: the counts one evaluation reads, each once.

mod config;
mod country;
mod histories;
mod probes;
mod rates;

pub use config::{Config, ConversionLayer, Cusum, Deficit, Drift, Rule, Slice};
pub use histories::Histories;
pub use rates::{ConversionRates, Evidence};

use crate::policy::counters::{Counters, Keys};
use crate::policy::layers::velocity::human;
use crate::policy::{Reason, RejectClass, Scope, Subject};

impl ConversionLayer {
    /// The share of a slice's sends that are pumping, from `conversions`
    /// of `sends` against the `expected` rate (see [`Config::prior_sends`]).
    pub fn pumping_share(&self, conversions: u32, sends: u32, expected: f64) -> f64 {
        let a = self.prior_sends;
        let rate = (f64::from(conversions) + a * expected) / (f64::from(sends) + a);
        (1.0 - rate / expected).clamp(0.0, 1.0)
    }

    pub fn evaluate(
        &self,
        s: &Subject<'_>,
        keys: &Keys,
        counters: &Counters,
        out: &mut Vec<Reason>,
    ) {
        let mut read = Histories::new(counters, s.now);
        // What the destination's sends are expected to convert at (its
        // country's learned rate for new numbers, once it has one), read
        // only when a rule fires.
        let mut learned: Option<Option<(f64, f64)>> = None;
        for r in &self.rules {
            let Some(k) = keys.get(r.kind) else { continue };
            let sends = read.matured_sends(r.kind, k, r.window, r.grace);
            if sends < r.min {
                continue;
            }
            let conversions = read.conversions_within(r.kind, k, r.window);
            let rate = f64::from(conversions) / f64::from(sends);
            if rate < r.below {
                let learned = *learned.get_or_insert_with(|| {
                    let region = keys.region?;
                    let rates = counters.rates.lock().unwrap_or_else(|p| p.into_inner());
                    rates
                        .learned(region, true)
                        .filter(|(p0, mass)| *mass >= self.learned_min && *p0 > 0.0)
                });
                let served = learned.is_some();
                let expected = learned.map_or(self.expected_rate, |(p0, _)| p0);
                let pumping = r
                    .pumping
                    .unwrap_or_else(|| self.pumping_share(conversions, sends, expected));
                // A country with real users is judged only with local
                // evidence; one the platform has no users in (no learned
                // rate) is a corridor, and its own rate is local evidence.
                let scope = if served { r.scope } else { Scope::Local };
                let (name, window, below) = (r.name, r.window, r.below);
                out.push(Reason {
                    code: r.code,
                    detail: crate::detail!(
                        "{conversions} of {sends} sends to this {name} in the last {} converted ({:.0}%, under {:.0}%)",
                        human(window),
                        rate * 100.0,
                        below * 100.0
                    ),
                    weight: r.weight,
                    class: RejectClass::Fraud,
                    scope,
                    pumping: Some(pumping),
                });
            }
        }
        // Without trust, a returning number reaches this layer: the new
        // slice's deficits and drifts are not about it.
        let fresh_number = self.trust || !s.trusted;
        self.deficit(keys, counters, &mut read, fresh_number, out);
        self.drift(s, keys, counters, &mut read, fresh_number, out);
    }
}

#[cfg(test)]
mod tests;
