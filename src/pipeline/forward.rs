//! Phase: forward. Sends a request to its upstream exactly once and streams
//! the answer back, changing only what a proxy must: hop-by-hop headers,
//! `Host` (the upstream's, never the client's) and tollgate's own
//! `X-Tollgate-*` context headers, which are stripped.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    HeaderName, CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::bytes_response;
use super::Pipeline;
use crate::dialect::neutral_error;
use crate::route::Upstream;
use crate::upstream::{BoxError, ProxyBody, UpstreamBody, UpstreamError};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
/// Names, not strings: removing by `&str` parses the name every time.
static HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// The prefix of the optional client-context headers a platform may add for
/// scoring; they are for tollgate only and never reach the aggregator.
pub const CONTEXT_PREFIX: &str = "x-tollgate-";

/// The client-context headers scoring reads.
const CLIENT_IP: HeaderName = HeaderName::from_static("x-tollgate-client-ip");
const DEVICE: HeaderName = HeaderName::from_static("x-tollgate-device");
const SESSION: HeaderName = HeaderName::from_static("x-tollgate-session");

/// Which of [`HOP_BY_HOP`] `name` is, if any. Compared one by one with the
/// standard names (a tag comparison each): searching an array of names
/// compared them in full, and a `const` array was built and dropped for
/// every header looked at.
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    if name == CONNECTION {
        Some(0)
    } else if name == PROXY_AUTHENTICATE {
        Some(2)
    } else if name == PROXY_AUTHORIZATION {
        Some(3)
    } else if name == TE {
        Some(4)
    } else if name == TRAILER {
        Some(5)
    } else if name == TRANSFER_ENCODING {
        Some(6)
    } else if name == UPGRADE {
        Some(7)
    } else if name == HOP_BY_HOP[1] {
        // `keep-alive`, not a standard name: compared by kind first, where
        // `as_str()` would print every standard name to compare it.
        Some(1)
    } else {
        None
    }
}

/// Removes hop-by-hop headers, including those named by `Connection`.
///
/// One pass notes which are present, and only those are removed (each
/// removal hashes its name). The options `Connection` names are removed
/// by their text, without building a `HeaderName` (an allocation for every
/// non-standard name, such as the everyday `keep-alive`).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut present = 0u8;
    for name in headers.keys() {
        if let Some(i) = hop_by_hop_index(name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        // Header values share the message's buffer: these are reference
        // counts, not copies. Nearly always there is one `Connection`.
        let mut values = headers.get_all(CONNECTION).iter();
        let first = values.next().cloned();
        let rest: Vec<HeaderValue> = values.cloned().collect();
        for value in first.iter().chain(&rest) {
            let Ok(text) = value.to_str() else { continue };
            for option in text.split(',').map(str::trim) {
                // `keep-alive` is removed below with the rest of the list.
                if !option.is_empty() && !option.eq_ignore_ascii_case("keep-alive") {
                    headers.remove(option);
                }
            }
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

/// Request headers as the upstream should see them.
pub fn upstream_headers(mut headers: HeaderMap) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    headers.remove(HOST);
    if has_context(&headers) {
        let context: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with(CONTEXT_PREFIX))
            .cloned()
            .collect();
        for k in context {
            headers.remove(k);
        }
    }
    headers
}

/// The upstream URI for a request: the upstream's scheme and authority (and
/// path prefix, if any) with the request's path and query.
fn upstream_uri(upstream: &Upstream, uri: &Uri) -> Result<Uri, http::Error> {
    match uri.path_and_query() {
        // The common case, an upstream without a path prefix: reuse the
        // request's already-validated path and query instead of printing
        // and re-parsing them.
        Some(pq) if upstream.base.path().trim_end_matches('/').is_empty() => {
            let mut parts = http::uri::Parts::default();
            parts.scheme = upstream.base.scheme().cloned();
            parts.authority = upstream.base.authority().cloned();
            parts.path_and_query = Some(pq.clone());
            Ok(Uri::from_parts(parts)?)
        }
        pq => upstream.uri_for(pq.map_or("/", |p| p.as_str())),
    }
}

/// Builds the upstream request from the client's parts and a body.
fn upstream_request(
    upstream: &Upstream,
    parts: Parts,
    body: ProxyBody,
) -> Result<Request<ProxyBody>, http::Error> {
    let mut req = Request::new(body);
    *req.uri_mut() = upstream_uri(upstream, &parts.uri)?;
    *req.method_mut() = parts.method;
    // The upstream connection's protocol is negotiated separately.
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = upstream_headers(parts.headers);
    Ok(req)
}

/// The upstream's answer as the client gets it: unchanged but for
/// hop-by-hop headers. A body that breaks off or stalls ends the client's
/// answer truncated (never complete), and is logged and counted.
fn client_response(
    p: &Pipeline,
    upstream: &Upstream,
    resp: Response<UpstreamBody>,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.version = Version::HTTP_11;
    let metrics = p.metrics.clone();
    let name = upstream.name.clone();
    let body = body.map_err(move |e| -> BoxError {
        tracing::warn!(upstream = %name, error = %e, "upstream answer cut short");
        metrics.upstream_error(&name, "body");
        Box::new(e)
    });
    Response::from_parts(parts, body.boxed())
}

pub fn upstream_failure(upstream: &Upstream, e: &UpstreamError) -> Response<ProxyBody> {
    let (status, code) = match e {
        UpstreamError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
        UpstreamError::Unavailable(_) => (StatusCode::BAD_GATEWAY, "upstream_unavailable"),
    };
    tracing::warn!(upstream = %upstream.name, error = %e, status = status.as_u16(), "upstream failure");
    bytes_response(neutral_error(status, code, &e.to_string()))
}

fn bad_request_uri(e: &http::Error) -> Response<ProxyBody> {
    bytes_response(neutral_error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        &e.to_string(),
    ))
}

