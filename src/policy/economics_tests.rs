//! The trade and the friction budget, on hand-built traffic with time
//! passed in.

use std::sync::Arc;

use super::super::tests::{engine, send};
use super::super::*;
use crate::number::{LineType, Region, E164};

const T0: Timestamp = Timestamp(1_790_000_000_000);

fn class(digits: &str, region: &str) -> Classification {
    Classification {
        number: E164::from_digits(digits).unwrap(),
        calling_code: digits[..2].parse().unwrap(),
        region: Region::parse(region),
        valid: true,
        line_type: LineType::Mobile,
        carrier: Some(Arc::from("TestCell")),
    }
}

/// Only the layer under test: a −4 range that does not convert in 24 h.
const RANGE_RULE: &str = "[baseline]\nenabled = false\n[pattern]\ndistinct_range3_max = 0\ndistinct_range4_max = 0\nsequential_min = 1000\n[[conversion.rules]]\nkey = \"range4\"\nwindow = \"24h\"\ngrace = \"10m\"\nmin_sends = 4\nbelow = 0.1\nweight = 60\n";

/// Ten unanswered sends to one range of `digits` (a prefix of 8 digits
/// after which four vary), then one more scored an hour later.
fn after_ten_silent(e: &Engine, prefix: &str, region: &str) -> Decision {
    for i in 0..10 {
        let c = class(&format!("{prefix}{:04}", i * 7), region);
        e.decide(&send(), Ok(&c), T0.plus_seconds(i64::from(i) * 60));
    }
    let c = class(&format!("{prefix}9999"), region);
    e.decide(&send(), Ok(&c), T0.plus_seconds(3600))
}

