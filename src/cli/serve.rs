//! `tollgate serve`: load, validate, bind, serve until SIGTERM / ctrl-c;
//! SIGHUP reloads the policy (the old one stays if the new one is invalid).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::admin::{Admin, AdminConfig};
use crate::clock::Timestamp;
use crate::config::ServeConfig;
use crate::hold::{Expiry, Failpoints, HoldQueue, Sealer};
use crate::number::{Classification, Classifier, ParseError};
use crate::pipeline::Pipeline;
use crate::policy::counters::Counters;
use crate::policy::{Engine, Policy};
use crate::policy::{OnExpiry, SendFacts};
use crate::route::{RouteTable, Source};
use crate::server;
use crate::shared::{Applier, Replication};
use crate::state::KeyHasher;
use crate::store::{AuditLog, HeldRow, Store};
use crate::telemetry::DecisionLog;
use crate::upstream::UpstreamClient;

#[derive(clap::Args)]
pub struct Args {
    /// Config file (TOML); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Proxy listener [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// TLS proxy listener (needs --tls-cert and --tls-key).
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for the TLS listener.
    #[arg(long, value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for the TLS listener.
    #[arg(long, value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Admin listener [default: 127.0.0.1:9090].
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,
    /// Data directory [default: ./data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    sources: super::Sources,
    /// Override a route file's upstream: NAME=URL (repeatable), e.g.
    /// twilio-api=https://api.twilio.com.
    #[arg(long = "upstream", value_name = "NAME=URL", value_parser = parse_upstream)]
    upstreams: Vec<(String, String)>,
    /// Extra PEM CA bundle to trust for upstream TLS.
    #[arg(long, value_name = "PEM")]
    upstream_ca: Option<PathBuf>,
    /// Decide and record every send, forward every send.
    #[arg(long)]
    shadow: bool,
    /// Share counters with other replicas through this Redis
    /// (`redis://host:6379`); the config file's `[shared]` for the rest.
    /// A URL with a password is better set in the environment than in argv.
    #[arg(
        long,
        value_name = "URL",
        env = "TOLLGATE_REDIS_URL",
        hide_env_values = true
    )]
    redis: Option<String>,
    /// Threads for the plain proxy listener: each a single-threaded runtime
    /// on its own SO_REUSEPORT socket with its own upstream pool, so that a
    /// request, its decision and its upstream connection stay on one core
    /// (nginx's worker model). `auto` is one per core; `shared` serves it
    /// on the work-stealing runtime the admin and TLS listeners use (1.3–1.5×
    /// less throughput on the benchmark, but a connection can move to an
    /// idle core).
    #[arg(
        long,
        value_name = "N|auto|shared",
        env = "TOLLGATE_PROXY_THREADS",
        default_value = "auto",
        value_parser = parse_proxy_threads
    )]
    proxy_threads: ProxyThreads,
    /// History to count before listening (`events` JSONL with
    /// conversions): trusted numbers and learned rates from the first
    /// request.
    #[arg(long, value_name = "FILE")]
    warm: Option<PathBuf>,
}

/// How the plain proxy listener is served (`--proxy-threads`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyThreads {
    /// One thread per core.
    Auto,
    /// On the shared work-stealing runtime.
    Shared,
    /// This many threads.
    Count(std::num::NonZeroUsize),
}

impl ProxyThreads {
    /// Threads of their own, or `None` for the shared runtime.
    fn threads(self) -> Option<usize> {
        match self {
            ProxyThreads::Auto => {
                Some(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
            }
            ProxyThreads::Shared => None,
            ProxyThreads::Count(n) => Some(n.get()),
        }
    }
}

fn parse_proxy_threads(s: &str) -> Result<ProxyThreads, String> {
    match s.trim() {
        "auto" => Ok(ProxyThreads::Auto),
        "shared" => Ok(ProxyThreads::Shared),
        n => n
            .parse()
            .map(ProxyThreads::Count)
            .map_err(|_| format!("expected a thread count above 0, `auto` or `shared`, got `{s}`")),
    }
}

fn parse_upstream(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(n, u)| (n.trim().to_owned(), u.trim().to_owned()))
        .filter(|(n, u)| !n.is_empty() && !u.is_empty())
        .ok_or_else(|| format!("expected NAME=URL, got `{s}`"))
}

