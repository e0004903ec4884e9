//! Differential test: our classifier against the `phonenumber` crate 0.3.x
//! on 1 M deterministic synthetic numbers (`corpus::mixed`, seed 42), both
//! on the same `PhoneNumberMetadata.xml`. See `DIFFERENTIAL.md`.
//!
//! Three implementations take part:
//!
//! - **ours** (digit DFAs built by build.rs);
//! - an **oracle**: a plain regex re-implementation of libphonenumber's
//!   `getRegionCodeForNumber` + `getNumberTypeHelper` written here on the
//!   `regex` crate and the reference crate's own XML loader, run in two
//!   modes: faithful (full match, generalDesc lengths = union of the types',
//!   as libphonenumber) and with the reference crate's deviations switched on
//!   one by one;
//! - the **reference** `phonenumber` crate.
//!
//! Assertions: ours equals the faithful oracle on every number (region,
//! validity, type) — this catches any bug of the DFA compiler or of the type
//! precedence, e.g. swapped line types; agreement with the reference is above
//! `MIN_AGREEMENT`; and every disagreement with the reference is explained by
//! a documented class (a subset of the reference's known deviations, or a
//! different national-prefix normalisation at parse time). Anything else
//! fails the test with examples.

use super::corpus;
use super::*;
use regex::Regex;
use std::collections::BTreeMap;

/// Agreement (validity, type, region) with the reference on this corpus.
/// Measured 96.6% (see DIFFERENTIAL.md); every disagreement is explained, so
/// this bound only guards against a regression that a class would hide (a
/// broken classifier that happens to look like a reference quirk would move
/// thousands of numbers into those classes).
const MIN_AGREEMENT: f64 = 0.95;
const CORPUS_SIZE: usize = 1_000_000;

/// The disagreement classes DIFFERENTIAL.md documents; any other class
/// fails the test.
const DOCUMENTED_CLASSES: [&str; 6] = [
    "parse: national prefix kept by ours, stripped by reference",
    "parse: national prefix stripped by ours, kept by reference",
    "parse: national prefix stripped by ours, stripped by reference",
    "reference quirk: leading-zeros-dropped",
    "reference quirk: prefix-match",
    "reference quirk: prefix-match+leading-zeros-dropped",
];

fn ref_type(t: phonenumber::Type) -> LineType {
    use phonenumber::Type as T;
    match t {
        T::FixedLine => LineType::FixedLine,
        T::Mobile => LineType::Mobile,
        T::FixedLineOrMobile => LineType::FixedLineOrMobile,
        T::TollFree => LineType::TollFree,
        T::PremiumRate => LineType::PremiumRate,
        T::SharedCost => LineType::SharedCost,
        T::Voip => LineType::Voip,
        T::PersonalNumber => LineType::PersonalNumber,
        T::Pager => LineType::Pager,
        T::Uan => LineType::Uan,
        T::Voicemail => LineType::Voicemail,
        _ => LineType::Unknown,
    }
}

/// The reference crate's deviations from libphonenumber, as switches.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Quirks {
    /// Patterns are searched with `find()` and accepted if the match starts
    /// at 0: a prefix match, not a full match.
    prefix_match: bool,
    /// generalDesc has no possible lengths (libphonenumber uses the union of
    /// the types' lengths), so only its pattern is checked.
    no_general_lengths: bool,
    /// Type and region are computed on the national number without its
    /// leading zeros (`NationalNumber::value().to_string()`), validity with
    /// them.
    drop_leading_zeros: bool,
}

impl Quirks {
    const FAITHFUL: Quirks = Quirks {
        prefix_match: false,
        no_general_lengths: false,
        drop_leading_zeros: false,
    };

    fn all_subsets() -> Vec<Quirks> {
        let mut v: Vec<Quirks> = (0..8)
            .map(|b| Quirks {
                prefix_match: b & 1 != 0,
                no_general_lengths: b & 2 != 0,
                drop_leading_zeros: b & 4 != 0,
            })
            .collect();
        v.sort_by_key(|q| (q.count(), *q));
        v
    }

