//! The simulator's output: timestamped sends and conversions with their
//! ground truth, and their `events` JSONL form.

use std::io::{self, Write};
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::number::Region;

/// Ground truth of a send.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    Organic,
    /// `attack:<scenario>`.
    Attack(Arc<str>),
}

impl Label {
    pub fn is_attack(&self) -> bool {
        matches!(self, Label::Attack(_))
    }

    pub fn as_string(&self) -> String {
        match self {
            Label::Organic => "organic".into(),
            Label::Attack(s) => format!("attack:{s}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimKind {
    Send,
    Conversion,
}

/// One generated event.
#[derive(Clone, Debug)]
pub struct SimEvent {
    pub ts: Timestamp,
    pub kind: SimKind,
    /// `s1`, `s2`, … for sends (assigned after ordering); empty for
    /// conversions.
    pub id: String,
    pub to: Arc<str>,
    pub account: Option<Arc<str>>,
    pub client_ip: Option<Arc<str>>,
    pub device: Option<Arc<str>>,
    /// Sends only; conversions carry `Organic` and it is not written.
    pub label: Label,
    /// The country the simulator generated the number for (ground truth,
    /// not written: scoring must find it by classification).
    pub region: Region,
}

impl SimEvent {
    /// The ordering of the `events` format: by time, a send before a
    /// conversion of the same millisecond (no look-ahead).
    pub fn order_key(&self) -> (Timestamp, SimKind) {
        (self.ts, self.kind)
    }
}

/// Writes events as JSONL. Field order is fixed so that the same seed gives
/// the same bytes.
pub fn write_jsonl<W: Write>(events: &[SimEvent], out: &mut W) -> io::Result<()> {
    for e in events {
        let ts = e.ts.to_rfc3339();
        match e.kind {
            SimKind::Send => {
                write!(
                    out,
                    "{{\"ts\":\"{ts}\",\"event\":\"send\",\"id\":\"{}\",\"to\":\"{}\",\"channel\":\"sms\"",
                    e.id, e.to
                )?;
                if let Some(a) = &e.account {
                    write!(out, ",\"account\":\"{a}\"")?;
                }
                if let Some(ip) = &e.client_ip {
                    write!(out, ",\"client_ip\":\"{ip}\"")?;
                }
                if let Some(d) = &e.device {
                    write!(out, ",\"device\":\"{d}\"")?;
                }
                writeln!(out, ",\"label\":\"{}\"}}", e.label.as_string())?;
            }
            SimKind::Conversion => {
                writeln!(
                    out,
                    "{{\"ts\":\"{ts}\",\"event\":\"conversion\",\"to\":\"{}\"}}",
                    e.to
                )?;
            }
        }
    }
    Ok(())
}
