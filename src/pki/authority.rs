//! Certificate authorities: the camera-local root that signs leaves in
//! device-ca mode, and the manufacturer root and device certificates made on
//! the production line.
//!
//! A camera-local root carries name constraints, so that even a client that
//! trusts it accepts only certificates for the camera's own address ranges
//! and names. Its key never leaves the camera.

use std::net::IpAddr;
use std::str::FromStr;

use ::time::{Duration, OffsetDateTime};
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, GeneralSubtree,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};
use x509_parser::prelude::*;
use zeroize::Zeroizing;

use super::inspect::CertificateInfo;
use super::issue::{backdated, random_serial, server_leaf};
use super::{CheckedPair, KeyType, PkiError};

/// An IP address range such as `192.168.0.0/16`, as name constraints hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// The first address of the range.
    pub network: IpAddr,
    /// Leading bits that every address in the range shares.
    pub prefix: u8,
}

impl IpRange {
    /// Whether `address` lies in the range. IPv4 and IPv6 never match each other.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }

    /// Reads the address and mask of a name constraint (8 or 16+16 octets).
    fn from_constraint(octets: &[u8]) -> Option<IpRange> {
        let (network, mask): (IpAddr, &[u8]) = match octets.len() {
            8 => (
                IpAddr::from(<[u8; 4]>::try_from(&octets[..4]).ok()?),
                &octets[4..],
            ),
            32 => (
                IpAddr::from(<[u8; 16]>::try_from(&octets[..16]).ok()?),
                &octets[16..],
            ),
            _ => return None,
        };
        let prefix = mask.iter().map(|byte| byte.count_ones()).sum::<u32>();
        Some(IpRange {
            network,
            prefix: u8::try_from(prefix).ok()?,
        })
    }
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = text.split_once('/').ok_or_else(|| {
            format!(
                "{text:?} has no prefix length; write it as ADDRESS/BITS, such as 192.168.0.0/16"
            )
        })?;
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{address:?} in {text:?} is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|bits| *bits <= max)
            .ok_or_else(|| {
                format!("prefix length {prefix:?} in {text:?} is out of range: choose 0 to {max}")
            })?;
        Ok(IpRange { network, prefix })
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.network, self.prefix)
    }
}

/// What a new root certificate is made for.
#[derive(Debug, Clone)]
pub struct RootRequest {
    /// The subject common name, saying whose root it is.
    pub common_name: String,
    /// The subject organization.
    pub organization: String,
    /// Calendar years from issuance until not_after.
    pub validity_years: u32,
    /// The moment of issuance.
    pub issued_at: OffsetDateTime,
    /// Name constraints. `None` leaves the root unconstrained, as for a
    /// manufacturer root. `Some` limits it to these ranges and DNS names, and
    /// to signing leaves only (path length 0).
    pub constraints: Option<(Vec<IpRange>, Vec<String>)>,
}

