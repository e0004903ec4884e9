//! The two prefix rules of parsing: a territory's international dialling
//! prefix (`internationalPrefix`, e.g. `011`) and its national prefix
//! (`nationalPrefixForParsing` with `nationalPrefixTransformRule`, e.g. the
//! trunk `0` of `07911 123456`, or `1`/local-number expansion in the NANPA).
//!
//! These are real regexes (alternations, `$` anchors, capture groups used by
//! transform rules), so they run on `regex-automata`: a dense DFA per rule,
//! compiled once at start-up and searched without any cache or lock; the
//! PikeVM for capture groups (territories with a transform rule only) gets a
//! fresh cache per call, so no pool or mutex is shared between threads.

use regex_automata::dfa::{dense, Automaton};
use regex_automata::nfa::thompson::pikevm::PikeVM;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, PatternID};

/// At most this many digits are handled while parsing (libphonenumber's
/// longest national number is 17 digits, plus a calling code).
pub(crate) const MAX_DIGITS: usize = 24;

/// A short digit string on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digits {
    buf: [u8; MAX_DIGITS],
    len: u8,
}

impl Digits {
    pub(crate) fn new() -> Self {
        Digits {
            buf: [0; MAX_DIGITS],
            len: 0,
        }
    }

    pub(crate) fn from_slice(s: &[u8]) -> Option<Self> {
        let mut d = Digits::new();
        for &b in s {
            d.push(b)?;
        }
        Some(d)
    }

    /// Appends one ASCII digit; `None` when full.
    pub(crate) fn push(&mut self, b: u8) -> Option<()> {
        let slot = self.buf.get_mut(usize::from(self.len))?;
        *slot = b;
        self.len += 1;
        Some(())
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub(crate) fn tail(&self, from: usize) -> Digits {
        Digits::from_slice(self.as_bytes().get(from..).unwrap_or(&[])).unwrap_or_else(Digits::new)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// Why a metadata prefix pattern did not compile (a data problem).
#[derive(Debug, thiserror::Error)]
#[error("prefix pattern {pattern:?}: {reason}")]
pub struct PrefixError {
    pattern: String,
    reason: String,
}

fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// An anchored prefix matcher (libphonenumber's `Matcher.lookingAt`).
pub(crate) struct PrefixMatcher {
    dfa: dense::DFA<Vec<u32>>,
}

impl PrefixMatcher {
    pub(crate) fn new(pattern: &str) -> Result<Self, PrefixError> {
        let dfa = dense::Builder::new()
            .syntax(syntax_config())
            .configure(
                dense::Config::new()
                    .start_kind(regex_automata::dfa::StartKind::Anchored)
                    .minimize(false),
            )
            .build(pattern)
            .map_err(|e| PrefixError {
                pattern: pattern.to_string(),
                reason: e.to_string(),
            })?;
        Ok(PrefixMatcher { dfa })
    }

    /// End of the leftmost-first match starting at offset 0.
    pub(crate) fn looking_at(&self, hay: &[u8]) -> Option<usize> {
        let input = Input::new(hay).anchored(Anchored::Yes);
        self.dfa
            .try_search_fwd(&input)
            .ok()
            .flatten()
            .map(|m| m.offset())
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.dfa.memory_usage()
    }
}

/// `nationalPrefixForParsing` with its optional transform rule.
pub(crate) struct NationalPrefix {
    matcher: PrefixMatcher,
    /// Present when there is a transform rule: capture groups decide it.
    groups: Option<(PikeVM, usize)>,
    transform: &'static str,
}

impl NationalPrefix {
    pub(crate) fn new(pattern: &str, transform: &'static str) -> Result<Self, PrefixError> {
        let matcher = PrefixMatcher::new(pattern)?;
        let groups = if transform.is_empty() {
            None
        } else {
            let vm = PikeVM::builder()
                .syntax(syntax_config())
                .build(pattern)
                .map_err(|e| PrefixError {
                    pattern: pattern.to_string(),
                    reason: e.to_string(),
                })?;
            let n = vm
                .get_nfa()
                .group_info()
                .group_len(PatternID::ZERO)
                .saturating_sub(1);
            Some((vm, n))
        };
        Ok(NationalPrefix {
            matcher,
            groups,
            transform,
        })
    }

    /// libphonenumber's `maybeStripNationalPrefixAndCarrierCode` (without
    /// the carrier code, which tollgate does not use). `viable` is the
    /// territory's generalDesc pattern. Returns the stripped or transformed
    /// national number, or `None` to keep the number as it is.
    pub(crate) fn strip(
        &self,
        national: &Digits,
        viable: impl Fn(&[u8]) -> bool,
    ) -> Option<Digits> {
        let hay = national.as_bytes();
        if hay.is_empty() {
            return None;
        }
        let end = self.matcher.looking_at(hay)?;
        let viable_original = viable(hay);
        let transformed = match &self.groups {
            None => None,
            Some((vm, last)) => self.transform(vm, *last, national),
        };
        let result = match transformed {
            // No transform rule, or its last group did not take part: the
            // matched prefix is simply removed.
            None => national.tail(end),
            Some(t) => t,
        };
        if viable_original && !viable(result.as_bytes()) {
            return None;
        }
        Some(result)
    }

    /// Applies the transform rule (`$1`, `0549$1`…) to the match, when the
    /// last capture group participated.
    fn transform(&self, vm: &PikeVM, last: usize, national: &Digits) -> Option<Digits> {
        let hay = national.as_str();
        let mut cache = vm.create_cache();
        let mut caps = vm.create_captures();
        vm.search(
            &mut cache,
            &Input::new(hay).anchored(Anchored::Yes),
            &mut caps,
        );
        let whole = caps.get_match()?;
        caps.get_group(last)?;
        let mut out = Digits::new();
        let rule = self.transform.as_bytes();
        let mut i = 0;
        while i < rule.len() {
            let c = rule.get(i).copied().unwrap_or(b'$');
            if c == b'$' {
                let mut j = i + 1;
                let mut n = 0usize;
                while let Some(d) = rule.get(j).filter(|d| d.is_ascii_digit()) {
                    n = n * 10 + usize::from(d - b'0');
                    j += 1;
                }
                if let Some(span) = caps.get_group(n) {
                    for &b in hay.as_bytes().get(span.range()).unwrap_or(&[]) {
                        out.push(b)?;
                    }
                }
                i = j.max(i + 1);
            } else {
                out.push(c)?;
                i += 1;
            }
        }
        for &b in hay.as_bytes().get(whole.end()..).unwrap_or(&[]) {
            out.push(b)?;
        }
        Some(out)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.matcher.heap_bytes()
            + self
                .groups
                .as_ref()
                .map_or(0, |(vm, _)| vm.get_nfa().memory_usage())
    }
}
