//! Listeners: the proxy (plain, and TLS when configured) and the admin port.
//!
//! Each listener serves HTTP/1.1 and h2 (prior knowledge on plain TCP, ALPN
//! on TLS), bounds concurrent connections, times out slow request headers
//! and TLS handshakes, and on shutdown stops accepting and gives in-flight
//! requests a grace period.
//!
//! With `serve --proxy-threads N` the plain proxy listener runs one
//! single-threaded runtime per thread instead, each accepting on its own
//! `SO_REUSEPORT` socket ([`bind_per_thread`]): a connection, its upstream
//! connection and every wake-up between them stay on one thread, where the
//! work-stealing runtime moves tasks between threads and wakes sleeping
//! workers per request. Opt-in: without work stealing, a thread that
//! blocks stalls every connection on its socket.

mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

pub use tls::acceptor as tls_acceptor;

use crate::upstream::ProxyBody;

/// A listener's limits (`[limits]` in the config file): they protect
/// tollgate from slow and numerous clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time a client has to send its request headers (and, with TLS, to
    /// finish the handshake).
    pub header_read_timeout: Duration,
    /// Concurrent client connections per listener; more wait to be accepted.
    pub max_connections: usize,
    /// Time in-flight requests get to finish on shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_millis(10_000),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// What a listener serves: a request in, a response out, never an error.
///
/// Generic rather than boxed: hyper keeps the response future in a slot
/// allocated once per connection, where a boxed future would cost a large
/// allocation (the proxy's future is several kilobytes) on every request.
pub trait Handler<F>: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static
where
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
}

impl<H, F> Handler<F> for H
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
}

/// One bound listener, ready to serve.
pub struct Listener<H> {
    /// `proxy`, `tls` or `admin` (in logs).
    pub name: &'static str,
    pub tcp: TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub handler: H,
}

impl<H> Listener<H> {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Accepts until `shutdown` flips, then waits up to the grace period for
    /// open connections to finish.
    pub async fn serve<F>(self, limits: Limits, shutdown: watch::Receiver<bool>)
    where
        H: Handler<F>,
        F: Future<Output = Response<ProxyBody>> + Send + 'static,
    {
        let slots = connection_slots(&limits);
        self.serve_with_slots(limits, slots, shutdown).await
    }

    /// [`Listener::serve`], drawing connection slots from `slots`, which
    /// listeners sharing one address (one per thread) share: the limit is
    /// the address's, not each thread's.
    pub async fn serve_with_slots<F>(
        self,
        limits: Limits,
        slots: Arc<Semaphore>,
        mut shutdown: watch::Receiver<bool>,
    ) where
        H: Handler<F>,
        F: Future<Output = Response<ProxyBody>> + Send + 'static,
    {
        let graceful = GracefulShutdown::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            // Answers are small: one copy into the head buffer and one
            // write(2) beat a two-part writev.
            .writev(false)
            // hyper checks its head buffer only between reads, so a head can
            // overshoot this by one read; the pipeline's own check
            // (`MAX_HEADER_BYTES`) is the exact one.
            .max_buf_size(crate::pipeline::MAX_HEADER_BYTES)
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)));
        let handshake_timeout = limits.header_read_timeout;
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.changed() => break,
            };
            let (stream, _peer) = tokio::select! {
                r = self.tcp.accept() => match r {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Usually EMFILE: back off instead of spinning.
                        tracing::warn!(listener = self.name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            let _ = stream.set_nodelay(true);
            let handler = self.handler.clone();
            let seen = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let seen_svc = seen.clone();
            let service = service_fn(move |req| {
                seen_svc.store(true, std::sync::atomic::Ordering::Release);
                let fut = handler(req);
                async move { Ok::<_, Infallible>(fut.await) }
            });
            match &self.tls {
                None => {
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        first_request_deadline(
                            Box::pin(async move {
                                let _ = conn.await;
                            }),
                            seen,
                            handshake_timeout,
                        )
                        .await;
                        drop(permit);
                    });
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let builder = builder.clone();
                    // The handshake runs in its own task so one slow client
                    // cannot stall the accept loop.
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let tls =
                            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(tls)) => tls,
                                _ => return,
                            };
                        let conn = builder
                            .serve_connection(TokioIo::new(tls), service)
                            .into_owned();
                        let conn = watcher.watch(conn);
                        first_request_deadline(
                            Box::pin(async move {
                                let _ = conn.await;
                            }),
                            seen,
                            handshake_timeout,
                        )
                        .await;
                        drop(permit);
                    });
                }
            }
        }
        // Stop listening at once: new connections are refused, not left
        // hanging in the backlog while in-flight requests finish.
        drop(self.tcp);
        let grace = limits.shutdown_grace;
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                listener = self.name,
                "connections still open after the grace period; closing"
            );
        }
    }
}

/// The connection limit of one listening address.
pub fn connection_slots(limits: &Limits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limits.max_connections.max(1)))
}

/// Binds `threads` sockets to one address with `SO_REUSEPORT`, so that each
/// thread accepts on its own socket and the kernel spreads connections over
/// them. Port 0 picks one port for all. Logs the address once, as
/// [`bind`] does. Each socket is turned into a tokio listener by the
/// runtime that serves it ([`TcpListener::from_std`]).
pub async fn bind_per_thread(
    name: &'static str,
    addr: SocketAddr,
    threads: usize,
) -> anyhow::Result<Vec<std::net::TcpListener>> {
    // SO_REUSEPORT lets a second tollgate of the same user bind the same
    // port and silently take half of the connections: an ordinary bind
    // first fails start-up on a port in use, as the shared listener does.
    if addr.port() != 0 {
        drop(
            std::net::TcpListener::bind(addr)
                .map_err(|e| anyhow::anyhow!("binding the {name} listener on {addr}: {e}"))?,
        );
    }
    let mut bound = addr;
    let mut sockets = Vec::with_capacity(threads.max(1));
    for _ in 0..threads.max(1) {
        let listener = reuseport_listener(bound)
            .map_err(|e| anyhow::anyhow!("binding the {name} listener on {addr}: {e}"))?;
        bound = listener.local_addr()?;
        sockets.push(listener.into_std()?);
    }
    tracing::info!(listener = name, addr = %bound, tls = false, threads = sockets.len(), "listening");
    Ok(sockets)
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    // tokio's `TcpListener::bind` backlog.
    socket.listen(1024)
}

/// Drives a connection, closing it when no request has started within
/// `timeout`: hyper's header timeout only runs once the protocol is known, so
/// a client that sends nothing (or a partial h2 preface) would otherwise hold
/// its connection slot forever.
async fn first_request_deadline(
    mut conn: Pin<Box<dyn Future<Output = ()> + Send>>,
    seen: Arc<std::sync::atomic::AtomicBool>,
    timeout: Duration,
) {
    tokio::select! {
        _ = &mut conn => return,
        _ = tokio::time::sleep(timeout) => {}
    }
    if seen.load(std::sync::atomic::Ordering::Acquire) {
        conn.await;
    }
}

/// Binds a listener and logs its address (tests and operators read it).
pub async fn bind<H, F>(
    name: &'static str,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    handler: H,
) -> anyhow::Result<Listener<H>>
where
    H: Handler<F>,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding the {name} listener on {addr}: {e}"))?;
    let local = tcp.local_addr()?;
    tracing::info!(listener = name, addr = %local, tls = tls.is_some(), "listening");
    Ok(Listener {
        name,
        tcp,
        tls,
        handler,
    })
}
