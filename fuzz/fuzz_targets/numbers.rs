//! Phone numbers as clients write them, with or without a region hint.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate::number::{Classifier, Region};

fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(Classifier::embedded)
}

fuzz_target!(|data: &[u8]| {
    let (region, text) = match data {
        [a, b, rest @ ..] if a.is_ascii_uppercase() => {
            (Region::parse(&format!("{}{}", *a as char, *b as char)), rest)
        }
        _ => (None, data),
    };
    let text = String::from_utf8_lossy(text);
    if let Ok(c) = classifier().parse_and_classify(&text, region) {
        let _ = c.masked();
    }
});
