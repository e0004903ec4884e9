//! A parsed request body (form or JSON) and field look-ups by path.
//!
//! Paths are dotted; a segment ending in `[]` iterates an array
//! (`workflow[].to`). Form bodies are flat: the path is the field name and a
//! field may repeat.

use serde_json::Value;

use crate::route::BodyEncoding;

/// A parsed send body.
#[derive(Debug)]
pub enum Body {
    Form(Vec<(String, String)>),
    Json(Value),
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
        let ct = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        let is_json = |ct: &str| ct == "application/json" || ct.ends_with("+json");
        let auto = encoding == BodyEncoding::Auto;
        let encoding = match (encoding, ct.as_deref()) {
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
                if let Some(c) = ct.as_deref() {
                    if is_json(c) || c.starts_with("multipart/") {
                        return Err(BodyError::ContentType(c.to_owned()));
                    }
                }
                parse_form(bytes)
            }
        }
    }

    /// The first value at `path`, as a string.
    pub fn first(&self, path: &str) -> Option<String> {
        self.values_with_channel(path, None)
            .into_iter()
            .next()
            .map(|(v, _)| v)
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
            Body::Form(fields) => {
                let channel = channel_path
                    .and_then(|c| fields.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone()));
                fields
                    .iter()
                    .filter(|(k, _)| k == to_path)
                    .map(|(_, v)| (v.clone(), channel.clone()))
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
    if std::str::from_utf8(bytes).is_err() {
        return Err(BodyError::Form);
    }
    Ok(Body::Form(
        form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    ))
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(
        bytes.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[' | b'"')
    )
}

#[derive(Debug, PartialEq)]
struct Seg<'a> {
    name: &'a str,
    array: bool,
}

fn segments(path: &str) -> Vec<Seg<'_>> {
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

/// Rewrites a flat `field` to `value` in the original encoding (used when a
/// multi-destination send is forwarded without its blocked destinations).
/// Other fields keep their order and content.
pub fn rewrite_field(body: &Body, field: &str, value: &str) -> Option<Vec<u8>> {
    match body {
        Body::Form(fields) => {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields {
                ser.append_pair(k, if k == field { value } else { v });
            }
            Some(ser.finish().into_bytes())
        }
        Body::Json(Value::Object(map)) => {
            let mut map = map.clone();
            map.insert(field.to_owned(), Value::String(value.to_owned()));
            serde_json::to_vec(&Value::Object(map)).ok()
        }
        Body::Json(_) => None,
    }
}
