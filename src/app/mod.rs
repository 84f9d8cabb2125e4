//! The request pipeline. For every request, before anything else: strip identity headers a client
//! sent; then answer octogate's own endpoints, refuse malformed paths, forward the public site, and
//! for the protected area authenticate (session cookie, refresh) and authorise (access rules)
//! before forwarding with the identity assertion.
mod access_log;
pub mod audit;
mod auth;
mod endpoints;
pub mod h2_turns;
pub mod metrics;
pub mod metrics_server;
mod runtime;
mod signin_guard;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::access::Area;
use crate::config::Config;
use crate::http::{response, Body};
use crate::proxy::{headers, Forwarding};
pub use runtime::Runtime;

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Facts about the client connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The peer's address as an `X-Forwarded-For` value, built once per connection.
    peer_forwarded_for: HeaderValue,
    /// For an HTTP/2 connection: its requests in progress (a few at once; more wait their turn).
    pub h2: Option<h2_turns::H2Turns>,
    /// The connection's place in its client's `max_connections_per_client` (none for a trusted
    /// proxy); a WebSocket tunnel upgraded from it keeps a share.
    pub(crate) client: Option<Arc<crate::server::per_client::ClientSlot>>,
}

impl ConnInfo {
    /// Facts about a connection from `peer` (`h2`: it speaks HTTP/2; `client`: its place in
    /// `max_connections_per_client`).
    pub(crate) fn new(
        peer: SocketAddr,
        tls: bool,
        h2: bool,
        client: Option<Arc<crate::server::per_client::ClientSlot>>,
    ) -> ConnInfo {
        // An IP address is always a valid header value.
        let peer_forwarded_for = HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        ConnInfo {
            peer,
            tls,
            peer_forwarded_for,
            h2: h2.then(|| h2_turns::H2Turns::new(client.clone())),
            client,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What is known about one request while it is handled.
pub(crate) struct Ctx {
    pub rt: Arc<Runtime>,
    pub client_ip: std::net::IpAddr,
    /// `X-Forwarded-For` for the upstream (`None`: the trusted chain was not a valid value).
    pub forwarded_for: Option<HeaderValue>,
    pub request_id: RequestId,
    pub user_agent: Option<HeaderValue>,
    pub peer_trusted: bool,
    /// The time (unix seconds), read when first needed: the public path never needs it.
    now: std::sync::OnceLock<u64>,
}

impl Ctx {
    /// The request's time (unix seconds): the same value however often it is asked for.
    pub(crate) fn now(&self) -> u64 {
        *self.now.get_or_init(unix_now)
    }

    pub(crate) fn audit_ctx<'a>(
        &'a self,
        sub: Option<&'a str>,
        email: Option<&'a str>,
    ) -> audit::Context<'a> {
        audit::Context {
            sub,
            email,
            ip: Some(self.client_ip),
            user_agent: self.user_agent.as_ref().and_then(|v| v.to_str().ok()),
            request_id: Some(self.request_id.as_str()),
        }
    }
}

/// The application: the live runtime (swapped atomically on reload) plus process-wide state.
pub struct App {
    current: RwLock<Arc<Runtime>>,
    generation: std::sync::atomic::AtomicU64,
    metrics: Arc<metrics::Metrics>,
    audit: RwLock<Arc<audit::Audit>>,
    refresh: auth::RefreshFlights,
    signin_guard: signin_guard::SigninGuard,
    cache: crate::assertion::AssertionCache,
    /// Connection slots (`server.max_connections`): held by every client connection and by every
    /// WebSocket tunnel for its life.
    permits: Arc<tokio::sync::Semaphore>,
}

impl App {
    /// Builds the application from a validated config and starts IdP discovery.
    pub fn new(cfg: Config) -> Result<Arc<App>, String> {
        let metrics = Arc::new(metrics::Metrics::new());
        let permits = Arc::new(tokio::sync::Semaphore::new(cfg.server.max_connections));
        let audit = audit::Audit::open(&cfg.server.audit_log)?;
        let rt = Runtime::build(cfg, None)?;
        metrics.set_generation(1);
        Ok(Arc::new(App {
            current: RwLock::new(Arc::new(rt)),
            generation: std::sync::atomic::AtomicU64::new(1),
            metrics,
            audit: RwLock::new(Arc::new(audit)),
            refresh: auth::RefreshFlights::default(),
            signin_guard: signin_guard::SigninGuard::default(),
            cache: crate::assertion::AssertionCache::new(16_384),
            permits,
        }))
    }

