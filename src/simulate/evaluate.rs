//! Detection quality, measured: every campaign variant × several seeds,
//! each merged into its seed's organic traffic and replayed in memory
//! through a fresh engine on the backtest path (same classifier, same
//! `Engine::decide`, event time), then compared with the ground truth.
//!
//! Held-out variants run on their own seeds and are reported in their own
//! table: the policy is tuned on the first table only, so a gap between the
//! two is over-fitting showing.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::attack::{self, Campaign, Shape};
use super::bound::{floor, null_alarms, Alarms, Floor, NullAlarms, NULL_RATIO};
use super::countries::SERVED_HIGH_COST;
use super::event::{SimEvent, SimKind};
use super::organic::{self, Accounts, Organic};
use super::plans::Plans;
use super::separable::{separable, Terms};
use super::{finish, DEFAULT_START};
use crate::backtest::replay::{self, Context};
use crate::backtest::summary::pct;
use crate::backtest::{Event, Kind, Ordered, Prices};
use crate::number::{Classifier, Region};
use crate::policy::{Action, Engine, Policy};
use crate::source::SourceError;

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seeds: Vec<u64>,
    pub held_out_seeds: Vec<u64>,
    pub days: u32,
    /// Day of the run on which campaigns begin (organic history before).
    pub attack_day: u32,
    pub daily_sessions: f64,
    pub threads: usize,
    /// Countries with fewer organic sends are left out of "worst country"
    /// (a handful of sends makes any share meaningless).
    pub min_country_sends: u64,
    /// Restrict to these variant names or families (empty: all).
    pub only: Vec<String>,
    /// Which catalogue: the standard variants or the harder bad days.
    pub suite: Suite,
}

/// The scenario catalogues `tollgate detect` runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// One campaign per run (`catalog::tuning`, `catalog::held_out`).
    #[default]
    Standard,
    /// Bad days: overlapping campaigns, blends into small served countries
    /// (`catalog::hard`).
    Hard,
}

impl Suite {
    /// The (tuning, held-out) seeds a suite runs on unless told otherwise;
    /// the hard suite's are disjoint from the standard ones, on which the
    /// policy was tuned.
    pub fn default_seeds(self) -> (Vec<u64>, Vec<u64>) {
        match self {
            Suite::Standard => (vec![1, 2, 3], vec![101, 102, 103]),
            Suite::Hard => (vec![11, 12, 13], vec![201, 202, 203, 204]),
        }
    }
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            seeds: vec![1, 2, 3],
            held_out_seeds: vec![101, 102, 103],
            days: 5,
            attack_day: 3,
            daily_sessions: 40_000.0,
            threads: 2,
            min_country_sends: 300,
            only: Vec::new(),
            suite: Suite::Standard,
        }
    }
}

impl Plan {
    /// The tuning and held-out campaigns `only` leaves.
    fn campaigns(&self) -> Result<(Vec<Campaign>, Vec<Campaign>), EvaluateError> {
        let pick = |set: Vec<Campaign>| -> Vec<Campaign> {
            if self.only.is_empty() {
                set
            } else {
                set.into_iter()
                    .filter(|c| {
                        self.only
                            .iter()
                            .any(|o| *o == c.variant || o == c.shape.family())
                    })
                    .collect()
            }
        };
        let (tuning, held) = match self.suite {
            Suite::Standard => (
                super::catalog::tuning(self.attack_day),
                super::catalog::held_out(self.attack_day),
            ),
            Suite::Hard => super::catalog::hard(self.attack_day),
        };
        let (tuning, held) = (pick(tuning), pick(held));
        if tuning.is_empty() && held.is_empty() {
            return Err(EvaluateError::Scenario(format!(
                "no scenario matches {}",
                self.only.join(",")
            )));
        }
        Ok((tuning, held))
    }

    /// One seed's organic traffic model and its events (unordered), with
    /// the run's surprises.
    fn organic(&self, seed: u64, plans: &Plans, accounts: &Accounts) -> (Organic, Vec<SimEvent>) {
        let model = Organic::new(seed, DEFAULT_START, self.days, self.daily_sessions, true);
        let events = organic::generate(&model, plans, accounts, seed);
        (model, events)
    }

