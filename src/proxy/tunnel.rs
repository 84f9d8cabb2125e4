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

/// What an open tunnel holds, so tunnels count against `server.max_connections` and, like the
/// connection they were upgraded from, against their client's `max_connections_per_client`.
#[derive(Debug)]
pub struct TunnelSlot {
    _connection: tokio::sync::OwnedSemaphorePermit,
    _client: Option<Arc<crate::server::per_client::ClientSlot>>,
}

impl TunnelSlot {
    /// A slot from the connection permits, and the client's own slot (none for a trusted proxy).
    pub(crate) fn new(
        connection: tokio::sync::OwnedSemaphorePermit,
        client: Option<Arc<crate::server::per_client::ClientSlot>>,
    ) -> TunnelSlot {
        TunnelSlot {
            _connection: connection,
            _client: client,
        }
    }
}

/// Pumps bytes both ways until either side closes, nothing moves for `idle`, or `max_life` (if
/// any) has passed. `slot` is held for the tunnel's life.
pub async fn pump<A, B>(
    client: A,
    upstream: B,
    idle: Duration,
    max_life: Option<Duration>,
    slot: Option<TunnelSlot>,
) where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let _slot = slot;
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