    /// The live runtime.
    pub fn runtime(&self) -> Arc<Runtime> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The connection slots shared by client connections and WebSocket tunnels.
    pub fn connection_permits(&self) -> Arc<tokio::sync::Semaphore> {
        self.permits.clone()
    }

    /// A slot for a WebSocket tunnel, or a 503 when every slot is taken.
    fn tunnel_permit(
        &self,
        req: &Request<Incoming>,
        protected: bool,
        ctx: &Ctx,
        client: Option<&Arc<crate::server::per_client::ClientSlot>>,
    ) -> Result<Option<crate::proxy::tunnel::TunnelSlot>, Box<Response<Body>>> {
        if headers::upgrade_request(req.headers()).is_none() {
            return Ok(None);
        }
        // A browser sends the session cookie with a WebSocket handshake that a page of another
        // origin starts (a sibling site of the agency is same-site, so even `SameSite=Lax` lets
        // it through), and the page then reads what comes back: in the protected area only this
        // site's own pages may open one. Browsers always send `Origin` on a WebSocket handshake;
        // other clients may leave it out.
        if protected {
            let own = ctx.rt.cfg.server.public_url.origin().ascii_serialization();
            if let Some(origin) = req.headers().get(http::header::ORIGIN) {
                if origin.as_bytes() != own.as_bytes() {
                    tracing::warn!(request_id = %ctx.request_id, "WebSocket upgrade refused: Origin is not this site's (403)");
                    return Err(Box::new(response::error(
                        StatusCode::FORBIDDEN,
                        "A page of another site may not open this connection.",
                    )));
                }
            }
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(p) => Ok(Some(crate::proxy::tunnel::TunnelSlot::new(
                p,
                client.cloned(),
            ))),
            Err(_) => {
                tracing::warn!("WebSocket upgrade refused: too many concurrent connections (503)");
                Err(Box::new(response::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many connections; please try again shortly.",
                )))
            }
        }
    }

    /// Metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// The audit log.
    pub fn audit_handle(&self) -> Arc<audit::Audit> {
        self.audit()
    }

    pub(crate) fn audit(&self) -> Arc<audit::Audit> {
        match self.audit.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Applies a new validated config atomically. In-flight requests keep the runtime they
    /// started with. The OpenID Provider client is kept when the `[oidc]` section is unchanged.
    pub fn reload(&self, cfg: Config) -> Result<u64, String> {
        let old = self.runtime();
        let audit = audit::Audit::open(&cfg.server.audit_log)?;
        let rt = Runtime::build(cfg, Some(&old))?;
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(rt),
            Err(p) => *p.into_inner() = Arc::new(rt),
        }
        if let Ok(mut g) = self.audit.write() {
            *g = Arc::new(audit);
        }
        let gen = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        self.metrics.set_generation(gen);
        Ok(gen)
    }

