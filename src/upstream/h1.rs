//! HTTP/1.1 to an upstream, written and read by the task of the request.
//!
//! hyper's client connection is a task of its own: a request crossed to it
//! through a channel, its answer came back through another and its body
//! through a third, two extra task polls per send (13.6 k instructions of
//! the 77 k a proxied send cost, by callgrind). Here the request's own task
//! writes the request and parses the answer's head; an answer whose body
//! came with its head (nearly every aggregator answer) is whole before the
//! response is returned, and its connection is back in the pool by then.
//!
//! What this reads follows RFC 9112 §6: no body for `HEAD`, 1xx, 204 and
//! 304; `Transfer-Encoding` (chunked last) before `Content-Length`, and a
//! message with both is not trusted to leave the connection in step; a
//! length-less answer runs to the close. Interim 1xx answers are skipped.

use std::io::{self, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::either::Either;

use super::{ProxyBody, UpstreamError};

/// An answer's head may not be longer than this.
const MAX_HEAD: usize = 64 * 1024;
/// Headers an answer may carry (hyper's limit).
const MAX_HEADERS: usize = 100;
/// Read in steps of at least this much.
const READ_STEP: usize = 8 * 1024;

/// The byte stream under a connection: plain TCP (left) or TLS over it.
pub(super) type Io = Either<TcpStream, Box<tokio_rustls::client::TlsStream<TcpStream>>>;

/// One HTTP/1.1 connection and what has been read from it but not yet
/// consumed.
pub(super) struct Connection {
    io: Io,
    buf: BytesMut,
}

/// An exchange that failed: the upstream is unavailable, in words for the
/// log and the 502.
fn unavailable(what: &str, e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(format!("{what}: {e}"))
}

/// How the rest of an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// This many bytes still to come.
    Length(u64),
    Chunked,
    /// Until the upstream closes.
    Close,
}

/// An answer's head, and what its body will take.
pub(super) struct Head {
    pub response: Response<()>,
    pub framing: Framing,
    /// Whether the connection can carry another request once the body is
    /// read to its end.
    pub reusable: bool,
}

impl Connection {
    pub fn new(io: Io) -> Connection {
        Connection {
            io,
            buf: BytesMut::new(),
        }
    }

