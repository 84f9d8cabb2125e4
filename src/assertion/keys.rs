//! Key material for `octogate keygen`.
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;

use super::kid_for;

/// Fresh secrets for a new site, printed by `octogate keygen`.
pub struct KeyMaterial {
    /// 32 random bytes for `session.cookie_keys`, standard padded base64.
    pub cookie_key_b64: String,
    /// A new Ed25519 signing key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub signing_key_pem: String,
    /// Its raw 32-byte public key, standard padded base64 (for the shim's configuration).
    pub public_key_b64: String,
    /// Its key id ([`kid_for`]).
    pub kid: String,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("cookie_key_b64", &"****")
            .field("signing_key_pem", &"****")
            .field("public_key_b64", &self.public_key_b64)
            .field("kid", &self.kid)
            .finish()
    }
}

/// DER prefix of a PKCS#8 v1 `PrivateKeyInfo` for Ed25519 (RFC 8410), followed by the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Generates a cookie key and an Ed25519 signing key from the operating system's CSPRNG.
pub fn generate_keys() -> KeyMaterial {
    let mut cookie_key = [0u8; 32];
    OsRng.fill_bytes(&mut cookie_key);
    let signing_key = ed25519_dalek::SigningKey::generate(&mut OsRng);
    let public = signing_key.verifying_key();
    KeyMaterial {
        cookie_key_b64: STANDARD.encode(cookie_key),
        signing_key_pem: pkcs8_pem(&signing_key),
        public_key_b64: public_key_b64(&public),
        kid: kid_for(&public),
    }
}

/// The raw 32-byte public key as standard padded base64.
pub fn public_key_b64(key: &ed25519_dalek::VerifyingKey) -> String {
    STANDARD.encode(key.as_bytes())
}

/// PKCS#8 v1 PEM of a signing key; built by hand because it is a fixed 48-byte structure and this
/// cannot fail (the `pkcs8` encoder returns a `Result`).
fn pkcs8_pem(key: &ed25519_dalek::SigningKey) -> String {
    let mut der = [0u8; 48];
    let (prefix, seed) = der.split_at_mut(ED25519_PKCS8_PREFIX.len());
    prefix.copy_from_slice(&ED25519_PKCS8_PREFIX);
    seed.copy_from_slice(key.as_bytes());
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    );
    der.fill(0);
    pem
}

#[cfg(test)]
pub(super) fn pkcs8_pem_for_tests(key: &ed25519_dalek::SigningKey) -> String {
    pkcs8_pem(key)
}
