//! The per-address throttle across accounts (credential stuffing; Auth0's suspicious-IP
//! throttling): failed sign-ins from one address, to any account of a tenant, known or not,
//! fill a leaky bucket that drains at `failures_per_day` a day. While it is full, that
//! address gets 429 `too_many_attempts` on every account, even with the right password;
//! other addresses are unaffected, and addresses in the tenant's allow-list are neither
//! counted nor throttled. Rules, settings and the admin routes: docs/api.md ("Brute-force
//! protection").
//!
//! The bucket is kept as one instant (the generic cell rate algorithm): `drained_at`, when the
//! bucket would be empty if nothing more failed. Each failure moves it one interval
//! (a day divided by the capacity) past `max(drained_at, now)`; the bucket is full once
//! `drained_at` is more than `capacity - 1` intervals ahead of now. The store moves it with an
//! atomic add while the bucket holds failures, so failures from one address never contend
//! (see `LoginStore::fill_address_throttle`).

use std::net::IpAddr;

use super::time::Timestamp;

const DAY_SECS: i64 = 24 * 3600;

/// Failures a day an address may make by default.
pub const DEFAULT_FAILURES_PER_DAY: u32 = 100;
/// Most failures a day a tenant may allow: beyond it the throttle would be no throttle.
pub const MAX_FAILURES_PER_DAY: u32 = 86_400;
/// Most networks one tenant's allow-list holds.
pub const MAX_ALLOWED: usize = 100;

/// One tenant's throttle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressThrottle {
    /// `None`: off.
    pub failures_per_day: Option<u32>,
    pub allow: Vec<Cidr>,
}

impl Default for AddressThrottle {
    fn default() -> Self {
        AddressThrottle {
            failures_per_day: Some(DEFAULT_FAILURES_PER_DAY),
            allow: Vec::new(),
        }
    }
}

impl AddressThrottle {
    /// Whether failures from `ip` (a key of [`super::login::parse_ip`]) count and can throttle.
    pub fn applies_to(&self, ip: &str) -> bool {
        self.failures_per_day.is_some() && !self.allow.iter().any(|c| c.contains_key(ip))
    }

    /// Seconds one failure takes to drain; `None` while the throttle is off.
    pub fn interval_secs(&self) -> Option<i64> {
        self.failures_per_day.map(Self::interval)
    }

    fn interval(capacity: u32) -> i64 {
        (DAY_SECS + i64::from(capacity) - 1) / i64::from(capacity.max(1))
    }

    /// Until when a bucket drained at `drained_at` refuses attempts, if it does at `now`.
    pub fn blocked_until(
        &self,
        drained_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let capacity = self.failures_per_day?;
        let drained_at = drained_at?;
        let until = drained_at.plus_secs(-(i64::from(capacity) - 1) * Self::interval(capacity));
        (until > now).then_some(until)
    }

    /// The failures a bucket drained at `drained_at` still holds at `now`, rounded up.
    pub fn failures(&self, drained_at: Timestamp, now: Timestamp) -> u64 {
        let capacity = self.failures_per_day.unwrap_or(DEFAULT_FAILURES_PER_DAY);
        now.secs_until(drained_at)
            .div_ceil(Self::interval(capacity) as u64)
    }
}