impl Args {
    fn into_config(self) -> anyhow::Result<ServeConfig> {
        let mut cfg = match &self.config {
            Some(path) => ServeConfig::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
            None => ServeConfig::default(),
        };
        if let Some(v) = self.listen {
            cfg.listen = v;
        }
        if self.tls_listen.is_some() {
            cfg.tls_listen = self.tls_listen;
            cfg.tls_cert = self.tls_cert;
            cfg.tls_key = self.tls_key;
        }
        if let Some(v) = self.admin_listen {
            cfg.admin_listen = v;
        }
        if let Some(v) = self.data_dir {
            cfg.data_dir = v;
        }
        if self.sources.routes.is_some() {
            cfg.routes = self.sources.routes;
        }
        if self.sources.policy.is_some() {
            cfg.policy = self.sources.policy;
        }
        cfg.upstreams.extend(self.upstreams);
        if self.upstream_ca.is_some() {
            cfg.upstream_ca = self.upstream_ca;
        }
        cfg.shadow |= self.shadow;
        if self.warm.is_some() {
            cfg.warm = self.warm;
        }
        if let Some(url) = self.redis {
            match &mut cfg.shared {
                Some(s) => s.redis = url,
                None => cfg.shared = Some(crate::shared::SharedConfig::with_url(url)),
            }
        }
        Ok(cfg)
    }
}

/// Blocking-pool threads per runtime. Blocking work is SQLite (one
/// connection behind one lock) and DNS: more threads only wait on that
/// lock. Under the soak's holds and look-ups the default (512) grew to 180
/// threads, each parked on it.
const BLOCKING_THREADS: usize = 16;

