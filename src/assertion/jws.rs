//! Strict unpadded base64url (RFC 4648 §5) as compact JWS uses it.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Encodes bytes as unpadded base64url, appending to `out`.
pub(crate) fn b64url_encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Encodes bytes as unpadded base64url.
pub(crate) fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes strict unpadded base64url: only `A-Z a-z 0-9 - _`, no `=` padding, no impossible
/// length, canonical trailing bits only (as the PHP shim's `Base64Url::decode`). The empty string
/// decodes to no bytes.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let valid = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid || text.len() % 4 == 1 {
        return None;
    }
    // The engine rejects padding and non-canonical trailing bits.
    URL_SAFE_NO_PAD.decode(text).ok()
}
