//! A parsed request body (form or JSON) and field look-ups by path.
//!
//! Paths are dotted; a segment ending in `[]` iterates an array
//! (`workflow[].to`). Form bodies are flat: the path is the field name and a
//! field may repeat.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::Value;

use crate::route::BodyEncoding;

/// A parsed send body.
#[derive(Debug)]
pub enum Body {
    Form(Form),
    Json(Value),
}

/// A form body, split into fields and decoded only where asked.
///
/// A send is scored on two or three fields and forwarded as it came, so the
/// rest (the message text above all) is never decoded: decoding every field
/// into owned strings was most of the cost of reading a send.
#[derive(Debug)]
pub struct Form {
    /// The body, checked to be UTF-8.
    text: String,
    /// Each field, in order.
    fields: Vec<Field>,
}

/// One form field: its raw name and value, as ranges of the body.
#[derive(Debug)]
struct Field {
    name: Range<usize>,
    value: Range<usize>,
    /// The raw name has no `+` or `%`: it is its own decoding, and is
    /// compared as it is.
    plain_name: bool,
}

impl Form {
    /// Splits as `application/x-www-form-urlencoded` says (and as
    /// `form_urlencoded::parse` does): on `&`, skipping empty pieces, then at
    /// the first `=`, noting which names need decoding. Each search is a
    /// tight scan for one byte (a `match` on every byte cost twice as much).
    fn split(text: String) -> Form {
        let bytes = text.as_bytes();
        let mut fields = Vec::with_capacity(8);
        let mut start = 0;
        while start < bytes.len() {
            let end = find(bytes, start, b'&').unwrap_or(bytes.len());
            if end > start {
                let eq = find(&bytes[..end], start, b'=');
                let name = start..eq.unwrap_or(end);
                let plain_name = !bytes[name.clone()].iter().any(|&b| b == b'+' || b == b'%');
                fields.push(Field {
                    name,
                    value: eq.map_or(end, |e| e + 1)..end,
                    plain_name,
                });
            }
            start = end + 1;
        }
        Form { text, fields }
    }

    /// Every field, decoded.
    pub fn pairs(&self) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
        self.fields.iter().map(|f| {
            (
                decode(&self.text[f.name.clone()]),
                decode(&self.text[f.value.clone()]),
            )
        })
    }

    /// The body with each value of the fields named `name` passed through
    /// `f` (`None` removes the field); every other byte as it came.
    pub(super) fn map_values(
        &self,
        name: &str,
        mut f: impl FnMut(&str) -> Option<String>,
    ) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut push = |piece: &str| {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(piece);
        };
        for field in &self.fields {
            let raw_name = &self.text[field.name.clone()];
            let named = if field.plain_name {
                raw_name == name
            } else {
                decode(raw_name) == name
            };
            let whole = field.name.start..field.value.end;
            if !named {
                push(&self.text[whole]);
                continue;
            }
            if let Some(value) = f(&decode(&self.text[field.value.clone()])) {
                let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
                push(&format!("{raw_name}={encoded}"));
            }
        }
        out
    }

    /// The fields named `name` (compared decoded).
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| {
            let raw = &self.text[f.name.clone()];
            if f.plain_name {
                raw == name
            } else {
                decode(raw) == name
            }
        })
    }

    /// The decoded values of the fields named `name`.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        self.named(name)
            .map(|f| decode(&self.text[f.value.clone()]))
    }
}

/// The index of the first `byte` in `bytes` at or after `from`.
fn find(bytes: &[u8], from: usize, byte: u8) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == byte)
        .map(|i| from + i)
}

/// One form name or value decoded: `+` is a space, `%XX` a byte (a `%` not
/// followed by two hex digits stays as it is), and the bytes are read as
/// UTF-8 with replacement characters, exactly as `form_urlencoded` decodes.
fn decode(raw: &str) -> Cow<'_, str> {
    let bytes = raw.as_bytes();
    let special = |b: &u8| *b == b'+' || *b == b'%';
    let Some(mut i) = bytes.iter().position(special) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..i]);
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            // Plain bytes up to the next `+` or `%` are copied as a run.
            _ => {
                let run = bytes[i..]
                    .iter()
                    .position(special)
                    .unwrap_or(bytes.len() - i);
                out.extend_from_slice(&bytes[i..i + run]);
                i += run;
                continue;
            }
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("the body is not valid UTF-8 form data")]
    Form,
    #[error("the content type `{0}` is not accepted here")]
    ContentType(String),
}

impl Body {
    /// Parses by the route's encoding; `auto` follows `Content-Type`.
    pub fn parse(
        encoding: BodyEncoding,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<Body, BodyError> {
        // Compared without case rather than lower-cased into a new string.
        let ct = content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim);
        let is_json = |ct: &str| {
            ct.eq_ignore_ascii_case("application/json")
                || ct
                    .len()
                    .checked_sub(5)
                    .and_then(|i| ct.get(i..))
                    .is_some_and(|tail| tail.eq_ignore_ascii_case("+json"))
        };
        let auto = encoding == BodyEncoding::Auto;
        let encoding = match (encoding, ct) {
            (BodyEncoding::Auto, Some(c)) if is_json(c) => BodyEncoding::Json,
            (BodyEncoding::Auto, _) => BodyEncoding::Form,
            (e, _) => e,
        };
        match encoding {
            BodyEncoding::Json => match serde_json::from_slice(bytes) {
                Ok(v) => Ok(Body::Json(v)),
                // The vonage v4 SDK keeps one header set per client: after
                // any JSON call, its form calls (SMS, legacy Verify) still say
                // `application/json`. On routes that accept both, a body that
                // is not JSON at all is read as the form it is.
                Err(_) if auto && !looks_like_json(bytes) => parse_form(bytes),
                Err(e) => Err(BodyError::Json(e.to_string())),
            },
            _ => {
                if let Some(c) = ct {
                    let multipart = c
                        .get(..10)
                        .is_some_and(|head| head.eq_ignore_ascii_case("multipart/"));
                    if is_json(c) || multipart {
                        return Err(BodyError::ContentType(c.to_ascii_lowercase()));
                    }
                }
                parse_form(bytes)
            }
        }
    }

