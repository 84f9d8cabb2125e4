//! The reverse proxy: forwards a request to the upstream over its connection pool, streaming
//! bodies both ways, and passes `Upgrade` (WebSocket) connections through.
mod body;
pub mod headers;
mod pool;
pub(crate) mod tunnel;

use std::sync::Arc;

use std::time::Duration;

use http::header::{HeaderValue, CONNECTION, HOST, UPGRADE};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::http::client::Connector;
use crate::http::{response, Body, BoxError};
use pool::Pool;

const X_FORWARDED_HOST: http::HeaderName = http::HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: http::HeaderName = http::HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PORT: http::HeaderName = http::HeaderName::from_static("x-forwarded-port");
const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The upstream refused, reset or could not be reached.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// The upstream did not send response headers in time.
    #[error("upstream timed out after {0:?}")]
    Timeout(Duration),
    /// As many requests as `server.max_connections` are with the upstream already (only
    /// HTTP/2 clients, which multiplex, can get here).
    #[error("too many requests in flight to the upstream")]
    Busy,
    /// The request could not be turned into an upstream request.
    #[error("cannot build upstream request: {0}")]
    BadRequest(String),
}

impl ProxyError {
    /// The page the client gets.
    pub fn response(&self) -> Response<Body> {
        match self {
            ProxyError::Unreachable(_) => response::error(StatusCode::BAD_GATEWAY, "The site behind octogate is not reachable right now. Please try again in a moment."),
            ProxyError::Timeout(_) => response::error(StatusCode::GATEWAY_TIMEOUT, "The site behind octogate took too long to answer."),
            ProxyError::BadRequest(_) => response::error(StatusCode::BAD_REQUEST, "The request could not be forwarded."),
            ProxyError::Busy => response::error(StatusCode::SERVICE_UNAVAILABLE, "Too many requests at once; please try again shortly."),
        }
    }

    /// Short reason code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::Unreachable(_) => "upstream_unreachable",
            ProxyError::Timeout(_) => "upstream_timeout",
            ProxyError::BadRequest(_) => "bad_request",
            ProxyError::Busy => "upstream_busy",
        }
    }
}

/// Headers octogate adds to every forwarded request (after all client headers were cleaned).
#[derive(Debug)]
pub struct Forwarding {
    /// `X-Forwarded-For` value (`None`: refused as a bad request).
    pub forwarded_for: Option<HeaderValue>,
    /// The signed-in user's identity headers (assertion first), shared with the session cache.
    pub identity: Option<crate::assertion::IdentityHeaders>,
    /// `X-Request-Id`.
    pub request_id: HeaderValue,
    /// The client connection is a trusted proxy, whose forwarding headers (`X-Forwarded-*`,
    /// `Forwarded`, `X-Original-URL`, ...) were kept for octogate to read: they are removed
    /// before forwarding, so the site sees only the ones octogate sets.
    pub from_trusted_proxy: bool,
    /// For a WebSocket upgrade: the connection permit the tunnel holds while it lives.
    pub tunnel_permit: Option<tunnel::TunnelSlot>,
    /// For a WebSocket upgrade in the protected area: how long the tunnel may live (the
    /// session's [`valid_for`](crate::session::SessionData::valid_for)); `None` on public paths.
    pub tunnel_max_life: Option<Duration>,
}

/// Where a request goes upstream: the normalised path octogate judged and the query as sent.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The normalised path.
    pub path: &'a str,
    /// The query, without `?`, exactly as the client sent it.
    pub query: Option<&'a str>,
    /// `path` and `query` are the request's own, unchanged: its target can be forwarded as it
    /// is (when it is in origin form and the upstream URL has no path prefix).
    pub as_received: bool,
}

impl Target<'_> {
    /// `path?query` (the sign-in redirect's `rd`).
    pub fn path_and_query(&self) -> String {
        match self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.to_owned(),
        }
    }
}

/// An upstream request ready to send ([`Upstream::prepare`], [`Upstream::send`]).
pub struct Prepared {
    out: Request<Body>,
    upgrade: Option<PendingUpgrade>,
}

