//! Signing assertions.
use std::time::Duration;

use ed25519_dalek::Signer as _;
use rand::RngCore as _;
use serde::Serialize;

use super::jws::{b64url_encode, b64url_encode_into};
use super::{kid_for, MAX_LIFETIME_SECS};
use crate::identity::{Grant, Identity};

/// A freshly signed assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The compact JWS.
    pub token: String,
    /// Its `exp` claim, unix seconds.
    pub exp: u64,
}

/// Signs assertions for one site with one Ed25519 key.
///
/// The protected header and its base64url form are computed once in [`Signer::new`].
pub struct Signer {
    key: ed25519_dalek::SigningKey,
    kid: String,
    header_b64: String,
    issuer: String,
    audience: String,
    lifetime_secs: u64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key", &"****")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

/// The payload as serialised: borrowed, in the order of [`super::Claims`].
#[derive(Serialize)]
struct ClaimsRef<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    email: Option<&'a str>,
    email_verified: bool,
    name: Option<&'a str>,
    preferred_username: Option<&'a str>,
    groups: &'a [String],
    role: &'a str,
    superuser: bool,
    sid: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
}

/// Rough room for the JSON member names, punctuation and numbers of the payload.
const PAYLOAD_OVERHEAD: usize = 192;
/// Unpadded base64url length of a 64-byte signature.
const SIGNATURE_B64_LEN: usize = 86;

impl Signer {
    /// A signer for `issuer` (the site's public origin) and `audience`. `lifetime` is clamped to
    /// 1..=[`MAX_LIFETIME_SECS`] whole seconds (configuration already keeps it within 5s..300s).
    pub fn new(
        key: ed25519_dalek::SigningKey,
        issuer: String,
        audience: String,
        lifetime: Duration,
    ) -> Signer {
        let kid = kid_for(&key.verifying_key());
        // kid is lowercase hex, so it needs no JSON escaping.
        let header = format!(
            "{{\"alg\":\"EdDSA\",\"typ\":\"{}\",\"kid\":\"{kid}\"}}",
            super::TYP
        );
        let header_b64 = b64url_encode(header.as_bytes());
        let lifetime_secs = lifetime.as_secs().clamp(1, MAX_LIFETIME_SECS);
        Signer {
            key,
            kid,
            header_b64,
            issuer,
            audience,
            lifetime_secs,
        }
    }

    /// The key id of the signing key (the JWS header's `kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The `iss` claim.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` claim.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The token lifetime in seconds (`exp - iat`).
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// Signs an assertion for `identity` with `grant` in session `sid`, issued at `now` (unix
    /// seconds) with a fresh random `jti`.
    pub fn sign(&self, identity: &Identity, grant: &Grant, sid: &str, now: u64) -> Signed {
        let exp = now.saturating_add(self.lifetime_secs);

        let mut jti_raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut jti_raw);
        let mut jti_buf = [0u8; 22];
        let jti_len = base64::Engine::encode_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jti_raw,
            &mut jti_buf,
        )
        .unwrap_or(0);
        let jti =
            std::str::from_utf8(jti_buf.get(..jti_len).unwrap_or_default()).unwrap_or_default();

        let claims = ClaimsRef {
            iss: &self.issuer,
            aud: &self.audience,
            sub: &identity.sub,
            email: identity.email.as_deref(),
            email_verified: identity.email_verified,
            name: identity.name.as_deref(),
            preferred_username: identity.preferred_username.as_deref(),
            groups: &identity.groups,
            role: &grant.role,
            superuser: grant.superuser,
            sid,
            iat: now,
            exp,
            jti,
        };
        let opt_len = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let estimate = PAYLOAD_OVERHEAD
            + self.issuer.len()
            + self.audience.len()
            + identity.sub.len()
            + opt_len(&identity.email)
            + opt_len(&identity.name)
            + opt_len(&identity.preferred_username)
            + identity.groups.iter().map(|g| g.len() + 3).sum::<usize>()
            + grant.role.len()
            + sid.len();
        let mut payload = Vec::with_capacity(estimate);
        if let Err(error) = serde_json::to_writer(&mut payload, &claims) {
            // Unreachable for a Vec and plain fields; fail closed with a token no verifier accepts.
            tracing::error!(%error, "could not serialise assertion claims");
            payload.clear();
            payload.extend_from_slice(b"{}");
        }

        let mut token = String::with_capacity(
            self.header_b64.len() + 1 + payload.len().div_ceil(3) * 4 + 1 + SIGNATURE_B64_LEN,
        );
        token.push_str(&self.header_b64);
        token.push('.');
        b64url_encode_into(&payload, &mut token);
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        b64url_encode_into(&signature.to_bytes(), &mut token);
        Signed { token, exp }
    }
}
