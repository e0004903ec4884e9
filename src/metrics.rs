//! Prometheus metrics, rendered by hand (a handful of families; no registry
//! crate needed). Each family sits behind one short lock per update.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25, 1.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    total: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += s;
        self.total += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.total
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.total);
    }
}

/// Decision counters. One lock per decision for all of them, and keys are
/// looked up by `&str` first: a label set allocates only the first time it
/// is seen.
#[derive(Default)]
struct Decisions {
    /// route → action → country → count.
    counts: BTreeMap<String, BTreeMap<&'static str, BTreeMap<String, u64>>>,
    reasons: BTreeMap<&'static str, u64>,
    latency: Histogram,
}

#[derive(Default)]
pub struct Metrics {
    decisions: Mutex<Decisions>,
    upstream_latency: Mutex<BTreeMap<String, Histogram>>,
    upstream_errors: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Families owned by optional parts (shared counters), rendered last.
    attached: Mutex<Vec<Arc<dyn Exposition>>>,
}

/// A part that renders its own metric families.
pub trait Exposition: Send + Sync {
    fn render(&self, out: &mut String);
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The entry for `key`, allocating an owned key only when it is new.
fn slot<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

impl Metrics {
    pub fn decision(
        &self,
        route: &str,
        action: &'static str,
        country: &str,
        reasons: impl IntoIterator<Item = &'static str>,
        latency: Duration,
    ) {
        let mut d = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        let by_action = slot(&mut d.counts, route);
        *slot(by_action.entry(action).or_default(), country) += 1;
        for r in reasons {
            *d.reasons.entry(r).or_default() += 1;
        }
        d.latency.observe(latency);
    }

    /// Renders `part`'s families in every exposition from now on.
    pub fn attach(&self, part: Arc<dyn Exposition>) {
        self.attached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(part);
    }

    pub fn upstream(&self, upstream: &str, latency: Duration) {
        if let Ok(mut m) = self.upstream_latency.lock() {
            slot(&mut m, upstream).observe(latency);
        }
    }

    pub fn upstream_error(&self, upstream: &str, kind: &'static str) {
        if let Ok(mut m) = self.upstream_errors.lock() {
            *m.entry((upstream.to_owned(), kind)).or_default() += 1;
        }
    }

    /// The exposition text. `held` is the current queue depth.
    pub fn render(&self, held: u64, audit_dropped: u64) -> String {
        let mut out = String::new();
        out.push_str("# HELP tollgate_decisions_total Decisions by route, provider, action and country.\n# TYPE tollgate_decisions_total counter\n");
        let d = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        for (route, by_action) in &d.counts {
            let provider = route.split('.').next().unwrap_or("");
            for (action, by_country) in by_action {
                for (country, n) in by_country {
                    let _ = writeln!(
                        out,
                        "tollgate_decisions_total{{provider=\"{}\",route=\"{}\",action=\"{}\",country=\"{}\"}} {n}",
                        esc(provider),
                        esc(route),
                        esc(action),
                        esc(country)
                    );
                }
            }
        }
        out.push_str("# HELP tollgate_decision_reasons_total Reasons given, by code.\n# TYPE tollgate_decision_reasons_total counter\n");
        for (r, n) in &d.reasons {
            let _ = writeln!(
                out,
                "tollgate_decision_reasons_total{{reason=\"{}\"}} {n}",
                esc(r)
            );
        }
        out.push_str("# HELP tollgate_decision_seconds Time from request to decision.\n# TYPE tollgate_decision_seconds histogram\n");
        d.latency.render(&mut out, "tollgate_decision_seconds", "");
        drop(d);
        out.push_str("# HELP tollgate_upstream_seconds Upstream answer time, by upstream.\n# TYPE tollgate_upstream_seconds histogram\n");
        if let Ok(m) = self.upstream_latency.lock() {
            for (u, h) in m.iter() {
                h.render(
                    &mut out,
                    "tollgate_upstream_seconds",
                    &format!("upstream=\"{}\"", esc(u)),
                );
            }
        }
        out.push_str("# HELP tollgate_upstream_errors_total Upstream failures, by upstream and kind.\n# TYPE tollgate_upstream_errors_total counter\n");
        if let Ok(m) = self.upstream_errors.lock() {
            for ((u, k), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "tollgate_upstream_errors_total{{upstream=\"{}\",kind=\"{k}\"}} {n}",
                    esc(u)
                );
            }
        }
        let _ = writeln!(out, "# HELP tollgate_held_sends Sends waiting for review.\n# TYPE tollgate_held_sends gauge\ntollgate_held_sends {held}");
        let _ = writeln!(
            out,
            "# HELP tollgate_audit_dropped_total Audit rows dropped because the writer could not keep up.\n# TYPE tollgate_audit_dropped_total counter\ntollgate_audit_dropped_total {audit_dropped}"
        );
        for part in self
            .attached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            part.render(&mut out);
        }
        out
    }
}
