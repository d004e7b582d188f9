//! The admin page's text in English and German: one [`Catalogue`] per
//! language, the choice from `Accept-Language` or the `lang` cookie, and
//! dates in each language's usual form.
//!
//! Logs, the API and error kinds stay English. Placeholders in braces, such
//! as `{days}`, are filled in by [`fill`].

use time::OffsetDateTime;

use crate::store::reasons;

/// A language the page is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English, the default.
    #[default]
    En,
    /// German.
    De,
}

impl Lang {
    /// Both languages, in the order the switch lists them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// Returns the language tag, as in `?lang=de` and the `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// Parses a tag such as `de` or `de-AT`; other languages give `None`.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        Lang::ALL
            .into_iter()
            .find(|lang| primary.eq_ignore_ascii_case(lang.tag()))
    }

    /// Picks the language the reader prefers most from an `Accept-Language`
    /// header value (RFC 9110 section 12.5.4); English when none matches.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(Lang, f32)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("");
            let quality = parts
                .find_map(|parameter| parameter.trim().strip_prefix("q="))
                .and_then(|value| value.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let Some(lang) = Lang::from_tag(tag) else {
                continue;
            };
            if quality > 0.0 && best.is_none_or(|(_, best_quality)| quality > best_quality) {
                best = Some((lang, quality));
            }
        }
        best.map(|(lang, _)| lang).unwrap_or_default()
    }

    /// Returns the text of the page in this language.
    pub fn catalogue(self) -> &'static Catalogue {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
        }
    }

    /// Formats a date the way readers of this language write it:
    /// 2026-12-04 in English (ISO 8601), 04.12.2026 in German.
    pub fn date(self, time: OffsetDateTime) -> String {
        let (year, month, day) = (time.year(), u8::from(time.month()), time.day());
        match self {
            Lang::En => format!("{year:04}-{month:02}-{day:02}"),
            Lang::De => format!("{day:02}.{month:02}.{year:04}"),
        }
    }

    /// Formats a date and time of day in UTC.
    pub fn date_time(self, time: OffsetDateTime) -> String {
        let time = time.to_offset(time::UtcOffset::UTC);
        format!(
            "{} {:02}:{:02} UTC",
            self.date(time),
            time.hour(),
            time.minute()
        )
    }
}

/// German for each installation reason in [`reasons`].
const GERMAN_REASONS: [(&str, &str); 14] = [
    (
        reasons::FIRST_START,
        "erster Start: kein verwendbares gespeichertes Paar",
    ),
    (reasons::FACTORY_EXPIRED_ON, "Werkszertifikat abgelaufen am"),
    (reasons::FACTORY_EXPIRED, "Werkszertifikat abgelaufen"),
    (
        reasons::DEVICE_CA_CONFIGURED,
        "eigenes Stammzertifikat der Kamera in der Konfiguration eingeschaltet",
    ),
    (
        reasons::CLOCK_SET,
        "Uhr gestellt, nachdem das Zertifikat bei nicht gestellter Uhr ausgestellt wurde",
    ),
    (reasons::RENEWAL, "Erneuerung vor Ablauf"),
    (reasons::ADDRESS_CHANGE, "Änderung der IP-Adresse"),
    (reasons::ADMIN_API, "Anfrage des Administrators (API)"),
    (reasons::ADMIN_PAGE, "Anfrage des Administrators (Webseite)"),
    (reasons::COMMAND_LINE, "Anfrage über die Befehlszeile"),
    (
        reasons::CSR_CERTIFICATE,
        "Zertifikat zur Zertifikatsanforderung der Kamera",
    ),
    (reasons::UPLOAD, "Hochgeladen vom Administrator"),
    (
        reasons::BACK_TO_FACTORY,
        "Anfrage des Administrators: zurück zum Werkszertifikat",
    ),
    (reasons::FACTORY_PROVISIONING, "Einrichtung im Werk"),
];

