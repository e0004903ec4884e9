//! An upstream answer's body: streams like hyper's, hands its HTTP/1.1
//! connection back to the pool once read to the end, and ends in an error
//! if the upstream takes longer than its deadline to finish it.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::PoolReturn;

/// An upstream answer's body. Streams like hyper's; once it has been read
/// to its end, its HTTP/1.1 connection goes back to the pool.
pub struct UpstreamBody {
    inner: Incoming,
    back: Option<PoolReturn>,
    /// The body must have ended by then: an upstream that sends its head
    /// and then stalls or trickles must not hold the client (or a held
    /// send's release) for ever.
    due: tokio::time::Instant,
    /// Armed the first time the body is not ready (most answers arrive
    /// with their head, and never need one).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    limit: Duration,
}

impl UpstreamBody {
    pub(super) fn new(inner: Incoming, back: Option<PoolReturn>, limit: Duration) -> UpstreamBody {
        UpstreamBody {
            inner,
            back,
            due: tokio::time::Instant::now() + limit,
            timer: None,
            limit,
        }
    }
}

/// Why an upstream answer's body ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the upstream's answer broke off: {0}")]
    Broken(#[from] hyper::Error),
    #[error("the upstream's answer did not end within {0:?} of its head")]
    TooSlow(Duration),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            // A broken body: the connection is not reused.
            Poll::Ready(Some(Err(_))) => {
                this.back = None;
                false
            }
            Poll::Pending => {
                let due = this.due;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if timer.as_mut().poll(cx).is_ready() {
                    this.back = None;
                    return Poll::Ready(Some(Err(BodyError::TooSlow(this.limit))));
                }
                false
            }
        };
        if ended {
            if let Some(back) = this.back.take() {
                back.give_back();
            }
        }
        polled.map(|o| o.map(|r| r.map_err(BodyError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
