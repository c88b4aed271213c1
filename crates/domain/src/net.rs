//! Client addresses behind reverse proxies.
//!
//! `X-Forwarded-For` is written by whoever sends the request, so it is believed only when the
//! connection comes from a proxy the operator trusts (`server.trusted_proxies`); then the client
//! is the right-most address in it that is not itself a trusted proxy.

use std::net::IpAddr;

/// An address range: `10.0.0.0/8`, `192.168.1.7`, `fd00::/8`, `::1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(s: &str) -> Result<IpRange, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an IP address or range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{s:?}: bad prefix length"))?,
            None => max,
        };
        Ok(IpRange { network: mask(network, prefix), prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// The client of a request that arrived from `peer` with the `X-Forwarded-For` value
/// `forwarded_for`, given the trusted proxies.
pub fn client_address(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: &[IpRange]) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        let hop = hop.trim().trim_start_matches('[');
        // "1.2.3.4:5678" and "[::1]:80" carry ports; bare IPv6 addresses contain colons too.
        let parsed = hop.parse::<IpAddr>().ok().or_else(|| {
            let (host, _) = hop.rsplit_once(':')?;
            host.trim_end_matches(']').parse().ok()
        });
        let Some(ip) = parsed.map(canonical) else { break };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// The unit of throttling for an address: IPv6 clients get a whole /64 each, so they are
/// throttled by that, not by one of its 2^64 addresses.
pub fn throttle_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => mask(IpAddr::V6(v6), 64),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains(ip("10.1.2.3")) && !r.contains(ip("11.0.0.1")));
        assert!(r.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped addresses are IPv4");
        assert!(IpRange::parse("::1").unwrap().contains(ip("::1")));
        assert!(IpRange::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(IpRange::parse("10.0.0.0/33").is_err() && IpRange::parse("proxy").is_err());
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let trusted = [IpRange::parse("127.0.0.1").unwrap(), IpRange::parse("10.0.0.0/8").unwrap()];
        // An untrusted peer: its header is ignored, whatever it says.
        assert_eq!(client_address(Some(ip("203.0.113.9")), Some("1.1.1.1"), &trusted), Some(ip("203.0.113.9")));
        // Through a trusted proxy: the right-most untrusted hop is the client; what the client
        // itself prepended is ignored.
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), Some("6.6.6.6, 198.51.100.7, 10.0.0.3"), &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(client_address(Some(ip("127.0.0.1")), None, &trusted), Some(ip("127.0.0.1")));
        assert_eq!(client_address(Some(ip("127.0.0.1")), Some("garbage"), &trusted), Some(ip("127.0.0.1")));
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), Some("198.51.100.7:4711"), &trusted),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(client_address(Some(ip("127.0.0.1")), Some("[2001:db8::1]:80"), &trusted), Some(ip("2001:db8::1")));
        assert_eq!(client_address(None, Some("1.1.1.1"), &trusted), None);
    }

    #[test]
    fn ipv6_clients_are_throttled_per_64() {
        assert_eq!(throttle_key(ip("2001:db8:1:2:aaaa::1")), throttle_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(throttle_key(ip("2001:db8:1:2::1")), throttle_key(ip("2001:db8:1:3::1")));
        assert_eq!(throttle_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