    /// Whether an idle connection can carry a request: nothing arrived on
    /// it while it waited (neither a close nor bytes nobody asked for; the
    /// pool takes back only connections with nothing buffered). The one
    /// way a request is ever re-issued is on a connection this turned
    /// down, before a byte of it was written.
    pub fn is_idle_and_open(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut probe = [0u8; 1];
        let mut rb = ReadBuf::new(&mut probe);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut rb),
            Poll::Pending
        )
    }

    /// Writes the request: its head with `host` unless the headers carry
    /// one, framed by the body's exact size when it is known (chunked
    /// otherwise), then its body. A body whose first frame is all of it
    /// (every buffered send) goes out with its head in one write.
    pub async fn write_request(
        &mut self,
        method: &Method,
        target: &str,
        host: &HeaderValue,
        headers: &HeaderMap,
        mut body: ProxyBody,
    ) -> Result<(), UpstreamError> {
        let exact = hyper::body::Body::size_hint(&body).exact();
        let mut out = Vec::with_capacity(256 + exact.unwrap_or(0).min(64 * 1024) as usize);
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !headers.contains_key(http::header::HOST) {
            push_header(&mut out, b"host", host.as_bytes());
        }
        for (name, value) in headers {
            if name != CONTENT_LENGTH && name != TRANSFER_ENCODING {
                push_header(&mut out, name.as_str().as_bytes(), value.as_bytes());
            }
        }
        let chunked = match exact {
            // Methods without a body semantics carry no `Content-Length: 0`,
            // as hyper's client wrote them.
            Some(0) if !carries_body(method) => false,
            Some(n) => {
                // Into the head buffer: no String per send.
                let _ = write!(out, "content-length: {n}\r\n");
                false
            }
            None => {
                push_header(&mut out, b"transfer-encoding", b"chunked");
                true
            }
        };
        out.extend_from_slice(b"\r\n");
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| unavailable("reading the request body", e))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            if chunked {
                let _ = write!(out, "{:x}\r\n", data.len());
            }
            out.extend_from_slice(&data);
            if chunked {
                out.extend_from_slice(b"\r\n");
            }
            if !hyper::body::Body::is_end_stream(&body) {
                self.write_all(&out).await?;
                out.clear();
            }
        }
        if chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        self.write_all(&out).await?;
        self.io
            .flush()
            .await
            .map_err(|e| unavailable("writing the request", e))
    }

    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), UpstreamError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.io
            .write_all(bytes)
            .await
            .map_err(|e| unavailable("writing the request", e))
    }

    /// Reads the answer's head (interim 1xx answers skipped) to a request
    /// made with `method`.
    pub async fn read_head(&mut self, method: &Method) -> Result<Head, UpstreamError> {
        loop {
            if let Some(head) = parse_head(&mut self.buf, method)? {
                return Ok(head);
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(unavailable("reading the answer", "its head is too long"));
            }
            let n = std::future::poll_fn(|cx| self.poll_fill(cx))
                .await
                .map_err(|e| unavailable("reading the answer", e))?;
            if n == 0 {
                return Err(unavailable(
                    "reading the answer",
                    "connection closed before an answer was complete",
                ));
            }
        }
    }

    /// Reads more into the buffer: `Ok(0)` at the upstream's close.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_STEP / 2 {
            self.buf.reserve(READ_STEP);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    pub fn take(&mut self, n: usize) -> Bytes {
        self.buf.split_to(n).freeze()
    }

    pub fn skip(&mut self, n: usize) {
        let _ = self.buf.split_to(n);
    }
}

/// The head at the front of `buf`, consumed, once it is whole (interim
/// 1xx answers consumed and skipped).
fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, UpstreamError> {
    loop {
        let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let parser = httparse::ParserConfig::default();
        let len = match parser.parse_response_with_uninit_headers(&mut parsed, buf, &mut slots) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(unavailable("the answer is not HTTP", e)),
        };
        let code = parsed.code.unwrap_or(0);
        if (100..200).contains(&code) {
            if code == 101 {
                return Err(unavailable(
                    "the answer",
                    "switching protocols was not asked for",
                ));
            }
            let _ = buf.split_to(len);
            continue;
        }
        let status =
            StatusCode::from_u16(code).map_err(|e| unavailable("the answer's status", e))?;
        let version = if parsed.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        // Where each name and value sits in the head, so that the values
        // can share the head's buffer once it is split off (reference
        // counts, not copies) after the parser's borrow of it ends.
        let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
        let count = parsed.headers.len();
        let base = buf.as_ptr() as usize;
        for (span, h) in spans.iter_mut().zip(parsed.headers.iter()) {
            let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
            *span = (
                at(h.name.as_bytes()),
                h.name.len() as u32,
                at(h.value),
                h.value.len() as u32,
            );
        }
        let raw = buf.split_to(len).freeze();
        let mut headers = HeaderMap::with_capacity(count);
        for &(name_at, name_len, value_at, value_len) in &spans[..count] {
            let (name_at, value_at) = (name_at as usize, value_at as usize);
            let name = HeaderName::from_bytes(&raw[name_at..name_at + name_len as usize])
                .map_err(|e| unavailable("an answer header", e))?;
            let value = raw.slice(value_at..value_at + value_len as usize);
            // SAFETY: httparse accepted these bytes as a field value (no
            // control characters but tab), which is what a `HeaderValue`
            // holds; hyper builds its values the same way.
            let value = unsafe { HeaderValue::from_maybe_shared_unchecked(value) };
            headers.append(name, value);
        }
        let (framing, reusable) = framing(method, status, &mut headers)?;
        let reusable = reusable && keeps_alive(version, &headers);
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.version_mut() = version;
        *response.headers_mut() = headers;
        return Ok(Some(Head {
            response,
            framing,
            reusable,
        }));
    }
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn carries_body(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// How the body of an answer to `method` with `status` is delimited
/// (RFC 9112 §6.3), and whether the connection stays in step after it.
/// A chunked answer's `Content-Length` is removed, as a forwarder must.
fn framing(
    method: &Method,
    status: StatusCode,
    headers: &mut HeaderMap,
) -> Result<(Framing, bool), UpstreamError> {
    if *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Framing::Length(0), true));
    }
    if headers.contains_key(TRANSFER_ENCODING) {
        let chunked_last = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .last()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        // Both headers: the sender is not trusted to frame the next answer.
        let both = headers.remove(CONTENT_LENGTH).is_some();
        return Ok(if chunked_last {
            (Framing::Chunked, !both)
        } else {
            (Framing::Close, false)
        });
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.to_str().unwrap_or("x").split(',') {
            let n: u64 = part
                .trim()
                .parse()
                .map_err(|_| unavailable("the answer", "an invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(unavailable(
                    "the answer",
                    "conflicting Content-Length values",
                ));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(n) => (Framing::Length(n), true),
        None => (Framing::Close, false),
    })
}

