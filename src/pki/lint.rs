//! Warnings about a certificate that is served anyway: each says what
//! clients will do and what the admin can change.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use x509_parser::prelude::*;

/// Longest validity Apple platforms (iOS 13, macOS 10.15 and later) accept
/// for a TLS server certificate, even one the user trusts.
pub const APPLE_MAX_VALIDITY_DAYS: i64 = 825;

/// What a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// The serial number is negative, which RFC 5280 forbids.
    NegativeSerial,
    /// No subjectAltName: Chrome and Firefox match names only there.
    NoSubjectAltName,
    /// A DNS subjectAltName holds an IP address, which browsers never match.
    IpAsDnsName,
    /// basicConstraints CA:TRUE on a server certificate; Firefox refuses it.
    CaCertificate,
    /// Valid for more than 825 days; Apple devices refuse it.
    LongValidity,
    /// A current camera address is not named in the certificate.
    AddressNotCovered,
    /// The certificate's issuer is not in the uploaded chain.
    IssuerNotFound,
    /// A certificate above the leaf is not a CA (no basicConstraints
    /// CA:TRUE), so clients refuse the chain.
    IssuerNotCa,
}

/// One warning: its kind and a sentence on what happens and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// What the warning is about.
    pub kind: WarningKind,
    /// What clients will do and what the admin can change.
    pub message: String,
}

impl Warning {
    fn new(kind: WarningKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Lists the warnings for the leaf certificate `der` served at the camera's
/// `addresses`. Parses only; a certificate that does not parse gets none.
pub fn leaf_warnings(der: &[u8], addresses: &[IpAddr]) -> Vec<Warning> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let mut warnings = Vec::new();

    // A DER INTEGER is negative when the top bit of its first octet is set.
    if cert
        .raw_serial()
        .first()
        .is_some_and(|byte| byte & 0x80 != 0)
    {
        warnings.push(Warning::new(
            WarningKind::NegativeSerial,
            "the serial number is negative, which RFC 5280 forbids; some clients reject it, so ask the issuing CA for a new certificate",
        ));
    }

    let mut san_ips: Vec<IpAddr> = Vec::new();
    match cert.subject_alternative_name() {
        Ok(Some(san)) => {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) if dns.parse::<IpAddr>().is_ok() => {
                        warnings.push(Warning::new(
                            WarningKind::IpAsDnsName,
                            format!("the DNS name {dns} is an IP address; browsers match IP addresses only against IP address entries, so request the certificate with {dns} as an IP address entry"),
                        ));
                    }
                    GeneralName::IPAddress(octets) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*octets) {
                            san_ips.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*octets) {
                            san_ips.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => warnings.push(Warning::new(
            WarningKind::NoSubjectAltName,
            "the certificate has no subjectAltName; Chrome, Edge, Firefox and Safari match names only there and show a name error, so request one with the camera's DNS names and IP addresses",
        )),
    }

    if let Ok(Some(constraints)) = cert.basic_constraints() {
        if constraints.value.ca {
            warnings.push(Warning::new(
                WarningKind::CaCertificate,
                "the certificate is marked as a CA (CA:TRUE); Firefox refuses CA certificates as server certificates, so request one with CA:FALSE",
            ));
        }
    }

    let validity = cert.validity();
    let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
    if days > APPLE_MAX_VALIDITY_DAYS {
        warnings.push(Warning::new(
            WarningKind::LongValidity,
            format!("the certificate is valid for {days} days; iPhones, iPads and Macs refuse server certificates valid for more than {APPLE_MAX_VALIDITY_DAYS} days even when trusted, so choose {APPLE_MAX_VALIDITY_DAYS} days or fewer for Apple clients"),
        ));
    }

    for address in addresses {
        if !san_ips.contains(address) {
            warnings.push(Warning::new(
                WarningKind::AddressNotCovered,
                format!("the camera's address {address} is not in the certificate; browsers opening https://{} show a name error, so add it or use a name the certificate has", url_host(*address)),
            ));
        }
    }
    warnings
}

/// Formats an address for a URL: IPv6 in brackets.
pub fn url_host(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}
