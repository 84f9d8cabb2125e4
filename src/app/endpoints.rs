//! Octogate's own endpoints: health, readiness, the assertion JWKS, and the `/oauth2/*` sign-in
//! flow (start, callback, sign-out, userinfo, forward-auth). None of these is ever forwarded.
use http::header::{HeaderMap, HeaderValue, COOKIE};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use subtle::ConstantTimeEq;

use super::audit::Event;
use super::auth::{self, with_cookies, Loaded, Outcome};
use super::signin_guard::Admission;
use super::{App, Ctx};
use crate::access::safe_redirect_path;
use crate::http::{response, Body};
use crate::session::{self, LoginState, SessionCheck, SessionData};

/// Answers octogate's own endpoints; `None` means "not ours, carry on".
pub(crate) async fn dispatch(
    app: &App,
    path: &str,
    req: &Request<Incoming>,
    ctx: &Ctx,
) -> Option<Response<Body>> {
    match path {
        "/healthz" => return Some(response::text(StatusCode::OK, "ok\n")),
        "/readyz" => {
            return Some(match ctx.rt.oidc.readiness() {
                Ok(()) => response::text(StatusCode::OK, "ready\n"),
                Err(reason) => {
                    // The reason (an IdP or network error: host names, proxy addresses) is for
                    // the log, not for whoever asks.
                    tracing::debug!(reason = %reason, "readyz: not ready");
                    response::json_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not_ready",
                        "The identity provider's metadata is not loaded yet.",
                    )
                }
            });
        }
        "/.well-known/octogate/jwks.json" => {
            let mut r = response::json(StatusCode::OK, ctx.rt.jwks.clone());
            r.headers_mut().insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            return Some(r);
        }
        _ => {}
    }
    if path != "/oauth2" && !path.starts_with("/oauth2/") {
        return None;
    }
    let query = req.uri().query().unwrap_or("");
    let resp = match path {
        "/oauth2/start" => {
            let rd = param(query, "rd");
            start_signin(ctx, req.headers(), rd.as_deref().unwrap_or(""))
        }
        // Boxed: these wait on the IdP, and their state would otherwise sit inline in every
        // connection's request future.
        "/oauth2/callback" => Box::pin(callback(app, req.headers(), query, ctx)).await,
        "/oauth2/sign_out" => sign_out(app, req.method(), req.headers(), query, ctx),
        "/oauth2/userinfo" => userinfo(req.headers(), ctx),
        "/oauth2/auth" => Box::pin(forward_auth(app, req.headers(), ctx)).await,
        _ => response::error(StatusCode::NOT_FOUND, "No such octogate endpoint."),
    };
    Some(resp)
}

/// Sign-ins that may be pending in one browser at once (tabs); more clears the older ones.
const MAX_PENDING_SIGNINS: usize = 3;

/// First value of a query parameter.
fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Starts a sign-in: a fresh state, nonce and PKCE verifier in a short-lived encrypted login
/// cookie named after the state (so parallel sign-ins in two tabs both work), then a redirect to
/// the IdP. `rd` is where to land afterwards; anything but a safe local path becomes the first
/// protected path.
pub(crate) fn start_signin(ctx: &Ctx, headers: &HeaderMap, rd: &str) -> Response<Body> {
    let rt = &ctx.rt;
    let rd = safe_redirect_path(rd).unwrap_or_else(|| rt.default_rd.clone());
    let start = match rt.oidc.begin() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(request_id = %ctx.request_id, reason = %e, "cannot start sign-in");
            return response::error(StatusCode::SERVICE_UNAVAILABLE, "Sign-in is temporarily unavailable: the identity provider cannot be reached. Please try again in a moment.");
        }
    };
    let Some(name) = session::login_cookie_name(&rt.cfg.session.cookie_name, &start.state) else {
        return response::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not start sign-in.",
        );
    };
    let login = LoginState {
        v: session::LOGIN_STATE_VERSION,
        state: start.state,
        nonce: start.nonce,
        pkce_verifier: start.pkce_verifier,
        rd,
        created_at: ctx.now(),
    };
    let Ok(sealed) = rt.cipher.seal(&name, &login.encode()) else {
        return response::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not start sign-in.",
        );
    };
    let cookies = match session::set_cookie_headers(&name, &sealed, &rt.login_attrs, 0) {
        Ok(c) => c,
        Err(_) => {
            return response::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not start sign-in.",
            )
        }
    };
    tracing::info!(request_id = %ctx.request_id, "sign-in started; redirecting to the IdP");
    let mut set: Vec<HeaderValue> = Vec::new();
    // Pending sign-ins pile up a cookie each; past a few (abandoned tabs, or a page that loops on
    // /oauth2/start) drop the older ones before the Cookie header grows past max_header_bytes.
    let pending =
        cookie_names_with_prefix(headers, &format!("{}_login_", rt.cfg.session.cookie_name));
    if pending.len() >= MAX_PENDING_SIGNINS {
        set.extend(clear_cookies(ctx, &pending));
    }
    set.extend(cookies.iter().filter_map(|c| HeaderValue::from_str(c).ok()));
    with_cookies(response::redirect(&start.url), set)
}

