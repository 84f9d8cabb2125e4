//! The authorization-code flow with PKCE, refresh, userinfo and RP-initiated logout.
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Digest;

use super::error::{OidcError, RefreshError, TokenRejection};
use super::http::{send, HttpRequest};
use super::provider::ProviderState;
use super::validate::{groups_from, validate_id_token, Expected, VerifiedIdToken};
use super::Oidc;
use crate::config::TokenAuthMethod;
use crate::identity::Identity;

/// What the caller needs to send the browser to the IdP and to finish the sign-in later.
/// `state`, `nonce` and `pkce_verifier` belong in the (sealed) login cookie, never in logs.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthStart {
    /// The authorization URL to redirect the browser to.
    pub url: String,
    /// The `state` parameter (256 bits, base64url).
    pub state: String,
    /// The `nonce` parameter (256 bits, base64url).
    pub nonce: String,
    /// The PKCE code verifier (256 bits, base64url; the URL carries its S256 challenge).
    pub pkce_verifier: String,
}

impl std::fmt::Debug for AuthStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStart").finish_non_exhaustive()
    }
}

/// The result of a code exchange or refresh.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The validated identity.
    pub identity: Identity,
    /// The refresh token to keep (on refresh: the new one, or the previous one when the IdP did
    /// not rotate it).
    pub refresh_token: Option<String>,
    /// The raw ID token (for `id_token_hint` at logout); `None` after a refresh that returned
    /// none, in which case the caller keeps the one it has.
    pub id_token: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("identity", &self.identity)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "****"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "****"))
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// How a token-endpoint call failed.
enum TokenCallError {
    /// Not sent or no complete answer (network, timeout, oversized body).
    Send(String),
    /// A non-200 status, with the OAuth error when the body was one.
    Status(u16, Option<(String, Option<String>)>),
    /// A 200 whose body is not a bearer token response.
    Parse(String),
}

/// How a userinfo call failed.
enum UserinfoError {
    Unavailable(String),
    Invalid(String),
    SubMismatch,
}

