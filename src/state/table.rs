//! A bounded, sharded map from [`Key`] to a fixed-size entry of counts:
//! the storage under every counter family.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::Key;
pub use crate::metrics::TableSize;

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
    /// An expired entry must read as an absent one and take a write as a
    /// new one would: the table drops expired entries whenever it scans.
    fn expired(&self, tick: u32) -> bool;
}

/// One slot of a shard: a key (0 when the slot is free) and its entry.
#[derive(Clone, Copy)]
struct Slot<T> {
    key: u64,
    entry: T,
}

/// Keys are uniformly random 64-bit hashes: the stored form of a key is
/// the hash itself, with 0 reserved for a free slot (the key whose hash is
/// 0 shares the slot of the key 1, a collision of one in 2^63).
fn stored(key: Key) -> u64 {
    key.0.max(1)
}

/// A shard's slots: open addressing with linear probing, the home slot of
/// a key its low bits. At most half full, so a hit is found in 1.5 probes
/// and a miss in 2.5 on average; entries sit inline, so the home slot's
/// address is known before the lock is taken (see [`Table::prefetch`]).
struct Slots<T> {
    slots: Vec<Slot<T>>,
    len: usize,
}

impl<T: Entry> Slots<T> {
    fn with_slots(n: usize) -> Slots<T> {
        Slots {
            slots: vec![
                Slot {
                    key: 0,
                    entry: T::new(0)
                };
                n
            ],
            len: 0,
        }
    }

