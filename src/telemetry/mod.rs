//! Structured logs: JSON lines on stdout, one per decision, numbers masked
//! and credentials never written.

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod sink;

use crate::clock::Timestamp;
use crate::metrics::Metrics;
use crate::number::Classification;
use crate::policy::{Decision, Reason};
use crate::store::{AuditLog, NewAuditRow};
use sink::LineSink;
pub use sink::SinkGuard;

/// The target of decision lines.
pub const DECISION_TARGET: &str = "tollgate::decision";

/// The installed log pipeline: the writer thread's guard and the handle
/// decision lines are written through.
pub struct Telemetry {
    pub guard: SinkGuard,
    pub decisions: DecisionLog,
}

/// Where decision lines go. With tollgate's own subscriber installed, a
/// decision line is formatted directly (its fields are known: no visitor,
/// no `dyn Write` per piece, no subscriber dispatch) and queued on the same
/// writer thread as every other line, so lines never interleave. Otherwise
/// (tests, tools with their own subscriber) it is an ordinary `tracing`
/// event. Either way the line is the one tracing-subscriber's JSON format
/// prints, and `RUST_LOG` filters it by its target.
#[derive(Clone, Default)]
pub struct DecisionLog {
    writer: Option<LineSink>,
}

/// Installs the JSON subscriber. `RUST_LOG` filters (default `info`).
///
/// Lines are gathered for a writer thread ([`sink`]), so request threads
/// never wait on stdout; nothing is dropped (a decision line is evidence),
/// so only a stdout that stops draining altogether can slow tollgate down.
pub fn init() -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = LineSink::start(std::io::stdout());
    let installed = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(writer.clone())
        .try_init()
        .is_ok();
    Telemetry {
        guard,
        decisions: DecisionLog {
            writer: installed.then_some(writer),
        },
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

/// A JSON string literal, escaped as serde_json escapes.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// A JSON string literal of tollgate's own vocabulary (country codes, line
/// types, actions, outcomes, reason codes: ASCII letters, digits, `_`, `.`),
/// which never needs an escape: the check is skipped (tests check it).
fn json_vocab(out: &mut String, s: &str) {
    debug_assert!(!needs_escape(s.as_bytes()), "{s:?}");
    out.push('"');
    out.push_str(s);
    out.push('"');
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
    /// Where the log line goes.
    pub log: &'a DecisionLog,
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
    let line = match &r.log.writer {
        Some(w) if tracing::enabled!(target: DECISION_TARGET, tracing::Level::INFO) => {
            decision_line(&r, country, line_type).map(|line| (w, line))
        }
        _ => None,
    };
    match line {
        Some((w, line)) => w.push(line.as_bytes()),
        None => tracing::info!(
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
            trade = trade_text(d).as_str(),
            latency_us = r.latency.as_micros() as u64,
            "decision"
        ),
    }
    r.metrics.decision(
        r.route,
        d.action.as_str(),
        country,
        d.reasons.iter().map(|x| x.code),
        r.latency,
    );
    if matches!(d.action, crate::policy::Action::Block) && !r.shadow {
        r.metrics.stopped(country);
    }
    // A soft stop (weighed by the trade), or one the budget let through.
    if d.reasons.iter().any(|x| x.code == "friction.budget_spent") {
        r.metrics.friction(country, true);
    } else if d.trade.is_some() && d.action != crate::policy::Action::Allow {
        r.metrics.friction(country, false);
    }
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
            d.reasons.iter().map(|x| x.code),
            &r.to,
            r.shadow,
        ));
    }
}

/// The decision's JSON line, byte for byte as tracing-subscriber's JSON
/// format prints the `tracing::info!` event above (the unit test holds the
/// two together). `None` for a clock outside years 0–9999, which the event
/// path then prints.
fn decision_line(r: &DecisionRecord<'_>, country: &str, line_type: &str) -> Option<String> {
    let d = r.decision;
    // Most lines are 350–450 bytes: one allocation, no regrowth.
    let mut line = String::with_capacity(512);
    line.push_str("{\"timestamp\":\"");
    if !timestamp(&mut line) {
        return None;
    }
    line.push_str("\",\"level\":\"INFO\",\"fields\":{\"message\":\"decision\",\"route\":");
    json_str(&mut line, r.route);
    line.push_str(",\"provider\":");
    json_str(&mut line, r.provider);
    line.push_str(",\"channel\":");
    json_str(&mut line, r.channel);
    line.push_str(",\"to\":");
    json_str(&mut line, &r.to);
    line.push_str(",\"country\":");
    json_vocab(&mut line, country);
    line.push_str(",\"line_type\":");
    json_vocab(&mut line, line_type);
    line.push_str(",\"action\":");
    json_vocab(&mut line, d.action.as_str());
    line.push_str(",\"outcome\":");
    json_vocab(&mut line, r.outcome);
    line.push_str(if r.shadow {
        ",\"shadow\":true,\"score\":"
    } else {
        ",\"shadow\":false,\"score\":"
    });
    push_digits(&mut line, u64::from(d.score), 1);
    line.push_str(",\"reasons\":\"");
    for (i, reason) in d.reasons.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        debug_assert!(!needs_escape(reason.code.as_bytes()), "{:?}", reason.code);
        line.push_str(reason.code);
    }
    line.push_str("\",\"trade\":");
    line.push('"');
    push_trade(&mut line, d);
    line.push('"');
    line.push_str(",\"latency_us\":");
    push_digits(&mut line, r.latency.as_micros() as u64, 1);
    line.push_str("},\"target\":\"tollgate::decision\"}\n");
    Some(line)
}

