//! One recorded event, whatever the input format: a send to score or a
//! conversion to learn from. Strings borrow from the input buffer where
//! they can, so reading a large log allocates little.

use std::borrow::Cow;

use crate::clock::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Ordered before a conversion of the same instant: the engine knows
    /// only events with an earlier timestamp when it scores a send.
    Send,
    Conversion,
}

#[derive(Clone, Debug)]
pub struct Event<'a> {
    pub ts: Timestamp,
    pub kind: Kind,
    /// Line number in the input (1-based; for a JSON list, the record's
    /// position), or the index in a generator's output.
    pub origin: u32,
    /// `None`: the line number stands in.
    pub id: Option<Cow<'a, str>>,
    pub to: Cow<'a, str>,
    pub channel: Option<Cow<'a, str>>,
    pub account: Option<Cow<'a, str>>,
    pub client_ip: Option<Cow<'a, str>>,
    pub device: Option<Cow<'a, str>>,
    pub session: Option<Cow<'a, str>>,
    /// Ground truth from the simulator (`organic`, `attack:<scenario>`);
    /// never shown to the engine.
    pub label: Option<Cow<'a, str>>,
    /// What the provider charged, when the record says (Twilio `price`).
    pub price: Option<f64>,
    /// Delivery status, when the record says (Twilio `status`).
    pub status: Option<Cow<'a, str>>,
}

impl<'a> Event<'a> {
    /// A bare event; the readers fill in what their format has.
    pub fn new(ts: Timestamp, kind: Kind, origin: u32, to: Cow<'a, str>) -> Event<'a> {
        Event {
            ts,
            kind,
            origin,
            id: None,
            to,
            channel: None,
            account: None,
            client_ip: None,
            device: None,
            session: None,
            label: None,
            price: None,
            status: None,
        }
    }

    /// The id written in `--decisions`: the record's, or its line number.
    pub fn id_or_line(&self) -> Cow<'_, str> {
        match &self.id {
            Some(id) => Cow::Borrowed(id.as_ref()),
            None => Cow::Owned(self.origin.to_string()),
        }
    }
}
