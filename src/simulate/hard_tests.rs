//! The hard suite is what it says: campaigns at once, blends into small
//! served countries, parameters drawn per seed.

use std::collections::{HashMap, HashSet};

use crate::simulate::attack::{generate, Campaign, Shape};
use crate::simulate::countries::ORGANIC;
use crate::simulate::event::{SimEvent, SimKind};
use crate::simulate::organic::{Accounts, Organic};
use crate::simulate::plans::Plans;
use crate::simulate::DEFAULT_START;

fn attack_of(c: &Campaign, seed: u64) -> Vec<SimEvent> {
    let organic = Organic::new(seed, DEFAULT_START, 3, 5_000.0, false);
    generate(c, &organic, &Plans::embedded(), &Accounts::new(), seed)
}

fn blend() -> Campaign {
    let (tuning, _) = super::hard(1);
    tuning
        .into_iter()
        .find(|c| c.variant == "bad_day/small_blend")
        .expect("small blend")
}

#[test]
fn a_small_blend_hits_five_small_served_countries_and_resends_like_users() {
    let small: HashSet<&str> = ORGANIC
        .iter()
        .filter(|c| c.share <= 1.5)
        .map(|c| c.code)
        .collect();
    let events = attack_of(&blend(), 11);
    let sends: Vec<&SimEvent> = events.iter().filter(|e| e.kind == SimKind::Send).collect();
    assert!(sends.len() > 100, "{}", sends.len());
    let countries: HashSet<&str> = sends.iter().map(|e| e.region.as_str()).collect();
    assert_eq!(countries.len(), 5, "{countries:?}");
    assert!(countries.iter().all(|c| small.contains(c)), "{countries:?}");
    // Some numbers are sent twice, a minute or two apart.
    let mut per_number: HashMap<&str, u32> = HashMap::new();
    for e in &sends {
        *per_number.entry(&e.to).or_default() += 1;
    }
    let resent = per_number.values().filter(|&&n| n > 1).count();
    assert!(resent > 0, "no resends");
    // It converts a little (2–5%), like pumpers who verify a few.
    let converted = events.len() - sends.len();
    let share = converted as f64 / sends.len() as f64;
    assert!((0.005..0.08).contains(&share), "{share}");
}

#[test]
fn parameters_are_drawn_per_seed_and_overlaps_run_every_part() {
    let a = attack_of(&blend(), 11).len();
    let b = attack_of(&blend(), 12).len();
    assert_ne!(a, b, "same volume on two seeds");
    let (tuning, _) = super::hard(1);
    let overlap = tuning
        .iter()
        .find(|c| matches!(c.shape, Shape::Overlap(_)))
        .expect("an overlap");
    let Shape::Overlap(parts) = &overlap.shape else {
        unreachable!()
    };
    let families: HashSet<String> = attack_of(overlap, 11)
        .iter()
        .filter(|e| e.kind == SimKind::Send)
        .map(|e| format!("{:?}", e.label))
        .collect();
    assert_eq!(families.len(), parts.len(), "{families:?}");
}
