//! Import of an admin's own key, certificate and chain, in the forms real
//! tools export. PEM comes in any mix and order (CRLF, byte order mark, "Bag
//! Attributes" text). Also read: DER, PKCS#1, PKCS#8, SEC1, encrypted
//! PKCS#8, legacy OpenSSL PEM encryption, PKCS#7 bundles and PKCS#12.
//!
//! [`import`] finds the leaf by matching the private key, orders the chain by
//! issuer, and rejects what browsers would refuse with a specific
//! [`RejectKind`]. It checks names and signatures of the chain only as far as
//! ordering needs: it does not verify the chain against a trust anchor.

use std::net::IpAddr;

use ::time::OffsetDateTime;
use pkcs8::der::Decode;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use serde::Serialize;
use x509_parser::prelude::*;
use zeroize::Zeroizing;

use super::lint::{self, Warning, WarningKind};
use super::CheckedPair;

/// Largest accepted size of one uploaded file. A PKCS#12 file with a chain
/// of four RSA-4096 certificates is about 10 KiB.
pub const MAX_FILE_BYTES: usize = 64 * 1024;

/// Why an upload was rejected; the names are part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectKind {
    /// No private key matches any uploaded certificate.
    KeyMismatch,
    /// Certificates were uploaded without a private key.
    MissingKey,
    /// No certificate was uploaded.
    MissingCertificate,
    /// The password is wrong, or one is needed and none was given.
    WrongPassword,
    /// The certificate's not_after has passed.
    Expired,
    /// The certificate's not_before is still ahead.
    NotYetValid,
    /// An RSA key under 2048 bits.
    WeakKey,
    /// A SHA-1 or MD5 signature.
    WeakSignature,
    /// A key browsers cannot use for TLS servers (Ed25519, P-521, DSA, RSA-PSS).
    UnsupportedKey,
    /// An X.509 version 1 certificate.
    UnsupportedCert,
    /// An extended key usage without serverAuth.
    NotServerCert,
    /// A file that does not parse.
    Malformed,
    /// A file larger than [`MAX_FILE_BYTES`].
    TooLarge,
}

impl RejectKind {
    /// The name used in the API, such as `key-mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::KeyMismatch => "key-mismatch",
            RejectKind::MissingKey => "missing-key",
            RejectKind::MissingCertificate => "missing-certificate",
            RejectKind::WrongPassword => "wrong-password",
            RejectKind::Expired => "expired",
            RejectKind::NotYetValid => "not-yet-valid",
            RejectKind::WeakKey => "weak-key",
            RejectKind::WeakSignature => "weak-signature",
            RejectKind::UnsupportedKey => "unsupported-key",
            RejectKind::UnsupportedCert => "unsupported-cert",
            RejectKind::NotServerCert => "not-server-cert",
            RejectKind::Malformed => "malformed",
            RejectKind::TooLarge => "too-large",
        }
    }
}

/// A rejected upload: the kind and a message naming the file or field and
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ImportError {
    /// Why it was rejected.
    pub kind: RejectKind,
    /// The offending file or field and the fix.
    pub message: String,
}

fn reject(kind: RejectKind, message: impl Into<String>) -> ImportError {
    ImportError {
        kind,
        message: message.into(),
    }
}

/// Which upload field a file came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The certificate, possibly with key and chain in the same file.
    Certificate,
    /// The private key.
    PrivateKey,
    /// Intermediate and root certificates.
    Chain,
    /// A PKCS#12 / PFX file.
    Pkcs12,
}

impl Field {
    /// The form field name.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Certificate => "certificate",
            Field::PrivateKey => "private_key",
            Field::Chain => "chain",
            Field::Pkcs12 => "pkcs12",
        }
    }
}

/// One uploaded file.
#[derive(Debug, Clone)]
pub struct UploadFile {
    /// The field it came in.
    pub field: Field,
    /// The file name the client gave, for messages; may be empty.
    pub name: String,
    /// The content.
    pub data: Zeroizing<Vec<u8>>,
}

impl UploadFile {
    /// Names the file in messages: its file name, else its field.
    fn label(&self) -> String {
        if self.name.is_empty() {
            format!("the {} field", self.field.as_str())
        } else {
            format!("{} ({})", self.name, self.field.as_str())
        }
    }
}

/// Everything one upload brings.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// The files, in the order received.
    pub files: Vec<UploadFile>,
    /// The password for an encrypted key or a PKCS#12 file; `None` when the
    /// field was absent. Secret: never logged.
    pub password: Option<Zeroizing<String>>,
}

