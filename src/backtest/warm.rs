//! Warm start: history counted into a fresh engine before it scores.
//!
//! The engine's counters live in memory. A new deployment, or a single
//! instance restarted, would otherwise score its first day with no trusted
//! numbers (every returning user looks new), no learned conversion rates
//! and no hour-of-week baselines. Warming counts a log of what happened
//! (the `events` format, with conversions) through the engine's own
//! counting code at each event's time: every send as one that went out,
//! since the log says it did, and every conversion as typed in. Nothing is
//! scored, nothing reaches the replication stream (every replica warms
//! itself from the same file) and nothing is logged per event.

use super::event::Kind;
use super::order::Ordered;
use super::read::{self, Format};
use super::replay::{send_facts, Context};
use super::BacktestError;
use crate::clock::Timestamp;
use crate::number::Classifier;
use crate::policy::{Delivery, Engine};

/// What a warm start counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Warmed {
    pub sends: u64,
    pub conversions: u64,
    /// Events whose destination is not a number (a send still counts for
    /// its client context; a conversion is dropped).
    pub unparseable: u64,
    /// Events after `now`, left out: counting the future would push the
    /// counters' windows past the live clock.
    pub future: u64,
    /// Records that could not be read (skipped).
    pub malformed: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl std::fmt::Display for Warmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let day = |t: Option<Timestamp>| {
            t.map(|t| t.to_rfc3339().get(..10).unwrap_or("").to_string())
                .unwrap_or_else(|| "–".into())
        };
        write!(
            f,
            "{} sends and {} conversions from {} to {} ({} not numbers, {} after the start left out, {} malformed records skipped)",
            self.sends,
            self.conversions,
            day(self.first),
            day(self.last),
            self.unparseable,
            self.future,
            self.malformed
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WarmError {
    #[error("{0}")]
    Read(#[from] BacktestError),
    /// Sends and not one conversion: counted, they would teach the engine
    /// that nothing converts and hold every destination on its first day.
    #[error(
        "the history has {0} sends and no conversions: a Twilio Messages export alone cannot warm the conversion layer; use the `events` format with `conversion` events"
    )]
    NoConversions(u64),
}

/// Reads a log (`events` JSONL, or sniffed when `Auto`) and counts it into
/// `engine` (see [`warm`]); malformed records are skipped and counted.
pub fn warm_from(
    engine: &Engine,
    classifier: &Classifier,
    ctx: &Context,
    input: &str,
    format: Format,
    now: Timestamp,
) -> Result<Warmed, WarmError> {
    let parsed = read::parse(input, format)?;
    let malformed = parsed.malformed.len() as u64;
    let ordered = Ordered::arrange(parsed.events);
    let mut w = warm(engine, classifier, ctx, &ordered, now)?;
    w.malformed = malformed;
    Ok(w)
}

/// Counts `events` (in order) into `engine`, leaving out any after `now`.
pub fn warm(
    engine: &Engine,
    classifier: &Classifier,
    ctx: &Context,
    events: &Ordered<'_>,
    now: Timestamp,
) -> Result<Warmed, WarmError> {
    let (sends, conversions) =
        events
            .events()
            .iter()
            .fold((0u64, 0u64), |(s, c), e| match e.kind {
                Kind::Send => (s + 1, c),
                Kind::Conversion => (s, c + 1),
            });
    if sends > 0 && conversions == 0 {
        return Err(WarmError::NoConversions(sends));
    }
    let mut w = Warmed::default();
    for e in events.events() {
        if e.ts > now {
            w.future += 1;
            continue;
        }
        w.first.get_or_insert(e.ts);
        w.last = Some(e.ts);
        let number = classifier.parse_and_classify(&e.to, None);
        if number.is_err() {
            w.unparseable += 1;
        }
        match (e.kind, &number) {
            (Kind::Send, _) => {
                w.sends += 1;
                let facts = send_facts(ctx, e);
                engine.count_unscored(&facts, number.as_ref().ok(), Delivery::Sent, e.ts);
            }
            (Kind::Conversion, Ok(c)) => {
                w.conversions += 1;
                engine.count_unscored_conversion(c, e.ts);
            }
            (Kind::Conversion, Err(_)) => {}
        }
    }
    Ok(w)
}
