//! Classification of a destination number: E.164 parsing, country, validity,
//! line type, range keys and the carrier the range was allocated to.
//!
//! This is on the hot path and the attacker chooses its input, so it must stay
//! in single-digit microseconds for never-seen numbers from any country
//! (DESIGN.md §3). The data is libphonenumber's (Apache-2.0, `data/`),
//! embedded in the binary.
//!
//! # How
//!
//! `build.rs` compiles every territory's number patterns (generalDesc, the
//! ten types, and the territory's `leadingDigits`) into **one minimised DFA
//! per territory over the ten digits**, whose states carry a bitmask of the
//! patterns a full match ends in. Classifying a number is then: find the
//! calling code (a 1000-entry table), walk the national digits through the
//! territory's table (one load per digit, early exit on the dead state), and
//! read libphonenumber's type precedence off the bitmask and the per-type
//! possible lengths. Shared calling codes (+1: 25 territories, +7, +44, +61…)
//! walk the candidate territories in libphonenumber's order until one claims
//! the number. The carrier is a longest-prefix walk of a digit trie.
//! Nothing is compiled at run time from attacker input and nothing is locked.
//!
//! Parsing (`parse.rs`) also needs each territory's national-prefix and
//! international-prefix regexes: those are compiled once by
//! [`Classifier::embedded`] into lock-free `regex-automata` dense DFAs.
//!
//! # Measured (`cargo bench --bench classify`, release, one core)
//!
//! On 500,000 never-seen numbers mixed over all 254 territories
//! (`corpus::mixed`, 42% valid), two runs on a shared, noisy machine:
//!
//! | | ns/number |
//! |---|---:|
//! | `classify` | **77 / 137** |
//! | `parse` + `classify` | **207 / 264** |
//! | `phonenumber` 0.3.10 parse + valid + type, same order | 587,000 / 608,000 |
//! | moka hit (`CachedClassifier`) | 245 / 371 |
//! | moka miss + insert | 640 / 748 |
//!
//! State: 21,821 DFA states for all territories (873 KB of transitions) and
//! a 34,980-node carrier trie (280 KB) embedded in the binary; building the
//! classifier (decoding those, compiling ~400 prefix DFAs) takes **4 ms** and
//! adds **4.5 MB** RSS (1.4 MB of heap by our own count; the rest is the
//! touched static tables and allocator slack). build.rs takes ~0.4 s
//! (debug build script).
//!
//! # Why this design
//!
//! - The `phonenumber` crate 0.3.x: ~0.6–1.4 ms/number on mixed-country
//!   input (a global mutex around a 100-entry regex LRU that recompiles on
//!   every miss): an attacker-triggerable CPU denial of service.
//! - A `regex-automata` meta regex or `RegexSet` per territory built at
//!   start-up (not measured): ~2,800 patterns to compile on every start, and
//!   lazy-DFA caches handed out by per-regex pools, whose slow path takes a
//!   lock when threads contend. Serialised `regex-automata` dense DFAs with
//!   `MatchKind::All` are the closest alternative (no start-up cost, all
//!   matching patterns per state); our tables are the same idea specialised
//!   to a ten-symbol alphabet with one bitmask per state, and need no
//!   alignment or deserialisation checks.
//! - Our own compiler (Thompson NFA → subset construction → Moore
//!   minimisation, `build/number_dfa.rs`) is ~250 lines and checked against
//!   an independent regex implementation on 1 M numbers.
//!
//! # Semantics
//!
//! libphonenumber's, checked against the `phonenumber` crate on 1 M numbers
//! (`differential.rs`, `DIFFERENTIAL.md`): a number is valid iff it matches a
//! type pattern (and length) of its territory; fixedLine and mobile both
//! matching is `FixedLineOrMobile`; the region of a shared calling code is
//! chosen like `getRegionCodeForNumber` and is `None` when no territory of
//! the code claims the number. The carrier is reported for valid numbers
//! only (libphonenumber further limits it to mobile types; we do not).

mod cache;
mod carrier;
#[doc(hidden)]
pub mod corpus;
#[cfg(test)]
mod differential;
mod matcher;
mod metadata;
mod parse;
mod prefix;
#[cfg(test)]
mod tests;
mod types;

pub use cache::CachedClassifier;
pub use matcher::TableError;
pub use prefix::PrefixError;
pub use types::{Classification, CodeDigits, LineType, ParseError, Region, E164};

use carrier::Carriers;
use matcher::Automata;
use metadata::{TerritoryData, SLOTS, TERRITORIES};
use prefix::{NationalPrefix, PrefixMatcher};
use std::fmt;

