//! The development OpenID Provider of `octogate demo`: discovery, JWKS (RS256, a fresh RSA 2048
//! key per start), an authorization endpoint whose login page lets you pick one of three demo
//! users, a token endpoint (authorization code with PKCE S256 and the client secret, refresh
//! tokens with rotation), userinfo and end-session.
//!
//! **Development only.** It binds loopback addresses only, has no passwords, and keeps codes and
//! tokens in memory with short expiries. It exists so the demo can run octogate's real OIDC
//! client end to end without an Okta tenant.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rand::RngCore as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::web::{self, dev_error, dev_page, esc, field};
use crate::http::{response, Body};

/// How long the login page may stay open.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// Authorization code lifetime.
const CODE_TTL: Duration = Duration::from_secs(60);
/// Access and ID token lifetime.
const TOKEN_TTL: Duration = Duration::from_secs(300);
/// Refresh token lifetime.
const REFRESH_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most entries kept per kind (expired ones are dropped first).
const MAX_ENTRIES: usize = 10_000;

/// One demo user.
#[derive(Debug, Clone, Copy)]
pub struct DemoUser {
    /// What you pick on the login page.
    pub login: &'static str,
    /// Subject identifier.
    pub sub: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Email (always verified).
    pub email: &'static str,
    /// Groups claim.
    pub groups: &'static [&'static str],
    /// What the demo config makes of this user.
    pub outcome: &'static str,
}

/// The three demo users.
pub const USERS: [DemoUser; 3] = [
    DemoUser {
        login: "admin",
        sub: "demo-admin",
        name: "Ada Admin",
        email: "admin@demo.example.com",
        groups: &["cms-admins"],
        outcome: "group cms-admins: October role developer, superuser",
    },
    DemoUser {
        login: "editor",
        sub: "demo-editor",
        name: "Eddie Editor",
        email: "editor@demo.example.com",
        groups: &["cms-editors"],
        outcome: "group cms-editors: October role editor",
    },
    DemoUser {
        login: "nobody",
        sub: "demo-nobody",
        name: "Nora Nobody",
        email: "nobody@demo.example.com",
        groups: &["demo-staff"],
        outcome: "in no allowed group: octogate denies access",
    },
];

/// The one registered client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// The only accepted `redirect_uri`.
    pub redirect_uri: String,
    /// The only accepted `post_logout_redirect_uri`.
    pub post_logout_redirect_uri: String,
}

struct Pending {
    redirect_uri: String,
    state: Option<String>,
    nonce: Option<String>,
    challenge: String,
    scope: String,
    expires: Instant,
}

struct CodeGrant {
    user: usize,
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
    scope: String,
    expires: Instant,
}

#[derive(Clone)]
struct Grant {
    user: usize,
    scope: String,
    expires: Instant,
}

#[derive(Default)]
struct Store {
    pending: HashMap<String, Pending>,
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, Grant>,
    refresh: HashMap<String, Grant>,
}

trait Expiring {
    fn expires(&self) -> Instant;
}
impl Expiring for Pending {
    fn expires(&self) -> Instant {
        self.expires
    }
}
impl Expiring for CodeGrant {
    fn expires(&self) -> Instant {
        self.expires
    }
}
impl Expiring for Grant {
    fn expires(&self) -> Instant {
        self.expires
    }
}

/// Drops expired entries, then inserts if there is room.
fn insert<T: Expiring>(map: &mut HashMap<String, T>, key: String, value: T) -> bool {
    let now = Instant::now();
    map.retain(|_, v| v.expires() > now);
    if map.len() >= MAX_ENTRIES {
        return false;
    }
    map.insert(key, value);
    true
}

/// Removes and returns an unexpired entry.
fn take<T: Expiring>(map: &mut HashMap<String, T>, key: &str) -> Option<T> {
    map.remove(key).filter(|v| v.expires() > Instant::now())
}

/// The development OpenID Provider.
pub struct Idp {
    issuer: String,
    client: Client,
    key: CoreRsaPrivateSigningKey,
    kid: String,
    jwks: String,
    store: Mutex<Store>,
}

impl std::fmt::Debug for Idp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idp")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn random(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn now_unix() -> u64 {
    crate::app::unix_now()
}

