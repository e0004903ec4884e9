//! The admin listener: health and readiness (the admin API grows here).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::dialect::json_response;
use crate::pipeline::full;
use crate::upstream::ProxyBody;

/// State the admin endpoints read.
#[derive(Default)]
pub struct Admin {
    /// Set once routes and policy are loaded and every listener is bound.
    pub ready: AtomicBool,
}

impl Admin {
    pub fn new() -> Arc<Admin> {
        Arc::new(Admin::default())
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Response<ProxyBody> {
        let resp = match (req.method(), req.uri().path()) {
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
            _ => crate::dialect::neutral_error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such admin endpoint",
            ),
        };
        resp.map(full)
    }
}
