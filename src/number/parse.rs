//! From what a client typed to an E.164 number, following libphonenumber's
//! `parse` where it matters for routing an SMS:
//!
//! - `+CC…`, `00CC…` and bare digits without a region hint are international;
//! - with a region hint, the hint's own international prefix (`011` in the
//!   US) also introduces an international number; anything else is national
//!   and gets the hint's calling code;
//! - the national prefix is stripped (`nationalPrefixForParsing`, transform
//!   rules included) when the rest is still a possible number, also after a
//!   calling code (`+44 07911 123456` → `+447911123456`), as libphonenumber
//!   and the providers do;
//! - a national number that repeats the hint's calling code (`44 7911…` with
//!   hint GB) is recognised with libphonenumber's checks.
//!
//! Not handled (callers or providers reject these anyway): letters (vanity
//! numbers, `whatsapp:`), extensions (`ext. 12`), RFC 3966 `tel:` URIs,
//! non-ASCII digits, carrier selection codes (they are stripped with the
//! national prefix but not reported). An unknown calling code is not an
//! error here: `classify` reports it (calling code 0, invalid).

use super::matcher;
use super::metadata::TerritoryData;
use super::prefix::{Digits, MAX_DIGITS};
use super::types::{CodeDigits, ParseError, Region, E164};
use super::Classifier;

/// Digits and whether an international prefix was seen.
struct Lexed {
    digits: Digits,
    plus: bool,
}

