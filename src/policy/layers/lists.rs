//! Allow and deny lists of numbers, ranges and countries: hard rules checked
//! before any scoring. An allow entry wins over a deny entry of the same or a
//! broader scope (a trusted number inside a denied range still goes).

use std::collections::HashSet;

use serde::Deserialize;

use crate::number::{Region, E164};
use crate::policy::{Action, Decision, Reason, RejectClass, Subject};

/// `[lists]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Always forwarded, unscored.
    pub allow: Entries,
    /// Always blocked: countries as geo refusals, numbers and ranges as
    /// fraud refusals.
    pub deny: Entries,
}

/// One list: numbers (`+447700900123`), ranges (digit prefixes,
/// `+4477009001`) and countries (`NG`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Entries {
    pub numbers: Vec<String>,
    pub ranges: Vec<String>,
    pub countries: Vec<String>,
}

#[derive(Debug, Default)]
struct Compiled {
    numbers: HashSet<String>,
    ranges: Vec<String>,
    countries: HashSet<Region>,
}

#[derive(Debug, Default)]
pub struct Lists {
    allow: Compiled,
    deny: Compiled,
}

impl Entries {
    fn compile(&self, which: &str) -> Result<Compiled, String> {
        let digits = |kind: &str, s: &str| {
            E164::parse_international(s, None)
                .map(|n| n.digits().to_owned())
                .map_err(|e| format!("lists.{which}.{kind}: `{s}`: {e}"))
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
                .map(|n| digits("numbers", n))
                .collect::<Result<_, _>>()?,
            ranges,
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
    pub fn build(&self) -> Result<Lists, String> {
        Ok(Lists {
            allow: self.allow.compile("allow")?,
            deny: self.deny.compile("deny")?,
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
        if self.numbers.contains(d) {
            return Some(Hit::Number);
        }
        if self.ranges.iter().any(|r| d.starts_with(r.as_str())) {
            return Some(Hit::Range);
        }
        c.region
            .filter(|r| self.countries.contains(r))
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
            return Some(Decision {
                action: Action::Allow,
                score: 0,
                reasons: vec![Reason {
                    code,
                    detail,
                    weight: 0,
                    class: RejectClass::Fraud,
                }],
                hard: true,
            });
        }
        let hit = self.deny.hit(subject)?;
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
        Some(Decision {
            action: Action::Block,
            score: 100,
            reasons: vec![Reason {
                code,
                detail,
                weight: 100,
                class,
            }],
            hard: true,
        })
    }
}
