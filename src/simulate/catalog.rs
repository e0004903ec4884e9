//! The named campaign variants: a tuning set, and a held-out set that
//! nobody tunes the policy on (different parameters; run on different
//! seeds by `tollgate detect`), reported separately so that over-fitting to
//! the simulator shows.

use super::attack::{Campaign, Shape};

/// Minutes in a day.
const DAY: i64 = 1440;

fn campaign(variant: &str, shape: Shape, attack_day: u32, hours: f64, convert: f64) -> Campaign {
    Campaign {
        variant: variant.to_string(),
        shape,
        start_min: attack_day as i64 * DAY,
        jitter_min: 12 * 60,
        hours,
        convert,
    }
}

/// The variants the policy may be tuned on. `attack_day`: the day of the
/// run on which campaigns begin (after a warm-up of organic history).
pub fn tuning(attack_day: u32) -> Vec<Campaign> {
    use Shape::*;
    let d = attack_day;
    vec![
        campaign(
            "range_sweep/steady",
            RangeSweep { per_min: 6.0 },
            d,
            4.0,
            0.01,
        ),
        campaign(
            "range_sweep/fast",
            RangeSweep { per_min: 40.0 },
            d,
            1.0,
            0.01,
        ),
        campaign(
            "range_rotation/30min",
            RangeRotation {
                per_min: 8.0,
                hop_min: 30.0,
                countries: 3,
            },
            d,
            6.0,
            0.01,
        ),
        campaign(
            "range_rotation/10min",
            RangeRotation {
                per_min: 15.0,
                hop_min: 10.0,
                countries: 4,
            },
            d,
            4.0,
            0.01,
        ),
        campaign(
            "blending/half",
            Blending {
                fraction: 0.5,
                countries: 2,
            },
            d,
            24.0,
            0.01,
        ),
        campaign(
            "blending/double",
            Blending {
                fraction: 2.0,
                countries: 3,
            },
            d,
            12.0,
            0.01,
        ),
        campaign(
            "low_and_slow/wide",
            LowAndSlow {
                per_hour: 40.0,
                ranges: 200,
                countries: 6,
            },
            d,
            36.0,
            0.01,
        ),
        campaign(
            "low_and_slow/narrow",
            LowAndSlow {
                per_hour: 12.0,
                ranges: 30,
                countries: 2,
            },
            d,
            36.0,
            0.01,
        ),
        campaign(
            "distributed/proxies",
            Distributed {
                per_min: 5.0,
                ranges: 4,
            },
            d,
            8.0,
            0.01,
        ),
        campaign("non_mobile/mix", NonMobile { per_min: 3.0 }, d, 6.0, 0.01),
        campaign(
            "burst/10min",
            Burst {
                sends: 5000,
                minutes: 10.0,
            },
            d,
            1.0,
            0.01,
        ),
        campaign(
            "burst/1h",
            Burst {
                sends: 3000,
                minutes: 60.0,
            },
            d,
            1.0,
            0.01,
        ),
        // Added in the second pass (tuning): blending that adds only a
        // fifth to a quarter of a served country's volume, and a trickle
        // spread thinner than `low_and_slow/wide`.
        campaign(
            "blending/light",
            Blending {
                fraction: 0.25,
                countries: 3,
            },
            d,
            30.0,
            0.03,
        ),
        campaign(
            "blending/thin",
            Blending {
                fraction: 0.15,
                countries: 5,
            },
            d,
            24.0,
            0.01,
        ),
        campaign(
            "low_and_slow/sparse",
            LowAndSlow {
                per_hour: 10.0,
                ranges: 300,
                countries: 8,
            },
            d,
            36.0,
            0.01,
        ),
    ]
}

/// Held-out variants: other rates, spreads and conversion shares.
pub fn held_out(attack_day: u32) -> Vec<Campaign> {
    use Shape::*;
    let d = attack_day;
    vec![
        campaign(
            "range_sweep/slow",
            RangeSweep { per_min: 1.0 },
            d,
            24.0,
            0.01,
        ),
        campaign(
            "range_rotation/fast_hop",
            RangeRotation {
                per_min: 20.0,
                hop_min: 3.0,
                countries: 6,
            },
            d,
            3.0,
            0.01,
        ),
        campaign(
            "blending/subtle",
            Blending {
                fraction: 0.2,
                countries: 4,
            },
            d,
            36.0,
            0.05,
        ),
        campaign(
            "low_and_slow/ultra",
            LowAndSlow {
                per_hour: 8.0,
                ranges: 400,
                countries: 10,
            },
            d,
            36.0,
            0.02,
        ),
        campaign(
            "distributed/wide",
            Distributed {
                per_min: 12.0,
                ranges: 20,
            },
            d,
            6.0,
            0.01,
        ),
        campaign("non_mobile/slow", NonMobile { per_min: 0.5 }, d, 24.0, 0.0),
        campaign(
            "burst/short",
            Burst {
                sends: 2000,
                minutes: 3.0,
            },
            d,
            1.0,
            0.0,
        ),
        // Added in the second pass, never looked at while tuning.
        campaign(
            "blending/trace",
            Blending {
                fraction: 0.18,
                countries: 3,
            },
            d,
            42.0,
            0.03,
        ),
        campaign(
            "low_and_slow/drizzle",
            LowAndSlow {
                per_hour: 5.0,
                ranges: 250,
                countries: 6,
            },
            d,
            40.0,
            0.0,
        ),
        campaign(
            "range_rotation/slow_hop",
            RangeRotation {
                per_min: 4.0,
                hop_min: 60.0,
                countries: 2,
            },
            d,
            8.0,
            0.02,
        ),
    ]
}