    fn count(&self) -> u8 {
        u8::from(self.prefix_match)
            + u8::from(self.no_general_lengths)
            + u8::from(self.drop_leading_zeros)
    }

    fn name(&self) -> String {
        let mut v = Vec::new();
        if self.prefix_match {
            v.push("prefix-match");
        }
        if self.no_general_lengths {
            v.push("no-generalDesc-lengths");
        }
        if self.drop_leading_zeros {
            v.push("leading-zeros-dropped");
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join("+")
        }
    }
}

struct ODesc {
    full: Regex,
    prefix: Regex,
    pattern: String,
    lengths: Vec<u16>,
}

struct OTerritory {
    id: String,
    leading: Option<Regex>,
    /// Slot order as `metadata::TYPE_TAGS`.
    descs: Vec<Option<ODesc>>,
    general_union: Vec<u16>,
}

struct Oracle {
    territories: Vec<OTerritory>,
    by_code: BTreeMap<u16, Vec<usize>>,
}

const SLOT_LINE_TYPES: [(usize, LineType); 8] = [
    (1, LineType::PremiumRate),
    (2, LineType::TollFree),
    (3, LineType::SharedCost),
    (4, LineType::Voip),
    (5, LineType::PersonalNumber),
    (6, LineType::Pager),
    (7, LineType::Uan),
    (8, LineType::Voicemail),
];

impl Oracle {
    fn load(xml: &str) -> Oracle {
        let metas = phonenumber::metadata::loader::load(std::io::Cursor::new(xml)).expect("loader");
        let mut territories = Vec::new();
        let mut by_code: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for m in metas {
            let desc = |d: &Option<phonenumber::metadata::loader::Descriptor>| {
                let d = d.as_ref()?;
                let p: String = d
                    .national_number
                    .as_ref()?
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                Some(ODesc {
                    full: Regex::new(&format!("^(?:{p})$")).expect("pattern"),
                    prefix: Regex::new(&format!("^(?:{p})")).expect("pattern"),
                    pattern: p,
                    lengths: d.possible_length.clone(),
                })
            };
            let descs = vec![
                desc(&m.general),
                desc(&m.premium_rate),
                desc(&m.toll_free),
                desc(&m.shared_cost),
                desc(&m.voip),
                desc(&m.personal_number),
                desc(&m.pager),
                desc(&m.uan),
                desc(&m.voicemail),
                desc(&m.fixed_line),
                desc(&m.mobile),
            ];
            let mut union: Vec<u16> = descs
                .iter()
                .skip(1)
                .flatten()
                .flat_map(|d| d.lengths.clone())
                .collect();
            union.sort();
            union.dedup();
            let code = m.country_code.expect("code");
            let i = territories.len();
            let list = by_code.entry(code).or_default();
            if m.main_country_for_code {
                list.insert(0, i);
            } else {
                list.push(i);
            }
            territories.push(OTerritory {
                id: m.id.clone().expect("id"),
                leading: m
                    .leading_digits
                    .as_ref()
                    .map(|l| Regex::new(&format!("^(?:{})", l.trim())).expect("leading")),
                descs,
                general_union: union,
            });
        }
        Oracle {
            territories,
            by_code,
        }
    }

    fn matches(t: &OTerritory, slot: usize, n: &str, q: Quirks) -> bool {
        let Some(Some(d)) = t.descs.get(slot) else {
            return false;
        };
        let lengths = if slot == 0 {
            if q.no_general_lengths {
                &d.lengths
            } else {
                &t.general_union
            }
        } else {
            &d.lengths
        };
        if !lengths.is_empty() && !lengths.contains(&(n.len() as u16)) {
            return false;
        }
        if q.prefix_match {
            d.prefix.is_match(n)
        } else {
            d.full.is_match(n)
        }
    }

    fn number_type(t: &OTerritory, n: &str, q: Quirks) -> LineType {
        if !Self::matches(t, 0, n, q) {
            return LineType::Unknown;
        }
        for (slot, ty) in SLOT_LINE_TYPES {
            if Self::matches(t, slot, n, q) {
                return ty;
            }
        }
        let same =
            matches!((&t.descs[9], &t.descs[10]), (Some(f), Some(m)) if f.pattern == m.pattern);
        if Self::matches(t, 9, n, q) {
            if same || Self::matches(t, 10, n, q) {
                return LineType::FixedLineOrMobile;
            }
            return LineType::FixedLine;
        }
        if !same && Self::matches(t, 10, n, q) {
            return LineType::Mobile;
        }
        LineType::Unknown
    }

