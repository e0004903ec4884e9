//! The batch format on the stream: compact binary, versioned, checked on
//! the way in (the stream is trusted infrastructure, but a bad entry must
//! cost one batch, never the subscriber).
//!
//! ```text
//! batch  = magic 'T' | version 1 | count: varint | record*count
//! record = 1 (send)       | at: zigzag varint ms | flags: u8 | field*
//!        | 2 (conversion) | at: zigzag varint ms | number: field
//! field  = len: varint | bytes        (flags bit 0 number, 1 account,
//!                                      2 client ip, 3 device, 4 session)
//! flags bit 5: the send was stopped (its attempt counts, no delivery);
//! bit 6: a held send released (its delivery only); neither: sent.
//! ```
//!
//! Numbers travel as their E.164 digits (at most 15 ASCII digits); every
//! other field is UTF-8 of at most [`MAX_FIELD`] bytes. Records are encoded
//! one by one when counted (see [`super::outbox`]) and a batch is their
//! concatenation behind a header.

use crate::clock::Timestamp;
use crate::policy::Delivery;

const MAGIC: u8 = b'T';
const VERSION: u8 = 1;
const SEND: u8 = 1;
const CONVERSION: u8 = 2;
/// Longest account, client ip, device or session accepted, in bytes.
pub const MAX_FIELD: usize = 256;
const MAX_DIGITS: usize = 15;
const STOPPED: u8 = 1 << 5;
const RELEASED: u8 = 1 << 6;

/// One counted send, as replicated: owned when decoded, borrowed from the
/// request when encoded (no copy on the hot path).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendEvent<S = String> {
    /// E.164 digits; `None` when the destination did not parse (its client
    /// context still counts).
    pub number: Option<S>,
    pub account: Option<S>,
    pub client_ip: Option<S>,
    pub device: Option<S>,
    pub session: Option<S>,
    pub delivery: Delivery,
    pub at: Timestamp,
}

/// One counted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Send(SendEvent),
    Conversion { number: String, at: Timestamp },
}

/// Why a batch was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not a tollgate batch")]
    BadMagic,
    #[error("batch format version {0} is not supported")]
    Version(u8),
    #[error("the batch ends inside a record")]
    Truncated,
    #[error("unknown record type {0}")]
    RecordType(u8),
    #[error("a field is longer than allowed")]
    FieldTooLong,
    #[error("a field is not UTF-8")]
    NotUtf8,
    #[error("a number is not 1 to 15 digits")]
    BadNumber,
    #[error("unknown send flags {0:#x}")]
    Flags(u8),
    #[error("bytes left after the last record")]
    Trailing,
    #[error("a varint is too long")]
    Varint,
}

/// Appends one send record to `out`. Fields too long to be accepted on the
/// way in are left out here (the counts under them are lost, not the send).
pub fn encode_send<S: AsRef<str>>(out: &mut Vec<u8>, e: &SendEvent<S>) {
    out.push(SEND);
    put_time(out, e.at);
    let fields = [
        as_str(&e.number).filter(|n| is_digits(n)),
        as_str(&e.account),
        as_str(&e.client_ip),
        as_str(&e.device),
        as_str(&e.session),
    ];
    let mut flags = 0u8;
    for (bit, f) in fields.iter().enumerate() {
        if f.is_some_and(|v| v.len() <= MAX_FIELD) {
            flags |= 1 << bit;
        }
    }
    flags |= match e.delivery {
        Delivery::Sent => 0,
        Delivery::Stopped => STOPPED,
        Delivery::Released => RELEASED,
    };
    out.push(flags);
    for (bit, f) in fields.iter().enumerate() {
        if let (true, Some(v)) = (flags & (1 << bit) != 0, f) {
            put_field(out, v.as_bytes());
        }
    }
}

/// Appends one conversion record to `out`; nothing for a number that is
/// not E.164 digits.
pub fn encode_conversion(out: &mut Vec<u8>, number: &str, at: Timestamp) {
    if !is_digits(number) {
        return;
    }
    out.push(CONVERSION);
    put_time(out, at);
    put_field(out, number.as_bytes());
}

