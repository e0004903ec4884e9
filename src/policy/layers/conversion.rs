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

use std::collections::HashMap;

use serde::Deserialize;

use crate::clock::Timestamp;
use crate::number::Region;
use crate::policy::config::Span;
use crate::policy::counters::{self, Counters, Keys};
use crate::policy::layers::velocity::human;
use crate::policy::{Detail, Reason, RejectClass, Scope, Subject};
use crate::state::{Key, Kind, Series, SeriesWindows};

/// `[conversion]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Numbers that converted in the last 45–90 days skip the soft layers
    /// (hard rules still apply).
    pub trust_converted: bool,
    /// Default grace of the rules: sends younger than this have not had
    /// time to convert and are not counted.
    pub grace: Span,
    /// Default window of the rules.
    pub window: Span,
    pub rules: Vec<Rule>,
    /// A country is judged against its learned rate only once it has this
    /// many sends of history (decayed over about a week): a new market is
    /// never compared with a rate it does not have yet.
    pub learned_min_sends: u32,
    pub deficits: Vec<Deficit>,
    /// Evidence accumulated hour by hour (see [`Drift`]).
    pub drifts: Vec<Drift>,
    /// Probes: while a carrier, country or line type is held only because
    /// it does not convert, every `probe_every`-th of its held sends
    /// (counted over 24 hours) goes out anyway. A held send cannot
    /// convert, so without probes a destination held by mistake (five
    /// unlucky sends on a fresh engine's first night) could never show
    /// that it converts again and would stay held until its windows forget
    /// the sends that condemned it; a pumped one keeps not converting.
    /// Ranges are never probed: a held range costs organic traffic next to
    /// nothing. 0: off.
    pub probe_every: u32,
    /// Probes nobody answers grow rarer: while none of a held
    /// destination's probes in the last 24 hours has converted, the
    /// interval doubles after every `probe_backoff` probes (1 in 20, then
    /// 1 in 40, …, at most 64 times `probe_every`). A destination held by
    /// mistake is let go by its first probes, which convert; one whose
    /// probes never convert is being pumped, and each later probe is a
    /// send paid for. 0: never back off.
    pub probe_backoff: u32,
    /// The conversion rate a destination is expected to have before its
    /// country has a learned one (new numbers of a served country convert
    /// at 60–90%). The pumping share of a slice that converts at `rate` is
    /// `1 − rate / expected`.
    pub expected_rate: f64,
    /// Strength of that expectation, in sends: a slice's rate is read as
    /// `(conversions + prior_sends × expected) / (sends + prior_sends)`, so
    /// four unanswered sends say "probably pumped" (0.67 with the default
    /// 2) and forty say "pumped" (0.95).
    pub prior_sends: f64,
    /// The same where the country has no learned rate: the platform has
    /// no users there to speak of, so the expectation that its traffic
    /// converts is weaker (0.5: two unanswered sends say 0.8).
    pub unserved_prior_sends: f64,
}

/// A country (or its new numbers) whose last whole hours are better
/// explained by converting at `ratio` × its learned rate than at the rate
/// itself: a CUSUM of the log-likelihood ratio over up to `hours` whole
/// hours back, firing at `threshold` (nats; 7 is odds of about 1000 to 1).
/// Where a window needs one stretch to be far off, this adds up many hours
/// that are each only a little off: a campaign adding a sixth to a small
/// country's volume shows within half a day, not at its end.
///
/// Once fired it stays on while the evidence stays above `release`
/// (hysteresis: an hour that converts a little better than the campaign's
/// average does not let half of it through), and the evidence is capped at
/// `cap`, so that a long campaign is let go within hours of its end.
/// Optionally confirmed by the last `recent` stretch (sends older than
/// `grace`) still converting under `recent_ratio` × the learned rate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    /// `"all"` or `"new"` (see [`Deficit::numbers`]).
    #[serde(default)]
    pub numbers: Slice,
    /// The shift looked for, between 0 and 1 (0.8: a fifth fewer
    /// conversions per send).
    pub ratio: f64,
    /// Log-likelihood ratio at which it fires.
    pub threshold: f64,
    /// Evidence under which a fired drift lets go (default: `threshold`,
    /// no hysteresis).
    #[serde(default)]
    pub release: Option<f64>,
    /// Most evidence kept (default: unbounded).
    #[serde(default)]
    pub cap: Option<f64>,
    /// Whole hours looked back, 1 to 48.
    pub hours: u32,
    pub weight: u32,
    /// The optional confirmation window (5m to 24h) and its grace.
    #[serde(default)]
    pub recent: Option<Span>,
    #[serde(default = "ten_minutes")]
    pub grace: Span,
    #[serde(default = "one")]
    pub recent_ratio: f64,
}

