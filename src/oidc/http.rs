//! The HTTP adapter between the OIDC layer (and openidconnect's `AsyncHttpClient`) and octogate's
//! one HTTP client stack.
//!
//! One timeout covers the whole exchange (connect, request, response head and body); redirects are
//! never followed (a 3xx is returned as-is, so nothing is ever sent to another host); response
//! bodies are read with a cap of [`MAX_RESPONSE_BYTES`].
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::http::client::HttpClient;

/// A request as openidconnect builds it.
pub type HttpRequest = openidconnect::HttpRequest;
/// A response as openidconnect consumes it.
pub type HttpResponse = openidconnect::HttpResponse;

/// Largest response body accepted from the IdP (1 MiB).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Why an HTTP exchange with the IdP failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request could not be built.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Connecting or sending failed (the text includes the cause chain and target).
    #[error("{0}")]
    Send(String),
    /// The exchange took longer than the configured timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The response body exceeded [`MAX_RESPONSE_BYTES`].
    #[error("response body larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// Reading the response body failed.
    #[error("reading the response body failed: {0}")]
    Body(String),
}

/// A boxed response future, as returned by [`adapter`].
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

/// Sends one request through `client`, bounded by `timeout` for the whole exchange. Never follows
/// redirects and caps the body at [`MAX_RESPONSE_BYTES`].
pub async fn send(
    client: &HttpClient,
    timeout: Duration,
    request: HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let target = request_target(request.uri());
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, crate::http::full(body));
    match tokio::time::timeout(timeout, exchange(client, request, &target)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout(timeout)),
    }
}

/// An `openidconnect::AsyncHttpClient` over our client stack (the trait is implemented for such
/// closures), with the same guarantees as [`send`].
pub fn adapter(
    client: HttpClient,
    timeout: Duration,
) -> impl Fn(HttpRequest) -> ResponseFuture + Clone + Send + Sync + 'static {
    move |request: HttpRequest| {
        let client = client.clone();
        Box::pin(async move { send(&client, timeout, request).await }) as ResponseFuture
    }
}

/// `scheme://authority/path` of a URI, without the query (which could carry parameters that are
/// not for logs).
fn request_target(uri: &http::Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map(|a| a.as_str()).unwrap_or("?"),
        uri.path()
    )
}

async fn exchange(
    client: &HttpClient,
    request: http::Request<crate::http::Body>,
    target: &str,
) -> Result<HttpResponse, HttpError> {
    let response = client
        .request(request)
        .await
        .map_err(|e| HttpError::Send(format!("{} to {target}", error_chain(&e))))?;
    let (parts, body) = response.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_RESPONSE_BYTES as u64) {
        return Err(HttpError::TooLarge);
    }
    let collected = Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                HttpError::TooLarge
            } else {
                HttpError::Body(e.to_string())
            }
        })?;
    Ok(http::Response::from_parts(
        parts,
        collected.to_bytes().to_vec(),
    ))
}

/// The error and its sources joined with `: `, e.g. `client error (Connect): tcp connect error:
/// Connection refused (os error 111)`.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    let mut depth = 0;
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::testserver::{Reply, TestServer};
    use bytes::Bytes;

    fn client() -> HttpClient {
        crate::http::client::build(Duration::from_secs(2))
    }

    fn get(url: &str) -> HttpRequest {
        http::Request::builder().uri(url).body(Vec::new()).unwrap()
    }

    #[tokio::test]
    async fn small_body_passes_and_post_body_is_sent() {
        let server = TestServer::start(|req| {
            let body = req.body().clone();
            Reply::status(200).body(Bytes::from([b"echo:".as_slice(), &body].concat()))
        })
        .await;
        let req = http::Request::builder()
            .method("POST")
            .uri(server.url("/x"))
            .body(b"hello".to_vec())
            .unwrap();
        let resp = send(&client(), Duration::from_secs(2), req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.body(), b"echo:hello");
    }

    #[tokio::test]
    async fn body_cap_with_and_without_content_length() {
        let big = Bytes::from(vec![b'a'; MAX_RESPONSE_BYTES + 1]);
        let exact = Bytes::from(vec![b'b'; MAX_RESPONSE_BYTES]);
        let server = TestServer::start(move |req| match req.uri().path() {
            "/big" => Reply::status(200).body(big.clone()),
            "/big-chunked" => Reply::status(200).chunked(big.clone()),
            _ => Reply::status(200).body(exact.clone()),
        })
        .await;
        let c = client();
        let t = Duration::from_secs(5);
        assert_eq!(
            send(&c, t, get(&server.url("/big"))).await.unwrap_err(),
            HttpError::TooLarge
        );
        assert_eq!(
            send(&c, t, get(&server.url("/big-chunked")))
                .await
                .unwrap_err(),
            HttpError::TooLarge
        );
        let ok = send(&c, t, get(&server.url("/exact"))).await.unwrap();
        assert_eq!(ok.body().len(), MAX_RESPONSE_BYTES);
    }

    #[tokio::test]
    async fn timeout_covers_the_exchange() {
        let server = TestServer::start(|_| Reply::status(200).delay(Duration::from_secs(5))).await;
        let start = std::time::Instant::now();
        let err = send(
            &client(),
            Duration::from_millis(200),
            get(&server.url("/slow")),
        )
        .await
        .unwrap_err();
        assert_eq!(err, HttpError::Timeout(Duration::from_millis(200)));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn redirects_are_returned_not_followed() {
        let server = TestServer::start(|req| match req.uri().path() {
            "/redirect" => Reply::status(302).header("location", "http://127.0.0.1:9/elsewhere"),
            _ => Reply::status(200).body("followed"),
        })
        .await;
        let resp = send(
            &client(),
            Duration::from_secs(2),
            get(&server.url("/redirect")),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers()["location"], "http://127.0.0.1:9/elsewhere");
        assert_eq!(server.hits("/redirect"), 1);
    }

    #[tokio::test]
    async fn connection_refused_names_the_target() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/.well-known/openid-configuration?x=secret");
        let err = send(&client(), Duration::from_secs(2), get(&url))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("http://127.0.0.1:{port}/.well-known")),
            "{text}"
        );
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn adapter_is_an_openidconnect_async_http_client() {
        fn assert_client<C: for<'c> openidconnect::AsyncHttpClient<'c>>(_: &C) {}
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let a = adapter(client(), Duration::from_secs(1));
        assert_client(&a);
    }
}
