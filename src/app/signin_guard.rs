//! Limits on the one request that makes octogate call the OpenID Provider on a visitor's behalf:
//! the authorization-code callback. Each pending sign-in (its `state`) is redeemed at most once,
//! and each client address may redeem a burst of [`BURST`], refilled at one per
//! [`REFILL_SECS`] seconds. Without them a replayed login cookie, or a script that fetches fresh
//! ones from `/oauth2/start`, turns octogate into a driver of token-endpoint calls, which count
//! against the IdP's rate limits for every site and user of the organisation.
//!
//! All clients together share a budget too ([`GLOBAL_BURST`], then [`GLOBAL_PER_SEC`] a second):
//! many networks (an IPv6 /48 holds 65,536 /64s) must not add up to a flood either. When the
//! tables are full, callbacks are refused rather than anything remembered being forgotten.
//!
//! An IPv6 client is counted by its /64 (one subscriber's network), so rotating addresses within
//! it buys nothing. The buckets run on a monotonic clock (a wall-clock step back must not freeze
//! them). Behind a load balancer, `server.trusted_proxies` must list it, or every client shares
//! the balancer's budget.
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// Callbacks a client address may make at once.
pub(crate) const BURST: u32 = 30;
/// Seconds per callback regained.
pub(crate) const REFILL_SECS: u64 = 2;
/// Callbacks all clients together may make at once.
pub(crate) const GLOBAL_BURST: u32 = 120;
/// Callbacks all clients together regain per second (far above any site's sign-ins, far below
/// an IdP organisation's token-endpoint limit).
pub(crate) const GLOBAL_PER_SEC: u32 = 10;
/// Most redeemed states remembered (when full, expired ones go; if none has, callbacks are
/// refused until some expire: a state is never forgotten while it could be replayed).
const MAX_USED: usize = 20_000;
/// Most client addresses tracked (when full, those back to a full burst go; if none is, new
/// addresses are refused until some are).
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
    /// Too many callbacks from all clients together (or the tables are full); nothing recorded.
    Overloaded,
}

#[derive(Default)]
struct Inner {
    /// Keyed hash of a redeemed state → when it stops mattering (its sign-in expired).
    used: HashMap<u64, u64>,
    /// Client address → (callbacks left, time of the last refill).
    clients: HashMap<IpAddr, (u32, u64)>,
    /// All clients' budget: (callbacks left, time of the last refill); `None` until first used.
    global: Option<(u32, u64)>,
}

/// The callback limits, shared by all requests.
pub(crate) struct SigninGuard {
    hasher: RandomState,
    inner: Mutex<Inner>,
    /// Origin of the buckets' monotonic clock.
    started: Instant,
}

impl Default for SigninGuard {
    fn default() -> Self {
        SigninGuard {
            hasher: RandomState::new(),
            inner: Mutex::new(Inner::default()),
            started: Instant::now(),
        }
    }
}

impl SigninGuard {
    /// Decides a callback for `state` from `client` at `now` (Unix seconds); `expires` is when
    /// the sign-in itself expires (after that the state is refused anyway, so it need not be
    /// remembered).
    pub(crate) fn admit(&self, state: &str, client: IpAddr, now: u64, expires: u64) -> Admission {
        let tick = self.started.elapsed().as_secs();
        self.admit_at(state, client, now, expires, tick)
    }

