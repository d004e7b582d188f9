//! Key generation and issuance of server certificates: self-signed, or
//! signed by the camera-local root.

use std::net::IpAddr;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, RsaKeySize, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::authority::Authority;
use super::{check_dns_name, check_validity_days, CheckedPair, KeyType, PkiError};

/// How far not_before lies before the moment of issuance, so that a client
/// whose clock is a little behind the camera's does not see a certificate
/// that is not yet valid.
const BACKDATE: Duration = Duration::hours(1);

/// Octets of randomness in a serial number. RFC 5280 allows up to 20 octets;
/// 16 give 126 random bits after the two fixed top bits.
const SERIAL_OCTETS: usize = 16;

/// What a self-signed certificate is issued for.
#[derive(Debug, Clone)]
pub struct SelfSignedRequest {
    /// Days from now until not_after; checked with [`check_validity_days`].
    pub validity_days: u32,
    /// DNS name in the subject common name and the first DNS SAN. `None`
    /// puts the first IP address in the common name.
    pub hostname: Option<String>,
    /// Further DNS SANs.
    pub extra_names: Vec<String>,
    /// iPAddress SANs: the camera's usable addresses.
    pub addresses: Vec<IpAddr>,
    /// The moment of issuance: now, or the build time when the clock is
    /// unset, so that no certificate is dated 1970.
    pub issued_at: OffsetDateTime,
}

/// Returns the not_before for a certificate issued at `issued_at`.
pub(crate) fn backdated(issued_at: OffsetDateTime) -> OffsetDateTime {
    issued_at - BACKDATE
}

/// Generates a new private key of the given type.
///
/// RSA generation takes from a fraction of a second (2048) to several seconds
/// (4096) on a camera CPU; call it from a blocking thread.
pub fn generate_key(key_type: KeyType) -> Result<KeyPair, PkiError> {
    let generated = match key_type {
        KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyType::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        KeyType::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
        KeyType::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
    };
    generated.map_err(|err| PkiError::Generation {
        what: "private key",
        message: err.to_string(),
    })
}

/// Returns a positive random serial number of [`SERIAL_OCTETS`] octets.
///
/// The top bit is cleared so the DER INTEGER is positive without a leading
/// zero octet, and the next bit is set so the length is always the same.
pub(crate) fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut octets = [0u8; SERIAL_OCTETS];
    aws_lc_rs::rand::fill(&mut octets).map_err(|_| PkiError::Generation {
        what: "serial number",
        message: "the system random number generator failed".into(),
    })?;
    octets[0] = (octets[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&octets))
}

/// Issues a self-signed server certificate for `key` and checks the result.
///
/// The certificate carries basicConstraints CA:FALSE, EKU serverAuth, key
/// usage digitalSignature (plus keyEncipherment for RSA, which TLS 1.2 RSA key
/// exchange clients expect) and a subject naming the camera. rcgen encodes
/// dates from 2050 on as GeneralizedTime, as RFC 5280 4.1.2.5 requires.
/// Host names are checked with [`check_dns_name`]; addresses are taken as given.
pub fn self_signed(
    request: &SelfSignedRequest,
    key: &KeyPair,
    key_type: KeyType,
) -> Result<CheckedPair, PkiError> {
    let params = server_params(request, key_type, "camcertd self-signed")?;
    let certificate = params
        .self_signed(key)
        .map_err(|err| PkiError::Generation {
            what: "self-signed certificate",
            message: err.to_string(),
        })?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    CheckedPair::from_pem(&key_pem, &certificate.pem(), "")
}

/// Issues a server certificate like [`self_signed`], but signed by the
/// camera-local root `authority`. The root is kept with the pair as its
/// stored root and not sent, because clients hold it as their trust anchor.
pub fn device_ca_leaf(
    request: &SelfSignedRequest,
    key: &KeyPair,
    key_type: KeyType,
    authority: &Authority,
) -> Result<CheckedPair, PkiError> {
    let mut params = server_params(request, key_type, "camcertd device-ca")?;
    // Verifiers such as OpenSSL in strict mode require the link to the root's key.
    params.use_authority_key_identifier_extension = true;
    let certificate = authority.sign(params, key)?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    let mut pair = CheckedPair::from_pem(&key_pem, &certificate.pem(), "")?;
    pair.root_pem = authority.cert_pem.clone();
    Ok(pair)
}