    /// The first value at `path`, as a string.
    pub fn first(&self, path: &str) -> Option<String> {
        match self {
            Body::Form(form) => form.values(path).next().map(Cow::into_owned),
            Body::Json(_) => self
                .values_with_channel(path, None)
                .into_iter()
                .next()
                .map(|(v, _)| v),
        }
    }

    /// Whether there is a value at `path` (without decoding it).
    pub fn has(&self, path: &str) -> bool {
        match self {
            Body::Form(form) => form.named(path).next().is_some(),
            Body::Json(_) => self.first(path).is_some(),
        }
    }

    /// Every value at `to_path`, each with the channel at `channel_path`.
    /// When both paths go through the same array, each element pairs its own
    /// `to` with its own channel (Vonage Verify v2 workflows).
    pub fn values_with_channel(
        &self,
        to_path: &str,
        channel_path: Option<&str>,
    ) -> Vec<(String, Option<String>)> {
        match self {
            Body::Form(form) => {
                let channel = channel_path
                    .and_then(|c| form.values(c).next())
                    .map(Cow::into_owned);
                form.values(to_path)
                    .map(|v| (v.into_owned(), channel.clone()))
                    .collect()
            }
            Body::Json(root) => {
                let to: Vec<Seg> = segments(to_path);
                let ch: Option<Vec<Seg>> = channel_path.map(segments);
                let mut out = Vec::new();
                walk(root, &to, ch.as_deref(), None, &mut out);
                out
            }
        }
    }
}

fn parse_form(bytes: &[u8]) -> Result<Body, BodyError> {
    let text = std::str::from_utf8(bytes).map_err(|_| BodyError::Form)?;
    Ok(Body::Form(Form::split(text.to_owned())))
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[' | b'"')
    )
}

#[derive(Debug, PartialEq)]
pub(super) struct Seg<'a> {
    pub(super) name: &'a str,
    pub(super) array: bool,
}

pub(super) fn segments(path: &str) -> Vec<Seg<'_>> {
    path.split('.')
        .map(|s| match s.strip_suffix("[]") {
            Some(name) => Seg { name, array: true },
            None => Seg {
                name: s,
                array: false,
            },
        })
        .collect()
}

fn walk(
    v: &Value,
    to: &[Seg],
    ch: Option<&[Seg]>,
    channel: Option<String>,
    out: &mut Vec<(String, Option<String>)>,
) {
    // Where the channel path leaves the `to` path, resolve it once here.
    let (ch, channel) = match ch {
        Some(c) if !c.is_empty() && (to.is_empty() || c.first() != to.first()) => {
            (None, lookup_scalar(v, c).or(channel))
        }
        other => (other, channel),
    };
    let Some((head, rest)) = to.split_first() else {
        collect_leaf(v, channel, out);
        return;
    };
    let Some(child) = v.get(head.name) else {
        return;
    };
    let ch_rest = ch.and_then(|c| c.get(1..));
    if head.array {
        if let Some(items) = child.as_array() {
            for item in items {
                walk(item, rest, ch_rest, channel.clone(), out);
            }
        }
    } else {
        walk(child, rest, ch_rest, channel, out);
    }
}

fn collect_leaf(v: &Value, channel: Option<String>, out: &mut Vec<(String, Option<String>)>) {
    match v {
        Value::String(s) => out.push((s.clone(), channel)),
        Value::Number(n) => out.push((n.to_string(), channel)),
        // `"to": ["+1…", "+2…"]` without `[]` in the path: take every string.
        Value::Array(items) => {
            for item in items {
                if let Some(s) = scalar(item) {
                    out.push((s, channel.clone()));
                }
            }
        }
        _ => {}
    }
}

fn lookup_scalar(v: &Value, path: &[Seg]) -> Option<String> {
    let mut cur = v;
    for seg in path {
        cur = cur.get(seg.name)?;
        if seg.array {
            cur = cur.as_array()?.first()?;
        }
    }
    scalar(cur)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lazy form reader agrees with `form_urlencoded` on every field.
    #[test]
    fn form_fields_decode_as_form_urlencoded_does() {
        for body in [
            "",
            "&&",
            "a=1&b=2",
            "To=%2B447400123456&From=%2B15005550006&Body=Your+code+is+123456",
            "a&=x&b=&c==d=e&&f",
            "k%3Dx=v%26y&sp+ace=%20%2b+",
            "bad=%zz%4&tail=%&x=%E2%98%8E&lossy=%FF%FE",
            "dup=1&dup=2&Dup=3",
            "ünï=çødé&%C3%BC=1",
        ] {
            let Body::Form(form) = parse_form(body.as_bytes()).unwrap() else {
                panic!("not a form");
            };
            let ours: Vec<(String, String)> = form
                .pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let theirs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(ours, theirs, "{body:?}");
            // Look-ups by name agree with the decoded pairs.
            let whole = Body::Form(form);
            for (k, _) in &theirs {
                let first = theirs.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v);
                assert_eq!(whole.first(k).as_ref(), first, "{body:?} {k:?}");
                assert!(whole.has(k), "{body:?} {k:?}");
            }
            assert!(!whole.has("absent") && whole.first("absent").is_none());
        }
    }
}
