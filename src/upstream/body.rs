//! An upstream answer's body: whole when it came with its head, read on
//! from its HTTP/1.1 connection (handed back to the pool at its end) or
//! from its h2 stream otherwise, and ended in an error if the upstream
//! takes longer than its deadline to finish it.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::h1::{Connection, Framing};
use super::HostPool;

/// A chunk-size or trailer line may not be longer than this.
const MAX_LINE: usize = 4096;

/// An upstream answer's body.
pub struct UpstreamBody {
    source: Source,
    /// The body must have ended by then: an upstream that sends its head
    /// and then stalls or trickles must not hold the client (or a held
    /// send's release) for ever.
    due: tokio::time::Instant,
    /// Armed the first time the body is not ready (most answers arrive
    /// with their head, and never need one).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    limit: Duration,
}

enum Source {
    /// All of it in hand (`None` once given out, or for no body at all).
    Whole(Option<Bytes>),
    /// Still arriving on its HTTP/1.1 connection.
    H1(Box<Reading>),
    H2(Incoming),
}

/// The rest of a body on its connection.
struct Reading {
    conn: Connection,
    rest: Rest,
    /// Where the connection goes back at the body's end, when it stays in
    /// step with the upstream.
    pool: Option<Arc<HostPool>>,
}

/// What is still to be read.
#[derive(Clone, Copy)]
enum Rest {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    Trailers,
    Close,
}

/// Why an upstream answer's body ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the upstream's answer broke off: {0}")]
    Broken(String),
    #[error("the upstream's answer did not end within {0:?} of its head")]
    TooSlow(Duration),
}

impl From<hyper::Error> for BodyError {
    fn from(e: hyper::Error) -> BodyError {
        BodyError::Broken(e.to_string())
    }
}

impl UpstreamBody {
    fn with(source: Source, limit: Duration) -> UpstreamBody {
        UpstreamBody {
            source,
            due: tokio::time::Instant::now() + limit,
            timer: None,
            limit,
        }
    }

    pub(super) fn h2(inner: Incoming, limit: Duration) -> UpstreamBody {
        UpstreamBody::with(Source::H2(inner), limit)
    }

    /// The body of an HTTP/1.1 answer framed as `framing`, from what
    /// follows its head on `conn`. A body already whole in the buffer is
    /// taken at once, and the connection goes back to `pool` (when given)
    /// before the answer is handed on.
    pub(super) fn h1(
        mut conn: Connection,
        framing: Framing,
        pool: Option<Arc<HostPool>>,
        limit: Duration,
    ) -> UpstreamBody {
        if let Framing::Length(n) = framing {
            if conn.buffered().len() as u64 >= n {
                let body = (n > 0).then(|| conn.take(n as usize));
                if let Some(pool) = pool {
                    pool.give_back(conn);
                }
                return UpstreamBody::with(Source::Whole(body), limit);
            }
        }
        let rest = match framing {
            Framing::Length(n) => Rest::Length(n),
            Framing::Chunked => Rest::ChunkSize,
            Framing::Close => Rest::Close,
        };
        UpstreamBody::with(Source::H1(Box::new(Reading { conn, rest, pool })), limit)
    }

    /// The body on its connection is over: read to its end (`in_step`),
    /// and the connection goes back to the pool if it stays in step, or
    /// broken off, and the connection is closed.
    fn finish(&mut self, in_step: bool) {
        if let Source::H1(done) = std::mem::replace(&mut self.source, Source::Whole(None)) {
            let Reading { conn, pool, .. } = *done;
            if let (true, Some(pool)) = (in_step, pool) {
                pool.give_back(conn);
            }
        }
    }
}

/// What one step of reading a body gave.
enum Step {
    Data(Bytes),
    /// The body's end.
    End,
    /// Read more first.
    More,
}