/// Starts the parameters of a TLS server leaf valid from `issued_at` (less
/// the backdating) to `not_after`: a random serial, CA:FALSE, EKU
/// serverAuth, key usage digitalSignature (plus keyEncipherment for RSA,
/// which TLS 1.2 RSA key exchange clients expect).
pub(crate) fn server_leaf(
    key_type: KeyType,
    issued_at: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.not_before = backdated(issued_at);
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if key_type.is_rsa() {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    Ok(params)
}

/// Builds the parameters of a server certificate for `request`.
fn server_params(
    request: &SelfSignedRequest,
    key_type: KeyType,
    organization: &str,
) -> Result<CertificateParams, PkiError> {
    let validity_days = check_validity_days(request.validity_days)?;
    let now = request.issued_at;

    let mut names: Vec<&str> = Vec::new();
    for name in request.hostname.iter().chain(&request.extra_names) {
        check_dns_name(name)?;
        let name = name.strip_suffix('.').unwrap_or(name);
        if !names.iter().any(|known| known.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
    }

    let mut params = server_leaf(
        key_type,
        now,
        now + Duration::days(i64::from(validity_days)),
    )?;

    let common_name = match (names.first(), request.addresses.first()) {
        (Some(name), _) => (*name).to_owned(),
        (None, Some(address)) => address.to_string(),
        (None, None) => "camera".to_owned(),
    };
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    subject.push(DnType::OrganizationName, organization);
    params.distinguished_name = subject;

    for name in &names {
        let ia5 = (*name).try_into().map_err(|_| PkiError::InvalidDnsName {
            name: (*name).to_owned(),
            reason: "not an IA5 string",
        })?;
        params.subject_alt_names.push(SanType::DnsName(ia5));
    }
    for address in &request.addresses {
        params.subject_alt_names.push(SanType::IpAddress(*address));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use x509_parser::prelude::*;

    fn request(days: u32) -> SelfSignedRequest {
        SelfSignedRequest {
            validity_days: days,
            hostname: Some("cam-0042".into()),
            extra_names: vec!["cam-0042.example.com".into(), "CAM-0042".into()],
            addresses: vec![
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)),
            ],
            issued_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn self_signed_has_server_extensions() {
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        let pair = self_signed(&request(397), &key, KeyType::EcdsaP256).unwrap();
        let der = &pair.certified_key.cert[0];
        let (_, cert) = X509Certificate::from_der(der).unwrap();

        let constraints = cert.basic_constraints().unwrap().unwrap().value;
        assert!(!constraints.ca);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth);
        let usage = cert.key_usage().unwrap().unwrap().value;
        assert!(usage.digital_signature());
        assert!(!usage.key_encipherment());

        let sans = &cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names;
        assert!(sans.contains(&GeneralName::DNSName("cam-0042")));
        assert!(sans.contains(&GeneralName::DNSName("cam-0042.example.com")));
        assert_eq!(
            sans.len(),
            4,
            "duplicate host name differing in case is dropped: {sans:?}"
        );
        assert!(sans.contains(&GeneralName::IPAddress(&[192, 0, 2, 10])));
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10).octets();
        assert!(sans.contains(&GeneralName::IPAddress(&v6)));

        let serial = cert.raw_serial();
        assert_eq!(serial.len(), SERIAL_OCTETS);
        assert_eq!(serial[0] & 0xc0, 0x40, "positive, no leading zero");
        assert_eq!(pair.info.subject, "CN=cam-0042, O=camcertd self-signed");
    }

    #[test]
    fn rsa_key_gets_key_encipherment() {
        let key = generate_key(KeyType::Rsa2048).unwrap();
        let pair = self_signed(&request(30), &key, KeyType::Rsa2048).unwrap();
        let (_, cert) = X509Certificate::from_der(&pair.certified_key.cert[0]).unwrap();
        let usage = cert.key_usage().unwrap().unwrap().value;
        assert!(usage.digital_signature());
        assert!(usage.key_encipherment());
        assert_eq!(pair.info.key_type, "rsa-2048");
    }

    #[test]
    fn dates_from_2050_use_generalized_time() {
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        let pair = self_signed(&request(25 * 366), &key, KeyType::EcdsaP256).unwrap();
        let (_, cert) = X509Certificate::from_der(&pair.certified_key.cert[0]).unwrap();
        let not_after = cert.validity().not_after;
        assert!(not_after.to_datetime().year() >= 2050);
        assert!(
            !not_after.is_utctime(),
            "not_after in 2050 or later must be GeneralizedTime"
        );
        assert!(
            cert.validity().not_before.is_utctime(),
            "not_before before 2050 stays UTCTime"
        );
    }

    #[test]
    fn serials_differ_between_certificates() {
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        let first = self_signed(&request(1), &key, KeyType::EcdsaP256).unwrap();
        let second = self_signed(&request(1), &key, KeyType::EcdsaP256).unwrap();
        assert_ne!(first.info.serial, second.info.serial);
        assert_eq!(
            first.info.sha256_spki, second.info.sha256_spki,
            "same key kept"
        );
    }

    #[test]
    fn invalid_hostname_is_rejected() {
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        let mut bad = request(30);
        bad.hostname = Some("192.0.2.10".into());
        let err = self_signed(&bad, &key, KeyType::EcdsaP256)
            .unwrap_err()
            .to_string();
        assert!(err.contains("iPAddress"), "{err}");
    }
}
