//! Scoring layers, one module each, each with its own config section in the
//! policy file (unknown keys rejected; the doc comments are the reference).
//!
//! | layer | signal |
//! |---|---|
//! | [`lists`] | allow / deny of numbers, ranges, countries (hard) |
//! | [`number`] | invalid numbers, line types that cannot receive an SMS (hard), VoIP (risk) |
//! | [`geo`] | permitted countries (hard), risk tiers, per-country caps |
//! | [`conversion`] | trusted numbers; ranges, carriers, countries, line types that do not convert (2 h and 24 h windows); countries converting under their learned rate |
//! | [`velocity`] | sliding-window rates by number, range, carrier, country, account, client |
//! | [`pattern`] | sequential enumeration, many distinct numbers per range |
//! | [`baseline`] | country volume against its learned hour-of-week level |

pub mod baseline;
pub mod conversion;
pub mod geo;
pub mod lists;
pub mod number;
pub mod pattern;
pub mod velocity;

/// Checks a share (0–1) read from the policy file.
pub(crate) fn share(what: &str, v: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{what} must be between 0 and 1, not {v}"))
    }
}

/// Whose traffic a rule keyed by `kind` judges: a country's rate is a
/// country judgement; numbers, ranges, carriers, line types and clients
/// are local evidence.
pub(crate) fn scope_of(kind: crate::state::Kind) -> crate::policy::Scope {
    if kind == crate::state::Kind::Country {
        crate::policy::Scope::Country
    } else {
        crate::policy::Scope::Local
    }
}
