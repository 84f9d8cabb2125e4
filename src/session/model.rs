//! What the session and sign-in cookies carry, and when a session is still good.
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::CookieError;
use crate::identity::{Grant, Identity};

/// Current [`SessionData`] format version.
pub const SESSION_VERSION: u8 = 1;
/// Current [`LoginState`] format version.
pub const LOGIN_STATE_VERSION: u8 = 1;
/// How far in the future `issued_at` / `created_at` may lie (clock steps) before it is refused.
const FUTURE_SKEW_SECS: u64 = 60;
/// Largest serialized payload [`SessionData::decode`] / [`LoginState::decode`] parse.
const MAX_PAYLOAD: usize = 64 * 1024;

/// `bytes` random bytes from the operating system, base64url without padding (for state, nonce,
/// session ids and PKCE verifiers).
///
/// # Panics
/// Only if the operating system's random number generator fails, which nothing can recover from.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Session timing, from `[session]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    /// Absolute lifetime, counted from `issued_at`.
    pub lifetime: Duration,
    /// Idle timeout, counted from `last_seen`.
    pub idle_timeout: Duration,
    /// How often tokens are refreshed at the provider, counted from `last_refresh`.
    pub refresh_interval: Duration,
    /// How long past a due refresh the session survives while the provider is unreachable.
    pub refresh_grace: Duration,
}

/// Why a session is no longer valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiredReason {
    /// The absolute lifetime is over.
    Absolute,
    /// No request within the idle timeout.
    Idle,
    /// Issued more than a minute in the future (clock trouble or a forged value).
    FutureIssued,
}

impl ExpiredReason {
    /// Stable code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::Absolute => "absolute_lifetime",
            Self::Idle => "idle_timeout",
            Self::FutureIssued => "issued_in_future",
        }
    }
}

/// Result of [`SessionData::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Good to use as is.
    Valid,
    /// Good, but tokens should be refreshed at the provider now.
    NeedsRefresh,
    /// Over: sign in again.
    Expired(ExpiredReason),
}

/// Compact serde form of [`Identity`] (short keys, empty fields left out).
mod compact_identity {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct C {
        s: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        e: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        ev: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        n: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        u: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        g: Vec<String>,
    }

