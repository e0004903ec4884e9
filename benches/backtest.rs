//! Backtest throughput: events per second through the full replay (parse,
//! order, classify, `Engine::decide`, summary) against a baseline that only
//! parses the same file. `cargo bench --bench backtest`.
//!
//! Target (issue 3): at least 500k events/s on one core.

use std::hint::black_box;
use std::time::Instant;

use tollgate::backtest::{self, Format, Options, Prices};
use tollgate::number::Classifier;
use tollgate::policy::{Engine, Policy};
use tollgate::simulate::{self, catalog, Config, Plans};

fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        n = black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, n)
}

fn main() {
    let cfg = Config {
        seed: 1,
        days: 3,
        daily_sessions: 100_000.0,
        campaigns: catalog::defaults(1),
        ..Config::default()
    };
    let t = Instant::now();
    let sim = simulate::run(&cfg, &Plans::embedded());
    let gen_s = t.elapsed().as_secs_f64();
    let mut buf = Vec::new();
    simulate::write_jsonl(&sim.events, &mut buf).expect("in-memory write");
    let text = String::from_utf8(buf).expect("utf-8");
    let events = sim.events.len();
    println!(
        "input: {} events, {:.1} MB of JSONL (simulated in {:.2} s: {:.0} events/s)",
        events,
        text.len() as f64 / 1e6,
        gen_s,
        events as f64 / gen_s
    );

    let (parse_s, n) = best_of(5, || {
        backtest::read::parse(&text, Format::Events)
            .map(|p| p.events.len())
            .unwrap_or(0)
    });
    assert_eq!(n, events);
    let parse_rate = events as f64 / parse_s;
    println!("baseline  parse only:                 {parse_rate:>12.0} events/s");

    let classifier = Classifier::embedded();
    let prices = Prices::embedded().expect("embedded prices");
    let opts = Options::default();
    let (full_s, n) = best_of(5, || {
        let engine = Engine::new(Policy::embedded().expect("embedded policy"), false);
        backtest::run(&text, &opts, &engine, &classifier, &prices, None)
            .map(|o| o.summary.total.sends as usize)
            .unwrap_or(0)
    });
    assert!(n > 0);
    let full_rate = events as f64 / full_s;
    println!("backtest  parse+order+classify+decide: {full_rate:>12.0} events/s");

    let (dec_s, _) = best_of(5, || {
        let engine = Engine::new(Policy::embedded().expect("embedded policy"), false);
        let mut sink = std::io::sink();
        backtest::run(&text, &opts, &engine, &classifier, &prices, Some(&mut sink))
            .map(|o| o.summary.total.sends as usize)
            .unwrap_or(0)
    });
    let dec_rate = events as f64 / dec_s;
    println!("backtest  + --decisions serialisation: {dec_rate:>12.0} events/s");
    println!(
        "ratio     backtest / parse-only: {:.2} (scoring costs {:.0} ns per event)",
        full_rate / parse_rate,
        (full_s - parse_s) / events as f64 * 1e9
    );
    println!(
        "target    500000 events/s on one core: {}",
        if full_rate >= 500_000.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
