//! The camera's usable IP addresses: the ones a certificate must name.
//!
//! [`watch`] subscribes to address and link events on a NETLINK_ROUTE socket.
//! After the last event of a burst it waits a quiet period, rereads the whole
//! set with getifaddrs and publishes it only when it changed. Rereading the
//! set, instead of applying each message, makes a lost message or a buffer
//! overrun harmless: the next read is complete again.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

/// Most addresses one certificate names. A camera has one or two interfaces
/// with a few addresses each; the rest are dropped, highest first, with a warning.
pub const MAX_ADDRESSES: usize = 16;

/// A sorted, duplicate-free set of at most [`MAX_ADDRESSES`] addresses.
pub type AddressSet = heapless::Vec<IpAddr, MAX_ADDRESSES>;

/// Which of the host's addresses a certificate names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressFilter {
    /// Whether loopback addresses (127.0.0.0/8, ::1) count.
    pub include_loopback: bool,
    /// Whether IPv4 link-local addresses (169.254.0.0/16, zeroconf) count.
    pub include_ipv4_link_local: bool,
    /// Interfaces to read; empty means all.
    pub interfaces: Vec<String>,
}

impl AddressFilter {
    /// The filter the certificate settings describe.
    pub fn from_config(config: &crate::config::CertificateConfig) -> Self {
        Self {
            include_loopback: config.include_loopback,
            include_ipv4_link_local: config.include_ipv4_link_local,
            interfaces: config.interfaces.clone(),
        }
    }

    /// Whether an address can appear in a URL a client types: not unspecified,
    /// not multicast or broadcast, not IPv6 link-local (a URL would need a zone
    /// id), and loopback or IPv4 link-local only when the filter allows them.
    pub fn is_usable(&self, address: IpAddr) -> bool {
        if address.is_unspecified() || address.is_multicast() {
            return false;
        }
        if address.is_loopback() {
            return self.include_loopback;
        }
        match address {
            IpAddr::V4(v4) if v4.is_link_local() => self.include_ipv4_link_local,
            IpAddr::V4(v4) => !v4.is_broadcast(),
            // fe80::/10
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        }
    }
}

/// Builds the address set from any list of addresses: filters with
/// [`AddressFilter::is_usable`], sorts, removes duplicates and keeps the
/// lowest [`MAX_ADDRESSES`], so the result is the same for the same input.
pub fn usable_set(
    addresses: impl IntoIterator<Item = IpAddr>,
    filter: &AddressFilter,
) -> AddressSet {
    let mut all: Vec<IpAddr> = addresses
        .into_iter()
        .filter(|address| filter.is_usable(*address))
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
pub fn current_addresses(filter: &AddressFilter) -> std::io::Result<AddressSet> {
    let interfaces = nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)?;
    let watched_interfaces = interfaces.filter(|interface| {
        filter.interfaces.is_empty() || filter.interfaces.contains(&interface.interface_name)
    });
    let addresses = watched_interfaces.filter_map(|interface| {
        let address = interface.address?;
        if let Some(v4) = address.as_sockaddr_in() {
            Some(IpAddr::V4(v4.ip()))
        } else {
            address.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        }
    });
    Ok(usable_set(addresses, filter))
}

/// Which addresses the watcher reads and how long it lets a burst settle.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Which addresses count.
    pub filter: AddressFilter,
    /// Time without events before the set is reread and compared.
    pub quiet_period: Duration,
}

/// Multicast groups: link changes, IPv4 and IPv6 address changes
/// (RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR in linux/rtnetlink.h).
const NETLINK_GROUPS: u32 = 0x1 | 0x10 | 0x100;

/// Largest pause between attempts to reopen a failed netlink socket.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Message types in a netlink datagram, counted by [`classify`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NetlinkEvents {
    /// RTM_NEWADDR and RTM_DELADDR messages.
    pub address: usize,
    /// RTM_NEWLINK and RTM_DELLINK messages.
    pub link: usize,
    /// Any other message type.
    pub other: usize,
}

impl NetlinkEvents {
    /// Whether the datagram may have changed the address set.
    pub fn is_relevant(&self) -> bool {
        self.address > 0 || self.link > 0
    }
}