    /// (seed, held out, campaigns) for each run of organic traffic. A set
    /// that `only` filtered to nothing is not run at all (not even its
    /// organic-only baseline).
    fn jobs<'a>(
        &self,
        tuning: &'a [Campaign],
        held: &'a [Campaign],
    ) -> Vec<(u64, bool, &'a [Campaign])> {
        let filtered = !self.only.is_empty();
        let mut jobs = Vec::new();
        if !(filtered && tuning.is_empty()) {
            jobs.extend(self.seeds.iter().map(|&s| (s, false, tuning)));
        }
        if !(filtered && held.is_empty()) {
            jobs.extend(self.held_out_seeds.iter().map(|&s| (s, true, held)));
        }
        jobs
    }
}

/// Sends and stops for one slice.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub sends: u64,
    pub stopped: u64,
    pub cost: f64,
    pub cost_stopped: f64,
}

impl Tally {
    fn add(&mut self, stopped: bool, cost: f64) {
        self.sends += 1;
        self.cost += cost;
        if stopped {
            self.stopped += 1;
            self.cost_stopped += cost;
        }
    }

    fn merge(&mut self, o: &Tally) {
        self.sends += o.sends;
        self.stopped += o.stopped;
        self.cost += o.cost;
        self.cost_stopped += o.cost_stopped;
    }
}

/// One run: one seed, one campaign (or none).
#[derive(Clone, Debug)]
pub struct RunResult {
    pub seed: u64,
    pub held_out: bool,
    /// `None`: organic traffic only.
    pub variant: Option<String>,
    pub attack: Tally,
    pub organic: Tally,
    pub organic_by_country: HashMap<Region, Tally>,
    /// The same per country and day of the run.
    pub organic_by_country_day: HashMap<(Region, u32), Tally>,
    /// The run's blending cost that no detector can stop while keeping to
    /// the trade and the friction budget, once the evidence is in (at
    /// [`FLOOR_NATS`], per country; see [`super::separable`]).
    pub inseparable: f64,
    /// The policy's value of a real user (`[economics] user_value`).
    pub user_value: f64,
}

/// Evidence threshold of the floor that splits attack cost into separable
/// and not: the default drift's.
pub const FLOOR_NATS: f64 = 7.0;

impl RunResult {
    /// Attack cost that got through plus the users stopped at their value.
    pub fn net_loss(&self) -> f64 {
        (self.attack.cost - self.attack.cost_stopped)
            + self.user_value * self.organic.stopped as f64
    }
}

/// The blending parts of a campaign (itself, or the parts of an overlap).
fn blends(c: &Campaign) -> Vec<&Campaign> {
    match &c.shape {
        Shape::Blending { .. } | Shape::SmallBlend { .. } => vec![c],
        Shape::Overlap(parts) => parts.iter().flat_map(blends).collect(),
        _ => Vec::new(),
    }
}

/// The surprises of one seed, for the footnote.
#[derive(Clone, Debug)]
pub struct SeedNotes {
    pub seed: u64,
    pub notes: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("{0}")]
    Policy(#[from] SourceError),
    #[error("{0}")]
    Scenario(String),
}

