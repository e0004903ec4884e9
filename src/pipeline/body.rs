//! Phase: read. Bounded, timed reads of request bodies, and body helpers.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use crate::dialect::neutral_error;
use crate::upstream::{full, ProxyBody};

/// Limits on reading a request body (`[limits] max_body_bytes` and
/// `body_read_timeout_ms` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest send body accepted, in bytes (413 in the provider's shape).
    pub max_body_bytes: usize,
    /// Time a client has to send a send's whole body.
    pub body_read_timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            max_body_bytes: 64 * 1024,
            body_read_timeout: Duration::from_millis(10_000),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Larger than the limit (declared or actual).
    #[error("the body is larger than the limit")]
    TooLarge,
    /// The client did not finish sending in time.
    #[error("the client did not send the body in time")]
    Timeout,
    /// The connection failed mid-body.
    #[error("the body could not be read: {0}")]
    Io(String),
}

impl ReadError {
    /// tollgate's own answer, in neutral JSON. (Send routes answer
    /// `TooLarge` in the provider's shape instead.)
    pub fn answer(&self) -> Response<ProxyBody> {
        let (status, code, message) = match self {
            ReadError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            ),
            ReadError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body was not received in time",
            ),
            ReadError::Io(_) => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request body could not be read",
            ),
        };
        bytes_response(neutral_error(status, code, message))
    }
}

/// Reads a whole body, refusing more than the body limit and giving up
/// after the body timeout: a slow client cannot hold a send (or tollgate's
/// memory) open. A declared `Content-Length` over the limit is refused
/// before reading anything.
///
/// A send's body nearly always arrives with its headers, so it is polled
/// once before the timer is armed: a body already read never pays for
/// reading the clock and registering (and cancelling) a timer.
pub async fn read(
    body: Incoming,
    headers: &HeaderMap,
    limits: &BodyLimits,
) -> Result<Bytes, ReadError> {
    let limit = limits.max_body_bytes;
    if declared_len(headers).is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut collect = std::pin::pin!(Limited::new(body, limit).collect());
    let first = std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await;
    let collected = match first {
        Poll::Ready(r) => r,
        Poll::Pending => match tokio::time::timeout(limits.body_read_timeout, collect).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(r) => r,
        },
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ReadError::TooLarge),
        Err(e) => Err(ReadError::Io(e.to_string())),
    }
}

/// A response from upstream parts whose body tollgate rewrote: the
/// `Content-Length` is the new body's.
pub fn rewritten(mut parts: http::response::Parts, body: Bytes) -> Response<ProxyBody> {
    parts.headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(body.len()),
    );
    Response::from_parts(parts, full(body))
}

pub fn bytes_response(resp: Response<Bytes>) -> Response<ProxyBody> {
    resp.map(full)
}

/// The `Content-Length` a request declares, if any.
fn declared_len(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}