/// Counts the message types in one netlink datagram.
///
/// Reads only the 16-byte `nlmsghdr` of each message; the payload is not
/// needed because the set is reread as a whole. A header whose length runs
/// past the datagram or is shorter than a header ends the walk; the messages
/// before it still count.
pub fn classify(datagram: &[u8]) -> NetlinkEvents {
    const HEADER: usize = 16;
    const RTM_NEWLINK: u16 = 16;
    const RTM_DELLINK: u16 = 17;
    const RTM_NEWADDR: u16 = 20;
    const RTM_DELADDR: u16 = 21;
    let mut events = NetlinkEvents::default();
    let mut rest = datagram;
    while rest.len() >= HEADER {
        let length = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        if length < HEADER || length > rest.len() {
            break;
        }
        match kind {
            RTM_NEWADDR | RTM_DELADDR => events.address += 1,
            RTM_NEWLINK | RTM_DELLINK => events.link += 1,
            _ => events.other += 1,
        }
        // Messages are aligned to 4 bytes (NLMSG_ALIGN).
        let advance = (length + 3) & !3;
        rest = rest.get(advance..).unwrap_or(&[]);
    }
    events
}

fn open_netlink_socket() -> std::io::Result<AsyncFd<OwnedFd>> {
    let fd = socket::socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    socket::bind(fd.as_raw_fd(), &NetlinkAddr::new(0, NETLINK_GROUPS))?;
    // `AsyncFd::register` is the unsafe replacement, and this crate forbids
    // unsafe code. Its safety rule, that the descriptor stays open while
    // registered, holds here because the AsyncFd owns the OwnedFd.
    #[allow(deprecated)]
    AsyncFd::new(fd)
}

/// What a wait on the netlink socket found.
enum Wakeup {
    /// Address or link events, or a buffer overrun.
    Change,
    /// Only messages that do not concern addresses.
    Nothing,
}