impl Lang {
    /// Returns an installation reason, recorded in English in the store, in
    /// this language. A reason camcertd does not write, such as one from an
    /// older version, is returned unchanged.
    pub fn reason(self, recorded: &str) -> String {
        if self == Lang::En {
            return recorded.to_owned();
        }
        let german_of = |english: &str| {
            GERMAN_REASONS
                .iter()
                .find(|(known, _)| *known == english)
                .map(|(_, german)| *german)
        };
        if let Some(german) = german_of(recorded) {
            return german.to_owned();
        }
        // The one reason with a value after it: the expiry date.
        let date = recorded
            .strip_prefix(reasons::FACTORY_EXPIRED_ON)
            .and_then(|rest| rest.strip_prefix(' '));
        match (date, german_of(reasons::FACTORY_EXPIRED_ON)) {
            (Some(date), Some(german)) => format!("{german} {date}"),
            _ => recorded.to_owned(),
        }
    }
}

/// Replaces each `{name}` in `template` with its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// Every string the admin page shows, in one language. Each field is named
/// after the place the string appears. `warn_*` fields are warnings, and
/// `fix_*` fields the fix for an upload rejected with that kind.
#[derive(Debug)]
pub struct Catalogue {
    pub page_title: &'static str,
    pub admin: &'static str,
    pub switch_language: &'static str,
    pub log_out: &'static str,

    pub login_title: &'static str,
    pub login_intro: &'static str,
    pub user: &'static str,
    pub password: &'static str,
    pub log_in: &'static str,
    pub login_failed: &'static str,
    pub login_slow_down: &'static str,

    pub certificate_heading: &'static str,
    pub subject: &'static str,
    pub issuer: &'static str,
    pub serial: &'static str,
    pub valid_from: &'static str,
    pub expires_on: &'static str,
    pub days_left: &'static str,
    pub expired_days_ago: &'static str,
    pub san_dns: &'static str,
    pub san_ip: &'static str,
    pub none: &'static str,
    pub key: &'static str,
    pub signature_algorithm: &'static str,
    pub sha256_fingerprint: &'static str,
    pub sha1_fingerprint: &'static str,
    pub origin: &'static str,
    pub origin_factory: &'static str,
    pub origin_self_signed: &'static str,
    pub origin_device_ca: &'static str,
    pub origin_csr: &'static str,
    pub origin_uploaded: &'static str,
    pub installed: &'static str,
    pub reason: &'static str,
    pub chain_heading: &'static str,
    pub chain_empty: &'static str,
    pub reaches_root_yes: &'static str,
    pub reaches_root_no: &'static str,
    pub downloads: &'static str,
    pub download_pem: &'static str,
    pub download_der: &'static str,
    pub download_chain: &'static str,
    pub download_root: &'static str,

    pub addresses_heading: &'static str,
    pub address: &'static str,
    pub in_certificate: &'static str,
    pub covered: &'static str,
    pub not_covered: &'static str,
    pub no_addresses: &'static str,

    pub warnings_heading: &'static str,
    pub no_warnings: &'static str,
    pub warn_expired: &'static str,
    pub warn_expiring: &'static str,
    pub warn_not_yet_valid: &'static str,
    pub warn_address_not_covered: &'static str,
    pub warn_long_validity: &'static str,
    pub warn_no_san: &'static str,
    pub warn_weak_key: &'static str,
    pub warn_weak_signature: &'static str,
    pub warn_ca_certificate: &'static str,
    pub warn_clock_unset: &'static str,
    pub warn_negative_serial: &'static str,
    pub warn_ip_as_dns_name: &'static str,
    pub warn_issuer_not_found: &'static str,
    pub warn_issuer_not_ca: &'static str,

    pub self_signed_heading: &'static str,
    pub self_signed_intro: &'static str,
    pub validity: &'static str,
    pub unit_days: &'static str,
    pub unit_years: &'static str,
    pub key_type: &'static str,
    pub signer: &'static str,
    pub signer_self: &'static str,
    pub signer_device_ca: &'static str,
    pub signer_tradeoff: &'static str,
    pub root_fingerprint: &'static str,
    pub keep_key: &'static str,
    pub new_key: &'static str,
    pub check: &'static str,
    pub create: &'static str,
    pub apple_hint: &'static str,
    pub apple_note: &'static str,
    pub apple_ok: &'static str,
    pub apple_refused: &'static str,
    pub validity_invalid: &'static str,

