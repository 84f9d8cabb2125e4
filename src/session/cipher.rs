//! AES-256-GCM sealing of cookie values.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;

use super::chunks::{MAX_CHUNKS, MAX_COOKIE_BYTES};
use super::CookieError;

/// Format version byte that starts every sealed value.
const VERSION: u8 = 1;
/// AES-GCM nonce length (96 bits).
const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// Longest sealed (base64url) value [`CookieCipher::open`] accepts and [`CookieCipher::seal`]
/// produces: what fits in [`MAX_CHUNKS`] cookies of [`MAX_COOKIE_BYTES`].
pub const MAX_SEALED_LEN: usize = MAX_CHUNKS * MAX_COOKIE_BYTES;

/// Seals and opens cookie values with AES-256-GCM.
///
/// The first key encrypts; every key is tried when decrypting, so a new key can be put first while
/// cookies sealed with the old one stay readable. The site (see [`cookie_site`]) and the cookie
/// name are the associated data, so a value only opens on the site and under the name it was
/// sealed for: sites that share cookie keys (or copy one site's config for another) cannot
/// replay each other's sessions, even when one of them trusts a different OpenID Provider.
pub struct CookieCipher {
    ciphers: Vec<Aes256Gcm>,
    /// SHA-256 of the site's identity, the first part of every value's associated data.
    site: [u8; 32],
}

/// What a site's cookies are bound to: the origin browsers reach it at, and the OpenID Provider
/// and client its sessions come from.
pub fn cookie_site(public_origin: &str, issuer: &str, client_id: &str) -> String {
    format!("{public_origin}\n{issuer}\n{client_id}")
}

/// Longest cookie name whose associated data is built on the stack (longer: on the heap).
const STACK_NAME_LEN: usize = 160;

impl std::fmt::Debug for CookieCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieCipher")
            .field("keys", &format_args!("[{} keys ****]", self.ciphers.len()))
            .finish()
    }
}

