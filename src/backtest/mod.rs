//! Backtests: recorded traffic through the live scoring path, with no
//! look-ahead, to see what a policy would have stopped and what that was
//! worth before turning it on.
//!
//! - [`read`]: input formats (`events` JSONL, Twilio Message resources) and
//!   sniffing, with `flat` the fast path for plain `events` lines;
//!   [`time`]: their timestamps; [`event`]: the common record.
//! - [`order`]: replay order (sends before conversions of the same instant).
//! - [`replay`]: the engine seam as the live proxy uses it.
//! - [`summary`], [`decisions`], [`report`]: the three outputs.
//! - [`prices`]: the per-country price table behind "cost avoided".
//! - [`warm`]: history counted into a fresh engine before it serves
//!   (`tollgate serve --warm`, `tollgate backtest --warm`).

pub mod decisions;
pub mod event;
mod flat;
pub mod order;
pub use crate::policy::prices;
pub mod read;
pub mod replay;
pub mod report;
pub mod summary;
pub mod time;
pub mod warm;

use std::io::Write;

pub use crate::policy::Prices;
pub use event::{Event, Kind};
pub use order::Ordered;
pub use read::{Format, Malformed, Parsed};
pub use replay::{Context, Scorer};
pub use summary::Summary;

use crate::number::Classifier;

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("cannot tell the input format ({0}); pass --format")]
    UnknownFormat(String),
    #[error("line {line}: {message}")]
    Malformed { line: u32, message: String },
    #[error("writing decisions: {0}")]
    Decisions(std::io::Error),
}

/// Options of one backtest.
#[derive(Clone, Debug)]
pub struct Options {
    pub format: Format,
    /// Fail on the first malformed record instead of skipping it.
    pub strict: bool,
    pub context: Context,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Auto,
            strict: false,
            context: Context::default(),
        }
    }
}

/// A finished backtest.
#[derive(Debug)]
pub struct Outcome {
    pub summary: Summary,
    /// Skipped records, in input order.
    pub malformed: Vec<Malformed>,
}

/// Reads `input`, replays it through `scorer`, writes one decision line per
/// send to `decisions` if given, and summarises.
pub fn run<S: Scorer + ?Sized>(
    input: &str,
    opts: &Options,
    scorer: &S,
    classifier: &Classifier,
    prices: &Prices,
    decisions: Option<&mut dyn Write>,
) -> Result<Outcome, BacktestError> {
    let parsed = read::parse(input, opts.format)?;
    run_parsed(parsed, opts, scorer, classifier, prices, decisions)
}

/// [`run`] on an input already read (`opts.format` is then only the
/// fallback name of its format).
pub fn run_parsed<S: Scorer + ?Sized>(
    parsed: Parsed<'_>,
    opts: &Options,
    scorer: &S,
    classifier: &Classifier,
    prices: &Prices,
    mut decisions: Option<&mut dyn Write>,
) -> Result<Outcome, BacktestError> {
    if opts.strict {
        if let Some(m) = parsed.malformed.first() {
            return Err(BacktestError::Malformed {
                line: m.line,
                message: m.message.clone(),
            });
        }
    }
    let format = parsed.format.unwrap_or(opts.format);
    let n_events = parsed.events.len() as u64;
    let ordered = Ordered::arrange(parsed.events);
    let mut summary = Summary::new(&prices.currency);
    let mut write_err = None;
    let counts = replay::replay(
        scorer,
        classifier,
        &opts.context,
        &ordered,
        |e, number, d| {
            summary.add(e, number, d, prices);
            if let Some(w) = decisions.as_deref_mut() {
                if write_err.is_none() {
                    if let Err(err) = decisions::write_line(w, &e.id_or_line(), d) {
                        write_err = Some(err);
                    }
                }
            }
        },
    );
    if let Some(e) = write_err {
        return Err(BacktestError::Decisions(e));
    }
    summary.input = summary::InputStats {
        format: format.to_string(),
        events: n_events,
        conversions: counts.conversions,
        conversions_unparseable: counts.conversions_unparseable,
        conversions_undelivered: counts.conversions_undelivered,
        malformed: parsed.malformed.len() as u64,
        ignored: parsed.ignored,
        resorted: ordered.resorted(),
    };
    Ok(Outcome {
        summary,
        malformed: parsed.malformed,
    })
}
