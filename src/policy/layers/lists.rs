//! Allow, deny and hold lists of numbers, ranges and countries: hard rules
//! checked before any scoring. Allow wins over deny, deny over hold (a
//! trusted number inside a denied range still goes).
//!
//! Entries come from the policy file and from list files it names, read on
//! every (re)load, one entry per line:
//!
//! ```text
//! # action scope value
//! deny   range   +23480312
//! allow  number  +447700900123
//! hold   country NG
//! ```
//!
//! Numbers are normalised as live traffic is (the classifier's parse, which
//! strips a trunk prefix written after the country code: `+44 07700 900123`
//! is `+447700900123`), so an entry matches however it was typed. Ranges
//! are digit prefixes taken literally; a deny list of thousands of ranges
//! costs one set probe per prefix length, not a scan.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::number::{Classifier, Region};
use crate::policy::{Action, Decision, Reason, RejectClass, Scope, Subject};

/// `[lists]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Always forwarded, unscored.
    pub allow: Entries,
    /// Always blocked: countries as geo refusals, numbers and ranges as
    /// fraud refusals.
    pub deny: Entries,
    /// Always held for review.
    pub hold: Entries,
    /// List files (relative to the policy file), read at every load.
    pub files: Vec<String>,
}

/// One list: numbers (`+447700900123`), ranges (digit prefixes,
/// `+4477009001`) and countries (`NG`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Entries {
    pub numbers: Vec<String>,
    pub ranges: Vec<String>,
    pub countries: Vec<String>,
}

#[derive(Debug, Default)]
struct Compiled {
    numbers: HashSet<String>,
    ranges: Ranges,
    countries: HashSet<Region>,
}

/// Digit prefixes, probed by length.
#[derive(Debug, Default)]
struct Ranges {
    prefixes: HashSet<String>,
    /// Shortest and longest prefix: the lengths worth probing.
    lengths: (usize, usize),
}

impl Ranges {
    fn new(prefixes: HashSet<String>) -> Ranges {
        let lengths = prefixes.iter().fold((usize::MAX, 0), |(lo, hi), p| {
            (lo.min(p.len()), hi.max(p.len()))
        });
        Ranges { prefixes, lengths }
    }

    fn contains_prefix_of(&self, digits: &str) -> bool {
        let (lo, hi) = self.lengths;
        (lo..=hi.min(digits.len()))
            .any(|n| digits.get(..n).is_some_and(|p| self.prefixes.contains(p)))
    }
}

#[derive(Debug, Default)]
pub struct Lists {
    allow: Compiled,
    deny: Compiled,
    hold: Compiled,
}

