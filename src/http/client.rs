//! The one HTTP client stack: a pooled hyper-util client over rustls, used for the upstream and for
//! the OpenID Provider alike.
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::Body;

/// A pooled keep-alive HTTP/1.1 client that speaks http and https.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

/// Builds the client. `connect_timeout` bounds the TCP connect; TLS uses rustls with the ring
/// provider and the bundled webpki roots (so a minimal container image needs no CA bundle).
pub fn build(connect_timeout: Duration) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder
        .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
    {
        Ok(b) => b,
        // Unreachable with ring (it supports the safe defaults); keep a working connector anyway.
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots(),
    };
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(https)
}
