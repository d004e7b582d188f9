//! Keys, certificates and the checks that keep a broken pair from being served.
//!
//! - [`issue`]: key generation and self-signed issuance with rcgen.
//! - [`inspect`]: what a browser's certificate viewer shows, as [`CertificateInfo`].
//! - [`csr`]: PKCS#10 requests for a key made on the camera.
//! - [`import`]: an admin's own key, certificate and chain, in every common form.
//! - [`lint`]: warnings about a certificate that is served anyway.
//! - [`CheckedPair`]: a key and certificate chain that parsed and match, ready
//!   for rustls. Every pair goes through it before it is stored or served.

pub mod authority;
pub mod csr;
pub mod import;
pub mod inspect;
pub mod issue;
pub mod lint;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use inspect::CertificateInfo;
pub use issue::{device_ca_leaf, generate_key, self_signed, SelfSignedRequest};

/// Longest validity accepted, so that not_after stays before the year 10000,
/// the last one GeneralizedTime can encode (RFC 5280 4.1.2.5.2).
const LAST_ENCODABLE: time::OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59 UTC);

/// Errors from key generation, issuance and pair checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A key type name that camcertd does not generate.
    #[error(
        "unknown key type {0:?}: use one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096"
    )]
    UnknownKeyType(String),
    /// A validity that is zero or would end after the year 9999.
    #[error("validity_days {days} is out of range: choose 1 to {max} days (not_after must fall before the year 10000)")]
    ValidityOutOfRange {
        /// The requested number of days.
        days: u64,
        /// The largest number of days accepted today.
        max: u64,
    },
    /// A validity longer than a camera-local root may give a leaf.
    #[error("validity_days {days} is too long for a certificate signed by the camera-local root: choose at most {limit} days, because Apple devices refuse longer ones even when the root is trusted")]
    ValidityOverLimit {
        /// The requested number of days.
        days: u64,
        /// The largest number of days accepted.
        limit: i64,
    },
    /// A host name that cannot go into a DNS subjectAltName.
    #[error("{name:?} is not a usable DNS name: {reason}")]
    InvalidDnsName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The private key PEM did not hold exactly one parsable key.
    #[error("private key is not valid PEM or DER: {0}")]
    BadKey(String),
    /// The certificate PEM did not hold a parsable certificate.
    #[error("certificate is not valid: {0}")]
    BadCertificate(String),
    /// The private key does not belong to the certificate's public key.
    #[error("private key does not match the certificate's public key")]
    KeyMismatch,
    /// The key type is not one rustls can sign with.
    #[error("private key type is not supported for TLS: {0}")]
    UnsupportedKey(String),
    /// rcgen or aws-lc-rs failed to generate a key or sign a certificate.
    #[error("generating {what} failed: {message}")]
    Generation {
        /// What was being generated.
        what: &'static str,
        /// The library's message.
        message: String,
    },
}

/// Key types camcertd generates. ECDSA P-256 is the default: fast to sign on
/// small CPUs and accepted by every current browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KeyType {
    /// ECDSA on NIST P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// RSA 2048-bit with PKCS#1 v1.5 SHA-256 signatures.
    Rsa2048,
    /// RSA 3072-bit.
    Rsa3072,
    /// RSA 4096-bit; generation takes seconds on a camera CPU.
    Rsa4096,
}

impl KeyType {
    /// All key types, in the order shown to users.
    pub const ALL: [KeyType; 5] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    /// The name used in configuration, API and command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    /// Whether this is an RSA key, which also needs the keyEncipherment key usage.
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = PkiError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        KeyType::ALL
            .into_iter()
            .find(|key_type| key_type.as_str() == name)
            .ok_or_else(|| PkiError::UnknownKeyType(name.to_owned()))
    }
}

