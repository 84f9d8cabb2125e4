//! Authentication and authorisation of a protected request: read the session cookie, enforce its
//! lifetimes, refresh at the IdP (single-flight per session), decide access, and build the
//! identity headers and assertion for the upstream.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::header::{HeaderMap, HeaderName, HeaderValue, SET_COOKIE};
use http::{Response, StatusCode};

use super::audit::Event;
use super::{App, Ctx};
use crate::access::Decision;
use crate::assertion::IdentityHeaders;
use crate::http::{response, Body};
use crate::identity::{Grant, Identity};
use crate::oidc::RefreshError;
use crate::session::{self, SessionCheck, SessionData};

/// What to do with a protected request.
pub(crate) enum Outcome {
    /// Forward with these headers, and set these cookies on the response.
    Allowed {
        identity_headers: IdentityHeaders,
        set_cookies: Vec<HeaderValue>,
        /// How long the session stays usable unchecked ([`SessionData::valid_for`]).
        valid_for: std::time::Duration,
    },
    /// Answer directly.
    Respond {
        outcome: &'static str,
        response: Response<Body>,
    },
}

/// A session read from the request. Lives briefly on the stack of one request; boxing the session
/// would cost an allocation on the hot path for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Loaded {
    /// No session cookie.
    None,
    /// A cookie that is not a usable session (reason for the log); `chunks` to clear.
    Invalid { reason: &'static str, chunks: usize },
    /// A decrypted session.
    Session {
        data: Arc<SessionData>,
        chunks: usize,
    },
}

/// Reads and decrypts the session cookie. Bad cookies are "no session", never an error page.
pub(crate) fn load(headers: &HeaderMap, ctx: &Ctx) -> Loaded {
    let name = &ctx.rt.cfg.session.cookie_name;
    let (value, chunks) = match session::read(headers.get_all(http::header::COOKIE).iter(), name) {
        Ok(None) => return Loaded::None,
        Ok(Some(v)) => v,
        Err(_) => {
            return Loaded::Invalid {
                reason: "malformed_cookie",
                chunks: session::MAX_CHUNKS,
            }
        }
    };
    if let Some(data) = ctx.rt.opened.get(&value) {
        return Loaded::Session { data, chunks };
    }
    let plain = match ctx.rt.cipher.open(name, &value) {
        Ok(p) => p,
        Err(_) => {
            return Loaded::Invalid {
                reason: "undecryptable_cookie",
                chunks,
            }
        }
    };
    match SessionData::decode(&plain) {
        Ok(data) => {
            let data = Arc::new(data);
            ctx.rt.opened.insert(&value, data.clone());
            Loaded::Session { data, chunks }
        }
        Err(_) => Loaded::Invalid {
            reason: "malformed_session",
            chunks,
        },
    }
}

/// `Set-Cookie` values that write `data` as the session (clearing stale chunks).
pub(crate) fn write_session(
    ctx: &Ctx,
    data: &SessionData,
    previous_chunks: usize,
) -> Result<Vec<HeaderValue>, String> {
    let name = &ctx.rt.cfg.session.cookie_name;
    let sealed = ctx
        .rt
        .cipher
        .seal(name, &data.encode())
        .map_err(|e| e.to_string())?;
    // The browser's next request carries exactly this value: open it from memory then.
    ctx.rt.opened.insert(&sealed, Arc::new(data.clone()));
    let headers =
        session::set_cookie_headers(name, &sealed, &ctx.rt.session_attrs, previous_chunks)
            .map_err(|e| e.to_string())?;
    Ok(headers
        .into_iter()
        .filter_map(|h| HeaderValue::from_str(&h).ok())
        .collect())
}