/// Why the embedded classifier could not be built (a build or data bug,
/// never caused by input).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Tables(#[from] TableError),
    #[error("territory {territory}: {source}")]
    Prefix {
        territory: &'static str,
        source: PrefixError,
    },
}

/// Classifies numbers against the embedded numbering-plan metadata.
///
/// Cheap to share (`Arc<Classifier>`); all state is immutable after build.
pub struct Classifier {
    automata: Automata,
    territories: &'static [TerritoryData],
    /// Region of each territory (`"001"` entities are `"00"`).
    regions: Box<[Region]>,
    /// `by_code[cc]` = range of `order` holding the territories of `cc`,
    /// main country first, then metadata order.
    by_code: Box<[(u16, u16)]>,
    order: Box<[u16]>,
    /// Geographic territories by region, sorted, for parse hints.
    by_region: Box<[(Region, u16)]>,
    national_prefix: Box<[Option<NationalPrefix>]>,
    idd: Box<[Option<PrefixMatcher>]>,
    carriers: Carriers,
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("territories", &self.territories.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

impl Default for Classifier {
    fn default() -> Self {
        Self::embedded()
    }
}

/// A read-only view of one territory, for tools, tests and benchmarks.
#[derive(Debug, Clone)]
pub struct TerritoryInfo {
    pub region: Region,
    pub calling_code: u16,
    /// National significant number lengths that are possible.
    pub possible_lengths: Vec<u8>,
    /// libphonenumber's example national number per line type.
    pub examples: Vec<(LineType, &'static str)>,
}

/// Line type of each slot, for examples (slot 0, generalDesc, has none).
const SLOT_TYPES: [LineType; SLOTS] = [
    LineType::Unknown,
    LineType::PremiumRate,
    LineType::TollFree,
    LineType::SharedCost,
    LineType::Voip,
    LineType::PersonalNumber,
    LineType::Pager,
    LineType::Uan,
    LineType::Voicemail,
    LineType::FixedLine,
    LineType::Mobile,
];

impl Classifier {
    /// Builds the classifier from the metadata embedded in the binary.
    ///
    /// Panics only if the embedded tables are corrupt, which the test suite
    /// rules out for a given build; use [`Classifier::try_embedded`] to
    /// handle that as an error.
    pub fn embedded() -> Self {
        match Self::try_embedded() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// Builds the classifier from the embedded tables (a few milliseconds:
    /// decoding the tables and compiling ~400 small prefix regexes).
    pub fn try_embedded() -> Result<Self, BuildError> {
        let automata = Automata::decode(
            metadata::DFA_TRANS,
            metadata::DFA_ACCEPT,
            metadata::DFA_STATES,
        )?;
        let carriers = Carriers::decode(
            metadata::CARRIER_TRIE,
            metadata::CARRIER_NAMES,
            metadata::CARRIER_NODES,
        )?;
        let territories = TERRITORIES;
        let regions: Box<[Region]> = territories
            .iter()
            .map(|t| Region::parse(t.id).unwrap_or(NON_GEO))
            .collect();

        let mut lists: Vec<Vec<u16>> = vec![Vec::new(); 1000];
        for (i, t) in territories.iter().enumerate() {
            let Some(list) = lists.get_mut(usize::from(t.calling_code)) else {
                return Err(TableError("calling code above 999").into());
            };
            if t.main_country {
                list.insert(0, i as u16);
            } else {
                list.push(i as u16);
            }
        }
        let mut order = Vec::with_capacity(territories.len());
        let mut by_code = Vec::with_capacity(1000);
        for list in &lists {
            by_code.push((order.len() as u16, list.len() as u16));
            order.extend_from_slice(list);
        }

        let mut by_region: Vec<(Region, u16)> = regions
            .iter()
            .enumerate()
            .filter(|(_, r)| **r != NON_GEO)
            .map(|(i, r)| (*r, i as u16))
            .collect();
        by_region.sort();

        let mut national_prefix = Vec::with_capacity(territories.len());
        let mut idd = Vec::with_capacity(territories.len());
        for t in territories {
            let err = |source| BuildError::Prefix {
                territory: t.id,
                source,
            };
            national_prefix.push(if t.national_prefix_for_parsing.is_empty() {
                None
            } else {
                Some(
                    NationalPrefix::new(
                        t.national_prefix_for_parsing,
                        t.national_prefix_transform_rule,
                    )
                    .map_err(err)?,
                )
            });
            idd.push(if t.international_prefix.is_empty() {
                None
            } else {
                Some(PrefixMatcher::new(t.international_prefix).map_err(err)?)
            });
        }

        Ok(Classifier {
            automata,
            territories,
            regions,
            by_code: by_code.into(),
            order: order.into(),
            by_region: by_region.into(),
            national_prefix: national_prefix.into(),
            idd: idd.into(),
            carriers,
        })
    }

    /// Parses a destination as the provider's API would: `+` and `00` prefixes
    /// and bare international digits are accepted; separators are ignored.
    /// `region` is a hint for national-format numbers (Vonage legacy Verify's
    /// `country`), used only when the number is not in international form.
    /// National prefixes are stripped as libphonenumber does (see `parse.rs`
    /// for what is and is not handled).
    pub fn parse(&self, input: &str, region: Option<Region>) -> Result<E164, ParseError> {
        self.parse_number(input, region)
    }

    /// [`Classifier::parse`] then [`Classifier::classify`]: a destination as
    /// a client wrote it, classified, or why it is not a number. The one
    /// spelling of "parse, then classify" for every caller that scores.
    #[inline]
    pub fn parse_and_classify(
        &self,
        input: &str,
        region: Option<Region>,
    ) -> Result<Classification, ParseError> {
        self.parse(input, region).map(|n| self.classify(&n))
    }

    /// Classifies one parsed number (~80 ns on mixed traffic; see the module
    /// docs).
    pub fn classify(&self, number: &E164) -> Classification {
        let digits = number.digits().as_bytes();
        let unknown = Classification {
            number: number.clone(),
            calling_code: 0,
            region: None,
            valid: false,
            line_type: LineType::Unknown,
            carrier: None,
        };
        let Some((code, n)) = self.calling_code_of(digits) else {
            return unknown;
        };
        let national = digits.get(n..).unwrap_or(&[]);
        let found = matcher::select(
            &self.automata,
            self.territories,
            self.candidates(code),
            national,
        );
        let Some(m) = found else {
            return Classification {
                calling_code: code,
                ..unknown
            };
        };
        let valid = m.line_type != LineType::Unknown;
        Classification {
            number: number.clone(),
            calling_code: code,
            region: self.regions.get(m.territory).copied(),
            valid,
            line_type: m.line_type,
            carrier: if valid {
                self.carriers.lookup(digits)
            } else {
                None
            },
        }
    }

    /// The main territory of a calling code (`1` → US, `44` → GB), e.g. to
    /// name the country of an invalid number of a shared code.
    pub fn main_region(&self, calling_code: u16) -> Option<Region> {
        let first = *self.candidates(calling_code).first()?;
        self.regions.get(usize::from(first)).copied()
    }

    /// Every territory of the metadata, in metadata order.
    pub fn territories(&self) -> impl Iterator<Item = TerritoryInfo> + '_ {
        self.territories
            .iter()
            .zip(self.regions.iter())
            .map(|(t, r)| TerritoryInfo {
                region: *r,
                calling_code: t.calling_code,
                possible_lengths: (0u8..32).filter(|n| t.lengths[0] & (1 << n) != 0).collect(),
                examples: SLOT_TYPES
                    .iter()
                    .zip(t.examples.iter())
                    .skip(1)
                    .filter(|(_, e)| !e.is_empty())
                    .map(|(ty, e)| (*ty, *e))
                    .collect(),
            })
    }

    /// Heap bytes held by the classifier's decoded tables and regexes (the
    /// static tables in the binary are not counted; they are the source of
    /// the decoded copies).
    pub fn heap_bytes(&self) -> usize {
        self.automata.heap_bytes()
            + self.carriers.heap_bytes()
            + self
                .national_prefix
                .iter()
                .flatten()
                .map(NationalPrefix::heap_bytes)
                .sum::<usize>()
            + self
                .idd
                .iter()
                .flatten()
                .map(PrefixMatcher::heap_bytes)
                .sum::<usize>()
            + self.order.len() * 2
            + self.by_code.len() * 4
            + self.by_region.len() * 4
            + self.regions.len() * 2
    }

    /// Territories of a calling code, in libphonenumber's order.
    pub(crate) fn candidates(&self, code: u16) -> &[u16] {
        let Some(&(start, len)) = self.by_code.get(usize::from(code)) else {
            return &[];
        };
        let (start, len) = (usize::from(start), usize::from(len));
        self.order.get(start..start + len).unwrap_or(&[])
    }

    /// The geographic territory of a region hint.
    pub(crate) fn territory_of_region(&self, region: Region) -> Option<usize> {
        let i = self
            .by_region
            .binary_search_by(|(r, _)| r.cmp(&region))
            .ok()?;
        self.by_region.get(i).map(|(_, t)| usize::from(*t))
    }
}

/// libphonenumber's "001" (non-geographic entity) as a [`Region`].
const NON_GEO: Region = Region::NON_GEOGRAPHIC;