    pub upload_heading: &'static str,
    pub upload_intro: &'static str,
    pub certificate_file: &'static str,
    pub private_key_file: &'static str,
    pub chain_file: &'static str,
    pub pkcs12_file: &'static str,
    pub pkcs12_password: &'static str,
    pub upload_button: &'static str,
    pub upload_rejected: &'static str,
    pub upload_unchanged: &'static str,
    pub fix_key_mismatch: &'static str,
    pub fix_missing_key: &'static str,
    pub fix_missing_certificate: &'static str,
    pub fix_wrong_password: &'static str,
    pub fix_expired: &'static str,
    pub fix_not_yet_valid: &'static str,
    pub fix_weak_key: &'static str,
    pub fix_weak_signature: &'static str,
    pub fix_unsupported_key: &'static str,
    pub fix_unsupported_cert: &'static str,
    pub fix_not_server_cert: &'static str,
    pub fix_malformed: &'static str,
    pub fix_too_large: &'static str,

    pub csr_heading: &'static str,
    pub csr_intro: &'static str,
    pub csr_button: &'static str,
    pub csr_result: &'static str,

    pub factory_heading: &'static str,
    pub factory_intro: &'static str,
    pub factory_button: &'static str,
    pub factory_missing: &'static str,

    pub done_self_signed: &'static str,
    pub done_upload: &'static str,
    pub done_factory: &'static str,
    pub action_failed: &'static str,
    pub csrf_failed: &'static str,
    pub session_ended: &'static str,
    pub not_found: &'static str,
    pub method_not_allowed: &'static str,
    pub back_to_page: &'static str,
}