/// `Set-Cookie` values that clear the session cookie, its chunks and any stray chunk-like cookie
/// the request brought ([`session::stray_chunk_names`]).
pub(crate) fn clear_session(ctx: &Ctx, chunks: usize, headers: &HeaderMap) -> Vec<HeaderValue> {
    let name = &ctx.rt.cfg.session.cookie_name;
    let mut names = vec![name.clone()];
    for i in 0..chunks.clamp(1, session::MAX_CHUNKS) {
        names.push(format!("{name}_{i}"));
    }
    names.extend(session::stray_chunk_names(
        headers.get_all(http::header::COOKIE).iter(),
        name,
    ));
    session::clear_cookie_headers(name, &ctx.rt.session_attrs, &names)
        .into_iter()
        .filter_map(|h| HeaderValue::from_str(&h).ok())
        .collect()
}

/// How long (seconds) an "IdP unreachable" refresh result is shared before the IdP is asked again.
const UNAVAILABLE_RETRY_SECS: u64 = 2;

/// The single-flight refresh table: concurrent requests carrying the same session wait for one
/// refresh at the IdP and all get its result (and so the new cookie, even with refresh-token
/// rotation). Entries are kept briefly so late requests with the old cookie get the new one.
#[derive(Default)]
pub(crate) struct RefreshFlights {
    flights: Mutex<HashMap<(String, u64), Arc<Flight>>>,
}

struct Flight {
    started: u64,
    result: tokio::sync::OnceCell<RefreshResult>,
    /// A kept failure (see [`RefreshFlights::failed`]), not a refresh attempt.
    kept_failure: bool,
}

#[derive(Clone)]
enum RefreshResult {
    Refreshed(Box<SessionData>),
    SignedOut(String),
    Unavailable(String),
}

impl RefreshFlights {
    fn flight(&self, sid: &str, last_refresh: u64, now: u64) -> Arc<Flight> {
        let mut map = match self.flights.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.retain(|_, f| {
            let age = now.saturating_sub(f.started);
            age < 120
                && !(age >= UNAVAILABLE_RETRY_SECS
                    && matches!(f.result.get(), Some(RefreshResult::Unavailable(_))))
        });
        map.entry((sid.to_string(), last_refresh))
            .or_insert_with(|| {
                Arc::new(Flight {
                    started: now,
                    result: tokio::sync::OnceCell::new(),
                    kept_failure: false,
                })
            })
            .clone()
    }

    /// Records a transient failure (IdP unreachable) of `flight`: the failure is kept from
    /// now on for [`UNAVAILABLE_RETRY_SECS`] only, so later requests of the session ask the IdP
    /// again soon (and pick up its recovery) without each one waiting for a slow failure.
    fn failed(&self, sid: &str, last_refresh: u64, flight: &Arc<Flight>, result: &RefreshResult) {
        let mut map = match self.flights.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        let key = (sid.to_string(), last_refresh);
        if !flight.kept_failure && map.get(&key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            let done = Flight {
                started: super::unix_now(),
                result: tokio::sync::OnceCell::new_with(Some(result.clone())),
                kept_failure: true,
            };
            map.insert(key, Arc::new(done));
        }
    }
}

async fn refresh(app: &App, ctx: &Ctx, data: &SessionData) -> RefreshResult {
    let flight = app.refresh.flight(&data.sid, data.last_refresh, ctx.now());
    let result = flight
        .result
        .get_or_init(|| async {
            let Some(rt_token) = data.refresh_token.as_deref() else {
                // No refresh token (offline_access not granted): the session cannot be
                // re-validated at the IdP, so it ends at the refresh interval.
                return RefreshResult::SignedOut("no_refresh_token".into());
            };
            match ctx.rt.oidc.refresh(rt_token, &data.identity).await {
                Ok(tokens) => {
                    let mut next = data.clone();
                    let mut identity = tokens.identity;
                    identity.groups = ctx.rt.policy.relevant_groups(&identity.groups);
                    next.identity = identity;
                    next.refresh_token =
                        tokens.refresh_token.or_else(|| data.refresh_token.clone());
                    if tokens.id_token.is_some() {
                        next.id_token_hint = tokens.id_token;
                    }
                    next.last_refresh = ctx.now();
                    next.last_seen = ctx.now();
                    RefreshResult::Refreshed(Box::new(next))
                }
                Err(RefreshError::Rejected(r)) => RefreshResult::SignedOut(r),
                Err(RefreshError::Invalid(r)) => {
                    RefreshResult::SignedOut(format!("invalid refresh response: {r}"))
                }
                Err(RefreshError::Unavailable(r)) => RefreshResult::Unavailable(r),
            }
        })
        .await
        .clone();
    // An unreachable IdP is transient: requests already waiting on this flight share its
    // result, but later ones must try again soon rather than reuse the failure for the table's
    // whole retention time (which kept failing closed after the IdP was back).
    if matches!(result, RefreshResult::Unavailable(_)) {
        app.refresh
            .failed(&data.sid, data.last_refresh, &flight, &result);
    }
    result
}