fn ten_minutes() -> Span {
    Span(600)
}

/// Fewer than `below` conversions per send, over at least `min_sends`
/// sends older than `grace` within `window`, adds `weight`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `range3`, `range4`, `carrier`, `country` or `line_type` (all the
    /// platform's sends to one line type: `voip`, `mobile`, …).
    pub key: String,
    /// 5m to 24h (5-minute resolution up to 2h, hourly beyond); the
    /// section's `window` when absent.
    #[serde(default)]
    pub window: Option<Span>,
    /// 0s to 2h, shorter than `window`; the section's `grace` when absent.
    /// `"0s"` counts every send, even one that has not had time to convert
    /// yet: only for long windows or large `min_sends`, where the last few
    /// minutes' sends are a small part of the count.
    #[serde(default)]
    pub grace: Option<Span>,
    pub min_sends: u32,
    pub below: f64,
    pub weight: u32,
    /// The pumping share this rule's evidence stands for, when its sends
    /// have not all had time to convert (`grace = "0s"`): otherwise it is
    /// estimated from the rate (see `prior_sends`).
    #[serde(default)]
    pub pumping: Option<f64>,
}

/// A country whose conversion rate over `window` is under `ratio` × its
/// learned rate, `z` standard deviations or more below what that rate
/// predicts for the sends counted (at least `min_sends` older than `grace`),
/// adds `weight`. When several windows fire, the heaviest counts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deficit {
    /// 5m to 24h, as for `rules`.
    pub window: Span,
    /// 0s to 2h, shorter than `window`.
    pub grace: Span,
    pub min_sends: u32,
    /// Observed rate over learned rate at or above which nothing fires.
    pub ratio: f64,
    /// Standard deviations below the learned rate.
    pub z: f64,
    pub weight: u32,
    /// Optional confirmation for long windows: the sends older than `grace`
    /// in this last stretch (shorter than `window`) must still convert
    /// under `recent_ratio` × the learned rate. A campaign that has ended
    /// then stops weighing on the country once its sends leave `recent`,
    /// instead of for the whole `window`.
    #[serde(default)]
    pub recent: Option<Span>,
    #[serde(default = "one")]
    pub recent_ratio: f64,
    /// Which of the country's sends are judged: `"all"` (default), or
    /// `"new"`: only sends to numbers that had not converted before, against
    /// the learned rate of such sends. Returning users convert almost
    /// always and dilute a deficit; pumped numbers are always new, so in
    /// the new slice a campaign adding a fifth to a country's volume cuts
    /// the rate by a third instead of a sixth.
    #[serde(default)]
    pub numbers: Slice,
}

/// The part of a country's traffic a deficit looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slice {
    #[default]
    All,
    New,
}

fn one() -> f64 {
    1.0
}

impl Default for Config {
    fn default() -> Self {
        Config {
            trust_converted: true,
            grace: Span(600),
            window: Span(7200),
            rules: Vec::new(),
            learned_min_sends: 500,
            deficits: Vec::new(),
            drifts: Vec::new(),
            probe_every: 0,
            probe_backoff: 0,
            expected_rate: 0.6,
            prior_sends: 2.0,
            unserved_prior_sends: 2.0,
        }
    }
}

#[derive(Debug)]
struct Compiled {
    kind: Kind,
    code: &'static str,
    name: &'static str,
    window: u32,
    grace: u32,
    min: u32,
    below: f64,
    weight: u32,
    scope: Scope,
    pumping: Option<f64>,
}

#[derive(Debug)]
struct CompiledDeficit {
    fresh: bool,
    recent: Option<(u32, f64)>,
    window: u32,
    grace: u32,
    min: u32,
    ratio: f64,
    z: f64,
    weight: u32,
}

