//! The separate Prometheus listener (`server.metrics_listen`).
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Response, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::App;
use crate::http::{full, Body};

/// Most connections the metrics listener serves at once (a scraper needs one or two).
const MAX_CONNECTIONS: usize = 16;
/// How long a metrics connection may take to send a request head, or stay idle between requests.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a metrics connection lives.
const MAX_LIFE: Duration = Duration::from_secs(60);

/// Binds the metrics address and serves `/metrics` there: at most [`MAX_CONNECTIONS`] at once
/// (more are closed at once), each with a head timeout and a maximum life, so that whoever
/// reaches the address cannot hold file descriptors the main listener needs.
pub async fn spawn(addr: SocketAddr, app: Arc<App>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on metrics address {addr}: {e}"))?;
    tracing::info!(listen = %addr, "metrics listening");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (EMFILE) and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!("metrics listener: too many connections; closed");
                continue;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let resp: Response<Body> = if req.uri().path() == "/metrics" {
                            let mut r = Response::new(full(
                                app.metrics().encode(
                                    app.runtime()
                                        .oidc
                                        .current()
                                        .map(|s| s.jwks_fetched_at.elapsed()),
                                ),
                            ));
                            r.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static(
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                ),
                            );
                            r
                        } else {
                            let mut r = Response::new(full("not found\n"));
                            *r.status_mut() = StatusCode::NOT_FOUND;
                            r
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEAD_TIMEOUT);
                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                let _ = tokio::time::timeout(MAX_LIFE, conn).await;
            });
        }
    });
    Ok(())
}
