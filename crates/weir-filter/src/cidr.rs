//! The `cidr` operator: parsing an IPv4 or IPv6 block `address/length` and
//! testing whether a string holds an address inside it (std::net only).

use std::net::IpAddr;

/// An address block as a masked network number and its mask.
#[derive(Clone, Debug)]
pub(crate) enum Cidr {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Cidr {
    /// Parses `a.b.c.d/n` (n ≤ 32) or `x:y::z/n` (n ≤ 128). Host bits set
    /// in the address are ignored.
    pub(crate) fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("invalid CIDR block {text:?}");
        let (addr, len) = text.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let len: u32 = len.parse().map_err(|_| bad())?;
        match addr {
            IpAddr::V4(a) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                Ok(Cidr::V4 { net: u32::from(a) & mask, mask })
            }
            IpAddr::V6(a) if len <= 128 => {
                let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
                Ok(Cidr::V6 { net: u128::from(a) & mask, mask })
            }
            _ => Err(bad()),
        }
    }

    /// Whether `s` is an address of the block's family inside the block.
    pub(crate) fn contains(&self, s: &str) -> bool {
        match (self, s.parse::<IpAddr>()) {
            (Cidr::V4 { net, mask }, Ok(IpAddr::V4(a))) => u32::from(a) & mask == *net,
            (Cidr::V6 { net, mask }, Ok(IpAddr::V6(a))) => u128::from(a) & mask == *net,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(block: &str) -> Cidr {
        Cidr::parse(block).unwrap()
    }

    #[test]
    fn ipv4_blocks() {
        assert!(c("10.0.0.0/24").contains("10.0.0.255"));
        assert!(c("10.0.0.0/24").contains("10.0.0.0"));
        assert!(!c("10.0.0.0/24").contains("10.0.1.0"));
        assert!(c("10.0.0.0/8").contains("10.200.3.4"));
        assert!(c("0.0.0.0/0").contains("192.168.1.1"));
        assert!(c("192.168.1.7/32").contains("192.168.1.7"));
        assert!(!c("192.168.1.7/32").contains("192.168.1.8"));
        // host bits in the block are ignored
        assert!(c("10.0.0.77/24").contains("10.0.0.1"));
    }

    #[test]
    fn ipv6_blocks() {
        assert!(c("2001:db8::/32").contains("2001:db8:1::1"));
        assert!(!c("2001:db8::/32").contains("2001:db9::1"));
        assert!(c("::/0").contains("::1"));
        assert!(c("fe80::1/128").contains("fe80::1"));
    }

    #[test]
    fn families_and_non_addresses_do_not_match() {
        assert!(!c("10.0.0.0/8").contains("::ffff:10.0.0.1"));
        assert!(!c("::/0").contains("10.0.0.1"));
        assert!(!c("10.0.0.0/8").contains("10.0.0"));
        assert!(!c("10.0.0.0/8").contains("ten"));
        assert!(!c("10.0.0.0/8").contains(" 10.0.0.1"));
    }

    #[test]
    fn invalid_blocks() {
        for bad in ["10.0.0.0", "10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/+8", "x/8", "/8", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
