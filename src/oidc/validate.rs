//! ID-token validation: a pure function over the provider's JWKS, the expected values and `now`.
//!
//! openidconnect supplies the JWK parsing and the signature primitives
//! ([`JsonWebKey::verify_signature`], which also checks that the key type, `use` and key `alg`
//! fit the algorithm). Everything else is done here, in the order of OpenID Connect Core §3.1.3.7:
//! header checks and the algorithm allow-list, key selection by `kid`, signature, `iss`, `aud`,
//! `azp`, `exp`, `iat`/`nbf`, `nonce`, `at_hash`, `sub`; then the profile claims are read from
//! the verified payload.
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JwsSigningAlgorithm};
use serde_json::{Map, Value};
use sha2::Digest;
use subtle::ConstantTimeEq;

use super::error::TokenRejection;
use crate::identity::Identity;

/// Largest ID token considered (bytes); anything longer is [`TokenRejection::Malformed`].
pub const MAX_ID_TOKEN_BYTES: usize = 64 * 1024;
/// Longest `sub` accepted: "It MUST NOT exceed 255 ASCII characters in length" (OpenID Connect
/// Core §2). Longer is treated as no subject.
pub const MAX_SUB_LEN: usize = 255;
/// Longest email kept (RFC 5321's path limit); a longer one counts as not released.
const MAX_EMAIL_LEN: usize = 254;
/// Longest `name` / `preferred_username` kept; longer ones count as not released. Together with
/// the other limits this keeps a session cookie and an identity assertion within their bounds
/// (the shim refuses assertions over 8 KiB), whatever the IdP puts in a profile.
const MAX_PROFILE_LEN: usize = 256;

/// Most keys tried for a token without `kid`.
const MAX_CANDIDATE_KEYS: usize = 8;

/// Turns configured algorithm names into the allow-list: only asymmetric JWS algorithms survive
/// (`none` and HS* are dropped, whatever the config says; unknown names are dropped).
pub fn parse_allowed_algs(names: &[String]) -> Vec<CoreJwsSigningAlgorithm> {
    names
        .iter()
        .filter_map(|n| parse_alg(n))
        .filter(is_asymmetric)
        .collect()
}

fn parse_alg(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    serde_json::from_value::<CoreJwsSigningAlgorithm>(Value::String(name.to_string())).ok()
}

fn is_asymmetric(alg: &CoreJwsSigningAlgorithm) -> bool {
    !alg.uses_shared_secret()
        && !matches!(alg, CoreJwsSigningAlgorithm::None)
        && hash_len(alg).is_some()
}

/// Digest used for `at_hash` (OIDC Core §3.1.3.6: the hash of the JWS `alg`; Ed25519: SHA-512).
fn hash_len(alg: &CoreJwsSigningAlgorithm) -> Option<u16> {
    use CoreJwsSigningAlgorithm as A;
    match alg {
        A::RsaSsaPkcs1V15Sha256 | A::RsaSsaPssSha256 | A::EcdsaP256Sha256 => Some(256),
        A::RsaSsaPkcs1V15Sha384 | A::RsaSsaPssSha384 | A::EcdsaP384Sha384 => Some(384),
        A::RsaSsaPkcs1V15Sha512 | A::RsaSsaPssSha512 | A::EcdsaP521Sha512 | A::EdDsa => Some(512),
        _ => None,
    }
}

/// `at_hash` for `access_token` signed with `alg`: base64url of the left half of its digest.
pub fn at_hash(alg: &CoreJwsSigningAlgorithm, access_token: &str) -> Option<String> {
    let digest: Vec<u8> = match hash_len(alg)? {
        256 => sha2::Sha256::digest(access_token.as_bytes()).to_vec(),
        384 => sha2::Sha384::digest(access_token.as_bytes()).to_vec(),
        _ => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    Some(URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]))
}

