//! The keys one send is counted under, hashed once.

use crate::number::{CodeDigits, Region};
use crate::state::{Key, KeyHasher, Kind};

/// The kinds of [`Keys::number_aggregates`], in its order.
pub(super) const NUMBER_AGGREGATE_KINDS: [Kind; 5] = [
    Kind::Range3,
    Kind::Range4,
    Kind::Carrier,
    Kind::Country,
    Kind::LineType,
];

/// The keys of one send, hashed once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys {
    pub number: Option<Key>,
    pub range3: Option<Key>,
    pub range4: Option<Key>,
    pub carrier: Option<Key>,
    pub country: Option<Key>,
    pub line_type: Option<Key>,
    /// The country's slice of sends to numbers not (yet) trusted.
    pub fresh_country: Option<Key>,
    pub account: Option<Key>,
    pub client_ip: Option<Key>,
    pub device: Option<Key>,
    pub session: Option<Key>,
    pub region: Option<Region>,
}

impl Keys {
    /// The aggregates of the number that sends and conversions are both
    /// counted under: conversion rates divide one by the other, so both
    /// sides must use exactly this set.
    pub fn number_aggregates(&self) -> [Option<Key>; 5] {
        [
            self.range3,
            self.range4,
            self.carrier,
            self.country,
            self.line_type,
        ]
    }

    /// [`Keys::number_aggregates`] with their kinds.
    pub fn number_aggregates_by_kind(&self) -> impl Iterator<Item = (Kind, Key)> {
        NUMBER_AGGREGATE_KINDS
            .into_iter()
            .zip(self.number_aggregates())
            .filter_map(|(kind, k)| Some((kind, k?)))
    }

    /// The client context a send came with (every attempt counts here).
    pub fn client_context(&self) -> impl Iterator<Item = Key> {
        [self.account, self.client_ip, self.device, self.session]
            .into_iter()
            .flatten()
    }

    pub fn get(&self, kind: Kind) -> Option<Key> {
        match kind {
            Kind::Number => self.number,
            Kind::Range3 => self.range3,
            Kind::Range4 => self.range4,
            Kind::Carrier => self.carrier,
            Kind::Country => self.country,
            Kind::LineType => self.line_type,
            Kind::FreshCountry => self.fresh_country,
            Kind::Account => self.account,
            Kind::ClientIp => self.client_ip,
            Kind::Device => self.device,
            Kind::Session => self.session,
            Kind::Global => None,
        }
    }
}

/// The key of carrier `name` in country code `code`: the key of the text
/// `{code}:{name}`, assembled on the stack (this runs for every send).
pub(super) fn carrier_key(h: &KeyHasher, code: u16, name: &str) -> Key {
    let mut buf = [0u8; 96];
    let digits = CodeDigits::new(code);
    let text = digits.as_bytes();
    let len = text.len() + 1 + name.len();
    let Some(out) = buf.get_mut(..len) else {
        return h.key(Kind::Carrier, &format!("{code}:{name}"));
    };
    out[..text.len()].copy_from_slice(text);
    out[text.len()] = b':';
    out[text.len() + 1..].copy_from_slice(name.as_bytes());
    h.key_bytes(Kind::Carrier, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_keys_are_the_keys_of_code_colon_name() {
        let h = KeyHasher::seeded(4);
        let long = "x".repeat(200);
        for (code, name) in [
            (234, "MTN Nigeria"),
            (1, "AT&T"),
            (65535, ""),
            (44, long.as_str()),
        ] {
            assert_eq!(
                carrier_key(&h, code, name),
                h.key(Kind::Carrier, &format!("{code}:{name}"))
            );
        }
    }
}
