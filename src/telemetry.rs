//! Structured logs: JSON lines on stdout, one per decision, numbers masked
//! and credentials never written.

use std::fmt::{self, Write as _};
use std::io::BufWriter;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime as StockTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::clock::Timestamp;
use crate::metrics::Metrics;
use crate::number::Classification;
use crate::policy::{Decision, Reason};
use crate::store::{AuditLog, NewAuditRow};

/// Keeps the log writer thread alive; dropping it flushes what is queued.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// The target of decision lines.
pub const DECISION_TARGET: &str = "tollgate::decision";

/// Installs the JSON subscriber. `RUST_LOG` filters (default `info`).
///
/// Lines are handed to a writer thread, so request threads never wait on
/// the stdout lock; the queue is not lossy (a decision line is evidence), so
/// only a stdout that stops draining altogether can slow tollgate down. The
/// writer thread buffers what it drains and flushes once the queue is empty:
/// one `write(2)` per burst of lines rather than one per line.
pub fn init() -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(64 * 1024)
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stdout()));
    let _ = tracing_subscriber::fmt()
        .fmt_fields(JsonFields::new())
        .event_format(JsonLines {
            stock: tracing_subscriber::fmt::format()
                .json()
                .with_current_span(false),
        })
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init();
    guard
}

/// tracing-subscriber's JSON format, with a direct path for decision lines.
///
/// The stock formatter goes through serde and a UTF-8-checking adaptor for
/// every piece of every line; on the proxy path that was a sixth of the
/// instructions of a request. Decision lines (one per scored destination)
/// are written here byte for byte as the stock formatter writes them:
/// `{"timestamp":…,"level":…,"fields":{…},"target":…}`. Every other event
/// (rare, and possibly with spans or `log` records) keeps the stock path.
struct JsonLines {
    stock: Format<Json, StockTime>,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        // tollgate opens no spans; should one ever enclose a decision, the
        // stock path prints its `spans` list.
        if meta.target() != DECISION_TARGET || ctx.lookup_current().is_some() {
            return self.stock.format_event(ctx, writer, event);
        }
        // Built in one local buffer with inlined pushes, then handed over
        // in one write: the `Writer` is a `dyn fmt::Write`, and formatting
        // machinery per field cost more than the fields themselves.
        let mut line = String::with_capacity(512);
        line.push_str("{\"timestamp\":\"");
        if !timestamp(&mut line) {
            StockTime.format_time(&mut Writer::new(&mut line))?;
        }
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"fields\":{");
        let mut fields = FieldsVisitor {
            out: &mut line,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        line.push_str("},\"target\":");
        json_str(&mut line, meta.target());
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// `2026-11-22T00:54:36.770711Z`, as tracing-subscriber's `SystemTime`
/// timer prints it (UTC, microseconds). `false` (nothing written) for a
/// clock outside years 0–9999, which the stock timer then prints.
fn timestamp(out: &mut String) -> bool {
    let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) else {
        return false;
    };
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let Ok(year) = u64::try_from(year) else {
        return false;
    };
    if year > 9999 {
        return false;
    }
    // Filled in place and appended once: pushing char by char cost more
    // than the calendar arithmetic.
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], u64::from(month));
    put_digits(&mut text[8..10], u64::from(day));
    put_digits(&mut text[11..13], rem / 3600);
    put_digits(&mut text[14..16], rem / 60 % 60);
    put_digits(&mut text[17..19], rem % 60);
    put_digits(&mut text[20..26], u64::from(since.subsec_micros()));
    match std::str::from_utf8(&text) {
        Ok(text) => {
            out.push_str(text);
            true
        }
        Err(_) => false,
    }
}

/// The last `slot.len()` decimal digits of `n`, zero-padded, into `slot`.
fn put_digits(slot: &mut [u8], mut n: u64) {
    for d in slot.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while n > 0 || buf.len() - i < width.max(1) {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // Only ASCII digits were written.
    if let Ok(digits) = std::str::from_utf8(&buf[i..]) {
        out.push_str(digits);
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes an event's fields as JSON object members, typed as tracing-serde
/// types them: integers and booleans bare, everything else a string.
struct FieldsVisitor<'a> {
    out: &'a mut String,
    first: bool,
    result: fmt::Result,
}

impl FieldsVisitor<'_> {
    fn key(&mut self, field: &Field) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        json_str(self.out, field.name());
        self.out.push(':');
    }
}

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        json_str(self.out, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.out.push('"');
        if self.result.is_ok() {
            self.result = write!(Escaped(&mut *self.out), "{value:?}");
        }
        self.out.push('"');
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        push_digits(self.out, value, 1);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        if value < 0 {
            self.out.push('-');
        }
        push_digits(self.out, value.unsigned_abs(), 1);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        // serde_json's float text (and `null` for NaN and infinities).
        match serde_json::to_string(&value) {
            Ok(text) => self.out.push_str(&text),
            Err(_) => self.out.push_str("null"),
        }
    }
}

