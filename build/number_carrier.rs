//! Build-time digit trie over libphonenumber's carrier prefixes
//! (`carrier/<calling code>.txt`, lines `e164prefix|Carrier`).
//!
//! Serialised breadth-first so that each node's children are contiguous:
//! a node is `children: u16` (bit d set: child for digit d exists),
//! `carrier: u16` (name index + 1, 0 = none) and `first_child: u32`; the
//! child for digit d is `first_child + popcount(children & ((1 << d) - 1))`.
//! Longest-prefix match is one walk of at most 15 nodes.

use std::collections::BTreeMap;

#[derive(Default)]
struct Node {
    carrier: u16,
    children: BTreeMap<u8, Node>,
}

pub struct Trie {
    /// 8 bytes per node, little-endian.
    pub bytes: Vec<u8>,
    pub names: Vec<String>,
    pub nodes: usize,
    pub prefixes: usize,
}

pub fn build(files: &[(String, String)]) -> Result<Trie, String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for (file, text) in files {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (prefix, name) = line
                .split_once('|')
                .ok_or_else(|| format!("{file}:{}: no '|'", i + 1))?;
            if prefix.is_empty() || prefix.len() > 15 || !prefix.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(format!("{file}:{}: bad prefix {prefix:?}", i + 1));
            }
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            entries.push((prefix.to_string(), name.to_string()));
        }
    }
    let mut names: Vec<String> = entries.iter().map(|(_, n)| n.clone()).collect();
    names.sort();
    names.dedup();
    if names.len() >= u16::MAX as usize {
        return Err("too many carrier names".into());
    }
    let mut root = Node::default();
    for (prefix, name) in &entries {
        let idx = names.binary_search(name).map_err(|_| "name index")?;
        let mut n = &mut root;
        for b in prefix.bytes() {
            n = n.children.entry(b - b'0').or_default();
        }
        n.carrier = idx as u16 + 1;
    }
    // Breadth-first layout.
    let mut order: Vec<&Node> = vec![&root];
    let mut i = 0;
    while i < order.len() {
        let n = order[i];
        order.extend(n.children.values());
        i += 1;
    }
    let mut bytes = Vec::with_capacity(order.len() * 8);
    let mut next_child = 1u32;
    for n in &order {
        let mut bits = 0u16;
        for d in n.children.keys() {
            bits |= 1 << d;
        }
        bytes.extend_from_slice(&bits.to_le_bytes());
        bytes.extend_from_slice(&n.carrier.to_le_bytes());
        bytes.extend_from_slice(&next_child.to_le_bytes());
        next_child += n.children.len() as u32;
    }
    Ok(Trie {
        bytes,
        names,
        nodes: order.len(),
        prefixes: entries.len(),
    })
}
