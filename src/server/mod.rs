//! The server: accepts connections (optionally over TLS), defends against slow and abusive
//! clients, serves HTTP/1.1 and HTTP/2 through the [`App`](crate::app::App), and shuts down
//! gracefully.
mod conn_timer;
mod log_budget;
pub mod per_client;
mod prefixed;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{App, ConnInfo};
use prefixed::Prefixed;

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
}

/// Limits applied to every connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to receive a complete request head.
    pub header_read_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Concurrent connections.
    pub max_connections: usize,
    /// Concurrent connections from one client address (see [`per_client`]).
    pub max_connections_per_client: usize,
    /// Graceful shutdown deadline.
    pub shutdown_grace: Duration,
    /// Longest a write to a client may wait for the client to read (see [`Prefixed`]).
    pub send_timeout: Duration,
}

/// Refused (and cut-off) connections cost a client nothing: their log lines are budgeted.
static REFUSAL_LOG: log_budget::LogBudget = log_budget::LogBudget::new(10);

/// A bound listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    tls: Option<tls::TlsState>,
    limits: Limits,
}

impl Server {
    /// Binds the listen address (and loads TLS material, if configured).
    pub async fn bind(
        addr: SocketAddr,
        tls_files: Option<&crate::config::TlsFiles>,
        limits: Limits,
    ) -> Result<Self, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let tls = match tls_files {
            Some(f) => Some(tls::TlsState::load(f).map_err(ServerError::Tls)?),
            None => None,
        };
        Ok(Server {
            listener,
            tls,
            limits,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The TLS state, for reloading certificates.
    pub fn tls(&self) -> Option<tls::TlsState> {
        self.tls.clone()
    }

    /// Answers a connection refused before it was served: a plain 503 (bounded in time), or over
    /// TLS just closed (a plain-text 503 would only read as a protocol error, and a handshake is
    /// not worth its CPU here).
    fn refuse_connection(&self, stream: tokio::net::TcpStream) {
        if self.tls.is_none() {
            tokio::spawn(refuse(
                stream,
                503,
                "Service Unavailable",
                self.limits.header_read_timeout,
            ));
        }
    }

    /// Serves until `shutdown` turns true, then stops accepting and waits up to the grace period
    /// for in-flight requests.
    pub async fn serve(self, app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
        let limits = self.limits;
        let permits = app.connection_permits();
        let per_client = per_client::ClientSlots::new(limits.max_connections_per_client);
        let protocols = Arc::new(Protocols::new(&limits));
        loop {
            let (stream, peer) = tokio::select! {
                res = self.listener.accept() => match res {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            let _ = stream.set_nodelay(true);
            // A trusted proxy carries many clients: only the total counts for it.
            let client_slot = if app.runtime().is_trusted(peer.ip()) {
                None
            } else {
                match per_client.take(peer.ip()) {
                    Some(slot) => Some(slot),
                    None => {
                        if let Some(left_out) = REFUSAL_LOG.admit() {
                            tracing::warn!(peer = %peer, limit = limits.max_connections_per_client, similar_lines_left_out = left_out, "connection refused: too many concurrent connections from this client (503)");
                        }
                        app.metrics().refused("too_many_connections_from_client");
                        self.refuse_connection(stream);
                        continue;
                    }
                }
            };
            let permit = match permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    if let Some(left_out) = REFUSAL_LOG.admit() {
                        tracing::warn!(peer = %peer, limit = limits.max_connections, similar_lines_left_out = left_out, "connection refused: too many concurrent connections (503)");
                    }
                    app.metrics().refused("too_many_connections");
                    self.refuse_connection(stream);
                    continue;
                }
            };
            let conn = Conn {
                peer,
                client: client_slot.map(Arc::new),
                app: app.clone(),
                protocols: protocols.clone(),
                shutdown: shutdown.clone(),
                limits,
            };
            // One task per connection, plain and TLS spawned apart: a task is as large as the
            // largest state its future can be in, so a plain connection must not carry room for
            // a TLS handshake.
            match self.tls.clone() {
                None => {
                    tokio::spawn(async move {
                        let _permit = permit;
                        conn.serve(stream, false, false).await
                    });
                }
                Some(tls) => {
                    tokio::spawn(async move {
                        let _permit = permit;
                        let acceptor = tls.acceptor();
                        match tokio::time::timeout(
                            limits.header_read_timeout,
                            acceptor.accept(stream),
                        )
                        .await
                        {
                            Ok(Ok(s)) => {
                                let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
                                conn.serve(s, true, h2).await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(peer = %peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
        drop(self.listener);
        tracing::info!(grace = ?limits.shutdown_grace, "shutting down: no new connections; waiting for in-flight requests");
        // Every connection (and tunnel) holds a permit: when all are back, everything is closed.
        let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
        tokio::select! {
            _ = permits.acquire_many(all) => tracing::info!("all connections closed"),
            _ = tokio::time::sleep(limits.shutdown_grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
        }
    }
}

/// The HTTP/1.1 and HTTP/2 connection builders, configured once. Each connection gets the one its
/// client speaks (ALPN over TLS, the HTTP/2 preface in clear text) rather than an auto-detecting
/// wrapper: measurably cheaper per request.
struct Protocols {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(limits: &Limits) -> Self {
        let mut h1 = http1::Builder::new();
        // The timer is set per connection (conn_timer): this one is replaced.
        h1.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192))
            .keep_alive(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(128)
            .keep_alive_interval(Some(Duration::from_secs(30)));
        Protocols { h1, h2 }
    }
}

/// Drives the pinned connection `$conn` to its end and evaluates to its result. When shutdown is
/// signalled on `$shutdown`, `graceful_shutdown` asks it to finish (the request in flight
/// completes, keep-alive ends), and it is driven on until it does.
///
/// The watch is polled once, to leave this task's waker with it; after that only its version is
/// looked at (an atomic load) each time the connection is: polling the watch's future on every
/// wake-up of every connection would take its waiter list's lock each time. (A macro rather than
/// a generic `async fn`: the compiler cannot prove such a function's future `Send` for hyper's
/// connection types.)
macro_rules! until_shutdown {
    ($conn:expr, $shutdown:expr) => {{
        use std::future::Future as _;
        use std::task::Poll;
        let mut conn = $conn;
        let shutdown: &mut watch::Receiver<bool> = $shutdown;
        let version = shutdown.clone();
        // Outside the task budget: a first poll the budget refused would register nothing,
        // and the signal would then wait for an unrelated wake-up.
        let mut changed = std::pin::pin!(tokio::task::coop::unconstrained(shutdown.changed()));
        let mut watching = false;
        let finished = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = conn.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            let signalled = if watching {
                // A dropped sender counts as the signal, as it does for `changed()`.
                version.has_changed().unwrap_or(true)
            } else {
                watching = true;
                changed.as_mut().poll(cx).is_ready()
            };
            if signalled {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        })
        .await;
        match finished {
            Some(r) => r,
            None => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    }};
}

/// One accepted connection.
struct Conn {
    peer: SocketAddr,
    /// The connection's place in its client's `max_connections_per_client` (none for a trusted
    /// proxy).
    client: Option<Arc<per_client::ClientSlot>>,
    app: Arc<App>,
    protocols: Arc<Protocols>,
    shutdown: watch::Receiver<bool>,
    limits: Limits,
}

/// Writes a minimal HTTP/1.1 error response and closes (used before hyper has the connection).
async fn refuse<S: AsyncWrite + Unpin>(mut stream: S, code: u16, reason: &str, deadline: Duration) {
    let msg = format!("HTTP/1.1 {code} {reason}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{reason}\n", reason.len() + 1);
    let _ = tokio::time::timeout(deadline, async {
        let _ = stream.write_all(msg.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Reads the first request head within the deadline, so slow or oversized heads get a clean
/// 408/431 (hyper itself guards later requests on a keep-alive connection).
async fn read_first_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: &Limits,
) -> Result<Vec<u8>, u16> {
    // Read straight into the heap buffer (no stack array: it would live in every connection's
    // future for the connection's whole life).
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + limits.header_read_timeout;
    loop {
        if buf.capacity() - buf.len() < 512 {
            buf.reserve(2048);
        }
        let scan_from = buf.len().saturating_sub(3);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Err(_) => return Err(if buf.is_empty() { 0 } else { 408 }),
            Ok(Err(_)) | Ok(Ok(0)) => return Err(0),
            Ok(Ok(_)) => {}
        };
        // The end of the head: an empty line, its line ends CRLF or (RFC 9112 §2.2 lets a
        // recipient accept it) a bare LF; hyper then parses or refuses the head.
        let tail = buf.get(scan_from..).unwrap_or_default();
        if tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n") {
            return Ok(buf);
        }
        if buf.len() > limits.max_header_bytes {
            return Err(431);
        }
    }
}

impl Conn {
    /// Reads the first request head (clean 408/431), then serves HTTP/1.1 (with upgrades) or
    /// HTTP/2 until the client leaves or shutdown asks the connection to finish.
    async fn serve<S>(self, mut stream: S, tls: bool, alpn_h2: bool)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            peer,
            client,
            app,
            protocols,
            mut shutdown,
            limits,
        } = self;
        let head = match read_first_head(&mut stream, &limits).await {
            Ok(h) => h,
            Err(0) => return,
            Err(408) => {
                tracing::warn!(peer = %peer, "request head not received in time (408)");
                app.metrics().refused("header_timeout");
                refuse(stream, 408, "Request Timeout", Duration::from_secs(1)).await;
                return;
            }
            Err(_) => {
                tracing::warn!(peer = %peer, limit = limits.max_header_bytes, "request head too large (431)");
                app.metrics().refused("header_too_large");
                refuse(
                    stream,
                    431,
                    "Request Header Fields Too Large",
                    Duration::from_secs(1),
                )
                .await;
                return;
            }
        };
        let h2 = alpn_h2 || head.starts_with(b"PRI * HTTP/2.0\r\n");
        let io = TokioIo::new(Prefixed::new(head, stream, limits.send_timeout));
        let info = Arc::new(ConnInfo::new(peer, tls, h2, client));
        let idle_info = info.clone();
        let app_metrics = app.clone();
        let svc = service_fn(move |req: hyper::Request<Incoming>| {
            let app = app.clone();
            let info = info.clone();
            async move { Ok::<_, Infallible>(app.handle(req, &info).await) }
        });
        let result = if h2 {
            // Closed (gracefully) on shutdown or once idle: an HTTP/2 client answering pings
            // would otherwise hold its connection slot for ever.
            let mut closing = h2_closing(shutdown, idle_info, limits.header_read_timeout);
            // Boxed: an HTTP/2 connection's state would otherwise make every connection's task
            // (HTTP/1.1 ones included) as large as itself.
            let mut conn = Box::pin(protocols.h2.serve_connection(io, svc));
            until_shutdown!(conn.as_mut(), &mut closing)
        } else {
            let mut h1 = protocols.h1.clone();
            h1.timer(conn_timer::ConnTimer::new());
            let conn = std::pin::pin!(h1.serve_connection(io, svc).with_upgrades());
            until_shutdown!(conn, &mut shutdown)
        };
        if let Err(e) = result {
            if is_send_timeout(&e) {
                if let Some(left_out) = REFUSAL_LOG.admit() {
                    tracing::warn!(peer = %peer, timeout = ?limits.send_timeout, similar_lines_left_out = left_out, "connection closed: the client stopped reading its response (send_timeout)");
                }
                app_metrics.metrics().refused("send_timeout");
            } else {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        }
    }
}

/// Whether a connection ended because its client stopped reading ([`prefixed::SEND_TIMEOUT`]).
fn is_send_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut && io.to_string() == prefixed::SEND_TIMEOUT
            {
                return true;
            }
        }
        cause = c.source();
    }
    false
}

/// A shutdown signal for one HTTP/2 connection: set when the server shuts down, or when the
/// connection has had no request in progress for `idle` (checked by a small task that ends with
/// the connection).
fn h2_closing(
    mut shutdown: watch::Receiver<bool>,
    info: Arc<ConnInfo>,
    idle: Duration,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let check = (idle / 4).max(Duration::from_millis(250));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                () = tx.closed() => return,
                () = tokio::time::sleep(check) => {
                    let idle_for = info.h2.as_ref().and_then(|t| t.idle_for());
                    if idle_for.is_some_and(|d| d >= idle) {
                        tracing::debug!(peer = %info.peer, "idle HTTP/2 connection closed");
                        break;
                    }
                }
            }
        }
        let _ = tx.send(true);
    });
    rx
}

/// Resolves when SIGTERM or SIGINT arrives.
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
