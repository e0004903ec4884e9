//! A multi-destination send without some of its destinations: the body a
//! `partial = "drop"` route forwards, in the encoding it came in, with
//! everything else as the client wrote it.
//!
//! The destinations are found by the route's `to` path, as extraction found
//! them, and removed where they sit: a value from a `dst=a<b` string, an
//! element from a `to: [...]` list, or the object that holds it
//! (`messages[].destinations[].to` loses that destination object, and a
//! message left without destinations is removed with it). JSON types stay as
//! they were: a recipient written as a number stays a number.

use std::collections::HashSet;

use serde_json::Value;

use super::body::{segments, Body, Seg};

/// The body without the destinations in `dropped` (compared as extraction
/// wrote them: trimmed, channel prefix included). `separator` splits one
/// value into several (`<` for Plivo). `None` if the body is not of a shape
/// that can be rewritten (JSON that is not an object).
pub fn without_destinations(
    body: &Body,
    to_path: &str,
    separator: Option<&str>,
    dropped: &[&str],
) -> Option<Vec<u8>> {
    let dropped: HashSet<&str> = dropped.iter().copied().collect();
    let sep = separator.filter(|s| !s.is_empty());
    match body {
        Body::Form(form) => Some(
            form.map_values(to_path, |value| keep_in_text(value, sep, &dropped))
                .into_bytes(),
        ),
        Body::Json(root @ Value::Object(_)) => {
            let mut root = root.clone();
            prune(&mut root, &segments(to_path), sep, &dropped);
            serde_json::to_vec(&root).ok()
        }
        Body::Json(_) => None,
    }
}

/// What is left of one text value (`None`: nothing, remove it).
fn keep_in_text(value: &str, sep: Option<&str>, dropped: &HashSet<&str>) -> Option<String> {
    let Some(sep) = sep else {
        return (!dropped.contains(value.trim())).then(|| value.to_owned());
    };
    let kept: Vec<&str> = value
        .split(sep)
        .filter(|part| {
            let part = part.trim();
            !part.is_empty() && !dropped.contains(part)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(sep))
}

/// Removes the dropped destinations under `v` along `path`. Returns whether
/// `v` itself is now empty of destinations and should go too.
fn prune(v: &mut Value, path: &[Seg<'_>], sep: Option<&str>, dropped: &HashSet<&str>) -> bool {
    let Some((head, rest)) = path.split_first() else {
        return prune_leaf(v, sep, dropped);
    };
    let Some(child) = v.get_mut(head.name) else {
        return false;
    };
    if !head.array {
        return prune(child, rest, sep, dropped);
    }
    let Some(items) = child.as_array_mut() else {
        return false;
    };
    items.retain_mut(|item| !prune(item, rest, sep, dropped));
    items.is_empty()
}

fn prune_leaf(v: &mut Value, sep: Option<&str>, dropped: &HashSet<&str>) -> bool {
    match v {
        Value::String(s) => match keep_in_text(s, sep, dropped) {
            Some(kept) => {
                *s = kept;
                false
            }
            None => true,
        },
        Value::Number(n) => dropped.contains(n.to_string().as_str()),
        // `"to": ["+1…", "+2…"]` with no `[]` in the path, as extraction
        // reads it.
        Value::Array(items) => {
            items.retain_mut(|item| !prune_leaf(item, sep, dropped));
            items.is_empty()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::BodyEncoding;

    fn rewrite(
        body: &str,
        encoding: BodyEncoding,
        path: &str,
        sep: Option<&str>,
        dropped: &[&str],
    ) -> String {
        let ct = match encoding {
            BodyEncoding::Json => "application/json",
            _ => "application/x-www-form-urlencoded",
        };
        let b = Body::parse(encoding, Some(ct), body.as_bytes()).unwrap();
        String::from_utf8(without_destinations(&b, path, sep, dropped).unwrap()).unwrap()
    }

    #[test]
    fn a_separated_value_loses_its_parts_and_other_fields_keep_their_bytes() {
        let out = rewrite(
            "a=%2B1&dst=1%3C2%3C3&text=hi+there",
            BodyEncoding::Form,
            "dst",
            Some("<"),
            &["2"],
        );
        assert_eq!(out, "a=%2B1&dst=1%3C3&text=hi+there");
        let out = rewrite(
            r#"{"src":"x","dst":"1<2","text":"hi"}"#,
            BodyEncoding::Json,
            "dst",
            Some("<"),
            &["2"],
        );
        assert_eq!(out, r#"{"src":"x","dst":"1","text":"hi"}"#);
    }

    #[test]
    fn a_list_loses_its_elements_whatever_their_json_type() {
        let out = rewrite(
            r#"{"to":["+1","+2","+3"],"body":"x"}"#,
            BodyEncoding::Json,
            "to",
            None,
            &["+2"],
        );
        assert_eq!(out, r#"{"to":["+1","+3"],"body":"x"}"#);
        let out = rewrite(
            r#"{"to":["+1","+2"]}"#,
            BodyEncoding::Json,
            "to[]",
            None,
            &["+1"],
        );
        assert_eq!(out, r#"{"to":["+2"]}"#);
        let out = rewrite(
            r#"{"recipients":[31612345678,31687654321]}"#,
            BodyEncoding::Json,
            "recipients",
            None,
            &["31612345678"],
        );
        assert_eq!(out, r#"{"recipients":[31687654321]}"#);
    }

    #[test]
    fn nested_destinations_go_with_their_object_and_an_emptied_message_with_them() {
        let body = r#"{"messages":[{"destinations":[{"to":"1","messageId":"a"},{"to":"2"}],"text":"x"},{"destinations":[{"to":"3"}],"text":"y"}],"bulkId":"b"}"#;
        let out = rewrite(
            body,
            BodyEncoding::Json,
            "messages[].destinations[].to",
            None,
            &["2", "3"],
        );
        assert_eq!(
            out,
            r#"{"messages":[{"destinations":[{"to":"1","messageId":"a"}],"text":"x"}],"bulkId":"b"}"#
        );
    }

    #[test]
    fn repeated_form_fields_are_removed_one_by_one() {
        let out = rewrite("To=1&To=2&Body=x", BodyEncoding::Form, "To", None, &["1"]);
        assert_eq!(out, "To=2&Body=x");
    }

    #[test]
    fn odd_shapes_are_left_alone_not_panicked_on() {
        let out = rewrite(
            r#"{"messages":"nope","to":{"x":1}}"#,
            BodyEncoding::Json,
            "messages[].destinations[].to",
            None,
            &["1"],
        );
        assert_eq!(out, r#"{"messages":"nope","to":{"x":1}}"#);
        let b = Body::parse(BodyEncoding::Json, Some("application/json"), b"[1,2]").unwrap();
        assert!(without_destinations(&b, "to", None, &["1"]).is_none());
    }
}
