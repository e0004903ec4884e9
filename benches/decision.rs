//! One full decision — parse, classify and every scoring layer on in-memory
//! state — on never-seen, mixed-country numbers, against classification
//! alone measured in the same run (the machines are shared and noisy: read
//! the ratio, and the absolute figures with that in mind).
//!
//! `cargo bench --bench decision` (set `TOLLGATE_BENCH_N` for corpus size).
//! Target (issue 5): median at most 5 µs per decision.

use std::hint::black_box;
use std::time::Instant;

use tollgate::clock::Timestamp;
use tollgate::number::{corpus, Classifier};
use tollgate::policy::{Engine, Policy, SendFacts};

#[path = "common/mod.rs"]
mod common;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn main() {
    let n: usize = common::env_or("TOLLGATE_BENCH_N", 300_000);
    let classifier = Classifier::embedded();
    let numbers: Vec<String> = corpus::mixed(&classifier, 0xDEC1, n)
        .into_iter()
        .map(|s| format!("+{s}"))
        .collect();
    let ips: Vec<String> = (0..4096)
        .map(|i| format!("203.0.{}.{}", i / 256, i % 256))
        .collect();
    let policy = Policy::embedded().unwrap_or_else(|e| panic!("{e}"));
    let engine = Engine::deterministic(policy, 1);
    let t0 = Timestamp(1_790_000_000_000);
    // One Twilio send from one of 4096 client IPs.
    let facts = |i: usize| SendFacts {
        route: "twilio.messages",
        provider: "twilio",
        channel: "sms",
        account: Some("AC1"),
        client_ip: Some(ips[i % ips.len()].as_str()),
        ..SendFacts::default()
    };

    // Warm up both paths on a different corpus (tables and allocator hot,
    // counters populated as in a running proxy).
    for (i, s) in corpus::mixed(&classifier, 7, 100_000).iter().enumerate() {
        if let Ok(c) = classifier.parse_and_classify(&format!("+{s}"), None) {
            let facts = facts(i);
            black_box(engine.decide(&facts, Ok(&c), t0.plus_seconds(i as i64 / 50)));
        }
    }

    // Baseline: parse + classify only.
    let mut base = Vec::with_capacity(n);
    for s in &numbers {
        let t = Instant::now();
        let r = classifier.parse_and_classify(s, None);
        black_box(&r);
        base.push(t.elapsed().as_nanos() as u64);
    }

    // Full decision: parse + classify + engine (every layer, counters updated).
    let mut full = Vec::with_capacity(n);
    let start = Instant::now();
    for (i, s) in numbers.iter().enumerate() {
        let facts = facts(i);
        let now = t0.plus_seconds(2000 + i as i64 / 50);
        let t = Instant::now();
        let number = classifier.parse_and_classify(s, None);
        let d = engine.decide(&facts, number.as_ref(), now);
        black_box(&d);
        full.push(t.elapsed().as_nanos() as u64);
    }
    let wall = start.elapsed();
    base.sort_unstable();
    full.sort_unstable();
    let (b50, f50) = (percentile(&base, 0.5), percentile(&full, 0.5));
    println!("decision benchmark: {n} never-seen numbers, mixed countries (one core)");
    println!(
        "  classify only   median {:>6} ns   p99 {:>6} ns",
        b50,
        percentile(&base, 0.99)
    );
    println!(
        "  full decision   median {:>6} ns   p99 {:>6} ns   ({:.0} decisions/s incl. timing)",
        f50,
        percentile(&full, 0.99),
        n as f64 / wall.as_secs_f64()
    );
    println!(
        "  ratio full/classify (median): {:.2}x",
        f50 as f64 / b50.max(1) as f64
    );
    println!(
        "  target: median <= 5000 ns -> {}",
        if f50 <= 5000 { "met" } else { "NOT met" }
    );
}
