//! A bounded, sharded map from [`Key`] to a fixed-size entry of counts:
//! the storage under every counter family.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use super::Key;

const SHARDS: usize = 64;

/// What a table needs to know of its entries to evict them.
///
/// Entries count time in ticks of their own (a ring's bucket index); the
/// table is told the current tick on every write.
pub trait Entry: Copy {
    /// An empty entry, first written at `tick`.
    fn new(tick: u32) -> Self;
    /// The newest tick written: eviction drops the oldest first.
    fn head(&self) -> u32;
    /// Whether nothing written to it is still inside its windows at `tick`.
    fn expired(&self, tick: u32) -> bool;
}

/// Keys are already uniformly random 64-bit hashes: use them as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard<T> = HashMap<Key, T, BuildHasherDefault<Identity>>;

/// At most `capacity` entries, in 64 independently locked shards.
pub struct Table<T> {
    per_shard: usize,
    shards: Box<[Mutex<Shard<T>>]>,
}

impl<T: Entry> Table<T> {
    pub fn new(capacity: usize) -> Table<T> {
        Table {
            per_shard: (capacity / SHARDS).max(8),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    fn shard(&self, key: Key) -> &Mutex<Shard<T>> {
        &self.shards[(key.0 >> 58) as usize % SHARDS]
    }

    /// Runs `f` on the entry of `key`, creating it (and making room) if
    /// needed.
    pub fn update<R>(&self, key: Key, tick: u32, f: impl FnOnce(&mut T) -> R) -> R {
        let mut shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        // Length first: the second probe runs only in a full shard.
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            evict(&mut shard, tick, self.per_shard);
        }
        f(shard.entry(key).or_insert_with(|| T::new(tick)))
    }

    /// Runs `f` on the entry of `key`, if there is one.
    pub fn read<R>(&self, key: Key, f: impl FnOnce(&T) -> R) -> Option<R> {
        let shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        shard.get(&key).map(f)
    }

    /// A copy of the entry of `key`, for several reads under one probe.
    pub fn get(&self, key: Key) -> Option<T> {
        self.read(key, |e| *e)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.len()).unwrap_or(0))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Frees room in a full shard: drops entries that fell out of their
/// windows entirely, then, if that was not enough, the least recently
/// written ones until the shard is at 7/8 of its capacity (amortises the
/// scan).
fn evict<T: Entry>(shard: &mut Shard<T>, tick: u32, cap: usize) {
    shard.retain(|_, e| !e.expired(tick));
    let target = cap - cap / 8;
    if shard.len() < cap {
        return;
    }
    let mut heads: Vec<u32> = shard.values().map(T::head).collect();
    let cut = heads
        .len()
        .saturating_sub(target)
        .min(heads.len().saturating_sub(1));
    let (_, nth, _) = heads.select_nth_unstable(cut);
    let threshold = *nth;
    shard.retain(|_, e| e.head() > threshold);
}