/// Runs the plan. `policy_text` is compiled afresh for every run, so each
/// run starts with an engine that has seen nothing.
pub fn evaluate(
    plan: &Plan,
    policy_origin: &Path,
    policy_text: &str,
    prices: &Prices,
) -> Result<(Vec<RunResult>, Vec<SeedNotes>), EvaluateError> {
    // Fail early on a bad policy.
    Policy::build(policy_origin, policy_text)?;
    let plans = Plans::embedded();
    let (tuning, held) = plan.campaigns()?;
    let jobs = plan.jobs(&tuning, &held);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<RunResult>> = Mutex::new(Vec::new());
    let notes: Mutex<Vec<SeedNotes>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<SourceError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..plan.threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((seed, held_out, campaigns)) = jobs.get(i) else {
                    break;
                };
                match run_seed(
                    plan,
                    *seed,
                    *held_out,
                    campaigns,
                    &plans,
                    policy_origin,
                    policy_text,
                    prices,
                ) {
                    Ok((runs, note)) => {
                        if let Ok(mut r) = results.lock() {
                            r.extend(runs);
                        }
                        if let Ok(mut n) = notes.lock() {
                            n.push(note);
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            *f = Some(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e.into());
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by(|a, b| (a.held_out, &a.variant, a.seed).cmp(&(b.held_out, &b.variant, b.seed)));
    let mut notes = notes.into_inner().unwrap_or_default();
    notes.sort_by_key(|n| n.seed);
    Ok((results, notes))
}

#[allow(clippy::too_many_arguments)]
fn run_seed(
    plan: &Plan,
    seed: u64,
    held_out: bool,
    campaigns: &[Campaign],
    plans: &Plans,
    policy_origin: &Path,
    policy_text: &str,
    prices: &Prices,
) -> Result<(Vec<RunResult>, SeedNotes), SourceError> {
    let accounts = Accounts::new();
    let (model, organic_events) = plan.organic(seed, plans, &accounts);
    let classifier = Classifier::embedded();
    let mut out = Vec::new();
    let mut variants: Vec<Option<&Campaign>> = vec![None];
    variants.extend(campaigns.iter().map(Some));
    for c in variants {
        let mut events = organic_events.clone();
        if let Some(c) = c {
            events.extend(attack::generate(c, &model, plans, &accounts, seed));
        }
        finish(&mut events);
        let policy = Policy::build(policy_origin, policy_text)?;
        let (user_value, budget) = (policy.user_value(), policy.friction_budget());
        let engine = Engine::new(policy, false);
        let mut r = score(
            &engine,
            &classifier,
            &events,
            prices,
            seed,
            held_out,
            c.map(|c| c.variant.clone()),
        );
        r.user_value = user_value;
        if let Some(c) = c.filter(|c| !blends(c).is_empty()) {
            let mut only_blends = organic_events.clone();
            for b in blends(c) {
                only_blends.extend(attack::generate(b, &model, plans, &accounts, seed));
            }
            finish(&mut only_blends);
            let cost: f64 = only_blends
                .iter()
                .filter(|e| e.kind == SimKind::Send && e.label.is_attack())
                .map(|e| prices.price(Some(e.region)))
                .sum();
            let terms = Terms {
                threshold: FLOOR_NATS,
                user_value,
                budget,
            };
            r.inseparable = cost - separable(&only_blends, prices, terms);
        }
        out.push(r);
    }
    Ok((
        out,
        SeedNotes {
            seed,
            notes: describe(&model),
        },
    ))
}

/// Replays one run's events through `engine` and tallies against the truth.
pub fn score(
    engine: &Engine,
    classifier: &Classifier,
    events: &[SimEvent],
    prices: &Prices,
    seed: u64,
    held_out: bool,
    variant: Option<String>,
) -> RunResult {
    let ordered = Ordered::arrange(to_backtest(events));
    let mut r = RunResult {
        seed,
        held_out,
        variant,
        attack: Tally::default(),
        organic: Tally::default(),
        organic_by_country: HashMap::new(),
        organic_by_country_day: HashMap::new(),
        inseparable: 0.0,
        user_value: 0.0,
    };
    // Days of the run, from the midnight before its first event.
    let start = events
        .first()
        .map_or(0, |e| e.ts.millis().div_euclid(86_400_000) * 86_400_000);
    replay::replay(
        engine,
        classifier,
        &Context::default(),
        &ordered,
        |e, _, d| {
            let Some(truth) = events.get(e.origin as usize) else {
                return;
            };
            let stopped = d.action != Action::Allow;
            let cost = prices.price(Some(truth.region));
            if truth.label.is_attack() {
                r.attack.add(stopped, cost);
            } else {
                r.organic.add(stopped, cost);
                r.organic_by_country
                    .entry(truth.region)
                    .or_default()
                    .add(stopped, cost);
                let day = ((truth.ts.millis() - start) / 86_400_000) as u32;
                r.organic_by_country_day
                    .entry((truth.region, day))
                    .or_default()
                    .add(stopped, cost);
            }
        },
    );
    r
}

/// The simulator's events as the backtest reads them: what a log would
/// hold, without the truth (`origin` points back to it).
pub fn to_backtest(events: &[SimEvent]) -> Vec<Event<'_>> {
    events
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let kind = match s.kind {
                SimKind::Send => Kind::Send,
                SimKind::Conversion => Kind::Conversion,
            };
            let mut e = Event::new(s.ts, kind, i as u32, Cow::Borrowed(&*s.to));
            if kind == Kind::Send {
                e.id = Some(Cow::Borrowed(s.id.as_str()));
                e.channel = Some(Cow::Borrowed("sms"));
                e.account = s.account.as_deref().map(Cow::Borrowed);
                e.client_ip = s.client_ip.as_deref().map(Cow::Borrowed);
                e.device = s.device.as_deref().map(Cow::Borrowed);
            }
            e
        })
        .collect()
}

