//! Input formats: tollgate's `events` JSONL and Twilio Message resources,
//! and sniffing which one a file is.
//!
//! `events` lines: `ts` (RFC 3339), `event` (`send` | `conversion`), `to`;
//! optional `id` (string or number; defaults to the line number),
//! `channel`, `account`, `client_ip`, and the extensions `device` and
//! `session` (the `X-Tollgate-Device` / `-Session` context) and `label`
//! (simulator ground truth, never shown to the engine). Unknown fields are
//! ignored.
//!
//! Malformed records do not abort a backtest by default: a log of millions
//! of lines with a few truncated ones is normal. Each is reported with its
//! line number (record number for a JSON list) and skipped; `--strict` makes
//! the first one fatal. Records of other kinds (an `events` line with an
//! unknown `event`, an inbound Twilio message) are counted as ignored.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::event::{Event, Kind};
use super::flat;
use super::time;
use super::BacktestError;

/// The `--format` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Sniff from the content.
    Auto,
    /// tollgate's `events` JSONL.
    Events,
    /// Twilio Message resources: a JSON list, a list page
    /// (`{"messages": […]}`) or JSONL.
    TwilioMessages,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Events => "events",
            Format::TwilioMessages => "twilio-messages",
        })
    }
}

/// A record that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// 1-based line (JSONL) or record (JSON list) number.
    pub line: u32,
    pub message: String,
}

/// What a reader got out of an input.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    pub format: Option<Format>,
    pub events: Vec<Event<'a>>,
    pub malformed: Vec<Malformed>,
    /// Well-formed records that are not sends or conversions.
    pub ignored: u64,
}

/// Reads `input` in `format` (sniffed when `Auto`).
pub fn parse(input: &str, format: Format) -> Result<Parsed<'_>, BacktestError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let format = match format {
        Format::Auto => sniff(input)?,
        f => f,
    };
    let mut parsed = match format {
        Format::Events => events(input),
        _ => twilio(input)?,
    };
    parsed.format = Some(format);
    Ok(parsed)
}

/// Tells the formats apart by their first record.
pub fn sniff(input: &str) -> Result<Format, BacktestError> {
    let trimmed = input.trim_start();
    if trimmed.starts_with('[') {
        return Ok(Format::TwilioMessages);
    }
    let first = trimmed.lines().next().unwrap_or("");
    let keys = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(first).ok();
    match keys {
        Some(m) if m.contains_key("event") => Ok(Format::Events),
        Some(m) if m.contains_key("sid") || m.contains_key("date_created") => {
            Ok(Format::TwilioMessages)
        }
        Some(m) if m.contains_key("messages") => Ok(Format::TwilioMessages),
        Some(_) => Err(BacktestError::UnknownFormat(
            "the first record has neither `event` nor Twilio's `sid`".into(),
        )),
        None if trimmed.starts_with('{') => Ok(Format::TwilioMessages),
        None => Err(BacktestError::UnknownFormat(
            "the input is neither JSON lines nor a JSON list".into(),
        )),
    }
}

// ---------------------------------------------------------------- events

#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct RawEvent<'a> {
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default, deserialize_with = "string_or_number")]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    client_ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    device: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    session: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    label: Option<Cow<'a, str>>,
}

impl<'a> From<flat::Fields<'a>> for RawEvent<'a> {
    fn from(f: flat::Fields<'a>) -> Self {
        let b = |v: Option<&'a str>| v.map(Cow::Borrowed);
        RawEvent {
            ts: Cow::Borrowed(f.ts),
            event: Cow::Borrowed(f.event),
            id: b(f.id),
            to: b(f.to),
            channel: b(f.channel),
            account: b(f.account),
            client_ip: b(f.client_ip),
            device: b(f.device),
            session: b(f.session),
            label: b(f.label),
        }
    }
}

/// `id` may be a string or a number; kept as text.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

fn events(input: &str) -> Parsed<'_> {
    let mut out = Parsed {
        events: Vec::with_capacity(input.len() / 120),
        ..Parsed::default()
    };
    for (i, line) in input.lines().enumerate() {
        let n = (i + 1) as u32;
        if line.trim().is_empty() {
            continue;
        }
        match event_line(line, n) {
            Ok(Some(e)) => out.events.push(e),
            Ok(None) => out.ignored += 1,
            Err(message) => out.malformed.push(Malformed { line: n, message }),
        }
    }
    out
}

fn event_line(line: &str, n: u32) -> Result<Option<Event<'_>>, String> {
    let raw = match flat::fields(line) {
        Some(f) => RawEvent::from(f),
        None => serde_json::from_str(line).map_err(|e| e.to_string())?,
    };
    let kind = match raw.event.as_ref() {
        "send" => Kind::Send,
        "conversion" => Kind::Conversion,
        _ => return Ok(None),
    };
    let ts = time::rfc3339(&raw.ts).ok_or_else(|| format!("`ts` is not RFC 3339: {:?}", raw.ts))?;
    let to = raw.to.ok_or("missing `to`")?;
    let mut e = Event::new(ts, kind, n, to);
    e.id = raw.id;
    e.channel = raw.channel;
    e.account = raw.account;
    e.client_ip = raw.client_ip;
    e.device = raw.device;
    e.session = raw.session;
    e.label = raw.label;
    Ok(Some(e))
}

// ---------------------------------------------------------------- twilio

#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow, default)]
    sid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    to: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    date_created: Option<Cow<'a, str>>,
    #[serde(default)]
    price: Option<serde_json::Value>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    direction: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    account_sid: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Page {
    messages: Vec<serde_json::Value>,
}

