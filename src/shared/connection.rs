//! Connections to the shared store: every wait bounded, failures typed,
//! retries paced by a capped exponential backoff.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

/// How long a connection attempt or a command may take before the
/// connection is dropped and tried again.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call to the shared store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis's own message (never the URL, which may carry a password).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// Opens one connection (each task has its own: a blocking `XREAD` must not
/// hold up the publisher's `XADD`s).
pub async fn connect(client: &redis::Client) -> Result<MultiplexedConnection, StoreError> {
    bounded(COMMAND_TIMEOUT, client.get_multiplexed_async_connection()).await
}

/// Runs `f` for at most `limit`.
pub async fn bounded<T>(
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(StoreError::from),
        Err(_) => Err(StoreError::Timeout(limit)),
    }
}

/// Doubling waits between retries, from `min` up to `max`; back to `min`
/// after a success.
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The wait before the next attempt.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    pub fn succeeded(&mut self) {
        self.next = self.min;
    }
}

/// Sleeps for `d` unless `stop` turns true first; true when stopping.
pub async fn sleep_or_stop(d: Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(500));
        let waits: Vec<_> = (0..5).map(|_| b.failed()).collect();
        assert_eq!(waits, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        b.succeeded();
        assert_eq!(b.failed(), ms(100));
    }
}
