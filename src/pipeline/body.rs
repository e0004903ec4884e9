//! Phase: read. Bounded, timed reads of request bodies, and body helpers.

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;

use crate::upstream::{BoxError, ProxyBody};

#[derive(Debug)]
pub enum ReadError {
    /// Larger than the limit (declared or actual).
    TooLarge,
    /// The client did not finish sending in time.
    Timeout,
    /// The connection failed mid-body.
    Io(String),
}

/// Reads a whole body, refusing more than `limit` bytes and giving up after
/// `timeout`: a slow client cannot hold a send (or tollgate's memory) open.
pub async fn read(
    body: Incoming,
    declared_len: Option<u64>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ReadError> {
    if declared_len.is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(ReadError::Timeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ReadError::TooLarge),
        Ok(Err(e)) => Err(ReadError::Io(e.to_string())),
    }
}

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| -> BoxError { match never {} })
        .boxed()
}

pub fn bytes_response(resp: Response<Bytes>) -> Response<ProxyBody> {
    resp.map(full)
}

/// The `Content-Length` a request declares, if any.
pub fn declared_len(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}
