//! Certificate inspection into the fields a browser's certificate viewer shows.

use std::net::IpAddr;

use ::time::format_description::well_known::Rfc3339;
use ::time::OffsetDateTime;
use serde::{Deserialize, Serialize};
use x509_parser::objects::{oid2sn, oid_registry};
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

use super::PkiError;

/// The fields of a certificate that the API, the command line and the logs show.
///
/// Fingerprints and the serial are colon-separated upper-case hex, the form
/// browsers display, so an admin can compare them by eye.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    /// Subject distinguished name, such as `CN=cam-0042, O=camcertd self-signed`.
    pub subject: String,
    /// Issuer distinguished name; equal to the subject when self-signed.
    pub issuer: String,
    /// Serial number as colon-separated upper-case hex of its DER octets.
    pub serial: String,
    /// Start of validity, RFC 3339 in UTC.
    pub not_before: String,
    /// End of validity, RFC 3339 in UTC.
    pub not_after: String,
    /// DNS names from the subjectAltName extension.
    pub san_dns: Vec<String>,
    /// IP addresses from the subjectAltName extension.
    pub san_ip: Vec<IpAddr>,
    /// Key type and size, such as `ecdsa-p256` or `rsa-2048`.
    pub key_type: String,
    /// Signature algorithm name, such as `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// SHA-256 over the whole DER certificate.
    pub sha256_fingerprint: String,
    /// SHA-1 over the whole DER certificate, still shown by browsers.
    pub sha1_fingerprint: String,
    /// SHA-256 over the SubjectPublicKeyInfo, the value clients pin; it stays
    /// the same when a certificate is reissued with the same key.
    pub sha256_spki: String,
}

/// Formats bytes as colon-separated upper-case hex.
pub fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            out.push(':');
        }
        out.push_str(&format!("{byte:02X}"));
    }
    out
}

fn digest_hex(algorithm: &'static aws_lc_rs::digest::Algorithm, data: &[u8]) -> String {
    colon_hex(aws_lc_rs::digest::digest(algorithm, data).as_ref())
}

fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_else(|_| time.to_string())
}

/// Names a public key by type and size, as in [`crate::pki::KeyType`] where it
/// is one of those; other keys get a descriptive name such as `ed25519`.
fn key_type_name(spki: &SubjectPublicKeyInfo<'_>) -> String {
    use x509_parser::oid_registry::*;
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_SIG_ED25519 {
        return "ed25519".into();
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("rsa-{}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|params| params.as_oid().ok());
            match curve {
                Some(oid) if oid == OID_EC_P256 => "ecdsa-p256".into(),
                Some(oid) if oid == OID_NIST_EC_P384 => "ecdsa-p384".into(),
                Some(oid) if oid == OID_NIST_EC_P521 => "ecdsa-p521".into(),
                Some(oid) => format!("ec-{oid}"),
                None => "ec-unknown-curve".into(),
            }
        }
        Ok(PublicKey::DSA(_)) => "dsa".into(),
        _ => oid2sn(algorithm, oid_registry())
            .map(str::to_owned)
            .unwrap_or_else(|_| algorithm.to_id_string()),
    }
}

impl CertificateInfo {
    /// Reads the fields from one DER certificate. Parses only; it validates nothing.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|err| PkiError::BadCertificate(err.to_string()))?;

        let mut san_dns = Vec::new();
        let mut san_ip = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => san_dns.push((*dns).to_owned()),
                    GeneralName::IPAddress(octets) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*octets) {
                            san_ip.push(IpAddr::from(v4));
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*octets) {
                            san_ip.push(IpAddr::from(v6));
                        }
                    }
                    _ => {}
                }
            }
        }

        let signature_oid = &cert.signature_algorithm.algorithm;
        let signature_algorithm = oid2sn(signature_oid, oid_registry())
            .map(str::to_owned)
            .unwrap_or_else(|_| signature_oid.to_id_string());

        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: colon_hex(cert.raw_serial()),
            not_before: rfc3339(cert.validity().not_before.to_datetime()),
            not_after: rfc3339(cert.validity().not_after.to_datetime()),
            san_dns,
            san_ip,
            key_type: key_type_name(cert.public_key()),
            signature_algorithm,
            sha256_fingerprint: digest_hex(&aws_lc_rs::digest::SHA256, der),
            sha1_fingerprint: digest_hex(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der),
            sha256_spki: digest_hex(&aws_lc_rs::digest::SHA256, cert.public_key().raw),
        })
    }

    /// Returns not_before as a time, for validity decisions.
    pub fn not_before_time(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(&self.not_before, &Rfc3339).ok()
    }

    /// Returns not_after as a time, for expiry decisions.
    pub fn not_after_time(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(&self.not_after, &Rfc3339).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_hex_matches_browser_form() {
        assert_eq!(colon_hex(&[0x0a, 0xff, 0x10]), "0A:FF:10");
        assert_eq!(colon_hex(&[]), "");
    }
}
