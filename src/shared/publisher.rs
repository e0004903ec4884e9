//! Flushes the outbox to the stream about every `flush_interval`: one
//! `XADD` per batch, tagged with this replica's id, the stream trimmed to
//! the last `replay` and to about `max_len` entries (needs Redis 6.2+ or
//! Valkey for `XTRIM MINID`). When Redis is away the records stay in the
//! outbox (bounded) and go out, oldest first, once it is back.
//!
//! Delivery is at least once: a publish that times out after Redis stored
//! it is published again, and those sends count twice on the other
//! replicas (on the safe side for pumping, and rare).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::watch;

use super::connection::{bounded, connect, sleep_or_stop, Backoff, StoreError, COMMAND_TIMEOUT};
use super::outbox::Outbox;
use super::{wire, Setup};
use crate::clock::Timestamp;

/// Records per stream entry at most: keeps an entry (and the time a
/// subscriber spends applying it) small when a backlog drains.
const MAX_BATCH: usize = 5_000;

/// Runs until `stop`, then publishes what is left (bounded by the command
/// timeout) so a rolling restart loses nothing it counted.
pub async fn run(setup: Arc<Setup>, outbox: Arc<Outbox>, mut stop: watch::Receiver<bool>) {
    let mut conn: Option<MultiplexedConnection> = None;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let stopping = sleep_or_stop(setup.config.flush_interval, &mut stop).await;
        if let Err(e) = flush(&setup, &outbox, &mut conn).await {
            conn = None;
            setup.metrics.publish_errors.fetch_add(1, Ordering::Relaxed);
            setup.metrics.connected.store(0, Ordering::Relaxed);
            tracing::warn!(error = %e, buffered = outbox.len(), "shared counters: publish failed; retrying");
            if stopping {
                return;
            }
            // Stopped during the wait: the next turn makes a last attempt.
            sleep_or_stop(backoff.failed(), &mut stop).await;
            continue;
        }
        backoff.succeeded();
        if stopping {
            return;
        }
    }
}

/// Publishes what the outbox holds now, batch by batch (what arrives
/// meanwhile waits for the next flush: chasing it would turn a busy
/// replica's flushes into many small entries); a batch that fails goes
/// back to the outbox.
async fn flush(
    setup: &Setup,
    outbox: &Outbox,
    conn: &mut Option<MultiplexedConnection>,
) -> Result<(), StoreError> {
    let mut left = outbox.len();
    while left > 0 {
        let c = match conn {
            Some(c) => c,
            None => conn.insert(connect(&setup.client).await?),
        };
        let records = outbox.take(left.min(MAX_BATCH));
        left = left.saturating_sub(records.len().max(1));
        let payload = wire::batch(records.len(), &records.concat());
        // One round trip: the entry, then the stream trimmed to what a
        // starting replica replays (by time) and to `max_len` entries (a
        // hard cap on Redis memory whatever the send rate).
        let cutoff = Timestamp::now().millis() - setup.config.replay.as_millis() as i64;
        let mut pipe = redis::pipe();
        pipe.cmd("XADD")
            .arg(&setup.config.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(setup.config.max_len)
            .arg("*")
            .arg(super::FIELD_REPLICA)
            .arg(&setup.replica)
            .arg(super::FIELD_BATCH)
            .arg(payload)
            .cmd("XTRIM")
            .arg(&setup.config.stream)
            .arg("MINID")
            .arg("~")
            .arg(cutoff.max(0))
            .ignore();
        match bounded(COMMAND_TIMEOUT, pipe.query_async::<(String,)>(c)).await {
            Ok(_) => {
                let m = &setup.metrics;
                m.connected.store(1, Ordering::Relaxed);
                m.published_batches.fetch_add(1, Ordering::Relaxed);
                m.published_events
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                outbox.give_back(records);
                return Err(e);
            }
        }
    }
    Ok(())
}