/// The upstream site.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Path prefix of the upstream URL without trailing slash ("" for none).
    prefix: String,
    /// `Host` and `X-Forwarded-Host` sent upstream: the public host, never the client's.
    public_host: HeaderValue,
    /// `X-Forwarded-Proto` sent upstream.
    public_proto: HeaderValue,
    /// `X-Forwarded-Port` sent upstream (the public URL's port, 443/80 by default).
    public_port: HeaderValue,
    timeout: Duration,
    body_gap: Duration,
    tunnel_idle: Duration,
    /// Octogate's session cookie name, never forwarded.
    own_cookie: String,
    pool: Arc<Pool>,
}

/// Timing and naming the upstream needs from the config.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// Response-header timeout.
    pub timeout: Duration,
    /// Longest silence between request-body chunks.
    pub body_gap: Duration,
    /// Idle timeout of upgraded (WebSocket) connections.
    pub tunnel_idle: Duration,
    /// Octogate's session cookie name (it and `name_…` are removed from `Cookie`).
    pub own_cookie: String,
    /// Most idle upstream connections kept for reuse.
    pub max_idle: usize,
    /// Most exchanges with the upstream at once (beyond: 503).
    pub max_in_flight: usize,
}

impl Upstream {
    /// Builds the upstream from validated config.
    pub fn new(
        url: &url::Url,
        public_url: &url::Url,
        opts: UpstreamOptions,
        connector: Connector,
    ) -> Result<Self, String> {
        let scheme = if url.scheme() == "https" {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        };
        let host = url.host_str().ok_or("upstream URL has no host")?;
        let auth = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let authority: http::uri::Authority = auth
            .parse()
            .map_err(|e| format!("upstream authority: {e}"))?;
        let target = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| format!("upstream URL: {e}"))?;
        let prefix = url.path().trim_end_matches('/').to_string();
        let ph = public_url.host_str().ok_or("public_url has no host")?;
        let public_host = match public_url.port() {
            Some(p) => format!("{ph}:{p}"),
            None => ph.to_string(),
        };
        let public_host =
            HeaderValue::from_str(&public_host).map_err(|e| format!("public host: {e}"))?;
        let public_proto = HeaderValue::from_str(public_url.scheme())
            .map_err(|e| format!("public scheme: {e}"))?;
        let public_port = public_url
            .port_or_known_default()
            .ok_or("public_url has no port")?;
        let public_port = HeaderValue::from(public_port);
        Ok(Upstream {
            prefix,
            public_host,
            public_proto,
            public_port,
            timeout: opts.timeout,
            body_gap: opts.body_gap,
            tunnel_idle: opts.tunnel_idle,
            own_cookie: opts.own_cookie,
            pool: Arc::new(Pool::new(
                connector,
                target,
                opts.max_idle,
                opts.max_in_flight,
            )),
        })
    }

    /// Sends a request built by [`Upstream::prepare`]. Resolves to the response and the time the
    /// upstream took to answer with headers.
    ///
    /// Not an `async fn`: the common exchange's future is returned as it is, not wrapped in
    /// another one that would carry a second copy of the request (a request's future is moved
    /// several times on its way into hyper, so its size is paid for on every request).
    pub fn send(
        &self,
        prepared: Prepared,
    ) -> impl std::future::Future<Output = Result<(Response<Body>, Duration), ProxyError>> + Send + '_
    {
        let Prepared { out, upgrade } = prepared;
        match upgrade {
            None => Sending::Plain {
                fut: self.exchange(out),
            },
            // Boxed: upgrades are rare, and their state would otherwise be carried by every
            // request's future.
            Some(u) => Sending::Upgrade {
                fut: Box::pin(self.upgrade(out, u)),
            },
        }
    }

    /// Builds the upstream request for `req` (whose identity headers were already cleaned):
    /// hop-by-hop headers and octogate's cookies removed, the forwarding and identity headers
    /// set, origin-form target under the upstream's prefix. Synchronous and separate from
    /// [`Upstream::send`] so that the caller can let go of everything borrowed from the client's
    /// request (its target and header values are slices of the connection's read buffer, which
    /// would otherwise stay allocated while the upstream answers).
    pub fn prepare(
        &self,
        mut req: Request<Incoming>,
        target: &Target<'_>,
        fwd: Forwarding,
    ) -> Result<Prepared, ProxyError> {
        let upgrade = headers::upgrade_request(req.headers());
        headers::strip_hop_by_hop(req.headers_mut());
        headers::strip_own_cookies(req.headers_mut(), &self.own_cookie);
        let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));

        // Origin-form under the upstream's prefix: the connection already goes to the upstream;
        // `Host` is set below. The request's own target is kept when it is exactly that already
        // (origin form, normalised, no prefix to add): the common case, without a copy.
        let (mut parts, body) = req.into_parts();
        let keep = target.as_received
            && self.prefix.is_empty()
            && parts.uri.scheme().is_none()
            && parts.uri.authority().is_none();
        if !keep {
            let pq = target.path_and_query();
            let pq = if self.prefix.is_empty() {
                pq
            } else {
                format!("{}{pq}", self.prefix)
            };
            parts.uri = Uri::try_from(pq).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
        }
        // The upstream always speaks HTTP/1.1 with us, whatever the client used.
        parts.version = http::Version::HTTP_11;
        let h = &mut parts.headers;
        if fwd.from_trusted_proxy {
            // Untrusted peers' forwarding headers went at the start; a trusted proxy's were kept
            // for octogate to read and go now, in every spelling.
            headers::strip_identity(h, true);
        }
        h.insert(HOST, self.public_host.clone());
        h.insert(X_FORWARDED_HOST, self.public_host.clone());
        h.insert(X_FORWARDED_PROTO, self.public_proto.clone());
        h.insert(X_FORWARDED_PORT, self.public_port.clone());
        match fwd.forwarded_for {
            Some(v) => {
                h.insert(X_FORWARDED_FOR, v);
            }
            None => return Err(ProxyError::BadRequest("invalid X-Forwarded-For".into())),
        }
        if let Some(identity) = &fwd.identity {
            for (k, v) in identity.iter() {
                h.insert(k.clone(), v.clone());
            }
        }
        h.insert(X_REQUEST_ID, fwd.request_id);
        if let Some(u) = &upgrade {
            h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(UPGRADE, u.clone());
        }
        let body: Body = if http_body::Body::is_end_stream(&body) {
            // Nothing to stream (and an empty body needs no allocation).
            crate::http::empty()
        } else {
            body::Deadline::new(body, self.body_gap).boxed()
        };
        let pending = client_upgrade.map(|client| PendingUpgrade {
            client,
            permit: fwd.tunnel_permit,
            max_life: fwd.tunnel_max_life,
        });
        Ok(Prepared {
            out: Request::from_parts(parts, body),
            upgrade: pending,
        })
    }

    /// Sends an ordinary request and waits (at most `upstream.timeout`) for the response head.
    async fn exchange(&self, out: Request<Body>) -> Result<(Response<Body>, Duration), ProxyError> {
        let started = tokio::time::Instant::now();
        let resp = self
            .pool
            .send(out, started, started + self.timeout)
            .await
            .map_err(|e| self.send_error(e))?;
        let upstream_time = started.elapsed();
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            return Err(ProxyError::Unreachable(
                "upstream switched protocols without a WebSocket upgrade".into(),
            ));
        }
        let (mut parts, body) = resp.into_parts();
        self.clean_response_headers(&mut parts.headers);
        Ok((Response::from_parts(parts, body), upstream_time))
    }

    /// What of the upstream's response headers the client never gets: hop-by-hop headers, and
    /// `Set-Cookie` for octogate's own cookies (a page must not replace or plant a session chunk).
    fn clean_response_headers(&self, h: &mut http::HeaderMap) {
        headers::strip_hop_by_hop(h);
        let planted = headers::strip_own_set_cookies(h, &self.own_cookie);
        if planted > 0 {
            tracing::warn!(
                removed = planted,
                "the upstream's response set octogate's own cookie; Set-Cookie removed"
            );
        }
    }

    /// The proxy error for a pool error.
    fn send_error(&self, e: pool::SendError) -> ProxyError {
        match e {
            pool::SendError::Timeout => ProxyError::Timeout(self.timeout),
            pool::SendError::Busy => ProxyError::Busy,
            e => ProxyError::Unreachable(e.to_string()),
        }
    }

    /// Sends a WebSocket upgrade request; a matching 101 turns both connections into a tunnel.
    async fn upgrade(
        &self,
        out: Request<Body>,
        pending: PendingUpgrade,
    ) -> Result<(Response<Body>, Duration), ProxyError> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.timeout;
        let resp =
            match tokio::time::timeout_at(deadline, self.pool.send_upgrade(out, deadline)).await {
                Ok(r) => r.map_err(|e| self.send_error(e))?,
                Err(_) => return Err(ProxyError::Timeout(self.timeout)),
            };
        let upstream_time = started.elapsed();
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            // The upstream declined the upgrade: an ordinary response.
            let (mut parts, body) = resp.into_parts();
            self.clean_response_headers(&mut parts.headers);
            let body: Body = body.map_err(|e| Box::new(e) as BoxError).boxed();
            return Ok((Response::from_parts(parts, body), upstream_time));
        }
        // Only a WebSocket upgrade we asked for, answered as one, becomes a tunnel.
        let answered_ws = resp
            .headers()
            .get(UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
            && resp.headers().contains_key("sec-websocket-accept");
        if !answered_ws {
            return Err(ProxyError::Unreachable(
                "upstream switched protocols without a matching WebSocket upgrade".into(),
            ));
        }
        let mut resp = resp;
        let server_up = hyper::upgrade::on(&mut resp);
        let idle = self.tunnel_idle;
        let PendingUpgrade {
            client,
            permit,
            max_life,
        } = pending;
        tokio::spawn(async move {
            match tokio::try_join!(client, server_up) {
                Ok((c, s)) => {
                    tunnel::pump(
                        hyper_util::rt::TokioIo::new(c),
                        hyper_util::rt::TokioIo::new(s),
                        idle,
                        max_life,
                        permit,
                    )
                    .await;
                }
                Err(e) => tracing::warn!(error = %e, "upgrade failed"),
            }
        });
        let (mut parts, body) = resp.into_parts();
        self.clean_response_headers(&mut parts.headers);
        parts
            .headers
            .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        parts
            .headers
            .insert(UPGRADE, HeaderValue::from_static("websocket"));
        let body: Body = body.map_err(|e| Box::new(e) as BoxError).boxed();
        Ok((Response::from_parts(parts, body), upstream_time))
    }
}

pin_project_lite::pin_project! {
    /// A forwarded request in flight ([`Upstream::send`]).
    #[project = SendingProj]
    enum Sending<P, U> {
        /// An ordinary exchange, inline.
        Plain { #[pin] fut: P },
        /// A WebSocket upgrade, boxed.
        Upgrade { fut: std::pin::Pin<Box<U>> },
    }
}

impl<T, P, U> std::future::Future for Sending<P, U>
where
    P: std::future::Future<Output = T>,
    U: std::future::Future<Output = T>,
{
    type Output = T;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        match self.project() {
            SendingProj::Plain { fut } => fut.poll(cx),
            SendingProj::Upgrade { fut } => fut.as_mut().poll(cx),
        }
    }
}

/// The client side of a WebSocket upgrade in progress, and the connection slot its tunnel holds.
struct PendingUpgrade {
    client: hyper::upgrade::OnUpgrade,
    permit: Option<tunnel::TunnelSlot>,
    max_life: Option<Duration>,
}

/// Flattens an error and its sources into one line (no secrets: these are transport errors).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
