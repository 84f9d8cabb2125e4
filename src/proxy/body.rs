//! A request body that fails when the client goes silent for too long between chunks, so a
//! slow-drip upload cannot hold a connection (and an upstream request) open forever.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;

use crate::http::BoxError;

/// The client stopped sending its request body.
#[derive(Debug, thiserror::Error)]
#[error("request body stalled for more than {0:?}")]
pub struct BodyStalled(pub Duration);

/// [`Incoming`] with a per-chunk inactivity deadline.
pub struct Deadline {
    inner: Incoming,
    gap: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    /// Wraps `inner`; each chunk must arrive within `gap` of the previous one.
    pub fn new(inner: Incoming, gap: Duration) -> Self {
        Deadline {
            inner,
            gap,
            sleep: Box::pin(tokio::time::sleep(gap)),
        }
    }
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                let gap = self.gap;
                self.sleep.as_mut().reset(tokio::time::Instant::now() + gap);
                Poll::Ready(r.map(|f| f.map_err(|e| Box::new(e) as BoxError)))
            }
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::warn!(gap = ?self.gap, "request body stalled; aborting the request");
                    Poll::Ready(Some(Err(Box::new(BodyStalled(self.gap)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
