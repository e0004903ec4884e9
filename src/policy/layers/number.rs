//! The number layer: numbers that are invalid, or whose line type cannot
//! receive an OTP SMS, are blocked outright; risky line types (VoIP) add
//! weight without blocking.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::number::LineType;
use crate::policy::{Reason, RejectClass, Scope, Subject};

/// `[number]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Block destinations that are not valid numbers for their territory.
    pub block_invalid: bool,
    /// Line types blocked outright: they cannot receive an OTP SMS
    /// (`premium_rate`, `shared_cost`, `toll_free`, `uan`, `fixed_line`,
    /// `pager`, `voicemail`).
    pub block_line_types: Vec<String>,
    /// Line types that are a risk but not a block, with their score weight
    /// (`voip = 30`).
    pub risk_line_types: BTreeMap<String, u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            block_invalid: true,
            block_line_types: [
                "premium_rate",
                "shared_cost",
                "toll_free",
                "uan",
                "fixed_line",
                "pager",
                "voicemail",
            ]
            .map(str::to_owned)
            .to_vec(),
            risk_line_types: BTreeMap::from([("voip".to_owned(), 30)]),
        }
    }
}

#[derive(Debug)]
pub struct NumberLayer {
    block_invalid: bool,
    blocked: Vec<LineType>,
    risky: Vec<(LineType, u32)>,
}

fn line_type(name: &str) -> Result<LineType, String> {
    LineType::parse(name).ok_or_else(|| {
        let known: Vec<&str> = LineType::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown line type `{name}` (known: {})", known.join(", "))
    })
}

impl Config {
    pub fn build(&self) -> Result<NumberLayer, String> {
        Ok(NumberLayer {
            block_invalid: self.block_invalid,
            blocked: self
                .block_line_types
                .iter()
                .map(|n| line_type(n))
                .collect::<Result<_, _>>()?,
            risky: self
                .risk_line_types
                .iter()
                .map(|(n, w)| Ok((line_type(n)?, *w)))
                .collect::<Result<_, String>>()?,
        })
    }
}

impl NumberLayer {
    /// Adds this layer's reasons; returns `true` when one of them is a hard
    /// block.
    pub fn evaluate(&self, subject: &Subject<'_>, out: &mut Vec<Reason>) -> bool {
        let c = match subject.number {
            Err(e) => {
                out.push(Reason {
                    code: "number.unparseable",
                    detail: {
                        let e = e.clone();
                        crate::detail!("the destination is not a phone number ({e})")
                    },
                    weight: 100,
                    class: RejectClass::InvalidNumber,
                    scope: Scope::Local,
                    pumping: None,
                });
                return self.block_invalid;
            }
            Ok(c) => c,
        };
        if !c.valid {
            out.push(Reason {
                code: "number.invalid",
                // Rendered only when read, as every detail here: most
                // decisions never print theirs.
                detail: {
                    let region = c.region;
                    crate::detail!(
                        "the number is not valid in the numbering plan ({})",
                        region.as_ref().map_or("no country", |r| r.as_str())
                    )
                },
                weight: 100,
                class: RejectClass::InvalidNumber,
                scope: Scope::Local,
                pumping: None,
            });
            return self.block_invalid;
        }
        if self.blocked.contains(&c.line_type) {
            out.push(Reason {
                code: "number.line_type",
                detail: {
                    let t = c.line_type;
                    crate::detail!("{t} numbers cannot receive an OTP SMS")
                },
                weight: 100,
                class: RejectClass::LineType,
                scope: Scope::Local,
                pumping: None,
            });
            return true;
        }
        if let Some((t, w)) = self.risky.iter().find(|(t, _)| *t == c.line_type) {
            out.push(Reason {
                code: "number.risky_line_type",
                detail: {
                    let t = *t;
                    crate::detail!("{t} numbers are often used for pumping")
                },
                weight: *w,
                class: RejectClass::LineType,
                scope: Scope::Local,
                pumping: None,
            });
        }
        false
    }
}