/// An accepted upload, checked and ready to install.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Whether the key is the camera's pending CSR key, so the certificate
    /// was signed for the camera's own request.
    pub for_pending_key: bool,
    /// The key, leaf, chain (leaf issuer first) and the self-signed root,
    /// which is stored but not sent.
    pub pair: CheckedPair,
    /// What is served anyway but deserves the admin's attention.
    pub warnings: Vec<Warning>,
}

/// A key found in the upload, with the file it came from.
struct FoundKey {
    der: PrivateKeyDer<'static>,
    source: String,
}

/// What the files contain, before matching.
#[derive(Default)]
struct Found {
    keys: Vec<FoundKey>,
    certificates: Vec<(Vec<u8>, String)>,
}

/// Imports an upload at time `now` for a camera with `addresses`.
///
/// `pending_key` is the PEM key of an outstanding CSR: an upload without a
/// key is matched against it, so a certificate signed for the camera's
/// request installs with the key that never left the camera.
pub fn import(
    upload: &Upload,
    now: OffsetDateTime,
    addresses: &[IpAddr],
    pending_key: Option<&str>,
) -> Result<Imported, ImportError> {
    let mut found = Found::default();
    for file in &upload.files {
        if file.data.len() > MAX_FILE_BYTES {
            return Err(reject(
                RejectKind::TooLarge,
                format!("{} has {} bytes, more than the {MAX_FILE_BYTES} accepted; upload only the key, certificate and chain", file.label(), file.data.len()),
            ));
        }
        if file.data.is_empty() {
            continue;
        }
        match file.field {
            Field::Pkcs12 => read_pkcs12(
                file,
                upload.password.as_deref().map(String::as_str),
                &mut found,
            )?,
            _ => read_pem_or_der(
                file,
                upload.password.as_deref().map(String::as_str),
                &mut found,
            )?,
        }
    }

    // The same key may arrive twice, as when one PEM file is given as both
    // certificate and key.
    let mut unique_keys: Vec<FoundKey> = Vec::new();
    for key in found.keys.drain(..) {
        if !unique_keys
            .iter()
            .any(|known| known.der.secret_der() == key.der.secret_der())
        {
            unique_keys.push(key);
        }
    }
    found.keys = unique_keys;

    if found.certificates.is_empty() {
        return Err(reject(
            RejectKind::MissingCertificate,
            "no certificate was uploaded; add the camera's certificate (PEM, DER or PKCS#12)",
        ));
    }
    let mut for_pending_key = false;
    if found.keys.is_empty() {
        if let Some(pending) = pending_key {
            if let Ok(der) = PrivateKeyDer::from_pem_slice(pending.as_bytes()) {
                found.keys.push(FoundKey {
                    der,
                    source: "the camera's pending CSR key".into(),
                });
                for_pending_key = true;
            }
        }
    }
    let Some(key) = found.keys.first() else {
        return Err(reject(
            RejectKind::MissingKey,
            "no private key was uploaded; add the key that belongs to the certificate, or a PKCS#12 file holding both",
        ));
    };
    if found.keys.len() > 1 {
        return Err(reject(
            RejectKind::Malformed,
            format!("{} private keys were uploaded ({}); upload only the one that belongs to the certificate", found.keys.len(), found.keys.iter().map(|key| key.source.as_str()).collect::<Vec<_>>().join(", ")),
        ));
    }

    let public_key = public_key_of(key)?;
    let Some(leaf_index) = found.certificates.iter().position(|(der, _)| {
        X509Certificate::from_der(der)
            .is_ok_and(|(_, cert)| cert.public_key().raw == public_key.as_slice())
    }) else {
        let names: Vec<&str> = found
            .certificates
            .iter()
            .map(|(_, source)| source.as_str())
            .collect();
        return Err(reject(
            RejectKind::KeyMismatch,
            format!("the private key from {} belongs to none of the uploaded certificates ({}); upload the key that was created with this certificate's request", key.source, names.join(", ")),
        ));
    };
    let (leaf_der, leaf_source) = found.certificates.remove(leaf_index);
    check_leaf(&leaf_der, &leaf_source, now)?;

    let (chain, root, issuer_found) = order_chain(&leaf_der, found.certificates);
    for (der, source) in &chain {
        check_signature_algorithm(der, source)?;
    }

    let key_pem = Zeroizing::new(key_to_pem(&key.der));
    let cert_pem = to_pem("CERTIFICATE", &leaf_der);
    let chain_pem: String = chain
        .iter()
        .map(|(der, _)| to_pem("CERTIFICATE", der))
        .collect();
    let root_pem = root
        .as_ref()
        .map(|(der, _)| to_pem("CERTIFICATE", der))
        .unwrap_or_default();
    let mut pair = CheckedPair::from_pem(&key_pem, &cert_pem, &chain_pem).map_err(|err| {
        reject(
            RejectKind::Malformed,
            format!("the key and certificate could not be loaded for TLS: {err}"),
        )
    })?;
    pair.root_pem = root_pem;

    let mut warnings = lint::leaf_warnings(&leaf_der, addresses);
    if !issuer_found {
        warnings.push(Warning {
            kind: WarningKind::IssuerNotFound,
            message: "the certificate's issuer is not in the uploaded chain; clients that do not already have the intermediate certificates cannot verify it, so upload the full chain".into(),
        });
    }
    Ok(Imported {
        for_pending_key,
        pair,
        warnings,
    })
}

