//! Route files: any text either builds a route table or is a `SourceError`.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use tollgate::route::{RouteTable, Source};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sources = [Source {
        origin: PathBuf::from("fuzz.toml"),
        text: text.to_owned(),
    }];
    let _ = RouteTable::build(&sources, &BTreeMap::new());
});