/// Authenticates and authorises a protected request.
pub(crate) async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    ctx: &Ctx,
    navigation: bool,
    target: &crate::proxy::Target<'_>,
) -> Outcome {
    let unauthenticated = |ctx: &Ctx,
                           navigation: bool,
                           target: &crate::proxy::Target<'_>,
                           clear: Vec<HeaderValue>| {
        unauthenticated(ctx, headers, navigation, &target.path_and_query(), clear)
    };
    let rt = &ctx.rt;
    let (mut data, chunks) = match load(headers, ctx) {
        Loaded::Session { data, chunks } => (data, chunks),
        Loaded::None => return unauthenticated(ctx, navigation, target, Vec::new()),
        Loaded::Invalid { reason, chunks } => {
            tracing::info!(request_id = %ctx.request_id, reason, "session cookie rejected; treated as no session");
            app.audit()
                .log(Event::SessionRejected, &ctx.audit_ctx(None, None), reason);
            return unauthenticated(ctx, navigation, target, clear_session(ctx, chunks, headers));
        }
    };
    let mut dirty = false;
    match data.check(ctx.now(), &rt.times) {
        SessionCheck::Valid => {}
        SessionCheck::Expired(why) => {
            let reason = format!("session expired ({why:?})");
            tracing::info!(request_id = %ctx.request_id, sub = %data.identity.sub, reason = %reason, "session ended");
            app.audit().log(
                Event::SessionRejected,
                &ctx.audit_ctx(Some(&data.identity.sub), data.identity.email.as_deref()),
                &reason,
            );
            return unauthenticated(ctx, navigation, target, clear_session(ctx, chunks, headers));
        }
        // Boxed: a refresh is rare and its IdP call's state is large; inline, it would sit in
        // every connection's request future.
        SessionCheck::NeedsRefresh => match Box::pin(refresh(app, ctx, &data)).await {
            RefreshResult::Refreshed(next) => {
                tracing::info!(request_id = %ctx.request_id, sub = %next.identity.sub, groups = next.identity.groups.len(), "session refreshed at the IdP");
                app.metrics().refresh(true, "ok");
                app.audit().log(
                    Event::RefreshOk,
                    &ctx.audit_ctx(Some(&next.identity.sub), next.identity.email.as_deref()),
                    "ok",
                );
                data = Arc::new(*next);
                dirty = true;
            }
            RefreshResult::SignedOut(reason) => {
                tracing::warn!(request_id = %ctx.request_id, sub = %data.identity.sub, reason = %reason, "refresh refused by the IdP: signing the user out");
                app.metrics().refresh(false, "rejected");
                app.audit().log(
                    Event::UserRemoved,
                    &ctx.audit_ctx(Some(&data.identity.sub), data.identity.email.as_deref()),
                    &reason,
                );
                return unauthenticated(
                    ctx,
                    navigation,
                    target,
                    clear_session(ctx, chunks, headers),
                );
            }
            RefreshResult::Unavailable(reason) => {
                app.metrics().refresh(false, "unavailable");
                app.audit().log(
                    Event::RefreshFailed,
                    &ctx.audit_ctx(Some(&data.identity.sub), data.identity.email.as_deref()),
                    &reason,
                );
                if data.refresh_overdue(ctx.now(), &rt.times) {
                    tracing::warn!(request_id = %ctx.request_id, sub = %data.identity.sub, reason = %reason, "IdP unreachable beyond the refresh grace period: failing closed");
                    return Outcome::Respond {
                        outcome: "unauthorized",
                        response: with_cookies(
                            response::error(StatusCode::SERVICE_UNAVAILABLE, "Your session could not be re-checked with the identity provider, which is unreachable. Please try again shortly."),
                            clear_session(ctx, chunks, headers),
                        ),
                    };
                }
                tracing::warn!(request_id = %ctx.request_id, sub = %data.identity.sub, reason = %reason, "IdP unreachable; session continues within the refresh grace period");
            }
        },
    }
    // Sliding idle timeout: record activity at most once a minute to keep cookie writes rare,
    // and at least four times per idle timeout, so an active user is never idled out (with
    // the 60 s minimum idle timeout a once-a-minute write only came due when the session had
    // already expired).
    let record_every = (rt.times.idle_timeout.as_secs() / 4).min(60);
    if !dirty && ctx.now().saturating_sub(data.last_seen) >= record_every {
        Arc::make_mut(&mut data).last_seen = ctx.now();
        dirty = true;
    }
    let grant = match rt.policy.decide(&data.identity) {
        Decision::Allow(g) => g,
        Decision::Deny(reason) => {
            tracing::info!(request_id = %ctx.request_id, sub = %data.identity.sub, reason = reason.code(), "access denied");
            app.audit().log(
                Event::Denied,
                &ctx.audit_ctx(Some(&data.identity.sub), data.identity.email.as_deref()),
                reason.code(),
            );
            let mut cookies = Vec::new();
            if dirty {
                cookies = write_session(ctx, &data, chunks).unwrap_or_default();
            }
            return Outcome::Respond {
                outcome: "denied",
                response: with_cookies(deny_page(ctx, &data.identity), cookies),
            };
        }
    };
    if data.grant.as_ref() != Some(&grant) {
        Arc::make_mut(&mut data).grant = Some(grant.clone());
        dirty = true;
    }
    let mut set_cookies = Vec::new();
    if dirty {
        match write_session(ctx, &data, chunks) {
            Ok(c) => set_cookies = c,
            Err(e) => {
                tracing::error!(request_id = %ctx.request_id, reason = %e, "could not write the session cookie");
                return Outcome::Respond {
                    outcome: "refused",
                    response: response::error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The session could not be saved.",
                    ),
                };
            }
        }
    }
    let identity_headers = identity_headers(app, ctx, &data.identity, &grant, &data.sid);
    Outcome::Allowed {
        identity_headers,
        set_cookies,
        valid_for: data.valid_for(ctx.now(), &rt.times),
    }
}

