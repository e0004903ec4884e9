//! The value types of classification, shared by scoring, logs and the CLI.

use std::fmt;
use std::sync::Arc;

/// An ISO 3166-1 alpha-2 region code (`"NG"`), or libphonenumber's `"001"`
/// non-geographic entity stored as `"00"`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region([u8; 2]);

impl Region {
    /// libphonenumber's `"001"`: the calling codes of non-geographic
    /// entities (+800 freephone, +882/+883 international networks…).
    pub const NON_GEOGRAPHIC: Region = Region(*b"00");

    /// Accepts two ASCII letters, case-insensitively.
    pub fn parse(s: &str) -> Option<Region> {
        let b = s.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            Some(Region([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
            ]))
        } else if s == "001" {
            Some(Region(*b"00"))
        } else {
            None
        }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: both constructors (`parse` and `NON_GEOGRAPHIC`, the only
        // ones: the field is private) store ASCII bytes. Validating on
        // every call cost ~90 instructions, several times per decision.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A calling code's decimal digits, printed on the stack (keys and E.164
/// buffers are assembled per send, where a `String` would be an
/// allocation).
pub struct CodeDigits {
    buf: [u8; 5],
    first: usize,
}

impl CodeDigits {
    pub fn new(code: u16) -> CodeDigits {
        let mut buf = [0u8; 5];
        let mut first = buf.len();
        let mut rest = code;
        loop {
            first -= 1;
            buf[first] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        CodeDigits { buf, first }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[self.first..]
    }
}

/// libphonenumber's number types, plus `Unknown` for numbers that match no
/// pattern of their territory (those are also invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineType {
    FixedLine,
    Mobile,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    Unknown,
}

impl LineType {
    pub const ALL: [LineType; 12] = [
        LineType::FixedLine,
        LineType::Mobile,
        LineType::FixedLineOrMobile,
        LineType::TollFree,
        LineType::PremiumRate,
        LineType::SharedCost,
        LineType::Voip,
        LineType::PersonalNumber,
        LineType::Pager,
        LineType::Uan,
        LineType::Voicemail,
        LineType::Unknown,
    ];

    /// The snake_case name used in policies, logs and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::FixedLine => "fixed_line",
            LineType::Mobile => "mobile",
            LineType::FixedLineOrMobile => "fixed_line_or_mobile",
            LineType::TollFree => "toll_free",
            LineType::PremiumRate => "premium_rate",
            LineType::SharedCost => "shared_cost",
            LineType::Voip => "voip",
            LineType::PersonalNumber => "personal_number",
            LineType::Pager => "pager",
            LineType::Uan => "uan",
            LineType::Voicemail => "voicemail",
            LineType::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<LineType> {
        LineType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for LineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a destination string is not a phone number at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the number is empty")]
    Empty,
    #[error("the number contains characters other than digits and separators")]
    InvalidCharacters,
    #[error("the number is too short")]
    TooShort,
    #[error("the number is too long for E.164")]
    TooLong,
}

/// A number in E.164 form: country calling code and national number, digits
/// only, at most 15 of them. Stored inline: no allocation per number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct E164 {
    digits: [u8; 15],
    len: u8,
}

impl E164 {
    /// The digits without the leading `+`.
    pub fn digits(&self) -> &str {
        // SAFETY: `from_digit_bytes`, the only constructor (the fields are
        // private; `from_digits` goes through it), stores ASCII digits.
        // Validating on every call cost ~90 instructions, a dozen times per
        // decision.
        unsafe { std::str::from_utf8_unchecked(&self.digits[..self.len as usize]) }
    }

    /// Builds from a string of ASCII digits (no `+`).
    pub fn from_digits(digits: &str) -> Result<E164, ParseError> {
        E164::from_digit_bytes(digits.as_bytes())
    }

    /// [`E164::from_digits`] over bytes: anything but ASCII digits is
    /// refused, so no UTF-8 check is needed first.
    pub fn from_digit_bytes(b: &[u8]) -> Result<E164, ParseError> {
        if b.is_empty() {
            return Err(ParseError::Empty);
        }
        if !b.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::InvalidCharacters);
        }
        if b.len() < 4 {
            return Err(ParseError::TooShort);
        }
        if b.len() > 15 {
            return Err(ParseError::TooLong);
        }
        let mut out = [0u8; 15];
        out[..b.len()].copy_from_slice(b);
        Ok(E164 {
            digits: out,
            len: b.len() as u8,
        })
    }

    /// The number less its last `n` digits: the range key used by velocity
    /// and conversion counters (n = 3 and n = 4).
    pub fn range(&self, n: usize) -> &str {
        let d = self.digits();
        d.get(..d.len().saturating_sub(n)).unwrap_or("")
    }

    /// Masked for logs: `+234********78` (the calling-code digits are not known
    /// here, so the first three digits and the last two are kept).
    pub fn masked(&self) -> String {
        mask(self.digits(), 3)
    }
}

/// `+`, the first `head` digits, stars, and the last two digits (fewer when
/// the number is too short to show them all).
fn mask(digits: &str, head: usize) -> String {
    let head = head.min(digits.len());
    let tail = 2.min(digits.len() - head);
    let mut s = String::with_capacity(digits.len() + 1);
    s.push('+');
    s.push_str(&digits[..head]);
    s.extend(std::iter::repeat('*').take(digits.len() - head - tail));
    s.push_str(&digits[digits.len() - tail..]);
    s
}

impl fmt::Debug for E164 {
    // Debug output is masked so a stray `{:?}` never leaks a number into logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Everything tollgate knows about one number without asking anyone.
#[derive(Clone, Debug)]
pub struct Classification {
    pub number: E164,
    /// Country calling code (`234`), 0 when unknown.
    pub calling_code: u16,
    /// The territory whose numbering plan the number matches; for shared
    /// calling codes (`+1`, `+7`, `+44`…) the specific one.
    pub region: Option<Region>,
    /// Matches the territory's length and pattern rules.
    pub valid: bool,
    pub line_type: LineType,
    /// The carrier the range was originally allocated to (number portability
    /// means it may not be the current one).
    pub carrier: Option<Arc<str>>,
}

impl Classification {
    /// Masked for logs: calling code and last two digits (`+234*******78`).
    pub fn masked(&self) -> String {
        let cc_digits = match self.calling_code {
            0 => 0,
            cc => cc.to_string().len(),
        };
        mask(self.number.digits(), cc_digits)
    }
}