impl Idp {
    /// Generates the RSA 2048 signing key and builds the provider for `issuer` (which must be the
    /// URL it is served at, e.g. `http://127.0.0.1:4181`).
    pub fn new(issuer: String, client: Client) -> Result<Idp, String> {
        use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
        let rsa_key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| format!("demo IdP: cannot generate the RSA key: {e}"))?;
        let pem = rsa_key
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| format!("demo IdP: cannot encode the RSA key: {e}"))?;
        let modulus = {
            use rsa::traits::PublicKeyParts;
            rsa_key.n().to_bytes_be()
        };
        let digest = Sha256::digest(&modulus);
        let kid = format!(
            "demo-{}",
            digest
                .iter()
                .take(6)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let key = CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(kid.clone())))
            .map_err(|e| format!("demo IdP: cannot load the RSA key: {e}"))?;
        let jwks = serde_json::to_string(&CoreJsonWebKeySet::new(vec![key.as_verification_key()]))
            .map_err(|e| format!("demo IdP: cannot serialise the JWKS: {e}"))?;
        Ok(Idp {
            issuer,
            client,
            key,
            kid,
            jwks,
            store: Mutex::new(Store::default()),
        })
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        match self.store.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Handles one request.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        match (req.method().clone(), path.as_str()) {
            (Method::GET, "/") => self.index(),
            (Method::GET, "/.well-known/openid-configuration") => self.discovery(),
            (Method::GET, "/jwks") => response::json(StatusCode::OK, self.jwks.clone()),
            (Method::GET, "/authorize") => self.authorize(&web::query_pairs(&req)),
            (Method::POST, "/login") => match web::read_form(req).await {
                Ok(form) => self.login(&form),
                Err(e) => dev_error(StatusCode::BAD_REQUEST, &e),
            },
            (Method::POST, "/token") => {
                let auth = req
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                match web::read_form(req).await {
                    Ok(form) => self.token(auth.as_deref(), &form),
                    Err(_) => token_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "unreadable body",
                    ),
                }
            }
            (Method::GET | Method::POST, "/userinfo") => self.userinfo(req.headers()),
            (Method::GET, "/logout") => self.end_session(&web::query_pairs(&req)),
            _ => dev_error(
                StatusCode::NOT_FOUND,
                "The demo identity provider has no such page.",
            ),
        }
    }

    fn index(&self) -> Response<Body> {
        let users: String = USERS
            .iter()
            .map(|u| {
                format!(
                    "<li><strong>{}</strong> ({}): {}</li>",
                    esc(u.login),
                    esc(u.name),
                    esc(u.outcome)
                )
            })
            .collect();
        dev_page(
            StatusCode::OK,
            "demo-idp",
            "octogate demo identity provider (development only)",
            &format!(
                "Issuer {}. Sign in through octogate; this provider has these users:",
                self.issuer
            ),
            &format!("<ul>{users}</ul>"),
        )
    }

    fn discovery(&self) -> Response<Body> {
        let i = &self.issuer;
        let doc = json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "userinfo_endpoint": format!("{i}/userinfo"),
            "jwks_uri": format!("{i}/jwks"),
            "end_session_endpoint": format!("{i}/logout"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "groups", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "email", "email_verified", "name", "preferred_username", "groups"],
        });
        response::json(StatusCode::OK, doc.to_string())
    }

    /// The authorization endpoint: checks the request, then shows the user picker.
    fn authorize(&self, q: &[(String, String)]) -> Response<Body> {
        // Client and redirect_uri first: with either wrong, nothing is redirected anywhere.
        if field(q, "client_id") != Some(self.client.client_id.as_str()) {
            return dev_error(
                StatusCode::BAD_REQUEST,
                "Unknown client_id: the demo identity provider knows only the demo's octogate.",
            );
        }
        let Some(redirect_uri) =
            field(q, "redirect_uri").filter(|r| *r == self.client.redirect_uri)
        else {
            return dev_error(
                StatusCode::BAD_REQUEST,
                "redirect_uri is missing or not the one registered for the demo's octogate.",
            );
        };
        let state = field(q, "state").map(str::to_owned);
        let fail = |code: &str, description: &str| {
            error_redirect(
                redirect_uri,
                code,
                description,
                state.as_deref(),
                &self.issuer,
            )
        };
        if field(q, "response_type") != Some("code") {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        let scope = field(q, "scope").unwrap_or("");
        if !scope.split(' ').any(|s| s == "openid") {
            return fail("invalid_scope", "the openid scope is required");
        }
        let challenge = match (
            field(q, "code_challenge"),
            field(q, "code_challenge_method"),
        ) {
            (Some(c), Some("S256"))
                if c.len() == 43
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                c.to_string()
            }
            _ => {
                return fail(
                    "invalid_request",
                    "PKCE with code_challenge_method=S256 is required",
                )
            }
        };
        let id = random(24);
        let pending = Pending {
            redirect_uri: redirect_uri.to_string(),
            state,
            nonce: field(q, "nonce").map(str::to_owned),
            challenge,
            scope: scope.to_string(),
            expires: Instant::now() + PENDING_TTL,
        };
        if !insert(&mut self.store().pending, id.clone(), pending) {
            return dev_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many sign-ins in progress; try again later.",
            );
        }
        let buttons: String = USERS
            .iter()
            .map(|u| {
                format!(
                    "<p><button type=\"submit\" name=\"user\" value=\"{login}\" id=\"user-{login}\" style=\"min-width:8rem\">{login}</button> \
{name} &lt;{email}&gt;, groups: {groups}<br><span class=\"muted\">{outcome}</span></p>",
                    login = esc(u.login),
                    name = esc(u.name),
                    email = esc(u.email),
                    groups = if u.groups.is_empty() { "none".to_string() } else { esc(&u.groups.join(", ")) },
                    outcome = esc(u.outcome),
                )
            })
            .collect();
        let extra = format!(
            "<form method=\"post\" action=\"/login\" id=\"demo-login\"><input type=\"hidden\" name=\"request\" value=\"{}\">{buttons}\
<p><button type=\"submit\" name=\"cancel\" value=\"1\" id=\"cancel\">Cancel</button></p></form>",
            esc(&id)
        );
        let resp = dev_page(
            StatusCode::OK,
            "demo-idp-login",
            "Sign in to the demo identity provider",
            "Pick a demo user (no password: development only).",
            &extra,
        );
        web::allow_form_target(resp, &origin_of(redirect_uri))
    }

    /// The login form: issues a code for the chosen user (or sends `access_denied` on cancel).
    fn login(&self, form: &[(String, String)]) -> Response<Body> {
        let Some(pending) =
            field(form, "request").and_then(|id| take(&mut self.store().pending, id))
        else {
            return dev_error(StatusCode::BAD_REQUEST, "This sign-in has expired or was already used. Go back to the site and sign in again.");
        };
        if field(form, "cancel").is_some() {
            return error_redirect(
                &pending.redirect_uri,
                "access_denied",
                "the user cancelled the sign-in",
                pending.state.as_deref(),
                &self.issuer,
            );
        }
        let Some(user) = field(form, "user").and_then(|l| USERS.iter().position(|u| u.login == l))
        else {
            return dev_error(StatusCode::BAD_REQUEST, "Unknown demo user.");
        };
        let code = random(32);
        let grant = CodeGrant {
            user,
            redirect_uri: pending.redirect_uri.clone(),
            nonce: pending.nonce,
            challenge: pending.challenge,
            scope: pending.scope,
            expires: Instant::now() + CODE_TTL,
        };
        if !insert(&mut self.store().codes, code.clone(), grant) {
            return dev_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many sign-ins in progress; try again later.",
            );
        }
        let mut url = match url::Url::parse(&pending.redirect_uri) {
            Ok(u) => u,
            Err(_) => return dev_error(StatusCode::INTERNAL_SERVER_ERROR, "Bad redirect_uri."),
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("code", &code);
            if let Some(s) = &pending.state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.issuer);
        }
        tracing::info!(
            user = USERS[user].login,
            "demo IdP: signed in; redirecting back with a code"
        );
        response::redirect(url.as_str())
    }

    /// Client authentication: HTTP Basic or form fields, never both.
    fn authenticate_client(&self, authorization: Option<&str>, form: &[(String, String)]) -> bool {
        let (id, secret) = match (authorization, field(form, "client_secret")) {
            (Some(a), None) => {
                let Some(b64) = a
                    .strip_prefix("Basic ")
                    .or_else(|| a.strip_prefix("basic "))
                else {
                    return false;
                };
                let Ok(raw) = STANDARD.decode(b64.trim()) else {
                    return false;
                };
                let Ok(raw) = String::from_utf8(raw) else {
                    return false;
                };
                let Some((id, secret)) = raw.split_once(':') else {
                    return false;
                };
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8_lossy()
                        .into_owned()
                };
                (decode(id), decode(secret))
            }
            (None, Some(secret)) => (
                field(form, "client_id").unwrap_or("").to_string(),
                secret.to_string(),
            ),
            _ => return false,
        };
        if let Some(form_id) = field(form, "client_id") {
            if form_id != id {
                return false;
            }
        }
        id == self.client.client_id
            && bool::from(
                secret
                    .as_bytes()
                    .ct_eq(self.client.client_secret.as_bytes()),
            )
    }

    fn token(&self, authorization: Option<&str>, form: &[(String, String)]) -> Response<Body> {
        if !self.authenticate_client(authorization, form) {
            let mut r = token_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            );
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"octogate-demo\""),
            );
            return r;
        }
        match field(form, "grant_type") {
            Some("authorization_code") => self.code_grant(form),
            Some("refresh_token") => self.refresh_grant(form),
            _ => token_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "authorization_code or refresh_token",
            ),
        }
    }

    fn code_grant(&self, form: &[(String, String)]) -> Response<Body> {
        // Single use: the code is removed whatever happens next.
        let Some(grant) = field(form, "code").and_then(|c| take(&mut self.store().codes, c)) else {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "unknown, used or expired code",
            );
        };
        if field(form, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "redirect_uri does not match",
            );
        }
        let Some(verifier) = field(form, "code_verifier").filter(|v| (43..=128).contains(&v.len()))
        else {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "code_verifier missing or malformed",
            );
        };
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if !bool::from(computed.as_bytes().ct_eq(grant.challenge.as_bytes())) {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "PKCE verification failed",
            );
        }
        self.issue(grant.user, &grant.scope, grant.nonce.as_deref())
    }

    fn refresh_grant(&self, form: &[(String, String)]) -> Response<Body> {
        // Rotation: the presented refresh token is spent.
        let Some(grant) =
            field(form, "refresh_token").and_then(|t| take(&mut self.store().refresh, t))
        else {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "unknown, used or expired refresh token",
            );
        };
        self.issue(grant.user, &grant.scope, None)
    }

    /// Issues access, ID and (with `offline_access`) refresh tokens.
    fn issue(&self, user: usize, scope: &str, nonce: Option<&str>) -> Response<Body> {
        let access_token = random(32);
        let now = Instant::now();
        let mut store = self.store();
        if !insert(
            &mut store.access,
            access_token.clone(),
            Grant {
                user,
                scope: scope.to_string(),
                expires: now + TOKEN_TTL,
            },
        ) {
            return token_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many tokens",
            );
        }
        let refresh_token = if scope.split(' ').any(|s| s == "offline_access") {
            let t = random(32);
            if !insert(
                &mut store.refresh,
                t.clone(),
                Grant {
                    user,
                    scope: scope.to_string(),
                    expires: now + REFRESH_TTL,
                },
            ) {
                return token_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "too many tokens",
                );
            }
            Some(t)
        } else {
            None
        };
        drop(store);
        let id_token = match self.id_token(user, nonce, &access_token) {
            Ok(t) => t,
            Err(e) => return token_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e),
        };
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL.as_secs(),
            "id_token": id_token,
            "scope": scope,
        });
        if let Some(t) = refresh_token {
            body["refresh_token"] = json!(t);
        }
        response::json(StatusCode::OK, body.to_string())
    }

    /// A signed RS256 ID token for `user`.
    fn id_token(
        &self,
        user: usize,
        nonce: Option<&str>,
        access_token: &str,
    ) -> Result<String, String> {
        let u = &USERS[user];
        let now = now_unix();
        let digest = Sha256::digest(access_token.as_bytes());
        let mut claims = json!({
            "iss": self.issuer,
            "sub": u.sub,
            "aud": self.client.client_id,
            "exp": now + TOKEN_TTL.as_secs(),
            "iat": now,
            "auth_time": now,
            "at_hash": URL_SAFE_NO_PAD.encode(&digest[..16]),
            "email": u.email,
            "email_verified": true,
            "name": u.name,
            "preferred_username": u.login,
            "groups": u.groups,
        });
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                signing_input.as_bytes(),
            )
            .map_err(|e| format!("cannot sign the ID token: {e}"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    fn userinfo(&self, headers: &http::HeaderMap) -> Response<Body> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let grant = token.and_then(|t| {
            let store = self.store();
            store
                .access
                .get(t)
                .filter(|g| g.expires > Instant::now())
                .cloned()
        });
        let Some(grant) = grant else {
            let mut r = response::json_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "unknown or expired access token",
            );
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            return r;
        };
        // Claims by granted scope, as providers do.
        let u = &USERS[grant.user];
        let has = |s: &str| grant.scope.split(' ').any(|x| x == s);
        let mut body = json!({ "sub": u.sub });
        if has("email") {
            body["email"] = json!(u.email);
            body["email_verified"] = json!(true);
        }
        if has("profile") {
            body["name"] = json!(u.name);
            body["preferred_username"] = json!(u.login);
        }
        if has("groups") {
            body["groups"] = json!(u.groups);
        }
        response::json(StatusCode::OK, body.to_string())
    }

    /// RP-initiated logout: back to the registered `post_logout_redirect_uri` (with `state`).
    fn end_session(&self, q: &[(String, String)]) -> Response<Body> {
        if let Some(c) = field(q, "client_id") {
            if c != self.client.client_id {
                return dev_error(StatusCode::BAD_REQUEST, "Unknown client_id.");
            }
        }
        match field(q, "post_logout_redirect_uri") {
            Some(uri) if uri == self.client.post_logout_redirect_uri => {
                let mut url = match url::Url::parse(uri) {
                    Ok(u) => u,
                    Err(_) => {
                        return dev_error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Bad post_logout_redirect_uri.",
                        )
                    }
                };
                if let Some(s) = field(q, "state") {
                    url.query_pairs_mut().append_pair("state", s);
                }
                response::redirect(url.as_str())
            }
            Some(_) => dev_error(
                StatusCode::BAD_REQUEST,
                "post_logout_redirect_uri is not the one registered for the demo's octogate.",
            ),
            None => dev_page(
                StatusCode::OK,
                "demo-idp-signed-out",
                "Signed out (development only)",
                "You are signed out of the demo identity provider.",
                "",
            ),
        }
    }
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// An OAuth error sent back to the client's redirect URI.
fn error_redirect(
    redirect_uri: &str,
    code: &str,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> Response<Body> {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return dev_error(StatusCode::BAD_REQUEST, "Bad redirect_uri.");
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", code)
            .append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", issuer);
    }
    response::redirect(url.as_str())
}

