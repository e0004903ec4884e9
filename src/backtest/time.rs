//! Timestamps as logs write them: RFC 3339 (`events`) and RFC 2822 (Twilio
//! `date_created`). The common `YYYY-MM-DDTHH:MM:SS[.fff]Z` shape is parsed
//! by hand, because a backtest parses hundreds of thousands per second;
//! anything else goes through the `time` crate.

use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::OffsetDateTime;

use crate::clock::Timestamp;

/// Parses an RFC 3339 timestamp to milliseconds.
pub fn rfc3339(s: &str) -> Option<Timestamp> {
    fast_utc(s).or_else(|| {
        let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
    })
}

/// Parses an RFC 2822 date (`Thu, 30 Jul 2015 20:12:31 +0000`).
pub fn rfc2822(s: &str) -> Option<Timestamp> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc2822).ok()?;
    Some(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(v)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` only.
fn fast_utc(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || !matches!(b[b.len() - 1], b'Z' | b'z') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let min = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    let frac = &b[19..b.len() - 1];
    let ms = match frac {
        [] => 0,
        [b'.', rest @ ..] if !rest.is_empty() && rest.len() <= 9 => {
            let mut v = digits(rest)?;
            let mut n = rest.len();
            while n > 3 {
                v /= 10;
                n -= 1;
            }
            while n < 3 {
                v *= 10;
                n += 1;
            }
            v
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(Timestamp(
        ((days * 24 + hour) * 60 + min) * 60_000 + sec * 1000 + ms,
    ))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_agrees_with_the_time_crate() {
        for s in [
            "2026-10-01T10:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "1999-12-31T00:00:00Z",
            "2026-10-01T10:00:00.5Z",
            "2026-10-01T10:00:00.123456Z",
        ] {
            let slow = OffsetDateTime::parse(s, &Rfc3339).unwrap();
            let slow = (slow.unix_timestamp_nanos() / 1_000_000) as i64;
            assert_eq!(fast_utc(s), Some(Timestamp(slow)), "{s}");
        }
        assert_eq!(
            rfc3339("2026-10-01T12:00:00.000+02:00"),
            rfc3339("2026-10-01T10:00:00.000Z")
        );
        assert_eq!(rfc3339("2026-02-30T10:00:00Z"), None);
        assert_eq!(rfc3339("yesterday"), None);
    }

    #[test]
    fn twilio_dates() {
        assert_eq!(
            rfc2822("Thu, 30 Jul 2015 20:12:31 +0000"),
            Some(Timestamp(1_438_287_151_000))
        );
        assert_eq!(
            rfc2822("Thu, 30 Jul 2015 22:12:31 +0200"),
            Some(Timestamp(1_438_287_151_000))
        );
        assert_eq!(rfc2822("2015-07-30"), None);
    }
}
