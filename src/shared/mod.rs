//! Counters shared across replicas (DESIGN.md §5, "State").
//!
//! Each replica keeps scoring on its own in-memory counters and replicates
//! *events*, not counter values: what its engine counted (a send's number,
//! account and client context, a conversion's number, each with its event
//! time) goes into a bounded [`outbox`], the [`publisher`] flushes it about
//! every second as one batch to a Redis stream, and every replica's
//! [`subscriber`] counts the other replicas' batches through the engine's
//! own counting code. Counting a remote send is then exactly counting a
//! local one: velocity, conversion and pattern layers see the deployment's
//! traffic as one process would, about one flush interval late, with no
//! merge logic and no Redis round trip on the request path.
//!
//! Failure: Redis down or slow never blocks or fails a send. The request
//! path only pushes into the outbox (drop-oldest when full, counted); the
//! publisher and subscriber reconnect with backoff; replicas keep scoring
//! on what they have and catch up when Redis is back.
//!
//! Reading map: [`config`] (the `[shared]` section), [`wire`] (the batch
//! format), [`outbox`], [`publisher`], [`subscriber`], [`connection`]
//! (timeouts, backoff), [`metrics`].
//!
//! Not shared yet: the hold queue (a held send is released by the replica
//! that holds it) and run-time lists (each replica reads them from its own
//! store).

pub mod config;
pub mod connection;
pub mod metrics;
pub mod outbox;
pub mod publisher;
pub mod subscriber;
pub mod wire;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::SharedConfig;
pub use metrics::SharedMetrics;
pub use outbox::Outbox;
pub use subscriber::Applier;

/// The stream entry field naming the replica that published it.
const FIELD_REPLICA: &str = "r";
/// The stream entry field holding the batch ([`wire`]).
const FIELD_BATCH: &str = "b";

/// What the publisher and subscriber share.
pub struct Setup {
    pub config: SharedConfig,
    pub client: redis::Client,
    /// Random per process: a restarted replica replays its earlier life's
    /// entries like any other replica's.
    pub replica: String,
    pub metrics: Arc<SharedMetrics>,
}

/// Replication of one replica's counters: build it before the engine (the
/// engine hands its counts to [`Replication::sink`]), start it once the
/// engine and classifier exist.
pub struct Replication {
    setup: Arc<Setup>,
    outbox: Arc<Outbox>,
}

/// Why replication could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Config(String),
}

impl Replication {
    pub fn new(config: SharedConfig) -> Result<Replication, SetupError> {
        config.validate().map_err(SetupError::Config)?;
        let client = redis::Client::open(config.redis.as_str())
            .map_err(|e| SetupError::Config(format!("shared.redis: {e}")))?;
        let metrics = Arc::new(SharedMetrics::default());
        let outbox = Arc::new(Outbox::new(config.buffer, metrics.clone()));
        Ok(Replication {
            setup: Arc::new(Setup {
                config,
                client,
                replica: uuid::Uuid::new_v4().simple().to_string(),
                metrics,
            }),
            outbox,
        })
    }

    /// What the engine hands its counted sends and conversions to.
    pub fn sink(&self) -> Arc<dyn crate::policy::CountSink> {
        self.outbox.clone()
    }

    pub fn metrics(&self) -> Arc<SharedMetrics> {
        self.setup.metrics.clone()
    }

    /// Starts the publisher and the subscriber; both end when `stop` turns
    /// true (the publisher after a last flush).
    pub fn start(&self, applier: Applier, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        tracing::info!(
            stream = self.setup.config.stream.as_str(),
            replica = self.setup.replica.as_str(),
            flush_interval_ms = self.setup.config.flush_interval.as_millis() as u64,
            "shared counters enabled"
        );
        vec![
            tokio::spawn(publisher::run(
                self.setup.clone(),
                self.outbox.clone(),
                stop.clone(),
            )),
            tokio::spawn(subscriber::run(self.setup.clone(), applier, stop)),
        ]
    }
}

#[cfg(test)]
mod tests;