/// Keeps ASCII digits, ignores separators, rejects everything else.
fn lex(input: &str) -> Result<Lexed, ParseError> {
    let s = input.trim();
    let (s, plus) = match s.strip_prefix('+') {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    let mut digits = Digits::new();
    for c in s.bytes() {
        match c {
            b'0'..=b'9' => {
                if digits.push(c).is_none() {
                    return Err(ParseError::TooLong);
                }
            }
            b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'\t' => {}
            _ => return Err(ParseError::InvalidCharacters),
        }
    }
    if digits.len() == 0 {
        return Err(ParseError::Empty);
    }
    Ok(Lexed { digits, plus })
}

/// libphonenumber's `testNumberLength` for the UNKNOWN type.
#[derive(PartialEq, Eq)]
enum LengthCheck {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    InvalidLength,
}

fn test_length(t: &TerritoryData, len: usize) -> LengthCheck {
    let possible = t.lengths[0];
    if len >= 32 {
        return LengthCheck::TooLong;
    }
    if t.local_only & (1 << len) != 0 {
        return LengthCheck::LocalOnly;
    }
    if possible == 0 {
        return LengthCheck::InvalidLength;
    }
    let min = possible.trailing_zeros() as usize;
    let max = 31 - possible.leading_zeros() as usize;
    if len == min {
        LengthCheck::Possible
    } else if len < min {
        LengthCheck::TooShort
    } else if len > max {
        LengthCheck::TooLong
    } else if possible & (1 << len) != 0 {
        LengthCheck::Possible
    } else {
        LengthCheck::InvalidLength
    }
}

impl Classifier {
    fn general_matches(&self, t: &TerritoryData, national: &[u8]) -> bool {
        matcher::general_pattern_matches(&self.automata, t, national)
    }

    /// `maybeStripNationalPrefixAndCarrierCode` for territory `ti`.
    fn strip_national_prefix(&self, ti: usize, national: &Digits) -> Option<Digits> {
        let t = self.territories.get(ti)?;
        let rule = self.national_prefix.get(ti)?.as_ref()?;
        rule.strip(national, |n| self.general_matches(t, n))
    }

    /// The final step of libphonenumber's `parseHelper`: strip the national
    /// prefix only if what remains has a plausible length.
    fn national_significant(&self, ti: usize, national: Digits) -> Digits {
        let Some(t) = self.territories.get(ti) else {
            return national;
        };
        match self.strip_national_prefix(ti, &national) {
            Some(p) => match test_length(t, p.len()) {
                LengthCheck::TooShort | LengthCheck::LocalOnly | LengthCheck::InvalidLength => {
                    national
                }
                LengthCheck::Possible | LengthCheck::TooLong => p,
            },
            None => national,
        }
    }

    /// The calling code at the start of `digits`: the 1–3 digit prefix that
    /// is a known code (E.164 codes are prefix-free, so at most one is).
    pub(crate) fn calling_code_of(&self, digits: &[u8]) -> Option<(u16, usize)> {
        let mut code = 0u16;
        for (i, &b) in digits.iter().take(3).enumerate() {
            code = code * 10 + u16::from(b.wrapping_sub(b'0'));
            if b.is_ascii_digit() && i + 1 < digits.len() && !self.candidates(code).is_empty() {
                return Some((code, i + 1));
            }
        }
        None
    }

    fn finish(&self, code: u16, national: &Digits) -> Result<E164, ParseError> {
        if national.len() < 2 {
            return Err(ParseError::TooShort);
        }
        // The calling code's 1–3 digits, then the national number's.
        let code = CodeDigits::new(code);
        let mut out = Digits::new();
        for &b in code.as_bytes().iter().chain(national.as_bytes()) {
            out.push(b).ok_or(ParseError::TooLong)?;
        }
        if out.len() > 15 {
            return Err(ParseError::TooLong);
        }
        E164::from_digit_bytes(out.as_bytes())
    }

    fn international(&self, digits: &Digits) -> Result<E164, ParseError> {
        let Some((code, n)) = self.calling_code_of(digits.as_bytes()) else {
            // Unknown calling code: keep the digits; classify says invalid.
            if digits.len() > 15 {
                return Err(ParseError::TooLong);
            }
            return E164::from_digit_bytes(digits.as_bytes());
        };
        let national = digits.tail(n);
        // getRegionCodeForCountryCode: the main territory of the code.
        let national = match self.candidates(code).first() {
            Some(&ti) => self.national_significant(usize::from(ti), national),
            None => national,
        };
        self.finish(code, &national)
    }

    pub(crate) fn parse_number(
        &self,
        input: &str,
        region: Option<Region>,
    ) -> Result<E164, ParseError> {
        let lexed = lex(input)?;
        let mut digits = lexed.digits;
        if lexed.plus {
            return self.international(&digits);
        }
        let hint = region.and_then(|r| self.territory_of_region(r));
        let Some(ti) = hint else {
            if digits.as_bytes().starts_with(b"00") {
                digits = digits.tail(2);
            }
            return self.international(&digits);
        };
        // The hint's own international prefix, unless a 0 follows it.
        if let Some(idd) = self.idd.get(ti).and_then(Option::as_ref) {
            if let Some(end) = idd.looking_at(digits.as_bytes()) {
                if end > 0 && digits.as_bytes().get(end) != Some(&b'0') {
                    return self.international(&digits.tail(end));
                }
            }
        }
        if digits.as_bytes().starts_with(b"00") {
            return self.international(&digits.tail(2));
        }
        let Some(t) = self.territories.get(ti) else {
            return self.international(&digits);
        };
        let code = t.calling_code;
        // maybeExtractCountryCode with FROM_DEFAULT_COUNTRY: the number may
        // start with the hint's calling code.
        let cc = code.to_string();
        if digits.as_bytes().starts_with(cc.as_bytes()) {
            let rest = digits.tail(cc.len());
            let potential = self.strip_national_prefix(ti, &rest).unwrap_or(rest);
            if (!self.general_matches(t, digits.as_bytes())
                && self.general_matches(t, potential.as_bytes()))
                || test_length(t, digits.len()) == LengthCheck::TooLong
            {
                // parseHelper then strips with the metadata of the code's
                // main territory (the hint's if it is the main one).
                let meta = self
                    .candidates(code)
                    .first()
                    .map_or(ti, |&m| usize::from(m));
                let national = self.national_significant(meta, potential);
                return self.finish(code, &national);
            }
        }
        let national = self.national_significant(ti, digits);
        self.finish(code, &national)
    }
}

// MAX_DIGITS bounds the lexer; keep it above E.164's 15 + a trunk prefix.
const _: () = assert!(MAX_DIGITS >= 20);
