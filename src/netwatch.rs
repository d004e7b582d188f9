//! The camera's usable IP addresses: the ones a certificate must name.
//!
//! TODO: watch RTM_NEWADDR/RTM_DELADDR on a netlink socket and emit the
//! settled set after a quiet period; today the set is read once per issuance.

use std::net::IpAddr;

/// Most addresses one certificate names. A camera has one or two interfaces
/// with a few addresses each; the rest are dropped, highest first, with a warning.
pub const MAX_ADDRESSES: usize = 16;

/// A sorted, duplicate-free set of at most [`MAX_ADDRESSES`] addresses.
pub type AddressSet = heapless::Vec<IpAddr, MAX_ADDRESSES>;

/// Whether an address can appear in a URL a client types: not unspecified, not
/// multicast, not IPv6 link-local (a URL would need a zone id), and not
/// loopback unless `include_loopback`.
pub fn is_usable(address: IpAddr, include_loopback: bool) -> bool {
    if address.is_unspecified() || address.is_multicast() {
        return false;
    }
    if address.is_loopback() {
        return include_loopback;
    }
    match address {
        IpAddr::V4(v4) => !v4.is_broadcast(),
        // fe80::/10
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}

/// Builds the address set from any list of addresses: filters with
/// [`is_usable`], sorts, removes duplicates and keeps the lowest
/// [`MAX_ADDRESSES`], so the result is the same for the same input.
pub fn usable_set(
    addresses: impl IntoIterator<Item = IpAddr>,
    include_loopback: bool,
) -> AddressSet {
    let mut all: Vec<IpAddr> = addresses
        .into_iter()
        .filter(|address| is_usable(*address, include_loopback))
        .collect();
    all.sort();
    all.dedup();
    if all.len() > MAX_ADDRESSES {
        tracing::warn!(
            found = all.len(),
            kept = MAX_ADDRESSES,
            dropped = ?&all[MAX_ADDRESSES..],
            "more usable addresses than a certificate holds; the highest are left out"
        );
        all.truncate(MAX_ADDRESSES);
    }
    all.into_iter().collect()
}

/// Reads the host's current usable addresses from the kernel with getifaddrs.
/// `watched` names the interfaces to read; empty means all of them.
pub fn current_addresses(
    include_loopback: bool,
    watched: &[String],
) -> std::io::Result<AddressSet> {
    let interfaces = nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)?;
    let watched_interfaces = interfaces
        .filter(|interface| watched.is_empty() || watched.contains(&interface.interface_name));
    let addresses = watched_interfaces.filter_map(|interface| {
        let address = interface.address?;
        if let Some(v4) = address.as_sockaddr_in() {
            Some(IpAddr::V4(v4.ip()))
        } else {
            address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        }
    });
    Ok(usable_set(addresses, include_loopback))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_address_rules() {
        let cases = [
            ("192.0.2.10", false, true),
            ("169.254.7.7", false, true),
            ("127.0.0.1", false, false),
            ("127.0.0.1", true, true),
            ("::1", true, true),
            ("0.0.0.0", true, false),
            ("255.255.255.255", false, false),
            ("224.0.0.1", false, false),
            ("fe80::1", false, false),
            ("febf::1", false, false),
            ("fec0::1", false, true),
            ("2001:db8::10", false, true),
            ("fd00::10", false, true),
        ];
        for (text, include_loopback, usable) in cases {
            let address: IpAddr = text.parse().unwrap();
            assert_eq!(is_usable(address, include_loopback), usable, "{text}");
        }
    }

    #[test]
    fn set_is_sorted_deduplicated_and_bounded() {
        let mut input: Vec<IpAddr> = (0..40u8)
            .rev()
            .map(|last| IpAddr::from([192, 0, 2, last]))
            .collect();
        input.push("192.0.2.1".parse().unwrap());
        let set = usable_set(input, false);
        assert_eq!(set.len(), MAX_ADDRESSES);
        assert_eq!(set[0], IpAddr::from([192, 0, 2, 0]));
        assert_eq!(set[MAX_ADDRESSES - 1], IpAddr::from([192, 0, 2, 15]));
        assert!(set.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn current_addresses_include_loopback_when_asked() {
        let set = current_addresses(true, &[]).unwrap();
        assert!(set.iter().any(|address| address.is_loopback()), "{set:?}");
        let set = current_addresses(false, &[]).unwrap();
        assert!(!set.iter().any(|address| address.is_loopback()), "{set:?}");
    }

    #[test]
    fn current_addresses_of_named_interface_only() {
        let set = current_addresses(true, &["lo".to_owned()]).unwrap();
        assert!(!set.is_empty());
        assert!(set.iter().all(|address| address.is_loopback()), "{set:?}");
        let set = current_addresses(true, &["no-such-interface".to_owned()]).unwrap();
        assert!(set.is_empty(), "{set:?}");
    }
}