/// Whether the upstream keeps the connection open after this answer.
fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let mut close = version == Version::HTTP_10;
    for value in headers.get_all(CONNECTION) {
        for option in value.to_str().unwrap_or("").split(',').map(str::trim) {
            if option.eq_ignore_ascii_case("close") {
                return false;
            }
            if option.eq_ignore_ascii_case("keep-alive") {
                close = false;
            }
        }
    }
    !close
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str, method: Method) -> Result<Option<(Head, Vec<u8>)>, UpstreamError> {
        let mut buf = BytesMut::from(text.as_bytes());
        parse_head(&mut buf, &method).map(|h| h.map(|h| (h, buf.to_vec())))
    }

    #[test]
    fn a_length_delimited_answer_keeps_its_body_in_the_buffer() {
        let (h, rest) = head(
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            Method::POST,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.response.status(), 201);
        assert_eq!(h.framing, Framing::Length(2));
        assert!(h.reusable);
        assert_eq!(h.response.headers()["content-type"], "application/json");
        assert_eq!(rest, b"{}");
    }

    #[test]
    fn interim_answers_are_skipped_and_a_partial_head_waits() {
        let (h, _) = head(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Method::POST,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.response.status(), 200);
        assert!(head("HTTP/1.1 200 OK\r\nContent-Len", Method::GET)
            .unwrap()
            .is_none());
    }

    #[test]
    fn chunked_wins_over_a_length_and_the_connection_is_not_reused() {
        let (h, _) = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::POST,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!h.reusable);
        assert!(h.response.headers().get(CONTENT_LENGTH).is_none());
    }

    #[test]
    fn bodiless_answers_length_less_answers_and_closes() {
        let ok = |t: &str, m| head(t, m).unwrap().unwrap().0;
        assert_eq!(
            ok("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", Method::HEAD).framing,
            Framing::Length(0)
        );
        assert_eq!(
            ok("HTTP/1.1 204 No Content\r\n\r\n", Method::DELETE).framing,
            Framing::Length(0)
        );
        let h = ok("HTTP/1.1 200 OK\r\n\r\n", Method::GET);
        assert_eq!((h.framing, h.reusable), (Framing::Close, false));
        let h = ok(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            Method::GET,
        );
        assert!(!h.reusable);
        let h = ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Method::GET);
        assert!(!h.reusable);
        let h = ok(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            Method::GET,
        );
        assert!(h.reusable);
    }

    #[test]
    fn garbage_and_conflicting_lengths_are_errors() {
        assert!(head("SSH-2.0-OpenSSH\r\n\r\n", Method::GET).is_err());
        assert!(head(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            Method::GET
        )
        .is_err());
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Method::GET).is_err());
        assert!(head("HTTP/1.1 101 Switching\r\n\r\n", Method::GET).is_err());
    }
}
