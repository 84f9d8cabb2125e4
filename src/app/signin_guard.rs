//! Limits on the one request that makes octogate call the OpenID Provider on a visitor's behalf:
//! the authorization-code callback. Each pending sign-in (its `state`) is redeemed at most once,
//! and each client address may redeem a burst of [`BURST`], refilled at one per
//! [`REFILL_SECS`] seconds. Without them a replayed login cookie, or a script that fetches fresh
//! ones from `/oauth2/start`, turns octogate into a driver of token-endpoint calls, which count
//! against the IdP's rate limits for every site and user of the organisation.
//!
//! Each wider network (an IPv4 /24, an IPv6 /48: what one customer or tunnel broker hands out)
//! shares a budget too ([`WIDE_BURST`], then one per [`WIDE_REFILL_SECS`]), so that the 65,536
//! /64s of one /48 do not add up to a flood either. (Not one budget for everybody: a handful of
//! addresses could then keep every real user from signing in.) When the tables are full,
//! callbacks are refused rather than anything remembered being forgotten.
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
/// Callbacks a wider network (IPv4 /24, IPv6 /48) may make at once.
pub(crate) const WIDE_BURST: u32 = 60;
/// Seconds per callback a wider network regains.
pub(crate) const WIDE_REFILL_SECS: u64 = 1;
/// Most redeemed states remembered (when full, expired ones go; if none has, callbacks are
/// refused until some expire: a state is never forgotten while it could be replayed).
const MAX_USED: usize = 20_000;
/// Most client addresses (and, separately, wider networks) tracked (when full, those back to a
/// full burst go; if none is, new ones are refused until some are).
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
    /// The tables are full (more networks at once than tracked); nothing recorded.
    Overloaded,
}

#[derive(Default)]
struct Inner {
    /// Keyed hash of a redeemed state → when it stops mattering (its sign-in expired).
    used: HashMap<u64, u64>,
    /// Client address → (callbacks left, time of the last refill).
    clients: HashMap<IpAddr, (u32, u64)>,
    /// Wider network (IPv4 /24, IPv6 /48) → (callbacks left, time of the last refill).
    wide: HashMap<IpAddr, (u32, u64)>,
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
        let wide = crate::client_net::network_of(client);
        let client = crate::client_net::client_of(client);
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
        if !inner.wide.contains_key(&wide)
            && !make_room(&mut inner.wide, MAX_CLIENTS, |_, b| {
                refill_by(*b, tick, WIDE_BURST, WIDE_REFILL_SECS).0 < WIDE_BURST
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
        let (wide_left, wide_since) = refill_by(
            inner.wide.get(&wide).copied().unwrap_or((WIDE_BURST, tick)),
            tick,
            WIDE_BURST,
            WIDE_REFILL_SECS,
        );
        if wide_left == 0 {
            inner.wide.insert(wide, (0, wide_since));
            return Admission::RateLimited;
        }
        if !make_room(&mut inner.used, MAX_USED, |_, until| *until > now) {
            return Admission::Overloaded;
        }
        inner.clients.insert(client, (left - 1, since));
        inner.wide.insert(wide, (wide_left - 1, wide_since));
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

/// A client's bucket `(left, since)` topped up for the time passed until `now`.
fn refill(bucket: (u32, u64), now: u64) -> (u32, u64) {
    refill_by(bucket, now, BURST, REFILL_SECS)
}

/// A bucket `(left, since)` of at most `burst`, regaining one per `period` seconds, topped up
/// for the time passed until `now`.
fn refill_by((left, since): (u32, u64), now: u64, burst: u32, period: u64) -> (u32, u64) {
    let periods = now.saturating_sub(since) / period;
    if periods == 0 {
        return (left, since);
    }
    let gained = u32::try_from(periods).unwrap_or(u32::MAX);
    (
        left.saturating_add(gained).min(burst),
        since.saturating_add(periods.saturating_mul(period)),
    )
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
        assert_eq!(crate::client_net::client_of(mapped), IP);
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
    fn a_wider_network_shares_a_budget_and_others_are_unaffected() {
        let g = SigninGuard::default();
        // One /48, a different /64 for every callback: the /48's budget still runs out.
        let in_48 = |i: u128| {
            IpAddr::V6(std::net::Ipv6Addr::from(
                (0x2001_0db8_0001_u128 << 80) | (i << 64),
            ))
        };
        for i in 0..u128::from(WIDE_BURST) {
            assert_eq!(
                g.admit_t(&format!("s{i}"), in_48(i), 100, 700),
                Admission::Admitted
            );
        }
        assert_eq!(
            g.admit_t("n", in_48(9999), 100, 700),
            Admission::RateLimited
        );
        // Another /48, another /24: their own budgets.
        let other_48 = IpAddr::V6(std::net::Ipv6Addr::from(0x2001_0db8_0002_u128 << 80));
        assert_eq!(g.admit_t("o6", other_48, 100, 700), Admission::Admitted);
        assert_eq!(g.admit_t("o4", OTHER, 100, 700), Admission::Admitted);
        // One IPv4 /24: the same, across its addresses.
        let in_24 = |i: u32| IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, i as u8));
        let mut admitted = 0;
        for i in 0..(WIDE_BURST * 2) {
            if g.admit_t(&format!("v4-{i}"), in_24(i % 250), 100, 700) == Admission::Admitted {
                admitted += 1;
            }
        }
        assert_eq!(admitted, WIDE_BURST);
        // It regains one per WIDE_REFILL_SECS.
        assert_eq!(
            g.admit_t("n", in_48(9999), 100 + WIDE_REFILL_SECS, 700),
            Admission::Admitted
        );
        assert_eq!(crate::client_net::network_of(in_48(5)), in_48(0));
        assert_eq!(
            crate::client_net::network_of(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 77))),
            in_24(0)
        );
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