/// What the token must say, and the time to judge it by.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The configured issuer (compared exactly).
    pub issuer: &'a str,
    /// Our client id.
    pub client_id: &'a str,
    /// Accepted algorithms (see [`parse_allowed_algs`]).
    pub allowed_algs: &'a [CoreJwsSigningAlgorithm],
    /// Tolerance for `exp`, `iat` and `nbf`.
    pub clock_skew: Duration,
    /// Current time, seconds since the Unix epoch.
    pub now: i64,
    /// The nonce sent with the authentication request (code flow); `None` on refresh.
    pub nonce: Option<&'a str>,
    /// The access token issued with the ID token, to check `at_hash` when present.
    pub access_token: Option<&'a str>,
    /// Claim carrying the groups.
    pub groups_claim: &'a str,
}

/// A fully validated ID token.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    /// The identity read from the verified claims.
    pub identity: Identity,
    /// Whether the token carried the groups claim at all (if not, ask userinfo).
    pub has_groups_claim: bool,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
}

#[derive(serde::Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    cty: Option<Value>,
    crit: Option<Value>,
}

fn b64_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenRejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenRejection::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenRejection::Malformed)
}

/// Validates `token` completely against `jwks` and `expected`; returns the identity or the exact
/// reason for refusal.
pub fn validate_id_token(
    token: &str,
    jwks: &CoreJsonWebKeySet,
    expected: &Expected<'_>,
) -> Result<VerifiedIdToken, TokenRejection> {
    if token.len() > MAX_ID_TOKEN_BYTES {
        return Err(TokenRejection::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed);
    };

    // Header: algorithm allow-list first (never none, never HS*), then the headers we refuse.
    let header: Header = b64_json(h64)?;
    let alg_name = header.alg.as_deref().ok_or(TokenRejection::Malformed)?;
    let alg = parse_alg(alg_name)
        .filter(|a| is_asymmetric(a) && expected.allowed_algs.contains(a))
        .ok_or(TokenRejection::UnsupportedAlg)?;
    if header.crit.is_some() || header.cty.is_some() {
        return Err(TokenRejection::Malformed);
    }
    if let Some(typ) = &header.typ {
        let t = typ.to_ascii_lowercase();
        if t != "jwt" && t != "application/jwt" {
            return Err(TokenRejection::Malformed);
        }
    }

    // Key selection and signature.
    let candidates = select_keys(jwks, header.kid.as_deref(), &alg)?;
    let signature = URL_SAFE_NO_PAD
        .decode(s64)
        .map_err(|_| TokenRejection::BadSignature)?;
    let signing_input = &token.as_bytes()[..h64.len() + 1 + p64.len()];
    let verified = candidates
        .iter()
        .any(|k| k.verify_signature(&alg, signing_input, &signature).is_ok());
    if !verified {
        return Err(TokenRejection::BadSignature);
    }

    // Claims (signature verified from here on).
    let claims: Map<String, Value> = b64_json(p64)?;
    check_claims(&claims, &alg, expected)?;
    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB_LEN => s.clone(),
        _ => return Err(TokenRejection::MissingSub),
    };
    let expires_at = numeric_date(&claims, "exp")?.ok_or(TokenRejection::Malformed)?;
    let has_groups_claim = claims.contains_key(expected.groups_claim);
    Ok(VerifiedIdToken {
        identity: Identity {
            sub,
            email: string_claim(&claims, "email", MAX_EMAIL_LEN),
            email_verified: matches!(claims.get("email_verified"), Some(Value::Bool(true))),
            name: string_claim(&claims, "name", MAX_PROFILE_LEN),
            preferred_username: string_claim(&claims, "preferred_username", MAX_PROFILE_LEN),
            groups: groups_from(&claims, expected.groups_claim),
        },
        has_groups_claim,
        expires_at,
    })
}

