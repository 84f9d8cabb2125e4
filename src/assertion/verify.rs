//! Verifying assertions, rule for rule as the October shim's PHP `AssertionVerifier`.
use serde_json::{Map, Value};

use super::json::parse_object;
use super::jws::b64url_decode;
use super::{kid_for, Claims, ALG, MAX_LIFETIME_SECS, MAX_TOKEN_BYTES};

/// Why a token was rejected: the first failing check, in contract order. [`Verdict::code`] gives
/// the snake_case code shared with the PHP shim and `tests/vectors/assertions.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Verdict {
    /// 1. Longer than [`MAX_TOKEN_BYTES`].
    #[error("oversized: token longer than 8192 bytes")]
    Oversized,
    /// 2/3. Not three strict base64url segments, header or payload not a JSON object, `typ`
    /// not exactly [`TYP`](super::TYP), or `crit` present.
    #[error("malformed: not a well-formed compact JWS")]
    Malformed,
    /// 3. Header `alg` missing or not exactly `"EdDSA"`.
    #[error("unsupported_alg: alg is not EdDSA")]
    UnsupportedAlg,
    /// 4. `kid` missing, not a string, or not a configured key.
    #[error("unknown_kid: no configured key has this kid")]
    UnknownKid,
    /// 5. Signature not 64 bytes or not valid (strict Ed25519).
    #[error("bad_signature: signature is invalid")]
    BadSignature,
    /// 6. A required claim is missing or has the wrong type.
    #[error("missing_claim: a required claim is missing or mistyped")]
    MissingClaim,
    /// 7. `iss` is not the configured issuer.
    #[error("wrong_issuer: iss does not match")]
    WrongIssuer,
    /// 8. `aud` is not exactly the configured audience (an array never is).
    #[error("wrong_audience: aud does not match")]
    WrongAudience,
    /// 9. `iat` is later than now plus skew.
    #[error("not_yet_valid: iat is in the future")]
    NotYetValid,
    /// 10. Now is at or after `exp` plus skew.
    #[error("expired: exp has passed")]
    Expired,
    /// 11. `exp - iat` exceeds [`MAX_LIFETIME_SECS`].
    #[error("lifetime_too_long: exp - iat exceeds 300 seconds")]
    LifetimeTooLong,
}

impl Verdict {
    /// The snake_case verdict code, e.g. `"bad_signature"`.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Oversized => "oversized",
            Verdict::Malformed => "malformed",
            Verdict::UnsupportedAlg => "unsupported_alg",
            Verdict::UnknownKid => "unknown_kid",
            Verdict::BadSignature => "bad_signature",
            Verdict::MissingClaim => "missing_claim",
            Verdict::WrongIssuer => "wrong_issuer",
            Verdict::WrongAudience => "wrong_audience",
            Verdict::NotYetValid => "not_yet_valid",
            Verdict::Expired => "expired",
            Verdict::LifetimeTooLong => "lifetime_too_long",
        }
    }
}

/// Verifies assertions against a set of public keys, one issuer and one audience.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<(String, ed25519_dalek::VerifyingKey)>,
    issuer: String,
    audience: String,
    skew_secs: u64,
}

impl Verifier {
    /// A verifier accepting tokens signed by any of `keys` (each known by its [`kid_for`]), for
    /// exactly `issuer` and `audience`, allowing `skew_secs` of clock difference.
    pub fn new(
        keys: &[ed25519_dalek::VerifyingKey],
        issuer: String,
        audience: String,
        skew_secs: u64,
    ) -> Verifier {
        let keys = keys.iter().map(|k| (kid_for(k), *k)).collect();
        Verifier {
            keys,
            issuer,
            audience,
            skew_secs,
        }
    }