/// A network of the allow-list: `203.0.113.0/24`, `2001:db8::/48`, or one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(raw: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{raw:?} is not an address or a network (CIDR)"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{raw:?} has no valid prefix length"))?,
        };
        // Sign-ins count per IPv4 address and per IPv6 /64 ([`super::login::parse_ip`]): a
        // longer IPv6 prefix would name part of a /64 and never match, and an IPv4-mapped one
        // counts as its IPv4 address.
        if let IpAddr::V6(v6) = network {
            if v6.to_ipv4_mapped().is_some() {
                return Err(format!("{raw:?} is an IPv4 address: write it as one"));
            }
            if prefix > 64 {
                return Err(format!(
                    "{raw:?}: IPv6 sign-ins count per /64, so a network is /64 or shorter"
                ));
            }
        }
        let cidr = Cidr { network, prefix };
        if cidr.masked(network) != network {
            return Err(format!("{raw:?} has host bits set past its prefix"));
        }
        Ok(cidr)
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    /// Whether the address an attempt counts under (an IPv4 address, or an IPv6 /64 written
    /// `a:b:c:d::/64`) lies in this network.
    pub fn contains_key(&self, key: &str) -> bool {
        let (addr, prefix) = match key.strip_suffix("/64") {
            Some(a) => (a, 64),
            None => (key, 32),
        };
        let Ok(ip) = addr.parse::<IpAddr>() else {
            return false;
        };
        ip.is_ipv4() == self.network.is_ipv4()
            && (ip.is_ipv4() || self.prefix <= prefix)
            && self.masked(ip) == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket after one more failure at `now`, as the store fills it
    /// (`LoginStore::fill_address_throttle`).
    fn after_failure(
        t: &AddressThrottle,
        drained_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Timestamp {
        drained_at
            .filter(|d| *d > now)
            .unwrap_or(now)
            .plus_secs(t.interval_secs().unwrap())
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_datetime(time::OffsetDateTime::UNIX_EPOCH).plus_secs(1_800_000_000 + secs)
    }

    #[test]
    fn the_bucket_fills_at_its_capacity_and_drains_one_failure_per_interval() {
        let t = AddressThrottle::default();
        let mut drained = None;
        for _ in 0..99 {
            drained = Some(after_failure(&t, drained, at(0)));
            assert_eq!(t.blocked_until(drained, at(0)), None);
        }
        drained = Some(after_failure(&t, drained, at(0)));
        let until = t.blocked_until(drained, at(0)).expect("full after 100");
        assert_eq!(until, at(864), "one failure drains in a day / 100");
        assert_eq!(t.failures(drained.unwrap(), at(0)), 100);
        assert_eq!(t.blocked_until(drained, at(864)), None);
        // Draining lets one more through, and that one fills it again.
        drained = Some(after_failure(&t, drained, at(864)));
        assert!(t.blocked_until(drained, at(864)).is_some());
    }

    #[test]
    fn an_allow_listed_address_or_network_is_exempt() {
        let t = AddressThrottle {
            failures_per_day: Some(5),
            allow: vec![
                Cidr::parse("198.51.100.0/24").unwrap(),
                Cidr::parse("2001:db8::/48").unwrap(),
            ],
        };
        assert!(!t.applies_to("198.51.100.77"));
        assert!(t.applies_to("198.51.101.1"));
        assert!(!t.applies_to("2001:db8:0:7::/64"));
        assert!(t.applies_to("2001:db9::/64"));
        let off = AddressThrottle {
            failures_per_day: None,
            allow: Vec::new(),
        };
        assert!(!off.applies_to("203.0.113.9"));
    }

    #[test]
    fn networks_are_parsed_strictly() {
        assert_eq!(
            Cidr::parse("203.0.113.9").unwrap().to_string(),
            "203.0.113.9/32"
        );
        assert!(Cidr::parse("203.0.113.9/24").is_err(), "host bits set");
        assert!(Cidr::parse("203.0.113.0/33").is_err());
        assert!(Cidr::parse("example.com").is_err());
        assert!(
            Cidr::parse("2001:db8:0:7:1::/80").is_err(),
            "longer than a /64"
        );
        assert!(
            Cidr::parse("2001:db8::1").is_err(),
            "one IPv6 address is a /128"
        );
        assert!(Cidr::parse("::ffff:198.51.100.7").is_err());
        assert!(
            Cidr::parse("2001:db8:0:7::/64")
                .unwrap()
                .contains_key("2001:db8:0:7::/64")
        );
    }
}
