//! `tollgate explain` prints both sides of the trade a decision weighs.

use std::process::Command;

fn explain(number: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["explain", number])
        .output()
        .expect("run tollgate explain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn explain_shows_the_pumping_cost_and_the_user_cost() {
    // A UK VoIP number: the line type is local evidence without an
    // estimate of its own, so the default 50% is weighed against GB's
    // price and a $1 user.
    let text = explain("+445612345678");
    assert!(
        text.contains("pumping    50% likely: stopping saves 50% × $0.0520 = $0.0260"),
        "{text}"
    );
    assert!(
        text.contains("user cost  50% a real user: stopping costs $0.5000 (not worth a stop)"),
        "{text}"
    );
    // A premium-rate number is a hard rule: nothing to trade.
    let text = explain("+449098790123");
    assert!(
        text.contains("trade      none: a hard rule decides"),
        "{text}"
    );
}
