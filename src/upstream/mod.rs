//! The pooled HTTP client to the aggregators.
//!
//! One client for all upstreams: a pool of connections per scheme and
//! authority, HTTP/1.1, or h2 when TLS negotiates it (ALPN), rustls with the
//! Mozilla roots (plus an optional extra CA for staging and tests), connect
//! and response-header timeouts.
//!
//! HTTP/1.1 is written and read by the request's own task ([`h1`]), on a
//! small list of idle connections per upstream; h2 is hyper's connection
//! API (`client::conn`). hyper-util's general-purpose client cost more
//! instructions per request (pool keys, checkout futures, a task spawned
//! per request to return the connection) than the proxy's own forward
//! phase, and hyper's HTTP/1.1 connection task about as much again (three
//! channel hand-offs per request). An HTTP/1.1 connection goes back to its
//! pool when its answer's body has been read to the end ([`UpstreamBody`]),
//! at once when the body came with the head; an answer dropped before its
//! end closes the connection instead, as it cannot be reused. Idle
//! connections are closed after `upstream_idle_timeout_s` and never used
//! once older than that.
//!
//! Nothing that could send an SMS is ever retried. An idle HTTP/1.1
//! connection on which anything arrived while it waited (the upstream's
//! close, or bytes nobody asked for) is dropped before a byte of the
//! request is written, and the next one tried; an h2 request is re-issued
//! only when hyper hands it back unsent from a connection that had closed.
//! A request that failed once written is never re-issued.

use std::path::Path;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Any error a proxied body can produce.
mod body;
mod h1;

pub use body::{BodyError, UpstreamBody};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type tollgate sends and answers with.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| -> BoxError { match never {} })
        .boxed()
}

/// Why an upstream call failed. The pipeline answers 502 or 504.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the upstream could not be reached: {0}")]
    Unavailable(String),
}

/// The client's time limits (`[limits] upstream_*` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to connect to an upstream.
    pub connect: Duration,
    /// Time for an upstream to answer with headers.
    pub response: Duration,
    /// Idle pooled connections are closed after this.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_millis(5_000),
            response: Duration::from_millis(30_000),
            idle: Duration::from_secs(50),
        }
    }
}

/// Idle HTTP/1.1 connections kept per upstream, at most. More concurrent
/// requests than this still get connections; the extra ones are closed
/// after use.
const MAX_IDLE_PER_HOST: usize = 1024;

#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
}

struct Inner {
    tls: TlsConnector,
    connect_timeout: Duration,
    response_timeout: Duration,
    idle_timeout: Duration,
    /// One pool per scheme and authority; few (the route files' upstreams
    /// and the hosts of status callbacks), so a list.
    pools: Mutex<Vec<Arc<HostPool>>>,
    /// Whether the idle reaper task runs.
    reaping: std::sync::atomic::AtomicBool,
}

/// The connections to one scheme + authority.
struct HostPool {
    https: bool,
    authority: Authority,
    /// The `Host` header HTTP/1.1 requests carry: the authority without
    /// user info, as hyper-util's client wrote it.
    host: HeaderValue,
    /// Idle HTTP/1.1 connections, most recently used last.
    idle: Mutex<Vec<Idle>>,
    /// The shared h2 connection, when TLS negotiated h2.
    h2: Mutex<Option<http2::SendRequest<ProxyBody>>>,
}

struct Idle {
    conn: h1::Connection,
    since: Instant,
}

impl Idle {
    /// Whether it may carry a request: not older than `max_idle`, and
    /// nothing arrived on it while it waited.
    fn usable(&mut self, max_idle: Duration) -> bool {
        self.since.elapsed() <= max_idle && self.conn.is_idle_and_open()
    }
}

/// A connection ready to take one request.
enum Conn {
    H1(h1::Connection),
    H2(http2::SendRequest<ProxyBody>),
}

