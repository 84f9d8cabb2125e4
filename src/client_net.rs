//! How client addresses are grouped when a budget is kept per client (the sign-in guard, the
//! per-client connection cap): one host is an IPv4 address or an IPv6 /64 (a host has the whole
//! /64 to pick addresses from); the network it is in is an IPv4 /24 or an IPv6 /48 (what one
//! customer or tunnel broker hands out). IPv4-mapped IPv6 counts as the IPv4 address.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address a client is counted by: itself for IPv4, its /64 for IPv6.
pub(crate) fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The wider network a client belongs to: its IPv4 /24 or IPv6 /48.
pub(crate) fn network_of(ip: IpAddr) -> IpAddr {
    match client_of(ip) {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & 0xffff_ff00)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 80) - 1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn clients_and_their_networks() {
        assert_eq!(client_of(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_of(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(network_of(ip("192.0.2.7")), ip("192.0.2.0"));
        assert_eq!(network_of(ip("::ffff:192.0.2.7")), ip("192.0.2.0"));
        assert_eq!(network_of(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1::"));
    }
}