pub fn run(args: Args) -> ExitCode {
    let telemetry = crate::telemetry::init();
    let decisions = telemetry.decisions.clone();
    let threads = args.proxy_threads.threads();
    let result = args.into_config().and_then(|cfg| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .max_blocking_threads(BLOCKING_THREADS)
            .build()
            .context("starting the runtime")?
            .block_on(serve(cfg, decisions, threads))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "tollgate could not start");
            eprintln!("tollgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads routes and policy as configured (embedded when unset).
pub fn load(
    routes: Option<&std::path::Path>,
    policy: Option<&std::path::Path>,
    upstreams: &BTreeMap<String, String>,
) -> anyhow::Result<(RouteTable, Policy)> {
    let sources = match routes {
        Some(dir) => Source::from_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Source::embedded(),
    };
    let table = RouteTable::build(&sources, upstreams).map_err(|e| anyhow::anyhow!("{e}"))?;
    let policy = match policy {
        Some(p) => Policy::load(p),
        None => Policy::embedded(),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((table, policy))
}

/// Counts the history in `path` into `engine` before anything listens
/// (see [`crate::backtest::warm`]); with replicas, only what is older than
/// the stream's replay, which brings the rest.
async fn warm(
    engine: &Arc<Engine>,
    classifier: &Arc<Classifier>,
    path: &std::path::Path,
    shared: Option<&crate::shared::SharedConfig>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let until = match shared {
        Some(s) => Timestamp::now().plus_seconds(-(s.replay.as_secs() as i64)),
        None => Timestamp::now(),
    };
    let (engine, classifier) = (engine.clone(), classifier.clone());
    let path_buf = path.to_path_buf();
    let warmed = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let text = std::fs::read_to_string(&path_buf)
            .with_context(|| format!("reading the warm history {}", path_buf.display()))?;
        crate::backtest::warm::warm_from(
            &engine,
            &classifier,
            &crate::backtest::Context::default(),
            &text,
            crate::backtest::Format::Auto,
            until,
        )
        .with_context(|| format!("warming from {}", path_buf.display()))
    })
    .await
    .context("the warm start stopped")??;
    tracing::info!(
        path = %path.display(),
        sends = warmed.sends,
        conversions = warmed.conversions,
        left_out_recent = warmed.future,
        malformed = warmed.malformed,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "counted the warm history"
    );
    Ok(())
}

/// Serves until SIGTERM or ctrl-c; the plain proxy listener on the shared
/// runtime, or on `proxy_threads` threads of their own when set.
pub async fn serve(
    cfg: ServeConfig,
    decisions: DecisionLog,
    proxy_threads: Option<usize>,
) -> anyhow::Result<()> {
    let (routes, policy) = load(cfg.routes.as_deref(), cfg.policy.as_deref(), &cfg.upstreams)?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data dir {}", cfg.data_dir.display()))?;
    let shared = cfg.shared.clone().map(Replication::new).transpose()?;
    let counters = Counters::new(KeyHasher::random(), cfg.state.capacity()?);
    tracing::info!(
        numbers = cfg.state.numbers,
        aggregates = cfg.state.aggregates,
        ceiling_mb = counters.ceiling_bytes() / 1_000_000,
        "counter tables bounded"
    );
    let engine = Arc::new(
        Engine::with_counters(policy, cfg.shadow, counters)
            .with_sink(shared.as_ref().map(Replication::sink)),
    );
    let classifier = Arc::new(Classifier::embedded());
    if let Some(path) = &cfg.warm {
        warm(&engine, &classifier, path, cfg.shared.as_ref()).await?;
    }
    let routes = Arc::new(routes);
    let upstream = UpstreamClient::new(&cfg.limits.upstream(), cfg.upstream_ca.as_deref())?;
    let store = Store::open(&cfg.data_dir)
        .with_context(|| format!("opening the database in {}", cfg.data_dir.display()))?;
    let sealer = Sealer::load(
        std::env::var("TOLLGATE_DATA_KEY").ok().as_deref(),
        &cfg.data_dir,
    )?;
    let hold = Arc::new(
        HoldQueue::new(
            store.clone(),
            sealer,
            upstream.clone(),
            routes.clone(),
            Failpoints::from_env(),
        )
        .with_release_hook(count_released(engine.clone(), classifier.clone()))
        .with_resolved_retention(cfg.audit.resolved_holds()),
    );
    let audit = AuditLog::start(store.clone(), cfg.audit.retention());
    let prices = crate::policy::Prices::embedded()?;
    let currency = prices.currency.clone();
    let metrics = Arc::new(crate::metrics::Metrics::with_prices(
        &currency,
        Box::new(move |country| prices.price(crate::number::Region::parse(country))),
    ));
    metrics.policy_loaded(cfg.policy.as_deref(), crate::policy::EMBEDDED_DEFAULT);
    metrics.attach(Arc::new(table_gauges(engine.clone())));
    if let Some(s) = &shared {
        metrics.attach(s.metrics());
    }
    let lookup = build_lookup(&engine, &routes, &upstream)?;
    // One per proxy thread, each with its own upstream connection pool, so
    // that a request and its upstream connection live on one thread.
    let pipeline_with = |upstream: UpstreamClient| {
        Arc::new(Pipeline {
            routes: routes.clone(),
            engine: engine.clone(),
            classifier: classifier.clone(),
            upstream,
            limits: cfg.limits.body(),
            hold: Some(hold.clone()),
            decision_log: decisions.clone(),
            audit: Some(audit.clone()),
            metrics: metrics.clone(),
            lookup: lookup.clone(),
        })
    };
    let pipeline = pipeline_with(upstream.clone());
    let admin = Admin::new(AdminConfig {
        token: std::env::var("TOLLGATE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        loopback_only: cfg.admin_listen.ip().is_loopback(),
        engine: engine.clone(),
        classifier: pipeline.classifier.clone(),
        policy_path: cfg.policy.clone(),
        hold: hold.clone(),
        store: store.clone(),
        audit: audit.clone(),
        metrics: metrics.clone(),
    });
    crate::admin::apply_lists(&store, &engine)
        .await
        .map_err(|e| anyhow::anyhow!("run-time lists: {e}"))?;
    // Sends whose release was decided before a restart go out now.
    hold.recover().await?;

    let proxy_handler = {
        let p = pipeline.clone();
        move |req| {
            let p = p.clone();
            async move { p.handle(req).await }
        }
    };
    let admin_handler = {
        let a = admin.clone();
        move |req| {
            let a = a.clone();
            async move { a.handle(req).await }
        }
    };

    // Bind everything before serving anything: a bad address fails start-up.
    let (shared_proxy, proxy_sockets) = match proxy_threads {
        None => {
            let l = server::bind("proxy", cfg.listen, None, proxy_handler.clone()).await?;
            (Some(l), Vec::new())
        }
        Some(n) => (None, server::bind_per_thread("proxy", cfg.listen, n).await?),
    };
    let mut proxy_pipelines = Vec::with_capacity(proxy_sockets.len());
    for _ in &proxy_sockets {
        proxy_pipelines.push(pipeline_with(UpstreamClient::new(
            &cfg.limits.upstream(),
            cfg.upstream_ca.as_deref(),
        )?));
    }
    let tls = match cfg.tls_listen {
        Some(addr) => {
            let (cert, key) = cfg
                .tls_cert
                .as_deref()
                .zip(cfg.tls_key.as_deref())
                .context("the TLS listener needs tls_cert and tls_key")?;
            let acceptor = server::tls_acceptor(cert, key)?;
            Some(server::bind("tls", addr, Some(acceptor), proxy_handler).await?)
        }
        None => None,
    };
    let admin_listener = server::bind("admin", cfg.admin_listen, None, admin_handler).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(hold.clone().run_background(
        expiry_rule(engine.clone(), pipeline.classifier.clone()),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(crate::admin::expire_lists(
        store.clone(),
        engine.clone(),
        stop_rx.clone(),
    )));
    if let Some(s) = &shared {
        let applier = Applier {
            engine: engine.clone(),
            classifier: pipeline.classifier.clone(),
        };
        tasks.extend(s.start(applier, stop_rx.clone()));
    }
    if let Some(l) = shared_proxy {
        tasks.push(tokio::spawn(l.serve(cfg.limits.server(), stop_rx.clone())));
    }
    let slots = server::connection_slots(&cfg.limits.server());
    let mut proxy_threads = Vec::with_capacity(proxy_sockets.len());
    for (i, (socket, pipeline)) in proxy_sockets.into_iter().zip(proxy_pipelines).enumerate() {
        let (limits, slots, stop) = (cfg.limits.server(), slots.clone(), stop_rx.clone());
        let thread = std::thread::Builder::new()
            .name(format!("tollgate-proxy-{i}"))
            .spawn(move || serve_proxy_thread(socket, pipeline, limits, slots, stop))
            .context("starting a proxy thread")?;
        proxy_threads.push(thread);
    }
    if let Some(l) = tls {
        tasks.push(tokio::spawn(l.serve(cfg.limits.server(), stop_rx.clone())));
    }
    tasks.push(tokio::spawn(
        admin_listener.serve(cfg.limits.server(), stop_rx.clone()),
    ));
    admin.ready.store(true, Ordering::Release);
    tracing::info!(shadow = engine.shadow(), "tollgate ready");

    wait_for_shutdown(&engine, &metrics, cfg.policy.as_deref()).await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    admin.ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let joined = tokio::task::spawn_blocking(move || {
        for t in proxy_threads {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "a proxy thread failed"),
                Err(_) => tracing::error!("a proxy thread panicked"),
            }
        }
    });
    let _ = joined.await;
    // The audit writer gathers rows before committing: write the last ones.
    let flushed =
        tokio::task::spawn_blocking(move || audit.flush(std::time::Duration::from_secs(5)))
            .await
            .unwrap_or(false);
    if !flushed {
        tracing::warn!("the last audit rows could not be written before exit");
    }
    tracing::info!("stopped");
    Ok(())
}

/// One proxy thread: a single-threaded runtime serving its own socket of
/// the proxy address until shutdown. Connections, their upstream
/// connections (the pipeline's own pool) and the wake-ups between them all
/// stay on this thread.
fn serve_proxy_thread(
    socket: std::net::TcpListener,
    pipeline: Arc<Pipeline>,
    limits: server::Limits,
    slots: Arc<tokio::sync::Semaphore>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .context("starting a proxy thread's runtime")?;
    runtime.block_on(async move {
        let handler = move |req| {
            let p = pipeline.clone();
            async move { p.handle(req).await }
        };
        let listener = server::Listener {
            name: "proxy",
            tcp: tokio::net::TcpListener::from_std(socket)?,
            tls: None,
            handler,
        };
        listener.serve_with_slots(limits, slots, stop).await;
        Ok(())
    })
}

/// Returns on SIGTERM or ctrl-c; reloads the policy on SIGHUP.
async fn wait_for_shutdown(
    engine: &Engine,
    metrics: &crate::metrics::Metrics,
    policy: Option<&std::path::Path>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hup.recv() => reload(engine, metrics, policy),
        }
    }
}