/// A clear error page with a "try again" link that starts a fresh sign-in (never a loop).
fn signin_error(
    status: StatusCode,
    title: &str,
    message: &str,
    rd: &str,
    clear: Vec<HeaderValue>,
) -> Response<Body> {
    let href = format!(
        "/oauth2/start?rd={}",
        url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
    );
    let extra = format!(
        "<p><a class=\"button\" id=\"try-again\" href=\"{}\">Try again</a></p>",
        response::escape_html(&href)
    );
    with_cookies(
        response::page(status, "octogate-signin-error", title, message, &extra),
        clear,
    )
}

/// Names of cookies in the request that start with `prefix` (byte-based, see
/// [`session::names_with_prefix`]).
fn cookie_names_with_prefix(headers: &HeaderMap, prefix: &str) -> Vec<String> {
    session::names_with_prefix(headers.get_all(COOKIE).iter(), prefix, 32)
}

fn clear_cookies(ctx: &Ctx, names: &[String]) -> Vec<HeaderValue> {
    session::clear_cookie_headers(
        &ctx.rt.cfg.session.cookie_name,
        &ctx.rt.session_attrs,
        names,
    )
    .into_iter()
    .filter_map(|h| HeaderValue::from_str(&h).ok())
    .collect()
}

async fn callback(app: &App, headers: &HeaderMap, query: &str, ctx: &Ctx) -> Response<Body> {
    let rt = &ctx.rt;
    let audit = app.audit();
    let actx = ctx.audit_ctx(None, None);
    let fail = |reason: &'static str| {
        app.metrics().signin(false, reason);
        audit.log(Event::SigninFailed, &actx, reason);
        tracing::warn!(request_id = %ctx.request_id, reason, "sign-in failed");
    };
    let state = param(query, "state").unwrap_or_default();
    let login_name = session::login_cookie_name(&rt.cfg.session.cookie_name, &state);
    let clear_login = login_name
        .as_ref()
        .map(|n| clear_cookies(ctx, std::slice::from_ref(n)))
        .unwrap_or_default();

    // The login state this browser holds for `state`, if any (decrypted, not yet trusted).
    let login =
        login_name
            .as_ref()
            .and_then(|n| match session::read(headers.get_all(COOKIE).iter(), n) {
                Ok(Some((v, _))) => rt
                    .cipher
                    .open(n, &v)
                    .ok()
                    .and_then(|p| LoginState::decode(&p).ok()),
                _ => None,
            });
    let state_ok = login
        .as_ref()
        .is_some_and(|l| bool::from(l.state.as_bytes().ct_eq(state.as_bytes())));

    if let Some(err) = param(query, "error") {
        fail("idp_error");
        let err: String = err
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        // The IdP's error and free text are shown only on a response to this browser's own
        // sign-in, so a crafted link cannot put text of its choosing on this site's pages.
        let desc: String = if state_ok {
            param(query, "error_description")
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect()
        } else {
            String::new()
        };
        tracing::warn!(request_id = %ctx.request_id, idp_error = %err, "the IdP returned an error to the callback");
        let message = if !state_ok {
            // Not this browser's sign-in (a crafted link): nothing from the query is shown.
            "The identity provider refused a sign-in. Please start again.".to_string()
        } else if err == "access_denied" {
            format!("The identity provider refused the sign-in ({err}). Most often your account is not assigned to this application in Okta; ask your administrator. {desc}")
        } else {
            format!("The identity provider refused the sign-in ({err}). {desc}")
        };
        return signin_error(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            &message,
            &rt.default_rd,
            clear_login,
        );
    }
    if login_name.is_none() {
        fail("missing_state");
        return signin_error(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "The sign-in response had no valid state. Please start again.",
            &rt.default_rd,
            Vec::new(),
        );
    }
    let Some(login) = login else {
        fail("missing_login_cookie");
        return signin_error(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "This sign-in expired or was started in another browser. Please start again.",
            &rt.default_rd,
            clear_login,
        );
    };
    if !state_ok {
        fail("state_mismatch");
        return signin_error(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "The sign-in response did not match this browser's sign-in. Please start again.",
            &login.rd,
            clear_login,
        );
    }
    if login.expired(ctx.now(), rt.cfg.session.login_timeout) {
        fail("login_expired");
        return signin_error(
            StatusCode::BAD_REQUEST,
            "Sign-in took too long",
            "This sign-in expired. Please start again.",
            &login.rd,
            clear_login,
        );
    }
    // RFC 9207: when the IdP names itself in the authorization response, it must be ours
    // (defends against mix-up with another IdP the browser talks to).
    if let Some(iss) = param(query, "iss") {
        if iss != rt.cfg.oidc.issuer {
            fail("issuer_mismatch");
            return signin_error(
                StatusCode::BAD_REQUEST,
                "Sign-in could not be completed",
                "The sign-in response came from an unexpected identity provider. Please start again.",
                &login.rd,
                clear_login,
            );
        }
    }
    let Some(code) = param(query, "code").filter(|c| !c.is_empty() && c.len() <= 4096) else {
        fail("missing_code");
        return signin_error(
            StatusCode::BAD_REQUEST,
            "Sign-in could not be completed",
            "The sign-in response had no authorization code. Please start again.",
            &login.rd,
            clear_login,
        );
    };
    // Only now does the IdP get called: once per sign-in, within the client's budget.
    let expires = login
        .created_at
        .saturating_add(rt.cfg.session.login_timeout.as_secs());
    match app
        .signin_guard
        .admit(&state, ctx.client_ip, ctx.now(), expires)
    {
        Admission::Admitted => {}
        Admission::Replayed => {
            fail("state_replayed");
            return signin_error(
                StatusCode::BAD_REQUEST,
                "Sign-in could not be completed",
                "This sign-in response was already used. Please start again.",
                &login.rd,
                clear_login,
            );
        }
        limited @ (Admission::RateLimited | Admission::Overloaded) => {
            let (reason, why) = if limited == Admission::RateLimited {
                (
                    "rate_limited",
                    "There were too many sign-in attempts from your network.",
                )
            } else {
                (
                    "overloaded",
                    "There are too many sign-in attempts on this site right now.",
                )
            };
            fail(reason);
            // The sign-in is kept (not redeemed): reloading after a moment completes it.
            let mut resp = signin_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-in attempts",
                &format!("{why} Please wait a few seconds and reload this page."),
                &login.rd,
                Vec::new(),
            );
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from_static("2"));
            return resp;
        }
    }
    let tokens = match rt
        .oidc
        .exchange(&code, &login.pkce_verifier, &login.nonce)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            app.metrics().signin(false, "token_rejected");
            audit.log(Event::SigninFailed, &actx, &e.to_string());
            tracing::warn!(request_id = %ctx.request_id, reason = %e, "sign-in failed: code exchange or ID token rejected");
            return signin_error(StatusCode::BAD_GATEWAY, "Sign-in could not be completed", "The identity provider's answer could not be verified. Please start again; if it keeps happening, tell your administrator.", &login.rd, clear_login);
        }
    };
    let mut identity = tokens.identity;
    let total_groups = identity.groups.len();
    identity.groups = rt.policy.relevant_groups(&identity.groups);
    let data = SessionData::new(
        identity,
        None,
        ctx.now(),
        tokens.refresh_token,
        tokens.id_token,
    );
    // Signing in always replaces whatever session the browser brought (no fixation): clear the
    // maximum chunk count so no stale chunk survives, and, when the new session is chunked, the
    // single cookie too (`set_cookie_headers` only expires it when told there were no chunks;
    // a browser holding both would have its new session read as malformed).
    let mut cookies = clear_login;
    match auth::write_session(ctx, &data, session::MAX_CHUNKS) {
        Ok(c) => {
            let single = format!("{}=", rt.cfg.session.cookie_name);
            if !c
                .iter()
                .any(|h| h.as_bytes().starts_with(single.as_bytes()))
            {
                cookies.extend(clear_cookies(
                    ctx,
                    std::slice::from_ref(&rt.cfg.session.cookie_name),
                ));
            }
            cookies.extend(c);
            // A stray chunk-like cookie would make the new session unreadable.
            cookies.extend(clear_cookies(
                ctx,
                &session::stray_chunk_names(
                    headers.get_all(COOKIE).iter(),
                    &rt.cfg.session.cookie_name,
                ),
            ));
        }
        Err(e) => {
            fail("session_too_large");
            tracing::error!(request_id = %ctx.request_id, reason = %e, "session could not be written");
            return signin_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in could not be completed",
                "The session could not be saved.",
                &login.rd,
                cookies,
            );
        }
    }
    app.metrics().signin(true, "ok");
    audit.log(
        Event::SigninOk,
        &ctx.audit_ctx(Some(&data.identity.sub), data.identity.email.as_deref()),
        "ok",
    );
    tracing::info!(request_id = %ctx.request_id, sub = %data.identity.sub, groups = total_groups, relevant_groups = data.identity.groups.len(), "sign-in ok");
    with_cookies(response::redirect(&login.rd), cookies)
}

