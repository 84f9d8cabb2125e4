//! The one place that builds responses octogate answers itself: pages, JSON, redirects.
//!
//! Every page is a small self-contained HTML document with escaped content, `no-store`, and a strict
//! content security policy.
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{Response, StatusCode};

use super::{full, Body};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn base(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// An HTML page. `title` and `message` are plain text (escaped here); `extra_html` is trusted
/// markup built by the caller from escaped parts. `id` is put on the main element for tests and
/// styling.
pub fn page(
    status: StatusCode,
    id: &str,
    title: &str,
    message: &str,
    extra_html: &str,
) -> Response<Body> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{t}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}\
h1{{font-size:1.4rem}}.muted{{color:#666;font-size:.9rem}}a.button{{display:inline-block;padding:.4rem .9rem;border:1px solid #888;border-radius:4px;text-decoration:none;color:#222}}</style></head>\
<body><main id=\"{id}\"><h1>{t}</h1><p>{m}</p>{extra_html}<p class=\"muted\">octogate &middot; {status}</p></main></body></html>",
        t = escape_html(title),
        m = escape_html(message),
        id = escape_html(id),
        status = status.as_u16(),
    );
    let mut resp = base(status, "text/html; charset=utf-8", full(html));
    if let Ok(v) = HeaderValue::from_str(CSP) {
        resp.headers_mut().insert("content-security-policy", v);
    }
    resp.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    resp
}

/// A plain error page with a fixed message for a status.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    let title = status.canonical_reason().unwrap_or("Error");
    page(status, "octogate-error", title, message, "")
}

/// A JSON response from an already-serialised body.
pub fn json(status: StatusCode, body: String) -> Response<Body> {
    base(status, "application/json", full(body))
}

/// A short JSON error (for API/AJAX clients): `{"error":code,"message":text}`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": code, "message": message }).to_string();
    json(status, body)
}

/// Plain text.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    base(status, "text/plain; charset=utf-8", full(body))
}

/// A 302 redirect to an absolute URL or a local path that the caller has already validated.
pub fn redirect(location: &str) -> Response<Body> {
    let mut resp = base(StatusCode::FOUND, "text/plain; charset=utf-8", full(""));
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(LOCATION, v);
            resp
        }
        // Never reachable with validated input; fail closed with an error page.
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not build the redirect.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            escape_html("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }

    #[test]
    fn redirect_rejects_header_injection() {
        let r = redirect("/x\r\nSet-Cookie: a=b");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().get(LOCATION).is_none());
    }
}