fn describe(m: &Organic) -> String {
    let mut s = String::new();
    let when = |min: i64| {
        crate::clock::Timestamp(m.start.millis() + min * 60_000)
            .to_rfc3339()
            .get(..16)
            .unwrap_or("")
            .to_string()
    };
    for p in &m.pushes {
        let _ = write!(
            s,
            "push {} ×{:.1} {}–{} UTC; ",
            m.countries[p.country].0.code,
            p.factor,
            when(p.start_min),
            when(p.end_min).get(11..).unwrap_or("")
        );
    }
    if let Some(l) = &m.launch {
        let _ = write!(
            s,
            "launch {} from {} UTC",
            m.countries[l.country].0.code,
            when(l.start_min)
        );
    }
    s
}

/// Aggregate of the runs of one variant.
#[derive(Clone, Debug, Default)]
struct Agg {
    runs: usize,
    attack: Tally,
    organic: Tally,
    by_country: HashMap<Region, Tally>,
}

impl Agg {
    fn add(&mut self, r: &RunResult) {
        self.runs += 1;
        self.attack.merge(&r.attack);
        self.organic.merge(&r.organic);
        for (c, t) in &r.organic_by_country {
            self.by_country.entry(*c).or_default().merge(t);
        }
    }

    fn merge(&mut self, o: &Agg) {
        self.runs += o.runs;
        self.attack.merge(&o.attack);
        self.organic.merge(&o.organic);
        for (c, t) in &o.by_country {
            self.by_country.entry(*c).or_default().merge(t);
        }
    }