    /// Handles one request. Never panics; every failure becomes a response.
    pub async fn handle(&self, mut req: Request<Incoming>, conn: &ConnInfo) -> Response<Body> {
        let log = tracing::enabled!(target: "octogate::access", tracing::Level::INFO);
        // Only the access log needs the start time.
        let started = log.then(Instant::now);
        let rt = self.runtime();
        let peer_ip = conn.peer.ip();
        let peer_trusted = rt.is_trusted(peer_ip);
        let facts = headers::client_facts(req.headers(), peer_ip, |ip| rt.is_trusted(ip), conn.tls);
        let request_id = request_id(req.headers(), peer_trusted);
        // Before anything else: identity headers are ours alone; forwarding headers only from
        // trusted proxies.
        let removed = headers::strip_identity(req.headers_mut(), !peer_trusted);
        if removed > 0 {
            tracing::info!(request_id = %request_id, removed, "removed client-sent identity/forwarding headers");
        }
        let user_agent = req.headers().get(http::header::USER_AGENT).cloned();
        let ctx = Ctx {
            rt,
            client_ip: facts.client_ip,
            forwarded_for: match facts.forwarded_for {
                None => Some(conn.peer_forwarded_for.clone()),
                Some(chain) => HeaderValue::from_maybe_shared(bytes::Bytes::from(chain)).ok(),
            },
            request_id,
            user_agent,
            peer_trusted,
            now: std::sync::OnceLock::new(),
        };
        let method = req.method().clone();
        let turn = match &conn.h2 {
            None => Ok(None),
            Some(turns) => turns
                .take(ctx.rt.cfg.upstream.timeout)
                .await
                .map(Some)
                .ok_or(()),
        };
        let (path, outcome, upstream, resp, turn) = match turn {
            Ok(turn) => {
                let (path, outcome, upstream, resp) =
                    self.route(req, &ctx, log, conn.client.as_ref()).await;
                (path, outcome, upstream, resp, turn)
            }
            Err(()) => {
                tracing::warn!(request_id = %ctx.request_id, limit = h2_turns::H2_REQUESTS_IN_PROGRESS, "HTTP/2 stream refused: too many requests of its connection or its client in progress (503)");
                let resp = crate::http::response::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many requests at once; please try again shortly.",
                );
                ("(busy)".into(), "refused", None, resp, None)
            }
        };
        self.metrics.request(outcome);
        if let Some(d) = upstream {
            self.metrics.upstream_latency(d);
        }
        let (mut parts, mut body) = resp.into_parts();
        parts.headers.insert(X_REQUEST_ID, ctx.request_id.header());
        if let Some(turn) = turn {
            // The turn lasts until the response body is sent (or dropped).
            body = crate::http::holding(body, turn);
        }
        if !log {
            return Response::from_parts(parts, body);
        }
        let entry = access_log::Entry {
            method,
            path,
            status: parts.status.as_u16(),
            outcome,
            started: started.unwrap_or_else(Instant::now),
            upstream,
            request_id: ctx.request_id,
            client_ip: ctx.client_ip,
        };
        Response::from_parts(parts, access_log::Logged::wrap(body, entry))
    }

    /// Routes a cleaned request. Returns (normalised path for the log when `log`, else empty;
    /// outcome, upstream time, response).
    async fn route(
        &self,
        req: Request<Incoming>,
        ctx: &Ctx,
        log: bool,
        conn_client: Option<&Arc<crate::server::per_client::ClientSlot>>,
    ) -> (
        String,
        &'static str,
        Option<std::time::Duration>,
        Response<Body>,
    ) {
        if let Err(refusal) = crate::http::admission::admit(&req) {
            tracing::warn!(request_id = %ctx.request_id, reason = refusal.reason(), "refused request");
            return ("(refused)".into(), "refused", None, refusal.response());
        }
        // A handle on the target (reference counts), so the path can be borrowed while the
        // request moves on.
        let uri = req.uri().clone();
        let path = match crate::access::normalize(uri.path()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(request_id = %ctx.request_id, reason = %e, "refused request with a malformed path (400)");
                return (
                    "(malformed)".into(),
                    "refused",
                    None,
                    response::error(
                        StatusCode::BAD_REQUEST,
                        "The request path is malformed and was refused.",
                    ),
                );
            }
        };
        let log_path = || {
            if log {
                path.clone().into_owned()
            } else {
                String::new()
            }
        };
        // Octogate's own endpoints; never forwarded.
        if let Some(resp) = endpoints::dispatch(self, &path, &req, ctx).await {
            return (log_path(), "endpoint", None, resp);
        }
        // What goes upstream: the normalised path (the one judged below) and the query as sent.
        let target = crate::proxy::Target {
            path: &path,
            query: uri.query(),
            as_received: matches!(path, std::borrow::Cow::Borrowed(_)),
        };
        let (identity, set_cookies, outcome, valid_for) = match ctx.rt.rules.classify(&path) {
            Area::Open | Area::PublicInProtected => (None, Vec::new(), "public", None),
            Area::Protected => {
                let navigation = is_navigation(&req);
                match auth::authenticate(self, req.headers(), ctx, navigation, &target).await {
                    auth::Outcome::Allowed {
                        identity_headers,
                        set_cookies,
                        valid_for,
                    } => (
                        Some(identity_headers),
                        set_cookies,
                        "proxied",
                        Some(valid_for),
                    ),
                    auth::Outcome::Respond { outcome, response } => {
                        return (log_path(), outcome, None, response)
                    }
                }
            }
        };
        let tunnel_permit = match self.tunnel_permit(&req, valid_for.is_some(), ctx, conn_client) {
            Ok(p) => p,
            Err(resp) => return (log_path(), "refused", None, *resp),
        };
        let fwd = Forwarding {
            forwarded_for: ctx.forwarded_for.clone(),
            identity,
            request_id: ctx.request_id.header(),
            from_trusted_proxy: ctx.peer_trusted,
            tunnel_permit,
            tunnel_max_life: valid_for,
        };
        let prepared = ctx.rt.upstream.prepare(req, &target, fwd);
        // Nothing borrowed from the client's request is kept while the upstream answers: its
        // target and headers are slices of the connection's read buffer, which would stay
        // allocated beside the buffer hyper reads the next request into (~8 KiB a request).
        let logged_path = log_path();
        drop(path);
        drop(uri);
        let sent = match prepared {
            Ok(p) => ctx.rt.upstream.send(p).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok((mut resp, t)) => {
                if outcome == "proxied" {
                    crate::proxy::headers::make_private(resp.headers_mut());
                }
                for c in set_cookies {
                    resp.headers_mut().append(http::header::SET_COOKIE, c);
                }
                (logged_path, outcome, Some(t), resp)
            }
            Err(e) => {
                tracing::warn!(request_id = %ctx.request_id, reason = %e, "upstream error ({})", e.code());
                (logged_path, "upstream_error", None, e.response())
            }
        }
    }
}

