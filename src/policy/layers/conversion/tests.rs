//! The probe schedule and the drift evidence, in isolation.

use super::probes::ProbeSchedule;
use super::*;
use crate::clock::Timestamp;
use crate::number::Region;

const HOUR_MS: i64 = 3_600_000;

fn probes(schedule: ProbeSchedule, upto: u64, answered: bool) -> Vec<u64> {
    (1..=upto)
        .filter(|&n| schedule.interval(n, answered).is_some())
        .collect()
}

#[test]
fn probe_schedule_doubles_its_interval_every_backoff_probes_up_to_a_cap() {
    let flat = ProbeSchedule {
        every: 20,
        backoff: 0,
    };
    assert_eq!(probes(flat, 100, false), [20, 40, 60, 80, 100]);
    let backoff = ProbeSchedule {
        every: 2,
        backoff: 2,
    };
    assert_eq!(probes(backoff, 30, false), [2, 4, 8, 12, 20, 28]);
    assert_eq!(probes(backoff, 8, true), [2, 4, 6, 8]);
    // After six doublings the interval stays at 64 × every.
    let start: u64 = (0..6).map(|s| (2 * 2) << s).sum();
    assert_eq!(backoff.interval(start + 128, false), Some(128));
    assert_eq!(backoff.interval(start + 256, false), Some(128));
    assert_eq!(backoff.interval(start + 64, false), None);
    assert_eq!(
        ProbeSchedule {
            every: 0,
            backoff: 2
        }
        .interval(4, false),
        None
    );
}

/// A country with 100 sends an hour converting at 80% for a week, then
/// `campaign` hours (sends, conversions); returns the rates and the
/// hour after the last.
fn history(campaign: &[(u32, u32)]) -> (ConversionRates, Timestamp) {
    let mut rates = ConversionRates::default();
    let ng = Region::parse("NG").expect("NG");
    let mut hour = 480_000i64;
    for _ in 0..168 {
        rates.observe(ng, true, Timestamp(hour * HOUR_MS), 100, 80);
        hour += 1;
    }
    for &(n, c) in campaign {
        rates.observe(ng, true, Timestamp(hour * HOUR_MS), n, c);
        hour += 1;
    }
    // An event in the next hour folds the last one in.
    rates.observe(ng, true, Timestamp(hour * HOUR_MS), 0, 0);
    (rates, Timestamp(hour * HOUR_MS + 60_000))
}

fn cusum(release: f64, cap: f64) -> Cusum {
    Cusum {
        ratio: 0.8,
        threshold: 7.0,
        release,
        cap,
        hours: 24,
    }
}

fn evidence(campaign: &[(u32, u32)], c: &Cusum) -> Evidence {
    let (rates, now) = history(campaign);
    let ng = Region::parse("NG").expect("NG");
    rates
        .evidence(ng, true, now, c, 500.0)
        .expect("a learned rate")
}

#[test]
fn a_drift_fires_on_hours_that_are_each_only_a_little_off() {
    // 70% instead of 80%: no single hour is far off.
    let quiet = evidence(&[(100, 80); 6], &cusum(7.0, f64::INFINITY));
    assert!(!quiet.on && quiet.llr == 0.0, "{quiet:?}");
    let e = evidence(&[(100, 70); 6], &cusum(7.0, f64::INFINITY));
    assert!(e.on && e.llr >= 7.0 && e.hours == 6, "{e:?}");
    assert!((e.p0 - 0.8).abs() < 0.01);
}

#[test]
fn hysteresis_keeps_a_fired_drift_on_through_a_better_hour() {
    let mut hours = vec![(100, 70); 6];
    hours.push((100, 79));
    let plain = evidence(&hours, &cusum(7.0, f64::INFINITY));
    let sticky = evidence(&hours, &cusum(3.0, f64::INFINITY));
    assert!(plain.llr < 7.0 && !plain.on, "{plain:?}");
    assert!(sticky.on, "{sticky:?}");
    assert_eq!(plain.llr, sticky.llr);
}

#[test]
fn the_cap_lets_a_long_campaign_go_soon_after_it_ends() {
    // 65%: far enough off (3.75σ an hour) not to be learned from.
    let mut hours = vec![(100, 65); 20];
    hours.extend([(100, 80); 3]);
    let uncapped = evidence(&hours, &cusum(3.0, f64::INFINITY));
    let capped = evidence(&hours, &cusum(3.0, 10.0));
    assert!(uncapped.on, "{uncapped:?}");
    assert!(!capped.on && capped.llr < 3.0, "{capped:?}");
}
