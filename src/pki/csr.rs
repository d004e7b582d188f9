//! Certificate signing requests (PKCS#10) for a key made on the camera.

use std::net::IpAddr;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use super::{check_dns_name, PkiError};

/// Creates a PEM CSR for `key` naming `hostname` in the subject and every
/// name and address as a subjectAltName. The signature proves possession of
/// the key; the key itself never leaves the camera.
pub fn create_csr(
    key: &KeyPair,
    hostname: Option<&str>,
    extra_names: &[String],
    addresses: &[IpAddr],
) -> Result<String, PkiError> {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    let common_name = hostname
        .map(str::to_owned)
        .or_else(|| addresses.first().map(ToString::to_string))
        .unwrap_or_else(|| "camera".to_owned());
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    for name in hostname
        .into_iter()
        .chain(extra_names.iter().map(String::as_str))
    {
        check_dns_name(name)?;
        let ia5 = name.try_into().map_err(|_| PkiError::InvalidDnsName {
            name: name.to_owned(),
            reason: "not an IA5 string",
        })?;
        params.subject_alt_names.push(SanType::DnsName(ia5));
    }
    for address in addresses {
        params.subject_alt_names.push(SanType::IpAddress(*address));
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let request = params
        .serialize_request(key)
        .map_err(|err| PkiError::Generation {
            what: "certificate signing request",
            message: err.to_string(),
        })?;
    request.pem().map_err(|err| PkiError::Generation {
        what: "certificate signing request PEM",
        message: err.to_string(),
    })
}