fn to_pem(tag: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(tag, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

fn key_to_pem(key: &PrivateKeyDer<'_>) -> String {
    let tag = match key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    to_pem(tag, key.secret_der())
}

/// Reads a PKCS#12 file into keys and certificates.
fn read_pkcs12(
    file: &UploadFile,
    password: Option<&str>,
    found: &mut Found,
) -> Result<(), ImportError> {
    // TODO: p12-keystore 0.4 bounds each key derivation on its own (1000000
    // iterations, 1 GiB of scrypt memory) but not their sum over all bags, so a
    // crafted file can still cost far more than `MAX_PBKDF2_ITERATIONS` and
    // `MAX_SCRYPT_MEMORY_BYTES` allow for an encrypted PKCS#8 key.
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(&file.data, password.unwrap_or(""));
    let archive = match archive {
        Ok(archive) => archive,
        Err(p12_keystore::error::Error::MacError(_)) if password.is_none_or(str::is_empty) => {
            return Err(reject(
                RejectKind::WrongPassword,
                format!("{} is protected by a password; enter the password it was exported with", file.label()),
            ))
        }
        Err(p12_keystore::error::Error::MacError(_)) => {
            return Err(reject(
                RejectKind::WrongPassword,
                format!("the password does not open {}; enter the password it was exported with", file.label()),
            ))
        }
        Err(error) => {
            return Err(reject(
                RejectKind::Malformed,
                format!("{} is not a readable PKCS#12 file: {error}; export it again as PKCS#12 (.p12 or .pfx)", file.label()),
            ))
        }
    };
    for bag in archive.keys {
        found.keys.push(FoundKey {
            der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bag.key.as_der().to_vec())),
            source: file.label(),
        });
    }
    for bag in archive.certs {
        found
            .certificates
            .push((bag.cert.as_der().to_vec(), file.label()));
    }
    Ok(())
}

/// Reads PEM blocks, or a single DER object, from one file.
fn read_pem_or_der(
    file: &UploadFile,
    password: Option<&str>,
    found: &mut Found,
) -> Result<(), ImportError> {
    let data = file
        .data
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&file.data);
    let begins = count_occurrences(data, b"-----BEGIN ");
    if begins == 0 {
        return read_der(file, data, found);
    }
    let blocks = ::pem::parse_many(data).map_err(|err| {
        reject(
            RejectKind::Malformed,
            format!(
                "{} has a broken PEM block: {err}; export the file again",
                file.label()
            ),
        )
    })?;
    if blocks.len() < begins {
        return Err(reject(
            RejectKind::Malformed,
            format!("{}: PEM block {} of {begins} has no END line, so the file is cut short; upload the complete file", file.label(), blocks.len() + 1),
        ));
    }
    for (index, block) in blocks.iter().enumerate() {
        let position = index + 1;
        let contents = block.contents().to_vec();
        match block.tag() {
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                if let Err(err) = X509Certificate::from_der(&contents) {
                    return Err(reject(
                        RejectKind::Malformed,
                        format!("{}: certificate block {position} does not parse ({err}); export it again", file.label()),
                    ));
                }
                found.certificates.push((contents, file.label()));
            }
            "PRIVATE KEY" => found.keys.push(FoundKey {
                der: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(contents)),
                source: file.label(),
            }),
            tag @ ("RSA PRIVATE KEY" | "EC PRIVATE KEY") => {
                let contents = if block.headers().get("Proc-Type").is_some() {
                    decrypt_legacy_pem(block, password, &file.label(), position)?
                } else {
                    Zeroizing::new(contents)
                };
                let der = if tag == "RSA PRIVATE KEY" {
                    PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(contents.to_vec()))
                } else {
                    PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(contents.to_vec()))
                };
                found.keys.push(FoundKey {
                    der,
                    source: file.label(),
                });
            }
            "PKCS7" => read_pkcs7(file, &contents, found)?,
            "ENCRYPTED PRIVATE KEY" => {
                let der = decrypt_pkcs8(&contents, password, &file.label())?;
                found.keys.push(FoundKey {
                    der,
                    source: file.label(),
                });
            }
            // Parameters that OpenSSL writes beside SEC1 keys; the key repeats them.
            "EC PARAMETERS" => {}
            other => {
                return Err(reject(
                    RejectKind::Malformed,
                    format!("{}: block {position} is a {other:?}, which is neither a certificate nor a private key; upload certificates and keys only", file.label()),
                ))
            }
        }
    }
    Ok(())
}

