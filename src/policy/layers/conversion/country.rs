//! Each country against its own learned rate: deficits over windows and
//! drift added up hour by hour. Country-wide evidence: it raises
//! suspicion and never stops a send alone (see [`crate::policy::Scope`]).

use super::histories::Histories;
use super::rates::Evidence;
use super::ConversionLayer;
use crate::policy::counters::{Counters, Keys};
use crate::policy::layers::velocity::human;
use crate::policy::{Detail, Reason, RejectClass, Scope, Subject};
use crate::state::Kind;

impl ConversionLayer {
    /// Hour-by-hour evidence that the country converts less than it
    /// learned to expect.
    pub(super) fn drift(
        &self,
        s: &Subject<'_>,
        keys: &Keys,
        counters: &Counters,
        read: &mut Histories<'_>,
        fresh_number: bool,
        out: &mut Vec<Reason>,
    ) {
        let Some(region) = keys.region else { return };
        if self.drifts.is_empty() {
            return;
        }
        let mut best: Option<(u32, f64, Detail)> = None;
        for d in &self.drifts {
            if best.as_ref().is_some_and(|(w, _, _)| *w >= d.weight) || (d.fresh && !fresh_number) {
                continue;
            }
            let (kind, k) = if d.fresh {
                (Kind::FreshCountry, keys.fresh_country)
            } else {
                (Kind::Country, keys.country)
            };
            let Some(k) = k else { continue };
            let found = counters
                .rates
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .evidence(region, d.fresh, s.now, &d.cusum, self.learned_min);
            let Some(Evidence {
                llr,
                on: true,
                hours,
                p0,
            }) = found
            else {
                continue;
            };
            let mut confirmed = String::new();
            // The hypothesis the evidence supports, unless the recent
            // stretch measures the shortfall itself.
            let mut pumping = 1.0 - d.cusum.ratio;
            if let Some((recent, grace, ratio)) = d.recent {
                let Some((rc, rn)) = read.still_under(kind, k, recent, grace, ratio * p0) else {
                    continue;
                };
                if rn > 0 {
                    pumping = (1.0 - f64::from(rc) / f64::from(rn) / p0).clamp(0.0, 1.0);
                }
                confirmed = if rn == 0 {
                    format!(
                        "; nothing went out in the last {} to say otherwise",
                        human(recent)
                    )
                } else {
                    format!("; the last {}: {rc} of {rn}", human(recent))
                };
            }
            let what = if d.fresh { "new numbers of " } else { "" };
            best = Some((
                d.weight,
                pumping,
                crate::detail!(
                    "sends to {what}{region} have converted under their usual {:.0}% for the last {hours} h (evidence {llr:.1}){confirmed}",
                    p0 * 100.0,
                ),
            ));
        }
        if let Some((weight, pumping, detail)) = best {
            out.push(Reason {
                code: "conversion.country_drift",
                detail,
                weight,
                class: RejectClass::Fraud,
                scope: Scope::Country,
                pumping: Some(pumping),
            });
        }
    }

    /// The country against its own learned conversion rate (all its sends,
    /// or only those to numbers that had not converted before).
    pub(super) fn deficit(
        &self,
        keys: &Keys,
        counters: &Counters,
        read: &mut Histories<'_>,
        fresh_number: bool,
        out: &mut Vec<Reason>,
    ) {
        let Some(region) = keys.region else { return };
        if self.deficits.is_empty() {
            return;
        }
        let (learned_all, learned_new) = {
            let rates = counters.rates.lock().unwrap_or_else(|p| p.into_inner());
            (rates.learned(region, false), rates.learned(region, true))
        };
        let mut best: Option<(u32, f64, Detail)> = None;
        for d in &self.deficits {
            if best.as_ref().is_some_and(|(w, _, _)| *w >= d.weight) {
                continue;
            }
            let (kind, k, learned, what) = if d.fresh {
                if !fresh_number {
                    continue;
                }
                (
                    Kind::FreshCountry,
                    keys.fresh_country,
                    learned_new,
                    "new numbers of ",
                )
            } else {
                (Kind::Country, keys.country, learned_all, "")
            };
            let (Some(k), Some((p0, mass))) = (k, learned) else {
                continue;
            };
            if mass < self.learned_min || p0 <= 0.0 || p0 >= 1.0 {
                continue;
            }
            let n = read.matured_sends(kind, k, d.window, d.grace);
            if n < d.min {
                continue;
            }
            let c = read.conversions_within(kind, k, d.window);
            let (n, c) = (f64::from(n), f64::from(c));
            let rate = c / n;
            if rate >= d.ratio * p0 {
                continue;
            }
            let z = (p0 * n - c) / (n * p0 * (1.0 - p0)).sqrt();
            if z < d.z {
                continue;
            }
            if let Some((recent, ratio)) = d.recent {
                if read
                    .still_under(kind, k, recent, d.grace, ratio * p0)
                    .is_none()
                {
                    continue;
                }
            }
            let window = d.window;
            best = Some((
                d.weight,
                (1.0 - rate / p0).clamp(0.0, 1.0),
                crate::detail!(
                    "{c} of {n} sends to {what}{region} in the last {} converted ({:.0}%), against its usual {:.0}% ({z:.1}σ below)",
                    human(window),
                    rate * 100.0,
                    p0 * 100.0
                ),
            ));
        }
        if let Some((weight, pumping, detail)) = best {
            out.push(Reason {
                code: "conversion.country_deficit",
                detail,
                weight,
                class: RejectClass::Fraud,
                scope: Scope::Country,
                pumping: Some(pumping),
            });
        }
    }
}
