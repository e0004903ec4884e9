//! The `[conversion]` section (the doc comments are the policy reference)
//! and the layer it compiles to.

use serde::Deserialize;

use super::probes::ProbeSchedule;
use super::rates::HISTORY_HOURS;
use crate::policy::config::Span;
use crate::policy::Scope;
use crate::state::Kind;

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
        }
    }
}

#[derive(Debug)]
pub(super) struct Compiled {
    pub(super) kind: Kind,
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    pub(super) window: u32,
    pub(super) grace: u32,
    pub(super) min: u32,
    pub(super) below: f64,
    pub(super) weight: u32,
    pub(super) scope: Scope,
    pub(super) pumping: Option<f64>,
}

#[derive(Debug)]
pub(super) struct CompiledDeficit {
    pub(super) fresh: bool,
    pub(super) recent: Option<(u32, f64)>,
    pub(super) window: u32,
    pub(super) grace: u32,
    pub(super) min: u32,
    pub(super) ratio: f64,
    pub(super) z: f64,
    pub(super) weight: u32,
}

#[derive(Debug)]
pub(super) struct CompiledDrift {
    pub(super) fresh: bool,
    pub(super) cusum: Cusum,
    pub(super) weight: u32,
    /// Confirmation: window, grace, ratio.
    pub(super) recent: Option<(u32, u32, f64)>,
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
    pub(super) rules: Vec<Compiled>,
    pub(super) learned_min: f64,
    pub(super) deficits: Vec<CompiledDeficit>,
    pub(super) drifts: Vec<CompiledDrift>,
    pub(super) probes: ProbeSchedule,
    pub(super) expected_rate: f64,
    pub(super) prior_sends: f64,
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
                    scope: crate::policy::layers::scope_of(kind),
                    pumping: r
                        .pumping
                        .map(|p| crate::policy::layers::share("conversion.rules: pumping", p))
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
            expected_rate: crate::policy::layers::share(
                "conversion.expected_rate",
                self.expected_rate,
            )?,
            prior_sends: if self.prior_sends >= 0.0 {
                self.prior_sends
            } else {
                return Err("conversion.prior_sends must be >= 0".into());
            },
        })
    }
}