    fn worst(&self, min: u64) -> Option<(Region, f64)> {
        self.by_country
            .iter()
            .filter(|(_, t)| t.sends >= min)
            .map(|(c, t)| (*c, pct(t.stopped as f64, t.sends as f64)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    }
}

fn worst_text(w: Option<(Region, f64)>) -> String {
    match w {
        Some((_, p)) if p == 0.0 => "none (all 0.00%)".into(),
        Some((c, p)) => format!("{c} {p:.2}%"),
        None => "–".into(),
    }
}

/// The targets the default policy is tuned toward.
pub const TARGET_COST_STOPPED: f64 = 97.0;
pub const TARGET_ORGANIC_STOPPED: f64 = 0.3;
pub const TARGET_WORST_COUNTRY: f64 = 2.0;

fn table(out: &mut String, title: &str, runs: &[&RunResult], min: u64) -> Agg {
    let mut by: BTreeMap<String, Agg> = BTreeMap::new();
    for r in runs {
        let key = r.variant.clone().unwrap_or_else(|| "(organic only)".into());
        by.entry(key).or_default().add(r);
    }
    let _ = writeln!(out, "### {title}\n");
    let _ = writeln!(
        out,
        "| scenario | runs | attack sends | attack cost | attack cost stopped | attack sends stopped | organic sends | organic stopped | worst country (organic stopped) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut total = Agg::default();
    for (name, a) in &by {
        total.merge(a);
        line(out, name, a, min);
    }
    line(out, "**total**", &total, min);
    let _ = writeln!(out);
    total
}

fn line(out: &mut String, name: &str, a: &Agg, min: u64) {
    let attack = if a.attack.sends > 0 {
        format!(
            "{} | ${:.2} | {:.1}% | {:.1}%",
            a.attack.sends,
            a.attack.cost,
            pct(a.attack.cost_stopped, a.attack.cost),
            pct(a.attack.stopped as f64, a.attack.sends as f64)
        )
    } else {
        "0 | – | – | –".to_string()
    };
    let worst = worst_text(a.worst(min));
    let _ = writeln!(
        out,
        "| {name} | {} | {attack} | {} | {:.3}% | {worst} |",
        a.runs,
        a.organic.sends,
        pct(a.organic.stopped as f64, a.organic.sends as f64)
    );
}

/// The Markdown tables: tuning set, held-out set, overall line.
pub fn markdown(plan: &Plan, runs: &[RunResult], notes: &[SeedNotes], policy: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Detection quality ({policy})\n\n{} days of organic traffic per run ({} verification sessions/day, 45 countries, with a marketing push and a new-market launch), campaigns from day {}; each run replayed through a fresh engine with event time. \"Stopped\" = blocked or held. Worst country: highest organic stopped share among countries with at least {} organic sends in the row's runs.\n",
        plan.days, plan.daily_sessions, plan.attack_day, plan.min_country_sends
    );
    let tuning: Vec<&RunResult> = runs.iter().filter(|r| !r.held_out).collect();
    let held: Vec<&RunResult> = runs.iter().filter(|r| r.held_out).collect();
    let seeds = |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let mut all = Agg::default();
    if !tuning.is_empty() {
        let t = table(
            &mut out,
            &format!("Tuning scenarios (seeds {})", seeds(&plan.seeds)),
            &tuning,
            plan.min_country_sends,
        );
        all.merge(&t);
    }
    if !held.is_empty() {
        let t = table(
            &mut out,
            &format!(
                "Held-out scenarios (seeds {}; never tuned on)",
                seeds(&plan.held_out_seeds)
            ),
            &held,
            plan.min_country_sends,
        );
        all.merge(&t);
    }
    let cost = pct(all.attack.cost_stopped, all.attack.cost);
    let organic = pct(all.organic.stopped as f64, all.organic.sends as f64);
    let worst = all.worst(plan.min_country_sends);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let _ = writeln!(
        out,
        "**Overall** ({} runs): attack cost stopped **{:.1}%** (target ≥{}%: {}), organic sends stopped **{:.3}%** (target ≤{}%: {}), worst country **{}** (target ≤{}%: {}).\n",
        all.runs,
        cost,
        TARGET_COST_STOPPED,
        verdict(cost >= TARGET_COST_STOPPED),
        organic,
        TARGET_ORGANIC_STOPPED,
        verdict(organic <= TARGET_ORGANIC_STOPPED),
        worst_text(worst),
        TARGET_WORST_COUNTRY,
        verdict(worst.map_or(true, |w| w.1 <= TARGET_WORST_COUNTRY)),
    );
    let _ = writeln!(out, "Legitimate surprises per seed:\n");
    for n in notes {
        let _ = writeln!(out, "- seed {}: {}", n.seed, n.notes);
    }
    out
}

/// The evidence floor of every blending campaign in the plan (see
/// [`super::bound`]) at each of `thresholds` (nats), against the cost of
/// all the plan's campaigns, and how often the same evidence crosses each
/// threshold with no attack, as Markdown. No engine runs.
pub fn floors(plan: &Plan, prices: &Prices, thresholds: &[f64]) -> Result<String, EvaluateError> {
    let (tuning, held) = plan.campaigns()?;
    let plans = Plans::embedded();
    let accounts = Accounts::new();
    let targets: Vec<Region> = SERVED_HIGH_COST
        .iter()
        .filter_map(|c| Region::parse(c))
        .collect();
    let mut all_cost = 0.0;
    let mut by: BTreeMap<String, (usize, Floor)> = BTreeMap::new();
    let mut null = NullAlarms::default();
    for (seed, _, campaigns) in plan.jobs(&tuning, &held) {
        let (model, mut organic_events) = plan.organic(seed, &plans, &accounts);
        finish(&mut organic_events);
        null.merge(&null_alarms(
            &organic_events,
            &targets,
            NULL_RATIO,
            thresholds,
        ));
        for c in campaigns {
            let attack = attack::generate(c, &model, &plans, &accounts, seed);
            all_cost += attack
                .iter()
                .filter(|e| e.kind == SimKind::Send)
                .map(|e| prices.price(Some(e.region)))
                .sum::<f64>();
            let parts = blends(c);
            if parts.is_empty() {
                continue;
            }
            let mut events = organic_events.clone();
            for b in parts {
                events.extend(attack::generate(b, &model, &plans, &accounts, seed));
            }
            finish(&mut events);
            let f = floor(&events, prices, thresholds);
            let row = by.entry(c.variant.clone()).or_default();
            row.0 += 1;
            row.1.merge(&f);
        }
    }
    if by.is_empty() {
        return Err(EvaluateError::Scenario(
            "no blending campaign among the selected scenarios".into(),
        ));
    }
    let mut out = String::new();
    let money = |m: f64, of: f64| format!("${m:.2} ({:.1}%)", pct(m, of));
    let _ = writeln!(
        out,
        "## Blending: what any send-time detector must miss\n\nCost a blending campaign sends before the evidence of its non-conversion (its countries' new numbers converting less) reaches the threshold, with the rates known exactly and no noise: a floor (`src/simulate/bound.rs`).\n"
    );
    let _ = writeln!(
        out,
        "| scenario | runs | attack cost | {} |",
        thresholds
            .iter()
            .map(|t| format!("missed at {t} nats"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|---:|---:|{}", "---:|".repeat(thresholds.len()));
    let mut total = Floor::default();
    let mut runs = 0;
    for (name, (n, f)) in &by {
        runs += n;
        total.merge(f);
        let cells: Vec<String> = f.per_country.iter().map(|m| money(*m, f.cost)).collect();
        let _ = writeln!(
            out,
            "| {name} | {n} | ${:.2} | {} |",
            f.cost,
            cells.join(" | ")
        );
    }
    let allowed = all_cost * (1.0 - TARGET_COST_STOPPED / 100.0);
    let _ = writeln!(
        out,
        "\nAll campaigns of the plan cost ${all_cost:.2}; stopping {TARGET_COST_STOPPED}% of it leaves ${allowed:.2} to miss.\n\nBy threshold: the blending floor per country, and pooled over exactly the countries each campaign hits (which a detector must guess); then how often the same evidence crosses the threshold with no attack, over {:.1} days of organic traffic (first day of each run left out), for one country at a time and summed over the {} served high-cost countries a campaign might hit (the sum's level with no attack: {:.1} nats).\n",
        null.hours as f64 / 24.0,
        targets.len(),
        null.pooled_mean()
    );
    let _ = writeln!(
        out,
        "| threshold | blending missed, per country | pooled | false alarms, one country (hours on) | false alarms, summed (hours on) |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|");
    for (i, t) in thresholds.iter().enumerate() {
        let at = |v: &[f64]| v.get(i).copied().unwrap_or_default();
        let alarms = |a: &Alarms| {
            let on = a.hours_on.get(i).copied().unwrap_or_default();
            format!(
                "{} ({:.1}%)",
                a.crossings.get(i).copied().unwrap_or_default(),
                pct(on as f64, null.hours as f64)
            )
        };
        let _ = writeln!(
            out,
            "| {t} nats | {} | {} | {} | {} |",
            money(at(&total.per_country), total.cost),
            money(at(&total.pooled), total.cost),
            alarms(&null.single),
            alarms(&null.pooled)
        );
    }
    Ok(out)
}
