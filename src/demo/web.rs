//! Plumbing shared by the demo's two small servers (the development IdP and the demo backend):
//! loopback-only binding, a plain HTTP/1.1 accept loop, form bodies and the "development only"
//! page frame (built on [`crate::http::response::page`], the one place pages are made).
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::http::response::{escape_html, page};
use crate::http::Body;

/// Largest form body the demo servers read.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Binds `addr` for the demo component `what`, refusing anything but a loopback address.
pub async fn bind_loopback(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{what}: refusing to listen on {addr}: the demo is for development only and binds loopback addresses only (127.0.0.1 or [::1])"
        ));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("{what}: cannot listen on {addr}: {e}"))
}

/// Serves HTTP/1.1 on `listener` with `handler` until the runtime stops.
pub fn spawn_server<H, F>(listener: TcpListener, handler: Arc<H>)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(std::time::Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// Reads an `application/x-www-form-urlencoded` body (at most 64 KiB) into pairs.
pub async fn read_form(req: Request<Incoming>) -> Result<Vec<(String, String)>, String> {
    let body = Limited::new(req.into_body(), MAX_FORM_BYTES)
        .collect()
        .await
        .map_err(|e| format!("cannot read the request body: {e}"))?
        .to_bytes();
    Ok(url::form_urlencoded::parse(&body).into_owned().collect())
}

/// The first value of `name` in form or query pairs.
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Query pairs of a request.
pub fn query_pairs<B>(req: &Request<B>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// A page of the demo: [`page`] with a "development only" banner first.
pub fn dev_page(
    status: StatusCode,
    id: &str,
    title: &str,
    message: &str,
    extra_html: &str,
) -> Response<Body> {
    let banner = "<p id=\"development-only\" style=\"background:#fff3cd;border:1px solid #e0c060;padding:.4rem .6rem;border-radius:4px\">\
<strong>Development only.</strong> This is <code>octogate demo</code>: a built-in identity provider with fixed demo users \
and throwaway keys. Never use it for a real site.</p>";
    page(status, id, title, message, &format!("{banner}{extra_html}"))
}

/// A "development only" error page.
pub fn dev_error(status: StatusCode, message: &str) -> Response<Body> {
    let title = format!(
        "{} (development only)",
        status.canonical_reason().unwrap_or("Error")
    );
    dev_page(status, "demo-error", &title, message, "")
}

/// Replaces a page's content security policy so its form may also post to (and be redirected
/// to) `origin`. Browsers apply `form-action` to the redirects after a form submission, and the
/// IdP's login form ends in a redirect to octogate's callback on another port.
pub fn allow_form_target(mut resp: Response<Body>, origin: &str) -> Response<Body> {
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut().insert("content-security-policy", v);
    }
    resp
}

/// HTML-escapes (re-exported for the demo pages).
pub fn esc(s: &str) -> String {
    escape_html(s)
}
