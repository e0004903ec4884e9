//! Admin API request bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::admin::bodies::{conversion_to, list_entry};

fuzz_target!(|data: &[u8]| {
    let _ = list_entry(data);
    let _ = conversion_to(data);
});