/// Both sides of the trade a decision weighed, for the decision log
/// (empty when there was nothing to weigh).
fn trade_text(d: &crate::policy::Decision) -> String {
    let mut out = String::with_capacity(48);
    push_trade(&mut out, d);
    out
}

/// The trade's figures (nothing without one). Only digits, letters and
/// `$,. `: the decision line takes them unescaped.
fn push_trade(out: &mut String, d: &crate::policy::Decision) {
    if let Some(t) = &d.trade {
        out.push_str("pumping ");
        push_fixed(out, t.pumping, 2);
        out.push_str(", saves $");
        push_fixed(out, t.saved, 4);
        out.push_str(", user $");
        push_fixed(out, t.user_cost, 4);
    }
}

/// `x` with `decimals` digits after the point, as `{:.N}` prints it but
/// for ties, which round away from zero. `{:.N}` takes its exact path
/// (big-number arithmetic) for most of these values: it was ~1% of a
/// proxied send.
fn push_fixed(out: &mut String, x: f64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    let scaled = (x.abs() * scale as f64).round();
    if !scaled.is_finite() || scaled >= 1e15 {
        let _ = write!(out, "{x:.prec$}", prec = decimals as usize);
        return;
    }
    let scaled = scaled as u64;
    if x < 0.0 {
        out.push('-');
    }
    push_digits(out, scaled / scale, 1);
    out.push('.');
    push_digits(out, scaled % scale, decimals as usize);
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
    fn fixed_point_prints_as_format_does() {
        for x in [
            0.0, 0.99, 0.0515, 0.01, 1.0, 12.34567, 0.00004, 0.00006, 3.99999, 1234.5678, -0.25,
            -0.00001, 0.5, 1e-9, 99.9,
        ] {
            for decimals in [2u32, 4] {
                let mut s = String::new();
                push_fixed(&mut s, x, decimals);
                assert_eq!(s, format!("{x:.prec$}", prec = decimals as usize), "{x}");
            }
        }
        let mut s = String::new();
        push_fixed(&mut s, f64::NAN, 2);
        push_fixed(&mut s, 1e300, 2);
        assert_eq!(s, format!("{:.2}{:.2}", f64::NAN, 1e300));
    }

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

    /// A `Write` into a shared buffer, for capturing the stock format.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The line without its timestamp's value.
    fn untimed(line: &str) -> String {
        let start = line.find("\"timestamp\":\"").unwrap() + 13;
        let end = start + line[start..].find('"').unwrap();
        format!("{}{}", &line[..start], &line[end..])
    }

    #[test]
    fn direct_decision_line_is_the_stock_json_line() {
        let metrics = Metrics::default();
        let log = DecisionLog::default();
        let reason = |code| crate::policy::Reason {
            code,
            detail: String::new().into(),
            weight: 1,
            class: crate::policy::RejectClass::Fraud,
            scope: crate::policy::Scope::Local,
            pumping: None,
        };
        for (decision, channel, shadow) in [
            (Decision::allow(), "sms", true),
            (
                Decision {
                    action: crate::policy::Action::Block,
                    score: 87,
                    reasons: vec![reason("velocity.range"), reason("geo.tier")],
                    hard: false,
                    trade: Some(crate::policy::Trade {
                        pumping: 0.8333,
                        price: 0.319,
                        saved: 0.2658,
                        user_cost: 0.1667,
                    }),
                },
                "wh\"at\\s\napp ☎",
                false,
            ),
        ] {
            // One record for each path (recording consumes it).
            let record = || DecisionRecord {
                route: "twilio.messages",
                provider: "twilio",
                channel,
                to: "+44********56".into(),
                number: None,
                decision: &decision,
                outcome: "forwarded",
                shadow,
                latency: Duration::from_micros(1234),
                log: &log,
                audit: None,
                metrics: &metrics,
                now: Timestamp(0),
            };
            let captured = Captured::default();
            let sink = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_current_span(false)
                .with_writer(move || sink.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || record_decision(record()));
            let stock = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            let direct = decision_line(&record(), "unknown", "unparseable").unwrap();
            assert_eq!(untimed(&direct), untimed(&stock));
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
