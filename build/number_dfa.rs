//! Build-time compiler from libphonenumber's number patterns to one small
//! deterministic automaton per territory over the ten digits.
//!
//! Why our own instead of `regex-automata`'s DFAs: the alphabet is ten symbols,
//! inputs are at most 15 digits, and we want *all* patterns of a territory in
//! one automaton with an accept **bitmask** per state (which of generalDesc,
//! fixedLine, mobile, … match), so one walk of the national number answers
//! validity, type and region selection at once. Thompson NFA → subset
//! construction → Moore minimisation is ~200 lines and gives a table of
//! `states × 10` `u32`s that the run time walks with one load per digit.

use regex_syntax::hir::{Class, Hir, HirKind};
use std::collections::HashMap;

/// One NFA state. `Class` consumes a digit whose bit is set in the mask.
enum NState {
    Eps(Vec<u32>),
    Class(u16, u32),
    Final(u16),
}

struct Nfa {
    states: Vec<NState>,
}

const ALL_DIGITS: u16 = 0x3ff;

impl Nfa {
    fn push(&mut self, s: NState) -> u32 {
        self.states.push(s);
        (self.states.len() - 1) as u32
    }

    /// Compiles `hir` so that a match continues in state `next`; returns the
    /// entry state. Building back to front avoids patching dangling edges.
    fn compile(&mut self, hir: &Hir, next: u32) -> Result<u32, String> {
        Ok(match hir.kind() {
            HirKind::Empty => next,
            HirKind::Literal(lit) => {
                let mut s = next;
                for &b in lit.0.iter().rev() {
                    s = self.push(NState::Class(byte_mask(b, b), s));
                }
                s
            }
            HirKind::Class(Class::Bytes(c)) => {
                let mask = c
                    .ranges()
                    .iter()
                    .fold(0, |m, r| m | byte_mask(r.start(), r.end()));
                self.push(NState::Class(mask, next))
            }
            HirKind::Class(Class::Unicode(c)) => {
                let mask = c.ranges().iter().fold(0, |m, r| {
                    let lo = u32::from(r.start()).min(255) as u8;
                    let hi = u32::from(r.end()).min(255) as u8;
                    m | byte_mask(lo, hi)
                });
                self.push(NState::Class(mask, next))
            }
            HirKind::Look(l) => return Err(format!("look-around {l:?} is not supported")),
            HirKind::Capture(c) => self.compile(&c.sub, next)?,
            HirKind::Concat(items) => {
                let mut s = next;
                for h in items.iter().rev() {
                    s = self.compile(h, s)?;
                }
                s
            }
            HirKind::Alternation(items) => {
                let mut starts = Vec::with_capacity(items.len());
                for h in items {
                    starts.push(self.compile(h, next)?);
                }
                self.push(NState::Eps(starts))
            }
            HirKind::Repetition(rep) => {
                let mut s = next;
                match rep.max {
                    Some(max) => {
                        // x{0,k} as (x(x(x)?)?)?: each optional copy may skip
                        // straight to `next`.
                        for _ in rep.min..max {
                            let body = self.compile(&rep.sub, s)?;
                            s = self.push(NState::Eps(vec![body, next]));
                        }
                    }
                    None => {
                        let lp = self.push(NState::Eps(Vec::new()));
                        let body = self.compile(&rep.sub, lp)?;
                        self.states[lp as usize] = NState::Eps(vec![body, next]);
                        s = lp;
                    }
                }
                for _ in 0..rep.min {
                    s = self.compile(&rep.sub, s)?;
                }
                s
            }
        })
    }

    /// Epsilon closure of `seeds`, keeping only consuming and final states
    /// (the only ones that matter for identity of a DFA state).
    fn closure(&self, seeds: &[u32], out: &mut Vec<u32>, seen: &mut [u32], epoch: u32) {
        let mut stack: Vec<u32> = seeds.to_vec();
        out.clear();
        while let Some(s) = stack.pop() {
            if seen[s as usize] == epoch {
                continue;
            }
            seen[s as usize] = epoch;
            match &self.states[s as usize] {
                NState::Eps(v) => stack.extend(v.iter().copied()),
                _ => out.push(s),
            }
        }
        out.sort_unstable();
    }
}

fn byte_mask(lo: u8, hi: u8) -> u16 {
    let mut m = 0u16;
    for b in lo.max(b'0')..=hi.min(b'9') {
        m |= 1 << (b - b'0');
    }
    m
}

/// One pattern to put in a territory's automaton.
pub struct PatternSpec<'a> {
    /// Bit index in the accept mask.
    pub bit: u8,
    pub regex: &'a str,
    /// Prefix match (libphonenumber's `lookingAt`) rather than a full match.
    pub prefix: bool,
}

