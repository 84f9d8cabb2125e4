//! The identity assertion: a short-lived compact JWS (RFC 7515) signed with Ed25519 (`EdDSA`,
//! RFC 8037) that octogate sends upstream in the `X-Octogate-Assertion` header for every request
//! of a signed-in, allowed user.
//!
//! - [`Signer`] builds tokens (header `{"alg":"EdDSA","typ":"octogate-assertion+jwt","kid":KID}`, [`Claims`] payload).
//! - [`AssertionCache`] reuses a token per session while more than half its lifetime is left.
//! - [`Verifier`] checks tokens with exactly the rules and verdict order of the October shim's PHP
//!   `AssertionVerifier` (see [`Verdict`]); it backs the demo backend and the shared test vectors.
//! - [`jwks_json`] publishes the public keys; [`generate_keys`] serves `octogate keygen`.
//!
//! The key id ([`kid_for`]) is the first 16 lowercase hex characters of the SHA-256 of the raw
//! 32-byte public key.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod cache;
mod json;
mod jwks;
mod jws;
mod keys;
mod sign;
mod verify;

#[cfg(test)]
mod tests;

pub use cache::{AssertionCache, IdentityHeaders, ASSERTION_HEADER};

/// The JWS header's `typ`, set by the signer and required exactly by every verifier (RFC 8725
/// §3.11 explicit typing): no other JWT, even one signed with the same key, passes as an
/// assertion.
pub const TYP: &str = "octogate-assertion+jwt";
pub use jwks::jwks_json;
pub use keys::{generate_keys, public_key_b64, KeyMaterial};
pub use sign::{Signed, Signer};
pub use verify::{Verdict, Verifier};

/// Name of the request header that carries the assertion upstream.
pub const HEADER_NAME: &str = "X-Octogate-Assertion";

/// Largest token a verifier accepts, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Largest accepted `exp - iat`, in seconds; also the cap on a [`Signer`]'s lifetime.
pub const MAX_LIFETIME_SECS: u64 = 300;

/// The JWS `alg` of every assertion.
pub const ALG: &str = "EdDSA";

/// The claims of an assertion (the JWS payload), in the order they are serialised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the site's public origin.
    pub iss: String,
    /// Audience: the site's configured `assertion.audience`.
    pub aud: String,
    /// The provider's subject identifier (never empty).
    pub sub: String,
    /// Email address, if released.
    pub email: Option<String>,
    /// Whether the IdP verified the email (optional in the token; absent means false). The shim
    /// links an existing account by email only when this is true.
    #[serde(default)]
    pub email_verified: bool,
    /// Display name, if released.
    pub name: Option<String>,
    /// Preferred username, if released.
    pub preferred_username: Option<String>,
    /// Groups that matter to this site.
    pub groups: Vec<String>,
    /// October role code (never empty).
    pub role: String,
    /// Whether the user is an October superuser.
    pub superuser: bool,
    /// octogate session id.
    pub sid: String,
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds (`iat` + lifetime, lifetime at most [`MAX_LIFETIME_SECS`]).
    pub exp: u64,
    /// Unique token id: 128 random bits, base64url.
    pub jti: String,
}

/// The key id of a public key: the first 16 lowercase hex characters of the SHA-256 of its raw
/// 32 bytes.
pub fn kid_for(public: &ed25519_dalek::VerifyingKey) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(public.as_bytes());
    let mut kid = String::with_capacity(16);
    for byte in digest.iter().take(8) {
        kid.push(char::from(HEX[usize::from(byte >> 4)]));
        kid.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    kid
}
