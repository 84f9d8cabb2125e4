//! Session and sign-in cookies.
//!
//! * [`CookieCipher`] seals values with AES-256-GCM (the cookie name is bound as associated data)
//!   and opens them with any configured key, so keys can be rotated.
//! * The chunking functions ([`set_cookie_headers`], [`read`], …) split a sealed value over several cookies when it would not fit in one
//!   (`name_0`, `name_1`, …), builds the `Set-Cookie` headers and joins the chunks of a request.
//! * [`SessionData`] is what the session cookie carries; [`LoginState`] is what a sign-in cookie
//!   carries between the redirect to the provider and the callback.
//!
//! Everything here parses attacker-controlled input: sizes are bounded before any work and no
//! function panics on any input.
mod chunks;
mod cipher;
mod model;
mod opened;

pub use chunks::{
    clear_cookie_headers, in_family, names_with_prefix, read, set_cookie_headers,
    stray_chunk_names, CookieAttrs, MAX_CHUNKS, MAX_COOKIE_BYTES, SINGLE_COOKIE_LIMIT,
};
pub use cipher::{cookie_site, CookieCipher, MAX_SEALED_LEN};
pub use model::{
    login_cookie_name, random_token, ExpiredReason, LoginState, SessionCheck, SessionData,
    SessionTimes, LOGIN_STATE_VERSION, SESSION_VERSION,
};
pub use opened::OpenedSessions;

/// Why a cookie could not be read or written. Messages never include the cookie value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// The cookie is not in the expected shape (bad encoding, unknown version, duplicate or
    /// missing chunks, unparsable payload).
    #[error("malformed cookie")]
    Malformed,
    /// The cookie (or the value to be written) exceeds the size limits.
    #[error("cookie too large")]
    TooLarge,
    /// No configured key authenticates the cookie (tampered, truncated, wrong key or wrong name).
    #[error("cookie could not be decrypted")]
    Undecryptable,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Grant, Identity};

    fn cookie_header(set: &[String]) -> http::HeaderValue {
        let pairs: Vec<&str> = set
            .iter()
            .filter(|s| !s.contains("Max-Age=0"))
            .filter_map(|s| s.split(';').next())
            .collect();
        http::HeaderValue::from_str(&pairs.join("; ")).expect("header")
    }

    /// Session → seal → Set-Cookie → Cookie → read → open → decode, small and chunked.
    #[test]
    fn full_cookie_round_trip() {
        let cipher = CookieCipher::new(&[[7; 32]], "site").expect("key");
        let attrs = CookieAttrs {
            secure: true,
            max_age: None,
        };
        let name = "__Host-octogate";
        for (groups, refresh_len, chunks) in [(2usize, 10usize, 0usize), (150, 6000, 3)] {
            let identity = Identity {
                sub: "00u1".into(),
                email: Some("jane@company.com".into()),
                email_verified: true,
                name: None,
                preferred_username: None,
                groups: (0..groups).map(|i| format!("group-{i:03}")).collect(),
            };
            let s = SessionData::new(
                identity,
                Some(Grant {
                    role: "publisher".into(),
                    superuser: false,
                }),
                100,
                Some("r".repeat(refresh_len)),
                None,
            );
            let sealed = cipher.seal(name, &s.encode()).expect("seal");
            let set = set_cookie_headers(name, &sealed, &attrs, 0).expect("set");
            let h = cookie_header(&set);
            let (value, n) = read([&h].into_iter(), name)
                .expect("read")
                .expect("present");
            assert_eq!(n, chunks, "groups {groups}");
            let opened = cipher.open(name, &value).expect("open");
            assert_eq!(SessionData::decode(&opened), Ok(s));
        }
    }

    #[test]
    fn login_cookie_round_trip_is_name_bound() {
        let cipher = CookieCipher::new(&[[9; 32]], "site").expect("key");
        let a = LoginState::new("/backend".into(), 5);
        let b = LoginState::new("/backend/cms".into(), 5);
        let na = login_cookie_name("og", &a.state).expect("name a");
        let nb = login_cookie_name("og", &b.state).expect("name b");
        assert_ne!(na, nb);
        let sealed_a = cipher.seal(&na, &a.encode()).expect("seal");
        assert_eq!(
            cipher.open(&na, &sealed_a).map(|p| LoginState::decode(&p)),
            Ok(Ok(a))
        );
        // A sign-in cookie replayed under another tab's name does not open.
        assert_eq!(cipher.open(&nb, &sealed_a), Err(CookieError::Undecryptable));
        // Nor as the session cookie.
        assert_eq!(
            cipher.open("og", &sealed_a),
            Err(CookieError::Undecryptable)
        );
    }
}
