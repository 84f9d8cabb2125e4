//! The separate Prometheus listener (`server.metrics_listen`).
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Response, StatusCode};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::App;
use crate::http::{full, Body};

/// Binds the metrics address and serves `/metrics` there.
pub async fn spawn(addr: SocketAddr, app: Arc<App>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on metrics address {addr}: {e}"))?;
    tracing::info!(listen = %addr, "metrics listening");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let app = app.clone();
            tokio::spawn(async move {
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
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}