impl UpstreamClient {
    pub fn new(timeouts: &Timeouts, extra_ca: Option<&Path>) -> anyhow::Result<UpstreamClient> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path)?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots.add(cert?)?;
            }
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(UpstreamClient {
            inner: Arc::new(Inner {
                tls: TlsConnector::from(Arc::new(tls)),
                connect_timeout: timeouts.connect,
                response_timeout: timeouts.response,
                idle_timeout: timeouts.idle,
                pools: Mutex::new(Vec::new()),
                reaping: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Sends one request (its URI absolute: scheme and authority name the
    /// upstream); the response body streams. Connecting, sending and
    /// waiting for the answer's head together are bounded by the response
    /// timeout; connecting alone by the connect timeout.
    pub async fn send(
        &self,
        req: Request<ProxyBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let timeout = self.inner.response_timeout;
        // Boxed: the request's future (the connection checkout, hyper's
        // send, the response) is over a kilobyte, and every future that
        // awaits this one, up to the connection's, was moved whole from
        // place to place; one allocation costs less than those copies.
        match tokio::time::timeout(timeout, Box::pin(self.request(req))).await {
            Err(_) => Err(UpstreamError::Timeout(timeout)),
            Ok(result) => result,
        }
    }

    async fn request(
        &self,
        mut req: Request<ProxyBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let pool = self.pool_for(req.uri())?;
        loop {
            let (conn, reused) = match pool.checkout(self.inner.idle_timeout) {
                Some(conn) => (conn, true),
                // Boxed: connecting (TCP, TLS, h2 handshakes) is rare and
                // its future large; inline, it would grow every request's
                // future.
                None => (Box::pin(self.connect(&pool)).await?, false),
            };
            let mut tx = match conn {
                Conn::H1(conn) => return self.exchange_h1(&pool, conn, req).await,
                Conn::H2(tx) => tx,
            };
            // h2 requests carry their absolute URI (`:scheme`, `:authority`).
            let mut failed = match tx.try_send_request(req).await {
                Ok(resp) => {
                    let limit = self.inner.response_timeout;
                    return Ok(resp.map(|inner| UpstreamBody::h2(inner, limit)));
                }
                Err(e) => e,
            };
            match failed.take_message() {
                // Never written, on a connection the pool handed out: it
                // had closed in the meantime. Try the next one.
                Some(unsent) if reused => req = unsent,
                _ => {
                    return Err(UpstreamError::Unavailable(error_chain(
                        &failed.into_error(),
                    )))
                }
            }
        }
    }

    /// One HTTP/1.1 request and its answer's head on `conn`, with the
    /// origin-form target and the upstream's `Host`.
    async fn exchange_h1(
        &self,
        pool: &Arc<HostPool>,
        mut conn: h1::Connection,
        req: Request<ProxyBody>,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let (parts, body) = req.into_parts();
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        conn.write_request(&parts.method, target, &pool.host, &parts.headers, body)
            .await?;
        let head = conn.read_head(&parts.method).await?;
        let back = head.reusable.then(|| pool.clone());
        let body = UpstreamBody::h1(conn, head.framing, back, self.inner.response_timeout);
        Ok(head.response.map(|()| body))
    }

    /// The pool of the request's scheme and authority, created on first use.
    fn pool_for(&self, uri: &Uri) -> Result<Arc<HostPool>, UpstreamError> {
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => {
                return Err(UpstreamError::Unavailable(format!(
                    "unsupported upstream URI `{uri}`"
                )))
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(UpstreamError::Unavailable(format!(
                "upstream URI without a host `{uri}`"
            )));
        };
        let mut pools = lock(&self.inner.pools);
        // Authorities compare without case, byte by byte; the same text
        // (every request of a route) is checked first, at memcmp speed.
        if let Some(p) = pools.iter().find(|p| {
            p.https == https
                && (p.authority.as_str() == authority.as_str() || p.authority == *authority)
        }) {
            return Ok(p.clone());
        }
        let host = match authority.as_str().rsplit_once('@') {
            Some((_, host)) => host,
            None => authority.as_str(),
        };
        // The default port is left out, as hyper-util's client did.
        let host = match (https, host.strip_suffix(":443"), host.strip_suffix(":80")) {
            (true, Some(h), _) | (false, _, Some(h)) => h,
            _ => host,
        };
        let host = HeaderValue::from_str(host)
            .map_err(|e| UpstreamError::Unavailable(format!("upstream host `{host}`: {e}")))?;
        let pool = Arc::new(HostPool {
            https,
            authority: authority.clone(),
            host,
            idle: Mutex::new(Vec::new()),
            h2: Mutex::new(None),
        });
        pools.push(pool.clone());
        drop(pools);
        self.start_reaper();
        Ok(pool)
    }

    /// Opens a connection to the pool's upstream (TCP, then TLS for
    /// `https`) and starts driving it on this runtime.
    async fn connect(&self, pool: &HostPool) -> Result<Conn, UpstreamError> {
        // `[::1]` names the address `::1`, for resolving and for TLS.
        let host = pool
            .authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = pool
            .authority
            .port_u16()
            .unwrap_or(if pool.https { 443 } else { 80 });
        let tcp =
            match tokio::time::timeout(self.inner.connect_timeout, tcp_connect(host, port)).await {
                // The connect timeout is reported as a timeout, as before.
                Err(_) => return Err(UpstreamError::Timeout(self.inner.response_timeout)),
                Ok(Err(e)) => {
                    return Err(UpstreamError::Unavailable(format!(
                        "tcp connect error: {e}"
                    )))
                }
                Ok(Ok(tcp)) => tcp,
            };
        let _ = tcp.set_nodelay(true);
        if !pool.https {
            return Ok(Conn::H1(h1::Connection::new(h1::Io::Left(tcp))));
        }
        let name = rustls_pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| UpstreamError::Unavailable(format!("upstream host `{host}`: {e}")))?;
        let tls = self
            .inner
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("tls handshake: {e}")))?;
        if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
            let (tx, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(TokioIo::new(tls))
                .await
                .map_err(|e| UpstreamError::Unavailable(error_chain(&e)))?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream h2 connection ended");
                }
            });
            *lock(&pool.h2) = Some(tx.clone());
            return Ok(Conn::H2(tx));
        }
        Ok(Conn::H1(h1::Connection::new(h1::Io::Right(Box::new(tls)))))
    }

    /// Starts (once, on the runtime of the first request) the task that
    /// closes connections idle for longer than the idle timeout and forgets
    /// pools that hold nothing.
    fn start_reaper(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.idle_timeout.is_zero() || self.inner.reaping.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let period = (self.inner.idle_timeout / 2).max(Duration::from_millis(500));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let mut pools = lock(&inner.pools);
                pools.retain(|p| {
                    p.prune(inner.idle_timeout);
                    // Kept while anyone holds it or it holds a connection.
                    Arc::strong_count(p) > 1 || !lock(&p.idle).is_empty() || lock(&p.h2).is_some()
                });
            }
        });
    }
}