/// Passthrough: the body streams both ways, never buffered.
pub async fn streaming(
    p: &Pipeline,
    upstream: &Arc<Upstream>,
    parts: Parts,
    body: Incoming,
) -> Response<ProxyBody> {
    forward(
        p,
        upstream,
        parts,
        body.map_err(|e| -> BoxError { Box::new(e) }).boxed(),
    )
    .await
}

/// Sends once and streams the answer back.
async fn forward(
    p: &Pipeline,
    upstream: &Upstream,
    parts: Parts,
    body: ProxyBody,
) -> Response<ProxyBody> {
    match upstream_request(upstream, parts, body) {
        Err(e) => bad_request_uri(&e),
        Ok(req) => match send(p, upstream, req).await {
            Ok(resp) => client_response(p, upstream, resp),
            Err(e) => upstream_failure(upstream, &e),
        },
    }
}

/// One upstream call, measured.
async fn send(
    p: &Pipeline,
    upstream: &Upstream,
    req: Request<ProxyBody>,
) -> Result<Response<UpstreamBody>, UpstreamError> {
    let started = std::time::Instant::now();
    let result = p.upstream.send(req).await;
    match &result {
        Ok(_) => p.metrics.upstream(&upstream.name, started.elapsed()),
        Err(UpstreamError::Timeout(_)) => p.metrics.upstream_error(&upstream.name, "timeout"),
        Err(UpstreamError::Unavailable(_)) => {
            p.metrics.upstream_error(&upstream.name, "unavailable")
        }
    }
    result
}

/// A buffered request (sends, feedback), answer streamed back.
pub async fn buffered(
    p: &Pipeline,
    upstream: &Upstream,
    parts: Parts,
    body: Bytes,
) -> Response<ProxyBody> {
    forward(p, upstream, parts, crate::upstream::full(body)).await
}

/// A buffered request whose answer is also read whole (feedback endpoints,
/// rewritten sends), limited to `limit` bytes.
pub async fn buffered_read(
    p: &Pipeline,
    upstream: &Upstream,
    parts: Parts,
    body: Bytes,
    limit: usize,
) -> Result<(http::response::Parts, Bytes), Response<ProxyBody>> {
    let req = upstream_request(upstream, parts, crate::upstream::full(body))
        .map_err(|e| bad_request_uri(&e))?;
    let resp = p
        .upstream
        .send(req)
        .await
        .map_err(|e| upstream_failure(upstream, &e))?;
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.version = Version::HTTP_11;
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            upstream_failure(
                upstream,
                &UpstreamError::Unavailable(format!("reading the answer: {e}")),
            )
        })?
        .to_bytes();
    Ok((parts, bytes))
}

/// Whether any client-context header (`X-Tollgate-*`) is present.
fn has_context(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|k| k.as_str().starts_with(CONTEXT_PREFIX))
}

/// The client context scoring reads: `(client_ip, device, session)`. Most
/// sends carry none: one pass over the names spares three hashed look-ups.
pub fn client_context(headers: &HeaderMap) -> (Option<&str>, Option<&str>, Option<&str>) {
    if !has_context(headers) {
        return (None, None, None);
    }
    (
        context_header(headers, CLIENT_IP),
        context_header(headers, DEVICE),
        context_header(headers, SESSION),
    )
}

/// A client-context header (`X-Tollgate-<name>`), if present.
fn context_header(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hop_by_hop_check_is_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(i), "{name}");
        }
        for name in [
            HOST,
            http::header::CONTENT_TYPE,
            HeaderName::from_static("x-keep-alive"),
        ] {
            assert_eq!(hop_by_hop_index(&name), None, "{name}");
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, X-Foo , close"),
        );
        h.append(CONNECTION, HeaderValue::from_static("x-bar"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-foo", HeaderValue::from_static("1"));
        h.insert("x-bar", HeaderValue::from_static("2"));
        h.insert("close", HeaderValue::from_static("3"));
        h.insert(TE, HeaderValue::from_static("trailers"));
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("a/b"));
        h.insert("x-kept", HeaderValue::from_static("4"));
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-kept"]);
        let mut h = HeaderMap::new();
        h.insert("x-kept", HeaderValue::from_static("4"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
    }
}
