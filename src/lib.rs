//! # tollgate
//!
//! A transparent reverse proxy between a platform and its SMS aggregators
//! that scores every send for SMS pumping and then forwards it unchanged,
//! rejects it in the aggregator's own dialect, or holds it for review.
//!
//! ## Reading map (in request-flow order)
//!
//! - [`cli`]: the `tollgate` command: `serve`, `check`, `explain`.
//! - [`config`]: start-up configuration (file + flags) and its defaults.
//! - [`server`]: listeners (plain and TLS, HTTP/1.1 and h2), connection limits,
//!   graceful shutdown.
//! - [`pipeline`]: **start here.** One request's life as named phases:
//!   route → read body → extract → classify → decide → forward / reject / hold.
//! - [`route`]: route files (`routes/*.toml`): which paths are sends, where the
//!   destination lives, which upstream serves them; `build()` turns the files
//!   into a matching table.
//! - [`extract`]: pulls destinations, channel, account and callback out of form
//!   and JSON bodies, as the route says.
//! - [`number`]: classification of a number (country, validity, line type,
//!   carrier) from libphonenumber's embedded metadata.
//! - [`policy`]: the scoring engine: layers, thresholds, lists; takes time as an
//!   input so live traffic and backtests share one code path. Its counters
//!   live in [`state`] (bounded, sharded time-bucket rings).
//! - [`shared`]: counters shared across replicas: counted events replicated
//!   through a Redis stream and counted again on every other replica.
//! - [`dialect`]: synthetic answers exactly as each aggregator writes them
//!   (rejections and held "queued" answers).
//! - [`upstream`]: the pooled HTTP client to the aggregators (TLS, timeouts,
//!   never retries a send).
//! - [`hold`]: the review queue: held sends stored sealed, released once,
//!   rejected with the provider's failure callback.
//! - [`store`]: the SQLite file: hold queue, decision audit log, run-time lists.
//! - [`admin`]: the admin listener: health, readiness, metrics ([`metrics`]),
//!   the admin API and the review console.
//! - [`telemetry`]: structured logs with masked numbers.
//! - [`clock`]: event time.
//! - [`simulate`], [`backtest`]: measuring a policy offline: simulated traffic
//!   with ground truth, and replays of recorded logs on the live decision path.

pub mod admin;
pub mod backtest;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dialect;
pub mod extract;
pub mod hold;
pub mod lookup;
pub mod metrics;
pub mod number;
pub mod pipeline;
pub mod policy;
pub mod route;
pub mod server;
pub mod shared;
pub mod simulate;
pub mod source;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod upstream;