impl HostPool {
    /// A connection to use now: the shared h2 one, or the most recently
    /// used idle HTTP/1.1 one that is neither closed (nor sent anything)
    /// nor older than `max_idle`.
    fn checkout(&self, max_idle: Duration) -> Option<Conn> {
        if self.https {
            let mut h2 = lock(&self.h2);
            match &*h2 {
                Some(tx) if !tx.is_closed() => return Some(Conn::H2(tx.clone())),
                Some(_) => *h2 = None,
                None => {}
            }
        }
        let mut idle = lock(&self.idle);
        while let Some(mut c) = idle.pop() {
            if c.usable(max_idle) {
                return Some(Conn::H1(c.conn));
            }
        }
        None
    }

    /// Takes back a connection whose last answer was read to its end,
    /// unless bytes past that end arrived with it (nobody asked for them:
    /// the connection is out of step and is closed).
    fn give_back(&self, conn: h1::Connection) {
        if !conn.buffered().is_empty() {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE_PER_HOST {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    fn prune(&self, max_idle: Duration) {
        lock(&self.idle).retain_mut(|c| c.usable(max_idle));
        let mut h2 = lock(&self.h2);
        if h2.as_ref().is_some_and(|tx| tx.is_closed()) {
            *h2 = None;
        }
    }
}

/// The first address of `host` (without brackets) that accepts a
/// connection.
async fn tcp_connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no address for {host}"),
        )
    }))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests;
