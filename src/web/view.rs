//! The admin page's view of a [`Status`] in the reader's language, and the
//! templates that render it.

use askama::Template;
use time::OffsetDateTime;

use super::i18n::{fill, Catalogue, Lang};
use crate::manager::Status;
use crate::pki::import::RejectKind;
use crate::pki::lint::{url_host, WarningKind, APPLE_MAX_VALIDITY_DAYS};
use crate::pki::{CertificateInfo, KeyType};
use crate::store::Origin;

/// A certificate that is not renewed on the camera gets a warning this many
/// days before it expires.
pub const EXPIRING_SOON_DAYS: i64 = 30;

/// The served certificate as the page lists it.
pub struct CertificateView {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub valid_from: String,
    pub expires_on: String,
    /// "N days left" or "expired N days ago".
    pub remaining: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    pub key_type: String,
    pub signature_algorithm: String,
    pub sha256_fingerprint: String,
    pub sha1_fingerprint: String,
    pub origin: &'static str,
    pub installed: String,
    /// The installation reason, in the page's language.
    pub reason: String,
    pub chain: Vec<ChainEntry>,
    /// Whether the chain ends in a self-signed root (see `Status::reaches_root`).
    pub reaches_root: bool,
    pub addresses: Vec<AddressRow>,
    pub warnings: Vec<String>,
}

/// One certificate above the leaf.
pub struct ChainEntry {
    pub subject: String,
    pub issuer: String,
    pub expires_on: String,
    pub sha256_fingerprint: String,
}

/// One camera address and whether the certificate names it.
pub struct AddressRow {
    pub address: String,
    pub covered: bool,
}

fn format_date(lang: Lang, rfc3339: &str, parsed: Option<OffsetDateTime>) -> String {
    parsed.map_or_else(|| rfc3339.to_owned(), |time| lang.date(time))
}

/// Whole days from `now` to `then`, rounded down; negative when `then` has passed.
fn days_between(now: OffsetDateTime, then: OffsetDateTime) -> i64 {
    (then - now).whole_days()
}

fn origin_name(t: &Catalogue, origin: Origin) -> &'static str {
    match origin {
        Origin::Factory => t.origin_factory,
        Origin::SelfSigned => t.origin_self_signed,
        Origin::DeviceCa => t.origin_device_ca,
        Origin::Csr => t.origin_csr,
        Origin::Uploaded => t.origin_uploaded,
    }
}

