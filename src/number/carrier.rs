//! Longest-prefix match of a full E.164 number against libphonenumber's
//! carrier prefixes: "the carrier the range was allocated to".
//!
//! A breadth-first digit trie built by `build.rs` (8 bytes per node, children
//! found by popcount): at most 15 node visits per lookup, no hashing, no
//! allocation; the name is an `Arc<str>` shared by all numbers of a carrier.

use super::matcher::TableError;
use std::sync::Arc;

#[derive(Clone, Copy)]
struct Node {
    /// Bit d set: a child for digit d exists.
    children: u16,
    /// Index into `names` + 1; 0 = no prefix ends here.
    carrier: u16,
    first_child: u32,
}

pub(crate) struct Carriers {
    nodes: Box<[Node]>,
    names: Box<[Arc<str>]>,
}

impl Carriers {
    pub(crate) fn decode(trie: &[u8], names: &[&str], count: usize) -> Result<Self, TableError> {
        if trie.len() != count * 8 || count == 0 {
            return Err(TableError("carrier trie size"));
        }
        let nodes: Box<[Node]> = trie
            .chunks_exact(8)
            .map(|c| Node {
                children: u16::from_le_bytes([c[0], c[1]]),
                carrier: u16::from_le_bytes([c[2], c[3]]),
                first_child: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        for n in nodes.iter() {
            if usize::from(n.carrier) > names.len()
                || n.first_child as usize + n.children.count_ones() as usize > count
            {
                return Err(TableError("carrier trie entry out of range"));
            }
        }
        Ok(Carriers {
            nodes,
            names: names.iter().map(|n| Arc::from(*n)).collect(),
        })
    }

    /// The carrier of the longest prefix of `digits` (ASCII, full E.164).
    pub(crate) fn lookup(&self, digits: &[u8]) -> Option<Arc<str>> {
        let mut node = *self.nodes.first()?;
        let mut best = 0u16;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 || node.children & (1 << d) == 0 {
                break;
            }
            let rank = (node.children & ((1u16 << d) - 1)).count_ones();
            node = *self.nodes.get(node.first_child as usize + rank as usize)?;
            if node.carrier != 0 {
                best = node.carrier;
            }
        }
        if best == 0 {
            return None;
        }
        self.names.get(usize::from(best) - 1).cloned()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.len() * std::mem::size_of::<Node>()
            + self.names.iter().map(|n| n.len() + 16).sum::<usize>()
            + self.names.len() * 16
    }
}
