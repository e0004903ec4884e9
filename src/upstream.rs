//! The pooled HTTP client to the aggregators.
//!
//! One client for all upstreams: connection reuse per host, HTTP/1.1 or h2 by
//! ALPN, rustls with the Mozilla roots (plus an optional extra CA for staging
//! and tests), connect and response-header timeouts.
//!
//! Nothing that could send an SMS is ever retried. hyper's pool may re-issue
//! a request only when the pooled connection was already closed *before* the
//! request was written (`retry_canceled_requests`): the upstream never saw it.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Limits;

/// Any error a proxied body can produce.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type tollgate sends and answers with.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// Why an upstream call failed. The pipeline answers 502 or 504.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the upstream could not be reached: {0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<HttpsConnector<HttpConnector>, ProxyBody>,
    response_timeout: Duration,
}

impl UpstreamClient {
    pub fn new(limits: &Limits, extra_ca: Option<&Path>) -> anyhow::Result<UpstreamClient> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path)?;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots.add(cert?)?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(
            rustls::crypto::ring::default_provider().into(),
        )
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(limits.upstream_connect_timeout()));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(limits.upstream_idle_timeout_s))
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .retry_canceled_requests(true)
            // Sends are small: one copy into the head buffer and one
            // write(2) beat a two-part writev.
            .http1_writev(false)
            .build(https);
        Ok(UpstreamClient {
            client,
            response_timeout: limits.upstream_response_timeout(),
        })
    }

    /// Sends one request; the response body streams.
    pub async fn send(&self, req: Request<ProxyBody>) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(self.response_timeout, self.client.request(req)).await {
            Err(_) => Err(UpstreamError::Timeout(self.response_timeout)),
            Ok(Err(e)) => {
                // The connector's timeout surfaces as an error, not a timeout.
                let text = error_chain(&e);
                if text.contains("timed out") || text.contains("timeout") {
                    Err(UpstreamError::Timeout(self.response_timeout))
                } else {
                    Err(UpstreamError::Unavailable(text))
                }
            }
            Ok(Ok(resp)) => Ok(resp),
        }
    }
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