fn count_occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|window| *window == needle)
        .count()
}

/// Reads one DER object: a certificate, a PKCS#7 bundle, or a PKCS#8,
/// PKCS#1 or SEC1 key.
fn read_der(file: &UploadFile, data: &[u8], found: &mut Found) -> Result<(), ImportError> {
    if X509Certificate::from_der(data).is_ok() {
        found.certificates.push((data.to_vec(), file.label()));
        return Ok(());
    }
    {
        use cms::cert::x509::der::Decode as _;
        if cms::content_info::ContentInfo::from_der(data).is_ok() {
            return read_pkcs7(file, data, found);
        }
    }
    let der = if pkcs8::PrivateKeyInfo::from_der(data).is_ok() {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(data.to_vec()))
    } else if pkcs1::RsaPrivateKey::from_der(data).is_ok() {
        PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(data.to_vec()))
    } else if data.starts_with(&[0x30]) && is_sec1(data) {
        PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(data.to_vec()))
    } else {
        return Err(reject(
            RejectKind::Malformed,
            format!("{} is neither PEM nor a DER certificate or private key; upload PEM, DER (.cer, .der) or PKCS#12 (.p12, .pfx)", file.label()),
        ));
    };
    found.keys.push(FoundKey {
        der,
        source: file.label(),
    });
    Ok(())
}

/// Reads the certificates of a PKCS#7 bundle (.p7b, .p7c), the form in
/// which Windows exports a chain. Such a bundle contains no key.
fn read_pkcs7(file: &UploadFile, data: &[u8], found: &mut Found) -> Result<(), ImportError> {
    use cms::cert::x509::der::{Decode as _, Encode as _};

    /// The PKCS#7 content type of a certificate bundle.
    const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";

    let malformed = |why: String| {
        reject(
            RejectKind::Malformed,
            format!(
                "{}: the PKCS#7 bundle {why}; export the chain again as PEM or PKCS#7 (.p7b)",
                file.label()
            ),
        )
    };
    let info = cms::content_info::ContentInfo::from_der(data)
        .map_err(|err| malformed(format!("does not parse ({err})")))?;
    if info.content_type.to_string() != SIGNED_DATA {
        return Err(malformed(format!(
            "has content type {}, not a certificate bundle",
            info.content_type
        )));
    }
    let signed: cms::signed_data::SignedData = info
        .content
        .decode_as()
        .map_err(|err| malformed(format!("does not parse ({err})")))?;
    let mut count = 0;
    for choice in signed.certificates.iter().flat_map(|set| set.0.iter()) {
        if let cms::cert::CertificateChoices::Certificate(cert) = choice {
            let der = cert.to_der().map_err(|err| {
                malformed(format!("holds a certificate that does not encode ({err})"))
            })?;
            found.certificates.push((der, file.label()));
            count += 1;
        }
    }
    if count == 0 {
        return Err(malformed("holds no certificates".into()));
    }
    Ok(())
}