#[derive(Debug)]
struct CompiledDrift {
    fresh: bool,
    cusum: Cusum,
    weight: u32,
    /// Confirmation: window, grace, ratio.
    recent: Option<(u32, u32, f64)>,
}

/// The parameters of one drift's CUSUM.
#[derive(Debug, Clone, Copy)]
pub struct Cusum {
    /// The alternative: converting at `ratio` × the learned rate.
    pub ratio: f64,
    /// Fires at this much evidence (nats)…
    pub threshold: f64,
    /// …and, once fired, stays on down to this much.
    pub release: f64,
    /// Evidence is never above this.
    pub cap: f64,
    /// Whole hours looked back.
    pub hours: u32,
}

#[derive(Debug)]
pub struct ConversionLayer {
    pub trust: bool,
    rules: Vec<Compiled>,
    learned_min: f64,
    deficits: Vec<CompiledDeficit>,
    drifts: Vec<CompiledDrift>,
    probes: ProbeSchedule,
    expected_rate: f64,
    prior_sends: f64,
    unserved_prior_sends: f64,
}

fn window_and_grace(what: &str, window: Span, grace: Span) -> Result<(u32, u32), String> {
    let (w, g) = (window.seconds(), grace.seconds());
    if !(300..=86_400).contains(&w) || g > 7200 || g >= w {
        return Err(format!(
            "{what}: need 5m <= window <= 24h and 0s <= grace <= 2h, grace < window"
        ));
    }
    Ok((w, g))
}