impl Entries {
    fn compile(&self, which: &str, classifier: Option<&Classifier>) -> Result<Compiled, String> {
        let digits = |s: &str| {
            let parsed = match classifier {
                Some(c) => c.parse(s, None),
                None => return Err(format!("lists.{which}.numbers: no number classifier")),
            };
            parsed
                .map(|n| n.digits().to_owned())
                .map_err(|e| format!("lists.{which}.numbers: `{s}`: {e}"))
        };
        let ranges = self
            .ranges
            .iter()
            .map(|r| {
                let d: String = r.trim().trim_start_matches('+').to_owned();
                if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
                    Err(format!(
                        "lists.{which}.ranges: `{r}` must be digits, optionally after `+`"
                    ))
                } else {
                    Ok(d)
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Compiled {
            numbers: self
                .numbers
                .iter()
                .map(|n| digits(n))
                .collect::<Result<_, _>>()?,
            ranges: Ranges::new(ranges),
            countries: self
                .countries
                .iter()
                .map(|c| {
                    Region::parse(c).ok_or_else(|| {
                        format!("lists.{which}.countries: `{c}` is not an ISO country code")
                    })
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

impl Config {
    /// Lists from run-time entries: `(scope, value, action)` with scope
    /// `number|range|country` and action `allow|hold|block`.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Result<Lists, String> {
        let mut cfg = Config::default();
        for (scope, value, action) in entries {
            let list = match action {
                "allow" => &mut cfg.allow,
                "block" | "deny" => &mut cfg.deny,
                "hold" => &mut cfg.hold,
                other => return Err(format!("unknown action `{other}`")),
            };
            match scope {
                "number" => list.numbers.push(value.to_owned()),
                "range" => list.ranges.push(value.to_owned()),
                "country" => list.countries.push(value.to_owned()),
                other => return Err(format!("unknown scope `{other}`")),
            }
        }
        cfg.build(None)
    }

    /// Compiles the inline entries plus those of `files`, read from `base`.
    pub fn build(&self, base: Option<&Path>) -> Result<Lists, String> {
        let mut allow = self.allow.clone();
        let mut deny = self.deny.clone();
        let mut hold = self.hold.clone();
        for file in &self.files {
            let path = base
                .map(|b| b.join(file))
                .unwrap_or_else(|| PathBuf::from(file));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("lists.files: {}: {e}", path.display()))?;
            for (i, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let at = || format!("{}:{}", path.display(), i + 1);
                let mut words = line.split_whitespace();
                let (Some(action), Some(scope), Some(value)) =
                    (words.next(), words.next(), words.next())
                else {
                    return Err(format!("{}: expected `action scope value`", at()));
                };
                let list = match action {
                    "allow" => &mut allow,
                    "deny" => &mut deny,
                    "hold" => &mut hold,
                    _ => return Err(format!("{}: action must be allow, deny or hold", at())),
                };
                match scope {
                    "number" => list.numbers.push(value.to_owned()),
                    "range" => list.ranges.push(value.to_owned()),
                    "country" => list.countries.push(value.to_owned()),
                    _ => return Err(format!("{}: scope must be number, range or country", at())),
                }
            }
        }
        // Built only when there are numbers to normalise (a few ms).
        let classifier = if [&allow, &deny, &hold].iter().any(|e| !e.numbers.is_empty()) {
            Some(Classifier::try_embedded().map_err(|e| format!("lists: {e}"))?)
        } else {
            None
        };
        let c = classifier.as_ref();
        Ok(Lists {
            allow: allow.compile("allow", c)?,
            deny: deny.compile("deny", c)?,
            hold: hold.compile("hold", c)?,
        })
    }
}

enum Hit {
    Number,
    Range,
    Country(Region),
}

impl Compiled {
    fn hit(&self, subject: &Subject<'_>) -> Option<Hit> {
        let c = subject.number.ok()?;
        let d = c.number.digits();
        if !self.numbers.is_empty() && self.numbers.contains(d) {
            return Some(Hit::Number);
        }
        if self.ranges.contains_prefix_of(d) {
            return Some(Hit::Range);
        }
        c.region
            .filter(|r| !self.countries.is_empty() && self.countries.contains(r))
            .map(Hit::Country)
    }
}

impl Lists {
    /// A decision when a list matches, `None` otherwise.
    pub fn decide(&self, subject: &Subject<'_>) -> Option<Decision> {
        if let Some(hit) = self.allow.hit(subject) {
            let (code, detail) = match hit {
                Hit::Number => (
                    "lists.allow_number",
                    "the number is on the allow list".to_owned(),
                ),
                Hit::Range => (
                    "lists.allow_range",
                    "the number's range is on the allow list".to_owned(),
                ),
                Hit::Country(r) => ("lists.allow_country", format!("{r} is on the allow list")),
            };
            return Some(hard(Action::Allow, code, detail, RejectClass::Fraud));
        }
        if let Some(hit) = self.deny.hit(subject) {
            let (code, detail, class) = match hit {
                Hit::Number => (
                    "lists.deny_number",
                    "the number is on the deny list".to_owned(),
                    RejectClass::Fraud,
                ),
                Hit::Range => (
                    "lists.deny_range",
                    "the number's range is on the deny list".to_owned(),
                    RejectClass::Fraud,
                ),
                Hit::Country(r) => (
                    "lists.deny_country",
                    format!("{r} is on the deny list"),
                    RejectClass::Geo,
                ),
            };
            return Some(hard(Action::Block, code, detail, class));
        }
        let (code, detail) = match self.hold.hit(subject)? {
            Hit::Number => (
                "lists.hold_number",
                "the number is on the hold list".to_owned(),
            ),
            Hit::Range => (
                "lists.hold_range",
                "the number's range is on the hold list".to_owned(),
            ),
            Hit::Country(r) => ("lists.hold_country", format!("{r} is on the hold list")),
        };
        Some(hard(Action::Hold, code, detail, RejectClass::Fraud))
    }
}

fn hard(action: Action, code: &'static str, detail: String, class: RejectClass) -> Decision {
    Decision {
        action,
        score: if action == Action::Allow { 0 } else { 100 },
        reasons: vec![Reason {
            code,
            detail: detail.into(),
            weight: if action == Action::Allow { 0 } else { 100 },
            class,
            scope: Scope::Local,
            pumping: None,
        }],
        hard: true,
        trade: None,
    }
}