/// Decrypts a key in the legacy OpenSSL PEM encryption (Proc-Type and
/// DEK-Info headers), as `openssl rsa -des3` and older tools write it.
fn decrypt_legacy_pem(
    block: &::pem::Pem,
    password: Option<&str>,
    label: &str,
    position: usize,
) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockDecryptMut, KeyIvInit};

    fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buffer: &mut [u8]) -> Option<usize>
    where
        C: BlockDecryptMut + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
    {
        let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
        let plain = decryptor.decrypt_padded_mut::<Pkcs7>(buffer).ok()?;
        Some(plain.len())
    }

    let malformed = |why: &str| {
        reject(
            RejectKind::Malformed,
            format!("{label}: the encrypted key in block {position} {why}; convert it with `openssl pkcs8 -topk8` and upload the result with its password"),
        )
    };
    let dek_info = block
        .headers()
        .get("DEK-Info")
        .ok_or_else(|| malformed("has no DEK-Info header"))?;
    let (cipher, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| malformed("has a DEK-Info header without an IV"))?;
    let iv =
        decode_hex(iv_hex.trim()).ok_or_else(|| malformed("has an IV that is not hexadecimal"))?;
    let (key_len, iv_len) = match cipher.trim() {
        "DES-EDE3-CBC" => (24, 8),
        "DES-CBC" => (8, 8),
        "AES-128-CBC" => (16, 16),
        "AES-192-CBC" => (24, 16),
        "AES-256-CBC" => (32, 16),
        _ => {
            return Err(malformed(&format!(
                "uses the cipher {:?}, which camcertd cannot decrypt",
                cipher.trim()
            )))
        }
    };
    if iv.len() != iv_len {
        return Err(malformed(&format!(
            "has an IV of {} bytes where {} needs {iv_len}",
            iv.len(),
            cipher.trim()
        )));
    }
    let Some(password) = password.filter(|password| !password.is_empty()) else {
        return Err(reject(
            RejectKind::WrongPassword,
            format!("the private key in {label} is encrypted; enter its password"),
        ));
    };

    let key = bytes_to_key(password.as_bytes(), &iv[..8], key_len);
    let mut buffer = Zeroizing::new(block.contents().to_vec());
    let plain_len = match cipher.trim() {
        "DES-EDE3-CBC" => cbc_decrypt::<des::TdesEde3>(&key, &iv, &mut buffer),
        "DES-CBC" => cbc_decrypt::<des::Des>(&key, &iv, &mut buffer),
        "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, &iv, &mut buffer),
        "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, &iv, &mut buffer),
        _ => cbc_decrypt::<aes::Aes256>(&key, &iv, &mut buffer),
    };
    // A wrong password almost always breaks the padding, and otherwise
    // leaves bytes that are not one DER structure.
    let Some(plain_len) = plain_len else {
        return Err(wrong_password(label));
    };
    buffer.truncate(plain_len);
    if pkcs8::der::asn1::AnyRef::from_der(&buffer).is_err() {
        return Err(wrong_password(label));
    }
    Ok(buffer)
}

/// Derives a cipher key from a password and salt with one MD5 round, as
/// OpenSSL's `EVP_BytesToKey` does for legacy PEM encryption.
fn bytes_to_key(password: &[u8], salt: &[u8], key_len: usize) -> Zeroizing<Vec<u8>> {
    use md5::{Digest, Md5};

    let mut key = Zeroizing::new(Vec::with_capacity(key_len + 16));
    let mut previous: Option<Zeroizing<Vec<u8>>> = None;
    while key.len() < key_len {
        let mut hasher = Md5::new();
        if let Some(previous) = &previous {
            hasher.update(previous);
        }
        hasher.update(password);
        hasher.update(salt);
        let digest = Zeroizing::new(hasher.finalize().to_vec());
        key.extend_from_slice(&digest);
        previous = Some(digest);
    }
    key.truncate(key_len);
    key
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

/// Checks whether `data` loads as a SEC1 EC private key on a curve that
/// aws-lc supports.
fn is_sec1(data: &[u8]) -> bool {
    let key = PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(data.to_vec()));
    rustls::crypto::aws_lc_rs::sign::any_ecdsa_type(&key).is_ok()
}

