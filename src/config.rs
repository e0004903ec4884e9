//! Start-up configuration: an optional TOML file, overridden by flags, with
//! defaults that run tollgate on its embedded routes and policy.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::source::SourceError;

/// `tollgate serve` configuration. Every field has a default; a config file
/// (`--config`) may set any of them and flags override the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Plain-HTTP proxy listener (HTTP/1.1 and h2 prior knowledge).
    pub listen: SocketAddr,
    /// Optional TLS proxy listener (HTTP/1.1 and h2 by ALPN).
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for the TLS listener.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the TLS listener.
    pub tls_key: Option<PathBuf>,
    /// Admin listener: health, readiness (and later metrics and the API).
    pub admin_listen: SocketAddr,
    /// Directory for durable state.
    pub data_dir: PathBuf,
    /// Directory of route files; the embedded copies when unset.
    pub routes: Option<PathBuf>,
    /// Policy file; the embedded `policies/default.toml` when unset.
    pub policy: Option<PathBuf>,
    /// Upstream URL overrides by name (`twilio-api = "http://127.0.0.1:9000"`).
    pub upstreams: BTreeMap<String, String>,
    /// Extra PEM CA bundle trusted for upstream TLS (staging, tests); the
    /// Mozilla roots are always trusted.
    pub upstream_ca: Option<PathBuf>,
    /// Decide and record every send, forward every send.
    pub shadow: bool,
    pub limits: Limits,
    pub audit: Audit,
    /// Counters shared with the other replicas through Redis (`[shared]`,
    /// see `crate::shared::SharedConfig`); per process when absent.
    pub shared: Option<crate::shared::SharedConfig>,
    /// History counted into the engine before it listens (`events` JSONL
    /// with conversions, as `tollgate simulate` writes and `tollgate
    /// backtest` reads): trusted numbers, learned conversion rates and
    /// baselines from the first request, after a restart as on a new
    /// deployment. With `[shared]`, only events older than its `replay`
    /// are counted: the stream brings the rest.
    pub warm: Option<PathBuf>,
}

/// The decision audit log's retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Rows kept at most.
    pub max_rows: u64,
    /// Days kept at most.
    pub max_age_days: u32,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            max_rows: 5_000_000,
            max_age_days: 30,
        }
    }
}

impl Audit {
    pub fn retention(&self) -> crate::store::Retention {
        crate::store::Retention {
            max_rows: self.max_rows,
            max_age_ms: i64::from(self.max_age_days) * 86_400_000,
        }
    }
}

/// Limits that protect tollgate and the upstream from bad clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest send body accepted, in bytes (413 in the provider's shape).
    pub max_body_bytes: usize,
    /// Time a client has to send its request headers, in milliseconds.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a send's whole body, in milliseconds.
    pub body_read_timeout_ms: u64,
    /// Time to connect to an upstream, in milliseconds.
    pub upstream_connect_timeout_ms: u64,
    /// Time for an upstream to answer with headers, in milliseconds.
    pub upstream_response_timeout_ms: u64,
    /// Idle pooled upstream connections are closed after this, in seconds.
    pub upstream_idle_timeout_s: u64,
    /// Concurrent client connections per listener; more wait to be accepted.
    pub max_connections: usize,
    /// Time in-flight requests get to finish on shutdown, in seconds.
    pub shutdown_grace_s: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            upstream_connect_timeout_ms: 5_000,
            upstream_response_timeout_ms: 30_000,
            upstream_idle_timeout_s: 50,
            max_connections: 10_000,
            shutdown_grace_s: 10,
        }
    }
}

impl Limits {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
    pub fn upstream_connect_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_connect_timeout_ms)
    }
    pub fn upstream_response_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_response_timeout_ms)
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            data_dir: PathBuf::from("./data"),
            routes: None,
            policy: None,
            upstreams: BTreeMap::new(),
            upstream_ca: None,
            shadow: false,
            limits: Limits::default(),
            audit: Audit::default(),
            shared: None,
            warm: None,
        }
    }
}

impl ServeConfig {
    pub fn load(path: &Path) -> Result<ServeConfig, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError::io(path, e))?;
        toml::from_str(&text).map_err(|e| SourceError::toml(path, &text, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_example_config_parses() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/tollgate.example.toml"
        ));
        let cfg = ServeConfig::load(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(cfg.shadow);
        assert_eq!(cfg.limits.max_body_bytes, 65536);
    }

    #[test]
    fn unknown_keys_are_reported_with_their_line() {
        let err =
            toml::from_str::<ServeConfig>("listen = \"127.0.0.1:1\"\nlisen = 2\n").unwrap_err();
        let e = SourceError::toml(
            Path::new("x.toml"),
            "listen = \"127.0.0.1:1\"\nlisen = 2\n",
            &err,
        );
        assert!(
            e.to_string()
                .starts_with("x.toml:2:1: unknown field `lisen`"),
            "{e}"
        );
    }
}
