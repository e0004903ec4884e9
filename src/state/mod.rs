//! In-memory scoring state: counters over sliding windows, keyed by number,
//! range, carrier, country, account and client context.
//!
//! Counters are sharded tables of fixed-size time-bucket rings ([`Table`];
//! DESIGN §5: moka's per-key upsert is 10–50× slower on this path). Every
//! family is bounded: when a shard is full, the least recently touched
//! entries go first, so an attacker who sprays ten million numbers costs a
//! bounded amount of memory and mostly evicts their own entries.
//!
//! Time is always passed in (event time), never read here.

mod key;
mod ring;
mod series;
mod table;
mod windows;

pub use key::{Key, KeyHasher, Kind};
pub use ring::{Count, Ring};
pub use series::{Series, SeriesWindows, LONG_BUCKET_S, SHORT_BUCKET_S};
pub use table::{Entry, Table, TableSize};
pub use windows::Windows;
