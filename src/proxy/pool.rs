//! Upstream HTTP/1.1 connections without a task of their own.
//!
//! A request's future drives its upstream connection while it waits for the response head; the
//! response body drives it while the body streams to the client; a connection that finished its
//! exchange goes back to a LIFO idle list. Everything runs in the client connection's task, so a
//! forwarded request costs no cross-task wake-ups, no pool lookup by host and no spawned
//! "return to the pool" task (what a general-purpose pooled client needs). Parsing and framing
//! stay hyper's.
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::http::client::Connector;
use crate::http::{Body, BoxError};

type Io = hyper_rustls::MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

/// An idle connection older than this is closed instead of reused. Shorter than Apache's default
/// `KeepAliveTimeout` (5 s), the shortest in common use: a request written to a connection the
/// upstream is closing at that moment gets a 502 unless it is safe to send again
/// ([`COPY_AFTER_IDLE`]), so connections the upstream may be about to close are not reused.
const MAX_IDLE_AGE: Duration = Duration::from_secs(4);

/// A safe request (GET, HEAD, OPTIONS without a body) sent on a connection idle at least this
/// long is copied first, so that it can be sent again on a new connection when the upstream
/// closes without answering: the upstream's keep-alive timeout or a reload closing the
/// connection as the request arrives (RFC 9110 §9.2.2 lets a proxy retry idempotent requests;
/// nginx does so too). Keep-alive timeouts are a second or more in every common server, so
/// under load (connections idle for microseconds) no request pays for the copy.
const COPY_AFTER_IDLE: Duration = Duration::from_millis(100);

/// Why the upstream could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Connecting (TCP or TLS) failed.
    #[error("connect: {0}")]
    Connect(String),
    /// The exchange failed after the connection was made.
    #[error("{0}")]
    Exchange(String),
    /// The connection ended before a complete response head: the upstream closed it (or reset
    /// it) after the request was written, as it does when its keep-alive timeout strikes.
    #[error("{0}")]
    Closed(String),
    /// As many exchanges as allowed are in flight already.
    #[error("too many requests in flight to the upstream")]
    Busy,
    /// No response head before the deadline.
    #[error("no response before the deadline")]
    Timeout,
}

/// One upstream connection: hyper's request handle, the connection state machine it feeds, and
/// the response-header deadline of its current exchange.
/// Always boxed: the state machine (buffers, TLS state) is kilobytes, and the connection moves
/// between the idle list, a request's future and a response body.
pub(crate) struct Conn {
    sender: http1::SendRequest<Body>,
    /// `None` once finished (dropped: see [`Exchange`]).
    driver: Option<http1::Connection<Io, Body>>,
    /// The connection's one timer, moved to each exchange's deadline. Moving a registered timer
    /// later is an atomic store (no timer-wheel work), unlike a new timer per request.
    deadline: Pin<Box<Sleep>>,
}

type BoxConn = Box<Conn>;

impl Conn {
    /// Lets the connection do its I/O. `Ready` means it is finished (closed or failed).
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.driver {
            Some(d) => Pin::new(d).poll(cx).map(|_| ()),
            None => Poll::Ready(()),
        }
    }

    /// Sends `req`; the returned future drives the connection until the response head arrives or
    /// `deadline` passes. On failure the request comes back when it was never written, so it can
    /// be retried elsewhere.
    fn exchange(
        &mut self,
        req: Request<Body>,
        deadline: Instant,
    ) -> Exchange<'_, impl Future<Output = ResponseResult> + use<'_>> {
        let Conn {
            sender,
            driver,
            deadline: timer,
        } = self;
        timer.as_mut().reset(deadline);
        Exchange {
            response: sender.try_send_request(req),
            driver,
            timer: timer.as_mut(),
        }
    }
}

type ResponseResult = Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<Body>>>;

pin_project_lite::pin_project! {
    /// One request on one connection, until its response head (a hand-written future rather than
    /// an `async fn`: a request's future is moved several times on its way into hyper, and this
    /// keeps it small).
    struct Exchange<'c, F> {
        #[pin]
        response: F,
        driver: &'c mut Option<http1::Connection<Io, Body>>,
        timer: Pin<&'c mut Sleep>,
    }
}

