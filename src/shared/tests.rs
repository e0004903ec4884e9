//! Replication without Redis: what one engine counted, through the outbox,
//! the wire format and the applier, reaches another engine's counters.

use std::sync::Arc;

use super::*;
use crate::clock::Timestamp;
use crate::number::{Classification, Classifier};
use crate::policy::{Decision, Engine, Policy, SendFacts};

const T0: Timestamp = Timestamp(1_790_000_000_000);
const GB_MOBILE: &str = "+447400123456";

struct Replica {
    engine: Arc<Engine>,
    outbox: Arc<Outbox>,
}

fn replica() -> Replica {
    let outbox = Arc::new(Outbox::new(1000, Arc::new(SharedMetrics::default())));
    let sink: Arc<dyn crate::policy::CountSink> = outbox.clone();
    let policy = Policy::embedded().unwrap();
    let engine = Arc::new(Engine::new(policy, false).with_sink(Some(sink)));
    Replica { engine, outbox }
}

fn classify(c: &Classifier, to: &str) -> Classification {
    c.parse_and_classify(to, None).unwrap()
}

fn facts() -> SendFacts<'static> {
    SendFacts {
        route: "twilio.messages",
        provider: "twilio",
        channel: "sms",
        account: Some("AC1"),
        device: Some("device-1"),
        ..SendFacts::default()
    }
}

/// Publishes `from`'s outbox as one batch and applies it to `to`.
fn replicate(from: &Replica, to: &Replica, classifier: &Arc<Classifier>) -> usize {
    let records = from.outbox.take(usize::MAX);
    let events = wire::decode(&wire::batch(records.len(), &records.concat())).unwrap();
    let applier = Applier {
        engine: to.engine.clone(),
        classifier: classifier.clone(),
    };
    applier.apply(&events);
    events.len()
}

fn peek(r: &Replica, c: &Classification, at: Timestamp) -> Decision {
    r.engine.peek(&facts(), Ok(c), at)
}

#[test]
fn sends_counted_on_one_replica_count_on_the_other_through_the_same_code() {
    let classifier = Arc::new(Classifier::embedded());
    let number = classify(&classifier, GB_MOBILE);
    let (a, b) = (replica(), replica());
    // Four sends on A, none on B: B alone sees nothing.
    for i in 0..4 {
        a.engine
            .decide(&facts(), Ok(&number), T0.plus_seconds(i * 60));
    }
    let now = T0.plus_seconds(300);
    let alone = peek(&b, &number, now);
    assert!(!alone.codes().contains(&"velocity.number"), "{alone:?}");
    // Replicated: B scores the fifth send as A would, by the same rules.
    assert_eq!(replicate(&a, &b, &classifier), 4);
    let shared = peek(&b, &number, now);
    let on_a = peek(&a, &number, now);
    assert!(shared.codes().contains(&"velocity.number"), "{shared:?}");
    assert_eq!(shared.score, on_a.score);
    assert_eq!(shared.codes(), on_a.codes());
    // Counting remote events does not publish them again.
    assert!(b.outbox.is_empty());
}

#[test]
fn conversions_replicate_and_make_the_number_trusted_everywhere() {
    let classifier = Arc::new(Classifier::embedded());
    let number = classify(&classifier, GB_MOBILE);
    let (a, b) = (replica(), replica());
    for i in 0..6 {
        b.engine.decide(&facts(), Ok(&number), T0.plus_seconds(i));
    }
    b.outbox.take(usize::MAX);
    assert!(peek(&b, &number, T0.plus_seconds(60)).score > 0);
    a.engine.record_conversion(&number, T0.plus_seconds(30));
    assert_eq!(replicate(&a, &b, &classifier), 1);
    let d = peek(&b, &number, T0.plus_seconds(60));
    assert_eq!(d.codes(), vec!["conversion.trusted_number"], "{d:?}");
}

#[test]
fn unparseable_destinations_still_replicate_their_client_context() {
    let classifier = Arc::new(Classifier::embedded());
    let (a, b) = (replica(), replica());
    let err = classifier.parse("not a number", None).unwrap_err();
    for i in 0..6 {
        a.engine.decide(&facts(), Err(&err), T0.plus_seconds(i));
    }
    assert_eq!(replicate(&a, &b, &classifier), 6);
    let number = classify(&classifier, GB_MOBILE);
    let d = peek(&b, &number, T0.plus_seconds(10));
    assert!(d.codes().contains(&"velocity.device"), "{d:?}");
}

/// The applier's throughput: `cargo test --release --lib apply_rate -- --ignored --nocapture`.
#[test]
#[ignore]
fn apply_rate() {
    let classifier = Arc::new(Classifier::embedded());
    let b = replica();
    let n = 200_000u64;
    let mut records = Vec::new();
    for i in 0..n {
        wire::encode_send(
            &mut records,
            &wire::SendEvent {
                number: Some(format!("4474{:08}", i * 7919 % 100_000_000)),
                account: Some("AC1".into()),
                client_ip: Some(format!("10.0.{}.{}", i % 250, i % 199)),
                at: T0.plus_seconds((i % 3600) as i64),
                ..wire::SendEvent::default()
            },
        );
    }
    // The request path's share: encoding one send into the outbox.
    let sink = Outbox::new(n as usize, Arc::new(SharedMetrics::default()));
    let number = classify(&classifier, GB_MOBILE);
    let t = std::time::Instant::now();
    for i in 0..n {
        crate::policy::CountSink::sent(
            &sink,
            &facts(),
            Some(&number),
            crate::policy::Delivery::Sent,
            T0.plus_seconds(i as i64),
        );
    }
    println!("outbox push: {:?} per send", t.elapsed() / n as u32);
    let bytes = wire::batch(n as usize, &records);
    let t = std::time::Instant::now();
    let events = wire::decode(&bytes).unwrap();
    let decoded = t.elapsed();
    let applier = Applier {
        engine: b.engine.clone(),
        classifier,
    };
    applier.apply(&events);
    let total = t.elapsed();
    println!(
        "{n} sends, {} bytes ({:.1} B/send): decode {:?}, decode+apply {:?} = {:.0} sends/s",
        bytes.len(),
        bytes.len() as f64 / n as f64,
        decoded,
        total,
        n as f64 / total.as_secs_f64()
    );
}
