//! The client connection's I/O wrapper: replays bytes already read (the first request head)
//! before reading on, and gives up on a client that stops reading (`server.send_timeout`).
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The error a write fails with once the client has read nothing for `send_timeout`.
pub const SEND_TIMEOUT: &str = "client did not read the response in time (send_timeout)";

/// Replays `prefix` and then reads from `inner`; writes go straight to `inner`.
///
/// A write that cannot go out (the client's receive window is full) arms a timer the first time;
/// any write that goes out disarms it. If it fires first, writes fail with [`SEND_TIMEOUT`] and
/// the connection ends, releasing the response and its upstream exchange (a client that never
/// reads would otherwise hold them for ever: hyper has no write timeout). Writes that never wait
/// cost a branch; the timer is allocated on the first wait.
pub struct Prefixed<T> {
    prefix: Vec<u8>,
    pos: usize,
    inner: T,
    send_timeout: Duration,
    /// Armed while writes are waiting for the client.
    stalled: Option<Pin<Box<Sleep>>>,
    /// The timer is allocated once and re-armed after that.
    armed: bool,
}

impl<T> Prefixed<T> {
    /// Wraps `inner` with bytes to replay first.
    pub fn new(prefix: Vec<u8>, inner: T, send_timeout: Duration) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
            send_timeout,
            stalled: None,
            armed: false,
        }
    }

    /// Book-keeping after a write-side poll of `inner`: progress disarms the timer; a wait arms
    /// it (and registers this task with it); a wait past the deadline becomes the error.
    fn after_write<R>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match r {
            Poll::Ready(r) => {
                self.armed = false;
                Poll::Ready(r)
            }
            Poll::Pending => {
                if !self.armed {
                    let deadline = tokio::time::Instant::now() + self.send_timeout;
                    match self.stalled.as_mut() {
                        Some(timer) => timer.as_mut().reset(deadline),
                        None => self.stalled = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    self.armed = true;
                }
                let Some(timer) = self.stalled.as_mut() else {
                    return Poll::Pending;
                };
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, SEND_TIMEOUT)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Prefixed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let rest = &self.prefix[self.pos..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Prefixed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.after_write(cx, r)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.after_write(cx, r)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.after_write(cx, r)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.after_write(cx, r)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_fails_the_write_after_send_timeout() {
        // A pipe with room for 8 bytes whose other end nobody reads.
        let (ours, mut theirs) = tokio::io::duplex(8);
        let mut io = Prefixed::new(Vec::new(), ours, Duration::from_secs(5));
        io.write_all(b"12345678").await.unwrap();
        let started = tokio::time::Instant::now();
        let err = io.write_all(b"more").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(err.to_string(), SEND_TIMEOUT);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        // Nothing went missing before the stall.
        let mut got = [0u8; 8];
        tokio::io::AsyncReadExt::read_exact(&mut theirs, &mut got)
            .await
            .unwrap();
        assert_eq!(&got, b"12345678");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_reading_is_not_cut_off() {
        let (ours, mut theirs) = tokio::io::duplex(4);
        let mut io = Prefixed::new(Vec::new(), ours, Duration::from_secs(5));
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            let mut buf = [0u8; 4];
            loop {
                // 4 seconds between reads: each under the timeout, all of them far over it.
                tokio::time::sleep(Duration::from_secs(4)).await;
                let n = tokio::io::AsyncReadExt::read(&mut theirs, &mut buf)
                    .await
                    .unwrap();
                if n == 0 {
                    return all;
                }
                all.extend_from_slice(&buf[..n]);
            }
        });
        io.write_all(b"0123456789abcdef").await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        assert_eq!(reader.await.unwrap(), b"0123456789abcdef");
    }
}