impl CertificateView {
    /// Builds the view of `status` for a reader of `lang` at time `now`.
    pub fn new(status: &Status, lang: Lang, now: OffsetDateTime) -> Self {
        let t = lang.catalogue();
        let info = &status.info;
        let not_after = info.not_after_time();
        let remaining = match not_after.map(|time| days_between(now, time)) {
            Some(days) if days >= 0 => fill(t.days_left, &[("days", &days.to_string())]),
            Some(days) => fill(t.expired_days_ago, &[("days", &(-days).to_string())]),
            None => String::new(),
        };
        let installed = time::OffsetDateTime::parse(
            &status.installed,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or_else(|_| status.installed.clone(), |time| lang.date_time(time));
        Self {
            subject: info.subject.clone(),
            issuer: info.issuer.clone(),
            serial: info.serial.clone(),
            valid_from: format_date(lang, &info.not_before, info.not_before_time()),
            expires_on: format_date(lang, &info.not_after, not_after),
            remaining,
            san_dns: info.san_dns.clone(),
            san_ip: info.san_ip.iter().map(ToString::to_string).collect(),
            key_type: info.key_type.clone(),
            signature_algorithm: info.signature_algorithm.clone(),
            sha256_fingerprint: info.sha256_fingerprint.clone(),
            sha1_fingerprint: info.sha1_fingerprint.clone(),
            origin: origin_name(t, status.origin),
            installed,
            reason: lang.reason(&status.reason),
            reaches_root: status.reaches_root,
            chain: status
                .chain
                .iter()
                .map(|above| chain_entry(above, lang))
                .collect(),
            addresses: status
                .addresses
                .iter()
                .map(|coverage| AddressRow {
                    address: coverage.address.to_string(),
                    covered: coverage.covered,
                })
                .collect(),
            warnings: warnings(status, lang, now),
        }
    }
}

fn chain_entry(info: &CertificateInfo, lang: Lang) -> ChainEntry {
    ChainEntry {
        subject: info.subject.clone(),
        issuer: info.issuer.clone(),
        expires_on: format_date(lang, &info.not_after, info.not_after_time()),
        sha256_fingerprint: info.sha256_fingerprint.clone(),
    }
}

/// Returns whether a key type name such as `rsa-1024` is an RSA key under
/// 2048 bits, which browsers reject.
fn is_weak_key(key_type: &str) -> bool {
    key_type
        .strip_prefix("rsa-")
        .and_then(|bits| bits.parse::<u32>().ok())
        .is_some_and(|bits| bits < 2048)
}

/// Returns whether a signature algorithm name uses SHA-1 or MD5.
fn is_weak_signature(algorithm: &str) -> bool {
    let lower = algorithm.to_ascii_lowercase();
    lower.contains("sha1") || lower.contains("md5")
}

/// Lists one plain sentence per problem of the served certificate: what
/// happens and what to do.
pub fn warnings(status: &Status, lang: Lang, now: OffsetDateTime) -> Vec<String> {
    let t = lang.catalogue();
    let info = &status.info;
    let mut sentences = Vec::new();

    // With the clock unset, dates compared to "now" mean nothing.
    if status.clock_unset {
        sentences.push(t.warn_clock_unset.to_owned());
    } else {
        if let Some(not_before) = info.not_before_time().filter(|time| *time > now) {
            sentences.push(fill(
                t.warn_not_yet_valid,
                &[("date", &lang.date(not_before))],
            ));
        }
        match info.not_after_time() {
            Some(not_after) if not_after <= now => {
                sentences.push(fill(t.warn_expired, &[("date", &lang.date(not_after))]));
            }
            Some(not_after) if days_between(now, not_after) < EXPIRING_SOON_DAYS => {
                let days = days_between(now, not_after).to_string();
                sentences.push(fill(t.warn_expiring, &[("days", &days)]));
            }
            Some(_) => {}
            None => sentences.push(fill(t.warn_expired, &[("date", &info.not_after)])),
        }
    }

    for coverage in status.addresses.iter().filter(|coverage| !coverage.covered) {
        sentences.push(fill(
            t.warn_address_not_covered,
            &[
                ("address", &coverage.address.to_string()),
                ("host", &url_host(coverage.address)),
            ],
        ));
    }

    for warning in &status.warnings {
        let sentence = match warning.kind {
            WarningKind::NegativeSerial => t.warn_negative_serial.to_owned(),
            WarningKind::NoSubjectAltName => t.warn_no_san.to_owned(),
            WarningKind::IpAsDnsName => t.warn_ip_as_dns_name.to_owned(),
            WarningKind::CaCertificate => t.warn_ca_certificate.to_owned(),
            WarningKind::LongValidity => {
                let days = match (info.not_before_time(), info.not_after_time()) {
                    (Some(from), Some(to)) => days_between(from, to),
                    _ => APPLE_MAX_VALIDITY_DAYS + 1,
                };
                fill(t.warn_long_validity, &[("days", &days.to_string())])
            }
            WarningKind::IssuerNotFound => t.warn_issuer_not_found.to_owned(),
            WarningKind::IssuerNotCa => t.warn_issuer_not_ca.to_owned(),
            // Listed above from the current addresses, one per address.
            WarningKind::AddressNotCovered => continue,
        };
        if !sentences.contains(&sentence) {
            sentences.push(sentence);
        }
    }

    if is_weak_key(&info.key_type) {
        sentences.push(fill(t.warn_weak_key, &[("key", &info.key_type)]));
    }
    if is_weak_signature(&info.signature_algorithm) {
        sentences.push(fill(
            t.warn_weak_signature,
            &[("algorithm", &info.signature_algorithm)],
        ));
    }
    sentences
}

/// Returns the sentence on how to fix an upload rejected as `kind`.
pub fn upload_fix(t: &Catalogue, kind: RejectKind) -> &'static str {
    match kind {
        RejectKind::KeyMismatch => t.fix_key_mismatch,
        RejectKind::MissingKey => t.fix_missing_key,
        RejectKind::MissingCertificate => t.fix_missing_certificate,
        RejectKind::WrongPassword => t.fix_wrong_password,
        RejectKind::Expired => t.fix_expired,
        RejectKind::NotYetValid => t.fix_not_yet_valid,
        RejectKind::WeakKey => t.fix_weak_key,
        RejectKind::WeakSignature => t.fix_weak_signature,
        RejectKind::UnsupportedKey => t.fix_unsupported_key,
        RejectKind::UnsupportedCert => t.fix_unsupported_cert,
        RejectKind::NotServerCert => t.fix_not_server_cert,
        RejectKind::Malformed => t.fix_malformed,
        RejectKind::TooLarge => t.fix_too_large,
    }
}

