//! What every request must be before octogate looks further (RFC 9112 §3.2, RFC 9110 §9.3.8):
//! an HTTP/1.1 request carries exactly one valid `Host`, and `TRACE`/`TRACK` (which echo the
//! request, headers included, back to the caller) are not passed on.
use http::{Method, Request, StatusCode, Version};

use super::{response, Body};

/// Why a request is refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An HTTP/1.1 request without `Host`.
    MissingHost,
    /// More than one `Host` field.
    RepeatedHost,
    /// A `Host` that is not `host[:port]`.
    InvalidHost,
    /// `TRACE` or `TRACK`.
    TraceMethod,
}

impl Refusal {
    /// Short reason for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::MissingHost => "HTTP/1.1 request without Host",
            Refusal::RepeatedHost => "more than one Host header",
            Refusal::InvalidHost => "invalid Host header",
            Refusal::TraceMethod => "TRACE/TRACK method",
        }
    }

    /// The page the client gets.
    pub fn response(self) -> http::Response<Body> {
        match self {
            Refusal::TraceMethod => response::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "TRACE and TRACK requests are not passed on.",
            ),
            _ => response::error(
                StatusCode::BAD_REQUEST,
                "The request's Host header is missing, repeated or malformed.",
            ),
        }
    }
}

/// Admits `req`, or says why not.
pub fn admit<B>(req: &Request<B>) -> Result<(), Refusal> {
    let method = req.method();
    if method == Method::TRACE || method.as_str().eq_ignore_ascii_case("TRACK") {
        return Err(Refusal::TraceMethod);
    }
    let mut hosts = req.headers().get_all(http::header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => Err(Refusal::RepeatedHost),
        (Some(h), None) if valid_host(h.as_bytes()) => Ok(()),
        (Some(_), None) => Err(Refusal::InvalidHost),
        // HTTP/2 and HTTP/3 carry the authority in `:authority`; HTTP/1.0 need not send one.
        (None, None) if req.version() == Version::HTTP_11 => Err(Refusal::MissingHost),
        (None, None) => Ok(()),
    }
}

/// `uri-host [ ":" port ]` (RFC 3986): an IP literal in brackets or a reg-name / IPv4 address of
/// unreserved, percent-encoded and sub-delim characters; the port all digits.
fn valid_host(v: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = v.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let (literal, after) = rest.split_at(end);
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|b| b.is_ascii_hexdigit() || b":.".contains(b));
        if !ok {
            return false;
        }
        (&b"x"[..], after.get(1..).unwrap_or_default())
    } else {
        match v.iter().position(|&b| b == b':') {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, &b""[..]),
        }
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    port_ok
        && !host.is_empty()
        && host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, version: Version, hosts: &[&[u8]]) -> Request<()> {
        let mut r = Request::builder().method(method).uri("/").version(version);
        for h in hosts {
            r = r.header(
                http::header::HOST,
                http::HeaderValue::from_bytes(h).expect("value"),
            );
        }
        r.body(()).expect("request")
    }

    #[test]
    fn one_valid_host() {
        for h in [
            &b"example.com"[..],
            b"example.com:8443",
            b"127.0.0.1:4180",
            b"[::1]:4180",
            b"[2001:db8::1]",
            b"xn--bcher-kva.example",
            b"example.com:",
        ] {
            assert_eq!(admit(&req("GET", Version::HTTP_11, &[h])), Ok(()), "{h:?}");
        }
    }

    #[test]
    fn host_missing_repeated_or_malformed_is_refused() {
        assert_eq!(
            admit(&req("GET", Version::HTTP_11, &[])),
            Err(Refusal::MissingHost)
        );
        assert_eq!(admit(&req("GET", Version::HTTP_10, &[])), Ok(()));
        assert_eq!(admit(&req("GET", Version::HTTP_2, &[])), Ok(()));
        assert_eq!(
            admit(&req("GET", Version::HTTP_11, &[b"a", b"a"])),
            Err(Refusal::RepeatedHost)
        );
        for h in [
            &b""[..],
            b"a b",
            b"evil@example.com",
            b"example.com/path",
            b"example.com:80:80",
            b"example.com:8o",
            b":80",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"[::1]:x",
            b"example.com?",
            b"example.com#",
            b"exa\tmple.com",
            b"\"example.com\"",
        ] {
            assert_eq!(
                admit(&req("GET", Version::HTTP_11, &[h])),
                Err(Refusal::InvalidHost),
                "{h:?}"
            );
        }
    }

    #[test]
    fn trace_and_track_are_refused() {
        assert_eq!(
            admit(&req("TRACE", Version::HTTP_11, &[b"x"])),
            Err(Refusal::TraceMethod)
        );
        assert_eq!(
            admit(&req("TRACK", Version::HTTP_11, &[b"x"])),
            Err(Refusal::TraceMethod)
        );
        assert_eq!(admit(&req("OPTIONS", Version::HTTP_11, &[b"x"])), Ok(()));
    }
}
