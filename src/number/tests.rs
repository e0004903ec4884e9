//! Unit tests: real numbers per line type (the metadata's own examples, all
//! territories), shared calling codes, carriers, parse edge cases.

use super::corpus::Rng;
use super::*;
use std::sync::OnceLock;

fn c() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(Classifier::embedded)
}

fn classify(s: &str) -> Classification {
    let n = c().parse(s, None).unwrap_or_else(|e| panic!("{s}: {e}"));
    c().classify(&n)
}

fn region(s: &str) -> Region {
    Region::parse(s).unwrap_or_else(|| panic!("region {s}"))
}

fn parsed(s: &str, hint: Option<&str>) -> String {
    c().parse(s, hint.map(region))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .digits()
        .to_string()
}

/// Every example number of every territory is valid, of its own territory,
/// and of its own type (fixed line and mobile may be reported as
/// `FixedLineOrMobile` when the ranges overlap, as libphonenumber does).
#[test]
fn metadata_examples_classify_as_their_type() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for t in c().territories() {
        for (ty, example) in &t.examples {
            let k = classify(&format!("+{}{example}", t.calling_code));
            checked += 1;
            let type_ok = k.line_type == *ty
                || (matches!(ty, LineType::FixedLine | LineType::Mobile)
                    && k.line_type == LineType::FixedLineOrMobile);
            // A territory earlier in a shared calling code's list may claim
            // the example first (+1 800 is US, +44 800 is GB, +590 590 27 is
            // BL before MF), as in libphonenumber.
            let order: Vec<Region> = c()
                .candidates(t.calling_code)
                .iter()
                .filter_map(|&i| c().regions.get(usize::from(i)).copied())
                .collect();
            let pos = |r: Option<Region>| r.and_then(|r| order.iter().position(|x| *x == r));
            let region_ok = k.region == Some(t.region)
                || matches!((pos(k.region), pos(Some(t.region))), (Some(a), Some(b)) if a < b);
            if !k.valid || !type_ok || !region_ok {
                failures.push(format!(
                    "{} +{}{example} ({ty}): {:?} {} {}",
                    t.region, t.calling_code, k.region, k.valid, k.line_type
                ));
            }
        }
    }
    assert!(checked > 1000, "only {checked} examples");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn line_types_of_real_numbers() {
    let cases = [
        ("+447400123456", LineType::Mobile, "GB"),
        ("+442079460000", LineType::FixedLine, "GB"),
        ("+448001234567", LineType::TollFree, "GB"),
        ("+449091234567", LineType::PremiumRate, "GB"),
        ("+447012345678", LineType::PersonalNumber, "GB"),
        ("+445612345678", LineType::Voip, "GB"),
        ("+447640123456", LineType::Pager, "GB"),
        ("+445512345678", LineType::Uan, "GB"),
        ("+2348031234567", LineType::Mobile, "NG"),
        ("+12015550123", LineType::FixedLineOrMobile, "US"),
        ("+33612345678", LineType::Mobile, "FR"),
        ("+33123456789", LineType::FixedLine, "FR"),
        ("+33801234567", LineType::TollFree, "FR"),
        ("+4915123456789", LineType::Mobile, "DE"),
        ("+393123456789", LineType::Mobile, "IT"),
        ("+390212345678", LineType::FixedLine, "IT"),
        ("+61412345678", LineType::Mobile, "AU"),
        ("+919876543210", LineType::Mobile, "IN"),
    ];
    for (n, ty, r) in cases {
        let k = classify(n);
        assert!(k.valid, "{n} should be valid");
        assert_eq!(k.line_type, ty, "{n}");
        assert_eq!(k.region, Some(region(r)), "{n}");
    }
}

#[test]
fn shared_calling_codes_pick_the_territory() {
    let cases = [
        ("+12015550123", "US"),
        ("+15062345678", "CA"),
        ("+18762101234", "JM"),
        ("+19002345678", "US"),
        ("+79123456789", "RU"),
        ("+74951234567", "RU"),
        ("+77710009998", "KZ"),
        ("+77123456789", "KZ"),
        ("+447400123456", "GB"),
        ("+447781123456", "GG"),
        ("+447797712345", "JE"),
        ("+441624756789", "IM"),
        ("+61412345678", "AU"),
        ("+61891621234", "CC"),
        ("+390669812345", "VA"),
        ("+80012345678", "001"),
    ];
    for (n, r) in cases {
        let k = classify(n);
        assert!(k.valid, "{n}: {k:?}");
        assert_eq!(k.region, Some(region(r)), "{n}");
    }
    // Invalid in every territory of +1: no region, as libphonenumber.
    let k = classify("+11234567890");
    assert!(!k.valid);
    assert_eq!(k.region, None);
    assert_eq!(k.calling_code, 1);
    assert_eq!(c().main_region(1), Some(region("US")));
}

#[test]
fn carriers_by_longest_prefix() {
    assert_eq!(classify("+2348031234567").carrier.as_deref(), Some("MTN"));
    assert_eq!(classify("+2347020123456").carrier.as_deref(), Some("Smile"));
    assert_eq!(
        classify("+2347011234567").carrier.as_deref(),
        Some("Airtel")
    );
    // Fixed lines have no carrier prefix.
    assert_eq!(classify("+33123456789").carrier, None);
    // Invalid numbers get no carrier.
    assert_eq!(classify("+23480312345").carrier, None);
}

