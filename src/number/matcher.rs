//! Walks a territory's digit automaton and turns the accept mask into
//! libphonenumber's answers: number type, validity, and which of the
//! territories sharing a calling code the number belongs to.
//!
//! The automata are built by `build.rs` (see `build/number_dfa.rs`): one per
//! territory, all patterns of that territory in one table, each state's
//! accept mask saying which patterns a full match ends in. A walk is one
//! table load per digit and stops early at the dead state.

use super::metadata::{
    TerritoryData, BIT_LEADING, SLOTS, SLOT_FIXED_LINE, SLOT_GENERAL, SLOT_MOBILE,
};
use super::types::LineType;

/// The decoded transition and accept tables of all territories.
pub(crate) struct Automata {
    /// `trans[state * 10 + digit]`; state 0 is the dead state.
    trans: Box<[u32]>,
    accept: Box<[u16]>,
}

/// Why the embedded tables could not be decoded (only possible if build.rs
/// and this module disagree on the format).
#[derive(Debug, thiserror::Error)]
#[error("embedded number tables are corrupt: {0}")]
pub struct TableError(pub(crate) &'static str);

impl Automata {
    pub(crate) fn decode(trans: &[u8], accept: &[u8], states: usize) -> Result<Self, TableError> {
        if trans.len() != states * 40 || accept.len() != states * 2 {
            return Err(TableError("automaton table sizes"));
        }
        let trans: Box<[u32]> = trans
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if trans.iter().any(|&t| t as usize >= states) {
            return Err(TableError("automaton transition out of range"));
        }
        let accept = accept
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Ok(Automata { trans, accept })
    }

    /// Accept mask after reading all of `national` (ASCII digits) from `start`.
    #[inline]
    pub(crate) fn walk(&self, start: u32, national: &[u8]) -> u16 {
        let mut s = start as usize;
        for &b in national {
            let d = b.wrapping_sub(b'0') as usize;
            if d > 9 {
                return 0;
            }
            s = match self.trans.get(s * 10 + d) {
                Some(&n) => n as usize,
                None => return 0,
            };
            if s == 0 {
                return 0;
            }
        }
        self.accept.get(s).copied().unwrap_or(0)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.trans.len() * 4 + self.accept.len() * 2
    }
}

/// Type slots 1..=8 in libphonenumber's test order, with their line type.
const SPECIAL_TYPES: [(usize, LineType); 8] = [
    (1, LineType::PremiumRate),
    (2, LineType::TollFree),
    (3, LineType::SharedCost),
    (4, LineType::Voip),
    (5, LineType::PersonalNumber),
    (6, LineType::Pager),
    (7, LineType::Uan),
    (8, LineType::Voicemail),
];

/// libphonenumber's `isNumberMatchingDesc`: the length is possible for the
/// type and the type's pattern fully matched.
#[inline]
fn matches(t: &TerritoryData, mask: u16, slot: usize, len: usize) -> bool {
    slot < SLOTS
        && mask & (1 << slot) != 0
        && len < 32
        && t.lengths.get(slot).is_some_and(|l| l & (1 << len) != 0)
}

/// libphonenumber's `getNumberTypeHelper`, from an accept mask.
pub(crate) fn number_type(t: &TerritoryData, mask: u16, len: usize) -> LineType {
    if !matches(t, mask, SLOT_GENERAL, len) {
        return LineType::Unknown;
    }
    for (slot, ty) in SPECIAL_TYPES {
        if matches(t, mask, slot, len) {
            return ty;
        }
    }
    if matches(t, mask, SLOT_FIXED_LINE, len) {
        if t.same_mobile_fixed || matches(t, mask, SLOT_MOBILE, len) {
            return LineType::FixedLineOrMobile;
        }
        return LineType::FixedLine;
    }
    if !t.same_mobile_fixed && matches(t, mask, SLOT_MOBILE, len) {
        return LineType::Mobile;
    }
    LineType::Unknown
}

/// The generalDesc pattern alone fully matches (libphonenumber's
/// `matchNationalNumber(number, generalDesc)`, no length check), used by
/// national-prefix stripping.
pub(crate) fn general_pattern_matches(a: &Automata, t: &TerritoryData, national: &[u8]) -> bool {
    a.walk(t.start, national) & (1 << SLOT_GENERAL) != 0
}

/// The outcome for one territory.
pub(crate) struct Match {
    pub territory: usize,
    pub line_type: LineType,
}

/// libphonenumber's `getRegionCodeForNumberFromRegionList` followed by
/// `getNumberType`: among the territories sharing a calling code (main
/// country first, then metadata order), the first whose `leadingDigits`
/// matches a prefix or, for territories without one, whose type patterns
/// match. A single territory is always chosen, even for invalid numbers.
pub(crate) fn select(
    a: &Automata,
    territories: &[TerritoryData],
    candidates: &[u16],
    national: &[u8],
) -> Option<Match> {
    let len = national.len();
    if let [only] = candidates {
        let i = usize::from(*only);
        let t = territories.get(i)?;
        let mask = a.walk(t.start, national);
        return Some(Match {
            territory: i,
            line_type: number_type(t, mask, len),
        });
    }
    for &c in candidates {
        let i = usize::from(c);
        let Some(t) = territories.get(i) else {
            continue;
        };
        let mask = a.walk(t.start, national);
        if t.has_leading_digits {
            if mask & BIT_LEADING != 0 {
                return Some(Match {
                    territory: i,
                    line_type: number_type(t, mask, len),
                });
            }
        } else {
            let line_type = number_type(t, mask, len);
            if line_type != LineType::Unknown {
                return Some(Match {
                    territory: i,
                    line_type,
                });
            }
        }
    }
    None
}