/// Whether a sign-out request may have been made without the user meaning it. Fetch Metadata
/// tells where the browser sends it from: `Sec-Fetch-Site` must be `same-origin` or `none` (not
/// `same-site`: a sibling site of the agency, or any page there, is same-site); `Sec-Fetch-Mode`
/// must not be `no-cors` and `Sec-Fetch-Dest` must be `document` or `empty` (an `<img>`, a
/// script or a style sheet on a page of this site — content an editor can add — is not a
/// request to sign out); no `Sec-Purpose` (a speculative prefetch on hover is not a click). A
/// same-origin `fetch()` (October v3's backend follows links with one, then the shim's redirect)
/// is allowed: only a script of this origin can make one, and it could navigate anyway. An
/// `Origin` other than the public URL's, or a method other than GET, counts too. Browsers without
/// Fetch Metadata send none of these headers on a navigation.
fn unintended(method: &http::Method, headers: &HeaderMap, public_url: &url::Url) -> bool {
    if method != http::Method::GET || headers.contains_key("sec-purpose") {
        return true;
    }
    let is = |name: &str, allowed: &[&[u8]]| {
        headers
            .get(name)
            .is_none_or(|v| allowed.iter().any(|a| v.as_bytes().eq_ignore_ascii_case(a)))
    };
    if !is("sec-fetch-site", &[b"same-origin", b"none"])
        || !is("sec-fetch-mode", &[b"navigate", b"cors", b"same-origin"])
        || !is("sec-fetch-dest", &[b"document", b"empty"])
    {
        return true;
    }
    headers
        .get(http::header::ORIGIN)
        .is_some_and(|o| o.as_bytes() != public_url.origin().ascii_serialization().as_bytes())
}