    /// Verifies `token` at `now` (unix seconds): the claims, or the first failing [`Verdict`].
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, Verdict> {
        // 1. size
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Verdict::Oversized);
        }
        // 2. shape
        let mut parts = token.split('.');
        let (header_b64, payload_b64, signature_b64) =
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(h), Some(p), Some(s), None) => (h, p, s),
                _ => return Err(Verdict::Malformed),
            };
        let header_json = b64url_decode(header_b64).ok_or(Verdict::Malformed)?;
        let payload_json = b64url_decode(payload_b64).ok_or(Verdict::Malformed)?;
        let signature = b64url_decode(signature_b64).ok_or(Verdict::Malformed)?;
        let header = parse_object(&header_json).ok_or(Verdict::Malformed)?;
        let claims = parse_object(&payload_json).ok_or(Verdict::Malformed)?;
        // 3. header
        if header.get("alg").and_then(Value::as_str) != Some(ALG) {
            return Err(Verdict::UnsupportedAlg);
        }
        if header.get("typ").and_then(Value::as_str) != Some(super::TYP)
            || header.contains_key("crit")
        {
            return Err(Verdict::Malformed);
        }
        // 4. key
        let key = match header.get("kid").and_then(Value::as_str) {
            Some(kid) if !kid.is_empty() => {
                self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
            }
            _ => None,
        }
        .ok_or(Verdict::UnknownKid)?;
        // 5. signature over the ASCII signing input
        let signing_input = token
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(Verdict::Malformed)?;
        let signature =
            ed25519_dalek::Signature::from_slice(&signature).map_err(|_| Verdict::BadSignature)?;
        key.verify_strict(signing_input.as_bytes(), &signature)
            .map_err(|_| Verdict::BadSignature)?;
        // 6 to 11. claims
        self.check_claims(claims, now)
    }

    fn check_claims(&self, mut c: Map<String, Value>, now: u64) -> Result<Claims, Verdict> {
        // 6. presence and types
        let aud = match c.remove("aud") {
            Some(Value::String(s)) => Some(s),
            Some(Value::Array(_)) => None, // well-typed here, wrong_audience below
            _ => return Err(Verdict::MissingClaim),
        };
        let (
            Some(iss),
            Some(sub),
            Some(jti),
            Some(sid),
            Some(role),
            Some(iat),
            Some(exp),
            Some(superuser),
            Some(groups),
        ) = (
            take_string(&mut c, "iss"),
            take_string(&mut c, "sub").filter(|s| !s.is_empty()),
            take_string(&mut c, "jti"),
            take_string(&mut c, "sid"),
            take_string(&mut c, "role").filter(|s| !s.is_empty()),
            c.get("iat").and_then(Value::as_u64),
            c.get("exp").and_then(Value::as_u64),
            c.get("superuser").and_then(Value::as_bool),
            take_strings(&mut c, "groups"),
        )
        else {
            return Err(Verdict::MissingClaim);
        };
        // Optional, but when present it must be a boolean.
        let email_verified = match c.get("email_verified") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(Verdict::MissingClaim),
        };
        // 7, 8. issuer and audience
        if iss != self.issuer {
            return Err(Verdict::WrongIssuer);
        }
        let aud = match aud {
            Some(aud) if aud == self.audience => aud,
            _ => return Err(Verdict::WrongAudience),
        };
        // 9 to 11. time
        if iat > now.saturating_add(self.skew_secs) {
            return Err(Verdict::NotYetValid);
        }
        if now >= exp.saturating_add(self.skew_secs) {
            return Err(Verdict::Expired);
        }
        if exp.saturating_sub(iat) > MAX_LIFETIME_SECS {
            return Err(Verdict::LifetimeTooLong);
        }
        Ok(Claims {
            iss,
            aud,
            sub,
            email: take_string(&mut c, "email"),
            email_verified,
            name: take_string(&mut c, "name"),
            preferred_username: take_string(&mut c, "preferred_username"),
            groups,
            role,
            superuser,
            sid,
            iat,
            exp,
            jti,
        })
    }
}

/// Removes a string member; `None` if absent or not a string.
fn take_string(c: &mut Map<String, Value>, name: &str) -> Option<String> {
    match c.remove(name) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Removes an array-of-strings member; `None` if absent, not an array or holding a non-string.
fn take_strings(c: &mut Map<String, Value>, name: &str) -> Option<Vec<String>> {
    match c.remove(name) {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}