/// 32 bytes from the OS RNG, base64url.
fn random_token() -> Result<String, OidcError> {
    let mut buf = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| OidcError::Internal(format!("OS random number generator failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The S256 PKCE challenge of a verifier (RFC 7636 §4.2).
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Text from the IdP made safe for logs: printable, at most 200 characters.
fn sanitize(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl Oidc {
    /// Starts a sign-in: fresh `state`, `nonce` and PKCE verifier, and the authorization URL
    /// (`response_type=code`, configured scopes plus `openid`, `redirect_uri`, S256 challenge).
    pub fn begin(&self) -> Result<AuthStart, OidcError> {
        let state = self.ready()?;
        let csrf = random_token()?;
        let nonce = random_token()?;
        let verifier = random_token()?;
        let mut url = url::Url::parse(&state.metadata.authorization_endpoint).map_err(|e| {
            OidcError::InvalidResponse {
                endpoint: "discovery",
                reason: format!("authorization_endpoint: {e}"),
            }
        })?;
        let mut scopes: Vec<&str> = self.cfg.scopes.iter().map(String::as_str).collect();
        if !scopes.contains(&"openid") {
            scopes.insert(0, "openid");
        }
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.cfg.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", &csrf)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(AuthStart {
            url: url.into(),
            state: csrf,
            nonce,
            pkce_verifier: verifier,
        })
    }

    /// Exchanges an authorization code (with the PKCE verifier), validates the ID token against
    /// `nonce`, and reads the groups from the ID token or, when it lacks the groups claim, from
    /// userinfo (whose `sub` must match).
    pub async fn exchange(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Tokens, OidcError> {
        let state = self.ready()?;
        let params = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", pkce_verifier),
        ];
        let resp = self
            .token_request(&state, &params)
            .await
            .map_err(|e| match e {
                TokenCallError::Send(reason) => OidcError::Http {
                    endpoint: "token",
                    reason,
                },
                TokenCallError::Status(_, Some((error, description))) => {
                    OidcError::TokenEndpoint { error, description }
                }
                TokenCallError::Status(status, None) => OidcError::Http {
                    endpoint: "token",
                    reason: format!("HTTP {status}"),
                },
                TokenCallError::Parse(reason) => OidcError::InvalidResponse {
                    endpoint: "token",
                    reason,
                },
            })?;
        let Some(id_token) = resp.id_token else {
            return Err(OidcError::InvalidResponse {
                endpoint: "token",
                reason: "no id_token in the token response".into(),
            });
        };
        let verified = self
            .validate(&id_token, Some(nonce), Some(&resp.access_token))
            .await
            .map_err(|r| {
                tracing::warn!(reason = r.code(), "sign-in: ID token rejected");
                OidcError::IdToken(r)
            })?;
        let mut identity = verified.identity;
        if !verified.has_groups_claim {
            match self
                .userinfo(&state, &resp.access_token, &identity.sub)
                .await
            {
                Ok(Some(claims)) => identity.groups = groups_from(&claims, &self.cfg.groups_claim),
                Ok(None) => {}
                Err(UserinfoError::Unavailable(reason)) | Err(UserinfoError::Invalid(reason)) => {
                    return Err(OidcError::Http {
                        endpoint: "userinfo",
                        reason,
                    })
                }
                Err(UserinfoError::SubMismatch) => {
                    tracing::warn!(sub = %identity.sub, "sign-in: userinfo names another subject");
                    return Err(OidcError::IdToken(TokenRejection::UserinfoSubMismatch));
                }
            }
        }
        tracing::info!(sub = %identity.sub, groups = identity.groups.len(), "sign-in: ID token validated");
        Ok(Tokens {
            identity,
            refresh_token: resp.refresh_token,
            id_token: Some(id_token),
        })
    }

    /// Refreshes a session. An ID token in the response is validated (no nonce; `iss` is the
    /// configured issuer, which is the previous identity's, and `sub` must equal the previous one)
    /// and supplies the groups; without one, groups come from userinfo (same `sub` required).
    /// Without userinfo either, the previous identity is kept. The previous refresh token is kept
    /// unless a new one is returned.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        previous: &Identity,
    ) -> Result<Tokens, RefreshError> {
        let Some(state) = self.current() else {
            return Err(RefreshError::Unavailable(
                self.readiness()
                    .err()
                    .unwrap_or_else(|| "IdP not loaded".into()),
            ));
        };
        let params = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let resp = self.token_request(&state, &params).await.map_err(|e| {
            let err = classify_refresh_failure(e);
            tracing::info!(sub = %previous.sub, error = %err, "refresh failed");
            err
        })?;
        let mut identity;
        let mut need_userinfo = true;
        if let Some(token) = &resp.id_token {
            let verified = self
                .validate(token, None, Some(&resp.access_token))
                .await
                .map_err(|r| {
                    tracing::warn!(sub = %previous.sub, reason = r.code(), "refresh: ID token rejected");
                    RefreshError::Invalid(format!("ID token rejected: {}", r.code()))
                })?;
            if verified.identity.sub != previous.sub {
                tracing::warn!(sub = %previous.sub, "refresh: ID token names another subject");
                return Err(RefreshError::Invalid(
                    "ID token sub differs from the session's".into(),
                ));
            }
            need_userinfo = !verified.has_groups_claim;
            identity = verified.identity;
        } else {
            identity = previous.clone();
        }
        if need_userinfo {
            match self
                .userinfo(&state, &resp.access_token, &previous.sub)
                .await
            {
                Ok(Some(claims)) => identity.groups = groups_from(&claims, &self.cfg.groups_claim),
                Ok(None) => {}
                Err(UserinfoError::Unavailable(r)) => return Err(RefreshError::Unavailable(r)),
                Err(UserinfoError::Invalid(r)) => return Err(RefreshError::Invalid(r)),
                Err(UserinfoError::SubMismatch) => {
                    return Err(RefreshError::Invalid(
                        "userinfo sub differs from the session's".into(),
                    ))
                }
            }
        }
        tracing::debug!(sub = %identity.sub, groups = identity.groups.len(), rotated = resp.refresh_token.is_some(), "refreshed");
        Ok(Tokens {
            identity,
            refresh_token: Some(
                resp.refresh_token
                    .unwrap_or_else(|| refresh_token.to_string()),
            ),
            id_token: resp.id_token,
        })
    }

    /// The IdP's logout URL with `id_token_hint` (when known), `post_logout_redirect_uri`,
    /// `state` and `client_id`; `None` when no `end_session_endpoint` is advertised.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: &str,
        state: &str,
    ) -> Option<String> {
        let provider = self.current()?;
        let endpoint = provider.metadata.end_session_endpoint.as_deref()?;
        let mut url = url::Url::parse(endpoint).ok()?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
            q.append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
                .append_pair("state", state)
                .append_pair("client_id", &self.cfg.client_id);
        }
        Some(url.into())
    }

    /// Validates an ID token against the current keys; on an unknown `kid`, re-fetches the JWKS
    /// (rate-limited) and tries once more.
    pub(crate) async fn validate(
        &self,
        token: &str,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> Result<VerifiedIdToken, TokenRejection> {
        let Some(state) = self.current() else {
            return Err(TokenRejection::UnknownKid);
        };
        let expected = Expected {
            issuer: &self.cfg.issuer,
            client_id: &self.cfg.client_id,
            allowed_algs: &self.allowed_algs,
            clock_skew: self.cfg.clock_skew,
            now: now_secs(),
            nonce,
            access_token,
            groups_claim: &self.cfg.groups_claim,
        };
        match validate_id_token(token, &state.jwks, &expected) {
            Err(TokenRejection::UnknownKid) => {
                self.refetch_jwks_for_unknown_kid().await;
                match self.current() {
                    // Retry with keys newer than those just used (ours or a concurrent re-fetch).
                    Some(newer) if !Arc::ptr_eq(&newer, &state) => validate_id_token(
                        token,
                        &newer.jwks,
                        &Expected {
                            now: now_secs(),
                            ..expected
                        },
                    ),
                    _ => Err(TokenRejection::UnknownKid),
                }
            }
            other => other,
        }
    }

    fn client_auth(
        &self,
        builder: http::request::Builder,
        form: &mut String,
    ) -> http::request::Builder {
        match self.cfg.token_auth_method {
            TokenAuthMethod::ClientSecretBasic => {
                // RFC 6749 §2.3.1: form-urlencode id and secret, then base64 "id:secret".
                let pair = format!(
                    "{}:{}",
                    form_encode(&self.cfg.client_id),
                    form_encode(self.cfg.client_secret.expose())
                );
                builder.header(
                    http::header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode(pair)),
                )
            }
            TokenAuthMethod::ClientSecretPost => {
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                ser.append_pair("client_id", &self.cfg.client_id);
                ser.append_pair("client_secret", self.cfg.client_secret.expose());
                form.push('&');
                form.push_str(&ser.finish());
                builder
            }
        }
    }

    /// Revokes a refresh token at the IdP's `revocation_endpoint` (RFC 7009) so a copy of a
    /// signed-out session cookie stops working at its next refresh. Best effort: returns whether
    /// the IdP confirmed; `false` when it advertises no endpoint or cannot be reached.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) -> bool {
        let Some(state) = self.current() else {
            return false;
        };
        let Some(endpoint) = state.metadata.revocation_endpoint.as_deref() else {
            return false;
        };
        let mut form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", refresh_token)
            .append_pair("token_type_hint", "refresh_token")
            .finish();
        let builder = http::Request::builder()
            .method(http::Method::POST)
            .uri(endpoint)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        let builder = self.client_auth(builder, &mut form);
        let Ok(request) = builder.body(form.into_bytes()) else {
            return false;
        };
        match send(&self.http, self.cfg.http_timeout, request).await {
            Ok(resp) if resp.status().is_success() => true,
            Ok(resp) => {
                tracing::warn!(
                    status = resp.status().as_u16(),
                    "refresh token revocation refused by the IdP"
                );
                false
            }
            Err(e) => {
                tracing::warn!(reason = %e, "refresh token revocation failed");
                false
            }
        }
    }

    async fn token_request(
        &self,
        state: &ProviderState,
        params: &[(&str, &str)],
    ) -> Result<TokenResponse, TokenCallError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let builder = http::Request::builder()
            .method(http::Method::POST)
            .uri(&state.metadata.token_endpoint)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json");
        let builder = self.client_auth(builder, &mut form);
        let request: HttpRequest = builder
            .body(form.into_bytes())
            .map_err(|e| TokenCallError::Send(format!("cannot build the token request: {e}")))?;
        let resp = send(&self.http, self.cfg.http_timeout, request)
            .await
            .map_err(|e| TokenCallError::Send(e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let oauth_error = serde_json::from_slice::<ErrorResponse>(resp.body())
                .ok()
                .map(|e| {
                    (
                        sanitize(&e.error),
                        e.error_description.as_deref().map(sanitize),
                    )
                });
            return Err(TokenCallError::Status(status, oauth_error));
        }
        let parsed: TokenResponse = serde_json::from_slice(resp.body()).map_err(|e| {
            TokenCallError::Parse(format!("not a token response: {}", e.classify_str()))
        })?;
        if !parsed.token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenCallError::Parse(format!(
                "token_type {:?} is not Bearer",
                sanitize(&parsed.token_type)
            )));
        }
        if parsed.access_token.is_empty() {
            return Err(TokenCallError::Parse("empty access_token".into()));
        }
        Ok(parsed)
    }

    /// Userinfo claims, checked to name `sub`; `Ok(None)` when the IdP has no userinfo endpoint.
    async fn userinfo(
        &self,
        state: &ProviderState,
        access_token: &str,
        sub: &str,
    ) -> Result<Option<Map<String, Value>>, UserinfoError> {
        let Some(endpoint) = state.metadata.userinfo_endpoint.as_deref() else {
            tracing::debug!("no groups claim in the ID token and no userinfo endpoint: no groups");
            return Ok(None);
        };
        let request: HttpRequest = http::Request::builder()
            .method(http::Method::GET)
            .uri(endpoint)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {access_token}"),
            )
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| {
                UserinfoError::Invalid(format!("cannot build the userinfo request: {e}"))
            })?;
        let resp = send(&self.http, self.cfg.http_timeout, request)
            .await
            .map_err(|e| UserinfoError::Unavailable(e.to_string()))?;
        let status = resp.status().as_u16();
        if status >= 500 || status == 429 {
            return Err(UserinfoError::Unavailable(format!(
                "userinfo answered HTTP {status}"
            )));
        }
        if status != 200 {
            return Err(UserinfoError::Invalid(format!(
                "userinfo answered HTTP {status}"
            )));
        }
        let claims: Map<String, Value> = serde_json::from_slice(resp.body()).map_err(|_| {
            UserinfoError::Invalid(
                "userinfo response is not a JSON object (signed userinfo is not supported)".into(),
            )
        })?;
        match claims.get("sub") {
            Some(Value::String(s)) if s == sub => Ok(Some(claims)),
            _ => Err(UserinfoError::SubMismatch),
        }
    }
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}

impl ClassifyStr for serde_json::Error {
    /// The category only: serde messages may quote parts of the body (tokens).
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "missing or mistyped field",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

fn classify_refresh_failure(e: TokenCallError) -> RefreshError {
    match e {
        TokenCallError::Send(reason) => RefreshError::Unavailable(reason),
        TokenCallError::Status(status, oauth) => match oauth {
            Some((error, _)) if error == "temporarily_unavailable" || error == "server_error" => {
                RefreshError::Unavailable(error)
            }
            _ if status >= 500 || status == 429 => {
                RefreshError::Unavailable(format!("HTTP {status}"))
            }
            Some((error, _)) if (400..500).contains(&status) => RefreshError::Rejected(error),
            None if (400..500).contains(&status) => {
                RefreshError::Rejected(format!("HTTP {status}"))
            }
            _ => RefreshError::Invalid(format!("unexpected HTTP {status}")),
        },
        TokenCallError::Parse(reason) => RefreshError::Invalid(reason),
    }
}