/// Decrypts an encrypted PKCS#8 key (PBES2, or PBES1 with 3DES or DES).
fn decrypt_pkcs8(
    der: &[u8],
    password: Option<&str>,
    label: &str,
) -> Result<PrivateKeyDer<'static>, ImportError> {
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(der).map_err(|err| {
        reject(
            RejectKind::Malformed,
            format!("{label}: the encrypted private key does not parse ({err}); export it again"),
        )
    })?;
    let Some(password) = password.filter(|password| !password.is_empty()) else {
        return Err(reject(
            RejectKind::WrongPassword,
            format!("the private key in {label} is encrypted; enter its password"),
        ));
    };
    check_kdf_cost(&info.encryption_algorithm, label)?;
    match info.decrypt(password.as_bytes()) {
        Ok(document) => {
            let bytes = document.as_bytes();
            // A wrong password may decrypt to garbage with valid padding.
            if pkcs8::PrivateKeyInfo::from_der(bytes).is_err() {
                return Err(wrong_password(label));
            }
            Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bytes.to_vec())))
        }
        Err(pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm { oid })) => Err(reject(
            RejectKind::Malformed,
            format!("{label}: the key is encrypted with {oid}, which camcertd cannot decrypt; export it again with AES (OpenSSL's default)"),
        )),
        Err(_) => Err(wrong_password(label)),
    }
}

/// Maximum PBKDF2 iteration count accepted for an encrypted key. The file
/// sets the count, and a count near `u32::MAX` would keep a camera busy for
/// hours (an estimate from 20 minutes on an x86 server core). OpenSSL 3
/// writes 2048.
pub const MAX_PBKDF2_ITERATIONS: u32 = 1_000_000;

/// Maximum memory accepted for scrypt key derivation (128 · N · r bytes).
/// N = 16384 with r = 8 needs 16 MiB.
pub const MAX_SCRYPT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;

/// Maximum scrypt parallelization (p) accepted. Each unit repeats the whole
/// memory-hard computation.
pub const MAX_SCRYPT_PARALLELIZATION: u16 = 16;

