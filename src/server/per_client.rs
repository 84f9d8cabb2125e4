//! At most so many connections from one client at once (`server.max_connections_per_client`), so
//! one address cannot hold every one of `server.max_connections` (idle keep-alive connections,
//! slow heads, held HTTP/2 streams) and shut everybody else out.
//!
//! A client is an IPv4 address or an IPv6 /64 (what one host or site is given; a host has the
//! whole /64 to pick addresses from). A home or office is usually given a /56 or /48, i.e. many
//! /64s: an IPv6 /48 as a whole may hold [`WIDE`] times the limit. Trusted proxies are not
//! counted: each carries many clients.
//! The table holds one entry per client with a connection open, so it never outgrows
//! `max_connections`; the lock is held for a hash-map update, never across I/O.
//!
//! A client's HTTP/2 requests in progress are capped at the same number ([`ClientSlot::begin_request`]):
//! over HTTP/1.1 each connection has at most one, but each HTTP/2 connection may have 16, and
//! without this one address could hold every upstream slot through a few hundred connections.
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many times the per-client limit an IPv6 /48 may hold in all.
pub(crate) const WIDE: u32 = 4;

/// A counted group of addresses ([`crate::client_net`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    /// One client: an IPv4 address or an IPv6 /64.
    Client(IpAddr),
    /// An IPv6 /48: the network it is in.
    V6Network(IpAddr),
}

impl ClientKey {
    /// The client, and for IPv6 the wider network it is counted in as well.
    fn of(ip: IpAddr) -> (ClientKey, Option<ClientKey>) {
        let client = crate::client_net::client_of(ip);
        let network = client
            .is_ipv6()
            .then(|| ClientKey::V6Network(crate::client_net::network_of(client)));
        (ClientKey::Client(client), network)
    }
}

/// What is counted for one key.
#[derive(Debug, Default)]
struct Entry {
    /// Connections open.
    conns: u32,
    /// HTTP/2 requests in progress.
    in_flight: Arc<AtomicU32>,
}

/// The connections each client has open.
#[derive(Debug)]
pub(crate) struct ClientSlots {
    limit: u32,
    open: Mutex<HashMap<ClientKey, Entry>>,
}

/// One open connection of a client; given back when dropped.
#[derive(Debug)]
pub(crate) struct ClientSlot {
    slots: Arc<ClientSlots>,
    key: ClientKey,
    wide: Option<ClientKey>,
    in_flight: Arc<AtomicU32>,
    /// For IPv6: the /48's requests in progress.
    wide_in_flight: Option<Arc<AtomicU32>>,
}

/// One HTTP/2 request of a client in progress; given back when dropped.
#[derive(Debug)]
pub(crate) struct ClientRequest {
    in_flight: Arc<AtomicU32>,
    wide_in_flight: Option<Arc<AtomicU32>>,
}

/// Takes one of `limit` from `counter` (exactly: no overshoot under contention).
fn take_one(counter: &AtomicU32, limit: u32) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

impl ClientSlot {
    /// A place for one more HTTP/2 request of this client, or `None` when it has
    /// `max_connections_per_client` in progress already (or, for IPv6, its /48 [`WIDE`] times
    /// that).
    pub(crate) fn begin_request(&self) -> Option<ClientRequest> {
        let limit = self.slots.limit;
        if !take_one(&self.in_flight, limit) {
            return None;
        }
        if let Some(wide) = &self.wide_in_flight {
            if !take_one(wide, limit.saturating_mul(WIDE)) {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                return None;
            }
        }
        Some(ClientRequest {
            in_flight: self.in_flight.clone(),
            wide_in_flight: self.wide_in_flight.clone(),
        })
    }
}

