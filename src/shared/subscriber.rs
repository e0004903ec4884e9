//! Reads the stream from where it left off (`XREAD BLOCK`) and counts the
//! other replicas' sends and conversions through the engine's own counting
//! code ([`Engine::count_unscored`]), at their event times: the
//! counters take out-of-order events within their windows, so there is no
//! merge logic, only the one code path.
//!
//! It starts `replay` ago, so a new or restarted replica begins with the
//! deployment's recent counts (its own earlier life included: a restart
//! gets a new replica id). Entries this replica published are skipped.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;
use redis::Value;
use tokio::sync::watch;

use super::connection::{bounded, connect, sleep_or_stop, Backoff, StoreError, COMMAND_TIMEOUT};
use super::wire::{self, Event};
use super::Setup;
use crate::clock::Timestamp;
use crate::number::{Classifier, E164};
use crate::policy::{Engine, SendFacts};

/// Longest a read waits for new entries before asking again.
const BLOCK: Duration = Duration::from_secs(1);
/// Entries per read at most.
const READ_COUNT: usize = 100;

/// Where counted events are applied.
pub struct Applier {
    pub engine: Arc<Engine>,
    pub classifier: Arc<Classifier>,
}

impl Applier {
    /// Counts each event as the engine counted it on the replica that saw
    /// it. Numbers are classified again here from their digits (the
    /// classification is a pure function of them and the embedded data).
    pub fn apply(&self, events: &[Event]) {
        for e in events {
            match e {
                Event::Send(s) => {
                    let number = s
                        .number
                        .as_deref()
                        .and_then(|d| E164::from_digits(d).ok())
                        .map(|n| self.classifier.classify(&n));
                    let facts = SendFacts {
                        account: s.account.as_deref(),
                        client_ip: s.client_ip.as_deref(),
                        device: s.device.as_deref(),
                        session: s.session.as_deref(),
                        ..SendFacts::default()
                    };
                    self.engine
                        .count_unscored(&facts, number.as_ref(), s.delivery, s.at);
                }
                Event::Conversion { number, at } => {
                    if let Ok(n) = E164::from_digits(number) {
                        let c = self.classifier.classify(&n);
                        self.engine.count_unscored_conversion(&c, *at);
                    }
                }
            }
        }
    }
}

pub async fn run(setup: Arc<Setup>, applier: Applier, mut stop: watch::Receiver<bool>) {
    let start = Timestamp::now().millis() - setup.config.replay.as_millis() as i64;
    let mut last_id = format!("{}-0", start.max(0));
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        if *stop.borrow() {
            return;
        }
        let read = tokio::select! {
            r = read(&setup, &mut conn, &last_id) => r,
            _ = stop.changed() => return,
        };
        match read {
            Ok(entries) => {
                backoff.succeeded();
                setup.metrics.connected.store(1, Ordering::Relaxed);
                for (id, fields) in entries {
                    apply_entry(&setup, &applier, &id, &fields);
                    last_id = id;
                    tokio::task::yield_now().await;
                }
            }
            Err(e) => {
                conn = None;
                setup.metrics.read_errors.fetch_add(1, Ordering::Relaxed);
                setup.metrics.connected.store(0, Ordering::Relaxed);
                tracing::warn!(error = %e, "shared counters: stream read failed; retrying");
                if sleep_or_stop(backoff.failed(), &mut stop).await {
                    return;
                }
            }
        }
    }
}

type Entry = (String, HashMap<String, Value>);

/// The next entries after `last_id` (none after `BLOCK` without any).
async fn read(
    setup: &Setup,
    conn: &mut Option<MultiplexedConnection>,
    last_id: &str,
) -> Result<Vec<Entry>, StoreError> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(connect(&setup.client).await?),
    };
    let mut xread = redis::cmd("XREAD");
    xread
        .arg("COUNT")
        .arg(READ_COUNT)
        .arg("BLOCK")
        .arg(BLOCK.as_millis() as u64)
        .arg("STREAMS")
        .arg(&setup.config.stream)
        .arg(last_id);
    let reply: Option<StreamReadReply> =
        bounded(BLOCK + COMMAND_TIMEOUT, xread.query_async(c)).await?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .map(|i| (i.id, i.map))
        .collect())
}

fn apply_entry(setup: &Setup, applier: &Applier, id: &str, fields: &HashMap<String, Value>) {
    let field = |name: &str| {
        fields
            .get(name)
            .and_then(|v| redis::from_redis_value::<Vec<u8>>(v).ok())
    };
    if field(super::FIELD_REPLICA).as_deref() == Some(setup.replica.as_bytes()) {
        return;
    }
    let m = &setup.metrics;
    let events = match field(super::FIELD_BATCH).map(|b| wire::decode(&b)) {
        Some(Ok(events)) => events,
        Some(Err(e)) => {
            m.malformed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(entry = id, error = %e, "shared counters: skipping a malformed batch");
            return;
        }
        None => {
            m.malformed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                entry = id,
                "shared counters: skipping an entry without a batch"
            );
            return;
        }
    };
    applier.apply(&events);
    m.applied_batches.fetch_add(1, Ordering::Relaxed);
    m.applied_events
        .fetch_add(events.len() as u64, Ordering::Relaxed);
    if let Some(published) = id.split('-').next().and_then(|ms| ms.parse::<i64>().ok()) {
        let lag = Timestamp::now().millis().saturating_sub(published).max(0);
        m.lag_ms.store(lag as u64, Ordering::Relaxed);
    }
}