impl Reading {
    /// Takes the next piece out of the buffer, or says what it needs.
    fn step(&mut self) -> Result<Step, String> {
        loop {
            let have = self.conn.buffered();
            match self.rest {
                Rest::Length(0) => return Ok(Step::End),
                Rest::Length(n) | Rest::ChunkData(n) => {
                    if have.is_empty() {
                        return Ok(Step::More);
                    }
                    let k = (have.len() as u64).min(n);
                    let data = self.conn.take(k as usize);
                    self.rest = match self.rest {
                        Rest::Length(_) => Rest::Length(n - k),
                        _ if k == n => Rest::ChunkEnd,
                        _ => Rest::ChunkData(n - k),
                    };
                    return Ok(Step::Data(data));
                }
                Rest::ChunkEnd => {
                    if have.len() < 2 {
                        return Ok(Step::More);
                    }
                    if &have[..2] != b"\r\n" {
                        return Err("a chunk without its CRLF".into());
                    }
                    self.conn.skip(2);
                    self.rest = Rest::ChunkSize;
                }
                Rest::ChunkSize | Rest::Trailers => {
                    let Some(eol) = have.windows(2).position(|w| w == b"\r\n") else {
                        if have.len() > MAX_LINE {
                            return Err("a chunk line too long".into());
                        }
                        return Ok(Step::More);
                    };
                    let line = &have[..eol];
                    if let Rest::Trailers = self.rest {
                        // Trailers are not passed on; their end is the body's.
                        let last = line.is_empty();
                        self.conn.skip(eol + 2);
                        if last {
                            return Ok(Step::End);
                        }
                        continue;
                    }
                    let size = line.split(|&b| b == b';').next().unwrap_or(b"");
                    let size = std::str::from_utf8(size)
                        .ok()
                        .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                        .ok_or_else(|| "an invalid chunk size".to_owned())?;
                    self.conn.skip(eol + 2);
                    self.rest = if size == 0 {
                        Rest::Trailers
                    } else {
                        Rest::ChunkData(size)
                    };
                }
                Rest::Close => {
                    if have.is_empty() {
                        return Ok(Step::More);
                    }
                    let n = have.len();
                    return Ok(Step::Data(self.conn.take(n)));
                }
            }
        }
    }

    /// The next piece of the body (`None` at its end), reading from the
    /// connection as needed.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, String>> {
        loop {
            match self.step()? {
                Step::Data(b) => return Poll::Ready(Ok(Some(b))),
                Step::End => return Poll::Ready(Ok(None)),
                Step::More => {}
            }
            match std::task::ready!(self.conn.poll_fill(cx)) {
                // A close-delimited body ends at the close, and so does the
                // connection.
                Ok(0) if matches!(self.rest, Rest::Close) => {
                    self.pool = None;
                    return Poll::Ready(Ok(None));
                }
                Ok(0) => return Poll::Ready(Err("connection closed before the body's end".into())),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(e.to_string())),
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let polled = match &mut this.source {
            Source::Whole(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Source::H2(inner) => Pin::new(inner)
                .poll_frame(cx)
                .map(|o| o.map(|r| r.map_err(BodyError::from))),
            Source::H1(reading) => match reading.poll_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(next) => {
                    // After the last piece of a sized body the connection
                    // goes back at once: the reader may never ask again.
                    let sized_end = matches!(reading.rest, Rest::Length(0));
                    match next {
                        Ok(Some(b)) => {
                            if sized_end {
                                this.finish(true);
                            }
                            Poll::Ready(Some(Ok(Frame::data(b))))
                        }
                        Ok(None) => {
                            this.finish(true);
                            Poll::Ready(None)
                        }
                        Err(e) => {
                            this.finish(false);
                            Poll::Ready(Some(Err(BodyError::Broken(e))))
                        }
                    }
                }
            },
        };
        if polled.is_ready() {
            return polled;
        }
        let due = this.due;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if timer.as_mut().poll(cx).is_ready() {
            // A connection in the middle of an answer is not reused.
            this.finish(false);
            return Poll::Ready(Some(Err(BodyError::TooSlow(this.limit))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Whole(body) => body.is_none(),
            Source::H1(_) => false,
            Source::H2(inner) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Whole(body) => {
                SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64))
            }
            Source::H1(reading) => match reading.rest {
                Rest::Length(n) => SizeHint::with_exact(n),
                _ => SizeHint::default(),
            },
            Source::H2(inner) => inner.size_hint(),
        }
    }
}
