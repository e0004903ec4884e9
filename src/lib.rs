//! # tollgate
//!
//! A transparent reverse proxy between a platform and its SMS aggregators
//! that scores every send for SMS pumping and then forwards it unchanged,
//! rejects it in the aggregator's own dialect, or holds it for review.
//!
//! ## Reading map (by layer, leaves first; `ARCHITECTURE.md` has the rule)
//!
//! A module imports only modules of the layers above it in this list
//! (`tests/layers.rs` checks). Start with [`pipeline`]: one request's life.
//!
//! - Leaves:
//!   - [`clock`]: event time.
//!   - [`number`]: classification of a number (country, validity, line type,
//!     carrier) from libphonenumber's embedded metadata.
//!   - [`metrics`]: Prometheus metrics, rendered by hand.
//!   - [`source`]: the error type for bad configuration files, with file
//!     and line.
//!   - [`state`]: bounded, sharded time-bucket rings (the engine's counters).
//!   - [`store`]: the SQLite file: hold queue, decision audit log, run-time
//!     lists.
//! - Wire formats:
//!   - [`dialect`]: synthetic answers exactly as each aggregator writes them
//!     (rejections and held "queued" answers), and their values per route.
//!   - [`route`]: route files (`routes/*.toml`): which paths are sends,
//!     where the destination lives, which upstream serves them; `build()`
//!     turns the files into a matching table.
//!   - [`extract`]: pulls destinations, channel, account and callback out of
//!     form and JSON bodies, as the route says.
//! - The engine:
//!   - [`policy`]: layers, thresholds, lists; every soft stop a trade
//!     (`policy::economics`: pumping cost saved against the user it may
//!     cost, a friction budget per country); takes time as an input so live
//!     traffic and backtests share one code path. Knows nothing of HTTP,
//!     Redis or logs: it declares what it needs (`CountSink`, the lookup
//!     types) and the adapters provide it.
//! - Adapters:
//!   - [`upstream`]: the pooled HTTP client to the aggregators (TLS,
//!     timeouts, never retries a send).
//!   - [`hold`]: the review queue: held sends stored sealed, released once,
//!     rejected with the provider's failure callback.
//!   - [`lookup`]: the optional number-intelligence service, cached and
//!     time-boxed.
//!   - [`shared`]: counters shared across replicas: counted events
//!     replicated through a Redis stream and counted again on every other
//!     replica.
//!   - [`telemetry`]: structured logs with masked numbers, audit rows.
//! - Composition:
//!   - [`pipeline`]: **start here.** One request's life as named phases:
//!     route → read body → extract → classify → decide → forward / reject /
//!     hold.
//!   - [`backtest`]: replays of recorded logs on the live decision path.
//! - Front ends:
//!   - [`server`]: listeners (plain and TLS, HTTP/1.1 and h2), connection
//!     limits, graceful shutdown.
//!   - [`admin`]: the admin listener: health, readiness, metrics, the admin
//!     API and the review console.
//!   - [`simulate`]: simulated traffic with ground truth, to measure a
//!     policy offline (a standard and a harder suite, the evidence floor
//!     and what is separable at all).
//! - Assembly and command line:
//!   - [`config`]: start-up configuration (file + flags) and its defaults;
//!     hands each component its settings.
//!   - [`cli`]: the `tollgate` command: `serve`, `check`, `explain`,
//!     `simulate`, `backtest`, `detect`.

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
