//! One access-log line per request, written when the response body has been sent (or dropped),
//! with the byte count. Logs the normalised path only: never the query string (it can carry
//! authorization codes) nor any header value.
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::http::{Body, BoxError};

/// What the access line says about a request.
pub struct Entry {
    /// Method.
    pub method: http::Method,
    /// Normalised path (no query).
    pub path: String,
    /// Status sent.
    pub status: u16,
    /// Outcome label (matches the metrics).
    pub outcome: &'static str,
    /// Time since the request arrived.
    pub started: Instant,
    /// Time the upstream took to answer with headers, if forwarded.
    pub upstream: Option<Duration>,
    /// Request id.
    pub request_id: super::RequestId,
    /// Client IP.
    pub client_ip: std::net::IpAddr,
}

/// A body that counts bytes and logs the entry when it ends or is dropped.
pub struct Logged {
    inner: Body,
    bytes: u64,
    entry: Option<Entry>,
}

impl Logged {
    /// Wraps `inner`.
    pub fn wrap(inner: Body, entry: Entry) -> Body {
        Logged {
            inner,
            bytes: 0,
            entry: Some(entry),
        }
        .boxed()
    }

    fn finish(&mut self) {
        if let Some(e) = self.entry.take() {
            let total = e.started.elapsed();
            let path = logged_path(&e.path);
            tracing::info!(
                target: crate::logging::ACCESS_TARGET,
                method = e.method.as_str(),
                path = &*path,
                status = e.status,
                bytes = self.bytes,
                duration_us = micros(total),
                upstream_us = e.upstream.map(micros),
                outcome = e.outcome,
                request_id = e.request_id.as_str(),
                client_ip = %e.client_ip,
                "request"
            );
        }
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    self.bytes += d.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.finish(),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.finish();
    }
}

/// How much of a path an access line shows: lines wait in memory while stderr is slow, so their
/// size is bounded (a path may be 8 KiB).
const LOGGED_PATH_MAX: usize = 1024;

/// The path as logged: at most [`LOGGED_PATH_MAX`] bytes, then `...`.
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.get(..LOGGED_PATH_MAX) {
        Some(head) if head.len() < path.len() => format!("{head}...").into(),
        _ => path.into(),
    }
}

/// A duration in whole microseconds (an integer is much cheaper to log than a float).
fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_in_the_log() {
        assert_eq!(logged_path("/a"), "/a");
        let long = format!("/{}", "x".repeat(5000));
        let logged = logged_path(&long);
        assert_eq!(logged.len(), LOGGED_PATH_MAX + 3);
        assert!(logged.ends_with("..."));
        assert_eq!(
            logged_path(&long[..LOGGED_PATH_MAX]),
            &long[..LOGGED_PATH_MAX]
        );
    }
}
