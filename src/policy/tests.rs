//! Layer-by-layer behaviour, with classifications built by hand and time
//! passed in (no clock is read anywhere here).

use std::sync::Arc;

use super::*;
use crate::number::{LineType, Region, E164};

const T0: Timestamp = Timestamp(1_790_000_000_000); // a Monday-ish instant in 2026

fn class(digits: &str, region: &str, line_type: LineType) -> Classification {
    Classification {
        number: E164::from_digits(digits).unwrap(),
        calling_code: digits[..3].parse().unwrap(),
        region: Region::parse(region),
        valid: true,
        line_type,
        carrier: Some(Arc::from("TestCell")),
    }
}

fn mobile(digits: &str) -> Classification {
    class(digits, "NG", LineType::Mobile)
}

/// Layers not under test are switched off, and so is the trade: a stop
/// costs no user and no country has a budget, so that the layer alone
/// decides (the trade and the budget have tests of their own).
const QUIET: &str = "[baseline]\nenabled = false\n[pattern]\ndistinct_range3_max = 0\ndistinct_range4_max = 0\nsequential_min = 1000\n[economics]\nuser_value = 0.0\nfriction_budget = 1.0\n";

pub(super) fn engine(text: &str) -> Engine {
    let p =
        Policy::build(std::path::Path::new("test.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    Engine::deterministic(p, 7)
}

pub(super) fn send() -> SendFacts<'static> {
    SendFacts {
        route: "twilio.messages",
        provider: "twilio",
        channel: "sms",
        ..SendFacts::default()
    }
}

fn decide(e: &Engine, c: &Classification, at: Timestamp) -> Decision {
    e.decide(&send(), Ok(c), at)
}

fn codes(d: &Decision) -> Vec<&'static str> {
    d.codes()
}

#[test]
fn number_layer_blocks_invalid_and_unreachable_line_types_and_weighs_voip() {
    let e = engine(QUIET);
    let mut invalid = mobile("2348031234567");
    invalid.valid = false;
    let d = decide(&e, &invalid, T0);
    assert_eq!(
        (d.action, d.reject_class()),
        (Action::Block, RejectClass::InvalidNumber)
    );
    let d = decide(&e, &class("447700900123", "GB", LineType::PremiumRate), T0);
    assert_eq!(
        (d.action, d.reject_class()),
        (Action::Block, RejectClass::LineType)
    );
    let d = decide(&e, &class("14155550100", "US", LineType::Voip), T0);
    assert_eq!((d.action, d.score), (Action::Allow, 30));
    let err = ParseError::TooShort;
    let d = e.decide(&send(), Err(&err), T0);
    assert_eq!(codes(&d), ["number.unparseable"]);
}

#[test]
fn allow_list_beats_deny_range_and_country_deny_is_a_geo_refusal() {
    let e = engine(&format!(
        "{QUIET}[lists.allow]\nnumbers = [\"+2348031234567\"]\n[lists.deny]\nranges = [\"+234803\"]\ncountries = [\"GH\"]\n"
    ));
    assert_eq!(
        decide(&e, &mobile("2348031234567"), T0).action,
        Action::Allow
    );
    let d = decide(&e, &mobile("2348031234568"), T0);
    assert_eq!(
        (d.action, codes(&d)[0]),
        (Action::Block, "lists.deny_range")
    );
    let d = decide(&e, &class("233241234567", "GH", LineType::Mobile), T0);
    assert_eq!(
        (d.action, d.reject_class()),
        (Action::Block, RejectClass::Geo)
    );
}

#[test]
fn list_numbers_are_normalised_like_traffic_and_ranges_match_at_any_length() {
    // A trunk prefix typed after the country code, and separators: the
    // entry must still match the number as traffic normalises it.
    let e = engine(&format!(
        "{QUIET}[lists.deny]\nnumbers = [\"+44 07700 900123\"]\nranges = [\"+4477009001\", \"23480\", \"+1415555\"]\n"
    ));
    let d = decide(&e, &class("447700900123", "GB", LineType::Mobile), T0);
    assert_eq!(codes(&d), ["lists.deny_number"]);
    for (digits, region) in [
        ("447700900199", "GB"),
        ("2348031234567", "NG"),
        ("14155550100", "US"),
    ] {
        let d = decide(&e, &class(digits, region, LineType::Mobile), T0);
        assert_eq!(codes(&d), ["lists.deny_range"], "{digits}");
    }
    for (digits, region) in [("447700900200", "GB"), ("2348131234567", "NG")] {
        let d = decide(&e, &class(digits, region, LineType::Mobile), T0);
        assert_eq!(d.action, Action::Allow, "{digits}");
    }
}