/// Waits for the socket to become readable and drains it.
async fn next_wakeup(socket: &AsyncFd<OwnedFd>, buffer: &mut [u8]) -> std::io::Result<Wakeup> {
    let mut ready = socket.readable().await?;
    let mut relevant = false;
    loop {
        match socket::recv(socket.get_ref().as_raw_fd(), buffer, MsgFlags::empty()) {
            Ok(0) => break,
            Ok(length) => relevant |= classify(&buffer[..length]).is_relevant(),
            Err(nix::Error::EAGAIN) => {
                ready.clear_ready();
                break;
            }
            Err(nix::Error::ENOBUFS) => {
                tracing::warn!("netlink receive buffer overrun; rereading all addresses");
                relevant = true;
            }
            Err(nix::Error::EINTR) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(if relevant {
        Wakeup::Change
    } else {
        Wakeup::Nothing
    })
}

/// Reads the set and publishes it when it differs from the last one.
fn publish(settings: &WatchSettings, sender: &watch::Sender<AddressSet>) {
    match current_addresses(&settings.filter) {
        Ok(set) => {
            if *sender.borrow() == set {
                tracing::debug!(addresses = ?set, "address events settled with no change");
            } else {
                tracing::info!(addresses = ?set, "usable addresses changed");
                sender.send_replace(set);
            }
        }
        Err(error) => tracing::warn!(%error, "reading the interface addresses failed"),
    }
}

/// Watches the kernel's address events and publishes each settled change of
/// the usable set on `sender`, starting with the current set. Runs until the
/// task is dropped; a netlink error is logged and the socket reopened with
/// doubling back-off, and the set is reread after each reopening.
pub async fn watch(settings: WatchSettings, sender: watch::Sender<AddressSet>) {
    tracing::info!(quiet_period = ?settings.quiet_period, interfaces = ?settings.filter.interfaces, "address watcher started");
    let mut backoff = Duration::from_millis(100);
    // Large enough for a burst of address messages; an overrun is handled anyway.
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let socket = match open_netlink_socket() {
            Ok(socket) => socket,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "cannot open the netlink socket");
                publish(&settings, &sender);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        // Subscribed before reading, so no change between the two is missed.
        publish(&settings, &sender);
        let error = loop {
            match next_wakeup(&socket, &mut buffer).await {
                Ok(Wakeup::Nothing) => continue,
                Ok(Wakeup::Change) => {}
                Err(error) => break error,
            }
            // Let the burst settle: every further event restarts the quiet period.
            let settled = loop {
                match tokio::time::timeout(settings.quiet_period, next_wakeup(&socket, &mut buffer))
                    .await
                {
                    Err(_elapsed) => break Ok(()),
                    Ok(Ok(_)) => continue,
                    Ok(Err(error)) => break Err(error),
                }
            };
            if let Err(error) = settled {
                break error;
            }
            publish(&settings, &sender);
            backoff = Duration::from_millis(100);
        };
        tracing::warn!(%error, retry_in = ?backoff, "netlink socket failed; reopening it");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(length: u32, kind: u16) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&length.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&[0u8; 10]);
        bytes
    }

    #[test]
    fn classify_counts_message_types() {
        let mut datagram = header(20, 20);
        datagram.extend_from_slice(&[0u8; 4]);
        datagram.extend(header(18, 16));
        datagram.extend_from_slice(&[0u8; 2]);
        // Padding to the next 4-byte boundary.
        datagram.extend_from_slice(&[0u8; 2]);
        datagram.extend(header(16, 3));
        let events = classify(&datagram);
        assert_eq!(
            events,
            NetlinkEvents {
                address: 1,
                link: 1,
                other: 1
            }
        );
        assert!(events.is_relevant());
    }

    #[test]
    fn classify_stops_at_bad_length() {
        assert_eq!(classify(&header(8, 20)), NetlinkEvents::default());
        assert_eq!(classify(&header(4096, 20)), NetlinkEvents::default());
        assert_eq!(classify(&[1, 2, 3]), NetlinkEvents::default());
        assert!(!classify(&header(16, 3)).is_relevant());
    }

    #[test]
    fn usable_address_rules() {
        let strict = AddressFilter::default();
        let loopback = AddressFilter {
            include_loopback: true,
            ..AddressFilter::default()
        };
        let zeroconf = AddressFilter {
            include_ipv4_link_local: true,
            ..AddressFilter::default()
        };
        let cases = [
            ("192.0.2.10", &strict, true),
            ("169.254.7.7", &strict, false),
            ("169.254.7.7", &zeroconf, true),
            ("127.0.0.1", &strict, false),
            ("127.0.0.1", &loopback, true),
            ("::1", &loopback, true),
            ("0.0.0.0", &loopback, false),
            ("255.255.255.255", &strict, false),
            ("224.0.0.1", &strict, false),
            ("fe80::1", &zeroconf, false),
            ("febf::1", &strict, false),
            ("fec0::1", &strict, true),
            ("2001:db8::10", &strict, true),
            ("fd00::10", &strict, true),
        ];
        for (text, filter, usable) in cases {
            let address: IpAddr = text.parse().unwrap();
            assert_eq!(filter.is_usable(address), usable, "{text} with {filter:?}");
        }
    }

    #[test]
    fn set_is_sorted_deduplicated_and_bounded() {
        let mut input: Vec<IpAddr> = (0..40u8)
            .rev()
            .map(|last| IpAddr::from([192, 0, 2, last]))
            .collect();
        input.push("192.0.2.1".parse().unwrap());
        let set = usable_set(input, &AddressFilter::default());
        assert_eq!(set.len(), MAX_ADDRESSES);
        assert_eq!(set[0], IpAddr::from([192, 0, 2, 0]));
        assert_eq!(set[MAX_ADDRESSES - 1], IpAddr::from([192, 0, 2, 15]));
        assert!(set.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn current_addresses_include_loopback_when_asked() {
        let mut filter = AddressFilter {
            include_loopback: true,
            ..AddressFilter::default()
        };
        let set = current_addresses(&filter).unwrap();
        assert!(set.iter().any(|address| address.is_loopback()), "{set:?}");
        filter.include_loopback = false;
        let set = current_addresses(&filter).unwrap();
        assert!(!set.iter().any(|address| address.is_loopback()), "{set:?}");
    }

    #[test]
    fn current_addresses_of_named_interface_only() {
        let mut filter = AddressFilter {
            include_loopback: true,
            interfaces: vec!["lo".to_owned()],
            ..AddressFilter::default()
        };
        let set = current_addresses(&filter).unwrap();
        assert!(!set.is_empty());
        assert!(set.iter().all(|address| address.is_loopback()), "{set:?}");
        filter.interfaces = vec!["no-such-interface".to_owned()];
        let set = current_addresses(&filter).unwrap();
        assert!(set.is_empty(), "{set:?}");
    }
}