/// A JSON string literal, escaped as serde_json escapes.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// Escapes what passes through it for the inside of a JSON string.
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// `s` escaped for the inside of a JSON string, as serde_json escapes:
/// `\"`, `\\`, the short forms of five controls, `\u00XX` for the others.
fn escape_into(out: &mut String, s: &str) {
    // Nearly every value needs no escape: check eight bytes at a time first.
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        return;
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so these are char boundaries.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Whether `bytes` holds a control character, `"` or `\\`. A word at a
/// time (the classic "has a zero / has a byte below n" bit tricks): the
/// byte-by-byte loop was the largest single cost of a decision line.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // A byte below 0x20 (bytes >= 0x80 never match: `!x` clears them).
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if control
            | has_zero(x ^ (ONES * u64::from(b'"')))
            | has_zero(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// One decision, as logged.
pub struct DecisionRecord<'a> {
    pub route: &'a str,
    pub provider: &'a str,
    pub channel: &'a str,
    /// Already masked.
    pub to: String,
    pub number: Option<&'a Classification>,
    pub decision: &'a Decision,
    /// `forwarded`, `rejected`, `dropped`, `shadow_forwarded`.
    pub outcome: &'static str,
    pub shadow: bool,
    pub latency: Duration,
    /// Where the audit row goes, if anywhere.
    pub audit: Option<&'a AuditLog>,
    pub metrics: &'a Metrics,
    pub now: Timestamp,
}

/// Reason codes joined with commas, written without building the string.
struct Codes<'a>(&'a [Reason]);

impl fmt::Display for Codes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            f.write_str(r.code)?;
        }
        Ok(())
    }
}

/// Records one decision: its log line, its metrics and its audit row.
pub fn record_decision(r: DecisionRecord<'_>) {
    let region = r.number.and_then(|n| n.region);
    let country = region.as_ref().map_or("unknown", |c| c.as_str());
    let line_type = r
        .number
        .map(|n| n.line_type.as_str())
        .unwrap_or("unparseable");
    let d = r.decision;
    tracing::info!(
        target: DECISION_TARGET,
        route = r.route,
        provider = r.provider,
        channel = r.channel,
        to = r.to.as_str(),
        country,
        line_type,
        action = d.action.as_str(),
        outcome = r.outcome,
        shadow = r.shadow,
        score = d.score,
        reasons = %Codes(&d.reasons),
        latency_us = r.latency.as_micros() as u64,
        "decision"
    );
    r.metrics.decision(
        r.route,
        d.action.as_str(),
        country,
        d.reasons.iter().map(|x| x.code),
        r.latency,
    );
    if let Some(audit) = r.audit {
        audit.record(NewAuditRow::new(
            r.now.millis(),
            r.route,
            r.provider,
            region,
            line_type,
            d.action.as_str(),
            r.outcome,
            d.score,
            d.reasons.iter().map(|x| x.code).collect(),
            &r.to,
            r.shadow,
        ));
    }
}

/// A destination for logs: calling code and last two digits when it parsed,
/// otherwise only its length.
pub fn mask_destination(number: Option<&Classification>, raw: &str) -> String {
    match number {
        Some(n) => n.masked(),
        None => format!("<unparseable:{} chars>", raw.chars().count()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_788), (2026, 12, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let mut s = String::new();
        push_digits(&mut s, 7, 6);
        push_digits(&mut s, 0, 1);
        push_digits(&mut s, 1234, 2);
        assert_eq!(s, "00000701234");
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "q\"b\\s",
            "nl\nt\tcr\r",
            "\u{1}\u{1f}\u{8}\u{c}\u{7f}",
            "ünï ☎",
        ] {
            let mut out = String::new();
            json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn escape_check_agrees_with_the_byte_loop() {
        let slow = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
        let mut text = b"twilio.messages+44*******56 mobile allow".to_vec();
        for pos in 0..text.len() {
            for c in [0u8, 0x1f, 0x20, b'"', b'\\', b'!', 0x7f, 0x80, 0xff, b'a'] {
                let saved = text[pos];
                text[pos] = c;
                for start in 0..9 {
                    let part = &text[start..];
                    assert_eq!(needs_escape(part), slow(part), "{part:?}");
                }
                text[pos] = saved;
            }
        }
        let mut s = String::new();
        assert!(timestamp(&mut s));
        assert_eq!(s.len(), 27, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
    }
}