static EN: Catalogue = Catalogue {
    page_title: "Web server certificate",
    admin: "Admin",
    switch_language: "Deutsch",
    log_out: "Log out",

    login_title: "Log in",
    login_intro: "Log in with the camera's admin user to manage its web server certificate.",
    user: "User name",
    password: "Password",
    log_in: "Log in",
    login_failed: "The user name or password is wrong. Check both and try again.",
    login_slow_down: "Too many failed logins from this address. Wait {seconds} seconds, then try again.",

    certificate_heading: "Active certificate",
    subject: "Subject",
    issuer: "Issuer",
    serial: "Serial number",
    valid_from: "Valid from",
    expires_on: "Expires on",
    days_left: "{days} days left",
    expired_days_ago: "expired {days} days ago",
    san_dns: "DNS names",
    san_ip: "IP addresses",
    none: "none",
    key: "Key",
    signature_algorithm: "Signature algorithm",
    sha256_fingerprint: "SHA-256 fingerprint",
    sha1_fingerprint: "SHA-1 fingerprint",
    origin: "Origin",
    origin_factory: "factory certificate",
    origin_self_signed: "self-signed on the camera",
    origin_device_ca: "signed by the camera's own CA",
    origin_csr: "signed by your CA from the camera's CSR",
    origin_uploaded: "uploaded",
    installed: "Installed",
    reason: "Reason",
    chain_heading: "Chain",
    chain_empty: "The certificate is served without a chain.",
    reaches_root_yes: "The chain ends in a self-signed root: devices that trust that root accept the certificate.",
    reaches_root_no: "The chain does not reach a self-signed root: devices need the missing issuers from elsewhere, or refuse the certificate.",
    downloads: "Download",
    download_pem: "Certificate (PEM)",
    download_der: "Certificate (DER, .cer)",
    download_chain: "Chain (PEM)",
    download_root: "The camera's own root (PEM), to trust once on each device",

    addresses_heading: "Camera addresses",
    address: "Address",
    in_certificate: "In the certificate",
    covered: "yes",
    not_covered: "no",
    no_addresses: "The camera has no usable address right now.",

    warnings_heading: "Warnings",
    no_warnings: "No warnings: browsers that trust this certificate accept it.",
    warn_expired: "The certificate expired on {date}, so browsers refuse to connect. Create a new self-signed certificate or upload a current one.",
    warn_expiring: "The certificate expires in {days} days, after which browsers refuse it. Upload a renewed certificate or create a new self-signed one before then.",
    warn_not_yet_valid: "The certificate is valid only from {date}, so browsers refuse it until then. Check the camera's clock or upload a certificate that is valid now.",
    warn_address_not_covered: "The address {address} is not in the certificate, so browsers opening https://{host}/ show a name error. Create a new self-signed certificate or upload one that names this address.",
    warn_long_validity: "The certificate is valid for {days} days. iPhones, iPads and Macs refuse server certificates valid for more than 825 days, even when trusted. Choose 825 days or fewer.",
    warn_no_san: "The certificate has no subjectAltName, so browsers show a name error for every address. Use a certificate that lists the camera's names and addresses.",
    warn_weak_key: "The key ({key}) is too weak, and browsers refuse RSA keys under 2048 bits. Create a new certificate with a new key.",
    warn_weak_signature: "The certificate is signed with {algorithm}, which browsers refuse. Use a certificate signed with SHA-256 or stronger.",
    warn_ca_certificate: "The certificate is marked as a CA (CA:TRUE), and Firefox refuses such server certificates. Use one with CA:FALSE.",
    warn_clock_unset: "The camera's clock is not set, so no certificate can be created. Set the clock or configure NTP; the camera then replaces certificates that were dated while the clock was unset.",
    warn_negative_serial: "The serial number is negative, which RFC 5280 forbids and some clients reject. Ask the issuing CA for a new certificate.",
    warn_ip_as_dns_name: "A DNS name in the certificate is an IP address, which browsers never match. Request the certificate with that address as an IP address entry.",
    warn_issuer_not_found: "The issuer of the certificate is not in the stored chain, so clients without it cannot verify the certificate. Upload the certificate again with the full chain.",
    warn_issuer_not_ca: "A certificate in the chain is not a certificate authority, so clients refuse the chain. Upload the chain that your certificate authority issued.",

    self_signed_heading: "Create a self-signed certificate",
    self_signed_intro: "The new certificate names the camera's current addresses and names. Each device warns about it until the certificate is trusted there.",
    validity: "Validity",
    unit_days: "days",
    unit_years: "years (365 days each)",
    key_type: "Key type",
    signer: "Signed by",
    signer_self: "itself (self-signed): each device must trust every new certificate again",
    signer_device_ca: "the camera's own root: each device trusts the root once, and later certificates with it (at most 825 days each)",
    signer_tradeoff: "A self-signed certificate is replaced when the camera's address changes, and every device must then trust it again. The camera's own root stays: a device that trusts it once also trusts every later certificate, for the camera's private address ranges and names only. In exchange, the camera keeps a key on its flash that can sign for those ranges, so trust the root only on devices that trust this camera.",
    root_fingerprint: "Camera's own root, to compare with what the device shows on import:",
    keep_key: "Keep the current key, so clients that pin it keep working",
    new_key: "Generate a new key",
    check: "Check",
    create: "Create and install",
    apple_hint: "iPhones, iPads and Macs accept at most 825 days (2 years and 95 days). Check shows whether your choice fits.",
    apple_note: "{days} days is more than 825: iPhones, iPads and Macs will refuse this certificate, even when trusted.",
    apple_ok: "{days} days is within the 825-day limit of iPhones, iPads and Macs.",
    apple_refused: "{days} days is more than 825: the camera's own root signs at most 825 days, so that iPhones, iPads and Macs accept its certificates. Choose 825 days or fewer, or sign the certificate by itself.",
    validity_invalid: "Enter the validity as a whole number greater than zero.",

    upload_heading: "Upload a certificate",
    upload_intro: "Upload the certificate and its private key (PEM or DER) with an optional chain, or one PKCS#12 file (.p12, .pfx) with its password. For a certificate your CA signed from this camera's CSR, upload the certificate and chain only.",
    certificate_file: "Certificate",
    private_key_file: "Private key",
    chain_file: "Chain (intermediate certificates)",
    pkcs12_file: "PKCS#12 file",
    pkcs12_password: "Password of the key or PKCS#12 file",
    upload_button: "Upload and install",
    upload_rejected: "The upload was rejected ({kind}).",
    upload_unchanged: "The installed certificate was not changed.",
    fix_key_mismatch: "Choose the private key that belongs to this certificate.",
    fix_missing_key: "Add the private key, or create a CSR first if the key should stay on the camera.",
    fix_missing_certificate: "Add the certificate file.",
    fix_wrong_password: "Enter the password the file was exported with.",
    fix_expired: "Upload a certificate that is still valid.",
    fix_not_yet_valid: "Upload a certificate that is valid now, or check the camera's clock.",
    fix_weak_key: "Use a key of at least 2048 bits (RSA) or an ECDSA key.",
    fix_weak_signature: "Ask your CA for a certificate signed with SHA-256 or stronger.",
    fix_unsupported_key: "Use an ECDSA P-256, P-384 or RSA key.",
    fix_unsupported_cert: "Ask your CA for an X.509 version 3 certificate.",
    fix_not_server_cert: "Ask your CA for a certificate with the serverAuth extended key usage.",
    fix_malformed: "Check that you chose the right files; PEM, DER and PKCS#12 are accepted.",
    fix_too_large: "Upload only the key, certificate and chain.",

    csr_heading: "Certificate signing request (CSR)",
    csr_intro: "The camera generates a new key, which never leaves it, and a CSR for its names and addresses. Have your CA sign the CSR, then upload the certificate above. Until then the current certificate stays in use.",
    csr_button: "Create CSR",
    csr_result: "Send this CSR to your CA, or save it as a .csr file:",

    factory_heading: "Factory certificate",
    factory_intro: "Serve the factory certificate again. It names the factory address; when the camera's addresses differ, the camera soon replaces it with a self-signed certificate.",
    factory_button: "Use the factory certificate",
    factory_missing: "This camera has no factory certificate.",

    done_self_signed: "The new self-signed certificate is installed and served.",
    done_upload: "The uploaded certificate is installed and served.",
    done_factory: "The factory certificate is installed and served.",
    action_failed: "The action failed, and the installed certificate was not changed.",
    csrf_failed: "The form is out of date or did not come from this page. Reload the page and submit the form again.",
    session_ended: "Your session has ended. Log in again, then repeat the action.",
    not_found: "This page does not exist.",
    method_not_allowed: "This address does not accept that kind of request.",
    back_to_page: "Back to the web server certificate",
};