/// A token-endpoint error (RFC 6749 §5.2).
fn token_error(status: StatusCode, code: &str, description: &str) -> Response<Body> {
    response::json(
        status,
        json!({ "error": code, "error_description": description }).to_string(),
    )
}

/// Binds the IdP on `addr` (loopback only) and serves it. Returns the bound address.
pub async fn start(
    addr: SocketAddr,
    make: impl FnOnce(SocketAddr) -> Result<Idp, String>,
) -> Result<(Arc<Idp>, SocketAddr), String> {
    let listener = web::bind_loopback(addr, "demo IdP").await?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("demo IdP: {e}"))?;
    let idp = Arc::new(make(bound)?);
    let h = idp.clone();
    web::spawn_server(listener, Arc::new(move |req| h.clone().handle(req)));
    Ok((idp, bound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::validate::{validate_id_token, Expected};
    use http_body_util::BodyExt;

    const REDIRECT: &str = "http://127.0.0.1:4180/oauth2/callback";

    fn idp() -> Idp {
        Idp::new(
            "http://127.0.0.1:4181".into(),
            Client {
                client_id: "octogate-demo".into(),
                client_secret: "s3cret".into(),
                redirect_uri: REDIRECT.into(),
                post_logout_redirect_uri: "http://127.0.0.1:4180/".into(),
            },
        )
        .unwrap()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    async fn body(r: Response<Body>) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    /// Authorize + pick `user`; returns the code.
    async fn code_for(idp: &Idp, user: &str, challenge: &str, nonce: &str) -> String {
        let q = pairs(&[
            ("response_type", "code"),
            ("client_id", "octogate-demo"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email profile groups offline_access"),
            ("state", "st"),
            ("nonce", nonce),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]);
        let html = body(idp.authorize(&q)).await;
        assert!(html.contains("Development only"));
        let i = html.find("name=\"request\" value=\"").unwrap() + 22;
        let id = &html[i..i + html[i..].find('"').unwrap()];
        let r = idp.login(&pairs(&[("request", id), ("user", user)]));
        assert_eq!(r.status(), StatusCode::FOUND);
        let loc = url::Url::parse(r.headers()[http::header::LOCATION].to_str().unwrap()).unwrap();
        assert!(loc.as_str().starts_with(REDIRECT));
        assert_eq!(
            loc.query_pairs().find(|(k, _)| k == "state").unwrap().1,
            "st"
        );
        loc.query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    }

    #[tokio::test]
    async fn tokens_validate_with_octogates_own_validator_and_refresh_rotates() {
        let idp = idp();
        let verifier = "v".repeat(50);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let code = code_for(&idp, "admin", &challenge, "n-123").await;
        let auth = basic("octogate-demo", "s3cret");
        let form = pairs(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ]);
        let r = idp.token(Some(&auth), &form);
        assert_eq!(r.status(), StatusCode::OK);
        let tokens: serde_json::Value = serde_json::from_str(&body(r).await).unwrap();
        // The code is single use.
        let again = idp.token(Some(&auth), &form);
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert!(body(again).await.contains("invalid_grant"));

        let jwks: CoreJsonWebKeySet = serde_json::from_str(&idp.jwks).unwrap();
        let algs = [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];
        let access = tokens["access_token"].as_str().unwrap();
        let expected = Expected {
            issuer: "http://127.0.0.1:4181",
            client_id: "octogate-demo",
            allowed_algs: &algs,
            clock_skew: Duration::from_secs(60),
            now: now_unix() as i64,
            nonce: Some("n-123"),
            access_token: Some(access),
            groups_claim: "groups",
        };
        let v = validate_id_token(tokens["id_token"].as_str().unwrap(), &jwks, &expected)
            .expect("octogate accepts the ID token");
        assert_eq!(v.identity.sub, "demo-admin");
        assert!(v.identity.email_verified);
        assert_eq!(v.identity.groups, vec!["cms-admins".to_string()]);
        assert!(validate_id_token(
            tokens["id_token"].as_str().unwrap(),
            &jwks,
            &Expected {
                nonce: Some("other"),
                ..expected.clone()
            }
        )
        .is_err());

        // Userinfo with the access token.
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {access}").parse().unwrap(),
        );
        let ui: serde_json::Value = serde_json::from_str(&body(idp.userinfo(&h)).await).unwrap();
        assert_eq!(ui["sub"], "demo-admin");
        assert_eq!(ui["groups"], json!(["cms-admins"]));

        // Refresh (client_secret_post this time): new tokens, the old refresh token is spent.
        let rt = tokens["refresh_token"].as_str().unwrap();
        let form = pairs(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "octogate-demo"),
            ("client_secret", "s3cret"),
        ]);
        let r = idp.token(None, &form);
        assert_eq!(r.status(), StatusCode::OK);
        let refreshed: serde_json::Value = serde_json::from_str(&body(r).await).unwrap();
        assert_ne!(refreshed["refresh_token"], tokens["refresh_token"]);
        let v = validate_id_token(
            refreshed["id_token"].as_str().unwrap(),
            &jwks,
            &Expected {
                nonce: None,
                access_token: refreshed["access_token"].as_str(),
                ..expected.clone()
            },
        )
        .unwrap();
        assert_eq!(v.identity.sub, "demo-admin");
        assert_eq!(
            idp.token(None, &form).status(),
            StatusCode::BAD_REQUEST,
            "rotated refresh token is spent"
        );
    }

    #[tokio::test]
    async fn pkce_and_client_secret_are_enforced() {
        let idp = idp();
        let verifier = "w".repeat(43);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let code = code_for(&idp, "editor", &challenge, "n").await;
        let good = basic("octogate-demo", "s3cret");
        let form = |v: &str| {
            pairs(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", v),
            ])
        };
        // Wrong secret: invalid_client, and the code survives.
        let r = idp.token(Some(&basic("octogate-demo", "nope")), &form(&verifier));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Both Basic and a form secret: refused.
        let mut both = form(&verifier);
        both.push(("client_secret".into(), "s3cret".into()));
        assert_eq!(
            idp.token(Some(&good), &both).status(),
            StatusCode::UNAUTHORIZED
        );
        // Wrong verifier: invalid_grant, and the code is spent.
        let r = idp.token(Some(&good), &form(&"x".repeat(43)));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(body(r).await.contains("PKCE"));
        assert_eq!(
            idp.token(Some(&good), &form(&verifier)).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn end_session_returns_only_to_the_registered_uri() {
        let idp = idp();
        let r = idp.end_session(&pairs(&[
            ("post_logout_redirect_uri", "http://127.0.0.1:4180/"),
            ("state", "s"),
        ]));
        assert_eq!(
            r.headers()[http::header::LOCATION],
            "http://127.0.0.1:4180/?state=s"
        );
        let r = idp.end_session(&pairs(&[(
            "post_logout_redirect_uri",
            "http://evil.example/",
        )]));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get(http::header::LOCATION).is_none());
    }

    #[tokio::test]
    async fn refuses_a_non_loopback_bind() {
        let err = start("0.0.0.0:0".parse().unwrap(), |_| -> Result<Idp, String> {
            unreachable!()
        })
        .await
        .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }
}