impl TryFrom<String> for KeyType {
    type Error = PkiError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl From<KeyType> for String {
    fn from(key_type: KeyType) -> Self {
        key_type.as_str().to_owned()
    }
}

/// Returns the largest validity in days that still ends before the year 10000.
pub fn max_validity_days() -> u64 {
    let now = time::OffsetDateTime::now_utc();
    (LAST_ENCODABLE - now).whole_days().max(1) as u64
}

/// Checks that a validity in days is at least 1 and ends before the year 10000.
pub fn check_validity_days(days: impl Into<u64>) -> Result<u32, PkiError> {
    let days = days.into();
    let max = max_validity_days();
    if days == 0 || days > max {
        return Err(PkiError::ValidityOutOfRange { days, max });
    }
    // max_validity_days() is below 8,000 years of days, so this fits in u32.
    Ok(days as u32)
}

/// Checks that `name` can be a DNS subjectAltName for this camera.
///
/// Accepts letters, digits and hyphens in dot-separated labels of 1 to 63
/// characters, 253 characters in all. Rejects wildcards (a camera names
/// itself) and names that are IP addresses, which belong in an iPAddress SAN:
/// browsers never match an IP URL against a DNS SAN.
pub fn check_dns_name(name: &str) -> Result<(), PkiError> {
    let reject = |reason| {
        Err(PkiError::InvalidDnsName {
            name: name.to_owned(),
            reason,
        })
    };
    let name_without_dot = name.strip_suffix('.').unwrap_or(name);
    if name_without_dot.is_empty() || name_without_dot.len() > 253 {
        return reject("a DNS name has 1 to 253 characters");
    }
    if name_without_dot.parse::<std::net::IpAddr>().is_ok() {
        return reject("an IP address goes into an iPAddress subjectAltName, not a DNS name");
    }
    for label in name_without_dot.split('.') {
        if label.is_empty() || label.len() > 63 {
            return reject("each dot-separated label has 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return reject("use only letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return reject("a label cannot start or end with a hyphen");
        }
    }
    Ok(())
}

/// A private key and certificate chain that parsed and whose keys match.
///
/// This is the only way material reaches the TLS resolver or the store. The
/// check covers parsing, key type support in rustls and the key match; it does
/// not check dates, names or the chain's signatures.
#[derive(Clone)]
pub struct CheckedPair {
    /// The key and chain as rustls serves them.
    pub certified_key: Arc<CertifiedKey>,
    /// What the leaf certificate contains.
    pub info: CertificateInfo,
    /// PEM of the private key (PKCS#8). Secret: never logged, never served.
    pub key_pem: Zeroizing<String>,
    /// PEM of the leaf certificate.
    pub cert_pem: String,
    /// PEM of the intermediate certificates, leaf issuer first; may be empty.
    pub chain_pem: String,
    /// PEM of the self-signed root the chain ends in, kept in the store but
    /// not sent in the handshake (clients must already trust it); may be empty.
    pub root_pem: String,
}

impl fmt::Debug for CheckedPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedPair")
            .field("serial", &self.info.serial)
            .field("sha256_fingerprint", &self.info.sha256_fingerprint)
            .finish_non_exhaustive()
    }
}

impl CheckedPair {
    /// Parses a PEM key, leaf certificate and chain and checks that they match.
    pub fn from_pem(key_pem: &str, cert_pem: &str, chain_pem: &str) -> Result<Self, PkiError> {
        let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|err| PkiError::BadKey(err.to_string()))?;
        let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|err| PkiError::BadCertificate(err.to_string()))?;
        let mut chain = vec![leaf];
        for cert in CertificateDer::pem_slice_iter(chain_pem.as_bytes()) {
            chain.push(cert.map_err(|err| PkiError::BadCertificate(format!("chain: {err}")))?);
        }

        let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key_der)
            .map_err(|err| PkiError::UnsupportedKey(err.to_string()))?;
        let certified_key = CertifiedKey::new(chain, signing_key);
        certified_key
            .keys_match()
            .map_err(|_| PkiError::KeyMismatch)?;
        let info = CertificateInfo::from_der(&certified_key.cert[0])?;

        Ok(Self {
            certified_key: Arc::new(certified_key),
            info,
            key_pem: Zeroizing::new(key_pem.to_owned()),
            cert_pem: cert_pem.to_owned(),
            chain_pem: chain_pem.to_owned(),
            root_pem: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_names_round_trip() {
        for key_type in KeyType::ALL {
            assert_eq!(key_type.as_str().parse::<KeyType>().unwrap(), key_type);
        }
        let err = "ed25519".parse::<KeyType>().unwrap_err().to_string();
        assert!(err.contains("\"ed25519\""), "{err}");
        assert!(err.contains("ecdsa-p256"), "{err}");
    }

    #[test]
    fn validity_range_is_enforced() {
        assert!(check_validity_days(0u32).is_err());
        assert_eq!(check_validity_days(1u32).unwrap(), 1);
        assert_eq!(check_validity_days(25u32 * 366).unwrap(), 25 * 366);
        let max = max_validity_days();
        assert!(check_validity_days(max).is_ok());
        let err = check_validity_days(max + 1).unwrap_err().to_string();
        assert!(err.contains(&format!("1 to {max} days")), "{err}");
    }

    #[test]
    fn dns_name_rules() {
        let cases = [
            ("camera-0042", true),
            ("cam.example.com", true),
            ("cam.example.com.", true),
            ("", false),
            ("192.0.2.10", false),
            ("2001:db8::1", false),
            ("*.example.com", false),
            ("-cam", false),
            ("cam_1", false),
            ("a..b", false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_dns_name(name).is_ok(), ok, "{name:?}");
        }
        let long_label = "a".repeat(64);
        assert!(check_dns_name(&long_label).is_err());
    }
}
