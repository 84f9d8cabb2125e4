//! Upgraded connections (WebSocket): a byte pump between client and upstream that closes after a
//! period without traffic in either direction and holds a connection permit while it lives.
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::clock::now_ms;

/// Records the time of the last successful read.
struct Activity<T> {
    inner: T,
    last: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.last.store(now_ms(), Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves after `max_life`, or never.
async fn lifetime(max_life: Option<Duration>) {
    match max_life {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Pumps bytes both ways until either side closes, nothing moves for `idle`, or `max_life` (if
/// any) has passed. `permit` is held for the tunnel's life so tunnels count against
/// `server.max_connections`.
pub async fn pump<A, B>(
    client: A,
    upstream: B,
    idle: Duration,
    max_life: Option<Duration>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let _permit = permit;
    let last = Arc::new(AtomicU64::new(now_ms()));
    let mut c = Activity {
        inner: client,
        last: last.clone(),
    };
    let mut s = Activity {
        inner: upstream,
        last: last.clone(),
    };
    let idle_ms = idle.as_millis() as u64;
    let tick = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    let watchdog = async {
        loop {
            tokio::time::sleep(tick).await;
            if now_ms().saturating_sub(last.load(Ordering::Relaxed)) >= idle_ms {
                return;
            }
        }
    };
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut c, &mut s) => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "upgraded connection ended with an error");
            }
        }
        _ = watchdog => tracing::info!(idle = ?idle, "upgraded connection closed after no traffic"),
        _ = lifetime(max_life) => tracing::info!(after = ?max_life, "upgraded connection closed: the session it was opened with is due to be checked again"),
    }
}