/// Why an exchange failed, and the request when it was never written.
type ExchangeError = (SendError, Option<Request<Body>>);

impl<F: Future<Output = ResponseResult>> Future for Exchange<'_, F> {
    type Output = Result<Response<Incoming>, ExchangeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let had_budget = tokio::task::coop::has_budget_remaining();
        if let Poll::Ready(r) = this.response.as_mut().poll(cx) {
            return Poll::Ready(answered(r));
        }
        // Writes the request (and its body as it comes), reads the response head.
        let finished = match this.driver.as_mut() {
            Some(d) => Pin::new(d).poll(cx).is_ready(),
            None => true,
        };
        if finished {
            // The connection ended (the upstream closed it) before answering. Dropping it hands
            // a request it never took back to us, to be retried elsewhere.
            **this.driver = None;
        }
        match this.response.poll(cx) {
            Poll::Ready(r) => Poll::Ready(answered(r)),
            // hyper answers every request when its connection is dropped; this only guards
            // against waiting forever should one ever be left unanswered.
            Poll::Pending if finished => Poll::Ready(Err((
                SendError::Closed("connection closed before the response".into()),
                None,
            ))),
            Poll::Pending => {
                // Polled last, the timer could find the task's cooperative budget used up by the
                // connection's I/O and not look at the clock: a busy exchange would run past its
                // deadline. Then it is polled outside the budget (as tokio's own timeout does).
                let timer = this.timer.as_mut();
                let expired = if had_budget && !tokio::task::coop::has_budget_remaining() {
                    let mut unbudgeted = tokio::task::coop::unconstrained(timer);
                    Pin::new(&mut unbudgeted).poll(cx).is_ready()
                } else {
                    timer.poll(cx).is_ready()
                };
                if expired {
                    Poll::Ready(Err((SendError::Timeout, None)))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

/// hyper's answer to an exchange, with the request handed back when it was never written.
#[allow(clippy::result_large_err)] // the unsent request itself, handed back for a retry
fn answered(r: ResponseResult) -> Result<Response<Incoming>, ExchangeError> {
    r.map_err(|mut e| {
        let unsent = e.take_message();
        let why = super::error_chain(e.error());
        let err = if closed_early(e.error()) {
            SendError::Closed(why)
        } else {
            SendError::Exchange(why)
        };
        (err, unsent)
    })
}

/// Whether hyper's error says the upstream closed or reset the connection before answering.
fn closed_early(e: &hyper::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    if e.is_incomplete_message() {
        return true;
    }
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe))
}

/// A copy of `req` to send again should its connection close before answering, when it is
/// safe to: a method without side effects (RFC 9110 §9.2.1) and no body.
fn replayable_copy(req: &Request<Body>) -> Option<Box<Request<Body>>> {
    let safe = matches!(
        *req.method(),
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    );
    if !safe || !req.body().is_end_stream() {
        return None;
    }
    let mut copy = Request::new(crate::http::empty());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(Box::new(copy))
}

/// Where an exchange's connection came from.
enum Reused {
    /// The idle list, with a copy of the request when it may be sent again (boxed: rarely
    /// there, and carried by every request's future).
    Yes(Option<Box<Request<Body>>>),
    /// A new connection.
    No,
}

/// Upstream connections: how to make one, and the idle ones ready for reuse.
pub(crate) struct Pool {
    connector: Connector,
    /// `scheme://authority` of the upstream (what the connector connects to).
    target: Uri,
    builder: http1::Builder,
    idle: Mutex<VecDeque<(BoxConn, Instant)>>,
    max_idle: usize,
    /// One permit per exchange, held until its response body is done. Over HTTP/1.1 a client
    /// connection has one exchange at a time; over HTTP/2 each stream has one, so without this
    /// bound a few clients could open an upstream connection per stream (hundreds each).
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl Pool {
    /// A pool for `target` keeping at most `max_idle` idle connections and running at most
    /// `max_in_flight` exchanges at once.
    pub(crate) fn new(
        connector: Connector,
        target: Uri,
        max_idle: usize,
        max_in_flight: usize,
    ) -> Self {
        let mut builder = http1::Builder::new();
        // Reads in 4 KiB steps (a response head of any size still fits: the buffer grows up to
        // hyper's limit) instead of hyper's 8 KiB: an idle upstream connection holds less.
        builder.read_buf_exact_size(Some(4096));
        Pool {
            connector,
            target,
            builder,
            idle: Mutex::new(VecDeque::new()),
            max_idle,
            in_flight: Arc::new(tokio::sync::Semaphore::new(max_in_flight)),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set) on an idle connection or a new one, and waits
    /// until `deadline` for the response head (connecting included). A request that an idle
    /// connection could not even write (the upstream had closed it) is retried on the next one.
    /// A request that may have reached the upstream is sent again only when it is safe
    /// ([`COPY_AFTER_IDLE`]), once, on a new connection.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut req: Request<Body>,
        now: Instant,
        deadline: Instant,
    ) -> Result<Response<Body>, SendError> {
        let permit = self
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| SendError::Busy)?;
        let mut may_reuse = true;
        loop {
            let idle = if may_reuse {
                self.checkout(now).await
            } else {
                None
            };
            let (mut conn, copy) = match idle {
                Some((conn, idle_for)) => {
                    let copy = if idle_for >= COPY_AFTER_IDLE {
                        replayable_copy(&req)
                    } else {
                        None
                    };
                    (conn, Reused::Yes(copy))
                }
                // Boxed: connecting is the rare case, and its state would otherwise be carried
                // by every request's future.
                None => match tokio::time::timeout_at(deadline, Box::pin(self.connect(deadline)))
                    .await
                {
                    Ok(c) => (c?, Reused::No),
                    Err(_) => return Err(SendError::Timeout),
                },
            };
            match (conn.exchange(req, deadline).await, copy) {
                (Ok(resp), _) => return Ok(self.attach(resp, conn, permit)),
                (Err((_, Some(unsent))), Reused::Yes(_)) => req = unsent,
                (Err((SendError::Closed(why), None)), Reused::Yes(Some(copy))) => {
                    tracing::debug!(error = %why, "upstream closed a reused connection before answering; sending the request again on a new one");
                    req = *copy;
                    may_reuse = false;
                }
                (Err((e, _)), _) => return Err(e),
            }
        }
    }

    /// Wraps the response body so that it drives `conn` and returns it when the body is done
    /// (and holds the exchange's permit until then).
    fn attach(
        self: &Arc<Self>,
        resp: Response<Incoming>,
        conn: BoxConn,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Response<Body> {
        let (parts, body) = resp.into_parts();
        let body = Streamed {
            body,
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
        };
        Response::from_parts(parts, http_body_util::BodyExt::boxed(body))
    }

    /// The most recently used idle connection that is still open and ready for a request, and
    /// how long it was idle at `now` (the caller's clock reading, so a request reads the clock
    /// once for its deadline and this).
    async fn checkout(&self, now: Instant) -> Option<(BoxConn, Duration)> {
        loop {
            let (mut conn, since) = {
                let mut idle = self.idle.lock().ok()?;
                idle.pop_back()?
            };
            let idle_for = now.saturating_duration_since(since);
            if idle_for > MAX_IDLE_AGE {
                // Everything below it in the list is older still.
                if let Ok(mut idle) = self.idle.lock() {
                    idle.clear();
                }
                return None;
            }
            // One poll lets the connection notice a close the upstream sent while it sat idle.
            let open =
                std::future::poll_fn(|cx| Poll::Ready(conn.poll_drive(cx).is_pending())).await;
            if open && conn.sender.is_ready() {
                return Some((conn, idle_for));
            }
        }
    }

    /// Keeps `conn` for reuse when it is open and there is room.
    ///
    /// Only a connection whose exchange is complete both ways is kept. One that is still sending
    /// the request body (the upstream answered early, e.g. 413) is closed: parked, nobody would
    /// poll it, and the client's upload would hang with its connection slot held. Closing drops
    /// that body, so the client's connection is closed after the response instead.
    fn put(&self, conn: BoxConn) {
        if conn.sender.is_closed() || !conn.sender.is_ready() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let now = Instant::now();
            // The oldest first: those idle too long are closed here rather than lingering
            // (half-closed by the upstream, holding a descriptor) until a burst reaches them.
            while idle
                .front()
                .is_some_and(|(_, since)| now.duration_since(*since) > MAX_IDLE_AGE)
            {
                idle.pop_front();
            }
            if idle.len() < self.max_idle {
                idle.push_back((conn, now));
            }
        }
    }

    /// A new connection to the upstream (its timer set to `deadline`).
    async fn connect(&self, deadline: Instant) -> Result<BoxConn, SendError> {
        let mut connector = self.connector.clone();
        let io = connector
            .call(self.target.clone())
            .await
            .map_err(|e| SendError::Connect(super::error_chain(&*e)))?;
        let (sender, driver) = self
            .builder
            .handshake(io)
            .await
            .map_err(|e| SendError::Connect(super::error_chain(&e)))?;
        Ok(Box::new(Conn {
            sender,
            driver: Some(driver),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        }))
    }

    /// A new connection driven by its own task, for a request that upgrades (WebSocket): the
    /// connection becomes the tunnel and never returns to the pool.
    pub(crate) async fn send_upgrade(
        &self,
        req: Request<Body>,
        deadline: Instant,
    ) -> Result<Response<Incoming>, SendError> {
        let Conn {
            mut sender, driver, ..
        } = *self.connect(deadline).await?;
        let Some(driver) = driver else {
            return Err(SendError::Connect("connection closed at once".into()));
        };
        tokio::spawn(async move {
            if let Err(e) = driver.with_upgrades().await {
                tracing::debug!(error = %e, "upstream upgrade connection ended with an error");
            }
        });
        sender
            .send_request(req)
            .await
            .map_err(|e| SendError::Exchange(super::error_chain(&e)))
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.target)
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

/// A response body that drives its connection and returns it to the pool once complete.
struct Streamed {
    body: Incoming,
    conn: Option<BoxConn>,
    pool: Arc<Pool>,
    /// The exchange's place in [`Pool::in_flight`].
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Streamed {
    /// The exchange is complete: one more poll lets the connection go idle, then it is kept.
    fn finish(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            // With a waker that does nothing: an idle connection is watched by nobody (checkout
            // looks at it once), and this task's waker left in its socket registration and its
            // timer would keep the task (and, once the client leaves, its memory) alive.
            let mut idle = Context::from_waker(std::task::Waker::noop());
            if conn.poll_drive(&mut idle).is_pending() {
                let _ = conn.deadline.as_mut().poll(&mut idle);
                self.pool.put(conn);
            }
        }
    }

    fn on_frame(
        &mut self,
        frame: Option<Result<Frame<Bytes>, hyper::Error>>,
    ) -> Option<Result<Frame<Bytes>, BoxError>> {
        match frame {
            None => {
                self.finish();
                None
            }
            Some(Ok(f)) => {
                if self.body.is_end_stream() {
                    self.finish();
                }
                Some(Ok(f))
            }
            Some(Err(e)) => {
                // A broken exchange: the connection is not reusable.
                self.conn = None;
                Some(Err(Box::new(e)))
            }
        }
    }
}

impl HttpBody for Streamed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(f) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(this.on_frame(f));
        }
        // The connection feeds the body: let it read, then look at the body once more.
        if let Some(conn) = this.conn.as_mut() {
            if conn.poll_drive(cx).is_ready() {
                this.conn = None;
            }
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(f) => Poll::Ready(this.on_frame(f)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        // A body nobody needed to read (HEAD, 204, 304, empty): the exchange is complete and the
        // connection reusable. Dropped mid-body: the connection closes with it.
        if let Some(conn) = self.conn.take() {
            if self.body.is_end_stream() {
                self.pool.put(conn);
            }
        }
    }
}
