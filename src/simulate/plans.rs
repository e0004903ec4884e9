//! Number blocks the simulator draws destinations from.
//!
//! `data/plans.tsv` is derived offline from libphonenumber's metadata by
//! `data/gen_plans.py` (blocks whose completions libphonenumber classifies as
//! the wanted line type, tagged with the allocated carrier) and embedded, so
//! the simulator needs no metadata at run time and generated mobiles are
//! valid mobiles for the real classifier.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::rng::Rng;
use crate::number::Region;

const PLANS_TSV: &str = include_str!("data/plans.tsv");

/// The line types the simulator generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Mobile,
    FixedLine,
    PremiumRate,
    Voip,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "mobile" => Kind::Mobile,
            "fixedLine" => Kind::FixedLine,
            "premiumRate" => Kind::PremiumRate,
            "voip" => Kind::Voip,
            _ => return None,
        })
    }
}

/// A block of numbers: `+{cc}{prefix}` followed by `free` free digits.
#[derive(Clone, Debug)]
pub struct Block {
    pub calling_code: u16,
    pub prefix: Arc<str>,
    pub free: u8,
    pub carrier: Option<Arc<str>>,
}

impl Block {
    /// A random number of the block, in E.164 with `+`.
    pub fn number(&self, rng: &mut Rng) -> String {
        let mut s = String::with_capacity(16);
        s.push('+');
        s.push_str(&self.calling_code.to_string());
        s.push_str(&self.prefix);
        for _ in 0..self.free {
            s.push((b'0' + rng.below(10) as u8) as char);
        }
        s
    }

    /// A sub-range of the block with `keep` free digits left (the range key
    /// the velocity and pattern layers count is the number less 3 or 4
    /// digits); the digits fixed in between are random.
    pub fn sub_range(&self, rng: &mut Rng, keep: u8) -> Block {
        let keep = keep.min(self.free);
        let mut prefix = self.prefix.to_string();
        for _ in keep..self.free {
            prefix.push((b'0' + rng.below(10) as u8) as char);
        }
        Block {
            calling_code: self.calling_code,
            prefix: prefix.into(),
            free: keep,
            carrier: self.carrier.clone(),
        }
    }

    /// The `i`-th number of the block (sequential sweeps), wrapping.
    pub fn nth(&self, i: u64) -> String {
        let modulus = 10u64.pow(self.free as u32);
        format!(
            "+{}{}{:0width$}",
            self.calling_code,
            self.prefix,
            i % modulus,
            width = self.free as usize
        )
    }

    pub fn size(&self) -> u64 {
        10u64.pow(self.free as u32)
    }
}

/// Blocks per region and kind.
#[derive(Debug, Default)]
pub struct Plans {
    blocks: BTreeMap<(Region, Kind), Vec<Block>>,
}

impl Plans {
    /// Parses the embedded table; malformed lines are a build-time bug and
    /// are skipped (the table is checked by a unit test).
    pub fn embedded() -> Plans {
        let mut blocks: BTreeMap<(Region, Kind), Vec<Block>> = BTreeMap::new();
        for line in PLANS_TSV.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let (Some(region), Some(cc), Some(kind), Some(prefix), Some(free)) = (
                f.first().and_then(|s| Region::parse(s)),
                f.get(1).and_then(|s| s.parse::<u16>().ok()),
                f.get(2).and_then(|s| Kind::parse(s)),
                f.get(3),
                f.get(4).and_then(|s| s.parse::<u8>().ok()),
            ) else {
                continue;
            };
            let carrier = f
                .get(5)
                .filter(|c| !c.is_empty())
                .map(|c| Arc::<str>::from(*c));
            blocks.entry((region, kind)).or_default().push(Block {
                calling_code: cc,
                prefix: (*prefix).into(),
                free,
                carrier,
            });
        }
        Plans { blocks }
    }

    pub fn blocks(&self, region: Region, kind: Kind) -> &[Block] {
        self.blocks
            .get(&(region, kind))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Regions that have blocks of `kind`.
    pub fn regions_with(&self, kind: Kind) -> Vec<Region> {
        self.blocks
            .keys()
            .filter(|(_, k)| *k == kind)
            .map(|(r, _)| *r)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_numbers_have_the_right_shape() {
        let plans = Plans::embedded();
        let ng = Region::parse("NG").unwrap();
        let blocks = plans.blocks(ng, Kind::Mobile);
        assert!(blocks.len() >= 20);
        let mut rng = Rng::new(1);
        let n = blocks[0].number(&mut rng);
        assert!(n.starts_with("+234") && n.len() == 14, "{n}");
        let data_lines = PLANS_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        let parsed: usize = plans.blocks.values().map(Vec::len).sum();
        assert_eq!(data_lines, parsed);
        let sub = blocks[0].sub_range(&mut rng, 3);
        assert_eq!(sub.nth(7).len(), n.len());
        assert!(sub.nth(7).ends_with("007"));
    }
}
