//! Per-session reuse of signed assertions, kept as the ready-made headers a forwarded request
//! carries (so a signed-in request copies no token and builds no header values).
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use http::{HeaderName, HeaderValue};

use super::Signer;
use crate::identity::{Grant, Identity};

/// The header that carries the signed assertion upstream.
pub const ASSERTION_HEADER: HeaderName = HeaderName::from_static("x-octogate-assertion");

/// The identity headers of one session's forwarded requests: [`ASSERTION_HEADER`] first, then
/// the plain headers the caller added. Built once per signed token and shared by reference;
/// cloning a value only bumps a reference count.
pub type IdentityHeaders = Arc<[(HeaderName, HeaderValue)]>;

/// A bounded cache of signed assertions keyed by session id plus a 64-bit fingerprint of
/// everything the token says (identity, grant, signer), so a changed group or role, or a new
/// signing key, never reuses a stale token.
///
/// A token is reused while more than half of its lifetime is left. Signing happens outside the
/// lock; the lock only guards short map operations. When full, entries past their half-life are
/// dropped; if that frees less than an eighth of the room, the cache is cleared (amortised O(1)).
#[derive(Debug)]
pub struct AssertionCache {
    capacity: usize,
    hasher: RandomState,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    fingerprint: u64,
    headers: IdentityHeaders,
    iat: u64,
    exp: u64,
}

impl Entry {
    /// Issued no later than `now`, not expired, and more than half of its lifetime left.
    fn reusable(&self, now: u64) -> bool {
        self.iat <= now
            && self.exp > now
            && (self.exp - now).saturating_mul(2) > self.exp - self.iat
    }
}

impl AssertionCache {
    /// A cache holding at most `capacity` sessions' tokens (at least one).
    pub fn new(capacity: usize) -> AssertionCache {
        AssertionCache {
            capacity: capacity.max(1),
            hasher: RandomState::new(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached headers for this session and exactly this identity and grant if their token
    /// still has more than half of its lifetime left at `now`; otherwise freshly signed ones
    /// (then cached), with the plain headers `plain` appends after the assertion.
    pub fn headers(
        &self,
        signer: &Signer,
        identity: &Identity,
        grant: &Grant,
        sid: &str,
        now: u64,
        plain: impl FnOnce(&mut Vec<(HeaderName, HeaderValue)>),
    ) -> IdentityHeaders {
        let fingerprint = self.fingerprint(signer, identity, grant);
        if let Some(entry) = self.lock().get(sid) {
            if entry.fingerprint == fingerprint && entry.reusable(now) {
                return entry.headers.clone();
            }
        }
        let signed = signer.sign(identity, grant, sid, now);
        let mut headers = Vec::with_capacity(6);
        // A compact JWS is base64url and dots: always a valid header value. Should that ever
        // fail, the request goes without an assertion and the shim refuses it (fail closed).
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(signed.token)) {
            headers.push((ASSERTION_HEADER, v));
        }
        plain(&mut headers);
        let headers: IdentityHeaders = headers.into();
        let entry = Entry {
            fingerprint,
            headers: headers.clone(),
            iat: now,
            exp: signed.exp,
        };
        let mut entries = self.lock();
        if let Some(slot) = entries.get_mut(sid) {
            *slot = entry;
        } else {
            if entries.len() >= self.capacity {
                entries.retain(|_, e| e.reusable(now));
                if entries.len() >= self.capacity - self.capacity / 8 {
                    entries.clear();
                }
            }
            entries.insert(sid.to_owned(), entry);
        }
        headers
    }

    /// The assertion alone (see [`AssertionCache::headers`]).
    #[cfg(test)]
    pub fn get_or_sign(
        &self,
        signer: &Signer,
        identity: &Identity,
        grant: &Grant,
        sid: &str,
        now: u64,
    ) -> String {
        let h = self.headers(signer, identity, grant, sid, now, |_| {});
        h.first()
            .and_then(|(_, v)| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every cached token (e.g. after a key change).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Nothing panics while the lock is held, but never propagate poisoning anyway.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keyed SipHash of every input of the token except `sid` (the map key), time and `jti`.
    fn fingerprint(&self, signer: &Signer, identity: &Identity, grant: &Grant) -> u64 {
        let mut h = self.hasher.build_hasher();
        signer.kid().hash(&mut h);
        signer.issuer().hash(&mut h);
        signer.audience().hash(&mut h);
        signer.lifetime_secs().hash(&mut h);
        identity.sub.hash(&mut h);
        identity.email.hash(&mut h);
        identity.email_verified.hash(&mut h);
        identity.name.hash(&mut h);
        identity.preferred_username.hash(&mut h);
        identity.groups.hash(&mut h);
        grant.role.hash(&mut h);
        grant.superuser.hash(&mut h);
        h.finish()
    }
}
