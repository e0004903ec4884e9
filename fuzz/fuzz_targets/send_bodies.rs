//! Send bodies of every shipped send route, in every encoding: parse,
//! extract the destinations, and rewrite the body without one of them (what
//! a `partial = "drop"` route forwards). The first byte picks the route and
//! the second the `Content-Type`.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate::extract::{extract, without_destinations, Body};
use tollgate::route::{RouteTable, Source};

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        RouteTable::build(&Source::embedded(), &BTreeMap::new()).expect("shipped routes build")
    })
}

const CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("application/problem+json; charset=utf-8"),
    Some("multipart/form-data; boundary=x"),
];

fuzz_target!(|data: &[u8]| {
    let [route, ct, body @ ..] = data else {
        return;
    };
    let sends = table().sends();
    let route = &sends[usize::from(*route) % sends.len()];
    let ct = CONTENT_TYPES[usize::from(*ct) % CONTENT_TYPES.len()];
    let Ok(parsed) = Body::parse(route.spec.body, ct, body) else {
        return;
    };
    let Ok(x) = extract(&route.spec, &parsed, None, Some("AC0")) else {
        return;
    };
    let first = x.destinations[0].raw.clone();
    let _ = without_destinations(
        &parsed,
        &route.spec.to,
        route.spec.to_separator.as_deref(),
        &[first.as_str()],
    );
});
