//! Start-up configuration: an optional TOML file, overridden by flags, with
//! defaults that run tollgate on its embedded routes and policy.
//!
//! The assembler, near the top of the layers: each component's settings
//! live beside the component (`server::Limits`, `pipeline::BodyLimits`,
//! `upstream::Timeouts`, `shared::SharedConfig`, `store::Retention`) and
//! this file only reads the file and hands each its share.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::source::SourceError;
use crate::{pipeline, server, upstream};

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
    pub state: State,
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

/// How long the records are kept: the `[audit]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Decision rows kept at most.
    pub max_rows: u64,
    /// Days a decision row is kept at most.
    pub max_age_days: u32,
    /// Days a held send is kept once it is resolved (released, rejected,
    /// expired or failed) and its status callback is no longer due; its
    /// sealed request goes with it. An `uncertain` send, which needs a
    /// person, is never dropped.
    pub resolved_holds_days: u32,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            max_rows: 5_000_000,
            max_age_days: 30,
            resolved_holds_days: crate::hold::KEEP_RESOLVED_DAYS,
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

    /// How long a resolved held send is kept.
    pub fn resolved_holds(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.resolved_holds_days) * 86_400)
    }
}

/// How many keys the in-memory counters hold: the `[state]` section. Each
/// family is a bounded table that drops its least recently written keys
/// when full, so these set the memory ceiling (`tollgate_state_max_bytes`
/// on `/metrics`, logged at start): with the defaults 817 MB, reached
/// only when every family is full.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct State {
    /// Numbers remembered for per-number velocity and trust: 48 bytes a
    /// number at the ceiling, and 32 more for numbers that verified.
    pub numbers: usize,
    /// Keys of each aggregate family (ranges, carriers, countries,
    /// accounts, client IPs, devices, sessions): 1.2 KB a key at the
    /// ceiling across the two send tables and the distinct-number,
    /// conversion and sequence tables.
    pub aggregates: usize,
}

impl Default for State {
    fn default() -> Self {
        let c = crate::policy::counters::Capacity::default();
        State {
            numbers: c.numbers,
            aggregates: c.aggregates,
        }
    }
}

impl State {
    pub fn capacity(
        &self,
    ) -> Result<crate::policy::counters::Capacity, crate::policy::counters::CapacityError> {
        crate::policy::counters::Capacity::new(self.numbers, self.aggregates)
    }
}

/// Limits that protect tollgate and the upstream from bad clients: the
/// `[limits]` section, handed out in shares to the listeners
/// ([`Limits::server`]), the pipeline ([`Limits::body`]) and the upstream
/// client ([`Limits::upstream`]).
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

// The defaults are the components' own: this file only spells them in the
// config file's units.
impl Default for Limits {
    fn default() -> Self {
        let server = server::Limits::default();
        let body = pipeline::BodyLimits::default();
        let upstream = upstream::Timeouts::default();
        Limits {
            max_body_bytes: body.max_body_bytes,
            header_read_timeout_ms: millis(server.header_read_timeout),
            body_read_timeout_ms: millis(body.body_read_timeout),
            upstream_connect_timeout_ms: millis(upstream.connect),
            upstream_response_timeout_ms: millis(upstream.response),
            upstream_idle_timeout_s: upstream.idle.as_secs(),
            max_connections: server.max_connections,
            shutdown_grace_s: server.shutdown_grace.as_secs(),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Limits {
    /// The listeners' share.
    pub fn server(&self) -> server::Limits {
        server::Limits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            max_connections: self.max_connections,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_s),
        }
    }

    /// The pipeline's share: reading request bodies.
    pub fn body(&self) -> pipeline::BodyLimits {
        pipeline::BodyLimits {
            max_body_bytes: self.max_body_bytes,
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
        }
    }

    /// The upstream client's share.
    pub fn upstream(&self) -> upstream::Timeouts {
        upstream::Timeouts {
            connect: Duration::from_millis(self.upstream_connect_timeout_ms),
            response: Duration::from_millis(self.upstream_response_timeout_ms),
            idle: Duration::from_secs(self.upstream_idle_timeout_s),
        }
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
            state: State::default(),
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
    fn state_capacities_are_read_and_checked() {
        let cfg: ServeConfig = toml::from_str("[state]\nnumbers = 1048576\naggregates = 131072\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let c = cfg.state.capacity().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.numbers, c.aggregates), (1 << 20, 1 << 17));
        let small: ServeConfig =
            toml::from_str("[state]\naggregates = 100\n").unwrap_or_else(|e| panic!("{e}"));
        let err = small.state.capacity().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("`[state] aggregates = 100`: a table holds 4096 to 67108864 keys")
        );
        assert!(toml::from_str::<ServeConfig>("[state]\nnumber = 5\n").is_err());
    }

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
    fn the_default_limits_are_the_documented_ones() {
        let l = Limits::default();
        let spelled = (
            l.max_body_bytes,
            l.header_read_timeout_ms,
            l.body_read_timeout_ms,
            l.upstream_connect_timeout_ms,
            l.upstream_response_timeout_ms,
            l.upstream_idle_timeout_s,
            l.max_connections,
            l.shutdown_grace_s,
        );
        assert_eq!(
            spelled,
            (65536, 10_000, 10_000, 5_000, 30_000, 50, 10_000, 10)
        );
        // Each share handed out from the defaults is the component's default.
        assert_eq!(l.server(), server::Limits::default());
        assert_eq!(l.body(), pipeline::BodyLimits::default());
        assert_eq!(l.upstream(), upstream::Timeouts::default());
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
