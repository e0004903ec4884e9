//! The admin API's request bodies, parsed and validated apart from the
//! handlers: what a client can send is checked here, before anything is
//! stored or counted (and fuzzed here: `fuzz/fuzz_targets/admin_bodies.rs`).

use serde::Deserialize;

/// Why a body is refused (answered as a 400 with this text).
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("bad list entry: {0}")]
    ListEntry(String),
    #[error("the body must be JSON: {{\"to\": \"+…\"}}")]
    NotJson,
    #[error("`to` is required")]
    NoDestination,
}

/// `POST /api/v1/lists`: one runtime list entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    /// `number`, `range` or `country`.
    pub scope: String,
    pub value: String,
    /// `allow` or `deny`.
    pub action: String,
    pub ttl_seconds: Option<u64>,
    pub note: Option<String>,
}

/// A list entry, checked the way the engine will read it.
pub fn list_entry(bytes: &[u8]) -> Result<ListEntry, BodyError> {
    let e: ListEntry =
        serde_json::from_slice(bytes).map_err(|e| BodyError::ListEntry(e.to_string()))?;
    crate::policy::layers::lists::Config::from_entries([(
        e.scope.as_str(),
        e.value.as_str(),
        e.action.as_str(),
    )])
    .map_err(BodyError::ListEntry)?;
    Ok(e)
}

/// `POST /api/v1/conversions {"to": "+…"}`: the destination as written
/// (classified by the caller).
pub fn conversion_to(bytes: &[u8]) -> Result<String, BodyError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| BodyError::NotJson)?;
    v.get("to")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .ok_or(BodyError::NoDestination)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_checked_as_the_engine_reads_them() {
        let ok = list_entry(br#"{"scope":"range","value":"+4477009","action":"deny"}"#).unwrap();
        assert_eq!((ok.scope.as_str(), ok.ttl_seconds), ("range", None));
        for bad in [
            &br#"{"scope":"planet","value":"x","action":"deny"}"#[..],
            br#"{"scope":"range","value":"+44","action":"deny","extra":1}"#,
            br#"{"scope":"range","value":"+44","action":"maybe"}"#,
            b"not json",
        ] {
            assert!(
                matches!(list_entry(bad), Err(BodyError::ListEntry(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_conversion_names_its_destination() {
        assert_eq!(
            conversion_to(br#"{"to":"+447400123456"}"#).unwrap(),
            "+447400123456"
        );
        assert!(matches!(
            conversion_to(b"{}"),
            Err(BodyError::NoDestination)
        ));
        assert!(matches!(
            conversion_to(br#"{"to":5}"#),
            Err(BodyError::NoDestination)
        ));
        assert!(matches!(conversion_to(b"\xff"), Err(BodyError::NotJson)));
    }
}