impl Config {
    pub fn build(&self) -> Result<ConversionLayer, String> {
        window_and_grace("conversion", self.window, self.grace)?;
        let rules = self
            .rules
            .iter()
            .map(|r| {
                let (kind, code, name) = match r.key.as_str() {
                    "range3" => (Kind::Range3, "conversion.range3", "−3 range"),
                    "range4" => (Kind::Range4, "conversion.range4", "−4 range"),
                    "carrier" => (Kind::Carrier, "conversion.carrier", "carrier"),
                    "country" => (Kind::Country, "conversion.country", "country"),
                    "line_type" => (Kind::LineType, "conversion.line_type", "line type"),
                    other => return Err(format!("conversion.rules: unknown key `{other}`")),
                };
                if !(0.0..=1.0).contains(&r.below) {
                    return Err("conversion.rules: `below` is a ratio between 0 and 1".into());
                }
                let (window, grace) = window_and_grace(
                    "conversion.rules",
                    r.window.unwrap_or(self.window),
                    r.grace.unwrap_or(self.grace),
                )?;
                Ok(Compiled {
                    kind,
                    code,
                    name,
                    window,
                    grace,
                    min: r.min_sends.max(1),
                    below: r.below,
                    weight: r.weight,
                    // A country's rate is a country judgement; ranges,
                    // carriers and line types are local evidence.
                    scope: if kind == Kind::Country {
                        Scope::Country
                    } else {
                        Scope::Local
                    },
                    pumping: r
                        .pumping
                        .map(|p| super::share("conversion.rules: pumping", p))
                        .transpose()?,
                })
            })
            .collect::<Result<_, String>>()?;
        let deficits = self
            .deficits
            .iter()
            .map(|d| {
                let (window, grace) =
                    window_and_grace("conversion.deficits", d.window, d.grace)?;
                if !(0.0..=1.0).contains(&d.ratio) || !(d.z >= 0.0) {
                    return Err(
                        "conversion.deficits: `ratio` is between 0 and 1 and `z` is >= 0".into(),
                    );
                }
                let recent = match d.recent {
                    None => None,
                    Some(r) => {
                        let (r, _) = window_and_grace("conversion.deficits.recent", r, d.grace)?;
                        if r >= window || !(0.0..=1.0).contains(&d.recent_ratio) {
                            return Err("conversion.deficits: `recent` is shorter than `window` and `recent_ratio` is between 0 and 1".into());
                        }
                        Some((r, d.recent_ratio))
                    }
                };
                Ok(CompiledDeficit {
                    fresh: d.numbers == Slice::New,
                    recent,
                    window,
                    grace,
                    min: d.min_sends.max(1),
                    ratio: d.ratio,
                    z: d.z,
                    weight: d.weight,
                })
            })
            .collect::<Result<_, String>>()?;
        let drifts = self
            .drifts
            .iter()
            .map(|d| {
                let recent = match d.recent {
                    None => None,
                    Some(r) => {
                        let (r, g) = window_and_grace("conversion.drifts", r, d.grace)?;
                        Some((r, g, d.recent_ratio))
                    }
                };
                let release = d.release.unwrap_or(d.threshold);
                let cap = d.cap.unwrap_or(f64::INFINITY);
                if !(d.ratio > 0.0 && d.ratio < 1.0)
                    || !(0.0..=1.0).contains(&d.recent_ratio)
                    || !(d.threshold > 0.0)
                    || !(release > 0.0 && release <= d.threshold && cap >= d.threshold)
                    || !(1..=HISTORY_HOURS as u32).contains(&d.hours)
                {
                    return Err(format!(
                        "conversion.drifts: need 0 < ratio < 1, 0 <= recent_ratio <= 1, 0 < release <= threshold <= cap, 1 <= hours <= {HISTORY_HOURS}"
                    ));
                }
                Ok(CompiledDrift {
                    fresh: d.numbers == Slice::New,
                    cusum: Cusum {
                        ratio: d.ratio,
                        threshold: d.threshold,
                        release,
                        cap,
                        hours: d.hours,
                    },
                    weight: d.weight,
                    recent,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(ConversionLayer {
            drifts,
            trust: self.trust_converted,
            rules,
            learned_min: f64::from(self.learned_min_sends.max(1)),
            deficits,
            probes: ProbeSchedule {
                every: self.probe_every,
                backoff: self.probe_backoff,
            },
            expected_rate: super::share("conversion.expected_rate", self.expected_rate)?,
            prior_sends: if self.prior_sends >= 0.0 && self.unserved_prior_sends >= 0.0 {
                self.prior_sends
            } else {
                return Err("conversion.prior_sends and unserved_prior_sends must be >= 0".into());
            },
            unserved_prior_sends: self.unserved_prior_sends,
        })
    }
}

/// Which held sends of a destination go out as probes (see
/// [`Config::probe_every`] and [`Config::probe_backoff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProbeSchedule {
    every: u32,
    backoff: u32,
}

impl ProbeSchedule {
    /// Doublings at most: one held send in 64 × `every`.
    const MAX_DOUBLINGS: u32 = 6;

    /// The interval in force if the `n`-th held send (1-based, within the
    /// window) is a probe; `None` if it is not. While earlier probes have
    /// `answered` (one of them converted), there is no backoff.
    fn interval(&self, n: u64, answered: bool) -> Option<u64> {
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
    /// The share of a slice's sends that are pumping, from `conversions`
    /// of `sends` against the `expected` rate (see [`Config::prior_sends`];
    /// `served`: the country has a learned rate).
    pub fn pumping_share(&self, conversions: u32, sends: u32, expected: f64, served: bool) -> f64 {
        let a = if served {
            self.prior_sends
        } else {
            self.unserved_prior_sends
        };
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
        // What the destination's sends are expected to convert at: its
        // country's learned rate for new numbers, once it has one.
        let learned = keys
            .region
            .and_then(|region| {
                let rates = counters.rates.lock().unwrap_or_else(|p| p.into_inner());
                rates.learned(region, true)
            })
            .filter(|(p0, mass)| *mass >= self.learned_min && *p0 > 0.0);
        let served = learned.is_some();
        let expected = learned.map_or(self.expected_rate, |(p0, _)| p0);
        for r in &self.rules {
            let Some(k) = keys.get(r.kind) else { continue };
            let sends = read.matured_sends(k, r.window, r.grace);
            if sends < r.min {
                continue;
            }
            let conversions = read.conversions_within(k, r.window);
            let rate = f64::from(conversions) / f64::from(sends);
            if rate < r.below {
                let pumping = r
                    .pumping
                    .unwrap_or_else(|| self.pumping_share(conversions, sends, expected, served));
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

    /// Hour-by-hour evidence that the country converts less than it
    /// learned to expect.
    fn drift(
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
            let k = if d.fresh {
                keys.fresh_country
            } else {
                keys.country
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
                let Some((rc, rn)) = read.still_under(k, recent, grace, ratio * p0) else {
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
    fn deficit(
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
            let (k, learned, what) = if d.fresh {
                if !fresh_number {
                    continue;
                }
                (keys.fresh_country, learned_new, "new numbers of ")
            } else {
                (keys.country, learned_all, "")
            };
            let (Some(k), Some((p0, mass))) = (k, learned) else {
                continue;
            };
            if mass < self.learned_min || p0 <= 0.0 || p0 >= 1.0 {
                continue;
            }
            let n = read.matured_sends(k, d.window, d.grace);
            if n < d.min {
                continue;
            }
            let c = read.conversions_within(k, d.window);
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
                if read.still_under(k, recent, d.grace, ratio * p0).is_none() {
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

    fn of(&mut self, k: Key) -> &mut Read {
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
            // Copied once, straight into the slot: a series is 200 bytes.
            self.counters.sends.read(k, |s| read.sends = Some(*s));
        }
        read
    }

    /// Sends to `k` in the window, less those still in grace.
    pub fn matured_sends(&mut self, k: Key, window_s: u32, grace_s: u32) -> u32 {
        let tick = self.tick;
        counters::matured_sends(self.of(k).sends.as_ref(), tick, window_s, grace_s)
    }

    /// Conversions of `k` in the window.
    pub fn conversions_within(&mut self, k: Key, window_s: u32) -> u32 {
        let (tick, counters) = (self.tick, self.counters);
        let read = self.of(k);
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
        k: Key,
        window_s: u32,
        grace_s: u32,
        rate: f64,
    ) -> Option<(u32, u32)> {
        let sends = self.matured_sends(k, window_s, grace_s);
        let conversions = self.conversions_within(k, window_s);
        (sends == 0 || f64::from(conversions) < rate * f64::from(sends))
            .then_some((conversions, sends))
    }
}

/// Each country's conversion rate learned from its own traffic: decayed
/// sums of sends and conversions, folded in hour by hour (the hour in
/// progress is never part of what was learned). An hour that converts far
/// below the learned rate (3σ or more) is not learned from, so a campaign
/// does not teach the engine that its own traffic is normal.
#[derive(Debug, Default)]
pub struct ConversionRates {
    /// Per country: all its sends, and (`true`) those to numbers that had
    /// not converted before.
    countries: HashMap<(Region, bool), Rate, ahash::RandomState>,
}

#[derive(Debug, Clone)]
struct Rate {
    hour: i64,
    sends: u32,
    conversions: u32,
    learned_sends: f64,
    learned_conversions: f64,
    /// The last whole hours: (hour, sends, conversions), by hour modulo
    /// the length.
    history: [(i64, u32, u32); HISTORY_HOURS],
}

/// What a drift's CUSUM says at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Log-likelihood ratio (nats).
    pub llr: f64,
    /// Fired and not yet released.
    pub on: bool,
    /// Hours since the evidence last was nil.
    pub hours: u32,
    /// The learned rate judged against.
    pub p0: f64,
}

/// Whole hours of per-country history kept for drifts.
pub const HISTORY_HOURS: usize = 48;

/// Decay per hour: a memory of about a week.
const RATE_DECAY: f64 = 1.0 - 1.0 / 168.0;
/// Hours this far below the learned rate are not learned from.
const UNLEARNED_Z: f64 = 3.0;

impl Rate {
    fn new(hour: i64) -> Rate {
        Rate {
            hour,
            sends: 0,
            conversions: 0,
            learned_sends: 0.0,
            learned_conversions: 0.0,
            history: [(i64::MIN, 0, 0); HISTORY_HOURS],
        }
    }

    /// Sends and conversions of a whole hour, if still known.
    fn hour_counts(&self, hour: i64) -> Option<(u32, u32)> {
        if hour == self.hour {
            return Some((self.sends, self.conversions));
        }
        let (h, n, c) = self.history[hour.rem_euclid(HISTORY_HOURS as i64) as usize];
        (h == hour).then_some((n, c))
    }

    fn fold(&mut self) {
        self.history[self.hour.rem_euclid(HISTORY_HOURS as i64) as usize] =
            (self.hour, self.sends, self.conversions);
        let (n, c) = (f64::from(self.sends), f64::from(self.conversions));
        let anomalous = self.learned_sends >= 100.0 && n >= 10.0 && {
            let p0 = self.learned_conversions / self.learned_sends;
            p0 > 0.0 && p0 < 1.0 && (p0 * n - c) / (n * p0 * (1.0 - p0)).sqrt() >= UNLEARNED_Z
        };
        self.learned_sends *= RATE_DECAY;
        self.learned_conversions *= RATE_DECAY;
        if !anomalous {
            self.learned_sends += n;
            self.learned_conversions += c;
        }
    }

    fn observe(&mut self, hour: i64, sends: u32, conversions: u32) {
        if hour > self.hour {
            self.fold();
            // Silent hours only decay (at most a few weeks of them matter).
            let gap = (hour - self.hour - 1).clamp(0, 24 * 28) as i32;
            let d = RATE_DECAY.powi(gap);
            self.learned_sends *= d;
            self.learned_conversions *= d;
            self.hour = hour;
            self.sends = 0;
            self.conversions = 0;
        }
        if hour == self.hour {
            self.sends = self.sends.saturating_add(sends);
            self.conversions = self.conversions.saturating_add(conversions);
        }
    }
}

impl ConversionRates {
    /// Counts sends and conversions to `region` at `now`; `fresh`: to (of)
    /// a number that had not converted before, counted in both slices.
    pub fn observe(
        &mut self,
        region: Region,
        fresh: bool,
        now: Timestamp,
        sends: u32,
        conversions: u32,
    ) {
        let hour = now.millis().div_euclid(3_600_000);
        let slices: &[bool] = if fresh { &[false, true] } else { &[false] };
        for &slice in slices {
            self.countries
                .entry((region, slice))
                .or_insert_with(|| Rate::new(hour))
                .observe(hour, sends, conversions);
        }
    }

    /// The CUSUM of the whole hours before `now` (up to `hours` back) of
    /// the log-likelihood ratio of converting at `ratio` × the learned rate
    /// rather than at it, run oldest hour first with the drift's hysteresis
    /// and cap. `None` while the learned rate rests on fewer than
    /// `min_mass` sends.
    pub fn evidence(
        &self,
        region: Region,
        fresh: bool,
        now: Timestamp,
        c: &Cusum,
        min_mass: f64,
    ) -> Option<Evidence> {
        let r = self.countries.get(&(region, fresh))?;
        let (p0, mass) = self.learned(region, fresh)?;
        if mass < min_mass || p0 <= 0.0 || p0 >= 1.0 {
            return None;
        }
        let p1 = c.ratio * p0;
        let (a, b) = (c.ratio.ln(), ((1.0 - p1) / (1.0 - p0)).ln());
        let current = now.millis().div_euclid(3_600_000);
        let mut e = Evidence {
            llr: 0.0,
            on: false,
            hours: 0,
            p0,
        };
        for back in (1..=i64::from(c.hours)).rev() {
            let Some((n, k)) = r.hour_counts(current - back) else {
                continue;
            };
            let (n, k) = (f64::from(n), f64::from(k.min(n)));
            e.llr = (e.llr + k * a + (n - k) * b).clamp(0.0, c.cap);
            e.hours = if e.llr > 0.0 { e.hours + 1 } else { 0 };
            e.on = e.llr >= if e.on { c.release } else { c.threshold };
        }
        Some(e)
    }

    /// The learned rate and the (decayed) number of sends it rests on, of
    /// all the country's sends or (`fresh`) of those to new numbers.
    pub fn learned(&self, region: Region, fresh: bool) -> Option<(f64, f64)> {
        let r = self.countries.get(&(region, fresh))?;
        (r.learned_sends > 0.0).then(|| (r.learned_conversions / r.learned_sends, r.learned_sends))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    fn probes(schedule: ProbeSchedule, upto: u64, answered: bool) -> Vec<u64> {
        (1..=upto)
            .filter(|&n| schedule.interval(n, answered).is_some())
            .collect()
    }

    #[test]
    fn probe_schedule_doubles_its_interval_every_backoff_probes_up_to_a_cap() {
        let flat = ProbeSchedule {
            every: 20,
            backoff: 0,
        };
        assert_eq!(probes(flat, 100, false), [20, 40, 60, 80, 100]);
        let backoff = ProbeSchedule {
            every: 2,
            backoff: 2,
        };
        assert_eq!(probes(backoff, 30, false), [2, 4, 8, 12, 20, 28]);
        assert_eq!(probes(backoff, 8, true), [2, 4, 6, 8]);
        // After six doublings the interval stays at 64 × every.
        let start: u64 = (0..6).map(|s| (2 * 2) << s).sum();
        assert_eq!(backoff.interval(start + 128, false), Some(128));
        assert_eq!(backoff.interval(start + 256, false), Some(128));
        assert_eq!(backoff.interval(start + 64, false), None);
        assert_eq!(
            ProbeSchedule {
                every: 0,
                backoff: 2
            }
            .interval(4, false),
            None
        );
    }

    /// A country with 100 sends an hour converting at 80% for a week, then
    /// `campaign` hours (sends, conversions); returns the rates and the
    /// hour after the last.
    fn history(campaign: &[(u32, u32)]) -> (ConversionRates, Timestamp) {
        let mut rates = ConversionRates::default();
        let ng = Region::parse("NG").expect("NG");
        let mut hour = 480_000i64;
        for _ in 0..168 {
            rates.observe(ng, true, Timestamp(hour * HOUR_MS), 100, 80);
            hour += 1;
        }
        for &(n, c) in campaign {
            rates.observe(ng, true, Timestamp(hour * HOUR_MS), n, c);
            hour += 1;
        }
        // An event in the next hour folds the last one in.
        rates.observe(ng, true, Timestamp(hour * HOUR_MS), 0, 0);
        (rates, Timestamp(hour * HOUR_MS + 60_000))
    }

    fn cusum(release: f64, cap: f64) -> Cusum {
        Cusum {
            ratio: 0.8,
            threshold: 7.0,
            release,
            cap,
            hours: 24,
        }
    }

    fn evidence(campaign: &[(u32, u32)], c: &Cusum) -> Evidence {
        let (rates, now) = history(campaign);
        let ng = Region::parse("NG").expect("NG");
        rates
            .evidence(ng, true, now, c, 500.0)
            .expect("a learned rate")
    }

    #[test]
    fn a_drift_fires_on_hours_that_are_each_only_a_little_off() {
        // 70% instead of 80%: no single hour is far off.
        let quiet = evidence(&[(100, 80); 6], &cusum(7.0, f64::INFINITY));
        assert!(!quiet.on && quiet.llr == 0.0, "{quiet:?}");
        let e = evidence(&[(100, 70); 6], &cusum(7.0, f64::INFINITY));
        assert!(e.on && e.llr >= 7.0 && e.hours == 6, "{e:?}");
        assert!((e.p0 - 0.8).abs() < 0.01);
    }

    #[test]
    fn hysteresis_keeps_a_fired_drift_on_through_a_better_hour() {
        let mut hours = vec![(100, 70); 6];
        hours.push((100, 79));
        let plain = evidence(&hours, &cusum(7.0, f64::INFINITY));
        let sticky = evidence(&hours, &cusum(3.0, f64::INFINITY));
        assert!(plain.llr < 7.0 && !plain.on, "{plain:?}");
        assert!(sticky.on, "{sticky:?}");
        assert_eq!(plain.llr, sticky.llr);
    }

    #[test]
    fn the_cap_lets_a_long_campaign_go_soon_after_it_ends() {
        // 65%: far enough off (3.75σ an hour) not to be learned from.
        let mut hours = vec![(100, 65); 20];
        hours.extend([(100, 80); 3]);
        let uncapped = evidence(&hours, &cusum(3.0, f64::INFINITY));
        let capped = evidence(&hours, &cusum(3.0, 10.0));
        assert!(uncapped.on, "{uncapped:?}");
        assert!(!capped.on && capped.llr < 3.0, "{capped:?}");
    }
}
