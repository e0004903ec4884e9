//! Where an aggregate key's sends are counted: ranges in a 16-bit table,
//! every other aggregate in a 32-bit one ([`super::Counters::sends_of`]).

use crate::clock::Timestamp;
use crate::state::{Key, Series, SeriesWindows};

/// Where the sends of an aggregate key are counted ([`Counters::sends_of`]).
pub enum SendsOf<'a> {
    Ranges(&'a SeriesWindows<u16>),
    Others(&'a SeriesWindows),
}

impl SendsOf<'_> {
    pub fn short_sum(&self, key: Key, now: Timestamp, back: u32) -> u32 {
        match self {
            SendsOf::Ranges(t) => t.short_sum(key, now, back),
            SendsOf::Others(t) => t.short_sum(key, now, back),
        }
    }

    pub fn long_sum(&self, key: Key, now: Timestamp, back: u32) -> u32 {
        match self {
            SendsOf::Ranges(t) => t.long_sum(key, now, back),
            SendsOf::Others(t) => t.long_sum(key, now, back),
        }
    }

    /// A copy of the series of `key`, if there is one.
    pub fn series(&self, key: Key) -> Option<Series> {
        match self {
            SendsOf::Ranges(t) => t.read(key, Series::widen),
            SendsOf::Others(t) => t.read(key, Series::widen),
        }
    }

    pub(super) fn bump(&self, key: Key, now: Timestamp) {
        match self {
            SendsOf::Ranges(t) => t.bump(key, now, 1),
            SendsOf::Others(t) => t.bump(key, now, 1),
        }
    }

    pub(super) fn prefetch(&self, key: Key) {
        match self {
            SendsOf::Ranges(t) => t.prefetch(key),
            SendsOf::Others(t) => t.prefetch(key),
        }
    }
}
