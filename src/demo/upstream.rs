//! The demo backend: a stand-in for the October site behind octogate. It verifies the identity
//! assertion exactly as the October shim does ([`Verifier`]: octogate's public key, issuer = the
//! public URL's origin, the configured audience) and shows who you are.
//!
//! **Development only.**
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::web::{self, dev_page, esc};
use crate::assertion::{Verifier, HEADER_NAME};
use crate::http::Body;

/// Clock skew the demo backend allows (the shim's default).
const SKEW_SECS: u64 = 30;

/// The demo backend.
#[derive(Debug)]
pub struct Backend {
    verifier: Verifier,
}

impl Backend {
    /// A backend trusting assertions signed by `key` for `issuer` and `audience`.
    pub fn new(key: ed25519_dalek::VerifyingKey, issuer: String, audience: String) -> Backend {
        Backend {
            verifier: Verifier::new(&[key], issuer, audience, SKEW_SECS),
        }
    }

    /// Handles one request.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path();
        let token = req.headers().get(HEADER_NAME).and_then(|v| v.to_str().ok());
        if path == "/" {
            return home(token.is_some());
        }
        if path == "/backend" || path.starts_with("/backend/") {
            return self.backend(token);
        }
        web::dev_error(
            StatusCode::NOT_FOUND,
            "The demo backend has only / (public) and /backend (signed in).",
        )
    }

    fn backend(&self, token: Option<&str>) -> Response<Body> {
        let Some(token) = token else {
            return dev_page(
                StatusCode::UNAUTHORIZED,
                "demo-no-identity",
                "Demo backend: no identity",
                "No identity assertion arrived. A real October site would show its own login form here.",
                "<p><a class=\"button\" href=\"/\">Home</a></p>",
            );
        };
        let claims = match self.verifier.verify(token, crate::app::unix_now()) {
            Ok(c) => c,
            Err(v) => {
                return dev_page(
                    StatusCode::UNAUTHORIZED,
                    "demo-bad-assertion",
                    "Demo backend: assertion rejected",
                    &format!("The identity assertion did not verify: {}.", v.code()),
                    "",
                )
            }
        };
        let opt = |v: &Option<String>| {
            v.as_deref()
                .map(esc)
                .unwrap_or_else(|| "<em>none</em>".into())
        };
        let groups = if claims.groups.is_empty() {
            "<em>none</em>".to_string()
        } else {
            esc(&claims.groups.join(", "))
        };
        let rows = [
            ("sub", "Subject", esc(&claims.sub)),
            ("email", "Email", opt(&claims.email)),
            ("name", "Name", opt(&claims.name)),
            ("username", "Username", opt(&claims.preferred_username)),
            ("role", "October role", esc(&claims.role)),
            (
                "superuser",
                "Superuser",
                if claims.superuser {
                    "yes".into()
                } else {
                    "no".into()
                },
            ),
            ("groups", "Groups", groups),
            (
                "expires",
                "Assertion valid for",
                format!("{} s", claims.exp.saturating_sub(crate::app::unix_now())),
            ),
        ];
        let table: String = rows
            .iter()
            .map(|(id, label, value)| format!("<tr><th style=\"text-align:left;padding-right:1rem\">{label}</th><td id=\"{id}\">{value}</td></tr>"))
            .collect();
        let extra = format!(
            "<table>{table}</table><p>The <code>{HEADER_NAME}</code> header verified exactly as the October shim verifies it.</p>\
<p><a class=\"button\" id=\"sign-out\" href=\"/oauth2/sign_out\">Sign out</a> <a class=\"button\" href=\"/\">Public home</a></p>"
        );
        let who = claims
            .name
            .as_deref()
            .or(claims.email.as_deref())
            .unwrap_or(&claims.sub);
        dev_page(
            StatusCode::OK,
            "demo-backend",
            "Demo October backend",
            &format!("Welcome, {who}."),
            &extra,
        )
    }
}

fn home(has_assertion: bool) -> Response<Body> {
    let message = if has_assertion {
        "An identity assertion arrived on a public page: that should never happen."
    } else {
        "This is the public site: octogate forwards it without sign-in and without any identity (no assertion arrived)."
    };
    dev_page(
        StatusCode::OK,
        "demo-home",
        "Demo October site: public home",
        message,
        "<p id=\"identity\">Identity: <em>none</em></p><p><a class=\"button\" id=\"to-backend\" href=\"/backend\">Go to the backend (sign-in)</a></p>",
    )
}

/// Binds the backend on `addr` (loopback only); returns the bound address. The backend itself
/// is built once octogate's key is known, via the returned setter.
pub async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), String> {
    let listener = web::bind_loopback(addr, "demo upstream").await?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("demo upstream: {e}"))?;
    Ok((listener, bound))
}

/// Serves `backend` on a listener from [`bind`].
pub fn serve(listener: tokio::net::TcpListener, backend: Backend) {
    let b = Arc::new(backend);
    web::spawn_server(listener, Arc::new(move |req| b.clone().handle(req)));
}
