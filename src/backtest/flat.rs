//! A fast reader for the usual shape of an `events` line: one flat JSON
//! object whose values are strings without escapes or `null`.
//!
//! serde's derived reader spent most of the backtest's parse time on
//! generic visitor plumbing and on moving a large record around. This one
//! answers only when the line has that plain shape and leaves everything
//! else (escapes, numbers, nested values, repeated fields, syntax errors)
//! to serde, which knows every case and its error message. Where it does
//! answer it must agree with serde exactly: the tests hold it to that.

/// The fields of an `events` line, as serde reads them: absent or `null`
/// is `None`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    pub ts: &'a str,
    pub event: &'a str,
    pub id: Option<&'a str>,
    pub to: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub account: Option<&'a str>,
    pub client_ip: Option<&'a str>,
    pub device: Option<&'a str>,
    pub session: Option<&'a str>,
    pub label: Option<&'a str>,
}

/// A field's value as read: `None` until seen, then `Some(None)` for
/// `null`. serde refuses a field given twice, so this reader gives up.
type Slot<'a> = Option<Option<&'a str>>;

fn set<'a>(slot: &mut Slot<'a>, value: Option<&'a str>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// Reads `line` if it has the plain shape; `None` means "ask serde".
pub fn fields(line: &str) -> Option<Fields<'_>> {
    let mut s = Scan { text: line, at: 0 };
    let [mut ts, mut event, mut id, mut to, mut channel, mut account, mut client_ip, mut device, mut session, mut label]: [Slot; 10] =
        [None; 10];
    let mut other: Slot;
    s.ws();
    s.eat(b'{')?;
    loop {
        s.ws();
        let key = s.string()?;
        s.ws();
        s.eat(b':')?;
        s.ws();
        let value = s.value()?;
        let slot = match key {
            "ts" => &mut ts,
            "event" => &mut event,
            "id" => &mut id,
            "to" => &mut to,
            "channel" => &mut channel,
            "account" => &mut account,
            "client_ip" => &mut client_ip,
            "device" => &mut device,
            "session" => &mut session,
            "label" => &mut label,
            // Unknown fields are ignored, as often as they come, as serde
            // does.
            _ => {
                other = None;
                &mut other
            }
        };
        set(slot, value)?;
        s.ws();
        if s.eat(b',').is_none() {
            break;
        }
    }
    s.eat(b'}')?;
    s.ws();
    if s.at != line.len() {
        return None;
    }
    Some(Fields {
        // Required strings: absent or `null` is an error whose wording
        // serde owns.
        ts: ts??,
        event: event??,
        id: id.flatten(),
        to: to.flatten(),
        channel: channel.flatten(),
        account: account.flatten(),
        client_ip: client_ip.flatten(),
        device: device.flatten(),
        session: session.flatten(),
        label: label.flatten(),
    })
}

struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// JSON whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        if self.peek() == Some(b) {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes (or control characters, which JSON
    /// forbids unescaped).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let len = stop(&self.text.as_bytes()[start..])?;
        self.at = start + len;
        self.eat(b'"')?;
        // Both ends sit next to an ASCII quote: always a char boundary.
        self.text.get(start..start + len)
    }

    /// A plain string or `null`.
    fn value(&mut self) -> Option<Option<&'a str>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'n' if self.text.as_bytes()[self.at..].starts_with(b"null") => {
                self.at += 4;
                Some(None)
            }
            _ => None,
        }
    }
}

/// The first `"`, `\\` or control character in `b`: eight bytes at a
/// time, because this loop is most of the reading.
fn stop(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `w` is below `n` (`n` <= 0x80): its high bit in the result.
    // Bits above the lowest set one may be spurious, the lowest never is.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plain_line() {
        let line = r#"{"ts":"2026-10-01T00:00:00.557Z","event":"send","id":"s1","to":"+12607173209","channel":"sms","label":null,"extra":"x"}"#;
        let f = fields(line).expect("plain");
        assert_eq!(f.ts, "2026-10-01T00:00:00.557Z");
        assert_eq!(f.event, "send");
        assert_eq!(f.id, Some("s1"));
        assert_eq!(f.to, Some("+12607173209"));
        assert_eq!(f.channel, Some("sms"));
        assert_eq!(f.label, None);
        assert_eq!(f.account, None);
        let spaced = " { \"ts\" : \"t\" ,\t\"event\":\"conversion\" } \r";
        assert_eq!(
            fields(spaced),
            Some(Fields {
                ts: "t",
                event: "conversion",
                ..Fields::default()
            })
        );
    }

    #[test]
    fn stops_at_the_first_quote_backslash_or_control_character() {
        let naive = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        let mut seed = 3u64;
        for len in 0..40 {
            for _ in 0..200 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let r = (seed >> 33) as u8;
                        // Mostly plain text, sometimes a stop byte or a high one.
                        match r % 16 {
                            0 => b'"',
                            1 => b'\\',
                            2 => r % 0x20,
                            3 => 0x80 | r,
                            _ => 0x20 + r % 0x5f,
                        }
                    })
                    .collect();
                assert_eq!(stop(&b), naive(&b), "{b:?}");
            }
        }
    }

    #[test]
    fn leaves_everything_else_to_serde() {
        for line in [
            "",
            "{}",
            r#"{"ts":"t"}"#,
            r#"{"ts":null,"event":"send"}"#,
            r#"{"ts":"t","event":"send","id":7}"#,
            r#"{"ts":"t","event":"send","to":"a\"b"}"#,
            r#"{"ts":"t","event":"send","to":"a\u0062"}"#,
            r#"{"ts":"t","event":"send","x":{"y":1}}"#,
            r#"{"ts":"t","event":"send","x":true}"#,
            r#"{"ts":"t","event":"send","to":"1","to":"2"}"#,
            r#"{"ts":"t","event":"send","to":null,"to":"2"}"#,
            r#"{"ts":"t","event":"send",}"#,
            r#"{"ts":"t","event":"send"} x"#,
            r#"{"ts":"t","event":"send""#,
            r#"{"ts":"t","event":"send","to":nul}"#,
            r#"{"ts":"t","event":"send","to":nullx}"#,
            "{\"ts\":\"t\",\"event\":\"send\",\"to\":\"a\tb\"}",
            r#"["ts","t"]"#,
        ] {
            assert_eq!(fields(line), None, "{line}");
        }
    }
}