fn reload(engine: &Engine, metrics: &crate::metrics::Metrics, policy: Option<&std::path::Path>) {
    match engine.reload_from(policy) {
        Ok(()) => {
            metrics.policy_loaded(policy, crate::policy::EMBEDDED_DEFAULT);
            tracing::info!("policy reloaded")
        }
        Err(e) => tracing::error!(error = %e, "policy reload failed; keeping the current policy"),
    }
}

/// The engine's counter tables as `/metrics` gauges (the counters survive
/// policy reloads, so one engine handle reads them for the process's life).
fn table_gauges(
    engine: Arc<Engine>,
) -> crate::metrics::TableGauges<
    impl Fn() -> Vec<(&'static str, crate::metrics::TableSize)> + Send + Sync,
> {
    crate::metrics::TableGauges(move || engine.counters().sizes().to_vec())
}

/// A released send went out: the engine counts its delivery, so that its
/// conversion (or its absence) counts like any other send's.
fn count_released(engine: Arc<Engine>, classifier: Arc<Classifier>) -> crate::hold::ReleaseHook {
    Arc::new(move |row: &HeldRow| {
        let (facts, number) = held_send(row, &classifier);
        if let Ok(number) = number {
            engine.count_released(&facts, &number, Timestamp::now());
        }
    })
}

/// A held send as scoring sees it: its route and destination (the client
/// context is not kept with a hold).
fn held_send<'r>(
    row: &'r HeldRow,
    classifier: &Classifier,
) -> (SendFacts<'r>, Result<Classification, ParseError>) {
    let facts = SendFacts {
        route: &row.route,
        provider: &row.provider,
        channel: "sms",
        ..SendFacts::default()
    };
    let number = classifier.parse_and_classify(&row.to, None);
    (facts, number)
}

