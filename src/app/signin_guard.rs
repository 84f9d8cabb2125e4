//! Limits on the one request that makes octogate call the OpenID Provider on a visitor's behalf:
//! the authorization-code callback. Each pending sign-in (its `state`) is redeemed at most once,
//! and each client address may redeem a burst of [`BURST`], refilled at one per
//! [`REFILL_SECS`] seconds. Without them a replayed login cookie, or a script that fetches fresh
//! ones from `/oauth2/start`, turns octogate into a driver of token-endpoint calls, which count
//! against the IdP's rate limits for every site and user of the organisation.
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

/// Callbacks a client address may make at once.
pub(crate) const BURST: u32 = 30;
/// Seconds per callback regained.
pub(crate) const REFILL_SECS: u64 = 2;
/// Most redeemed states remembered (when full, expired ones go; then all).
const MAX_USED: usize = 20_000;
/// Most client addresses tracked (when full, those back to a full burst go; then all).
const MAX_CLIENTS: usize = 10_000;

/// Whether a callback may go on to the IdP.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go on (the state is now redeemed).
    Admitted,
    /// This state was redeemed before.
    Replayed,
    /// Too many callbacks from this client address; nothing recorded.
    RateLimited,
}

#[derive(Default)]
struct Inner {
    /// Keyed hash of a redeemed state → when it stops mattering (its sign-in expired).
    used: HashMap<u64, u64>,
    /// Client address → (callbacks left, time of the last refill).
    clients: HashMap<IpAddr, (u32, u64)>,
}

/// The callback limits, shared by all requests.
#[derive(Default)]
pub(crate) struct SigninGuard {
    hasher: RandomState,
    inner: Mutex<Inner>,
}

impl SigninGuard {
    /// Decides a callback for `state` from `client` at `now`; `expires` is when the sign-in
    /// itself expires (after that the state is refused anyway, so it need not be remembered).
    pub(crate) fn admit(&self, state: &str, client: IpAddr, now: u64, expires: u64) -> Admission {
        let key = self.hasher.hash_one(state);
        let mut inner = self.lock();
        if inner.used.contains_key(&key) {
            return Admission::Replayed;
        }
        if inner.clients.len() >= MAX_CLIENTS && !inner.clients.contains_key(&client) {
            inner.clients.retain(|_, b| refill(*b, now).0 < BURST);
            if inner.clients.len() >= MAX_CLIENTS {
                inner.clients.clear();
            }
        }
        let bucket = inner.clients.entry(client).or_insert((BURST, now));
        let (left, since) = refill(*bucket, now);
        if left == 0 {
            *bucket = (0, since);
            return Admission::RateLimited;
        }
        *bucket = (left - 1, since);
        if inner.used.len() >= MAX_USED {
            inner.used.retain(|_, until| *until > now);
            if inner.used.len() >= MAX_USED {
                inner.used.clear();
            }
        }
        inner.used.insert(key, expires.max(now));
        Admission::Admitted
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A bucket `(left, since)` topped up for the time passed until `now`.
fn refill((left, since): (u32, u64), now: u64) -> (u32, u64) {
    let periods = now.saturating_sub(since) / REFILL_SECS;
    if periods == 0 {
        return (left, since);
    }
    let gained = u32::try_from(periods).unwrap_or(u32::MAX);
    (
        left.saturating_add(gained).min(BURST),
        since + periods * REFILL_SECS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_state_is_redeemed_once() {
        let g = SigninGuard::default();
        assert_eq!(g.admit("s1", IP, 100, 700), Admission::Admitted);
        assert_eq!(g.admit("s1", IP, 101, 700), Admission::Replayed);
        assert_eq!(g.admit("s1", OTHER, 101, 700), Admission::Replayed);
        assert_eq!(g.admit("s2", IP, 101, 700), Admission::Admitted);
    }

    #[test]
    fn each_address_gets_a_burst_then_one_per_refill() {
        let g = SigninGuard::default();
        for i in 0..BURST {
            assert_eq!(g.admit(&format!("a{i}"), IP, 100, 700), Admission::Admitted);
        }
        assert_eq!(g.admit("x", IP, 100, 700), Admission::RateLimited);
        // Refused callbacks do not redeem their state: it works once the address may again.
        assert_eq!(
            g.admit("x", IP, 100 + REFILL_SECS - 1, 700),
            Admission::RateLimited
        );
        assert_eq!(
            g.admit("other-client", OTHER, 100, 700),
            Admission::Admitted
        );
        assert_eq!(
            g.admit("x", IP, 100 + REFILL_SECS, 700),
            Admission::Admitted
        );
        assert_eq!(
            g.admit("y", IP, 100 + REFILL_SECS, 700),
            Admission::RateLimited
        );
        // A long pause restores the burst, not more.
        let later = 100 + 1_000_000;
        for i in 0..BURST {
            assert_eq!(
                g.admit(&format!("b{i}"), IP, later, later + 600),
                Admission::Admitted
            );
        }
        assert_eq!(g.admit("z", IP, later, later + 600), Admission::RateLimited);
    }

    #[test]
    fn memory_is_bounded() {
        let g = SigninGuard::default();
        for i in 0..(MAX_USED as u64 + 10) {
            let ip = IpAddr::V6(std::net::Ipv6Addr::from(u128::from(i)));
            assert_eq!(
                g.admit(&format!("s{i}"), ip, 1000 + i, 1000 + i + 1),
                Admission::Admitted
            );
        }
        let inner = g.lock();
        assert!(inner.used.len() <= MAX_USED);
        assert!(inner.clients.len() <= MAX_CLIENTS);
    }
}