fn twilio(input: &str) -> Result<Parsed<'_>, BacktestError> {
    let trimmed = input.trim_start();
    let mut out = Parsed::default();
    let list = if trimmed.starts_with('[') {
        Some(
            serde_json::from_str::<Vec<serde_json::Value>>(trimmed)
                .map_err(|e| BacktestError::UnknownFormat(format!("not a JSON list: {e}")))?,
        )
    } else if let Ok(page) = serde_json::from_str::<Page>(trimmed) {
        Some(page.messages)
    } else {
        None
    };
    if let Some(list) = list {
        for (i, v) in list.into_iter().enumerate() {
            let n = (i + 1) as u32;
            let raw = match RawMessage::deserialize(&v) {
                Ok(r) => r,
                Err(e) => {
                    out.malformed.push(Malformed {
                        line: n,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            match message(raw, n) {
                Ok(Some(e)) => out.events.push(owned(e)),
                Ok(None) => out.ignored += 1,
                Err(message) => out.malformed.push(Malformed { line: n, message }),
            }
        }
        return Ok(out);
    }
    for (i, line) in input.lines().enumerate() {
        let n = (i + 1) as u32;
        if line.trim().is_empty() {
            continue;
        }
        let r = serde_json::from_str::<RawMessage<'_>>(line)
            .map_err(|e| e.to_string())
            .and_then(|raw| message(raw, n));
        match r {
            Ok(Some(e)) => out.events.push(e),
            Ok(None) => out.ignored += 1,
            Err(message) => out.malformed.push(Malformed { line: n, message }),
        }
    }
    Ok(out)
}

/// Detaches an event from a `serde_json::Value` it borrowed from.
fn owned(e: Event<'_>) -> Event<'static> {
    let o = |c: Option<Cow<'_, str>>| c.map(|c| Cow::Owned(c.into_owned()));
    Event {
        ts: e.ts,
        kind: e.kind,
        origin: e.origin,
        id: o(e.id),
        to: Cow::Owned(e.to.into_owned()),
        channel: o(e.channel),
        account: o(e.account),
        client_ip: o(e.client_ip),
        device: o(e.device),
        session: o(e.session),
        label: o(e.label),
        price: e.price,
        status: o(e.status),
    }
}

fn message(raw: RawMessage<'_>, n: u32) -> Result<Option<Event<'_>>, String> {
    if raw
        .direction
        .as_deref()
        .is_some_and(|d| d.starts_with("inbound"))
    {
        return Ok(None);
    }
    let date = raw.date_created.ok_or("missing `date_created`")?;
    let ts = time::rfc2822(&date)
        .or_else(|| time::rfc3339(&date))
        .ok_or_else(|| format!("`date_created` is not an RFC 2822 date: {date:?}"))?;
    let to = raw.to.ok_or("missing `to`")?;
    // WhatsApp sends are addressed `whatsapp:+…`.
    let (channel, to) = match to.split_once(':') {
        Some((ch, _)) => {
            let ch = ch.to_ascii_lowercase();
            let rest = Cow::Owned(to[ch.len() + 1..].to_owned());
            (Cow::Owned(ch), rest)
        }
        None => (Cow::Borrowed("sms"), to),
    };
    let price = match raw.price {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
        Some(serde_json::Value::String(s)) => Some(
            s.trim()
                .parse::<f64>()
                .map_err(|_| format!("`price` is not a number: {s:?}"))?
                .abs(),
        ),
        Some(serde_json::Value::Number(x)) => x.as_f64().map(f64::abs),
        Some(other) => return Err(format!("`price` is not a number: {other}")),
    };
    let mut e = Event::new(ts, Kind::Send, n, to);
    e.id = raw.sid;
    e.channel = Some(channel);
    e.account = raw.account_sid;
    e.price = price;
    e.status = raw.status;
    Ok(Some(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wherever the fast path answers, serde must read the same record:
    /// checked on plain lines and on thousands of mangled ones.
    #[test]
    fn the_fast_path_agrees_with_serde() {
        let base = [
            r#"{"ts":"2026-10-01T00:00:00.557Z","event":"send","id":"s1","to":"+12607173209","channel":"sms","account":"AC1","client_ip":"1.2.3.4","device":"d","session":"x","label":"organic"}"#,
            r#" {"event":"conversion", "ts":"2026-10-01T00:00:01Z" ,"to":null,"zz":"?","id":null} "#,
        ];
        let alphabet = b"{}[]:,\" nul\\tsabc0-\t";
        let mut seed = 5u64;
        let mut answered = 0;
        for round in 0..20_000 {
            let mut line = base[round % base.len()].as_bytes().to_vec();
            for _ in 0..round % 3 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let at = (seed >> 33) as usize % (line.len() + 1);
                let c = alphabet[(seed >> 20) as usize % alphabet.len()];
                match (seed >> 8) % 3 {
                    0 if at < line.len() => {
                        line.remove(at);
                    }
                    1 if at < line.len() => line[at] = c,
                    _ => line.insert(at, c),
                }
            }
            let Ok(line) = std::str::from_utf8(&line) else {
                continue;
            };
            if let Some(f) = flat::fields(line) {
                answered += 1;
                let serde: RawEvent = serde_json::from_str(line).expect(line);
                assert_eq!(RawEvent::from(f), serde, "{line}");
            }
        }
        assert!(answered > 5_000, "{answered}");
    }
}