/// A minimised DFA: `trans[s * 10 + d]`, local state 0 is the dead state.
pub struct Dfa {
    pub trans: Vec<u32>,
    pub accept: Vec<u16>,
    pub start: u32,
}

pub fn parse_pattern(p: &str) -> Result<Hir, String> {
    let cleaned: String = p.chars().filter(|c| !c.is_whitespace()).collect();
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .build()
        .parse(&cleaned)
        .map_err(|e| format!("pattern {cleaned:?}: {e}"))
}

pub fn build(patterns: &[PatternSpec<'_>]) -> Result<Dfa, String> {
    let mut nfa = Nfa { states: Vec::new() };
    let mut starts = Vec::new();
    for p in patterns {
        let hir = parse_pattern(p.regex)?;
        let fin = nfa.push(NState::Final(1 << p.bit));
        let cont = if p.prefix {
            // Anything may follow a leading-digits match.
            let lp = nfa.push(NState::Eps(vec![fin]));
            let any = nfa.push(NState::Class(ALL_DIGITS, lp));
            nfa.states[lp as usize] = NState::Eps(vec![fin, any]);
            lp
        } else {
            fin
        };
        starts.push(nfa.compile(&hir, cont)?);
    }

    // Subset construction.
    let mut seen = vec![0u32; nfa.states.len()];
    let mut epoch = 0u32;
    let mut ids: HashMap<Vec<u32>, u32> = HashMap::new();
    let mut sets: Vec<Vec<u32>> = Vec::new();
    let mut trans: Vec<u32> = Vec::new();
    let mut accept: Vec<u16> = Vec::new();
    ids.insert(Vec::new(), 0);
    sets.push(Vec::new());
    let mut buf = Vec::new();
    epoch += 1;
    nfa.closure(&starts, &mut buf, &mut seen, epoch);
    let start = match ids.get(&buf) {
        Some(&id) => id,
        None => {
            ids.insert(buf.clone(), 1);
            sets.push(buf.clone());
            1
        }
    };
    let mut next_seeds = Vec::new();
    let mut i = 0;
    while i < sets.len() {
        let set = sets[i].clone();
        let mut mask = 0u16;
        for &s in &set {
            if let NState::Final(b) = nfa.states[s as usize] {
                mask |= b;
            }
        }
        accept.push(mask);
        for d in 0..10u16 {
            next_seeds.clear();
            for &s in &set {
                if let NState::Class(m, n) = nfa.states[s as usize] {
                    if m & (1 << d) != 0 {
                        next_seeds.push(n);
                    }
                }
            }
            epoch += 1;
            nfa.closure(&next_seeds, &mut buf, &mut seen, epoch);
            let id = match ids.get(&buf) {
                Some(&id) => id,
                None => {
                    let id = sets.len() as u32;
                    ids.insert(buf.clone(), id);
                    sets.push(buf.clone());
                    id
                }
            };
            trans.push(id);
        }
        i += 1;
    }
    Ok(minimise(Dfa {
        trans,
        accept,
        start,
    }))
}

/// Moore partition refinement. The dead state stays local state 0.
fn minimise(dfa: Dfa) -> Dfa {
    let n = dfa.accept.len();
    let mut class: Vec<u32> = {
        let mut m: HashMap<u16, u32> = HashMap::new();
        // The dead state's block gets id 0.
        m.insert(dfa.accept[0], 0);
        dfa.accept
            .iter()
            .map(|a| {
                let l = m.len() as u32;
                *m.entry(*a).or_insert(l)
            })
            .collect()
    };
    let mut count = class.iter().copied().max().map_or(0, |c| c + 1);
    loop {
        let mut m: HashMap<[u32; 11], u32> = HashMap::new();
        let mut next = Vec::with_capacity(n);
        for s in 0..n {
            let mut key = [0u32; 11];
            key[0] = class[s];
            for d in 0..10 {
                key[d + 1] = class[dfa.trans[s * 10 + d] as usize];
            }
            let l = m.len() as u32;
            next.push(*m.entry(key).or_insert(l));
        }
        let new_count = m.len() as u32;
        class = next;
        if new_count == count {
            break;
        }
        count = new_count;
    }
    // Block of state 0 (dead) is numbered first because s = 0 is visited first.
    let k = count as usize;
    let mut trans = vec![0u32; k * 10];
    let mut accept = vec![0u16; k];
    for s in 0..n {
        let c = class[s] as usize;
        accept[c] = dfa.accept[s];
        for d in 0..10 {
            trans[c * 10 + d] = class[dfa.trans[s * 10 + d] as usize];
        }
    }
    Dfa {
        trans,
        accept,
        start: class[dfa.start as usize],
    }
}
