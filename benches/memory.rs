//! Resident memory after scoring 10 M distinct destinations (issue 5:
//! at most 200 MB), against the process's RSS before the first decision,
//! measured in the same run. Counters are bounded by design: this checks the
//! bound holds under a spray of never-seen numbers over a simulated day.
//!
//! The numbers are spread over their prefixes' whole ranges, as real users'
//! and a rotating spray's are, so that nearly every number also brings new
//! 1,000- and 10,000-number ranges: the range families fill to their
//! ceiling. `TOLLGATE_BENCH_SPREAD=sequential` counts up instead (ten
//! thousand numbers share a range), which fills only the number tables.
//!
//! `cargo bench --bench memory` (set `TOLLGATE_BENCH_DESTINATIONS`;
//! `TOLLGATE_BENCH_NUMBERS` and `TOLLGATE_BENCH_AGGREGATES` for the table
//! capacities of `[state]` in the serve config).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use tollgate::clock::Timestamp;
use tollgate::number::Classifier;
use tollgate::policy::counters::{Capacity, Counters};
use tollgate::policy::{Engine, Policy, SendFacts};
use tollgate::state::KeyHasher;

#[path = "common/mod.rs"]
mod common;

fn rss_mb() -> f64 {
    common::rss_bytes() as f64 / 1e6
}

/// Mobile prefixes of 30 countries and the digits after each (their
/// mobiles' E.164 lengths): the plans of `benches/proxy/fresh.lua`.
const PLANS: [(&str, u32); 30] = [
    ("4474", 8),
    ("4477", 8),
    ("4915", 9),
    ("4917", 8),
    ("336", 8),
    ("337", 8),
    ("393", 9),
    ("346", 8),
    ("3161", 7),
    ("4860", 7),
    ("2348", 9),
    ("2547", 8),
    ("2332", 8),
    ("9198", 8),
    ("9197", 8),
    ("6281", 9),
    ("8491", 7),
    ("6391", 8),
    ("5511", 9),
    ("5521", 9),
    ("5255", 8),
    ("5411", 9),
    ("9053", 8),
    ("7916", 7),
    ("38067", 7),
    ("6012", 7),
    ("2519", 8),
    ("6591", 7),
    ("8210", 8),
    ("8190", 8),
];

/// The `i`-th destination of a plan with `width` digits: counting up, or
/// spread over the whole plan by multiplying with a constant prime to 10
/// (a bijection modulo 10^width, so every destination is still distinct).
fn subscriber(i: u64, width: u32, spread: bool) -> u64 {
    let m = 10u64.pow(width);
    if spread {
        ((u128::from(i) * 2_862_933_555_777_941_757) % u128::from(m)) as u64
    } else {
        i % m
    }
}

fn main() {
    let n: u64 = common::env_or("TOLLGATE_BENCH_DESTINATIONS", 10_000_000);
    let spread = std::env::var("TOLLGATE_BENCH_SPREAD").map_or(true, |v| v != "sequential");
    let defaults = Capacity::default();
    let capacity = Capacity {
        numbers: common::env_or("TOLLGATE_BENCH_NUMBERS", defaults.numbers),
        aggregates: common::env_or("TOLLGATE_BENCH_AGGREGATES", defaults.aggregates),
    };
    let classifier = Classifier::embedded();
    let policy = Policy::embedded().unwrap_or_else(|e| panic!("{e}"));
    let engine =
        Engine::with_counters(policy, false, Counters::new(KeyHasher::seeded(3), capacity));
    let t0 = Timestamp(1_790_000_000_000);
    let rss0 = rss_mb();
    let started = Instant::now();
    let mut valid = 0u64;
    let mut digits = String::with_capacity(20);
    for i in 0..n {
        let (prefix, width) = PLANS[(i % PLANS.len() as u64) as usize];
        let rest = subscriber(i / PLANS.len() as u64, width, spread);
        digits.clear();
        let _ = write!(digits, "+{prefix}{rest:0w$}", w = width as usize);
        let number = classifier.parse_and_classify(&digits, None);
        valid += u64::from(number.as_ref().is_ok_and(|c| c.valid));
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
        "memory benchmark: {n} distinct destinations ({}, {valid} valid) scored in {:.1} s; \
         capacities {} numbers, {} keys per aggregate family",
        if spread {
            "spread over their ranges"
        } else {
            "counting up"
        },
        started.elapsed().as_secs_f64(),
        capacity.numbers,
        capacity.aggregates,
    );
    println!(
        "  RSS before scoring {rss0:.1} MB, after {rss1:.1} MB (x{:.2} of the baseline)",
        rss1 / rss0.max(1.0)
    );
    let mut tables = 0.0;
    for (name, size) in engine.counters().sizes() {
        let mb = size.bytes as f64 / 1e6;
        tables += mb;
        if mb >= 1.0 {
            println!(
                "  table {name:<12} {:>9} entries  {mb:>6.1} MB  (ceiling {:.1} MB)",
                size.entries,
                size.max_bytes as f64 / 1e6
            );
        }
    }
    println!(
        "  counter tables {tables:.1} MB; RSS outside them {:.1} MB",
        rss1 - tables
    );
    println!(
        "  target: <= 200 MB -> {}",
        if rss1 <= 200.0 { "met" } else { "NOT met" }
    );
}