/// A CA certificate with its private key, able to sign.
pub struct Authority {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// The CA's private key, PEM. Secret: never logged or exported.
    pub key_pem: Zeroizing<String>,
    /// The CA certificate's fields.
    pub info: CertificateInfo,
    /// The CA certificate's not_after.
    pub not_after: OffsetDateTime,
    /// The IP ranges its name constraints permit; `None` when it has no IP
    /// constraint, so any address is allowed.
    permitted_ranges: Option<Vec<IpRange>>,
    key: KeyPair,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Authority")
            .field("subject", &self.info.subject)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Returns `at` moved by `years` calendar years; 29 February becomes 28
/// February in a year without it.
pub fn add_years(at: OffsetDateTime, years: u32) -> OffsetDateTime {
    let year = at.year() + i32::try_from(years).unwrap_or(i32::MAX / 2);
    at.replace_year(year)
        .or_else(|_| {
            at.replace_day(28)
                .and_then(|moved| moved.replace_year(year))
        })
        .unwrap_or(at + Duration::days(365 * i64::from(years)))
}

impl Authority {
    /// Loads a CA certificate and its key and checks that they belong
    /// together and that the certificate is a CA.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|err| PkiError::BadKey(err.to_string()))?;
        let der = ::pem::parse(cert_pem)
            .map_err(|err| PkiError::BadCertificate(err.to_string()))?
            .into_contents();
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|err| PkiError::BadCertificate(err.to_string()))?;
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(PkiError::KeyMismatch);
        }
        if !cert.is_ca() {
            return Err(PkiError::BadCertificate(
                "the certificate is not a CA (basicConstraints CA:TRUE is missing)".into(),
            ));
        }
        let permitted_ranges = match cert.name_constraints() {
            Ok(Some(extension)) => {
                let ranges: Vec<IpRange> = extension
                    .value
                    .permitted_subtrees
                    .iter()
                    .flatten()
                    .filter_map(|subtree| match subtree.base {
                        GeneralName::IPAddress(octets) => IpRange::from_constraint(octets),
                        _ => None,
                    })
                    .collect();
                (!ranges.is_empty()).then_some(ranges)
            }
            _ => None,
        };
        let info = CertificateInfo::from_der(&der)?;
        let not_after = cert.validity().not_after.to_datetime();
        Ok(Authority {
            cert_pem: cert_pem.to_owned(),
            key_pem: Zeroizing::new(key_pem.to_owned()),
            info,
            not_after,
            permitted_ranges,
            key,
        })
    }

    /// Whether the name constraints allow `address` in a leaf.
    pub fn permits(&self, address: IpAddr) -> bool {
        self.permitted_ranges
            .as_ref()
            .is_none_or(|ranges| ranges.iter().any(|range| range.contains(address)))
    }

    /// Signs `params` for `public_key`, keeping not_after inside the CA's
    /// own validity.
    pub fn sign(
        &self,
        mut params: CertificateParams,
        public_key: &KeyPair,
    ) -> Result<rcgen::Certificate, PkiError> {
        if params.not_after > self.not_after {
            params.not_after = self.not_after;
        }
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key).map_err(|err| {
            PkiError::BadCertificate(format!("the CA certificate cannot sign: {err}"))
        })?;
        params
            .signed_by(public_key, &issuer)
            .map_err(|err| PkiError::Generation {
                what: "certificate signed by the CA",
                message: err.to_string(),
            })
    }
}

/// Creates a root CA with a new key of `key_type`.
pub fn create_root(request: &RootRequest, key_type: KeyType) -> Result<Authority, PkiError> {
    let key = super::generate_key(key_type)?;
    let mut params = CertificateParams::default();
    params.not_before = backdated(request.issued_at);
    params.not_after = add_years(request.issued_at, request.validity_years);
    params.serial_number = Some(random_serial()?);
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, request.common_name.as_str());
    subject.push(DnType::OrganizationName, request.organization.as_str());
    params.distinguished_name = subject;
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    if let Some((ranges, names)) = &request.constraints {
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let mut permitted: Vec<GeneralSubtree> = ranges
            .iter()
            .map(|range| {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(range.network, range.prefix))
            })
            .collect();
        for name in names {
            let name = name.trim_start_matches('.').trim_end_matches('.');
            super::check_dns_name(name)?;
            permitted.push(GeneralSubtree::DnsName(name.to_owned()));
        }
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: Vec::new(),
        });
    }
    let certificate = params
        .self_signed(&key)
        .map_err(|err| PkiError::Generation {
            what: "root certificate",
            message: err.to_string(),
        })?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    Authority::from_pem(&certificate.pem(), &key_pem)
}

/// What a factory device certificate is made for.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    /// The camera's serial number, put in the subject.
    pub serial_number: String,
    /// The camera model, the first part of the common name.
    pub model: String,
    /// The factory addresses, as iPAddress subjectAltNames.
    pub addresses: Vec<IpAddr>,
    /// Calendar years from issuance until not_after.
    pub validity_years: u32,
    /// The moment of issuance.
    pub issued_at: OffsetDateTime,
}