/// A failed action as the page shows it.
pub struct ErrorView {
    /// One sentence in the reader's language, such as "The upload was rejected (key-mismatch)."
    pub summary: String,
    /// The service's own message, in English, naming the file or value.
    pub detail: String,
    /// The steps to fix it, in the reader's language; empty when the detail names them.
    pub fix: String,
}

/// The values of the self-signed form, kept across a check or a failure.
pub struct SelfSignedForm {
    pub validity: String,
    pub unit_years: bool,
    pub key_type: String,
    pub new_key: bool,
    /// Whether the camera's own root signs, rather than the key itself.
    pub device_ca: bool,
    /// The Apple note or its all-clear for the chosen validity, after "Check".
    pub note: Option<String>,
    /// Whether `note` warns.
    pub note_warns: bool,
}

impl SelfSignedForm {
    /// Returns the form as first shown, with the current validity and key type.
    pub fn initial(status: &Status) -> Self {
        Self {
            validity: status
                .validity_days
                .map_or_else(|| "397".to_owned(), |days| days.to_string()),
            unit_years: false,
            key_type: status.info.key_type.parse::<KeyType>().map_or_else(
                |_| KeyType::EcdsaP256.as_str().to_owned(),
                |key| key.as_str().to_owned(),
            ),
            new_key: false,
            device_ca: status.origin == Origin::DeviceCa,
            note: None,
            note_warns: false,
        }
    }
}

/// Forms' CSRF tokens for one session.
pub struct Tokens {
    pub self_signed: String,
    pub upload: String,
    pub csr: String,
    pub factory: String,
    pub logout: String,
}

/// The page `/admin/webserver`.
#[derive(Template)]
#[template(path = "admin/webserver.html")]
pub struct WebserverPage {
    pub t: &'static Catalogue,
    pub lang: Lang,
    /// The language the switch link offers.
    pub other_lang: Lang,
    pub cert: CertificateView,
    /// Whether the served chain has certificates above the leaf to download.
    pub chain_download: bool,
    /// Whether the camera has its own root to download.
    pub root_download: bool,
    /// The SHA-256 fingerprint of the camera's own root, to compare out of
    /// band with what a device imported.
    pub root_fingerprint: Option<String>,
    pub factory_available: bool,
    pub form: SelfSignedForm,
    pub key_types: Vec<&'static str>,
    /// A success message after an action.
    pub notice: Option<String>,
    pub error: Option<ErrorView>,
    /// A CSR just created, in PEM.
    pub csr: Option<String>,
    pub tokens: Tokens,
}

/// The page `/admin/login`.
#[derive(Template)]
#[template(path = "admin/login.html")]
pub struct LoginPage {
    pub t: &'static Catalogue,
    pub lang: Lang,
    pub other_lang: Lang,
    pub error: Option<String>,
    /// The login form's CSRF token, bound to the login cookie.
    pub csrf: String,
}

/// A page with only a message, for rejected requests.
#[derive(Template)]
#[template(path = "admin/message.html")]
pub struct MessagePage {
    pub t: &'static Catalogue,
    pub lang: Lang,
    pub other_lang: Lang,
    pub message: String,
    pub detail: String,
}