/// One variant per family: what `tollgate simulate` injects by default.
pub fn defaults(attack_day: u32) -> Vec<Campaign> {
    let mut seen = Vec::new();
    tuning(attack_day)
        .into_iter()
        .filter(|c| {
            let f = c.shape.family();
            if seen.contains(&f) {
                false
            } else {
                seen.push(f);
                true
            }
        })
        .collect()
}

/// Looks variants up by name (`range_sweep/fast`) or family
/// (`range_sweep`: all its variants) in both sets.
pub fn select(names: &[&str], attack_day: u32) -> Result<Vec<Campaign>, String> {
    let all: Vec<Campaign> = tuning(attack_day)
        .into_iter()
        .chain(held_out(attack_day))
        .collect();
    let mut out = Vec::new();
    for name in names {
        let found: Vec<&Campaign> = all
            .iter()
            .filter(|c| c.variant == *name || c.shape.family() == *name)
            .collect();
        if found.is_empty() {
            let known: Vec<&str> = all.iter().map(|c| c.variant.as_str()).collect();
            return Err(format!(
                "unknown scenario `{name}`; known: {}",
                known.join(", ")
            ));
        }
        out.extend(found.into_iter().cloned());
    }
    Ok(out)
}

/// The harder suite (`tollgate detect --suite hard`): bad days, harder
/// than the world. Several campaigns at once; blends into five to seven
/// small served countries at 30–60% of their volume, converting 2–5% and
/// resending like real users, with those figures drawn per seed. Tuning
/// and held-out variants differ in mix and spread and run on disjoint
/// seeds.
pub fn hard(attack_day: u32) -> (Vec<Campaign>, Vec<Campaign>) {
    use Shape::*;
    let d = attack_day;
    let small_blend = |countries| SmallBlend {
        fraction: (0.3, 0.6),
        countries,
        convert: (0.02, 0.05),
        resend: (0.05, 0.2),
    };
    let tuning = vec![
        campaign("bad_day/small_blend", small_blend(5), d, 30.0, 0.0),
        campaign(
            "bad_day/overlap",
            Overlap(vec![
                campaign("bad_day/overlap:blend", small_blend(5), d, 30.0, 0.0),
                campaign(
                    "bad_day/overlap:rotation",
                    RangeRotation {
                        per_min: 8.0,
                        hop_min: 30.0,
                        countries: 3,
                    },
                    d,
                    6.0,
                    0.01,
                ),
                campaign(
                    "bad_day/overlap:trickle",
                    LowAndSlow {
                        per_hour: 30.0,
                        ranges: 150,
                        countries: 5,
                    },
                    d,
                    36.0,
                    0.02,
                ),
                campaign(
                    "bad_day/overlap:proxies",
                    Distributed {
                        per_min: 4.0,
                        ranges: 4,
                    },
                    d,
                    8.0,
                    0.01,
                ),
            ]),
            d,
            0.0,
            0.0,
        ),
    ];
    let held = vec![
        campaign("bad_day/small_blend_wide", small_blend(7), d, 36.0, 0.0),
        campaign(
            "bad_day/overlap_heavy",
            Overlap(vec![
                campaign("bad_day/heavy:blend", small_blend(6), d, 36.0, 0.0),
                campaign(
                    "bad_day/heavy:served",
                    Blending {
                        fraction: 1.0,
                        countries: 2,
                    },
                    d,
                    12.0,
                    0.03,
                ),
                campaign(
                    "bad_day/heavy:rotation",
                    RangeRotation {
                        per_min: 12.0,
                        hop_min: 15.0,
                        countries: 4,
                    },
                    d,
                    5.0,
                    0.02,
                ),
                campaign(
                    "bad_day/heavy:trickle",
                    LowAndSlow {
                        per_hour: 50.0,
                        ranges: 300,
                        countries: 6,
                    },
                    d,
                    36.0,
                    0.03,
                ),
                campaign(
                    "bad_day/heavy:non_mobile",
                    NonMobile { per_min: 1.0 },
                    d,
                    12.0,
                    0.0,
                ),
            ]),
            d,
            0.0,
            0.0,
        ),
        campaign(
            "bad_day/two_blends",
            Overlap(vec![
                campaign("bad_day/two:small", small_blend(5), d, 30.0, 0.0),
                campaign("bad_day/two:late", small_blend(5), d + 1, 24.0, 0.0),
            ]),
            d,
            0.0,
            0.0,
        ),
    ];
    (tuning, held)
}

#[cfg(test)]
#[path = "hard_tests.rs"]
mod hard_tests;
