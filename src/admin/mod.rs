//! The admin listener: health, readiness, Prometheus `/metrics` and the
//! OpenAPI document (no token), and the admin API under `/api/` (bearer
//! token from `TOLLGATE_ADMIN_TOKEN`).
//!
//! Without a token the API is served only when the admin listener is bound
//! to loopback; otherwise it is refused (401) and tollgate says so at start.

mod api;
pub mod bodies;

/// The review console, embedded: nothing to build or serve separately.
const CONSOLE: &str = include_str!("console.html");

pub use api::{apply_lists, expire_lists};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::dialect::{json_response, neutral_error};
use crate::hold::HoldQueue;
use crate::metrics::Metrics;
use crate::number::Classifier;
use crate::policy::Engine;
use crate::store::{AuditLog, HeldRow, Store};
use crate::upstream::{full, ProxyBody};

pub struct AdminConfig {
    pub token: Option<String>,
    /// The admin listener is bound to a loopback address.
    pub loopback_only: bool,
    pub engine: Arc<Engine>,
    pub classifier: Arc<Classifier>,
    pub policy_path: Option<PathBuf>,
    pub hold: Arc<HoldQueue>,
    pub store: Store,
    pub audit: AuditLog,
    pub metrics: Arc<Metrics>,
}

/// How `/api/` requests are authorised.
enum ApiAccess {
    Token(String),
    /// No token, loopback listener: open to local callers.
    LoopbackOpen,
    /// No token on a reachable listener: refused.
    Disabled,
}

pub struct Admin {
    /// Set once routes and policy are loaded and every listener is bound.
    pub ready: AtomicBool,
    access: ApiAccess,
    engine: Arc<Engine>,
    classifier: Arc<Classifier>,
    policy_path: Option<PathBuf>,
    hold: Arc<HoldQueue>,
    store: Store,
    audit: AuditLog,
    metrics: Arc<Metrics>,
}

impl Admin {
    pub fn new(cfg: AdminConfig) -> Arc<Admin> {
        let access = match (cfg.token, cfg.loopback_only) {
            (Some(t), _) => ApiAccess::Token(t),
            (None, true) => {
                tracing::warn!(
                    "TOLLGATE_ADMIN_TOKEN is not set: the admin API is open to local callers only"
                );
                ApiAccess::LoopbackOpen
            }
            (None, false) => {
                tracing::error!("TOLLGATE_ADMIN_TOKEN is not set and the admin listener is not loopback: the admin API is disabled");
                ApiAccess::Disabled
            }
        };
        Arc::new(Admin {
            ready: AtomicBool::new(false),
            access,
            engine: cfg.engine,
            classifier: cfg.classifier,
            policy_path: cfg.policy_path,
            hold: cfg.hold,
            store: cfg.store,
            audit: cfg.audit,
            metrics: cfg.metrics,
        })
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Response<ProxyBody> {
        let path = req.uri().path().to_owned();
        let resp = match (req.method(), path.as_str()) {
            (&Method::GET, "/healthz") => {
                json_response(200, "application/json", br#"{"status":"ok"}"#.to_vec())
            }
            (&Method::GET, "/readyz") => {
                if self.ready.load(Ordering::Acquire) {
                    json_response(200, "application/json", br#"{"status":"ready"}"#.to_vec())
                } else {
                    json_response(
                        503,
                        "application/json",
                        br#"{"status":"starting"}"#.to_vec(),
                    )
                }
            }
            (&Method::GET, "/metrics") => {
                let now = crate::clock::Timestamp::now().millis();
                let mut g = self
                    .store
                    .run(move |c| HeldRow::gauges(c, now))
                    .await
                    .unwrap_or_default();
                g.audit_dropped = self.audit.dropped();
                let text = self.metrics.render(&g);
                let mut r = Response::new(bytes::Bytes::from(text));
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }
            // The review console: a static page; everything it shows comes
            // from the API with the token the analyst signs in with.
            (&Method::GET, "/" | "/console") => {
                let mut r = Response::new(bytes::Bytes::from_static(CONSOLE.as_bytes()));
                let h = r.headers_mut();
                h.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/html; charset=utf-8"),
                );
                h.insert(
                    http::header::CONTENT_SECURITY_POLICY,
                    http::HeaderValue::from_static("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"),
                );
                h.insert(
                    http::header::X_FRAME_OPTIONS,
                    http::HeaderValue::from_static("DENY"),
                );
                r
            }
            (&Method::GET, "/api/v1/openapi.json") => {
                json_response(200, "application/json", api::OPENAPI.as_bytes().to_vec())
            }
            (_, p) if p.starts_with("/api/") => match self.authorise(&req) {
                Ok(()) => api::route(self, req).await,
                Err(resp) => resp,
            },
            _ => neutral_error(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint"),
        };
        resp.map(full)
    }

    fn authorise(&self, req: &Request<Incoming>) -> Result<(), Response<bytes::Bytes>> {
        let presented = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // The scheme name is case-insensitive (RFC 9110 §11.1).
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token);
        let ok = match (&self.access, presented) {
            (ApiAccess::Token(t), Some(p)) => constant_time_eq(t.as_bytes(), p.trim().as_bytes()),
            (ApiAccess::Token(_), None) => false,
            (ApiAccess::LoopbackOpen, _) => true,
            (ApiAccess::Disabled, _) => false,
        };
        if ok {
            Ok(())
        } else {
            let mut resp = neutral_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required",
            );
            resp.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
            Err(resp)
        }
    }
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret1"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