/// Issues a factory device certificate signed by the manufacturer root,
/// with a new key of `key_type`. The returned pair contains the root as its
/// stored root, which is not sent in the handshake.
pub fn device_certificate(
    request: &DeviceRequest,
    key_type: KeyType,
    manufacturer: &Authority,
) -> Result<CheckedPair, PkiError> {
    let key = super::generate_key(key_type)?;
    let mut params = server_leaf(
        key_type,
        request.issued_at,
        add_years(request.issued_at, request.validity_years),
    )?;
    let mut subject = DistinguishedName::new();
    subject.push(
        DnType::CommonName,
        format!("{} {}", request.model, request.serial_number),
    );
    // serialNumber (2.5.4.5), the attribute for a device's serial number.
    subject.push(
        DnType::CustomDnType(vec![2, 5, 4, 5]),
        rcgen::DnValue::PrintableString(
            request
                .serial_number
                .as_str()
                .try_into()
                .map_err(|_| PkiError::BadCertificate(format!(
                    "serial number {:?} has characters a certificate cannot hold; use letters, digits, spaces and '()+,-./:=?",
                    request.serial_number
                )))?,
        ),
    );
    if let Some(organization) = manufacturer_organization(manufacturer) {
        subject.push(DnType::OrganizationName, organization);
    }
    params.distinguished_name = subject;
    params.subject_alt_names = request
        .addresses
        .iter()
        .map(|address| SanType::IpAddress(*address))
        .collect();
    if params.not_after > manufacturer.not_after {
        return Err(PkiError::BadCertificate(format!(
            "the device certificate would outlive the manufacturer root, which expires {}; create a root valid for longer",
            manufacturer.info.not_after
        )));
    }
    params.use_authority_key_identifier_extension = true;
    let certificate = manufacturer.sign(params, &key)?;
    let key_pem = Zeroizing::new(key.serialize_pem());
    let mut pair = CheckedPair::from_pem(&key_pem, &certificate.pem(), "")?;
    pair.root_pem = manufacturer.cert_pem.clone();
    Ok(pair)
}

fn manufacturer_organization(authority: &Authority) -> Option<String> {
    let der = ::pem::parse(&authority.cert_pem).ok()?.into_contents();
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    let organization = cert
        .subject()
        .iter_organization()
        .next()?
        .as_str()
        .ok()?
        .to_owned();
    Some(organization)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_match() {
        let range: IpRange = "192.168.0.0/16".parse().unwrap();
        assert!(range.contains("192.168.44.3".parse().unwrap()));
        assert!(!range.contains("192.169.0.1".parse().unwrap()));
        assert!(!range.contains("::ffff:192.168.0.1".parse().unwrap()));
        let ula: IpRange = "fc00::/7".parse().unwrap();
        assert!(ula.contains("fd12::1".parse().unwrap()));
        let everything: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains("203.0.113.1".parse().unwrap()));
    }

    #[test]
    fn bad_ranges_name_the_value() {
        let error = "10.0.0.0".parse::<IpRange>().unwrap_err();
        assert!(error.contains("no prefix length"), "{error}");
        let error = "10.0.0.0/33".parse::<IpRange>().unwrap_err();
        assert!(error.contains("choose 0 to 32"), "{error}");
        let error = "camera/8".parse::<IpRange>().unwrap_err();
        assert!(error.contains("not an IP address"), "{error}");
    }

    #[test]
    fn leap_day_moves_to_february_28() {
        let leap = ::time::macros::datetime!(2028-02-29 12:00 UTC);
        assert_eq!(
            add_years(leap, 1),
            ::time::macros::datetime!(2029-02-28 12:00 UTC)
        );
        assert_eq!(
            add_years(leap, 4),
            ::time::macros::datetime!(2032-02-29 12:00 UTC)
        );
    }

    #[test]
    fn constrained_root_reads_back_its_ranges() {
        let request = RootRequest {
            common_name: "cam-0042 local root".into(),
            organization: "camcertd device-ca".into(),
            validity_years: 25,
            issued_at: OffsetDateTime::now_utc(),
            constraints: Some((
                vec!["10.0.0.0/8".parse().unwrap(), "fc00::/7".parse().unwrap()],
                vec!["cam-0042".into(), ".local".into()],
            )),
        };
        let root = create_root(&request, KeyType::EcdsaP256).unwrap();
        assert!(root.permits("10.1.2.3".parse().unwrap()));
        assert!(root.permits("fd00::5".parse().unwrap()));
        assert!(!root.permits("192.0.2.10".parse().unwrap()));

        let reloaded = Authority::from_pem(&root.cert_pem, &root.key_pem).unwrap();
        assert!(!reloaded.permits("192.0.2.10".parse().unwrap()));
        assert_eq!(
            reloaded.info.sha256_fingerprint,
            root.info.sha256_fingerprint
        );
    }
}
