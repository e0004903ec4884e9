//! Counter keys: a family tag plus a value, hashed once to 64 bits with a
//! per-process random key (attacker-chosen numbers cannot be crafted into
//! collisions they can predict).

use std::hash::{BuildHasher, Hash, Hasher};

/// What a counter key identifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    Number,
    Range3,
    Range4,
    Carrier,
    Country,
    Account,
    ClientIp,
    Device,
    Session,
    /// A line type (`mobile`, `voip`, …) across the platform.
    LineType,
    /// A country, counting only sends to numbers that had not converted
    /// before (first-time and never-verified numbers): the slice of a
    /// country's traffic where pumped numbers hide.
    FreshCountry,
    Global,
}

/// A hashed key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub u64);

/// Hashes keys. Seeded at random for live traffic; a fixed seed keeps
/// backtests reproducible bit for bit (eviction order depends on keys only
/// through shard choice, never on time-of-run).
#[derive(Clone)]
pub struct KeyHasher(ahash::RandomState);

impl KeyHasher {
    pub fn random() -> KeyHasher {
        KeyHasher(ahash::RandomState::new())
    }

    pub fn seeded(seed: u64) -> KeyHasher {
        KeyHasher(ahash::RandomState::with_seeds(
            seed,
            seed ^ 0x9e37_79b9_7f4a_7c15,
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
        ))
    }

    pub fn key(&self, kind: Kind, value: &str) -> Key {
        let mut h = self.0.build_hasher();
        (kind as u8).hash(&mut h);
        value.hash(&mut h);
        Key(h.finish())
    }

    /// The key of a value given as bytes: the same key [`KeyHasher::key`]
    /// gives the same text (a `str` hashes as its bytes then `0xff`), for
    /// callers that assemble a value without allocating a `String`.
    pub fn key_bytes(&self, kind: Kind, value: &[u8]) -> Key {
        let mut h = self.0.build_hasher();
        (kind as u8).hash(&mut h);
        h.write(value);
        h.write_u8(0xff);
        Key(h.finish())
    }
}

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher::random()
    }
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_text_give_the_same_key() {
        let h = KeyHasher::seeded(9);
        for text in ["", "234:MTN Nigeria", "44:EE"] {
            assert_eq!(
                h.key_bytes(Kind::Carrier, text.as_bytes()),
                h.key(Kind::Carrier, text)
            );
        }
        assert_ne!(
            h.key_bytes(Kind::Carrier, b"44:EE"),
            h.key(Kind::Country, "44:EE")
        );
    }
}
