//! Classification of a destination number: E.164 parsing, country, validity,
//! line type, range keys and the carrier the range was allocated to.
//!
//! This is on the hot path and the attacker chooses its input, so it must stay
//! in single-digit microseconds for never-seen numbers from any country
//! (DESIGN.md §3). The data is libphonenumber's (Apache-2.0), embedded in the
//! binary.

mod types;

pub use types::{Classification, LineType, ParseError, Region, E164};

/// Classifies numbers against the embedded numbering-plan metadata.
///
/// Cheap to share (`Arc<Classifier>`); all state is immutable after build.
#[derive(Debug, Default)]
pub struct Classifier {}

impl Classifier {
    /// Builds the classifier from the metadata embedded in the binary.
    pub fn embedded() -> Self {
        Classifier {}
    }

    /// Parses a destination as the provider's API would: `+` and `00` prefixes
    /// and bare international digits are accepted; separators are ignored.
    /// `region` is a hint for national-format numbers (Vonage legacy Verify's
    /// `country`), used only when the number is not in international form.
    pub fn parse(&self, input: &str, region: Option<Region>) -> Result<E164, ParseError> {
        E164::parse_international(input, region)
    }

    /// Classifies one parsed number.
    pub fn classify(&self, number: &E164) -> Classification {
        // Placeholder until the metadata-driven classifier lands: everything
        // is a valid mobile of an unknown country.
        Classification {
            number: number.clone(),
            calling_code: 0,
            region: None,
            valid: true,
            line_type: LineType::Mobile,
            carrier: None,
        }
    }
}