/// The headers that carry the identity upstream: the signed assertion (the only thing the shim
/// trusts) and plain convenience headers for logs and other tools. Cached per session with the
/// assertion they belong to.
pub(crate) fn identity_headers(
    app: &App,
    ctx: &Ctx,
    id: &Identity,
    grant: &Grant,
    sid: &str,
) -> IdentityHeaders {
    app.cache
        .headers(&ctx.rt.signer, id, grant, sid, ctx.now(), |out| {
            plain_identity_headers(id, out)
        })
}

/// `X-Forwarded-User`, `-Email`, `-Preferred-Username` and `-Groups` (comma-separated). Values
/// go as their bytes, so a UTF-8 name or address (obs-text) is passed on, not dropped.
/// These are for logs and other tools, which may take them at face value: the email goes only
/// when the IdP marked it verified, and a group whose name holds a comma (which would read as
/// two groups) is left out. The assertion carries the full identity either way.
fn plain_identity_headers(id: &Identity, out: &mut Vec<(HeaderName, HeaderValue)>) {
    let mut push = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            out.push((HeaderName::from_static(name), v));
        }
    };
    push("x-forwarded-user", &id.sub);
    if let Some(e) = id.email.as_ref().filter(|_| id.email_verified) {
        push("x-forwarded-email", e);
    }
    if let Some(u) = &id.preferred_username {
        push("x-forwarded-preferred-username", u);
    }
    let groups: Vec<&str> = id
        .groups
        .iter()
        .map(String::as_str)
        .filter(|g| !g.contains(','))
        .collect();
    push("x-forwarded-groups", &groups.join(","));
}