    /// The slot holding `key`, or the free slot where it would go.
    fn find(&self, key: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = key as usize & mask;
        loop {
            match self.slots[i].key {
                k if k == key => return Ok(i),
                0 => return Err(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn get(&self, key: u64) -> Option<&T> {
        self.find(key).ok().map(|i| &self.slots[i].entry)
    }

    /// Puts an entry in the free slot `at` (from [`Slots::find`]).
    fn put(&mut self, at: usize, key: u64, entry: T) -> &mut T {
        self.slots[at] = Slot { key, entry };
        self.len += 1;
        &mut self.slots[at].entry
    }

    /// Moves every entry into `n` slots.
    fn grow(&mut self, n: usize) {
        let old = std::mem::replace(self, Slots::with_slots(n));
        for s in old.slots.into_iter().filter(|s| s.key != 0) {
            if let Err(at) = self.find(s.key) {
                self.put(at, s.key, s.entry);
            }
        }
    }

    /// Keeps the entries `keep` says yes to, in place: eviction runs on
    /// full shards, and copying one into fresh memory cost more than the
    /// scan.
    ///
    /// The scan starts just after a free slot, so no probe run wraps past
    /// its start: a removal only pulls entries back from further along the
    /// run (not scanned yet) into the slot just freed, which is then looked
    /// at again.
    fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mask = self.slots.len() - 1;
        let Some(free) = self.slots.iter().position(|s| s.key == 0) else {
            return;
        };
        let mut step = 1;
        while step <= mask {
            let i = (free + step) & mask;
            if self.slots[i].key != 0 && !keep(&self.slots[i].entry) {
                self.remove(i);
            } else {
                step += 1;
            }
        }
    }

    /// Empties slot `hole` and closes the gap (backward-shift deletion): an
    /// entry further along the run moves back into the gap when its home
    /// is at or before the gap, so every entry stays reachable from its
    /// home without tombstones.
    fn remove(&mut self, mut hole: usize) {
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let key = self.slots[j].key;
            if key == 0 {
                break;
            }
            let home = key as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole].key = 0;
        self.len -= 1;
    }

    fn entries(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter(|s| s.key != 0).map(|s| &s.entry)
    }
}

/// A shard: its slots behind a lock, and where they are for prefetching.
struct Shard<T> {
    slots: Mutex<Slots<T>>,
    /// Address of the first slot and the slot mask, updated under the
    /// lock whenever the slots move; read without it, only as a hint.
    base: AtomicUsize,
    mask: AtomicUsize,
}

impl<T> Shard<T> {
    fn publish(&self, slots: &Slots<T>) {
        self.base
            .store(slots.slots.as_ptr() as usize, Ordering::Relaxed);
        self.mask.store(slots.slots.len() - 1, Ordering::Relaxed);
    }
}

/// At most `capacity` entries, in 64 independently locked shards.
pub struct Table<T> {
    per_shard: usize,
    /// Slots of a full shard: at most half of them in use.
    max_slots: usize,
    shards: Box<[Shard<T>]>,
}

/// Slots a shard starts with.
const FIRST_SLOTS: usize = 16;

impl<T: Entry> Table<T> {
    pub fn new(capacity: usize) -> Table<T> {
        let per_shard = (capacity / SHARDS).max(8);
        let shards = (0..SHARDS)
            .map(|_| {
                let slots = Slots::with_slots(FIRST_SLOTS);
                Shard {
                    base: AtomicUsize::new(slots.slots.as_ptr() as usize),
                    mask: AtomicUsize::new(FIRST_SLOTS - 1),
                    slots: Mutex::new(slots),
                }
            })
            .collect();
        Table {
            per_shard,
            max_slots: (per_shard * 2).next_power_of_two().max(FIRST_SLOTS),
            shards,
        }
    }

    fn shard(&self, key: Key) -> &Shard<T> {
        &self.shards[(key.0 >> 58) as usize % SHARDS]
    }

    /// Asks the CPU to start loading the slot where `key` lives, without
    /// waiting for it. A send touches a dozen keys that are rarely in
    /// cache (its number, its ranges, its client); prefetching them all
    /// before the first lock overlaps those misses instead of paying them
    /// one after another. A hint only: a stale address costs nothing.
    pub fn prefetch(&self, key: Key) {
        let shard = self.shard(key);
        let base = shard.base.load(Ordering::Relaxed);
        let mask = shard.mask.load(Ordering::Relaxed);
        let at = base.wrapping_add((stored(key) as usize & mask) * size_of::<Slot<T>>());
        let mut line = at & !63;
        while line < at + size_of::<Slot<T>>() {
            prefetch_line(line);
            line += 64;
        }
    }

    /// Runs `f` on the entry of `key`, creating it (and making room) if
    /// needed.
    pub fn update<R>(&self, key: Key, tick: u32, f: impl FnOnce(&mut T) -> R) -> R {
        let key = stored(key);
        let shard = self.shard(Key(key));
        let mut slots = shard.slots.lock().unwrap_or_else(|p| p.into_inner());
        let at = match slots.find(key) {
            Ok(i) => return f(&mut slots.slots[i].entry),
            Err(at) => at,
        };
        let at = if slots.len >= self.per_shard {
            evict(&mut slots, tick, self.per_shard);
            slots.find(key).err()
        } else if (slots.len + 1) * 2 > slots.slots.len() && slots.slots.len() < self.max_slots {
            make_room(&mut slots, tick);
            shard.publish(&slots);
            slots.find(key).err()
        } else {
            Some(at)
        };
        // A free slot always exists: shards are never more than half full.
        let at = at.unwrap_or_default();
        f(slots.put(at, key, T::new(tick)))
    }

    /// Runs `f` on the entry of `key`, if there is one.
    pub fn read<R>(&self, key: Key, f: impl FnOnce(&T) -> R) -> Option<R> {
        let key = stored(key);
        let slots = self
            .shard(Key(key))
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        slots.get(key).map(f)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.size().entries
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries and bytes now, and the bytes of a full table.
    pub fn size(&self) -> TableSize {
        let slot = size_of::<Slot<T>>();
        let mut size = TableSize {
            max_bytes: self.shards.len() * self.max_slots * slot,
            ..TableSize::default()
        };
        for shard in self.shards.iter() {
            let s = shard.slots.lock().unwrap_or_else(|p| p.into_inner());
            size.entries += s.len;
            size.bytes += s.slots.len() * slot;
        }
        size
    }
}

#[cfg(target_arch = "x86_64")]
fn prefetch_line(addr: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch never faults and never reads into the program:
    // any address, even a freed or unmapped one, is only a cache hint.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(addr as *const i8) }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_line(_addr: usize) {}

/// Makes room in a half-full shard below its largest size: drops the
/// entries that fell out of their windows, and doubles the slots unless
/// that left the shard at most a quarter full (so that the next scan is
/// at least a quarter of the slots' inserts away).
///
/// An expired entry reads as an absent one and is rewritten as a new one
/// would be, so dropping it early changes no count: it only keeps a shard
/// from growing on keys nobody will read again (a day of client addresses,
/// an hour of sprayed numbers).
fn make_room<T: Entry>(slots: &mut Slots<T>, tick: u32) {
    slots.retain(|e| !e.expired(tick));
    if (slots.len + 1) * 4 > slots.slots.len() {
        let n = slots.slots.len() * 2;
        slots.grow(n);
    }
}

/// Frees room in a full shard: drops entries that fell out of their
/// windows entirely, then, if that was not enough, the least recently
/// written ones until the shard is at 7/8 of its capacity (amortises the
/// scan).
fn evict<T: Entry>(slots: &mut Slots<T>, tick: u32, cap: usize) {
    slots.retain(|e| !e.expired(tick));
    let target = cap - cap / 8;
    if slots.len < cap {
        return;
    }
    let mut heads: Vec<u32> = slots.entries().map(T::head).collect();
    let cut = heads
        .len()
        .saturating_sub(target)
        .min(heads.len().saturating_sub(1));
    let (_, nth, _) = heads.select_nth_unstable(cut);
    let threshold = *nth;
    slots.retain(|e| e.head() > threshold);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Ring;

    #[test]
    fn every_key_is_found_again_as_shards_grow() {
        let t: Table<Ring<2>> = Table::new(64 * 1000);
        let keys: Vec<Key> = (0..40_000u64)
            .map(|i| Key(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            t.update(*k, 5, |r| r.add(5, i as u32 + 1));
        }
        assert_eq!(t.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.read(*k, |r| r.sum(5, 1)), Some(i as u32 + 1));
            t.prefetch(*k);
        }
        assert_eq!(t.read(Key(12345), |r| r.sum(5, 1)), None);
    }

    #[test]
    fn size_counts_entries_and_never_passes_its_ceiling() {
        let t: Table<Ring<2>> = Table::new(64 * 100);
        let empty = t.size();
        assert_eq!(empty.entries, 0);
        assert_eq!(empty.bytes, 64 * FIRST_SLOTS * size_of::<Slot<Ring<2>>>());
        // 100 per shard: 256 slots keep a full shard at most half used.
        assert_eq!(empty.max_bytes, 64 * 256 * size_of::<Slot<Ring<2>>>());
        for i in 0..1_000u64 {
            t.update(Key(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)), 5, |r| {
                r.add(5, 1)
            });
        }
        assert_eq!(t.size().entries, 1_000);
        // Ten times the capacity, on later ticks so that eviction has
        // something to drop: entries stay at most the capacity and the
        // slots at most the ceiling.
        for i in 0..64_000u64 {
            let tick = 6 + (i / 8_000) as u32;
            t.update(
                Key((i + 7).wrapping_mul(0xbf58_476d_1ce4_e5b9)),
                tick,
                |r| r.add(tick, 1),
            );
            let s = t.size();
            if i % 4_000 == 0 {
                assert!(s.entries <= 64 * 100, "{s:?}");
                assert!(s.bytes <= s.max_bytes, "{s:?}");
            }
        }
        assert_eq!(t.size().bytes, t.size().max_bytes);
    }

    #[test]
    fn removing_in_place_keeps_every_other_entry_reachable() {
        // 32 slots, 16 keys crowded onto a few homes near the end, so that
        // runs are long and wrap around to the start.
        let mut seed = 11u64;
        for round in 0..200 {
            let mut slots: Slots<Ring<2>> = Slots::with_slots(32);
            let mut keys = Vec::new();
            while keys.len() < 16 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let home = (28 + (seed >> 20) % 8) % 32;
                let key = (1 << 40) | ((seed >> 33) << 5) | home;
                if let Err(at) = slots.find(key) {
                    let n = keys.len() as u32;
                    slots.put(at, key, Ring::new(n));
                    keys.push(key);
                }
            }
            let keep = |head: u32| (head + round) % 3 != 0;
            slots.retain(|e| keep(e.head()));
            let kept: Vec<u64> = (0..16u32)
                .filter(|&n| keep(n))
                .map(|n| keys[n as usize])
                .collect();
            assert_eq!(slots.len, kept.len());
            assert_eq!(slots.entries().count(), kept.len());
            for (n, key) in keys.iter().enumerate() {
                let held = slots.get(*key).map(|e| e.head());
                assert_eq!(held, keep(n as u32).then_some(n as u32), "round {round}");
            }
        }
    }

    #[test]
    fn a_growing_shard_drops_expired_entries_first() {
        let t: Table<Ring<2>> = Table::new(64 * 1000);
        let key = |i: u64| Key((3 << 58) | (i * 2 + 1));
        for i in 0..200 {
            t.update(key(i), 0, |r| r.add(0, 1));
        }
        assert_eq!(t.len(), 200);
        // At tick 2 the first 200 have left their two-bucket window: the
        // shard drops them instead of growing past 512 slots.
        for i in 200..400 {
            t.update(key(i), 2, |r| r.add(2, 1));
        }
        assert!(t.len() < 300, "{}", t.len());
        assert_eq!(t.read(key(399), |r| r.sum(2, 1)), Some(1));
        assert_eq!(t.read(key(0), |r| r.sum(2, 2)).unwrap_or(0), 0);
    }

    #[test]
    fn a_full_shard_drops_expired_entries_then_the_oldest() {
        // Eight entries per shard; keys with the same top bits share one.
        let t: Table<Ring<4>> = Table::new(8 * SHARDS);
        let key = |i: u64| Key((7 << 58) | (i * 2 + 1));
        for i in 0..8 {
            t.update(key(i), i as u32 * 2, |r| r.add(i as u32 * 2, 1));
        }
        // Full: the next key evicts. At tick 14 entries written at ticks
        // 0..=10 have left their four-bucket window.
        t.update(key(100), 14, |r| r.add(14, 1));
        let held = |i| t.read(key(i), |_| ()).is_some();
        let left: Vec<u64> = (0..8).filter(|&i| held(i)).collect();
        assert_eq!(left, vec![6, 7]);
        assert!(held(100));
    }
}
