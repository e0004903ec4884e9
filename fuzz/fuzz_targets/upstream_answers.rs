//! The upstream's answers as each dialect reads or rewrites them: the real
//! id of a released send, the failed view of a rejected one, synthetic ids
//! put back, refused destinations added to a multi-destination answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::clock::Timestamp;
use tollgate::dialect::DialectKind;

const DIALECTS: [&str; 13] = [
    "twilio-message",
    "twilio-verify",
    "vonage-sms",
    "vonage-verify-legacy",
    "vonage-verify-v2",
    "vonage-messages",
    "plivo-message",
    "bird-message",
    "sinch-batch",
    "telnyx-message",
    "telnyx-verify",
    "infobip-sms-v2",
    "infobip-sms-v3",
];

fuzz_target!(|data: &[u8]| {
    let [which, answer @ ..] = data else {
        return;
    };
    let name = DIALECTS[usize::from(*which) % DIALECTS.len()];
    let Ok(d) = serde_json::from_value::<DialectKind>(serde_json::Value::String(name.into()))
    else {
        return;
    };
    let _ = d.real_id(answer);
    let _ = d.failed_view(answer, Timestamp(1_700_000_000_000));
    let _ = d.show_as(answer, "SMreal", "SMsynthetic");
    let _ = d.report_dropped(answer, &["+447400123456", "31612345678"]);
});