/// Rejects key derivation parameters that would take the camera more time
/// or memory than a real export needs, before any work is done. PBES1 needs
/// no check, since its iteration count is at most 65535.
fn check_kdf_cost(
    scheme: &pkcs8::pkcs5::EncryptionScheme<'_>,
    label: &str,
) -> Result<(), ImportError> {
    use pkcs8::pkcs5::pbes2::Kdf;

    let too_costly = |what: String| {
        reject(
            RejectKind::Malformed,
            format!("{label}: the private key's encryption asks for {what}; export the key again with OpenSSL's default settings"),
        )
    };
    let pkcs8::pkcs5::EncryptionScheme::Pbes2(parameters) = scheme else {
        return Ok(());
    };
    match &parameters.kdf {
        Kdf::Pbkdf2(pbkdf2) if pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(too_costly(format!(
                "{} PBKDF2 iterations, more than the {MAX_PBKDF2_ITERATIONS} accepted",
                pbkdf2.iteration_count
            )))
        }
        Kdf::Scrypt(scrypt) => {
            let memory = 128u64
                .checked_mul(scrypt.cost_parameter)
                .and_then(|bytes| bytes.checked_mul(u64::from(scrypt.block_size)));
            if memory.is_none_or(|bytes| bytes > MAX_SCRYPT_MEMORY_BYTES) {
                return Err(too_costly(format!(
                    "scrypt with N = {} and r = {}, which needs more than the {} MiB of memory accepted",
                    scrypt.cost_parameter,
                    scrypt.block_size,
                    MAX_SCRYPT_MEMORY_BYTES / (1024 * 1024)
                )));
            }
            if scrypt.parallelization > MAX_SCRYPT_PARALLELIZATION {
                return Err(too_costly(format!(
                    "scrypt with p = {}, more than the {MAX_SCRYPT_PARALLELIZATION} accepted",
                    scrypt.parallelization
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn wrong_password(label: &str) -> ImportError {
    reject(
        RejectKind::WrongPassword,
        format!("the password does not decrypt the private key in {label}; enter the password it was encrypted with"),
    )
}

/// Returns the SubjectPublicKeyInfo of a key, or the reason it cannot be used.
fn public_key_of(key: &FoundKey) -> Result<Vec<u8>, ImportError> {
    match rustls::crypto::aws_lc_rs::sign::any_supported_type(&key.der) {
        Ok(signing_key) => signing_key
            .public_key()
            .map(|spki| spki.to_vec())
            .ok_or_else(|| reject(RejectKind::UnsupportedKey, format!("the key in {} has no public key camcertd can derive; use an ECDSA P-256 or P-384 or an RSA key", key.source))),
        Err(_) => Err(explain_unloadable_key(key)),
    }
}

/// Says why aws-lc refused a key: too short an RSA modulus, an algorithm
/// browsers do not use for servers, or bytes that are not a key.
fn explain_unloadable_key(key: &FoundKey) -> ImportError {
    let rsa_bits = match &key.der {
        PrivateKeyDer::Pkcs1(pkcs1_key) => {
            pkcs1::RsaPrivateKey::from_der(pkcs1_key.secret_pkcs1_der())
                .ok()
                .map(|rsa| rsa.modulus.as_bytes().len() * 8)
        }
        PrivateKeyDer::Pkcs8(pkcs8_key) => {
            pkcs8::PrivateKeyInfo::from_der(pkcs8_key.secret_pkcs8_der())
                .ok()
                .filter(|info| info.algorithm.oid.to_string() == RSA_ENCRYPTION_OID)
                .and_then(|info| pkcs1::RsaPrivateKey::from_der(info.private_key).ok())
                .map(|rsa| rsa.modulus.as_bytes().len() * 8)
        }
        _ => None,
    };
    if let Some(bits) = rsa_bits.filter(|bits| *bits < 2048) {
        return reject(
            RejectKind::WeakKey,
            format!("the key in {} is RSA with {bits} bits; browsers require at least 2048, so create a new key of 2048 bits or more (or ECDSA P-256)", key.source),
        );
    }
    let algorithm = match &key.der {
        PrivateKeyDer::Pkcs8(pkcs8_key) => {
            pkcs8::PrivateKeyInfo::from_der(pkcs8_key.secret_pkcs8_der())
                .map(|info| algorithm_name(&info.algorithm.oid.to_string()))
                .unwrap_or_else(|_| "unreadable".into())
        }
        _ => "unreadable".into(),
    };
    if algorithm == "unreadable" {
        return reject(
            RejectKind::Malformed,
            format!(
                "the private key in {} does not parse; export it again as PEM or DER",
                key.source
            ),
        );
    }
    reject(
        RejectKind::UnsupportedKey,
        format!("the key in {} is {algorithm}, which browsers do not accept for HTTPS servers; use ECDSA P-256 or P-384 or RSA 2048 to 4096", key.source),
    )
}

/// rsaEncryption (RFC 8017), the key algorithm of ordinary RSA keys.
const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

fn algorithm_name(oid: &str) -> String {
    match oid {
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        "1.2.840.113549.1.1.10" => "RSA-PSS only".into(),
        "1.2.840.10045.2.1" => "ECDSA on an unsupported curve".into(),
        other => format!("an unknown algorithm ({other})"),
    }
}

/// Applies the rejections to the leaf: key type and size, version,
/// signature, extended key usage and dates.
fn check_leaf(der: &[u8], source: &str, now: OffsetDateTime) -> Result<(), ImportError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|err| {
        reject(
            RejectKind::Malformed,
            format!("the certificate from {source} does not parse: {err}"),
        )
    })?;

    let key_type = super::inspect::CertificateInfo::from_der(der)
        .map(|info| info.key_type)
        .unwrap_or_default();
    match key_type.as_str() {
        "ecdsa-p256" | "ecdsa-p384" => {}
        rsa if rsa.starts_with("rsa-") => {
            let bits: usize = rsa.trim_start_matches("rsa-").parse().unwrap_or(0);
            if bits < 2048 {
                return Err(reject(
                    RejectKind::WeakKey,
                    format!("the certificate from {source} has an RSA key of {bits} bits; browsers require at least 2048, so request a new certificate with a 2048-bit or larger key"),
                ));
            }
            if cert.public_key().algorithm.algorithm.to_id_string() != RSA_ENCRYPTION_OID {
                return Err(reject(RejectKind::UnsupportedKey, format!("the certificate from {source} has an RSA-PSS-only key, which browsers do not accept for servers; use an rsaEncryption or ECDSA key")));
            }
        }
        other => {
            let name = match other {
                "ed25519" => "Ed25519",
                "ecdsa-p521" => "ECDSA P-521",
                "dsa" => "DSA",
                other => other,
            };
            return Err(reject(
                RejectKind::UnsupportedKey,
                format!("the certificate from {source} has a {name} key, which browsers do not accept for HTTPS servers; request one with an ECDSA P-256 or P-384 or an RSA 2048 to 4096 key"),
            ));
        }
    }

    if cert.version() == X509Version::V1 {
        return Err(reject(
            RejectKind::UnsupportedCert,
            format!("the certificate from {source} is X.509 version 1, which has no extensions and which browsers reject; request a version 3 certificate"),
        ));
    }
    check_signature_algorithm(der, source)?;

    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if !eku.value.server_auth && !eku.value.any {
            return Err(reject(
                RejectKind::NotServerCert,
                format!("the certificate from {source} is not for servers: its extended key usage lacks serverAuth (TLS Web Server Authentication); request a server certificate"),
            ));
        }
    }

    let validity = cert.validity();
    let not_after = validity.not_after.to_datetime();
    let not_before = validity.not_before.to_datetime();
    if not_after < now {
        return Err(reject(
            RejectKind::Expired,
            format!("the certificate from {source} expired on {not_after}; request a new one"),
        ));
    }
    if not_before > now {
        return Err(reject(
            RejectKind::NotYetValid,
            format!("the certificate from {source} is valid only from {not_before}; check the camera's clock ({now}) or wait until then"),
        ));
    }
    Ok(())
}

/// Rejects SHA-1 and MD5 signatures, which browsers no longer accept.
fn check_signature_algorithm(der: &[u8], source: &str) -> Result<(), ImportError> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Ok(());
    };
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    let weak = match oid.as_str() {
        "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" | "1.2.840.10040.4.3" | "1.3.14.3.2.29" => {
            Some("SHA-1")
        }
        "1.2.840.113549.1.1.4" | "1.2.840.113549.1.1.2" => Some("MD5"),
        _ => None,
    };
    match weak {
        Some(hash) => Err(reject(
            RejectKind::WeakSignature,
            format!("the certificate {} from {source} is signed with {hash}, which browsers reject; ask the CA to sign it with SHA-256", cert.subject()),
        )),
        None => Ok(()),
    }
}

/// Orders `others` from the leaf's issuer upwards by subject and issuer
/// names, drops duplicates and certificates that are not part of the path,
/// and splits off a self-signed root. Returns the chain to send, the root,
/// and whether the leaf's issuer was found.
#[allow(clippy::type_complexity)]
fn order_chain(
    leaf: &[u8],
    others: Vec<(Vec<u8>, String)>,
) -> (Vec<(Vec<u8>, String)>, Option<(Vec<u8>, String)>, bool) {
    let mut pool: Vec<(Vec<u8>, String)> = Vec::new();
    for (der, source) in others {
        if der != leaf && !pool.iter().any(|(known, _)| *known == der) {
            pool.push((der, source));
        }
    }
    let names = |der: &[u8]| {
        X509Certificate::from_der(der)
            .map(|(_, cert)| {
                (
                    cert.subject().as_raw().to_vec(),
                    cert.issuer().as_raw().to_vec(),
                )
            })
            .unwrap_or_default()
    };

    let mut chain: Vec<(Vec<u8>, String)> = Vec::new();
    let mut root = None;
    let (leaf_subject, mut wanted) = names(leaf);
    let issuer_found = leaf_subject == wanted || pool.iter().any(|(der, _)| names(der).0 == wanted);
    // Each step takes the certificate whose subject is the issuer sought; the
    // pool shrinks, so the walk ends even when names loop.
    while let Some(index) = pool.iter().position(|(der, _)| names(der).0 == wanted) {
        let (der, source) = pool.remove(index);
        let (subject, issuer) = names(&der);
        if subject == issuer {
            root = Some((der, source));
            break;
        }
        wanted = issuer;
        chain.push((der, source));
    }
    (chain, root, issuer_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_kind_names_match_api() {
        let json = serde_json::to_string(&RejectKind::KeyMismatch).unwrap();
        assert_eq!(json, "\"key-mismatch\"");
        assert_eq!(RejectKind::WrongPassword.as_str(), "wrong-password");
    }

    #[test]
    fn garbage_is_malformed() {
        let upload = Upload {
            files: vec![UploadFile {
                field: Field::Certificate,
                name: "cert.pem".into(),
                data: b"hello".to_vec().into(),
            }],
            password: None,
        };
        let err = import(&upload, OffsetDateTime::now_utc(), &[], None).unwrap_err();
        assert_eq!(err.kind, RejectKind::Malformed);
        assert!(
            err.message.contains("cert.pem (certificate)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn oversized_file_is_too_large() {
        let upload = Upload {
            files: vec![UploadFile {
                field: Field::Chain,
                name: String::new(),
                data: vec![b'A'; MAX_FILE_BYTES + 1].into(),
            }],
            password: None,
        };
        let err = import(&upload, OffsetDateTime::now_utc(), &[], None).unwrap_err();
        assert_eq!(err.kind, RejectKind::TooLarge);
        assert!(err.message.contains("the chain field"), "{}", err.message);
    }
}