/// A batch of `count` records already encoded back to back in `records`.
pub fn batch(count: usize, records: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() + 12);
    out.push(MAGIC);
    out.push(VERSION);
    put_varint(&mut out, count as u64);
    out.extend_from_slice(records);
    out
}

/// Every event of a batch, or why the batch is refused as a whole.
pub fn decode(bytes: &[u8]) -> Result<Vec<Event>, DecodeError> {
    let mut r = Reader(bytes);
    if r.byte()? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    match r.byte()? {
        VERSION => {}
        v => return Err(DecodeError::Version(v)),
    }
    let count = r.varint()?;
    // Each record is at least 3 bytes: no allocation an entry cannot back.
    let mut events = Vec::with_capacity((count as usize).min(bytes.len() / 3));
    for _ in 0..count {
        events.push(r.record()?);
    }
    if !r.0.is_empty() {
        return Err(DecodeError::Trailing);
    }
    Ok(events)
}

fn as_str<S: AsRef<str>>(f: &Option<S>) -> Option<&str> {
    f.as_ref().map(AsRef::as_ref)
}

fn is_digits(s: &str) -> bool {
    (1..=MAX_DIGITS).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn put_time(out: &mut Vec<u8>, at: Timestamp) {
    let v = at.millis();
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_field(out: &mut Vec<u8>, v: &[u8]) {
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self.0.split_first().ok_or(DecodeError::Truncated)?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Varint)
    }

    fn time(&mut self) -> Result<Timestamp, DecodeError> {
        let z = self.varint()?;
        Ok(Timestamp(((z >> 1) as i64) ^ -((z & 1) as i64)))
    }

    fn field(&mut self) -> Result<String, DecodeError> {
        let len = self.varint()?;
        if len > MAX_FIELD as u64 {
            return Err(DecodeError::FieldTooLong);
        }
        let len = len as usize;
        if self.0.len() < len {
            return Err(DecodeError::Truncated);
        }
        let (v, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(v.to_vec()).map_err(|_| DecodeError::NotUtf8)
    }

    fn number(&mut self) -> Result<String, DecodeError> {
        let n = self.field()?;
        if is_digits(&n) {
            Ok(n)
        } else {
            Err(DecodeError::BadNumber)
        }
    }

    fn record(&mut self) -> Result<Event, DecodeError> {
        match self.byte()? {
            SEND => {
                let at = self.time()?;
                let flags = self.byte()?;
                let delivery = match flags & (STOPPED | RELEASED) {
                    0 => Delivery::Sent,
                    STOPPED => Delivery::Stopped,
                    RELEASED => Delivery::Released,
                    _ => return Err(DecodeError::Flags(flags)),
                };
                if flags & !0x7f != 0 {
                    return Err(DecodeError::Flags(flags));
                }
                let mut field = |bit: u8| -> Result<Option<String>, DecodeError> {
                    if flags & (1 << bit) == 0 {
                        Ok(None)
                    } else if bit == 0 {
                        self.number().map(Some)
                    } else {
                        self.field().map(Some)
                    }
                };
                Ok(Event::Send(SendEvent {
                    number: field(0)?,
                    account: field(1)?,
                    client_ip: field(2)?,
                    device: field(3)?,
                    session: field(4)?,
                    delivery,
                    at,
                }))
            }
            CONVERSION => {
                let at = self.time()?;
                let number = self.number()?;
                Ok(Event::Conversion { number, at })
            }
            t => Err(DecodeError::RecordType(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(events: &[Event]) -> Vec<u8> {
        let mut records = Vec::new();
        for e in events {
            match e {
                Event::Send(s) => encode_send(&mut records, s),
                Event::Conversion { number, at } => encode_conversion(&mut records, number, *at),
            }
        }
        batch(events.len(), &records)
    }

    fn sample() -> Vec<Event> {
        vec![
            Event::Send(SendEvent {
                number: Some("447700900123".into()),
                account: Some("AC0123".into()),
                client_ip: Some("203.0.113.9".into()),
                device: Some("dév-1".into()),
                session: Some("s".into()),
                delivery: Delivery::Sent,
                at: Timestamp(1_790_000_000_123),
            }),
            Event::Send(SendEvent {
                at: Timestamp(-5),
                delivery: Delivery::Stopped,
                ..SendEvent::default()
            }),
            Event::Send(SendEvent {
                number: Some("1".into()),
                session: Some(String::new()),
                delivery: Delivery::Released,
                at: Timestamp(0),
                ..SendEvent::default()
            }),
            Event::Conversion {
                number: "234803123456".into(),
                at: Timestamp(i64::MAX),
            },
        ]
    }

    #[test]
    fn batches_round_trip() {
        let events = sample();
        assert_eq!(decode(&encode(&events)).unwrap(), events);
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn a_send_is_compact() {
        let one = encode(&sample()[..1]);
        // 12 digits, 4 context fields of 22 bytes, 6-byte time, tags.
        assert!(one.len() < 60, "{} bytes", one.len());
    }

    #[test]
    fn fields_that_would_be_refused_are_left_out_not_sent() {
        let e = SendEvent {
            number: Some("+447700900123".into()),
            account: Some("a".repeat(MAX_FIELD + 1)),
            device: Some("d".into()),
            ..SendEvent::default()
        };
        let got = decode(&encode(&[Event::Send(e)])).unwrap();
        let want = SendEvent {
            device: Some("d".into()),
            ..SendEvent::default()
        };
        assert_eq!(got, vec![Event::Send(want)]);
        let mut out = Vec::new();
        encode_conversion(&mut out, "12ab", Timestamp(1));
        assert!(out.is_empty());
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn malformed_batches_are_refused_with_their_reason() {
        let good = encode(&sample()[..1]);
        let with = |i: usize, b: u8| {
            let mut v = good.clone();
            v[i] = b;
            v
        };
        assert_eq!(decode(&with(0, b'X')), Err(DecodeError::BadMagic));
        assert_eq!(decode(&with(1, 9)), Err(DecodeError::Version(9)));
        assert_eq!(decode(&with(3, 7)), Err(DecodeError::RecordType(7)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(DecodeError::Trailing));
        // A count larger than the records present.
        assert_eq!(decode(&with(2, 5)), Err(DecodeError::Truncated));
        assert_eq!(
            decode(&[
                MAGIC, VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ]),
            Err(DecodeError::Varint)
        );
        // A send with unknown flags, a number with a letter, a long field,
        // a field that is not UTF-8.
        let rec = |r: &[u8]| {
            let mut v = vec![MAGIC, VERSION, 1];
            v.extend_from_slice(r);
            decode(&v)
        };
        assert_eq!(rec(&[SEND, 0, 0x80]), Err(DecodeError::Flags(0x80)));
        // Stopped and released at once.
        assert_eq!(rec(&[SEND, 0, 0x60]), Err(DecodeError::Flags(0x60)));
        assert_eq!(
            rec(&[CONVERSION, 0, 2, b'1', b'x']),
            Err(DecodeError::BadNumber)
        );
        assert_eq!(rec(&[CONVERSION, 0, 0]), Err(DecodeError::BadNumber));
        assert_eq!(
            rec(&[SEND, 0, 0x02, 0x81, 0x02]),
            Err(DecodeError::FieldTooLong)
        );
        assert_eq!(rec(&[SEND, 0, 0x02, 1, 0xff]), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator: decode must answer, not panic.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 40) as usize;
            let mut v = vec![MAGIC, VERSION];
            let mut y = x;
            for _ in 0..len {
                y = y.wrapping_mul(6364136223846793005).wrapping_add(1);
                v.push((y >> 56) as u8);
            }
            let _ = decode(&v);
        }
    }
}