/// What happens to a hold at its deadline, by the policy in force then.
fn expiry_rule(
    engine: Arc<Engine>,
    classifier: Arc<Classifier>,
) -> Arc<dyn Fn(&HeldRow) -> Expiry + Send + Sync> {
    Arc::new(move |row: &HeldRow| match engine.policy().hold.on_expiry {
        OnExpiry::Reject => Expiry::Reject,
        OnExpiry::Release => Expiry::Release,
        OnExpiry::Rescore => {
            let (facts, number) = held_send(row, &classifier);
            match engine
                .peek(&facts, number.as_ref(), Timestamp::now())
                .action
            {
                crate::policy::Action::Allow => Expiry::Release,
                _ => Expiry::Reject,
            }
        }
    })
}

/// The lookup client, when the policy at start-up enables it. Its base URL
/// defaults to the route files' `twilio-lookups` upstream.
fn build_lookup(
    engine: &Engine,
    routes: &RouteTable,
    upstream: &UpstreamClient,
) -> anyhow::Result<Option<Arc<crate::lookup::Lookup>>> {
    let cfg = engine.policy().lookup.clone();
    if !cfg.enabled {
        return Ok(None);
    }
    let default = routes
        .upstreams()
        .find(|u| u.name == "twilio-lookups")
        .map(|u| u.base.to_string())
        .unwrap_or_else(|| "https://lookups.twilio.com".to_owned());
    let lookup = crate::lookup::Lookup::build(cfg, &default, upstream.clone())?;
    tracing::info!("number-intelligence lookups enabled");
    Ok(Some(Arc::new(lookup)))
}
