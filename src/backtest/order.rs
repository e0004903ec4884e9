//! Event order, and the no-look-ahead guarantee that rests on it.
//!
//! Replay consumes only [`Ordered`] events, which exist only sorted by
//! timestamp with, at the same millisecond, sends before conversions (a
//! conversion at time T must not influence a send at T), input order kept
//! otherwise. Logs that are already in order (the usual case) are not
//! re-sorted.

use super::event::Event;

/// Events in replay order.
#[derive(Debug, Default)]
pub struct Ordered<'a> {
    events: Vec<Event<'a>>,
    resorted: bool,
}

impl<'a> Ordered<'a> {
    pub fn arrange(mut events: Vec<Event<'a>>) -> Ordered<'a> {
        let in_order = events
            .windows(2)
            .all(|w| (w[0].ts, w[0].kind) <= (w[1].ts, w[1].kind));
        if !in_order {
            // Stable: equal keys keep their input order.
            events.sort_by_key(|e| (e.ts, e.kind));
        }
        Ordered {
            events,
            resorted: !in_order,
        }
    }

    /// Whether the input had to be sorted.
    pub fn resorted(&self) -> bool {
        self.resorted
    }

    pub fn events(&self) -> &[Event<'a>] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}