/// Returns the language the switch offers to a reader of `lang`.
pub fn other(lang: Lang) -> Lang {
    match lang {
        Lang::En => Lang::De,
        Lang::De => Lang::En,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::AddressCoverage;
    use crate::pki::lint::Warning;
    use time::macros::datetime;

    fn status(not_before: &str, not_after: &str) -> Status {
        Status {
            info: CertificateInfo {
                subject: "CN=cam".into(),
                issuer: "CN=cam".into(),
                serial: "01".into(),
                not_before: not_before.into(),
                not_after: not_after.into(),
                san_dns: vec![],
                san_ip: vec!["192.0.2.10".parse().unwrap()],
                key_type: "ecdsa-p256".into(),
                signature_algorithm: "ecdsa-with-SHA256".into(),
                sha256_fingerprint: "AA".into(),
                sha1_fingerprint: "BB".into(),
                sha256_spki: "CC".into(),
            },
            origin: Origin::SelfSigned,
            generation: Some(1),
            installed: "2026-12-01T10:00:00Z".into(),
            reason: "admin request".into(),
            validity_days: Some(397),
            addresses: vec![AddressCoverage {
                address: "192.0.2.10".parse().unwrap(),
                covered: true,
            }],
            clock_unset: false,
            chain: vec![],
            reaches_root: false,
            warnings: vec![],
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-12-04 12:00 UTC);

    #[test]
    fn reason_follows_the_language() {
        let status = status("2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z");
        let german = CertificateView::new(&status, Lang::De, NOW);
        assert_eq!(german.reason, "Anfrage des Administrators (API)");
        let english = CertificateView::new(&status, Lang::En, NOW);
        assert_eq!(english.reason, "admin request");
    }

    #[test]
    fn healthy_certificate_has_no_warnings() {
        let status = status("2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z");
        assert_eq!(warnings(&status, Lang::En, NOW), Vec::<String>::new());
    }

    #[test]
    fn each_problem_gets_its_sentence() {
        let mut expired = status("2025-01-01T00:00:00Z", "2026-12-01T00:00:00Z");
        expired.info.key_type = "rsa-1024".into();
        expired.info.signature_algorithm = "sha1WithRSAEncryption".into();
        expired.addresses.push(AddressCoverage {
            address: "2001:db8::10".parse().unwrap(),
            covered: false,
        });
        expired.warnings.push(Warning {
            kind: WarningKind::CaCertificate,
            message: String::new(),
        });
        let sentences = warnings(&expired, Lang::En, NOW);
        let expected = [
            "expired on 2026-12-01",
            "https://[2001:db8::10]/",
            "CA:TRUE",
            "rsa-1024",
            "sha1WithRSAEncryption",
        ];
        assert_eq!(sentences.len(), expected.len(), "{sentences:#?}");
        for (sentence, needle) in sentences.iter().zip(expected) {
            assert!(sentence.contains(needle), "{needle:?} in {sentence:?}");
        }
    }

    #[test]
    fn time_warnings_follow_the_dates() {
        let cases = [
            (
                "2026-12-01T00:00:00Z",
                "2026-12-20T00:00:00Z",
                "expires in 15 days",
            ),
            (
                "2026-12-10T00:00:00Z",
                "2027-12-20T00:00:00Z",
                "valid only from 2026-12-10",
            ),
        ];
        for (not_before, not_after, needle) in cases {
            let sentences = warnings(&status(not_before, not_after), Lang::En, NOW);
            assert_eq!(sentences.len(), 1, "{sentences:?}");
            assert!(sentences[0].contains(needle), "{needle:?} in {sentences:?}");
        }
    }

    #[test]
    fn unset_clock_replaces_time_warnings() {
        let mut unset = status("2026-12-10T00:00:00Z", "2026-12-01T00:00:00Z");
        unset.clock_unset = true;
        let sentences = warnings(&unset, Lang::De, NOW);
        assert_eq!(sentences.len(), 1, "{sentences:?}");
        assert!(sentences[0].contains("Uhr der Kamera"), "{sentences:?}");
    }

    #[test]
    fn long_validity_names_the_days() {
        let mut long = status("2026-12-01T00:00:00Z", "2051-12-01T00:00:00Z");
        long.warnings.push(Warning {
            kind: WarningKind::LongValidity,
            message: String::new(),
        });
        let sentences = warnings(&long, Lang::De, NOW);
        assert_eq!(sentences.len(), 1, "{sentences:?}");
        assert!(sentences[0].contains("9131 Tage"), "{sentences:?}");
    }

    #[test]
    fn view_formats_dates_for_the_reader() {
        let status = status("2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z");
        let english = CertificateView::new(&status, Lang::En, NOW);
        assert_eq!(english.expires_on, "2027-12-01");
        assert_eq!(english.remaining, "361 days left");
        let german = CertificateView::new(&status, Lang::De, NOW);
        assert_eq!(german.expires_on, "01.12.2027");
        assert_eq!(german.installed, "01.12.2026 10:00 UTC");
    }
}
