//! `--decisions`: one JSON line per send,
//! `{"id":"s1","action":"allow","score":0,"reasons":["number.invalid"]}`,
//! in replay order. `id` is always a string: the record's id, or its line
//! number when it has none.

use std::io::{self, Write};

use crate::policy::Decision;

pub fn write_line<W: Write + ?Sized>(out: &mut W, id: &str, d: &Decision) -> io::Result<()> {
    out.write_all(b"{\"id\":")?;
    write_json_str(out, id)?;
    write!(
        out,
        ",\"action\":\"{}\",\"score\":{},\"reasons\":[",
        d.action, d.score
    )?;
    for (i, r) in d.reasons.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_json_str(out, r.code)?;
    }
    out.write_all(b"]}\n")
}

fn write_json_str<W: Write + ?Sized>(out: &mut W, s: &str) -> io::Result<()> {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.write_all(b"\"")?;
        out.write_all(s.as_bytes())?;
        return out.write_all(b"\"");
    }
    let quoted = serde_json::to_string(s).map_err(io::Error::other)?;
    out.write_all(quoted.as_bytes())
}
