//! Policy files: any text either builds a policy or is a `SourceError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::policy::Policy;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Policy::build(std::path::Path::new("fuzz.toml"), text);
    }
});