fn sign_out(
    app: &App,
    method: &http::Method,
    headers: &HeaderMap,
    query: &str,
    ctx: &Ctx,
) -> Response<Body> {
    let rt = &ctx.rt;
    // Sign-out is a GET link (the October shim redirects to it), so another site could sign a
    // user out with a link or an image (and end the IdP session too). Such a request only gets
    // a page with the same link: the user's click on it comes from this site.
    if unintended(method, headers, &rt.cfg.server.public_url) {
        tracing::info!(request_id = %ctx.request_id, "sign-out requested by another site or not by a navigation: asked to confirm");
        let href = if query.is_empty() {
            "/oauth2/sign_out".to_string()
        } else {
            // Only `rd` is carried over, re-encoded.
            let rd = param(query, "rd").unwrap_or_default();
            format!(
                "/oauth2/sign_out?rd={}",
                url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
            )
        };
        let extra = format!(
            "<p><a class=\"button\" id=\"sign-out\" href=\"{}\">Sign out</a></p>",
            response::escape_html(&href)
        );
        return response::page(
            StatusCode::OK,
            "octogate-signout-confirm",
            "Sign out?",
            "Something other than your click asked to sign you out of this site (another site, or an image or script on a page). Nothing has changed yet.",
            &extra,
        );
    }
    let name = &rt.cfg.session.cookie_name;
    let mut hint = None;
    let mut who = None;
    if let Loaded::Session { data, .. } = auth::load(headers, ctx) {
        hint = data.id_token_hint.clone();
        who = Some((data.identity.sub.clone(), data.identity.email.clone()));
        // A copy of this cookie would otherwise keep working until its next refresh: revoke the
        // refresh token so that refresh fails. In the background; sign-out does not wait.
        if let Some(token) = data.refresh_token.clone() {
            let oidc = rt.oidc.clone();
            tokio::spawn(async move {
                if oidc.revoke_refresh_token(&token).await {
                    tracing::info!("refresh token revoked at the IdP");
                }
            });
        }
    }
    // Every octogate cookie: the session, its chunks and any pending login cookies.
    let mut names = cookie_names_with_prefix(headers, name);
    if !names.contains(name) {
        names.push(name.clone());
    }
    let cookies = clear_cookies(ctx, &names);
    let (sub, email) = who.unzip();
    app.audit().log(
        Event::SignedOut,
        &ctx.audit_ctx(sub.as_deref(), email.flatten().as_deref()),
        "user",
    );
    tracing::info!(request_id = %ctx.request_id, sub = ?sub, "signed out");
    let local = param(query, "rd")
        .and_then(|r| safe_redirect_path(&r))
        .unwrap_or_else(|| "/".into());
    let post_logout = rt.cfg.oidc.post_logout_redirect_uri.as_str();
    let target = rt
        .oidc
        .end_session_url(hint.as_deref(), post_logout, &session::random_token(16))
        .unwrap_or(local);
    with_cookies(response::redirect(&target), cookies)
}

