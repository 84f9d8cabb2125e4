//! The one HTTP client stack: hyper's HTTP/1.1 client over one connector (TCP + rustls). The
//! OpenID Provider is called through hyper-util's pooled client built here; the upstream uses the
//! same connector with connections it drives itself (`proxy::pool`).
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use super::Body;

/// A pooled keep-alive HTTP/1.1 client that speaks http and https.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Body>;

/// The connector behind every client: TCP (connect timeout, no Nagle, keep-alive probes) with
/// rustls for https (ring provider, bundled webpki roots, so a minimal image needs no CA bundle).
pub type Connector = HttpsConnector<HttpConnector>;

/// Builds the connector. `connect_timeout` bounds the TCP connect.
pub fn connector(connect_timeout: Duration) -> Connector {
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
    builder.https_or_http().enable_http1().wrap_connector(http)
}

/// Builds the pooled client (used for the OpenID Provider).
pub fn build(connect_timeout: Duration) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(connector(connect_timeout))
}