static DE: Catalogue = Catalogue {
    page_title: "Webserver-Zertifikat",
    admin: "Verwaltung",
    switch_language: "English",
    log_out: "Abmelden",

    login_title: "Anmelden",
    login_intro: "Melden Sie sich mit dem Administrator der Kamera an, um ihr Webserver-Zertifikat zu verwalten.",
    user: "Benutzername",
    password: "Passwort",
    log_in: "Anmelden",
    login_failed: "Benutzername oder Passwort ist falsch. Prüfen Sie beides und versuchen Sie es erneut.",
    login_slow_down: "Zu viele fehlgeschlagene Anmeldungen von dieser Adresse. Warten Sie {seconds} Sekunden und versuchen Sie es dann erneut.",

    certificate_heading: "Aktives Zertifikat",
    subject: "Inhaber",
    issuer: "Aussteller",
    serial: "Seriennummer",
    valid_from: "Gültig ab",
    expires_on: "Läuft ab am",
    days_left: "noch {days} Tage",
    expired_days_ago: "seit {days} Tagen abgelaufen",
    san_dns: "DNS-Namen",
    san_ip: "IP-Adressen",
    none: "keine",
    key: "Schlüssel",
    signature_algorithm: "Signaturalgorithmus",
    sha256_fingerprint: "SHA-256-Fingerabdruck",
    sha1_fingerprint: "SHA-1-Fingerabdruck",
    origin: "Herkunft",
    origin_factory: "Werkszertifikat",
    origin_self_signed: "selbstsigniert auf der Kamera",
    origin_device_ca: "von der eigenen CA der Kamera signiert",
    origin_csr: "von Ihrer CA aus dem CSR der Kamera signiert",
    origin_uploaded: "hochgeladen",
    installed: "Installiert",
    reason: "Anlass",
    chain_heading: "Zertifikatskette",
    chain_empty: "Das Zertifikat wird ohne Kette ausgeliefert.",
    reaches_root_yes: "Die Kette endet in einem selbstsignierten Stammzertifikat: Geräte, die ihm vertrauen, akzeptieren das Zertifikat.",
    reaches_root_no: "Die Kette erreicht kein selbstsigniertes Stammzertifikat: Geräte brauchen die fehlenden Aussteller aus anderer Quelle oder lehnen das Zertifikat ab.",
    downloads: "Herunterladen",
    download_pem: "Zertifikat (PEM)",
    download_der: "Zertifikat (DER, .cer)",
    download_chain: "Kette (PEM)",
    download_root: "Eigenes Stammzertifikat der Kamera (PEM), einmal auf jedem Gerät zu vertrauen",

    addresses_heading: "Adressen der Kamera",
    address: "Adresse",
    in_certificate: "Im Zertifikat",
    covered: "ja",
    not_covered: "nein",
    no_addresses: "Die Kamera hat zurzeit keine nutzbare Adresse.",

    warnings_heading: "Warnungen",
    no_warnings: "Keine Warnungen: Browser, die diesem Zertifikat vertrauen, akzeptieren es.",
    warn_expired: "Das Zertifikat ist am {date} abgelaufen, deshalb verweigern Browser die Verbindung. Erstellen Sie ein neues selbstsigniertes Zertifikat oder laden Sie ein gültiges hoch.",
    warn_expiring: "Das Zertifikat läuft in {days} Tagen ab, danach verweigern Browser es. Laden Sie vorher ein erneuertes Zertifikat hoch oder erstellen Sie ein neues selbstsigniertes.",
    warn_not_yet_valid: "Das Zertifikat ist erst ab {date} gültig, bis dahin verweigern Browser es. Prüfen Sie die Uhr der Kamera oder laden Sie ein Zertifikat hoch, das jetzt gültig ist.",
    warn_address_not_covered: "Die Adresse {address} steht nicht im Zertifikat, deshalb zeigen Browser für https://{host}/ einen Namensfehler. Erstellen Sie ein neues selbstsigniertes Zertifikat oder laden Sie eines hoch, das diese Adresse nennt.",
    warn_long_validity: "Das Zertifikat ist {days} Tage gültig. iPhones, iPads und Macs lehnen Serverzertifikate mit mehr als 825 Tagen Gültigkeit ab, auch wenn sie ihnen vertrauen. Wählen Sie höchstens 825 Tage.",
    warn_no_san: "Das Zertifikat hat keinen subjectAltName, deshalb zeigen Browser für jede Adresse einen Namensfehler. Verwenden Sie ein Zertifikat, das die Namen und Adressen der Kamera enthält.",
    warn_weak_key: "Der Schlüssel ({key}) ist zu schwach; Browser lehnen RSA-Schlüssel unter 2048 Bit ab. Erstellen Sie ein neues Zertifikat mit neuem Schlüssel.",
    warn_weak_signature: "Das Zertifikat ist mit {algorithm} signiert, was Browser ablehnen. Verwenden Sie ein Zertifikat mit SHA-256 oder stärker.",
    warn_ca_certificate: "Das Zertifikat ist als CA markiert (CA:TRUE), und Firefox lehnt solche Serverzertifikate ab. Verwenden Sie eines mit CA:FALSE.",
    warn_clock_unset: "Die Uhr der Kamera ist nicht gestellt, deshalb kann kein Zertifikat erstellt werden. Stellen Sie die Uhr oder richten Sie NTP ein; danach ersetzt die Kamera Zertifikate, die ohne gestellte Uhr datiert wurden.",
    warn_negative_serial: "Die Seriennummer ist negativ, was RFC 5280 verbietet und manche Clients ablehnen. Fordern Sie bei der ausstellenden CA ein neues Zertifikat an.",
    warn_ip_as_dns_name: "Ein DNS-Name im Zertifikat ist eine IP-Adresse, die Browser nie zuordnen. Beantragen Sie das Zertifikat mit dieser Adresse als IP-Adress-Eintrag.",
    warn_issuer_not_found: "Der Aussteller des Zertifikats fehlt in der gespeicherten Kette, deshalb können Clients ohne ihn das Zertifikat nicht prüfen. Laden Sie das Zertifikat mit der vollständigen Kette erneut hoch.",
    warn_issuer_not_ca: "Ein Zertifikat der Kette ist keine Zertifizierungsstelle, deshalb lehnen Clients die Kette ab. Laden Sie die Kette hoch, die Ihre Zertifizierungsstelle ausgestellt hat.",

    self_signed_heading: "Selbstsigniertes Zertifikat erstellen",
    self_signed_intro: "Das neue Zertifikat nennt die aktuellen Adressen und Namen der Kamera. Jedes Gerät warnt davor, bis es dem Zertifikat vertraut.",
    validity: "Gültigkeit",
    unit_days: "Tage",
    unit_years: "Jahre (je 365 Tage)",
    key_type: "Schlüsseltyp",
    signer: "Signiert von",
    signer_self: "sich selbst (selbstsigniert): jedes Gerät muss jedem neuen Zertifikat erneut vertrauen",
    signer_device_ca: "dem eigenen Stammzertifikat der Kamera: jedes Gerät vertraut einmal dem Stammzertifikat und damit auch späteren Zertifikaten (je höchstens 825 Tage)",
    signer_tradeoff: "Ein selbstsigniertes Zertifikat wird ersetzt, wenn sich die Adresse der Kamera ändert, und jedes Gerät muss ihm dann erneut vertrauen. Das eigene Stammzertifikat der Kamera bleibt: Ein Gerät, das ihm einmal vertraut, vertraut auch allen späteren Zertifikaten, nur für die privaten Adressbereiche und Namen der Kamera. Dafür bewahrt die Kamera einen Schlüssel im Flash auf, der für diese Bereiche signieren kann; vertrauen Sie dem Stammzertifikat deshalb nur auf Geräten, die dieser Kamera vertrauen.",
    root_fingerprint: "Eigenes Stammzertifikat der Kamera, zum Vergleich mit der Anzeige des Geräts beim Import:",
    keep_key: "Aktuellen Schlüssel behalten, damit Clients mit Schlüssel-Pinning weiter funktionieren",
    new_key: "Neuen Schlüssel erzeugen",
    check: "Prüfen",
    create: "Erstellen und installieren",
    apple_hint: "iPhones, iPads und Macs akzeptieren höchstens 825 Tage (2 Jahre und 95 Tage). Prüfen zeigt, ob Ihre Wahl passt.",
    apple_note: "{days} Tage sind mehr als 825: iPhones, iPads und Macs werden dieses Zertifikat ablehnen, auch wenn sie ihm vertrauen.",
    apple_ok: "{days} Tage liegen innerhalb der Grenze von 825 Tagen für iPhones, iPads und Macs.",
    apple_refused: "{days} Tage sind mehr als 825: Die eigene Stammzertifizierungsstelle der Kamera signiert höchstens 825 Tage, damit iPhones, iPads und Macs ihre Zertifikate akzeptieren. Wählen Sie höchstens 825 Tage oder lassen Sie das Zertifikat sich selbst signieren.",
    validity_invalid: "Geben Sie die Gültigkeit als ganze Zahl größer als null ein.",

    upload_heading: "Zertifikat hochladen",
    upload_intro: "Laden Sie das Zertifikat und seinen privaten Schlüssel (PEM oder DER) mit optionaler Kette hoch, oder eine PKCS#12-Datei (.p12, .pfx) mit ihrem Passwort. Für ein Zertifikat, das Ihre CA aus dem CSR dieser Kamera signiert hat, laden Sie nur Zertifikat und Kette hoch.",
    certificate_file: "Zertifikat",
    private_key_file: "Privater Schlüssel",
    chain_file: "Kette (Zwischenzertifikate)",
    pkcs12_file: "PKCS#12-Datei",
    pkcs12_password: "Passwort des Schlüssels oder der PKCS#12-Datei",
    upload_button: "Hochladen und installieren",
    upload_rejected: "Das Hochladen wurde abgelehnt ({kind}).",
    upload_unchanged: "Das installierte Zertifikat ist unverändert.",
    fix_key_mismatch: "Wählen Sie den privaten Schlüssel, der zu diesem Zertifikat gehört.",
    fix_missing_key: "Fügen Sie den privaten Schlüssel hinzu, oder erstellen Sie zuerst einen CSR, wenn der Schlüssel auf der Kamera bleiben soll.",
    fix_missing_certificate: "Fügen Sie die Zertifikatsdatei hinzu.",
    fix_wrong_password: "Geben Sie das Passwort ein, mit dem die Datei exportiert wurde.",
    fix_expired: "Laden Sie ein Zertifikat hoch, das noch gültig ist.",
    fix_not_yet_valid: "Laden Sie ein Zertifikat hoch, das jetzt gültig ist, oder prüfen Sie die Uhr der Kamera.",
    fix_weak_key: "Verwenden Sie einen RSA-Schlüssel mit mindestens 2048 Bit oder einen ECDSA-Schlüssel.",
    fix_weak_signature: "Fordern Sie bei Ihrer CA ein Zertifikat mit SHA-256 oder stärker an.",
    fix_unsupported_key: "Verwenden Sie einen ECDSA-P-256-, P-384- oder RSA-Schlüssel.",
    fix_unsupported_cert: "Fordern Sie bei Ihrer CA ein X.509-Zertifikat der Version 3 an.",
    fix_not_server_cert: "Fordern Sie bei Ihrer CA ein Zertifikat mit der erweiterten Schlüsselverwendung serverAuth an.",
    fix_malformed: "Prüfen Sie, ob Sie die richtigen Dateien gewählt haben; PEM, DER und PKCS#12 werden angenommen.",
    fix_too_large: "Laden Sie nur Schlüssel, Zertifikat und Kette hoch.",

    csr_heading: "Zertifikatsanforderung (CSR)",
    csr_intro: "Die Kamera erzeugt einen neuen Schlüssel, der sie nie verlässt, und einen CSR für ihre Namen und Adressen. Lassen Sie den CSR von Ihrer CA signieren und laden Sie das Zertifikat dann oben hoch. Bis dahin bleibt das aktuelle Zertifikat in Gebrauch.",
    csr_button: "CSR erstellen",
    csr_result: "Senden Sie diesen CSR an Ihre CA oder speichern Sie ihn als .csr-Datei:",

    factory_heading: "Werkszertifikat",
    factory_intro: "Das Werkszertifikat wieder verwenden. Es nennt die Adresse aus dem Werk; weichen die Adressen der Kamera ab, ersetzt die Kamera es bald durch ein selbstsigniertes Zertifikat.",
    factory_button: "Werkszertifikat verwenden",
    factory_missing: "Diese Kamera hat kein Werkszertifikat.",

    done_self_signed: "Das neue selbstsignierte Zertifikat ist installiert und in Gebrauch.",
    done_upload: "Das hochgeladene Zertifikat ist installiert und in Gebrauch.",
    done_factory: "Das Werkszertifikat ist installiert und in Gebrauch.",
    action_failed: "Die Aktion ist fehlgeschlagen; das installierte Zertifikat ist unverändert.",
    csrf_failed: "Das Formular ist veraltet oder stammt nicht von dieser Seite. Laden Sie die Seite neu und senden Sie das Formular erneut.",
    session_ended: "Ihre Sitzung ist beendet. Melden Sie sich erneut an und wiederholen Sie die Aktion.",
    not_found: "Diese Seite gibt es nicht.",
    method_not_allowed: "Diese Adresse nimmt diese Art von Anfrage nicht an.",
    back_to_page: "Zurück zum Webserver-Zertifikat",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_german_text() {
        for english in reasons::ALL {
            let german = Lang::De.reason(english);
            assert_ne!(german, english, "no German text for {english:?}");
            assert_eq!(Lang::En.reason(english), english);
        }
    }

    #[test]
    fn expiry_reason_keeps_its_date() {
        let recorded = format!("{} 2051-12-04T10:00:00Z", reasons::FACTORY_EXPIRED_ON);
        assert_eq!(
            Lang::De.reason(&recorded),
            "Werkszertifikat abgelaufen am 2051-12-04T10:00:00Z"
        );
    }

    #[test]
    fn unknown_reason_stays_unchanged() {
        assert_eq!(Lang::De.reason("restored by hand"), "restored by hand");
        assert_eq!(Lang::De.reason(""), "");
    }

    #[test]
    fn accept_language_picks_highest_quality() {
        let cases = [
            ("de-DE,de;q=0.9,en;q=0.8", Lang::De),
            ("en-US,en;q=0.9,de;q=0.8", Lang::En),
            ("fr-FR,fr;q=0.9,de;q=0.5", Lang::De),
            ("fr", Lang::En),
            ("", Lang::En),
            ("de;q=0", Lang::En),
            ("en;q=0.2, DE-at;q=0.7", Lang::De),
        ];
        for (header, expected) in cases {
            assert_eq!(Lang::from_accept_language(header), expected, "{header:?}");
        }
    }

    #[test]
    fn dates_follow_the_language() {
        let time = time::macros::datetime!(2026-12-04 20:51:46 UTC);
        assert_eq!(Lang::En.date(time), "2026-12-04");
        assert_eq!(Lang::De.date(time), "04.12.2026");
        assert_eq!(Lang::De.date_time(time), "04.12.2026 20:51 UTC");
    }

    #[test]
    fn fill_replaces_every_placeholder() {
        assert_eq!(
            fill("{a} and {b}, {a}", &[("a", "1"), ("b", "2")]),
            "1 and 2, 1"
        );
    }
}