/// No usable session: a browser navigation is sent to sign in; anything else gets 401.
pub(crate) fn unauthenticated(
    ctx: &Ctx,
    headers: &HeaderMap,
    navigation: bool,
    path_and_query: &str,
    clear: Vec<HeaderValue>,
) -> Outcome {
    if !navigation {
        let resp = response::json_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Sign-in required. Reload the page to sign in again.",
        );
        return Outcome::Respond {
            outcome: "unauthorized",
            response: with_cookies(resp, clear),
        };
    }
    let resp = super::endpoints::start_signin(ctx, headers, path_and_query);
    Outcome::Respond {
        outcome: "redirected_to_signin",
        response: with_cookies(resp, clear),
    }
}

/// Adds `Set-Cookie` values to a response.
pub(crate) fn with_cookies(mut resp: Response<Body>, cookies: Vec<HeaderValue>) -> Response<Body> {
    for c in cookies {
        resp.headers_mut().append(SET_COOKIE, c);
    }
    resp
}

/// The page a signed-in user without access to this site sees.
pub(crate) fn deny_page(ctx: &Ctx, id: &Identity) -> Response<Body> {
    use crate::http::response::escape_html;
    let who = id
        .email
        .as_deref()
        .or(id.preferred_username.as_deref())
        .unwrap_or(&id.sub);
    let cfg = &ctx.rt.cfg.access;
    let mut extra = format!(
        "<p>Signed in as <strong>{}</strong>.</p><p>Ask {} for access, or sign out to switch account.</p>",
        escape_html(who),
        escape_html(&cfg.contact)
    );
    if cfg.show_groups_on_deny && !cfg.allowed_groups.is_empty() {
        extra.push_str("<p>Access is given to members of: ");
        extra.push_str(
            &cfg.allowed_groups
                .iter()
                .map(|g| escape_html(g))
                .collect::<Vec<_>>()
                .join(", "),
        );
        extra.push_str("</p>");
    }
    extra.push_str(
        "<p><a class=\"button\" id=\"sign-out\" href=\"/oauth2/sign_out\">Sign out</a></p>",
    );
    response::page(
        StatusCode::FORBIDDEN,
        "octogate-denied",
        "No access to this site",
        "Your Okta account has no access to this site.",
        &extra,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(id: &Identity) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        plain_identity_headers(id, &mut out);
        out
    }

    #[test]
    fn plain_identity_headers_keep_utf8_values() {
        let id = Identity {
            sub: "u-jürgen".into(),
            email: Some("jürgen@exämple.de".into()),
            email_verified: true,
            name: None,
            preferred_username: Some("jürgen".into()),
            groups: vec!["rédaction".into(), "admins".into()],
        };
        let out = plain(&id);
        let got: Vec<(&str, &[u8])> = out
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(
            got,
            [
                ("x-forwarded-user", "u-jürgen".as_bytes()),
                ("x-forwarded-email", "jürgen@exämple.de".as_bytes()),
                ("x-forwarded-preferred-username", "jürgen".as_bytes()),
                ("x-forwarded-groups", "rédaction,admins".as_bytes()),
            ]
        );
        // A value that cannot be a header at all (a line break) is left out, never mangled.
        let bad = Identity {
            sub: "u-1\r\nx-forwarded-user: mallory".into(),
            email: None,
            preferred_username: None,
            ..id
        };
        let out = plain(&bad);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].0.as_str(), "x-forwarded-groups");
    }

    #[test]
    fn plain_headers_carry_only_verified_email_and_unambiguous_groups() {
        let id = Identity {
            sub: "u-1".into(),
            email: Some("ceo@example.com".into()),
            email_verified: false,
            name: None,
            preferred_username: None,
            groups: vec!["admins".into(), "editors,admins".into(), "staff".into()],
        };
        let out = plain(&id);
        let got: Vec<(&str, &[u8])> = out
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(
            got,
            [
                ("x-forwarded-user", b"u-1".as_slice()),
                ("x-forwarded-groups", b"admins,staff".as_slice()),
            ]
        );
    }
}
