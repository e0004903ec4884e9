//! Time as an input. The live proxy reads the system clock once per request
//! and passes it down; a backtest passes the recorded event time. Nothing
//! below the pipeline reads the clock itself, so both score the same way.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (event time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, s: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(s.saturating_mul(1000)))
    }

    /// RFC 3339 with milliseconds, UTC (`2026-10-01T10:00:00.000Z`).
    pub fn to_rfc3339(self) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let f = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        t.format(&f).unwrap_or_default()
    }

    /// RFC 3339 to the second, UTC (`2026-10-01T10:00:00Z`), as Verify writes.
    pub fn to_rfc3339_seconds(self) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(self.0.div_euclid(1000))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        t.format(&f).unwrap_or_default()
    }

    /// RFC 2822 as Twilio writes dates (`Thu, 30 Jul 2015 20:12:31 +0000`).
    pub fn to_rfc2822(self) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(self.0.div_euclid(1000))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let f = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
        );
        t.format(&f).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_provider_conventions() {
        let t = Timestamp(1_438_287_151_000);
        assert_eq!(t.to_rfc2822(), "Thu, 30 Jul 2015 20:12:31 +0000");
        assert_eq!(t.to_rfc3339(), "2015-07-30T20:12:31.000Z");
    }
}
