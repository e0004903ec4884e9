//! Unit tests: real numbers per line type, shared calling codes, carriers,
//! parse edge cases.

use super::*;
use std::sync::OnceLock;

fn c() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(Classifier::embedded)
}

fn classify(s: &str) -> Classification {
    let n = c().parse(s, None).unwrap_or_else(|e| panic!("{s}: {e}"));
    c().classify(&n)
}

#[test]
fn smoke() {
    for s in [
        "+12015550123",
        "+447911123456",
        "+2348031234567",
        "+77012345678",
        "+18762101234",
    ] {
        let k = classify(s);
        eprintln!(
            "{s} {:?} {:?} {} {:?} {:?}",
            k.calling_code, k.region, k.valid, k.line_type, k.carrier
        );
    }
}
