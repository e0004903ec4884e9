//! Resident memory after scoring 10 M distinct destinations (issue 5:
//! at most 200 MB), against the process's RSS before the first decision,
//! measured in the same run. Counters are bounded by design: this checks the
//! bound holds under a spray of never-seen numbers over a simulated day.
//!
//! `cargo bench --bench memory` (set `TOLLGATE_BENCH_DESTINATIONS`).

use std::hint::black_box;
use std::time::Instant;

use tollgate::clock::Timestamp;
use tollgate::number::Classifier;
use tollgate::policy::{Engine, Policy, SendFacts};

#[path = "common/mod.rs"]
mod common;

fn rss_mb() -> f64 {
    common::rss_bytes() as f64 / 1e6
}

fn main() {
    let n: u64 = common::env_or("TOLLGATE_BENCH_DESTINATIONS", 10_000_000);
    let classifier = Classifier::embedded();
    let engine = Engine::deterministic(Policy::embedded().unwrap_or_else(|e| panic!("{e}")), 3);
    // Valid mobile prefixes of ~30 countries; the last 7 digits vary, so
    // every destination is distinct and classifies as a real number.
    let prefixes = [
        "4474", "4475", "4477", "4478", "4915", "4916", "4917", "336", "337", "393", "346", "347",
        "3161", "4860", "4869", "2348", "2547", "2332", "2519", "9198", "9197", "6281", "6285",
        "8491", "6391", "5511", "5521", "5255", "5411", "9050", "9053", "7915", "7916", "380",
    ];
    let t0 = Timestamp(1_790_000_000_000);
    let rss0 = rss_mb();
    let started = Instant::now();
    for i in 0..n {
        let p = prefixes[(i % prefixes.len() as u64) as usize];
        let rest = i / prefixes.len() as u64;
        let digits = format!(
            "+{p}{:0width$}",
            rest % 10u64.pow(13 - p.len() as u32),
            width = 13 - p.len()
        );
        let number = classifier.parse_and_classify(&digits, None);
        let facts = SendFacts {
            route: "twilio.messages",
            provider: "twilio",
            channel: "sms",
            ..SendFacts::default()
        };
        // Spread over one simulated day.
        let now = t0.plus_seconds((i * 86_400 / n) as i64);
        black_box(engine.decide(&facts, number.as_ref(), now));
        if i > 0 && i % 2_000_000 == 0 {
            println!("  {:>9} destinations: RSS {:.1} MB", i, rss_mb());
        }
    }
    let rss1 = rss_mb();
    println!(
        "memory benchmark: {n} distinct destinations scored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  RSS before scoring {rss0:.1} MB, after {rss1:.1} MB (x{:.2} of the baseline)",
        rss1 / rss0.max(1.0)
    );
    println!(
        "  target: <= 200 MB -> {}",
        if rss1 <= 200.0 { "met" } else { "NOT met" }
    );
}