fn userinfo(headers: &HeaderMap, ctx: &Ctx) -> Response<Body> {
    let data = match auth::load(headers, ctx) {
        Loaded::Session { data, .. }
            if !matches!(
                data.check(ctx.now(), &ctx.rt.times),
                SessionCheck::Expired(_)
            ) =>
        {
            data
        }
        _ => return response::json_error(StatusCode::UNAUTHORIZED, "unauthorized", "No session."),
    };
    let t = &ctx.rt.times;
    let id = &data.identity;
    let body = serde_json::json!({
        "sub": id.sub,
        "email": id.email,
        "email_verified": id.email_verified,
        "name": id.name,
        "preferred_username": id.preferred_username,
        "groups": id.groups,
        "role": data.grant.as_ref().map(|g| g.role.clone()),
        "superuser": data.grant.as_ref().map(|g| g.superuser),
        "issued_at": data.issued_at,
        "expires_at": data.issued_at + t.lifetime.as_secs(),
        "idle_expires_at": data.last_seen + t.idle_timeout.as_secs(),
        "last_refresh": data.last_refresh,
    });
    response::json(StatusCode::OK, body.to_string())
}

/// Forward-auth for nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth`: 202 with
/// the identity headers, 401 without a session, 403 when not allowed. The identity headers (the
/// signed assertion among them) go only to a peer in `server.trusted_proxies`: anyone else (a
/// script in the browser asking whether it is signed in) gets the status alone.
async fn forward_auth(app: &App, headers: &HeaderMap, ctx: &Ctx) -> Response<Body> {
    let original = if ctx.peer_trusted {
        // nginx sets X-Original-URI (our example), Traefik and Caddy X-Forwarded-Uri; each of
        // them passes the client's other headers along unchanged. So when both are present and
        // disagree, one came from the client: refuse rather than guess (a client-chosen public
        // path would otherwise pass the gate for a protected one). A header given twice is
        // refused the same way.
        let original_uri = headers.get("x-original-uri");
        let forwarded_uri = headers.get("x-forwarded-uri");
        let repeated = |name: &str| headers.get_all(name).iter().nth(1).is_some();
        let disagree = matches!((original_uri, forwarded_uri), (Some(a), Some(b)) if a != b);
        if disagree || repeated("x-original-uri") || repeated("x-forwarded-uri") {
            tracing::warn!(request_id = %ctx.request_id, "forward-auth refused: the original URI is given twice or X-Original-URI and X-Forwarded-Uri disagree (one was sent by the client) (401)");
            return response::json_error(
                StatusCode::UNAUTHORIZED,
                "ambiguous_request",
                "The original request URI is ambiguous.",
            );
        }
        original_uri
            .or(forwarded_uri)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    } else {
        ""
    };
    let raw_path = original.split('?').next().unwrap_or("");
    let original_path = crate::access::normalize(raw_path).unwrap_or_default();
    // A public exception (`access.public`) needs no session here either. Only for a path the
    // trusted proxy sent in canonical form already: the proxy forwards its raw URI, and the
    // upstream does not resolve dot segments, so `/backend/assets/../users` must not pass.
    if !original_path.is_empty()
        && original_path == raw_path
        && ctx.rt.rules.classify(&original_path) == crate::access::Area::PublicInProtected
    {
        return response::text(StatusCode::ACCEPTED, "");
    }
    let target = crate::proxy::Target {
        path: &original_path,
        query: None,
        as_received: false,
    };
    match auth::authenticate(app, headers, ctx, false, &target).await {
        Outcome::Allowed {
            identity_headers,
            set_cookies,
            ..
        } => {
            let mut r = response::text(StatusCode::ACCEPTED, "");
            if ctx.peer_trusted {
                for (k, v) in identity_headers.iter() {
                    r.headers_mut().insert(k.clone(), v.clone());
                }
            } else {
                tracing::debug!(request_id = %ctx.request_id, "forward-auth: identity headers withheld from a peer not in trusted_proxies");
            }
            with_cookies(r, set_cookies)
        }
        Outcome::Respond { response, .. } => response,
    }
}