    pub fn serialize<S: serde::Serializer>(i: &Identity, s: S) -> Result<S::Ok, S::Error> {
        C {
            s: i.sub.clone(),
            e: i.email.clone(),
            ev: i.email_verified,
            n: i.name.clone(),
            u: i.preferred_username.clone(),
            g: i.groups.clone(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Identity, D::Error> {
        let c = C::deserialize(d)?;
        Ok(Identity {
            sub: c.s,
            email: c.e,
            email_verified: c.ev,
            name: c.n,
            preferred_username: c.u,
            groups: c.g,
        })
    }
}

/// Compact serde form of `Option<Grant>`.
mod compact_grant {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct C {
        r: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        su: bool,
    }

    pub fn serialize<S: serde::Serializer>(g: &Option<Grant>, s: S) -> Result<S::Ok, S::Error> {
        g.as_ref()
            .map(|g| C {
                r: g.role.clone(),
                su: g.superuser,
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Grant>, D::Error> {
        Ok(Option::<C>::deserialize(d)?.map(|c| Grant {
            role: c.r,
            superuser: c.su,
        }))
    }
}

/// What the session cookie carries (serialized as compact JSON, then sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionData {
    /// Format version ([`SESSION_VERSION`]); other versions decode as no session.
    pub v: u8,
    /// Random 128-bit session id (base64url), stable for the session's life.
    pub sid: String,
    /// The signed-in user, groups reduced to those that matter to this site.
    #[serde(rename = "id", with = "compact_identity")]
    pub identity: Identity,
    /// The last access decision.
    #[serde(
        rename = "gr",
        default,
        skip_serializing_if = "Option::is_none",
        with = "compact_grant"
    )]
    pub grant: Option<Grant>,
    /// When the user signed in (unix seconds).
    #[serde(rename = "ia")]
    pub issued_at: u64,
    /// Last request seen (unix seconds).
    #[serde(rename = "ls")]
    pub last_seen: u64,
    /// Last successful token refresh (or sign-in), unix seconds.
    #[serde(rename = "lr")]
    pub last_refresh: u64,
    /// The provider's refresh token, if one was issued.
    #[serde(rename = "rt", default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token, sent as `id_token_hint` at sign-out.
    #[serde(rename = "it", default, skip_serializing_if = "Option::is_none")]
    pub id_token_hint: Option<String>,
}

impl SessionData {
    /// A new session signed in at `now`, with a fresh random session id.
    pub fn new(
        identity: Identity,
        grant: Option<Grant>,
        now: u64,
        refresh_token: Option<String>,
        id_token_hint: Option<String>,
    ) -> Self {
        Self {
            v: SESSION_VERSION,
            sid: random_token(16),
            identity,
            grant,
            issued_at: now,
            last_seen: now,
            last_refresh: now,
            refresh_token,
            id_token_hint,
        }
    }

    /// Whether the session is still good at `now`.
    ///
    /// In order: `issued_at` more than 60 s in the future → [`ExpiredReason::FutureIssued`];
    /// `now ≥ issued_at + lifetime` → [`ExpiredReason::Absolute`]; `now ≥ last_seen + idle_timeout`
    /// → [`ExpiredReason::Idle`]; `now ≥ last_refresh + refresh_interval` →
    /// [`SessionCheck::NeedsRefresh`]; otherwise [`SessionCheck::Valid`].
    pub fn check(&self, now: u64, cfg: &SessionTimes) -> SessionCheck {
        if self.issued_at > now.saturating_add(FUTURE_SKEW_SECS) {
            return SessionCheck::Expired(ExpiredReason::FutureIssued);
        }
        if now >= self.issued_at.saturating_add(cfg.lifetime.as_secs()) {
            return SessionCheck::Expired(ExpiredReason::Absolute);
        }
        if now >= self.last_seen.saturating_add(cfg.idle_timeout.as_secs()) {
            return SessionCheck::Expired(ExpiredReason::Idle);
        }
        if now
            >= self
                .last_refresh
                .saturating_add(cfg.refresh_interval.as_secs())
        {
            return SessionCheck::NeedsRefresh;
        }
        SessionCheck::Valid
    }

    /// How long the session stays usable without being looked at again: until the first of its
    /// absolute expiry, its idle expiry and its next refresh (past a due refresh, the end of the
    /// grace period). At least one second. What a long-lived connection opened with this
    /// session (a WebSocket tunnel) may last: sign-out, removal from a group or deactivation
    /// then reach it no later than they reach the next request.
    pub fn valid_for(&self, now: u64, times: &SessionTimes) -> std::time::Duration {
        let refresh_due = self
            .last_refresh
            .saturating_add(times.refresh_interval.as_secs());
        let refresh_by = if now >= refresh_due {
            refresh_due.saturating_add(times.refresh_grace.as_secs())
        } else {
            refresh_due
        };
        let until = self
            .issued_at
            .saturating_add(times.lifetime.as_secs())
            .min(self.last_seen.saturating_add(times.idle_timeout.as_secs()))
            .min(refresh_by);
        std::time::Duration::from_secs(until.saturating_sub(now).max(1))
    }

    /// Whether the refresh is overdue beyond the grace period
    /// (`now > last_refresh + refresh_interval + refresh_grace`): when the provider cannot be
    /// reached, the session must then fail closed.
    pub fn refresh_overdue(&self, now: u64, times: &SessionTimes) -> bool {
        now > self
            .last_refresh
            .saturating_add(times.refresh_interval.as_secs())
            .saturating_add(times.refresh_grace.as_secs())
    }

    /// Serializes to compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain strings, integers and booleans into memory cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses what [`encode`](Self::encode) produced. Unknown versions and anything unparsable are
    /// [`CookieError::Malformed`]; oversized input is [`CookieError::TooLarge`].
    pub fn decode(bytes: &[u8]) -> Result<SessionData, CookieError> {
        if bytes.len() > MAX_PAYLOAD {
            return Err(CookieError::TooLarge);
        }
        let d: SessionData = serde_json::from_slice(bytes).map_err(|_| CookieError::Malformed)?;
        if d.v != SESSION_VERSION {
            return Err(CookieError::Malformed);
        }
        Ok(d)
    }
}

/// What a sign-in cookie carries between the redirect to the provider and the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// Format version ([`LOGIN_STATE_VERSION`]).
    pub v: u8,
    /// The `state` parameter sent to the provider.
    #[serde(rename = "s")]
    pub state: String,
    /// The `nonce` expected in the ID token.
    #[serde(rename = "n")]
    pub nonce: String,
    /// The PKCE code verifier.
    #[serde(rename = "p")]
    pub pkce_verifier: String,
    /// Where to go after sign-in: a local path already checked by
    /// [`safe_redirect_path`](crate::access::safe_redirect_path).
    pub rd: String,
    /// When the sign-in started (unix seconds).
    #[serde(rename = "c")]
    pub created_at: u64,
}

impl LoginState {
    /// A new sign-in at `now` with fresh random state (32 bytes), nonce (32 bytes) and PKCE
    /// verifier (32 bytes → 43 characters, RFC 7636) and the given, already validated, `rd`.
    pub fn new(rd: String, now: u64) -> Self {
        Self {
            v: LOGIN_STATE_VERSION,
            state: random_token(32),
            nonce: random_token(32),
            pkce_verifier: random_token(32),
            rd,
            created_at: now,
        }
    }

    /// Whether the sign-in is over: `now ≥ created_at + login_timeout`, or created more than 60 s
    /// in the future.
    pub fn expired(&self, now: u64, login_timeout: Duration) -> bool {
        self.created_at > now.saturating_add(FUTURE_SKEW_SECS)
            || now >= self.created_at.saturating_add(login_timeout.as_secs())
    }

    /// Serializes to compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain strings and integers into memory cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses what [`encode`](Self::encode) produced; unknown versions are
    /// [`CookieError::Malformed`].
    pub fn decode(bytes: &[u8]) -> Result<LoginState, CookieError> {
        if bytes.len() > MAX_PAYLOAD {
            return Err(CookieError::TooLarge);
        }
        let d: LoginState = serde_json::from_slice(bytes).map_err(|_| CookieError::Malformed)?;
        if d.v != LOGIN_STATE_VERSION {
            return Err(CookieError::Malformed);
        }
        Ok(d)
    }
}

/// Name of the sign-in cookie for `state`: `{session_cookie}_login_{first 16 chars of state}`, so
/// several tabs can sign in at once. `None` unless `state` is at least 22 base64url characters
/// (and at most 512).
pub fn login_cookie_name(session_cookie: &str, state: &str) -> Option<String> {
    let ok = (22..=512).contains(&state.len())
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return None;
    }
    let prefix = state.get(..16)?;
    Some(format!("{session_cookie}_login_{prefix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn times() -> SessionTimes {
        SessionTimes {
            lifetime: Duration::from_secs(12 * H),
            idle_timeout: Duration::from_secs(2 * H),
            refresh_interval: Duration::from_secs(600),
            refresh_grace: Duration::from_secs(300),
        }
    }

    fn identity() -> Identity {
        Identity {
            sub: "00u1abcd".into(),
            email: Some("jane@company.com".into()),
            email_verified: true,
            name: Some("Jane Doe".into()),
            preferred_username: Some("jane@company.com".into()),
            groups: vec!["cms-admins".into(), "cms-editors".into()],
        }
    }

    fn session(issued: u64, seen: u64, refreshed: u64) -> SessionData {
        SessionData {
            v: SESSION_VERSION,
            sid: "sid".into(),
            identity: identity(),
            grant: None,
            issued_at: issued,
            last_seen: seen,
            last_refresh: refreshed,
            refresh_token: None,
            id_token_hint: None,
        }
    }

    #[test]
    fn random_tokens() {
        for (bytes, len) in [(16usize, 22usize), (32, 43), (0, 0), (1, 2)] {
            let t = random_token(bytes);
            assert_eq!(t.len(), len, "{bytes}");
            assert!(t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        assert_ne!(random_token(16), random_token(16));
    }

    #[test]
    fn valid_for_is_the_first_of_every_deadline() {
        let t0 = 1_700_000_000u64;
        let secs = |d: Duration| d.as_secs();
        // The refresh (10 min) comes first.
        assert_eq!(secs(session(t0, t0, t0).valid_for(t0, &times())), 600);
        assert_eq!(secs(session(t0, t0, t0).valid_for(t0 + 599, &times())), 1);
        // Past a due refresh (the IdP unreachable): the end of the grace period.
        assert_eq!(secs(session(t0, t0, t0).valid_for(t0 + 700, &times())), 200);
        // Idle expiry first.
        let idle = session(t0, t0, t0 + 2 * H - 60);
        assert_eq!(secs(idle.valid_for(t0 + 2 * H - 60, &times())), 60);
        // Absolute expiry first.
        let old = session(t0, t0 + 12 * H - 30, t0 + 12 * H - 30);
        assert_eq!(secs(old.valid_for(t0 + 12 * H - 30, &times())), 30);
        // Never zero, even when already past.
        assert_eq!(
            secs(session(t0, t0, t0).valid_for(t0 + 13 * H, &times())),
            1
        );
    }

    #[test]
    fn check_every_case() {
        let t0 = 1_700_000_000u64;
        let cases: &[(&str, SessionData, u64, SessionCheck)] = &[
            ("fresh", session(t0, t0, t0), t0, SessionCheck::Valid),
            (
                "just before refresh",
                session(t0, t0 + 500, t0),
                t0 + 599,
                SessionCheck::Valid,
            ),
            (
                "refresh due exactly",
                session(t0, t0 + 500, t0),
                t0 + 600,
                SessionCheck::NeedsRefresh,
            ),
            (
                "refresh due later",
                session(t0, t0 + 3000, t0),
                t0 + 3600,
                SessionCheck::NeedsRefresh,
            ),
            (
                "idle just before",
                session(t0, t0 + 10, t0 + 10),
                t0 + 10 + 2 * H - 1,
                SessionCheck::NeedsRefresh,
            ),
            (
                "idle exactly",
                session(t0, t0 + 10, t0 + 10),
                t0 + 10 + 2 * H,
                SessionCheck::Expired(ExpiredReason::Idle),
            ),
            (
                "absolute just before",
                session(t0, t0 + 12 * H - 5, t0 + 12 * H - 5),
                t0 + 12 * H - 1,
                SessionCheck::Valid,
            ),
            (
                "absolute exactly",
                session(t0, t0 + 12 * H - 5, t0 + 12 * H - 5),
                t0 + 12 * H,
                SessionCheck::Expired(ExpiredReason::Absolute),
            ),
            (
                "absolute wins over idle",
                session(t0, t0, t0),
                t0 + 13 * H,
                SessionCheck::Expired(ExpiredReason::Absolute),
            ),
            (
                "issued 60s ahead ok",
                session(t0 + 60, t0 + 60, t0 + 60),
                t0,
                SessionCheck::Valid,
            ),
            (
                "issued 61s ahead",
                session(t0 + 61, t0 + 61, t0 + 61),
                t0,
                SessionCheck::Expired(ExpiredReason::FutureIssued),
            ),
            (
                "issued far future",
                session(u64::MAX, u64::MAX, u64::MAX),
                t0,
                SessionCheck::Expired(ExpiredReason::FutureIssued),
            ),
            (
                "saturates closed at u64::MAX",
                session(u64::MAX - 10, u64::MAX - 10, u64::MAX - 10),
                u64::MAX,
                SessionCheck::Expired(ExpiredReason::Absolute),
            ),
            ("zero times", session(0, 0, 0), 0, SessionCheck::Valid),
        ];
        for (label, s, now, want) in cases {
            assert_eq!(s.check(*now, &times()), *want, "{label}");
        }
    }

    #[test]
    fn refresh_overdue_cases() {
        let t0 = 1_000_000u64;
        let s = session(t0, t0, t0);
        for (now, want) in [
            (t0, false),
            (t0 + 600, false),
            (t0 + 900, false),
            (t0 + 901, true),
            (u64::MAX, true),
        ] {
            assert_eq!(s.refresh_overdue(now, &times()), want, "now {now}");
        }
        assert!(!session(u64::MAX, u64::MAX, u64::MAX).refresh_overdue(u64::MAX, &times()));
    }

    #[test]
    fn session_round_trip_and_compact() {
        let mut s = SessionData::new(
            identity(),
            Some(Grant {
                role: "developer".into(),
                superuser: true,
            }),
            42,
            Some("rt".into()),
            Some("idt".into()),
        );
        assert_eq!(s.sid.len(), 22);
        let bytes = s.encode();
        assert_eq!(SessionData::decode(&bytes), Ok(s.clone()));
        let text = String::from_utf8(bytes).expect("utf8");
        for long in [
            "identity",
            "email_verified",
            "preferred_username",
            "issued_at",
            "refresh_token",
            "superuser",
        ] {
            assert!(!text.contains(long), "{long} in {text}");
        }
        s.grant = None;
        s.refresh_token = None;
        s.identity.email = None;
        s.identity.groups.clear();
        assert_eq!(SessionData::decode(&s.encode()), Ok(s));
    }

    #[test]
    fn session_decode_rejections() {
        let good = String::from_utf8(session(1, 1, 1).encode()).expect("utf8");
        let cases: Vec<(Vec<u8>, CookieError)> = vec![
            (good.replacen("\"v\":1", "\"v\":2", 1).into_bytes(), CookieError::Malformed),
            (good.replacen("\"v\":1", "\"v\":0", 1).into_bytes(), CookieError::Malformed),
            (good.replacen("\"v\":1,", "", 1).into_bytes(), CookieError::Malformed),
            (b"".to_vec(), CookieError::Malformed),
            (b"null".to_vec(), CookieError::Malformed),
            (b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec(), CookieError::Malformed),
            (vec![b' '; MAX_PAYLOAD + 1], CookieError::TooLarge),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                SessionData::decode(&bytes),
                Err(want),
                "{:.60}",
                String::from_utf8_lossy(&bytes)
            );
        }
        assert!(SessionData::decode(good.as_bytes()).is_ok());
    }

    #[test]
    fn login_state_round_trip_and_expiry() {
        let l = LoginState::new("/backend/cms".into(), 1000);
        assert_eq!(l.state.len(), 43);
        assert_ne!(l.state, l.nonce);
        assert_eq!(LoginState::decode(&l.encode()), Ok(l.clone()));
        let bad = String::from_utf8(l.encode())
            .expect("utf8")
            .replacen("\"v\":1", "\"v\":9", 1);
        assert_eq!(
            LoginState::decode(bad.as_bytes()),
            Err(CookieError::Malformed)
        );
        let timeout = Duration::from_secs(600);
        for (now, want) in [
            (1000u64, false),
            (1599, false),
            (1600, true),
            (939, true),
            (940, false),
            (0, true),
            (u64::MAX, true),
        ] {
            assert_eq!(l.expired(now, timeout), want, "now {now}");
        }
    }

    #[test]
    fn login_cookie_names() {
        let s22 = "abcdefghijklmnopqrstuv";
        let long = "a".repeat(513);
        let cases: &[(&str, Option<&str>)] = &[
            (s22, Some("__Host-og_login_abcdefghijklmnop")),
            (
                "ABCDEFGHIJKLMNOP-_qrstuvwxyz0123456789",
                Some("__Host-og_login_ABCDEFGHIJKLMNOP"),
            ),
            ("abcdefghijklmnopqrstu", None),
            ("", None),
            ("abcdefghijklmnopqrst;v", None),
            ("abcdefghijklmnopqrst=v", None),
            ("abcdefghijklmnopqrst+/", None),
            ("abcdéfghijklmnopqrstuvw", None),
            ("abcdefghijklmnopqrstu v", None),
            (&long, None),
        ];
        for (state, want) in cases {
            assert_eq!(
                login_cookie_name("__Host-og", state).as_deref(),
                *want,
                "{state:?}"
            );
        }
    }
}