    /// (region id, type) like getRegionCodeForNumber + getNumberType.
    fn select(&self, code: u16, n: &str, q: Quirks) -> (Option<&str>, LineType) {
        let Some(list) = self.by_code.get(&code) else {
            return (None, LineType::Unknown);
        };
        if let [only] = list.as_slice() {
            let t = &self.territories[*only];
            return (Some(&t.id), Self::number_type(t, n, q));
        }
        for &i in list {
            let t = &self.territories[i];
            match &t.leading {
                Some(l) => {
                    if l.is_match(n) {
                        return (Some(&t.id), Self::number_type(t, n, q));
                    }
                }
                None => {
                    let ty = Self::number_type(t, n, q);
                    if ty != LineType::Unknown {
                        return (Some(&t.id), ty);
                    }
                }
            }
        }
        (None, LineType::Unknown)
    }

    /// (valid, type, region) as the reference computes them, given its
    /// parsed national number, with some of its deviations switched on.
    fn emulate(&self, code: u16, national: &str, q: Quirks) -> (bool, LineType, Option<String>) {
        let valid = self.select(code, national, q).1 != LineType::Unknown;
        let n = if q.drop_leading_zeros {
            national.trim_start_matches('0')
        } else {
            national
        };
        let (region, ty) = self.select(code, n, q);
        (valid, ty, region.map(str::to_string))
    }
}

fn region_id(r: Option<Region>) -> Option<String> {
    r.map(|r| {
        if r == Region::NON_GEOGRAPHIC {
            "001".to_string()
        } else {
            r.to_string()
        }
    })
}

/// Comparable outcome: (valid, type, region of a valid number).
fn outcome(valid: bool, ty: LineType, region: Option<String>) -> (bool, LineType, Option<String>) {
    (valid, ty, if valid { region } else { None })
}

