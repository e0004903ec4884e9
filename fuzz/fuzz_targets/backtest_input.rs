//! Backtest input: the `events` JSONL and Twilio's message exports, sniffed
//! or named.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::backtest::read::{parse, Format};

fuzz_target!(|data: &[u8]| {
    let [format, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = match format % 3 {
        0 => Format::Auto,
        1 => Format::Events,
        _ => Format::TwilioMessages,
    };
    let _ = parse(text, format);
});
