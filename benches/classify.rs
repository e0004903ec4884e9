//! Classification speed on never-seen, mixed-country numbers: tollgate's
//! classifier against the `phonenumber` crate in the same run, the cost of a
//! moka cache hit, and the resident memory of the classifier.
//!
//! `cargo bench --bench classify` (set `TOLLGATE_BENCH_N` for corpus size).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tollgate::number::{corpus, CachedClassifier, Classifier};

#[path = "common/mod.rs"]
mod common;
use common::rss_bytes;

fn ns_per(n: usize, t: std::time::Duration) -> f64 {
    t.as_nanos() as f64 / n as f64
}

fn main() {
    let n: usize = common::env_or("TOLLGATE_BENCH_N", 500_000);

    let rss0 = rss_bytes();
    let t = Instant::now();
    let classifier = Classifier::embedded();
    let build = t.elapsed();
    let rss1 = rss_bytes();
    println!(
        "classifier build: {:.2} ms; RSS +{:.2} MB (heap_bytes {:.2} MB)",
        build.as_secs_f64() * 1e3,
        (rss1.saturating_sub(rss0)) as f64 / 1e6,
        classifier.heap_bytes() as f64 / 1e6
    );

    // Never-seen numbers: a fresh seed, random order (all territories mixed).
    let numbers: Vec<String> = corpus::mixed(&classifier, 0xBE7C4, n)
        .into_iter()
        .map(|s| format!("+{s}"))
        .collect();
    let parsed: Vec<_> = numbers
        .iter()
        .filter_map(|s| classifier.parse(s, None).ok())
        .collect();

    // Warm-up pass over a different corpus so the tables are in cache as
    // they would be in a running proxy.
    for s in corpus::mixed(&classifier, 1, 50_000) {
        if let Ok(e) = classifier.parse(&format!("+{s}"), None) {
            black_box(classifier.classify(&e));
        }
    }

    let t = Instant::now();
    let mut valid = 0usize;
    for e in &parsed {
        valid += usize::from(black_box(classifier.classify(black_box(e))).valid);
    }
    let ours_classify = ns_per(parsed.len(), t.elapsed());

    let t = Instant::now();
    for s in &numbers {
        if let Ok(e) = classifier.parse(black_box(s), None) {
            black_box(classifier.classify(&e));
        }
    }
    let ours_full = ns_per(numbers.len(), t.elapsed());
    println!(
        "tollgate: {} numbers ({:.1}% valid): classify {:.0} ns/number, parse+classify {:.0} ns/number",
        parsed.len(),
        valid as f64 * 100.0 / parsed.len() as f64,
        ours_classify,
        ours_full
    );

    // The reference, on the same mixed order (its regex LRU of 100 entries
    // misses on almost every number). A prefix of the corpus is enough.
    let m = (n / 100).clamp(1_000, 5_000);
    let db = &*phonenumber::metadata::DATABASE;
    let t = Instant::now();
    for s in numbers.iter().take(m) {
        if let Ok(p) = phonenumber::parse(None, black_box(s)) {
            black_box(p.is_valid_with(db));
            black_box(p.number_type(db));
        }
    }
    let reference = ns_per(m, t.elapsed());
    println!(
        "phonenumber 0.3: {m} numbers: parse+valid+type {:.0} ns/number; ratio {:.0}x slower than tollgate",
        reference,
        reference / ours_full
    );

    // Cache: misses (classify + insert), then hits on the same numbers.
    let k = parsed.len().min(200_000);
    let cached = CachedClassifier::new(Arc::new(Classifier::embedded()), 1_000_000);
    let t = Instant::now();
    for e in parsed.iter().take(k) {
        black_box(cached.classify(e));
    }
    let miss = ns_per(k, t.elapsed());
    let t = Instant::now();
    for e in parsed.iter().take(k) {
        black_box(cached.classify(e));
    }
    let hit = ns_per(k, t.elapsed());
    println!(
        "moka cache: miss+insert {miss:.0} ns, hit {hit:.0} ns, uncached classify {ours_classify:.0} ns \
         (a hit is {:.1}x the cost of classifying)",
        hit / ours_classify
    );

    // Resident size with the reference crate's database loaded, for scale.
    println!("RSS at end: {:.1} MB", rss_bytes() as f64 / 1e6);
}