#[test]
fn invalid_and_unknown() {
    let k = classify("+2101234567");
    assert_eq!((k.calling_code, k.region, k.valid), (0, None, false));
    assert_eq!(k.line_type, LineType::Unknown);
    let k = classify("+4474001234"); // too short for a GB mobile
    assert!(!k.valid);
    assert_eq!(k.line_type, LineType::Unknown);
    assert_eq!(k.calling_code, 44);
}

#[test]
fn parse_international_forms() {
    assert_eq!(parsed("+1 (201) 555-0123", None), "12015550123");
    assert_eq!(parsed("0044 7400 123456", None), "447400123456");
    assert_eq!(parsed("447400123456", None), "447400123456");
    assert_eq!(parsed("+44.7400.123456", None), "447400123456");
    // Trunk prefix after the calling code is dropped, as providers do.
    assert_eq!(parsed("+44 07400 123456", None), "447400123456");
    assert_eq!(parsed("+1 1 201 555 0123", None), "12015550123");
    // ...but not when it would make a valid number invalid (RU 8xx).
    assert_eq!(parsed("+7 812 345 67 89", None), "78123456789");
    // A hint does not change international numbers.
    assert_eq!(parsed("+447400123456", Some("US")), "447400123456");
}

#[test]
fn parse_national_forms_with_hint() {
    assert_eq!(parsed("07400 123456", Some("GB")), "447400123456");
    assert_eq!(parsed("(201) 555-0123", Some("US")), "12015550123");
    assert_eq!(parsed("1 201 555 0123", Some("US")), "12015550123");
    assert_eq!(parsed("011 44 7400 123456", Some("US")), "447400123456");
    assert_eq!(parsed("8 912 345 67 89", Some("RU")), "79123456789");
    assert_eq!(parsed("0803 123 4567", Some("NG")), "2348031234567");
    assert_eq!(parsed("06 12 34 56 78", Some("fr")), "33612345678");
    // Repeats the hint's calling code.
    assert_eq!(parsed("44 7400 123456", Some("GB")), "447400123456");
    // Local 7-digit Bahamas number: transform rule adds the area code.
    assert_eq!(parsed("345 6789", Some("BS")), "12423456789");
}

#[test]
fn parse_errors() {
    let p = |s: &str| c().parse(s, None);
    assert_eq!(
        p("whatsapp:+2348031234567"),
        Err(ParseError::InvalidCharacters)
    );
    assert_eq!(p("+23480ABC1234"), Err(ParseError::InvalidCharacters));
    assert_eq!(
        p("+44 7400 123456 ext 2"),
        Err(ParseError::InvalidCharacters)
    );
    assert_eq!(p(""), Err(ParseError::Empty));
    assert_eq!(p("  + "), Err(ParseError::Empty));
    assert_eq!(p("+-"), Err(ParseError::Empty));
    assert_eq!(p("+1234567890123456"), Err(ParseError::TooLong));
    assert_eq!(p("+99999999999999999999999999"), Err(ParseError::TooLong));
    assert_eq!(p("+44"), Err(ParseError::TooShort));
    assert_eq!(p("+٤٤٧٤٠٠١٢٣٤٥٦"), Err(ParseError::InvalidCharacters));
}

#[test]
fn masked_keeps_calling_code_and_tail() {
    let k = classify("+2348031234567");
    assert_eq!(k.masked(), "+234********67");
    assert_eq!(format!("{:?}", k.number), "+234********67");
}

/// Arbitrary input never panics and never yields more than 15 digits.
#[test]
fn arbitrary_input_does_not_panic() {
    let alphabet: Vec<char> = "0123456789+-(). 0123456789aZ:#*\u{a0}٤".chars().collect();
    let regions = [
        None,
        Some(region("US")),
        Some(region("RU")),
        Some(region("AR")),
        Some(region("001")),
    ];
    let mut rng = Rng::new(7);
    for _ in 0..200_000 {
        let len = rng.below(24);
        let s: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let hint = regions[rng.below(regions.len())];
        if let Ok(e) = c().parse(&s, hint) {
            assert!(e.digits().len() <= 15 && e.digits().len() >= 4, "{s:?}");
            let k = c().classify(&e);
            assert!(k.valid || k.line_type == LineType::Unknown);
            let _ = k.masked();
        }
        let digits: String = (0..rng.below(16))
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        if let Ok(e) = E164::from_digits(&digits) {
            let _ = c().classify(&e);
        }
    }
}

#[test]
fn cache_returns_the_same_answer() {
    let cached = CachedClassifier::new(std::sync::Arc::new(Classifier::embedded()), 16);
    let n = c().parse("+2348031234567", None).expect("parses");
    let a = cached.classify(&n);
    let b = cached.classify(&n);
    assert_eq!(
        (a.valid, a.line_type, a.region, a.carrier.clone()),
        (b.valid, b.line_type, b.region, b.carrier)
    );
    assert_eq!(a.line_type, LineType::Mobile);
}

#[test]
fn calling_codes_print_their_digits_on_the_stack() {
    for (code, text) in [
        (0u16, "0"),
        (1, "1"),
        (44, "44"),
        (998, "998"),
        (u16::MAX, "65535"),
    ] {
        assert_eq!(super::CodeDigits::new(code).as_bytes(), text.as_bytes());
    }
}