/// Keys that may have signed a token with this `kid` and `alg`.
fn select_keys<'k>(
    jwks: &'k CoreJsonWebKeySet,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Result<Vec<&'k CoreJsonWebKey>, TokenRejection> {
    let keys = jwks.keys();
    match kid {
        Some(kid) => {
            let with_kid: Vec<&CoreJsonWebKey> = keys
                .iter()
                .filter(|k| k.key_id().map(|id| id.as_str()) == Some(kid))
                .collect();
            if with_kid.is_empty() {
                // Possibly a rotated key: the caller may refetch the JWKS once.
                return Err(TokenRejection::UnknownKid);
            }
            Ok(with_kid)
        }
        None => {
            let fitting: Vec<&CoreJsonWebKey> = keys
                .iter()
                .filter(|k| alg.key_type().as_ref() == Some(k.key_type()))
                .take(MAX_CANDIDATE_KEYS)
                .collect();
            if fitting.is_empty() {
                return Err(TokenRejection::UnknownKid);
            }
            Ok(fitting)
        }
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    alg: &CoreJwsSigningAlgorithm,
    expected: &Expected<'_>,
) -> Result<(), TokenRejection> {
    // iss: exactly the configured issuer.
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == expected.issuer => {}
        _ => return Err(TokenRejection::WrongIssuer),
    }

    // aud: a string or an array of strings containing our client id; no other audience is
    // trusted, and with several audiences azp is required.
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => {
            let mut v = Vec::with_capacity(items.len());
            for item in items {
                v.push(item.as_str().ok_or(TokenRejection::WrongAudience)?);
            }
            v
        }
        _ => return Err(TokenRejection::WrongAudience),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(TokenRejection::WrongAudience);
    }
    let azp = claims.get("azp");
    if audiences.len() > 1 {
        match azp {
            Some(Value::String(a)) if a == expected.client_id => {}
            _ => return Err(TokenRejection::AzpMismatch),
        }
        if audiences.iter().any(|a| *a != expected.client_id) {
            return Err(TokenRejection::WrongAudience);
        }
    } else if let Some(azp) = azp {
        if azp.as_str() != Some(expected.client_id) {
            return Err(TokenRejection::AzpMismatch);
        }
    }

    // exp, iat (required) and nbf (optional), with skew.
    let skew = i64::try_from(expected.clock_skew.as_secs()).unwrap_or(i64::MAX / 4);
    let exp = numeric_date(claims, "exp")?.ok_or(TokenRejection::Malformed)?;
    if expected.now >= exp.saturating_add(skew) {
        return Err(TokenRejection::Expired);
    }
    let iat = numeric_date(claims, "iat")?.ok_or(TokenRejection::Malformed)?;
    if iat > expected.now.saturating_add(skew) {
        return Err(TokenRejection::IssuedInFuture);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > expected.now.saturating_add(skew) {
            return Err(TokenRejection::IssuedInFuture);
        }
    }

    // nonce (code flow): present and equal, compared in constant time.
    if let Some(want) = expected.nonce {
        match claims.get("nonce") {
            Some(Value::String(got))
                if bool::from(got.as_bytes().ct_eq(want.as_bytes())) && !want.is_empty() => {}
            _ => return Err(TokenRejection::NonceMismatch),
        }
    }

    // at_hash: verified when present (and the access token is known).
    if let Some(value) = claims.get("at_hash") {
        let got = value.as_str().ok_or(TokenRejection::AtHashMismatch)?;
        if let Some(access_token) = expected.access_token {
            let want = at_hash(alg, access_token).ok_or(TokenRejection::UnsupportedAlg)?;
            if !bool::from(got.as_bytes().ct_eq(want.as_bytes())) {
                return Err(TokenRejection::AtHashMismatch);
            }
        }
    }
    Ok(())
}

/// A NumericDate claim as whole seconds; `Ok(None)` when absent, `Malformed` when not a number.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, TokenRejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
                    _ => Err(TokenRejection::Malformed),
                }
            }
        }
        Some(_) => Err(TokenRejection::Malformed),
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str, max: usize) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| s.len() <= max)
        .map(str::to_string)
}

/// Groups from a claims object: an array of strings (non-strings skipped), a single string as one
/// group, anything else no groups.
pub fn groups_from(claims: &Map<String, Value>, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}