#[test]
fn geo_permitted_list_tiers_and_hourly_caps() {
    let e = engine(&format!(
        "{QUIET}[geo]\npermitted = [\"NG\", \"GB\"]\ncap_weight = 70\n[geo.tiers]\nhigh = [\"NG\"]\n[geo.tier_weights]\nhigh = 20\n[geo.caps]\nGB = {{ per_hour = 3 }}\n"
    ));
    let d = decide(&e, &class("14155550100", "US", LineType::Mobile), T0);
    assert_eq!(
        (d.action, d.reject_class(), d.hard),
        (Action::Block, RejectClass::Geo, true)
    );
    assert_eq!(decide(&e, &mobile("2348031234567"), T0).score, 20);
    let gb = |n: u32| class(&format!("4477009001{n:02}"), "GB", LineType::Mobile);
    for i in 0..3 {
        assert_eq!(decide(&e, &gb(i), T0).action, Action::Allow, "send {i}");
    }
    let d = decide(&e, &gb(3), T0.plus_seconds(60));
    assert_eq!((d.action, codes(&d)[0]), (Action::Hold, "geo.cap_exceeded"));
    // An hour later the window has moved on.
    assert_eq!(
        decide(&e, &gb(4), T0.plus_seconds(3 * 3600)).action,
        Action::Allow
    );
}

#[test]
fn velocity_counts_within_the_window_only() {
    let e = engine(&format!(
        "{QUIET}[[velocity.rules]]\nkey = \"number\"\nwindow = \"1h\"\nmax = 3\nweight = 50\nweight_per_extra = 20\n"
    ));
    let n = mobile("2348031234567");
    for i in 0..3 {
        assert_eq!(
            decide(&e, &n, T0.plus_seconds(i * 60)).action,
            Action::Allow
        );
    }
    let d = decide(&e, &n, T0.plus_seconds(240));
    assert_eq!((d.action, d.score), (Action::Allow, 50));
    let d = decide(&e, &n, T0.plus_seconds(300));
    assert_eq!((d.action, d.score), (Action::Hold, 70));
    // Two hours later: forgotten.
    assert_eq!(decide(&e, &n, T0.plus_seconds(2 * 3600 + 600)).score, 0);
}

#[test]
fn velocity_by_client_context_headers() {
    let e = engine(&format!(
        "{QUIET}[[velocity.rules]]\nkey = \"client_ip\"\nwindow = \"10m\"\nmax = 2\nweight = 90\n"
    ));
    let facts = SendFacts {
        client_ip: Some("203.0.113.7"),
        ..send()
    };
    for i in 0..2 {
        let d = e.decide(&facts, Ok(&mobile(&format!("23480312345{i:02}"))), T0);
        assert_eq!(d.action, Action::Allow);
    }
    let d = e.decide(&facts, Ok(&mobile("2348031234599")), T0);
    assert_eq!(
        (d.action, codes(&d)[0]),
        (Action::Block, "velocity.client_ip")
    );
    // Another IP is unaffected.
    let other = SendFacts {
        client_ip: Some("198.51.100.1"),
        ..send()
    };
    assert_eq!(
        e.decide(&other, Ok(&mobile("2348031234598")), T0).action,
        Action::Allow
    );
}

#[test]
fn pattern_sees_sequential_enumeration_and_distinct_numbers_per_range() {
    let e = engine("[baseline]\nenabled = false\n[pattern]\nsequential_min = 4\nsequential_gap = 3\nsequential_weight = 45\ndistinct_range3_max = 0\ndistinct_range4_max = 0\n");
    let mut last = Decision::allow();
    for i in 0..4 {
        last = decide(
            &e,
            &mobile(&format!("234803123{:04}", 100 + i)),
            T0.plus_seconds(i as i64 * 20),
        );
    }
    assert_eq!(codes(&last), ["pattern.sequential"]);
    // Random numbers in another range: no streak.
    for (i, s) in [4821, 117, 9034, 5550].iter().enumerate() {
        let d = decide(
            &e,
            &mobile(&format!("234805555{s:04}")),
            T0.plus_seconds(i as i64 * 20),
        );
        assert!(codes(&d).is_empty(), "{:?}", codes(&d));
    }

    let e = engine("[baseline]\nenabled = false\n[pattern]\nsequential_min = 1000\ndistinct_range3_max = 3\ndistinct_range4_max = 0\ndistinct_weight = 30\n");
    for s in [11, 523, 780] {
        assert!(codes(&decide(&e, &mobile(&format!("2348031234{s:03}")), T0)).is_empty());
    }
    // The same number again is not a new distinct number.
    assert!(codes(&decide(&e, &mobile("2348031234011"), T0)).is_empty());
    assert_eq!(
        codes(&decide(&e, &mobile("2348031234999"), T0)),
        ["pattern.distinct_range3"]
    );
}

