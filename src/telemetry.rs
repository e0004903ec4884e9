//! Structured logs: JSON lines on stdout, one per decision, numbers masked
//! and credentials never written.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::metrics::Metrics;
use crate::number::Classification;
use crate::policy::Decision;
use crate::store::{AuditLog, AuditRow};

/// Keeps the log writer thread alive; dropping it flushes what is queued.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// Installs the JSON subscriber. `RUST_LOG` filters (default `info`).
///
/// Lines are handed to a writer thread, so request threads never wait on
/// the stdout lock; the queue is not lossy (a decision line is evidence), so
/// only a stdout that stops draining altogether can slow tollgate down.
pub fn init() -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(64 * 1024)
        .finish(std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_writer(writer)
        .try_init();
    guard
}

/// One decision, as logged.
pub struct DecisionRecord<'a> {
    pub route: &'a str,
    pub provider: &'a str,
    pub channel: &'a str,
    /// Already masked.
    pub to: String,
    pub number: Option<&'a Classification>,
    pub decision: &'a Decision,
    /// `forwarded`, `rejected`, `dropped`, `shadow_forwarded`.
    pub outcome: &'a str,
    pub shadow: bool,
    pub latency: Duration,
    /// Where the audit row goes, if anywhere.
    pub audit: Option<&'a AuditLog>,
    pub metrics: &'a Metrics,
    pub now: Timestamp,
}

pub fn record_decision(r: &DecisionRecord<'_>) {
    let country = r.number.and_then(|n| n.region).map(|c| c.to_string());
    let line_type = r
        .number
        .map(|n| n.line_type.as_str())
        .unwrap_or("unparseable");
    let reasons = r.decision.codes().join(",");
    tracing::info!(
        target: "tollgate::decision",
        route = r.route,
        provider = r.provider,
        channel = r.channel,
        to = %r.to,
        country = country.as_deref().unwrap_or("unknown"),
        line_type,
        action = r.decision.action.as_str(),
        outcome = r.outcome,
        shadow = r.shadow,
        score = r.decision.score,
        reasons = %reasons,
        latency_us = r.latency.as_micros() as u64,
        "decision"
    );
    r.metrics.decision(
        r.route,
        r.decision.action.as_str(),
        country.as_deref().unwrap_or("unknown"),
        &r.decision.codes(),
        r.latency,
    );
    if let Some(audit) = r.audit {
        audit.record(AuditRow {
            ts: r.now.millis(),
            route: r.route.to_owned(),
            provider: r.provider.to_owned(),
            country,
            line_type: line_type.to_owned(),
            action: r.decision.action.as_str().to_owned(),
            outcome: r.outcome.to_owned(),
            score: r.decision.score,
            reasons: r.decision.codes().iter().map(|c| (*c).to_owned()).collect(),
            to: r.to.clone(),
            shadow: r.shadow,
        });
    }
}

/// A destination for logs: calling code and last two digits when it parsed,
/// otherwise only its length.
pub fn mask_destination(number: Option<&Classification>, raw: &str) -> String {
    match number {
        Some(n) => n.masked(),
        None => format!("<unparseable:{} chars>", raw.chars().count()),
    }
}