    /// [`SigninGuard::admit`] with the buckets' monotonic time `tick` (seconds) given.
    fn admit_at(
        &self,
        state: &str,
        client: IpAddr,
        now: u64,
        expires: u64,
        tick: u64,
    ) -> Admission {
        let key = self.hasher.hash_one(state);
        let client = network_of(client);
        let mut inner = self.lock();
        if inner.used.contains_key(&key) {
            return Admission::Replayed;
        }
        if !inner.clients.contains_key(&client)
            && !make_room(&mut inner.clients, MAX_CLIENTS, |_, b| {
                refill(*b, tick).0 < BURST
            })
        {
            return Admission::Overloaded;
        }
        let (left, since) = refill(
            inner.clients.get(&client).copied().unwrap_or((BURST, tick)),
            tick,
        );
        if left == 0 {
            inner.clients.insert(client, (0, since));
            return Admission::RateLimited;
        }
        let (global_left, global_since) =
            refill_global(inner.global.unwrap_or((GLOBAL_BURST, tick)), tick);
        if global_left == 0 {
            inner.global = Some((0, global_since));
            return Admission::Overloaded;
        }
        if !make_room(&mut inner.used, MAX_USED, |_, until| *until > now) {
            return Admission::Overloaded;
        }
        inner.clients.insert(client, (left - 1, since));
        inner.global = Some((global_left - 1, global_since));
        inner.used.insert(key, expires.max(now));
        Admission::Admitted
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Before an insert into a full `map`: drop the entries `keep` rejects. Whether there is room
/// now (bounded memory, no bookkeeping per request; nothing still needed is forgotten).
fn make_room<K, V>(
    map: &mut HashMap<K, V>,
    cap: usize,
    keep: impl FnMut(&K, &mut V) -> bool,
) -> bool {
    if map.len() >= cap {
        map.retain(keep);
    }
    map.len() < cap
}

/// The address a client is counted by: itself for IPv4, its /64 for IPv6 (IPv4-mapped IPv6 as
/// the IPv4 address).
fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
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

/// The global budget `(left, since)` topped up for the time passed until `now`.
fn refill_global((left, since): (u32, u64), now: u64) -> (u32, u64) {
    let secs = now.saturating_sub(since);
    if secs == 0 {
        return (left, since);
    }
    let gained = u32::try_from(secs.saturating_mul(u64::from(GLOBAL_PER_SEC))).unwrap_or(u32::MAX);
    (left.saturating_add(gained).min(GLOBAL_BURST), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    impl SigninGuard {
        /// Tests drive the monotonic clock with the same seconds as the wall clock.
        fn admit_t(&self, state: &str, client: IpAddr, now: u64, expires: u64) -> Admission {
            self.admit_at(state, client, now, expires, now)
        }
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let g = SigninGuard::default();
        let net = |i: u128| IpAddr::V6(std::net::Ipv6Addr::from((0x2001_0db8_u128 << 96) | i));
        for i in 0..BURST {
            assert_eq!(
                g.admit_t(&format!("s{i}"), net(u128::from(i)), 100, 700),
                Admission::Admitted
            );
        }
        // Another address in the same /64: the same budget.
        assert_eq!(
            g.admit_t("x", net(0xffff_ffff), 100, 700),
            Admission::RateLimited
        );
        // Another /64: its own.
        assert_eq!(g.admit_t("y", net(1 << 64), 100, 700), Admission::Admitted);
        // IPv4-mapped counts as the IPv4 address.
        let mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(network_of(mapped), IP);
    }

    #[test]
    fn a_state_is_redeemed_once() {
        let g = SigninGuard::default();
        assert_eq!(g.admit_t("s1", IP, 100, 700), Admission::Admitted);
        assert_eq!(g.admit_t("s1", IP, 101, 700), Admission::Replayed);
        assert_eq!(g.admit_t("s1", OTHER, 101, 700), Admission::Replayed);
        assert_eq!(g.admit_t("s2", IP, 101, 700), Admission::Admitted);
    }

    #[test]
    fn each_address_gets_a_burst_then_one_per_refill() {
        let g = SigninGuard::default();
        for i in 0..BURST {
            assert_eq!(
                g.admit_t(&format!("a{i}"), IP, 100, 700),
                Admission::Admitted
            );
        }
        assert_eq!(g.admit_t("x", IP, 100, 700), Admission::RateLimited);
        // Refused callbacks do not redeem their state: it works once the address may again.
        assert_eq!(
            g.admit_t("x", IP, 100 + REFILL_SECS - 1, 700),
            Admission::RateLimited
        );
        assert_eq!(
            g.admit_t("other-client", OTHER, 100, 700),
            Admission::Admitted
        );
        assert_eq!(
            g.admit_t("x", IP, 100 + REFILL_SECS, 700),
            Admission::Admitted
        );
        assert_eq!(
            g.admit_t("y", IP, 100 + REFILL_SECS, 700),
            Admission::RateLimited
        );
        // A long pause restores the burst, not more.
        let later = 100 + 1_000_000;
        for i in 0..BURST {
            assert_eq!(
                g.admit_t(&format!("b{i}"), IP, later, later + 600),
                Admission::Admitted
            );
        }
        assert_eq!(
            g.admit_t("z", IP, later, later + 600),
            Admission::RateLimited
        );
    }

    #[test]
    fn all_clients_together_share_a_budget() {
        let g = SigninGuard::default();
        let client = |i: u32| IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        for i in 0..GLOBAL_BURST {
            assert_eq!(
                g.admit_t(&format!("s{i}"), client(i), 100, 700),
                Admission::Admitted
            );
        }
        // A new network, with its own budget untouched: refused all the same, nothing recorded.
        assert_eq!(
            g.admit_t("n", client(9999), 100, 700),
            Admission::Overloaded
        );
        assert_eq!(
            g.admit_t("n", client(9999), 100, 700),
            Admission::Overloaded
        );
        // A second later, GLOBAL_PER_SEC more.
        for i in 0..GLOBAL_PER_SEC {
            assert_eq!(
                g.admit_t(&format!("t{i}"), client(5000 + i), 101, 700),
                Admission::Admitted
            );
        }
        assert_eq!(
            g.admit_t("n", client(9999), 101, 700),
            Admission::Overloaded
        );
        assert_eq!(g.admit_t("n", client(9999), 102, 700), Admission::Admitted);
    }

    #[test]
    fn full_tables_refuse_rather_than_forget() {
        let mut m: HashMap<u32, u32> = (0..4).map(|i| (i, i)).collect();
        assert!(
            !make_room(&mut m, 4, |_, _| true),
            "nothing may go: no room"
        );
        assert_eq!(m.len(), 4, "nothing forgotten");
        assert!(make_room(&mut m, 4, |k, _| *k != 2));
        assert_eq!(m.len(), 3);
        assert!(
            make_room(&mut m, 4, |_, _| true),
            "room left: nothing dropped"
        );
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn memory_is_bounded() {
        let g = SigninGuard::default();
        for i in 0..(MAX_USED as u64 + 10) {
            let ip = IpAddr::V6(std::net::Ipv6Addr::from(u128::from(i) << 64));
            assert_eq!(
                g.admit_t(&format!("s{i}"), ip, 1000 + i, 1000 + i + 1),
                Admission::Admitted
            );
        }
        let inner = g.lock();
        assert!(inner.used.len() <= MAX_USED);
        assert!(inner.clients.len() <= MAX_CLIENTS);
    }
}