#[test]
fn conversion_flags_ranges_that_never_convert_and_trusts_converted_numbers() {
    let e = engine(&format!(
        "{QUIET}[conversion]\ngrace = \"10m\"\nwindow = \"2h\"\n[[conversion.rules]]\nkey = \"range4\"\nmin_sends = 5\nbelow = 0.2\nweight = 60\n"
    ));
    let pumped = |i: u32| mobile(&format!("23480312{i:05}"));
    for i in 0..6 {
        decide(&e, &pumped(i * 37), T0.plus_seconds(i as i64 * 30));
    }
    // Inside the grace period nothing is judged yet.
    assert!(codes(&decide(&e, &pumped(999), T0.plus_seconds(300))).is_empty());
    // 20 minutes later: 7 sends, none converted.
    let d = decide(&e, &pumped(4242), T0.plus_seconds(1200));
    assert_eq!(
        (d.action, codes(&d)[0]),
        (Action::Hold, "conversion.range4")
    );

    // A healthy range: most sends convert.
    let healthy = |i: u32| mobile(&format!("23470312{i:05}"));
    for i in 0..6 {
        let n = healthy(i * 41);
        decide(&e, &n, T0.plus_seconds(i as i64 * 30));
        if i % 3 != 0 {
            e.record_conversion(&n, T0.plus_seconds(i as i64 * 30 + 45));
        }
    }
    assert!(codes(&decide(&e, &healthy(4242), T0.plus_seconds(1200))).is_empty());

    // A number that converted is trusted even inside the pumped range.
    let returning = pumped(77);
    e.record_conversion(&returning, T0);
    let d = decide(&e, &returning, T0.plus_seconds(1300));
    assert_eq!(
        (d.action, codes(&d)[0]),
        (Action::Allow, "conversion.trusted_number")
    );
}

#[test]
fn baseline_passes_a_normal_first_day_but_not_a_surge_into_a_new_country() {
    let e = engine("[pattern]\nsequential_min = 1000\ndistinct_range3_max = 0\ndistinct_range4_max = 0\n[baseline]\nmin_hourly = 20\nsurge_ratio = 3.0\nweight = 25\ncold_start_share = 0.05\n");
    let gb = |i: u32| class(&format!("44770090{i:04}"), "GB", LineType::Mobile);
    // Two days of steady traffic: 200 sends an hour to GB.
    let mut t = T0;
    for h in 0..48 {
        for i in 0..200u32 {
            decide(&e, &gb(h * 200 + i), t.plus_seconds(i64::from(i) * 17));
        }
        t = t.plus_seconds(3600);
    }
    // Normal hour: no surge.
    let mut flagged = 0;
    for i in 0..200u32 {
        if !decide(&e, &gb(50_000 + i), t.plus_seconds(i64::from(i) * 17))
            .reasons
            .is_empty()
        {
            flagged += 1;
        }
    }
    assert_eq!(flagged, 0);
    // A new country taking a few sends an hour (under 5% of 200): fine.
    let ke = |i: u32| class(&format!("2547{i:08}"), "KE", LineType::Mobile);
    t = t.plus_seconds(3600);
    for i in 0..8u32 {
        assert!(decide(&e, &ke(i * 7919), t.plus_seconds(i64::from(i)))
            .reasons
            .is_empty());
    }
    // …but 10× that in one hour is a surge.
    let mut last = Decision::allow();
    for i in 8..100u32 {
        last = decide(&e, &ke(i * 7919), t.plus_seconds(i64::from(i)));
    }
    assert_eq!(codes(&last), ["baseline.surge"]);
}

#[test]
fn reload_swaps_the_policy_and_keeps_the_counters() {
    let rule = "[[velocity.rules]]\nkey = \"number\"\nwindow = \"1h\"\nmax = 2\nweight = 90\n";
    let e = engine(&format!("{QUIET}{rule}"));
    let n = mobile("2348031234567");
    decide(&e, &n, T0);
    decide(&e, &n, T0);
    e.replace(Policy::build(std::path::Path::new("new.toml"), &format!("{QUIET}{rule}")).unwrap());
    assert_eq!(decide(&e, &n, T0).action, Action::Block);
}

#[test]
fn a_broken_policy_reports_file_and_line() {
    let err = Policy::build(
        std::path::Path::new("p.toml"),
        "mode = \"enforce\"\n[number]\nblock_line_types = [\"premium\"]\n",
    )
    .unwrap_err();
    let s = err.to_string();
    assert!(s.starts_with("p.toml:2:"), "{s}");
    assert!(s.contains("unknown line type `premium`"), "{s}");
    let err = Policy::build(
        std::path::Path::new("p.toml"),
        "[velocity]\nrules = [{ key = \"nmber\", window = \"1h\", max = 1, weight = 1 }]\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown key `nmber`"), "{err}");
    assert!(Policy::embedded().is_ok());
}

