//! Provider metadata and keys: discovery, JWKS fetch, and the loaded state.
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use serde::Deserialize;

use super::http::{send, HttpResponse};
use crate::http::client::HttpClient;

/// The parts of the discovery document octogate uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// The issuer identifier; equal to the configured issuer (checked on load).
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
    /// Userinfo endpoint, if any.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// JWKS location.
    pub jwks_uri: String,
    /// RP-initiated logout endpoint, if advertised.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// Token revocation endpoint (RFC 7009), if advertised.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
}

/// Loaded metadata and keys. Readers clone the `Arc` holding it; it is replaced, never mutated.
#[derive(Debug, Clone)]
pub struct ProviderState {
    /// The discovery document.
    pub metadata: Metadata,
    /// The provider's signing keys.
    pub jwks: CoreJsonWebKeySet,
    /// When the keys were fetched.
    pub jwks_fetched_at: Instant,
}

/// `{issuer}/.well-known/openid-configuration`, with exactly one slash between.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

fn get_request(url: &str) -> Result<super::http::HttpRequest, String> {
    http::Request::builder()
        .method(http::Method::GET)
        .uri(url)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| format!("invalid URL {url}: {e}"))
}

async fn get_ok(http: &HttpClient, timeout: Duration, url: &str) -> Result<HttpResponse, String> {
    let resp = send(http, timeout, get_request(url)?)
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != http::StatusCode::OK {
        return Err(format!("{url} answered HTTP {}", resp.status().as_u16()));
    }
    Ok(resp)
}

/// Checks an endpoint URL from the metadata: absolute http(s), and https whenever the issuer is.
fn check_endpoint(issuer: &str, name: &str, value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|e| format!("metadata {name} is not a URL: {e}"))?;
    let https_issuer = issuer.starts_with("https://");
    match url.scheme() {
        "https" => Ok(()),
        "http" if !https_issuer => Ok(()),
        other => Err(format!(
            "metadata {name} has scheme {other}, expected https"
        )),
    }
}

/// Fetches and checks the discovery document.
pub async fn fetch_metadata(
    http: &HttpClient,
    timeout: Duration,
    issuer: &str,
) -> Result<Metadata, String> {
    let url = discovery_url(issuer);
    let resp = get_ok(http, timeout, &url).await?;
    let metadata: Metadata = serde_json::from_slice(resp.body())
        .map_err(|e| format!("{url}: not a valid discovery document: {e}"))?;
    if metadata.issuer != issuer {
        return Err(format!(
            "{url}: metadata issuer {:?} is not the configured issuer {:?}",
            metadata.issuer, issuer
        ));
    }
    check_endpoint(
        issuer,
        "authorization_endpoint",
        &metadata.authorization_endpoint,
    )?;
    check_endpoint(issuer, "token_endpoint", &metadata.token_endpoint)?;
    check_endpoint(issuer, "jwks_uri", &metadata.jwks_uri)?;
    if let Some(u) = &metadata.userinfo_endpoint {
        check_endpoint(issuer, "userinfo_endpoint", u)?;
    }
    if let Some(u) = &metadata.revocation_endpoint {
        check_endpoint(issuer, "revocation_endpoint", u)?;
    }
    if let Some(u) = &metadata.end_session_endpoint {
        check_endpoint(issuer, "end_session_endpoint", u)?;
    }
    Ok(metadata)
}

/// Fetches the JWKS (keys that fail to parse are skipped; at least one must remain).
pub async fn fetch_jwks(
    http: &HttpClient,
    timeout: Duration,
    jwks_uri: &str,
) -> Result<CoreJsonWebKeySet, String> {
    let resp = get_ok(http, timeout, jwks_uri).await?;
    let jwks: CoreJsonWebKeySet = serde_json::from_slice(resp.body())
        .map_err(|e| format!("{jwks_uri}: not a valid JWK set: {e}"))?;
    if jwks.keys().is_empty() {
        return Err(format!("{jwks_uri}: the JWK set has no usable keys"));
    }
    Ok(jwks)
}

/// Fetches metadata, then keys.
pub async fn load(
    http: &HttpClient,
    timeout: Duration,
    issuer: &str,
) -> Result<ProviderState, String> {
    let metadata = fetch_metadata(http, timeout, issuer).await?;
    let jwks = fetch_jwks(http, timeout, &metadata.jwks_uri).await?;
    Ok(ProviderState {
        metadata,
        jwks,
        jwks_fetched_at: Instant::now(),
    })
}
