//! What one decision records in the metrics (the decisions counter by
//! provider/route/action/country, one reason, the latency histogram), with
//! tollgate's hand-rolled `Metrics` against the `prometheus-client` crate
//! doing the same, on one thread and on two threads at once (the machines
//! are shared and noisy: read the ratio). Also one rendering of each.
//!
//! `cargo bench --bench metrics` (set `TOLLGATE_BENCH_N` for the operations
//! per thread).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tollgate::metrics::{Metrics, StoreGauges};

#[path = "common/mod.rs"]
mod common;

const ROUTES: [&str; 4] = [
    "twilio.messages",
    "twilio.verify",
    "vonage.sms",
    "plivo.message",
];
const ACTIONS: [&str; 3] = ["allow", "allow", "block"];
const COUNTRIES: [&str; 8] = ["GB", "US", "NG", "ID", "FR", "DE", "BR", "unknown"];
const REASONS: [&str; 3] = ["velocity.range", "geo.tier", "conversion.low"];
const BUCKETS: [f64; 12] = [
    0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    provider: String,
    route: String,
    action: String,
    country: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

struct Crate {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    reasons: Family<ReasonLabels, Counter>,
    latency: Histogram,
}

impl Crate {
    fn new() -> Crate {
        let mut registry = Registry::default();
        let decisions = Family::<DecisionLabels, Counter>::default();
        let reasons = Family::<ReasonLabels, Counter>::default();
        let latency = Histogram::new(BUCKETS.into_iter());
        registry.register("tollgate_decisions", "Decisions.", decisions.clone());
        registry.register("tollgate_decision_reasons", "Reasons.", reasons.clone());
        registry.register("tollgate_decision_seconds", "Latency.", latency.clone());
        Crate {
            registry,
            decisions,
            reasons,
            latency,
        }
    }

    fn decision(
        &self,
        route: &str,
        action: &str,
        country: &str,
        reason: &'static str,
        d: Duration,
    ) {
        let provider = route.split('.').next().unwrap_or("");
        self.decisions
            .get_or_create(&DecisionLabels {
                provider: provider.to_owned(),
                route: route.to_owned(),
                action: action.to_owned(),
                country: country.to_owned(),
            })
            .inc();
        self.reasons.get_or_create(&ReasonLabels { reason }).inc();
        self.latency.observe(d.as_secs_f64());
    }
}

fn args(
    i: usize,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Duration,
) {
    (
        ROUTES[i % 4],
        ACTIONS[i % 3],
        COUNTRIES[(i / 3) % 8],
        REASONS[i % 3],
        Duration::from_nanos(20_000 + (i as u64 % 64) * 1_000),
    )
}

/// ns per decision, `threads` threads each doing `n`.
fn run(threads: usize, n: usize, f: Arc<dyn Fn(usize) + Send + Sync>) -> f64 {
    let t = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|k| {
            let f = f.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    f(black_box(i * 7 + k));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let n: usize = common::env_or("TOLLGATE_BENCH_N", 2_000_000);
    println!("metrics per decision ({n} per thread; ns per decision per thread, best of 3)");
    for threads in [1, 2] {
        let mut ours = f64::MAX;
        let mut theirs = f64::MAX;
        for _ in 0..3 {
            let m = Arc::new(Metrics::default());
            ours = ours.min(run(
                threads,
                n,
                Arc::new(move |i| {
                    let (r, a, c, why, d) = args(i);
                    m.decision(r, a, c, [why], d);
                }),
            ));
            let p = Arc::new(Crate::new());
            theirs = theirs.min(run(
                threads,
                n,
                Arc::new(move |i| {
                    let (r, a, c, why, d) = args(i);
                    p.decision(r, a, c, why, d);
                }),
            ));
        }
        println!(
            "  {threads} thread(s): hand-rolled {ours:.0} ns, prometheus-client {theirs:.0} ns, ratio {:.2}; share of a 65 us request: {:.2}% vs {:.2}%",
            theirs / ours,
            ours / 650.0,
            theirs / 650.0
        );
    }
    let m = Metrics::default();
    let p = Crate::new();
    for i in 0..10_000 {
        let (r, a, c, why, d) = args(i);
        m.decision(r, a, c, [why], d);
        p.decision(r, a, c, why, d);
    }
    let t = Instant::now();
    for _ in 0..1000 {
        black_box(m.render(&StoreGauges::default()));
    }
    let ours = t.elapsed().as_micros() as f64 / 1000.0;
    let t = Instant::now();
    for _ in 0..1000 {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, &p.registry).unwrap();
        black_box(s);
    }
    let theirs = t.elapsed().as_micros() as f64 / 1000.0;
    println!("  one /metrics rendering (the same decisions): hand-rolled {ours:.1} us, prometheus-client {theirs:.1} us");
}