impl Drop for ClientRequest {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(wide) = &self.wide_in_flight {
            wide.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl ClientSlots {
    /// A table allowing `limit` connections per client (at least one).
    pub(crate) fn new(limit: usize) -> Arc<ClientSlots> {
        Arc::new(ClientSlots {
            limit: u32::try_from(limit.max(1)).unwrap_or(u32::MAX),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a connection from `ip`, or `None` when that client has `limit` open already
    /// (or, for IPv6, its /48 has [`WIDE`] times that).
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let (key, wide) = ClientKey::of(ip);
        let mut open = self.lock();
        let conns = |open: &HashMap<ClientKey, Entry>, k| open.get(&k).map_or(0, |e| e.conns);
        if conns(&open, key) >= self.limit {
            return None;
        }
        let mut wide_in_flight = None;
        if let Some(w) = wide {
            if conns(&open, w) >= self.limit.saturating_mul(WIDE) {
                return None;
            }
            let entry = open.entry(w).or_default();
            entry.conns += 1;
            wide_in_flight = Some(entry.in_flight.clone());
        }
        let entry = open.entry(key).or_default();
        entry.conns += 1;
        let in_flight = entry.in_flight.clone();
        Some(ClientSlot {
            slots: self.clone(),
            key,
            wide,
            in_flight,
            wide_in_flight,
        })
    }

    /// Clients with at least one connection open (for tests).
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientKey, Entry>> {
        // Nothing can panic while the lock is held; a poisoned map is still consistent.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        for key in std::iter::once(self.key).chain(self.wide) {
            if let Some(e) = open.get_mut(&key) {
                e.conns = e.conns.saturating_sub(1);
                if e.conns == 0 {
                    open.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_gets_limit_slots_and_each_comes_back() {
        let slots = ClientSlots::new(2);
        let a = slots.take(ip("192.0.2.1")).unwrap();
        let b = slots.take(ip("192.0.2.1")).unwrap();
        assert!(slots.take(ip("192.0.2.1")).is_none());
        // Another address is another client.
        let other = slots.take(ip("192.0.2.2")).unwrap();
        drop(a);
        let c = slots.take(ip("192.0.2.1")).unwrap();
        assert!(slots.take(ip("192.0.2.1")).is_none());
        drop((b, c, other));
        assert_eq!(slots.clients(), 0, "no entry outlives its connections");
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_mapped_ipv4_is_ipv4() {
        let slots = ClientSlots::new(1);
        let _a = slots.take(ip("2001:db8:1:2::1")).unwrap();
        assert!(slots.take(ip("2001:db8:1:2:ffff::9")).is_none(), "same /64");
        let _b = slots.take(ip("2001:db8:1:3::1")).unwrap();
        let _c = slots.take(ip("198.51.100.7")).unwrap();
        assert!(slots.take(ip("::ffff:198.51.100.7")).is_none());
        // Two /64s and their /48, and one IPv4 address.
        assert_eq!(slots.clients(), 4);
    }

    #[test]
    fn a_clients_requests_in_progress_are_capped_across_its_connections() {
        let slots = ClientSlots::new(3);
        let a = slots.take(ip("192.0.2.1")).unwrap();
        let b = slots.take(ip("192.0.2.1")).unwrap();
        let r1 = a.begin_request().unwrap();
        let _r2 = b.begin_request().unwrap();
        let _r3 = a.begin_request().unwrap();
        assert!(
            b.begin_request().is_none(),
            "three in progress, on either connection"
        );
        let other = slots.take(ip("192.0.2.2")).unwrap();
        assert!(
            other.begin_request().is_some(),
            "another client's are its own"
        );
        drop(r1);
        assert!(b.begin_request().is_some());
    }

    #[test]
    fn an_ipv6_slash_48s_requests_in_progress_are_capped_too() {
        let slots = ClientSlots::new(2);
        let mut held = Vec::new();
        let mut requests = Vec::new();
        for i in 0..WIDE + 1 {
            let slot = slots.take(ip(&format!("2001:db8:9:{i:x}::1")));
            if let Some(slot) = slot {
                held.push(slot);
            }
        }
        // WIDE /64s hold 2 each: the /48's 2 × WIDE requests; the last /64 gets none.
        for slot in &held {
            while let Some(r) = slot.begin_request() {
                requests.push(r);
            }
        }
        assert_eq!(requests.len(), (2 * WIDE) as usize);
        let last = &held[WIDE as usize];
        assert!(last.begin_request().is_none());
        requests.pop();
        assert!(last.begin_request().is_some(), "room in the /48 again");
    }

    #[test]
    fn an_ipv6_slash_48_holds_at_most_wide_times_the_limit() {
        let slots = ClientSlots::new(2);
        let mut held = Vec::new();
        // A /48 hands its /64s out: each may hold 2, all of them together 2 × WIDE.
        for i in 0..WIDE {
            for _ in 0..2 {
                held.push(slots.take(ip(&format!("2001:db8:7:{i:x}::1"))).unwrap());
            }
        }
        assert!(
            slots.take(ip("2001:db8:7:ff::1")).is_none(),
            "the /48 is full"
        );
        assert!(
            slots.take(ip("2001:db8:8::1")).is_some(),
            "another /48 is not"
        );
        held.pop();
        assert!(slots.take(ip("2001:db8:7:ff::1")).is_some());
        drop(held);
    }
}
