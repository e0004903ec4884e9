//! The shared-state events replicas read from Redis: any bytes decode to a
//! batch or are refused whole.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tollgate::shared::wire::decode(data);
});