/// Length of the base64url (no padding) encoding of `n` bytes.
const fn b64_len(n: usize) -> usize {
    (n / 3) * 4
        + match n % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

impl CookieCipher {
    /// A cipher with `keys` for the site `site` ([`cookie_site`]): the first key encrypts, all
    /// decrypt. `None` when `keys` is empty.
    pub fn new(keys: &[[u8; 32]], site: &str) -> Option<Self> {
        use sha2::Digest as _;
        if keys.is_empty() {
            return None;
        }
        let ciphers = keys.iter().map(|k| Aes256Gcm::new(k.into())).collect();
        let mut h = sha2::Sha256::new();
        h.update(b"octogate session cookie v1\n");
        h.update(site.as_bytes());
        Some(Self {
            ciphers,
            site: h.finalize().into(),
        })
    }

    /// Runs `f` with the associated data for `cookie_name`: the site digest, then the name.
    fn with_aad<R>(&self, cookie_name: &str, f: impl FnOnce(&[u8]) -> R) -> R {
        let name = cookie_name.as_bytes();
        let mut stack = [0u8; 32 + STACK_NAME_LEN];
        if let Some(aad) = stack.get_mut(..32 + name.len()) {
            let (site, rest) = aad.split_at_mut(32);
            site.copy_from_slice(&self.site);
            rest.copy_from_slice(name);
            return f(aad);
        }
        let mut aad = Vec::with_capacity(32 + name.len());
        aad.extend_from_slice(&self.site);
        aad.extend_from_slice(name);
        f(&aad)
    }

    /// Encrypts `plaintext` for the cookie `cookie_name` with a fresh random nonce.
    ///
    /// Output: base64url without padding of `1 || nonce (12 bytes) || ciphertext || tag (16 bytes)`.
    /// Fails with [`CookieError::TooLarge`] when the result would exceed [`MAX_SEALED_LEN`].
    pub fn seal(&self, cookie_name: &str, plaintext: &[u8]) -> Result<String, CookieError> {
        let total = plaintext
            .len()
            .checked_add(1 + NONCE_LEN + TAG_LEN)
            .ok_or(CookieError::TooLarge)?;
        if total > MAX_SEALED_LEN || b64_len(total) > MAX_SEALED_LEN {
            return Err(CookieError::TooLarge);
        }
        let cipher = self.ciphers.first().ok_or(CookieError::Undecryptable)?;
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .with_aad(cookie_name, |aad| {
                cipher.encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: plaintext,
                        aad,
                    },
                )
            })
            .map_err(|_| CookieError::TooLarge)?;
        let mut raw = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        raw.push(VERSION);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Decrypts a value sealed by [`seal`](Self::seal) for the same `cookie_name` with any key.
    ///
    /// The length is checked before decoding. Errors: [`CookieError::TooLarge`] (longer than
    /// [`MAX_SEALED_LEN`]), [`CookieError::Malformed`] (not base64url, too short, unknown version),
    /// [`CookieError::Undecryptable`] (no key authenticates it).
    pub fn open(&self, cookie_name: &str, value: &str) -> Result<Vec<u8>, CookieError> {
        if value.len() > MAX_SEALED_LEN {
            return Err(CookieError::TooLarge);
        }
        if value.len() < b64_len(1 + NONCE_LEN + TAG_LEN) {
            return Err(CookieError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(value.as_bytes())
            .map_err(|_| CookieError::Malformed)?;
        let (version, rest) = raw.split_first().ok_or(CookieError::Malformed)?;
        if *version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CookieError::Malformed);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::from_slice(nonce);
        self.with_aad(cookie_name, |aad| {
            self.ciphers
                .iter()
                .find_map(|cipher| cipher.decrypt(nonce, Payload { msg: ct, aad }).ok())
                .ok_or(CookieError::Undecryptable)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: [u8; 32] = [1; 32];
    const K2: [u8; 32] = [2; 32];

    const SITE: &str = "https://site1.example.com\nhttps://idp.example.com\nclient1";

    fn cipher(keys: &[[u8; 32]]) -> CookieCipher {
        match CookieCipher::new(keys, SITE) {
            Some(c) => c,
            None => panic!("no keys"),
        }
    }

    #[test]
    fn no_keys_is_refused() {
        assert!(CookieCipher::new(&[], SITE).is_none());
    }

    #[test]
    fn round_trip_various_sizes() {
        let c = cipher(&[K1]);
        for len in [0usize, 1, 2, 3, 15, 16, 17, 100, 4000, 20_000] {
            let pt: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let sealed = c.seal("sess", &pt).expect("seal");
            assert!(
                sealed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "len {len}"
            );
            assert_eq!(sealed.len(), b64_len(pt.len() + 29), "len {len}");
            assert_eq!(c.open("sess", &sealed), Ok(pt), "len {len}");
        }
    }

    #[test]
    fn fresh_nonce_each_seal() {
        let c = cipher(&[K1]);
        let a = c.seal("sess", b"same").expect("seal");
        let b = c.seal("sess", b"same").expect("seal");
        assert_ne!(a, b);
        let ra = URL_SAFE_NO_PAD.decode(&a).expect("b64");
        let rb = URL_SAFE_NO_PAD.decode(&b).expect("b64");
        assert_eq!(ra[0], VERSION);
        assert_ne!(ra[1..13], rb[1..13]);
    }

    #[test]
    fn tampering_any_byte_is_undecryptable() {
        let c = cipher(&[K1]);
        let sealed = c.seal("sess", b"hello session").expect("seal");
        let raw = URL_SAFE_NO_PAD.decode(&sealed).expect("b64");
        for i in 1..raw.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = raw.clone();
                t[i] ^= bit;
                let v = URL_SAFE_NO_PAD.encode(&t);
                assert_eq!(
                    c.open("sess", &v),
                    Err(CookieError::Undecryptable),
                    "byte {i} bit {bit:#x}"
                );
            }
        }
        // The version byte is checked explicitly.
        let mut t = raw.clone();
        t[0] = 2;
        assert_eq!(
            c.open("sess", &URL_SAFE_NO_PAD.encode(&t)),
            Err(CookieError::Malformed)
        );
    }

    #[test]
    fn truncated_values() {
        let c = cipher(&[K1]);
        let sealed = c.seal("sess", b"hello session").expect("seal");
        let raw = URL_SAFE_NO_PAD.decode(&sealed).expect("b64");
        for cut in 0..raw.len() {
            let v = URL_SAFE_NO_PAD.encode(&raw[..cut]);
            let r = c.open("sess", &v);
            assert!(
                matches!(
                    r,
                    Err(CookieError::Malformed) | Err(CookieError::Undecryptable)
                ),
                "cut {cut}: {r:?}"
            );
        }
        // String truncation that breaks base64 framing.
        for cut in 0..sealed.len() {
            assert!(c.open("sess", &sealed[..cut]).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn malformed_inputs() {
        let c = cipher(&[K1]);
        let long_junk = "A".repeat(64);
        let cases: &[(&str, CookieError)] = &[
            ("", CookieError::Malformed),
            ("abc", CookieError::Malformed),
            (
                "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
                CookieError::Malformed,
            ),
            (
                "AQ==AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                CookieError::Malformed,
            ),
            (
                "é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€é€",
                CookieError::Malformed,
            ),
            (&long_junk, CookieError::Malformed), // version byte 0
        ];
        for (v, want) in cases {
            assert_eq!(c.open("sess", v), Err(*want), "{v:?}");
        }
    }

    #[test]
    fn oversized_rejected_before_decoding() {
        let c = cipher(&[K1]);
        // Not even valid base64: TooLarge proves the length check ran first.
        let v = "!".repeat(MAX_SEALED_LEN + 1);
        assert_eq!(c.open("sess", &v), Err(CookieError::TooLarge));
        // Sealing something that would not fit is refused.
        assert_eq!(
            c.seal("sess", &vec![0u8; MAX_SEALED_LEN]),
            Err(CookieError::TooLarge)
        );
        let max_pt = MAX_SEALED_LEN * 3 / 4 - 29;
        let s = c
            .seal("sess", &vec![0u8; max_pt])
            .expect("largest plaintext fits");
        assert!(s.len() <= MAX_SEALED_LEN);
        assert_eq!(c.open("sess", &s).map(|p| p.len()), Ok(max_pt));
        assert_eq!(
            c.seal("sess", &vec![0u8; max_pt + 1]),
            Err(CookieError::TooLarge)
        );
    }

    #[test]
    fn wrong_key_and_rotation() {
        let old = cipher(&[K1]);
        let sealed_old = old.seal("sess", b"payload").expect("seal");
        let cases: &[(&[[u8; 32]], bool)] = &[
            (&[K1], true),
            (&[K2], false),
            (&[K2, K1], true),
            (&[K1, K2], true),
        ];
        for (keys, ok) in cases {
            let c = cipher(keys);
            assert_eq!(
                c.open("sess", &sealed_old).is_ok(),
                *ok,
                "{} keys",
                keys.len()
            );
            if !ok {
                assert_eq!(c.open("sess", &sealed_old), Err(CookieError::Undecryptable));
            }
        }
        // After rotation the new key encrypts: the old cipher alone cannot open it.
        let rotated = cipher(&[K2, K1]);
        let sealed_new = rotated.seal("sess", b"payload").expect("seal");
        assert_eq!(
            old.open("sess", &sealed_new),
            Err(CookieError::Undecryptable)
        );
        assert_eq!(
            cipher(&[K2]).open("sess", &sealed_new),
            Ok(b"payload".to_vec())
        );
    }

    #[test]
    fn name_is_bound_as_associated_data() {
        let c = cipher(&[K1]);
        let sealed = c.seal("__Host-octogate", b"payload").expect("seal");
        for other in [
            "__Host-octogate_login_abc",
            "octogate",
            "__host-octogate",
            "",
            "__Host-octogate ",
        ] {
            assert_eq!(
                c.open(other, &sealed),
                Err(CookieError::Undecryptable),
                "{other:?}"
            );
        }
        assert!(c.open("__Host-octogate", &sealed).is_ok());
    }

    #[test]
    fn site_is_bound_as_associated_data() {
        let c = cipher(&[K1]);
        let sealed = c.seal("octogate", b"payload").expect("seal");
        for other in [
            cookie_site(
                "https://site2.example.com",
                "https://idp.example.com",
                "client1",
            ),
            cookie_site(
                "https://site1.example.com",
                "https://staging-idp.example.com",
                "client1",
            ),
            cookie_site(
                "https://site1.example.com",
                "https://idp.example.com",
                "client2",
            ),
            cookie_site(
                "http://site1.example.com",
                "https://idp.example.com",
                "client1",
            ),
        ] {
            let same_key = CookieCipher::new(&[K1], &other).expect("cipher");
            assert_eq!(
                same_key.open("octogate", &sealed),
                Err(CookieError::Undecryptable),
                "{other:?}"
            );
        }
        assert!(c.open("octogate", &sealed).is_ok());
        // A name too long for the stack buffer is bound just the same.
        let long = "n".repeat(STACK_NAME_LEN + 1);
        let sealed = c.seal(&long, b"payload").expect("seal");
        assert!(c.open(&long, &sealed).is_ok());
        assert_eq!(c.open(&long[1..], &sealed), Err(CookieError::Undecryptable));
    }

    #[test]
    fn error_messages_do_not_leak_value() {
        let c = cipher(&[K1]);
        let v = "SECRETVALUESECRETVALUESECRETVALUESECRETVALUESECRET";
        let e = c.open("sess", v).expect_err("must fail");
        assert!(!e.to_string().contains("SECRET"));
        assert!(!format!("{e:?}").contains("SECRET"));
        assert!(!format!("{c:?}").contains("1, 1"));
    }
}
