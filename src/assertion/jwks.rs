//! The JSON Web Key Set published at `/.well-known/octogate/jwks.json`.
use serde_json::{json, Value};

use super::jws::b64url_encode;
use super::{kid_for, ALG};

/// The JWKS (RFC 7517, OKP keys per RFC 8037) of the current key followed by the previous ones,
/// each once: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"alg":"EdDSA","use":"sig"},..]}`.
pub fn jwks_json(
    current: &ed25519_dalek::VerifyingKey,
    previous: &[ed25519_dalek::VerifyingKey],
) -> String {
    let mut keys: Vec<Value> = Vec::with_capacity(1 + previous.len());
    let mut seen: Vec<[u8; 32]> = Vec::with_capacity(1 + previous.len());
    for key in std::iter::once(current).chain(previous) {
        if seen.contains(key.as_bytes()) {
            continue;
        }
        seen.push(*key.as_bytes());
        keys.push(json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url_encode(key.as_bytes()),
            "kid": kid_for(key),
            "alg": ALG,
            "use": "sig",
        }));
    }
    json!({ "keys": keys }).to_string()
}
