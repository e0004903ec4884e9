//! Deterministic synthetic corpora of numbers for the differential test and
//! the benchmark (not used by the proxy).
//!
//! Three kinds, over every territory of the metadata: libphonenumber's
//! example numbers with a few digits mutated (lands near real ranges, valid
//! and invalid), random digits at the territory's possible lengths (±1) after
//! an example's first digits, and random digits after a random calling code
//! (mostly invalid). The PRNG is SplitMix64, seeded by the caller.

use super::Classifier;

/// SplitMix64: small, fast, good enough for test data, stable across
/// platforms and Rust versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; 0 yields 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    fn digit(&mut self) -> u8 {
        b'0' + self.below(10) as u8
    }
}

/// `n` numbers as E.164 digit strings without `+`, at most 15 digits.
pub fn mixed(classifier: &Classifier, seed: u64, n: usize) -> Vec<String> {
    let territories: Vec<_> = classifier.territories().collect();
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(t) = territories.get(rng.below(territories.len())) else {
            break;
        };
        let cc = t.calling_code.to_string();
        let example = t
            .examples
            .get(rng.below(t.examples.len()))
            .map_or("", |(_, e)| *e);
        let mut national: Vec<u8> = Vec::with_capacity(16);
        match rng.below(100) {
            // Example number, a few digits mutated (0 to 3), sometimes a
            // digit added or removed at the end.
            0..=44 if !example.is_empty() => {
                national.extend_from_slice(example.as_bytes());
                for _ in 0..rng.below(4) {
                    let i = rng.below(national.len());
                    if let Some(d) = national.get_mut(i) {
                        *d = rng.digit();
                    }
                }
                match rng.below(10) {
                    0 => {
                        national.pop();
                    }
                    1 => national.push(rng.digit()),
                    _ => {}
                }
            }
            // Random digits at a possible length (or one off), keeping the
            // first 1–3 digits of an example so ranges are near real ones.
            0..=84 => {
                let lengths = &t.possible_lengths;
                let mut len = lengths
                    .get(rng.below(lengths.len()))
                    .map_or(8, |&l| usize::from(l));
                match rng.below(8) {
                    0 => len += 1,
                    1 => len = len.saturating_sub(1),
                    _ => {}
                }
                let keep = rng.below(4).min(example.len());
                national.extend_from_slice(example.as_bytes().get(..keep).unwrap_or(&[]));
                while national.len() < len {
                    national.push(rng.digit());
                }
            }
            // Anything after the calling code.
            _ => {
                let len = 2 + rng.below(12);
                for _ in 0..len {
                    national.push(rng.digit());
                }
            }
        }
        let mut s = cc;
        s.push_str(std::str::from_utf8(&national).unwrap_or(""));
        s.truncate(15);
        if s.len() >= 5 {
            out.push(s);
        }
    }
    out
}