#[test]
fn the_same_evidence_stops_a_dear_destination_and_lets_a_cheap_one_through() {
    let dir = std::env::temp_dir().join(format!("tollgate-trade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let prices = dir.join("prices.toml");
    std::fs::write(
        &prices,
        "currency = \"USD\"\ndefault = 0.1\n[countries]\nNG = 0.30\nUS = 0.005\n",
    )
    .unwrap();
    let text = format!(
        "{RANGE_RULE}[economics]\nuser_value = 1.0\nprices = \"{}\"\n",
        prices.display()
    );
    let dear = after_ten_silent(&engine(&text), "23480312", "NG");
    let cheap = after_ten_silent(&engine(&text), "14155512", "US");
    // Same evidence, same estimate: 0 of 10 sends against an expected 60%
    // (two sends of prior) is 83% pumping.
    let (td, tc) = (dear.trade.unwrap(), cheap.trade.unwrap());
    assert!((td.pumping - 0.833).abs() < 0.01, "{td:?}");
    assert_eq!(td.pumping, tc.pumping);
    assert_eq!(td.user_cost, tc.user_cost);
    // $0.30 × 0.83 = $0.25 saved against $0.17 of user: stopped.
    assert_eq!(dear.action, Action::Hold, "{:?}", dear.codes());
    assert!(td.saved > td.user_cost);
    // $0.005 × 0.83 = $0.004 against the same $0.17: let through, saying why.
    assert_eq!(cheap.action, Action::Allow, "{:?}", cheap.codes());
    assert!(tc.saved < tc.user_cost);
    assert_eq!(cheap.codes().last(), Some(&"economics.not_worth_it"));
    // The value of the user is the platform's: at $0.01 even the cheap
    // destination is worth stopping; per route over the default.
    let low = format!("{text}routes = {{ \"twilio.messages\" = 0.01 }}\n");
    assert_eq!(
        after_ten_silent(&engine(&low), "14155512", "US").action,
        Action::Hold
    );
    // Both sides reach the decision log and the admin API.
    let json = serde_json::to_value(&dear).unwrap();
    assert!(json["trade"]["saved"].as_f64().unwrap() > 0.24, "{json}");
    assert!(
        json["trade"]["user_cost"].as_f64().unwrap() > 0.16,
        "{json}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn economics_settings_are_validated() {
    for bad in [
        "[economics]\nuser_value = -1.0\n",
        "[economics]\nfriction_budget = 1.5\n",
        "[economics]\nroutes = { \"a.b\" = -2.0 }\n",
        "[economics]\nprices = \"/nonexistent/prices.toml\"\n",
        "[economics]\nunknown = 1\n",
    ] {
        assert!(
            Policy::build(std::path::Path::new("t.toml"), bad).is_err(),
            "{bad}"
        );
    }
}

/// A small deterministic generator (the engine's tests stay below the
/// simulator).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() as f64 / f64::from(1u32 << 31)) < p
    }
}

/// One small served country of the blend test.
struct Market {
    region: &'static str,
    /// Eight digits: a range's prefix, four digits follow.
    prefix: &'static str,
}

/// A campaign blends into three small served countries, half of their
/// volume, on the default policy: new numbers spread over every range
/// (country-wide evidence only) and a share walking one range per
/// country (local evidence). Returning users keep logging in throughout.
#[test]
fn a_blend_into_small_countries_never_stops_returning_users_and_keeps_to_the_budget() {
    let e = Engine::deterministic(Policy::embedded().unwrap(), 11);
    let markets = [
        Market {
            region: "SE",
            prefix: "467012",
        },
        Market {
            region: "KZ",
            prefix: "770123",
        },
        Market {
            region: "GH",
            prefix: "233241",
        },
    ];
    let mut rng = Lcg(5);
    let mut serial = 0u32;
    // Organic numbers all over the country's ranges.
    let fresh = |m: &Market, rng: &mut Lcg, serial: &mut u32| {
        *serial += 1;
        let range = 10 + rng.below(80);
        class(
            &format!("{}{range:02}{:04}", m.prefix, *serial % 10_000),
            m.region,
        )
    };
    // Returning users: converted once, log in again later.
    let returning: Vec<Vec<Classification>> = markets
        .iter()
        .map(|m| {
            (0..60)
                .map(|i| class(&format!("{}99{i:04}", m.prefix), m.region))
                .collect()
        })
        .collect();
    for (m, users) in markets.iter().zip(&returning) {
        let _ = m;
        for u in users {
            e.decide(&send(), Ok(u), T0);
            e.record_conversion(u, T0.plus_seconds(30));
        }
    }
    // (organic sends, organic stopped, returning stopped, pumped stopped)
    let mut tally = [(0u32, 0u32, 0u32, 0u32); 3];
    for hour in 0..72i64 {
        let attack = hour >= 48;
        for (i, m) in markets.iter().enumerate() {
            let at = |k: i64| T0.plus_seconds(3600 + hour * 3600 + k * 97);
            for k in 0..30 {
                let c = fresh(m, &mut rng, &mut serial);
                let d = e.decide(&send(), Ok(&c), at(k));
                if attack {
                    tally[i].0 += 1;
                    tally[i].1 += u32::from(d.action != Action::Allow);
                }
                if d.action == Action::Allow && rng.chance(0.7) {
                    e.record_conversion(&c, at(k).plus_seconds(45));
                }
            }
            for k in 0..4 {
                let u = &returning[i][((hour * 4 + k) % 60) as usize];
                let d = e.decide(&send(), Ok(u), at(k + 31));
                assert_eq!(d.action, Action::Allow, "returning user: {:?}", d.codes());
                if attack {
                    tally[i].0 += 1;
                }
                e.record_conversion(u, at(k + 31).plus_seconds(40));
            }
            if attack {
                // Half the volume again: most spread like organic numbers,
                // some walking one range; none ever converts.
                for k in 0..15 {
                    let c = if k < 5 {
                        serial += 1;
                        class(&format!("{}00{:04}", m.prefix, serial % 10_000), m.region)
                    } else {
                        fresh(m, &mut rng, &mut serial)
                    };
                    let d = e.decide(&send(), Ok(&c), at(k + 40));
                    tally[i].3 += u32::from(d.action != Action::Allow);
                }
            }
        }
    }
    for (m, (sends, stopped, _, pumped)) in markets.iter().zip(tally) {
        let share = f64::from(stopped) / f64::from(sends);
        assert!(
            share <= 0.02,
            "{}: {stopped} of {sends} organic sends stopped",
            m.region
        );
        // Not a policy that stops nothing: the walked range is stopped.
        assert!(
            pumped >= 60,
            "{}: only {pumped} pumped sends stopped",
            m.region
        );
    }
}