#[test]
fn list_files_are_read_relative_to_the_policy_and_reread_on_reload() {
    let dir = std::env::temp_dir().join(format!("tollgate-lists-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("extra.txt");
    std::fs::write(
        &list,
        "# pumped ranges\ndeny range +23480312\nhold number +2348059999999\n",
    )
    .unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!("{QUIET}[lists]\nfiles = [\"extra.txt\"]\n"),
    )
    .unwrap();
    let e = Engine::deterministic(
        Policy::load(&policy).unwrap_or_else(|err| panic!("{err}")),
        1,
    );
    assert_eq!(
        codes(&decide(&e, &mobile("2348031234567"), T0)),
        ["lists.deny_range"]
    );
    assert_eq!(
        decide(&e, &mobile("2348059999999"), T0).action,
        Action::Hold
    );
    std::fs::write(&list, "allow range +23480312\n").unwrap();
    e.reload_from(Some(&policy)).unwrap();
    assert_eq!(
        decide(&e, &mobile("2348031234567"), T0).action,
        Action::Allow
    );
    // A broken file keeps the old policy and says where.
    std::fs::write(&list, "deny rnage +1\n").unwrap();
    let err = e.reload_from(Some(&policy)).unwrap_err().to_string();
    assert!(err.contains("extra.txt:1: scope must be"), "{err}");
    assert_eq!(
        decide(&e, &mobile("2348031234567"), T0).action,
        Action::Allow
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Sends `n` fresh NG numbers (starting at `*next`) spread over the hour
/// that begins at `start`, converting the first `converted` of them 40 s
/// after their send.
fn ng_hour(e: &Engine, next: &mut u64, start: Timestamp, n: u32, converted: u32) {
    for i in 0..n {
        let at = start.plus_seconds(i64::from(i) * 3600 / i64::from(n.max(1)));
        let c = mobile(&format!("2348{:09}", *next));
        *next += 7919;
        // Only a code that went out can be typed in.
        let d = decide(e, &c, at);
        if i < converted && e.forwards(&d) {
            e.record_conversion(&c, at.plus_seconds(40));
        }
    }
}

#[test]
fn long_window_rules_catch_destinations_that_never_convert() {
    let e = engine(&format!(
        "{QUIET}[[conversion.rules]]\nkey = \"country\"\nwindow = \"24h\"\ngrace = \"10m\"\nmin_sends = 5\nbelow = 0.1\nweight = 60\n"
    ));
    // One send an hour to a corridor nobody converts in: a 2-hour window
    // would never hold five of them.
    let kh = |i: u32| class(&format!("8551{i:07}"), "KH", LineType::Mobile);
    for h in 0..5 {
        let d = decide(&e, &kh(h * 104_729), T0.plus_seconds(i64::from(h) * 3600));
        assert!(d.codes().is_empty(), "hour {h}: {:?}", d.codes());
    }
    let d = decide(&e, &kh(42), T0.plus_seconds(5 * 3600));
    assert_eq!(
        (d.action, codes(&d)[0]),
        (Action::Hold, "conversion.country")
    );
    assert!(
        d.reasons[0].detail.contains("24h"),
        "{}",
        d.reasons[0].detail
    );
    // A country whose sends convert is left alone.
    let mut next = 0;
    for h in 0..6 {
        ng_hour(&e, &mut next, T0.plus_seconds(h * 3600), 4, 2);
    }
    assert!(codes(&decide(
        &e,
        &mobile("2348099999999"),
        T0.plus_seconds(6 * 3600)
    ))
    .is_empty());
    // Sends still in grace are not counted: a burst of fresh sends to a new
    // corridor is not judged on conversions that could not have happened.
    let mm = |i: u32| class(&format!("959{i:09}"), "MM", LineType::Mobile);
    for i in 0..10 {
        decide(&e, &mm(i * 7), T0.plus_seconds(i64::from(i)));
    }
    assert!(codes(&decide(&e, &mm(999), T0.plus_seconds(60))).is_empty());
}

#[test]
fn a_line_type_nobody_verifies_adds_to_its_risk_weight() {
    let e = engine(&format!(
        "{QUIET}[number]\nrisk_line_types = {{ voip = 30 }}\n[[conversion.rules]]\nkey = \"line_type\"\nwindow = \"24h\"\ngrace = \"10m\"\nmin_sends = 3\nbelow = 0.1\nweight = 30\n"
    ));
    let voip =
        |cc: &str, region: &str, i: u32| class(&format!("{cc}56{i:07}"), region, LineType::Voip);
    // VoIP numbers in several countries, none verified.
    decide(&e, &voip("447", "GB", 1), T0);
    decide(&e, &voip("447", "GB", 90_001), T0.plus_seconds(600));
    decide(&e, &voip("330", "FR", 3), T0.plus_seconds(1200));
    let d = decide(&e, &voip("330", "FR", 77_777), T0.plus_seconds(3600));
    assert_eq!(d.action, Action::Hold, "{:?}", d.codes());
    assert!(
        d.codes().contains(&"conversion.line_type"),
        "{:?}",
        d.codes()
    );
    // Mobile numbers that convert are not touched by VoIP's record.
    let mut next = 0;
    ng_hour(&e, &mut next, T0, 6, 4);
    let d = decide(&e, &mobile("2348077777777"), T0.plus_seconds(3600));
    assert!(d.codes().is_empty(), "{:?}", d.codes());
}

const DEFICIT: &str = "[conversion]\nlearned_min_sends = 200\n[[conversion.deficits]]\nwindow = \"1h\"\ngrace = \"5m\"\nmin_sends = 20\nratio = 0.6\nz = 3\nweight = 60\n";

#[test]
fn deficit_flags_a_country_converting_far_below_its_learned_rate() {
    let e = engine(&format!("{QUIET}{DEFICIT}"));
    let mut next = 0;
    // A day of history: 40 sends an hour, half of them verified.
    for h in 0..24 {
        ng_hour(&e, &mut next, T0.plus_seconds(h * 3600), 40, 20);
    }
    let region = Region::parse("NG").unwrap();
    let (p0, mass) = e
        .counters()
        .rates
        .lock()
        .unwrap()
        .learned(region, false)
        .unwrap();
    assert!((p0 - 0.5).abs() < 0.02 && mass > 200.0, "{p0} {mass}");
    // An ordinary hour: nothing.
    let h24 = T0.plus_seconds(24 * 3600);
    ng_hour(&e, &mut next, h24, 40, 19);
    let d = decide(&e, &mobile("2348111111111"), h24.plus_seconds(3599));
    assert!(d.codes().is_empty(), "{:?}", d.codes());
    // Blending: the usual volume plus as much again that never converts.
    let h25 = T0.plus_seconds(25 * 3600);
    ng_hour(&e, &mut next, h25, 80, 20);
    let d = decide(&e, &mobile("2348222222222"), h25.plus_seconds(3599));
    // Country-wide evidence alone raises the score to just under `hold`:
    // it never stops a country's traffic on its own.
    assert_eq!(
        (d.action, d.score, codes(&d)[0]),
        (Action::Allow, 59, "conversion.country_deficit"),
    );
    assert_eq!(d.reasons[0].scope, Scope::Country);
    assert!(
        d.reasons[0].detail.contains("usual 50%"),
        "{}",
        d.reasons[0].detail
    );
    // The attacked hour is not learned from.
    ng_hour(&e, &mut next, T0.plus_seconds(26 * 3600), 40, 20);
    let (p1, _) = e
        .counters()
        .rates
        .lock()
        .unwrap()
        .learned(region, false)
        .unwrap();
    assert!((p1 - p0).abs() < 0.01, "learned {p0} then {p1}");
}

#[test]
fn deficit_waits_for_history_and_recent_confirmation_ends_it() {
    // No history yet (a new market): no judgement, however low the rate.
    let e = engine(&format!("{QUIET}{DEFICIT}"));
    let mut next = 0;
    ng_hour(&e, &mut next, T0, 80, 5);
    let d = decide(&e, &mobile("2348333333333"), T0.plus_seconds(3599));
    assert!(d.codes().is_empty(), "{:?}", d.codes());

    // A 6-hour window with and without a 1-hour confirmation, two hours
    // after a campaign ended. Held sends cannot convert: what the
    // confirmation hears of the two clean hours comes from the probes (one
    // held send in two goes out).
    let six = |recent: &str| {
        format!("{QUIET}[conversion]\nlearned_min_sends = 200\nprobe_every = 2\n[[conversion.deficits]]\nwindow = \"6h\"\ngrace = \"5m\"\nmin_sends = 20\nratio = 0.8\nz = 3\nweight = 60\n{recent}")
    };
    let run = |text: String| {
        let e = engine(&text);
        let mut next = 0;
        for h in 0..24 {
            ng_hour(&e, &mut next, T0.plus_seconds(h * 3600), 40, 20);
        }
        ng_hour(&e, &mut next, T0.plus_seconds(24 * 3600), 120, 20);
        for h in 25..27 {
            ng_hour(&e, &mut next, T0.plus_seconds(h * 3600), 40, 20);
        }
        decide(&e, &mobile("2348444444444"), T0.plus_seconds(27 * 3600))
    };
    let without = run(six(""));
    assert_eq!(
        without.codes(),
        ["conversion.country_deficit"],
        "{:?}",
        without.codes()
    );
    let with = run(six("recent = \"1h\"\nrecent_ratio = 0.8\n"));
    assert!(with.codes().is_empty(), "{:?}", with.codes());
}

#[test]
fn a_number_rule_must_allow_fewer_sends_than_a_bucket_counts() {
    let rule = |max: u32| {
        format!("[[velocity.rules]]\nkey = \"number\"\nwindow = \"1h\"\nmax = {max}\nweight = 10\n")
    };
    let path = std::path::Path::new("t.toml");
    assert!(Policy::build(path, &rule(65_534)).is_ok());
    let err = Policy::build(path, &rule(65_535))
        .err()
        .expect("65,535 is refused");
    assert!(format!("{err:#}").contains("below 65535"), "{err:#}");
}

#[test]
fn conversion_windows_and_graces_are_validated() {
    for bad in [
        "[conversion]\n[[conversion.rules]]\nkey = \"country\"\nwindow = \"2d\"\nmin_sends = 5\nbelow = 0.1\nweight = 1\n",
        "[conversion]\n[[conversion.rules]]\nkey = \"country\"\nwindow = \"1h\"\ngrace = \"1h\"\nmin_sends = 5\nbelow = 0.1\nweight = 1\n",
        "[conversion]\n[[conversion.rules]]\nkey = \"device\"\nmin_sends = 5\nbelow = 0.1\nweight = 1\n",
        "[[conversion.deficits]]\nwindow = \"6h\"\ngrace = \"5m\"\nmin_sends = 5\nratio = 0.8\nz = 3\nweight = 1\nrecent = \"6h\"\n",
        "[[conversion.deficits]]\nwindow = \"6h\"\ngrace = \"5m\"\nmin_sends = 5\nratio = 1.5\nz = 3\nweight = 1\n",
    ] {
        assert!(Policy::build(std::path::Path::new("t.toml"), bad).is_err(), "{bad}");
    }
}

/// One hour of NG traffic: every number of `returning` (converted before,
/// so trusted) sends and converts again, and `fresh` new numbers send with
/// the first `converted` of them converting, plus `pumped` new numbers that
/// never convert.
fn mixed_hour(
    e: &Engine,
    next: &mut u64,
    start: Timestamp,
    returning: &[Classification],
    fresh: u32,
    converted: u32,
    pumped: u32,
) {
    // In time order (the engine, like a backtest, sees events in order):
    // new numbers first, pumped ones interleaved with the others, then the
    // returning users.
    let new = fresh + pumped;
    let total = new + returning.len() as u32;
    let mut verified = 0;
    for i in 0..total {
        let at = start.plus_seconds(i64::from(i) * 3600 / i64::from(total));
        let (c, converts) = if i < new {
            let is_pumped = i % 2 == 1 && i / 2 < pumped || i >= 2 * fresh;
            *next += 7919;
            let converts = !is_pumped && verified < converted;
            verified += u32::from(converts);
            (mobile(&format!("2348{:09}", *next)), converts)
        } else {
            (returning[(i - new) as usize].clone(), true)
        };
        decide(e, &c, at);
        if converts {
            e.record_conversion(&c, at.plus_seconds(20));
        }
    }
}

#[test]
fn new_number_deficit_sees_blending_that_returning_users_dilute() {
    let deficit = |slice: &str| {
        format!("{QUIET}[conversion]\nlearned_min_sends = 200\n[[conversion.deficits]]\nnumbers = \"{slice}\"\nwindow = \"1h\"\ngrace = \"5m\"\nmin_sends = 20\nratio = 0.8\nz = 3\nweight = 60\n")
    };
    let run = |slice: &str| {
        let e = engine(&deficit(slice));
        let returning: Vec<Classification> = (0..80)
            .map(|i| mobile(&format!("2349{:09}", i * 104_729)))
            .collect();
        // They verified before (recorded without a country, so that this
        // history does not enter NG's learned rates).
        for c in &returning {
            let mut before = c.clone();
            before.region = None;
            e.record_conversion(&before, T0);
        }
        let mut next = 0;
        // A day of 80 returning users and 20 new numbers (half verify).
        for h in 1..25 {
            mixed_hour(
                &e,
                &mut next,
                T0.plus_seconds(h * 3600),
                &returning,
                20,
                10,
                0,
            );
        }
        let region = Region::parse("NG").unwrap();
        let rates = e.counters().rates.lock().unwrap();
        let (p_new, _) = rates.learned(region, true).unwrap();
        let (p_all, _) = rates.learned(region, false).unwrap();
        assert!((p_new - 0.5).abs() < 0.03, "{p_new}");
        assert!((p_all - 0.9).abs() < 0.03, "{p_all}");
        drop(rates);
        // Blending: a fifth more volume, all of it new numbers that never
        // verify. The country as a whole still converts at 0.83 × its
        // usual rate; its new numbers at half theirs.
        let h25 = T0.plus_seconds(25 * 3600);
        mixed_hour(&e, &mut next, h25, &returning, 20, 10, 20);
        let new = decide(&e, &mobile("2348222222222"), h25.plus_seconds(3599));
        let back = decide(&e, &returning[3], h25.plus_seconds(3599));
        (new, back)
    };
    let (new, back) = run("all");
    assert!(new.codes().is_empty(), "{:?}", new.codes());
    assert_eq!(back.action, Action::Allow);
    let (new, back) = run("new");
    assert_eq!(
        (new.action, new.score, codes(&new)[0]),
        (Action::Allow, 59, "conversion.country_deficit"),
    );
    assert!(
        new.reasons[0].detail.contains("new numbers of NG"),
        "{}",
        new.reasons[0].detail
    );
    // Returning users are never held by it.
    assert_eq!(back.action, Action::Allow, "{:?}", back.codes());
}

#[test]
fn drift_adds_up_hours_that_are_each_only_a_little_off() {
    let e = engine(&format!(
        "{QUIET}[conversion]\nlearned_min_sends = 200\nprobe_every = 2\n[[conversion.drifts]]\nnumbers = \"new\"\nratio = 0.8\nthreshold = 5\nhours = 24\nweight = 60\nrecent = \"1h\"\ngrace = \"5m\"\nrecent_ratio = 0.9\n"
    ));
    let mut next = 0;
    for h in 0..48 {
        ng_hour(&e, &mut next, T0.plus_seconds(h * 3600), 20, 10);
    }
    let probe =
        |e: &Engine, h: i64| decide(e, &mobile("2348555555555"), T0.plus_seconds(h * 3600 + 1));
    // A clean history carries no evidence.
    assert!(probe(&e, 48).codes().is_empty());
    // A campaign adding 8 unverified sends an hour: no single hour is far
    // off (z ≈ 1.5), two hours are not enough ...
    for h in 48..50 {
        ng_hour(&e, &mut next, T0.plus_seconds(h * 3600), 28, 10);
    }
    assert!(probe(&e, 50).codes().is_empty());
    // ... twelve are.
    for h in 50..60 {
        ng_hour(&e, &mut next, T0.plus_seconds(h * 3600), 28, 10);
    }
    let d = probe(&e, 60);
    assert_eq!(
        (d.action, d.score, codes(&d)[0]),
        (Action::Allow, 59, "conversion.country_drift"),
        "{:?}",
        d.reasons
    );
    // Two clean hours after it ends: the probes convert, and the
    // confirmation lets go.
    for h in 60..62 {
        ng_hour(&e, &mut next, T0.plus_seconds(h * 3600), 20, 12);
    }
    assert!(
        probe(&e, 62).codes().is_empty(),
        "{:?}",
        probe(&e, 62).reasons
    );
}

#[test]
fn drift_settings_are_validated() {
    for bad in [
        "[[conversion.drifts]]\nratio = 1.0\nthreshold = 5\nhours = 24\nweight = 60\nrecent = \"1h\"\ngrace = \"5m\"\nrecent_ratio = 0.9\n",
        "[[conversion.drifts]]\nratio = 0.8\nthreshold = 5\nhours = 49\nweight = 60\nrecent = \"1h\"\ngrace = \"5m\"\nrecent_ratio = 0.9\n",
        "[[conversion.drifts]]\nnumbers = \"old\"\nratio = 0.8\nthreshold = 5\nhours = 24\nweight = 60\nrecent = \"1h\"\ngrace = \"5m\"\nrecent_ratio = 0.9\n",
    ] {
        assert!(Policy::build(std::path::Path::new("t.toml"), bad).is_err(), "{bad}");
    }
}

#[test]
fn held_sends_are_attempts_not_unconverted_deliveries() {
    // A corridor nobody converts in: five unverified sends hold it.
    let e = engine(&format!(
        "{QUIET}[[conversion.rules]]\nkey = \"country\"\nwindow = \"24h\"\ngrace = \"10m\"\nmin_sends = 5\nbelow = 0.1\nweight = 60\n"
    ));
    let kh = |i: u32| class(&format!("8551{i:07}"), "KH", LineType::Mobile);
    for i in 0..5 {
        let d = decide(&e, &kh(i * 7919), T0.plus_seconds(i64::from(i) * 60));
        assert_eq!(d.action, Action::Allow);
    }
    // Forty held sends: they never reached a phone, so the rule still
    // rests on the five that did, not on 0 of 45.
    let at = T0.plus_seconds(3600);
    for i in 5..45 {
        let d = decide(&e, &kh(i * 7919), at.plus_seconds(i64::from(i)));
        assert_eq!(d.action, Action::Hold, "{:?}", d.codes());
        assert!(
            d.reasons[0]
                .detail
                .to_string()
                .starts_with("0 of 5 sends to this country"),
            "{}",
            d.reasons[0].detail
        );
    }
    // The attempts themselves still count (velocity, per number).
    let keys = e.counters().keys(&send(), Some(&kh(0)));
    assert_eq!(e.counters().numbers.sum(keys.number.unwrap(), at, 6), 0);
    let total: u32 = (5..45)
        .map(|i| {
            let k = e.counters().keys(&send(), Some(&kh(i * 7919)));
            e.counters()
                .numbers
                .sum(k.number.unwrap(), at.plus_seconds(60), 6)
        })
        .sum();
    assert_eq!(total, 40);
}

#[test]
fn a_multi_destination_send_counts_deliveries_only_for_what_went_out() {
    // A corridor rule on delivered sends: three unconverted ones hold it.
    let e = engine(&format!(
        "{QUIET}[[conversion.rules]]\nkey = \"country\"\nwindow = \"24h\"\ngrace = \"10m\"\nmin_sends = 3\nbelow = 0.1\nweight = 60\n"
    ));
    let kh = |i: u32| class(&format!("8551{i:07}"), "KH", LineType::Mobile);
    // Five destinations scored as parts of sends that were then refused
    // whole: attempts only, so nothing has been delivered yet.
    for i in 0..5 {
        let d = e.decide_attempt(
            &send(),
            Ok(&kh(i * 7919)),
            None,
            T0.plus_seconds(i64::from(i)),
        );
        assert_eq!(d.action, Action::Allow);
    }
    let at = T0.plus_seconds(3600);
    let d = e.decide_attempt(&send(), Ok(&kh(99)), None, at);
    assert_eq!(d.action, Action::Allow, "{:?}", d.codes());
    // Three of them went out after all: now they are unconverted deliveries.
    for i in 0..3 {
        e.count_forwarded(&send(), &kh(i * 7919), T0.plus_seconds(i64::from(i)));
    }
    let d = e.decide_attempt(&send(), Ok(&kh(98)), None, at);
    assert_eq!(d.action, Action::Hold, "{:?}", d.codes());
    assert!(
        d.reasons[0].detail.to_string().starts_with("0 of 3 sends"),
        "{}",
        d.reasons[0].detail
    );
}

/// The policy of the probe tests: NG's carrier held while its last 2
/// hours convert under 30%, with `probes` (the `[conversion]` probe
/// settings). A carrier, not the country: a country with a learned rate is
/// never stopped by its own rate alone.
fn probed_ng(probes: &str) -> Engine {
    engine(&format!(
        "{QUIET}[conversion]\nlearned_min_sends = 200\n{probes}\n[[conversion.rules]]\nkey = \"carrier\"\nwindow = \"2h\"\ngrace = \"10m\"\nmin_sends = 20\nbelow = 0.3\nweight = 60\n"
    ))
}

/// A day of NG converting at a half (a learned rate), then an hour in which
/// it stops converting: held once 20 matured sends show it. Returns the
/// time just after.
fn hold_ng(e: &Engine) -> Timestamp {
    let mut next = 0;
    for h in 0..24 {
        ng_hour(e, &mut next, T0.plus_seconds(h * 3600), 40, 20);
    }
    ng_hour(e, &mut next, T0.plus_seconds(24 * 3600), 40, 0);
    T0.plus_seconds(25 * 3600 + 300)
}

#[test]
fn probes_nobody_answers_grow_rarer_and_answered_ones_do_not() {
    // NG held for not converting; then 40 sends a minute apart, the
    // probes' numbers converting (or not) 40 s later. Returns the sends
    // that went out: (index, as a probe).
    let run = |answer: bool| {
        let e = probed_ng("probe_every = 2\nprobe_backoff = 2");
        let at = hold_ng(&e);
        let mut out = Vec::new();
        for i in 0..40u32 {
            let c = mobile(&format!("2349{i:09}"));
            let t = at.plus_seconds(i64::from(i) * 60);
            let d = decide(&e, &c, t);
            if d.action == Action::Allow {
                let probe = codes(&d).last() == Some(&"conversion.probe");
                out.push((i, probe));
                if probe && answer {
                    e.record_conversion(&c, t.plus_seconds(40));
                }
            }
        }
        out
    };
    let gaps = |sent: &[(u32, bool)]| {
        let probes: Vec<u32> = sent.iter().filter(|s| s.1).map(|s| s.0).collect();
        probes.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
    };
    // Unanswered, the interval doubles (the country's last hour already
    // held a few sends, so the schedule is past its first stage), and
    // nothing else goes out.
    let unanswered = run(false);
    assert!(unanswered.iter().all(|s| s.1), "{unanswered:?}");
    assert_eq!(gaps(&unanswered), [8, 16]);
    // Answered: one in 2 while held, until the probes' conversions lift
    // the country's rate and it is let go.
    let answered = run(true);
    assert!(gaps(&answered).iter().all(|&g| g == 2), "{answered:?}");
    let released = answered.iter().position(|s| !s.1).expect("let go");
    assert!(released >= 2, "{answered:?}");
    assert!(answered[released..].iter().all(|s| !s.1), "{answered:?}");
}

#[test]
fn one_held_send_in_n_to_a_country_goes_out_as_a_probe_never_to_a_range() {
    let e = probed_ng("probe_every = 10");
    let at = hold_ng(&e);
    let mut probes = Vec::new();
    for i in 0..40u32 {
        let d = decide(
            &e,
            &mobile(&format!("2349{i:09}")),
            at.plus_seconds(i64::from(i)),
        );
        assert!(
            d.codes().contains(&"conversion.carrier"),
            "{i}: {:?}",
            d.codes()
        );
        if d.action == Action::Allow {
            assert_eq!(codes(&d).last(), Some(&"conversion.probe"));
            probes.push(i);
        } else {
            assert_eq!(d.action, Action::Hold);
        }
    }
    assert_eq!(probes.len(), 4, "{probes:?}");
    assert!(probes.windows(2).all(|w| w[1] - w[0] == 10), "{probes:?}");
    // A range is never probed: holding one costs organic traffic next to
    // nothing.
    let e = engine(&format!(
        "{QUIET}[conversion]\nprobe_every = 2\n[[conversion.rules]]\nkey = \"range4\"\nwindow = \"24h\"\ngrace = \"0s\"\nmin_sends = 5\nbelow = 0.1\nweight = 60\n"
    ));
    let kh = |i: u32| class(&format!("85512{i:06}"), "KH", LineType::Mobile);
    let allowed = (0..40u32)
        .filter(|&i| decide(&e, &kh(i), T0.plus_seconds(i64::from(i))).action == Action::Allow)
        .count();
    assert_eq!(allowed, 5);
}
