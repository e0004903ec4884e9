//! One request's life, as named phases. Read this file first.
//!
//! | phase | runs | what belongs there |
//! |---|---|---|
//! | **route** | for every request | match method + path against the route table: a send, a feedback call, a passthrough prefix, or nothing (neutral 404). Never look at `Host`: the upstream is always the route file's. |
//! | **read** | sends and feedback only | read the body with the size limit and the slow-client timeout (413 in the provider's shape / 408). Passthrough bodies stream and are never buffered. |
//! | **extract** | sends | parse form/JSON and pull destinations, channels, account, callback ([`crate::extract`]). A body tollgate cannot understand is answered in the provider's `malformed` shape and never forwarded. |
//! | **classify** | each scored destination | E.164 parse, country, validity, line type, carrier ([`crate::number`]). |
//! | **enrich** | each valid scored destination, when `[lookup]` is enabled | ask the number-intelligence service within its time budget, through a cache ([`crate::lookup`]); a failure is an answer too (fail open or closed). |
//! | **decide** | each scored destination | the engine scores with the time passed in ([`crate::policy::Engine::decide`]). |
//! | **act** | once per send | forward unchanged, reject in the provider's dialect ([`crate::dialect`]), hold (stored durably in [`crate::hold`], then answered as the provider's "queued"), or (multi-destination routes with `partial = "drop"`) forward without the blocked destinations. Shadow mode forwards everything. |
//! | **forward** | allowed sends, feedback, passthrough | strip hop-by-hop and `X-Tollgate-*` headers, send once, stream the answer back unchanged; 502/504 in neutral JSON when the upstream fails ([`forward`]). |
//! | **record** | each decision | one structured log line with masked numbers ([`crate::telemetry`]) and one audit-log row ([`crate::store`]). |
//! | **status** | look-ups of a message id | a held send's synthetic id is answered from the queue (queued, failed with 30450, or the released message under the synthetic id); other ids pass through. |

mod body;
mod feedback;
pub mod forward;
mod send;
mod status;

pub use body::BodyLimits;

/// The most header bytes (names and values) a request may carry: 64 KiB,
/// eight times nginx's default line buffer and far above any SDK's few
/// hundred bytes. Beyond it the answer is 431 and nothing is forwarded, so
/// tollgate never hands an upstream a head it would refuse mid-write.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::clock::Timestamp;
use crate::dialect::neutral_error;
use crate::hold::HoldQueue;
use crate::metrics::Metrics;
use crate::number::Classifier;
use crate::policy::Engine;
use crate::route::{Matched, RouteTable};
use crate::store::AuditLog;
use crate::telemetry::DecisionLog;
use crate::upstream::{ProxyBody, UpstreamClient};

/// Everything a request needs, shared by all connections.
pub struct Pipeline {
    pub routes: Arc<RouteTable>,
    pub engine: Arc<Engine>,
    pub classifier: Arc<Classifier>,
    pub upstream: UpstreamClient,
    pub limits: BodyLimits,
    /// The review queue; without one (tools, tests) a hold is refused like a
    /// block rather than forwarded unreviewed.
    pub hold: Option<Arc<HoldQueue>>,
    /// Where decision lines are written.
    pub decision_log: DecisionLog,
    /// The decision audit log.
    pub audit: Option<AuditLog>,
    pub metrics: Arc<Metrics>,
    /// The optional number-intelligence lookup (`[lookup]` in the policy).
    pub lookup: Option<Arc<crate::lookup::Lookup>>,
}

impl Pipeline {
    /// Handles one request, start to finish. Never fails: every error becomes
    /// an answer (provider-shaped where the provider would have answered).
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ProxyBody> {
        let started = Instant::now();
        let now = Timestamp::now();
        let (parts, body) = req.into_parts();
        // Path variables borrow from this copy of the URI (a reference
        // count, not a copy of the text) while `parts` moves on.
        let uri = parts.uri.clone();
        // Heads refused whatever their route.
        if header_bytes(&parts.headers) > MAX_HEADER_BYTES {
            return body::bytes_response(neutral_error(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                &format!("the request headers are over {MAX_HEADER_BYTES} bytes"),
            ));
        }
        if let Some(name) = framing_lookalike(&parts.headers) {
            return body::bytes_response(neutral_error(
                StatusCode::BAD_REQUEST,
                "ambiguous_header",
                &format!("the header `{name}` reads as a framing header to some upstreams"),
            ));
        }
        // Phase: route. The other kinds' futures are boxed: this future is
        // as large as its largest branch and is moved whole per request,
        // so the send's path should not carry the others' weight.
        match self.routes.resolve(&parts.method, uri.path()) {
            Matched::Send { route, vars } => {
                send::handle(self, route, &vars, parts, body, now, started).await
            }
            Matched::Status { route, id } => {
                let id = id.to_owned();
                Box::pin(status::handle(self, route, id, parts, body)).await
            }
            Matched::Feedback { route } => {
                Box::pin(feedback::handle(self, route, parts, body, now)).await
            }
            Matched::Passthrough { upstream, .. } => {
                Box::pin(forward::streaming(self, upstream, parts, body)).await
            }
            Matched::NotCanonical(problem) => body::bytes_response(neutral_error(
                StatusCode::BAD_REQUEST,
                "non_canonical_path",
                &format!("the request path has {problem}; write it as the provider's API does"),
            )),
            Matched::Unknown => body::bytes_response(neutral_error(
                StatusCode::NOT_FOUND,
                "unknown_route",
                "no route file claims this path; see `tollgate check` for the routes served",
            )),
        }
    }
}

/// Bytes of header names and values, as they would be forwarded.
fn header_bytes(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum()
}

/// A header whose name, with `_` read as `-`, is a framing or routing
/// header (`Transfer_Encoding`). CGI-style upstream stacks map both to the
/// same variable, so forwarding it beside tollgate's own framing could
/// smuggle a second request onto a pooled upstream connection.
fn framing_lookalike(headers: &http::HeaderMap) -> Option<&str> {
    const FRAMING: [&str; 4] = ["content-length", "transfer-encoding", "host", "connection"];
    headers.keys().map(|k| k.as_str()).find(|name| {
        name.contains('_')
            && FRAMING.iter().any(|f| {
                f.len() == name.len()
                    && f.bytes()
                        .zip(name.bytes())
                        .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
            })
    })
}