#[test]
fn differential_against_phonenumber_crate() {
    let t0 = std::time::Instant::now();
    let n: usize = std::env::var("TOLLGATE_DIFF_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CORPUS_SIZE);
    let c = Classifier::embedded();
    let xml = include_str!("data/PhoneNumberMetadata.xml");
    let db = phonenumber::metadata::Database::parse(xml).expect("reference loads the metadata");
    let oracle = Oracle::load(xml);
    let mut corpus = corpus::mixed(&c, 42, n);
    // Sorted by calling code and digits: the reference's 100-entry regex
    // LRU then hits, which is what keeps this test in CI time.
    corpus.sort();

    let mut agree = 0usize;
    let mut agree_valid = 0usize;
    let mut oracle_mismatch: Vec<String> = Vec::new();
    let mut classes: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    let mut unexplained: Vec<String> = Vec::new();
    let subsets = Quirks::all_subsets();
    let note = |classes: &mut BTreeMap<String, (usize, Vec<String>)>, k: String, ex: String| {
        let e = classes.entry(k).or_default();
        e.0 += 1;
        if e.1.len() < 4 {
            e.1.push(ex);
        }
    };

    for s in &corpus {
        let input = format!("+{s}");
        let ours = c.parse_and_classify(&input, None);
        let theirs = phonenumber::parse_with(&db, None, &input);

        // 1. Ours against the faithful oracle, on our parsed number.
        if let Ok(o) = &ours {
            let digits = o.number.digits();
            if let Some((code, len)) = c.calling_code_of(digits.as_bytes()) {
                let national = &digits[len..];
                let (region, ty) = oracle.select(code, national, Quirks::FAITHFUL);
                let expect = (region.map(str::to_string), ty);
                let got = (region_id(o.region), o.line_type);
                if expect != got && oracle_mismatch.len() < 20 {
                    oracle_mismatch.push(format!("{input}: ours {got:?}, oracle {expect:?}"));
                }
            } else if o.valid {
                oracle_mismatch.push(format!("{input}: valid without a calling code"));
            }
        }

        // 2. Ours against the reference.
        let (o, r) = match (&ours, &theirs) {
            (Ok(o), Ok(r)) => (o, r),
            (Ok(o), Err(e)) => {
                if o.valid {
                    note(
                        &mut classes,
                        format!("reference parse error {e:?}, ours valid"),
                        input.clone(),
                    );
                } else {
                    agree += 1;
                    agree_valid += 1;
                }
                continue;
            }
            (Err(e), Ok(r)) => {
                if r.is_valid_with(&db) {
                    unexplained.push(format!("{input}: our parse error {e:?}, reference valid"));
                } else {
                    agree += 1;
                    agree_valid += 1;
                }
                continue;
            }
            (Err(_), Err(_)) => {
                agree += 1;
                agree_valid += 1;
                continue;
            }
        };
        let ref_out = outcome(
            r.is_valid_with(&db),
            ref_type(r.number_type(&db)),
            r.metadata(&db).map(|m| m.id().to_string()),
        );
        let our_out = outcome(o.valid, o.line_type, region_id(o.region));
        if ref_out.0 == our_out.0 {
            agree_valid += 1;
        }
        if ref_out == our_out {
            agree += 1;
            continue;
        }
        let code = r.code().value();
        let ref_national = r.national().to_string();
        let ours_digits = o.number.digits();
        let ref_digits = format!("{code}{ref_national}");
        let ex = format!(
            "{input}: ours {our_out:?} as +{ours_digits}, reference {ref_out:?} as +{ref_digits}"
        );
        if ref_digits != ours_digits {
            // Different national number after parsing: national-prefix
            // handling differs (the reference picks the metadata for
            // stripping by validity and strips `nationalPrefix` a second
            // time unconditionally; libphonenumber uses the calling code's
            // main territory and keeps a prefix whose removal makes a valid
            // number invalid).
            let input_digits = s.as_str();
            let we_stripped = ours_digits != input_digits;
            let they_stripped = ref_digits != input_digits;
            let k = format!(
                "parse: national prefix {} by ours, {} by reference",
                if we_stripped { "stripped" } else { "kept" },
                if they_stripped { "stripped" } else { "kept" }
            );
            // The reference's answer must still follow from its own national
            // number under its deviations.
            if subsets.iter().any(|q| {
                let (v, t, reg) = oracle.emulate(code, &ref_national, *q);
                outcome(v, t, reg) == ref_out
            }) {
                note(&mut classes, k, ex);
            } else {
                unexplained.push(format!("{ex} [{k}, not reproduced]"));
            }
            continue;
        }
        match subsets.iter().find(|q| {
            let (v, t, reg) = oracle.emulate(code, &ref_national, **q);
            outcome(v, t, reg) == ref_out
        }) {
            Some(q) if *q != Quirks::FAITHFUL => {
                note(&mut classes, format!("reference quirk: {}", q.name()), ex)
            }
            _ => unexplained.push(ex),
        }
    }

    let total = corpus.len();
    let agreement = agree as f64 / total as f64;
    eprintln!(
        "differential: {total} numbers, agreement {:.3}% (validity alone: {:.3}%), {:?}",
        agreement * 100.0,
        agree_valid as f64 * 100.0 / total as f64,
        t0.elapsed()
    );
    for (k, (n, ex)) in &classes {
        eprintln!("{n:8}  {k}\n          {}", ex.join("\n          "));
    }
    assert!(
        oracle_mismatch.is_empty(),
        "ours differs from the regex oracle:\n{}",
        oracle_mismatch.join("\n")
    );
    assert!(
        unexplained.is_empty(),
        "{} unexplained disagreements, e.g.:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let undocumented: Vec<&String> = classes
        .keys()
        .filter(|k| !DOCUMENTED_CLASSES.contains(&k.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "undocumented disagreement classes: {undocumented:?}"
    );
    assert!(
        agreement >= MIN_AGREEMENT,
        "agreement {agreement} below {MIN_AGREEMENT}"
    );
}
