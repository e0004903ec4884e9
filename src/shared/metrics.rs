//! Replication counters, rendered into `/metrics` next to the others.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lock-free: the outbox updates `buffered` and `dropped` on the hot path.
#[derive(Default)]
pub struct SharedMetrics {
    pub published_batches: AtomicU64,
    pub published_events: AtomicU64,
    pub publish_errors: AtomicU64,
    pub applied_batches: AtomicU64,
    pub applied_events: AtomicU64,
    pub read_errors: AtomicU64,
    /// Stream entries refused by the decoder (and skipped).
    pub malformed_batches: AtomicU64,
    /// Records dropped because the outbox was full.
    pub dropped: AtomicU64,
    /// Records waiting in the outbox.
    pub buffered: AtomicU64,
    /// Time between another replica's flush and its apply here, last batch.
    pub lag_ms: AtomicU64,
    /// 1 when the last publish or read succeeded, 0 when it failed.
    pub connected: AtomicU64,
}

impl crate::metrics::Exposition for SharedMetrics {
    fn render(&self, out: &mut String) {
        let families: [(&str, &str, &str, &AtomicU64); 11] = [
            (
                "tollgate_shared_published_batches_total",
                "counter",
                "Batches this replica published to the shared stream.",
                &self.published_batches,
            ),
            (
                "tollgate_shared_published_events_total",
                "counter",
                "Sends and conversions this replica published.",
                &self.published_events,
            ),
            (
                "tollgate_shared_publish_errors_total",
                "counter",
                "Failed publishes and connection attempts (retried with backoff).",
                &self.publish_errors,
            ),
            (
                "tollgate_shared_applied_batches_total",
                "counter",
                "Batches of other replicas counted here.",
                &self.applied_batches,
            ),
            (
                "tollgate_shared_applied_events_total",
                "counter",
                "Sends and conversions of other replicas counted here.",
                &self.applied_events,
            ),
            (
                "tollgate_shared_read_errors_total",
                "counter",
                "Failed stream reads and connection attempts (retried with backoff).",
                &self.read_errors,
            ),
            (
                "tollgate_shared_malformed_batches_total",
                "counter",
                "Stream entries that were not valid batches (skipped).",
                &self.malformed_batches,
            ),
            (
                "tollgate_shared_dropped_total",
                "counter",
                "Counted events dropped unpublished because the buffer was full.",
                &self.dropped,
            ),
            (
                "tollgate_shared_buffered_events",
                "gauge",
                "Counted events waiting to be published.",
                &self.buffered,
            ),
            (
                "tollgate_shared_apply_lag_seconds",
                "gauge",
                "Time from another replica's publish to its apply here (last batch).",
                &self.lag_ms,
            ),
            (
                "tollgate_shared_connected",
                "gauge",
                "1 when the last call to Redis succeeded, 0 when it failed.",
                &self.connected,
            ),
        ];
        for (name, kind, help, v) in families {
            let v = v.load(Ordering::Relaxed);
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if name.ends_with("_seconds") {
                let _ = writeln!(out, "{name} {}", v as f64 / 1000.0);
            } else {
                let _ = writeln!(out, "{name} {v}");
            }
        }
    }
}
