//! Errors of the OIDC layer. Messages carry reasons and endpoint names, never a token, code or
//! secret.

/// Why an ID token was refused. Each variant has a stable [`code`](TokenRejection::code) for logs
/// and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenRejection {
    /// The signature does not verify with the selected key (or the key does not fit the algorithm).
    BadSignature,
    /// `alg` is `none`, symmetric (HS*), unknown, or not in `allowed_algs`.
    UnsupportedAlg,
    /// No key in the provider's JWKS matches the token's `kid` (or, without `kid`, the algorithm).
    UnknownKid,
    /// `iss` is not exactly the configured issuer.
    WrongIssuer,
    /// `aud` does not contain our client id, or contains an audience we do not trust.
    WrongAudience,
    /// `azp` is missing although there are several audiences, or is not our client id.
    AzpMismatch,
    /// `exp` has passed (beyond the allowed clock skew).
    Expired,
    /// `iat` (or `nbf`) lies in the future beyond the allowed clock skew.
    IssuedInFuture,
    /// `nonce` missing or different from the one sent with the authentication request.
    NonceMismatch,
    /// `at_hash` does not match the access token.
    AtHashMismatch,
    /// `sub` missing, not a string, empty or longer than 255 bytes (or differs from the
    /// session's on refresh).
    MissingSub,
    /// The userinfo response names a different subject than the ID token.
    UserinfoSubMismatch,
    /// Not a well-formed compact JWS with a JSON header and claims (including missing `exp`/`iat`,
    /// unsupported `crit`, `typ` or `cty` headers).
    Malformed,
}

impl TokenRejection {
    /// A short, stable identifier for logs and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            TokenRejection::BadSignature => "bad_signature",
            TokenRejection::UnsupportedAlg => "unsupported_alg",
            TokenRejection::UnknownKid => "unknown_kid",
            TokenRejection::WrongIssuer => "wrong_issuer",
            TokenRejection::WrongAudience => "wrong_audience",
            TokenRejection::AzpMismatch => "azp_mismatch",
            TokenRejection::Expired => "expired",
            TokenRejection::IssuedInFuture => "issued_in_future",
            TokenRejection::NonceMismatch => "nonce_mismatch",
            TokenRejection::AtHashMismatch => "at_hash_mismatch",
            TokenRejection::MissingSub => "missing_sub",
            TokenRejection::UserinfoSubMismatch => "userinfo_sub_mismatch",
            TokenRejection::Malformed => "malformed",
        }
    }
}

impl std::fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// An error of the sign-in flow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// Provider metadata or keys are not loaded yet; the text says why.
    #[error("IdP not ready: {0}")]
    NotReady(String),
    /// A request to the IdP failed (network, timeout, unexpected HTTP status, oversized body).
    #[error("request to the IdP {endpoint} endpoint failed: {reason}")]
    Http {
        /// Which endpoint (`token`, `userinfo`, `jwks`, `discovery`).
        endpoint: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The token endpoint answered with an OAuth error response.
    #[error("token endpoint refused the request: {error}{}", .description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenEndpoint {
        /// The OAuth `error` code, e.g. `invalid_grant`.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The IdP answered with a body that is not what the protocol requires.
    #[error("invalid response from the IdP {endpoint} endpoint: {reason}")]
    InvalidResponse {
        /// Which endpoint.
        endpoint: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The ID token (or the userinfo subject) failed validation.
    #[error("ID token rejected: {0}")]
    IdToken(TokenRejection),
    /// A local failure (e.g. the OS random number generator).
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a refresh failed, and so what the caller should do with the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The IdP refused the refresh token (`invalid_grant` etc.): the user is signed out.
    #[error("refresh rejected by the IdP: {0}")]
    Rejected(String),
    /// The IdP could not be asked (network error, timeout, 5xx, not loaded): the caller may keep
    /// the session within its grace period.
    #[error("IdP unavailable for refresh: {0}")]
    Unavailable(String),
    /// The response or its ID token failed validation: fail closed.
    #[error("refresh response invalid: {0}")]
    Invalid(String),
}