/// A request's id, kept as the `X-Request-Id` value it is sent as (upstream and back), so it is
/// built once and shared.
#[derive(Debug, Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Built only from visible ASCII (see `request_id`).
        self.0.to_str().unwrap_or("")
    }

    /// The id as a header value.
    pub fn header(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request id: a trusted proxy's `X-Request-Id` when well-formed, else a fresh one.
fn request_id(h: &http::HeaderMap, trusted: bool) -> RequestId {
    if trusted {
        if let Some(v) = h.get("x-request-id") {
            let b = v.as_bytes();
            if !b.is_empty()
                && b.len() <= 128
                && b.iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
            {
                return RequestId(v.clone());
            }
        }
    }
    next_request_id()
}

/// A process-unique request id without a syscall: a random per-process prefix and a counter.
/// Ids are written into a per-thread 4 KiB arena and handed out as slices of it, so a request
/// id costs no allocation of its own (one per ~150 ids).
fn next_request_id() -> RequestId {
    use std::cell::RefCell;
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static ARENA: RefCell<bytes::BytesMut> = RefCell::new(bytes::BytesMut::new());
    }
    let prefix = PREFIX.get_or_init(|| crate::session::random_token(6));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // 8 prefix characters, '-', at most 16 hex digits (written by hand: `write!` and its
    // formatting machinery cost more than the rest of this function).
    let mut buf = [0u8; 40];
    let len = {
        let mut w = &mut buf[..];
        let _ = w.write_all(prefix.as_bytes());
        let _ = w.write_all(b"-");
        write_hex(&mut w, n);
        40 - w.len()
    };
    let id = ARENA.with(|arena| {
        let mut arena = arena.borrow_mut();
        if arena.capacity() < len {
            *arena = bytes::BytesMut::with_capacity(4096);
        }
        arena.extend_from_slice(buf.get(..len).unwrap_or_default());
        arena.split().freeze()
    });
    // base64url prefix, '-', hex digits: always a valid header value.
    RequestId(HeaderValue::from_maybe_shared(id).unwrap_or_else(|_| HeaderValue::from_static("-")))
}

/// Whether a request is a browser navigation (which gets a sign-in redirect) rather than an
/// API/AJAX call (which gets 401). October's AJAX framework sends `X-Requested-With` or
/// `X-OCTOBER-REQUEST-HANDLER`.
pub(crate) fn is_navigation<B>(req: &Request<B>) -> bool {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return false;
    }
    let h = req.headers();
    if h.contains_key("x-october-request-handler") || h.contains_key("x-winter-request-handler") {
        return false;
    }
    if h.get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("xmlhttprequest"))
    {
        return false;
    }
    h.get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

/// Writes `n` in lower-case hex without leading zeros (`format!("{n:x}")`, without `fmt`).
fn write_hex(w: &mut impl std::io::Write, n: u64) {
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        let _ = w.write_all(&[b"0123456789abcdef"[((n >> (i * 4)) & 0xf) as usize]]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_what_format_writes() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for n in [
            0,
            1,
            9,
            10,
            15,
            16,
            255,
            256,
            4095,
            4096,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
        ]
        .into_iter()
        .chain((0..1000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x >> (x % 64)
        })) {
            let mut out = Vec::new();
            super::write_hex(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{n:x}"));
        }
    }

    #[test]
    fn request_ids_are_unique_and_well_formed_across_arena_chunks() {
        let ids: Vec<super::RequestId> = (0..2000).map(|_| super::next_request_id()).collect();
        let mut seen = std::collections::HashSet::new();
        for id in &ids {
            let s = id.as_str();
            let (prefix, counter) = s.rsplit_once('-').expect("prefix-counter");
            assert_eq!(prefix.len(), 8, "{s}");
            assert!(u64::from_str_radix(counter, 16).is_ok(), "{s}");
            assert!(seen.insert(s.to_string()), "duplicate {s}");
        }
        // Earlier ids are intact after later ones filled and replaced the arena.
        assert_eq!(ids[0].as_str(), ids[0].header().to_str().unwrap());
        assert_ne!(ids[0].as_str(), ids[1999].as_str());
    }
}
