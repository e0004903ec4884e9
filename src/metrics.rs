//! Prometheus metrics, rendered by hand (a handful of families; no registry
//! crate needed). Each family sits behind one short lock per update.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod state;

pub use state::{TableGauges, TableSize};

/// What `/metrics` reads from the store at each scrape.
#[derive(Default, Clone, Debug)]
pub struct StoreGauges {
    /// Sends waiting for review.
    pub held: u64,
    /// Age of the oldest waiting send, in seconds (0 when none).
    pub held_oldest_seconds: f64,
    /// Waiting sends past their deadline (expiry not yet applied).
    pub held_overdue: u64,
    /// Rows per SQLite table.
    pub tables: Vec<(&'static str, u64)>,
    /// Audit rows dropped because the writer could not keep up.
    pub audit_dropped: u64,
}

/// FNV-1a, 64 bits, as hex: a stable identity for a policy text (the same
/// on every replica and every build, unlike std's hasher).
pub fn text_hash(text: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Upper bounds of the latency histogram buckets, in nanoseconds (an
/// observation's bucket is found with integer comparisons; the exposition
/// prints them in seconds).
const BUCKET_NANOS: [u64; 12] = [
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    50_000_000,
    250_000_000,
    1_000_000_000,
];

/// Counts per bucket, not cumulative: an observation increments one
/// bucket (the first whose bound it is within); rendering sums them.
#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKET_NANOS.len()],
    sum: f64,
    total: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if let Some(i) = BUCKET_NANOS.iter().position(|&b| nanos <= b) {
            self.counts[i] += 1;
        }
        self.sum += d.as_secs_f64();
        self.total += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, n) in BUCKET_NANOS.iter().zip(self.counts) {
            cumulative += n;
            let le = *b as f64 / 1e9;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
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

/// Decision counters. One lock per decision for all of them. Routes and
/// actions are few: they are found by a [`scan`] of a short list, where
/// ordered maps compared whole strings at every level; the exposition
/// sorts them.
#[derive(Default)]
struct Decisions {
    /// route → action → country → count.
    counts: Vec<(String, ByAction)>,
    reasons: BTreeMap<&'static str, u64>,
    latency: Histogram,
}

/// action → country → count.
type ByAction = Vec<(&'static str, BTreeMap<String, u64>)>;

#[derive(Default)]
pub struct Metrics {
    decisions: Mutex<Decisions>,
    /// The price of a send to a country (ISO code), for the cost of the
    /// sends tollgate stopped; passed down by whoever holds the price table
    /// (this module is a leaf). None: not counted.
    prices: Option<PriceOf>,
    /// The table's currency, for the HELP text.
    currency: String,
    /// Country → cost of the blocked sends (not in shadow mode).
    stopped: Mutex<BTreeMap<String, f64>>,
    /// Country → (sends let through because its friction budget was
    /// spent, whether its latest soft stop was so let through).
    friction: Mutex<BTreeMap<String, (u64, bool)>>,
    /// Identity of the running policy (FNV-1a of its text), for comparing
    /// replicas.
    policy_hash: Mutex<String>,
    /// Per upstream name, found by a scan as routes are.
    upstream_latency: Mutex<Vec<(String, Histogram)>>,
    upstream_errors: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Families owned by optional parts (shared counters), rendered last.
    attached: Mutex<Vec<Arc<dyn Exposition>>>,
}

/// The price of one send to a country (ISO code or "unknown").
pub type PriceOf = Box<dyn Fn(&str) -> f64 + Send + Sync>;

/// A part that renders its own metric families.
pub trait Exposition: Send + Sync {
    fn render(&self, out: &mut String);
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Adds one to `key`'s count, allocating an owned key only when it is new
/// (one search when it is not).
fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// The value for `key` in a short list, added (with an owned key) when new.
fn scan<'m, K: AsRef<str>, V>(
    list: &'m mut Vec<(K, V)>,
    key: &str,
    new: impl FnOnce() -> (K, V),
) -> &'m mut V {
    let i = match list.iter().position(|(k, _)| k.as_ref() == key) {
        Some(i) => i,
        None => {
            list.push(new());
            list.len() - 1
        }
    };
    &mut list[i].1
}

impl Metrics {
    /// Counts the cost of stopped sends at `price` (in `currency`).
    pub fn with_prices(currency: &str, price: PriceOf) -> Metrics {
        Metrics {
            prices: Some(price),
            currency: currency.to_owned(),
            ..Metrics::default()
        }
    }

    /// A send to `country` (ISO code or "unknown") was stopped: adds its
    /// price to the country's stopped cost.
    pub fn stopped(&self, country: &str) {
        let Some(price_of) = &self.prices else { return };
        let price = price_of(country);
        let mut m = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(country) {
            Some(v) => *v += price,
            None => {
                m.insert(country.to_owned(), price);
            }
        }
    }

    /// A soft stop in `country` was decided: `degraded` when the friction
    /// budget turned it into a probe, otherwise it stopped within budget.
    pub fn friction(&self, country: &str, degraded: bool) {
        let mut m = self.friction.lock().unwrap_or_else(|p| p.into_inner());
        // A country gets series once one of its sends was degraded.
        if let Some(e) = m.get_mut(country) {
            e.0 += u64::from(degraded);
            e.1 = degraded;
        } else if degraded {
            m.insert(country.to_owned(), (1, true));
        }
    }

    /// Records the identity of the policy just loaded from `path` (the
    /// compiled-in default when None). Called after a successful load or
    /// reload; a file that cannot be read leaves the identity as it was.
    pub fn policy_loaded(&self, path: Option<&std::path::Path>, embedded: &str) {
        match path {
            Some(p) => {
                if let Ok(text) = std::fs::read(p) {
                    self.set_policy(&text);
                }
            }
            None => self.set_policy(embedded.as_bytes()),
        }
    }

    /// Records the identity of the policy now running (its text's hash).
    pub fn set_policy(&self, text: &[u8]) {
        *self.policy_hash.lock().unwrap_or_else(|p| p.into_inner()) = text_hash(text);
    }

    pub fn decision(
        &self,
        route: &str,
        action: &'static str,
        country: &str,
        reasons: impl IntoIterator<Item = &'static str>,
        latency: Duration,
    ) {
        let mut d = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        let by_action = scan(&mut d.counts, route, || (route.to_owned(), Vec::new()));
        let by_country = scan(by_action, action, || (action, BTreeMap::new()));
        bump(by_country, country);
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
            scan(&mut m, upstream, || {
                (upstream.to_owned(), Histogram::default())
            })
            .observe(latency);
        }
    }

    pub fn upstream_error(&self, upstream: &str, kind: &'static str) {
        if let Ok(mut m) = self.upstream_errors.lock() {
            *m.entry((upstream.to_owned(), kind)).or_default() += 1;
        }
    }

    /// The exposition text; `g` is what the store holds now. Every family
    /// prints its HELP and TYPE lines even with no sample yet.
    pub fn render(&self, g: &StoreGauges) -> String {
        let mut out = String::new();
        out.push_str("# HELP tollgate_decisions_total Decisions by route, provider, action and country.\n# TYPE tollgate_decisions_total counter\n");
        let d = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        let mut routes: Vec<_> = d.counts.iter().collect();
        routes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (route, by_action) in routes {
            let provider = route.split('.').next().unwrap_or("");
            let mut by_action: Vec<_> = by_action.iter().collect();
            by_action.sort_unstable_by_key(|(action, _)| *action);
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
            let mut m: Vec<_> = m.iter().collect();
            m.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            for (u, h) in m {
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
        let _ = writeln!(out, "# HELP tollgate_held_sends Sends waiting for review.\n# TYPE tollgate_held_sends gauge\ntollgate_held_sends {}", g.held);
        let _ = writeln!(out, "# HELP tollgate_held_oldest_seconds Age of the oldest send waiting for review (0 when none).\n# TYPE tollgate_held_oldest_seconds gauge\ntollgate_held_oldest_seconds {}", g.held_oldest_seconds);
        let _ = writeln!(out, "# HELP tollgate_held_overdue_sends Sends still waiting for review past their deadline.\n# TYPE tollgate_held_overdue_sends gauge\ntollgate_held_overdue_sends {}", g.held_overdue);
        out.push_str("# HELP tollgate_store_rows Rows per table of the SQLite store.\n# TYPE tollgate_store_rows gauge\n");
        for (t, n) in &g.tables {
            let _ = writeln!(out, "tollgate_store_rows{{table=\"{t}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_audit_dropped_total Audit rows dropped because the writer could not keep up.\n# TYPE tollgate_audit_dropped_total counter\ntollgate_audit_dropped_total {}",
            g.audit_dropped
        );
        let currency = if self.currency.is_empty() {
            "USD"
        } else {
            self.currency.as_str()
        };
        {
            let friction = self.friction.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(out, "# HELP tollgate_friction_budget_exhausted 1 while the country's latest soft stop went out as a probe because its friction budget ([economics] friction_budget) was spent.\n# TYPE tollgate_friction_budget_exhausted gauge");
            for (c, (_, on)) in friction.iter() {
                let _ = writeln!(
                    out,
                    "tollgate_friction_budget_exhausted{{country=\"{}\"}} {}",
                    esc(c),
                    u8::from(*on)
                );
            }
            let _ = writeln!(out, "# HELP tollgate_friction_degraded_total Sends let through as probes because the country's friction budget was spent.\n# TYPE tollgate_friction_degraded_total counter");
            for (c, (n, _)) in friction.iter() {
                let _ = writeln!(
                    out,
                    "tollgate_friction_degraded_total{{country=\"{}\"}} {n}",
                    esc(c)
                );
            }
        }
        let _ = writeln!(out, "# HELP tollgate_stopped_cost_total What the blocked sends would have cost, by destination country ({currency}, policies/prices.toml; not counted in shadow mode).\n# TYPE tollgate_stopped_cost_total counter");
        for (c, v) in self
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tollgate_stopped_cost_total{{country=\"{}\"}} {v}",
                esc(c)
            );
        }
        let hash = self
            .policy_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        out.push_str("# HELP tollgate_policy_info The running policy's identity (FNV-1a of its text); replicas of one deployment should agree.\n# TYPE tollgate_policy_info gauge\n");
        if !hash.is_empty() {
            let _ = writeln!(out, "tollgate_policy_info{{hash=\"{hash}\"}} 1");
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_is_sorted_and_buckets_cumulative() {
        let m = Metrics::default();
        let us = Duration::from_micros;
        m.decision("vonage.sms", "block", "NG", ["velocity.range"], us(30));
        m.decision("twilio.messages", "allow", "unknown", [], us(10));
        m.decision("twilio.messages", "allow", "GB", [], us(25));
        m.decision(
            "twilio.messages",
            "block",
            "GB",
            ["geo.tier", "velocity.range"],
            us(2_000_000),
        );
        m.decision("twilio.messages", "allow", "GB", [], us(60));
        m.upstream("twilio-api", us(300));
        m.upstream("plivo-api", us(1));
        let text = m.render(&StoreGauges::default());
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let counts: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with("tollgate_decisions_total"))
            .copied()
            .collect();
        assert_eq!(
            counts,
            [
                "tollgate_decisions_total{provider=\"twilio\",route=\"twilio.messages\",action=\"allow\",country=\"GB\"} 2",
                "tollgate_decisions_total{provider=\"twilio\",route=\"twilio.messages\",action=\"allow\",country=\"unknown\"} 1",
                "tollgate_decisions_total{provider=\"twilio\",route=\"twilio.messages\",action=\"block\",country=\"GB\"} 1",
                "tollgate_decisions_total{provider=\"vonage\",route=\"vonage.sms\",action=\"block\",country=\"NG\"} 1",
            ]
        );
        assert!(lines.contains(&"tollgate_decision_reasons_total{reason=\"velocity.range\"} 2"));
        let buckets: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with("tollgate_decision_seconds_bucket"))
            .map(|l| l.rsplit(' ').next().unwrap())
            .collect();
        // 10 µs, 25 µs (on the bound), 30 µs, 60 µs, then 2 s (only +Inf).
        assert_eq!(
            buckets,
            ["2", "3", "4", "4", "4", "4", "4", "4", "4", "4", "4", "4", "5"]
        );
        assert!(lines.contains(&"tollgate_decision_seconds_count{} 5"));
        let upstreams: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with("tollgate_upstream_seconds_count"))
            .copied()
            .collect();
        assert_eq!(
            upstreams,
            [
                "tollgate_upstream_seconds_count{upstream=\"plivo-api\"} 1",
                "tollgate_upstream_seconds_count{upstream=\"twilio-api\"} 1",
            ]
        );
    }

    #[test]
    fn stopped_cost_and_policy_identity() {
        // A leaf's test: a price table of two entries.
        let m = Metrics::with_prices("USD", Box::new(|c| if c == "NG" { 0.319 } else { 0.1 }));
        m.stopped("NG");
        m.stopped("NG");
        m.stopped("unknown");
        m.set_policy(b"[thresholds]\n");
        m.friction("GH", false);
        m.friction("KZ", true);
        m.friction("KZ", true);
        m.friction("KZ", false);
        let text = m.render(&StoreGauges {
            held: 2,
            held_oldest_seconds: 61.5,
            tables: vec![("held", 3)],
            ..StoreGauges::default()
        });
        let ng = 0.319 * 2.0;
        assert!(
            text.contains(&format!(
                "tollgate_stopped_cost_total{{country=\"NG\"}} {ng}"
            )),
            "{text}"
        );
        assert!(
            text.contains("tollgate_stopped_cost_total{country=\"unknown\"} 0.1"),
            "{text}"
        );
        assert!(text.contains(&format!(
            "tollgate_policy_info{{hash=\"{}\"}} 1",
            text_hash(b"[thresholds]\n")
        )));
        assert!(text.contains("tollgate_held_oldest_seconds 61.5\n"));
        // A country never degraded has no series; one that was has its
        // count, and its gauge follows its latest soft stop.
        assert!(!text.contains("country=\"GH\""), "{text}");
        assert!(text.contains("tollgate_friction_degraded_total{country=\"KZ\"} 2\n"));
        assert!(text.contains("tollgate_friction_budget_exhausted{country=\"KZ\"} 0\n"));
        assert!(text.contains("tollgate_store_rows{table=\"held\"} 3\n"));
        // FNV-1a's published test vector: the hash is stable across builds.
        assert_eq!(text_hash(b"a"), "af63dc4c8601ec8c");
        // No prices, no policy: the families are still declared.
        let empty = Metrics::default().render(&StoreGauges::default());
        for family in [
            "tollgate_stopped_cost_total",
            "tollgate_policy_info",
            "tollgate_store_rows",
        ] {
            assert!(empty.contains(&format!("# TYPE {family} ")), "{family}");
        }
    }
}
