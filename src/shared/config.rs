//! The `[shared]` section of the serve config: where the shared store is
//! and how replication is paced. Absent: counters stay per process.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Counters shared across replicas through Redis (or Valkey). Every
/// replica of one deployment points at the same server and stream.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SharedConfig {
    /// Redis URL: `redis://[:password@]host:6379[/db]`. Never logged (it
    /// may carry a password).
    pub redis: String,
    /// How often this replica publishes what it counted (`"1s"`; `ms`, `s`,
    /// `m`, `h`). Other replicas see a send at most about this much later.
    #[serde(default = "defaults::flush_interval", deserialize_with = "duration")]
    pub flush_interval: Duration,
    /// The Redis stream every replica publishes to and reads from.
    #[serde(default = "defaults::stream")]
    pub stream: String,
    /// Entries (one per replica per flush, not per send; about 40 bytes
    /// per send they carry) the stream keeps at most, approximately: a cap
    /// on Redis memory whatever the send rate. Normally `replay` trims
    /// first.
    #[serde(default = "defaults::max_len")]
    pub max_len: u64,
    /// Sends and conversions buffered while Redis is away; past this the
    /// oldest are dropped (counted in `tollgate_shared_dropped_total`).
    #[serde(default = "defaults::buffer")]
    pub buffer: usize,
    /// How much history the stream keeps, and what a new or restarted
    /// replica counts at start-up so it scores with the deployment's recent
    /// counts (`"2h"`: the velocity and pattern windows and the default
    /// conversion window; longer conversion windows fill in as it runs).
    #[serde(default = "defaults::replay", deserialize_with = "duration")]
    pub replay: Duration,
}

mod defaults {
    use std::time::Duration;

    pub fn flush_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub fn stream() -> String {
        "tollgate:counts".to_owned()
    }
    pub fn max_len() -> u64 {
        100_000
    }
    pub fn buffer() -> usize {
        100_000
    }
    pub fn replay() -> Duration {
        Duration::from_secs(2 * 3600)
    }
}

impl SharedConfig {
    /// The defaults with this Redis URL (the `--redis` flag).
    pub fn with_url(redis: String) -> SharedConfig {
        SharedConfig {
            redis,
            flush_interval: defaults::flush_interval(),
            stream: defaults::stream(),
            max_len: defaults::max_len(),
            buffer: defaults::buffer(),
            replay: defaults::replay(),
        }
    }

    /// Rejects settings that cannot work, before anything starts.
    pub fn validate(&self) -> Result<(), String> {
        if self.flush_interval < Duration::from_millis(10) {
            return Err("shared.flush_interval must be at least 10ms".into());
        }
        if self.stream.is_empty() {
            return Err("shared.stream must not be empty".into());
        }
        if self.max_len == 0 || self.buffer == 0 {
            return Err("shared.max_len and shared.buffer must be positive".into());
        }
        redis::Client::open(self.redis.as_str())
            .map(drop)
            .map_err(|e| format!("shared.redis is not a Redis URL: {}", e))
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`{s}` is not a duration (`250ms`, `1s`, `5m`, `24h`)"
        ))
    })
}

/// `"250ms"`, `"1s"`, `"5m"`, `"24h"`.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(ms).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units_and_nothing_else() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        for bad in ["", "1", "s", "1 d", "-1s", "1.5s"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_the_url_is_required() {
        let c: SharedConfig = toml::from_str("redis = \"redis://127.0.0.1:6379\"").unwrap();
        assert_eq!(c, SharedConfig::with_url("redis://127.0.0.1:6379".into()));
        assert!(c.validate().is_ok());
        let bad: SharedConfig = toml::from_str("redis = \"http://x\"").unwrap();
        assert!(bad.validate().is_err());
        assert!(toml::from_str::<SharedConfig>("redis = \"redis://x\"\nflush = \"1s\"").is_err());
    }
}
