//! The upload corpus through the import checks, without a server: every
//! accepted case is accepted with its warnings, every rejected one gets its kind.

mod common;

use camcertd::pki::import::{import, Field, Upload, UploadFile};
use common::*;
use zeroize::Zeroizing;

fn upload_of(dir: &std::path::Path, case: &CorpusCase) -> Upload {
    let mut upload = Upload::default();
    for (field, file) in &case.upload {
        let data = std::fs::read(dir.join(&case.dir).join(file)).unwrap();
        let field = match field.as_str() {
            "certificate" => Field::Certificate,
            "private_key" => Field::PrivateKey,
            "chain" => Field::Chain,
            "pkcs12" => Field::Pkcs12,
            "password_file" => {
                upload.password = Some(Zeroizing::new(String::from_utf8(data).unwrap()));
                continue;
            }
            other => panic!("{}: unknown upload field {other}", case.id),
        };
        upload.files.push(UploadFile {
            field,
            name: file.clone(),
            data: data.into(),
        });
    }
    upload
}

/// The kind name of a `warn: ...` entry, as the API spells it.
fn warning_kind(kind: &str) -> &'static str {
    match kind.trim_start_matches("warn: ") {
        "negative serial" => "negative-serial",
        "no subjectAltName" => "no-subject-alt-name",
        other => panic!("unknown corpus warning {other:?}"),
    }
}

#[test]
fn corpus_cases_get_expected_outcome() {
    let Some(dir) = corpus_dir() else { return };
    let now = time::OffsetDateTime::now_utc();
    let mut failures = Vec::new();
    for case in corpus_cases(&dir) {
        let result = import(&upload_of(&dir, &case), now, &[], None);
        match (case.expect.as_str(), result) {
            ("accept", Ok(imported)) => {
                let kinds: Vec<String> = imported
                    .warnings
                    .iter()
                    .map(|warning| {
                        serde_json::to_value(warning.kind)
                            .unwrap()
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                    .collect();
                if case.warn {
                    let expected = warning_kind(case.kind.as_deref().unwrap());
                    if !kinds.iter().any(|kind| kind == expected) {
                        failures.push(format!(
                            "{}: expected warning {expected}, got {kinds:?}",
                            case.id
                        ));
                    }
                } else if kinds.iter().any(|kind| {
                    kind == "negative-serial"
                        || kind == "no-subject-alt-name"
                        || kind == "ip-as-dns-name"
                        || kind == "ca-certificate"
                }) {
                    failures.push(format!(
                        "{}: unexpected certificate-form warning {kinds:?}",
                        case.id
                    ));
                }
            }
            ("reject", Err(error)) => {
                let expected = case.kind.as_deref().unwrap();
                if error.kind.as_str() != expected {
                    failures.push(format!(
                        "{}: expected {expected}, got {} ({})",
                        case.id,
                        error.kind.as_str(),
                        error.message
                    ));
                }
            }
            ("accept", Err(error)) => failures.push(format!(
                "{}: expected accept, got {}: {}",
                case.id,
                error.kind.as_str(),
                error.message
            )),
            (_, Ok(_)) => failures.push(format!(
                "{}: expected reject {:?}, but it was accepted",
                case.id, case.kind
            )),
            (other, _) => failures.push(format!("{}: unknown expectation {other}", case.id)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Test material made with openssl in a temporary folder: a CA and leaves
/// in the forms and with the faults the corpus does not hold.
struct Fixtures {
    dir: tempfile::TempDir,
}

impl Fixtures {
    fn new() -> Fixtures {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Fixtures { dir };
        openssl_self_signed(
            &fixtures.dir.path().join("ca.key"),
            &fixtures.dir.path().join("ca.pem"),
            "/CN=Import Test CA",
            30,
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign",
            ],
        );
        fixtures
    }

    /// Writes a new EC private key on `curve` (such as `P-256`) to `name`.
    fn ec_key(&self, name: &str, curve: &str) {
        let curve = format!("ec_paramgen_curve:{curve}");
        self.run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &curve,
            "-out",
            name,
        ]);
    }

    /// An upload of `cert`, `key` and the CA as chain.
    fn upload_with_ca(&self, cert: &str, key: &str, password: Option<&str>) -> Upload {
        upload(
            vec![
                file(Field::Certificate, cert, self.read(cert)),
                file(Field::PrivateKey, key, self.read(key)),
                file(Field::Chain, "ca.pem", self.read("ca.pem")),
            ],
            password,
        )
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Runs openssl in the fixture folder.
    fn run(&self, args: &[&str]) {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl is installed (the test setup installs it)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Signs a request for `key` (with `passin` when encrypted) by the CA
    /// into `cert`, with `extensions` (an openssl extension file body;
    /// empty makes an X.509 v1 certificate) and extra `x509` options.
    fn sign(&self, key: &str, passin: Option<&str>, cert: &str, extensions: &str, extra: &[&str]) {
        let csr = format!("{cert}.csr");
        let mut request = vec![
            "req",
            "-new",
            "-key",
            key,
            "-subj",
            "/CN=cam.example.com",
            "-out",
            &csr,
        ];
        let pass = passin.map(|password| format!("pass:{password}"));
        if let Some(pass) = &pass {
            request.extend(["-passin", pass]);
        }
        self.run(&request);
        let mut sign = vec![
            "x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "20",
            "-out", cert,
        ];
        let ext_file = format!("{cert}.ext");
        if !extensions.is_empty() {
            std::fs::write(self.path(&ext_file), extensions).unwrap();
            sign.extend(["-extfile", &ext_file]);
        }
        sign.extend(extra);
        self.run(&sign);
    }
}

/// Extensions of a good server certificate for 192.0.2.10.
const SERVER_EXTENSIONS: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:192.0.2.10,DNS:cam.example.com\n";

fn file(field: Field, name: &str, data: Vec<u8>) -> UploadFile {
    UploadFile {
        field,
        name: name.to_owned(),
        data: data.into(),
    }
}

fn upload(files: Vec<UploadFile>, password: Option<&str>) -> Upload {
    Upload {
        files,
        password: password.map(|password| Zeroizing::new(password.to_owned())),
    }
}

fn kind_of(upload: &Upload) -> Result<Vec<String>, String> {
    let now = time::OffsetDateTime::now_utc();
    let address: std::net::IpAddr = "192.0.2.10".parse().unwrap();
    match import(upload, now, &[address], None) {
        Ok(imported) => Ok(imported
            .warnings
            .iter()
            .map(|warning| {
                serde_json::to_value(warning.kind)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()),
        Err(error) => Err(error.kind.as_str().to_owned()),
    }
}

#[test]
fn legacy_pem_encryption_is_read() {
    let fixtures = Fixtures::new();
    fixtures.run(&[
        "genrsa",
        "-traditional",
        "-des3",
        "-passout",
        "pass:Secret-3des",
        "-out",
        "rsa.key",
        "2048",
    ]);
    fixtures.sign(
        "rsa.key",
        Some("Secret-3des"),
        "rsa.pem",
        SERVER_EXTENSIONS,
        &[],
    );
    fixtures.run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ec-plain.key",
    ]);
    fixtures.run(&[
        "ec",
        "-in",
        "ec-plain.key",
        "-aes256",
        "-passout",
        "pass:Secret-aes",
        "-out",
        "ec.key",
    ]);
    fixtures.sign("ec-plain.key", None, "ec.pem", SERVER_EXTENSIONS, &[]);
    let rsa_key = fixtures.read("rsa.key");
    let ec_key = fixtures.read("ec.key");
    assert!(String::from_utf8_lossy(&rsa_key).contains("DEK-Info: DES-EDE3-CBC"));
    assert!(String::from_utf8_lossy(&ec_key).contains("DEK-Info: AES-256-CBC"));

    let rsa = |password: Option<&str>| {
        upload(
            vec![
                file(Field::Certificate, "rsa.pem", fixtures.read("rsa.pem")),
                file(Field::PrivateKey, "rsa.key", rsa_key.clone()),
            ],
            password,
        )
    };
    assert_eq!(
        kind_of(&rsa(Some("Secret-3des"))),
        Ok(vec!["issuer-not-found".to_owned()])
    );
    assert_eq!(
        kind_of(&rsa(Some("secret-3des"))),
        Err("wrong-password".to_owned())
    );
    assert_eq!(kind_of(&rsa(None)), Err("wrong-password".to_owned()));

    let ec = upload(
        vec![
            file(Field::Certificate, "ec.pem", fixtures.read("ec.pem")),
            file(Field::PrivateKey, "ec.key", ec_key),
            file(Field::Chain, "ca.pem", fixtures.read("ca.pem")),
        ],
        Some("Secret-aes"),
    );
    assert_eq!(kind_of(&ec), Ok(vec![]));
}

#[test]
fn encrypted_pkcs8_needs_its_password() {
    let fixtures = Fixtures::new();
    fixtures.run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-aes-256-cbc",
        "-pass",
        "pass:Right",
        "-out",
        "key.pem",
    ]);
    fixtures.sign("key.pem", Some("Right"), "cert.pem", SERVER_EXTENSIONS, &[]);
    let with = |password: Option<&str>| fixtures.upload_with_ca("cert.pem", "key.pem", password);
    assert_eq!(kind_of(&with(Some("Right"))), Ok(vec![]));
    assert_eq!(
        kind_of(&with(Some("Wrong"))),
        Err("wrong-password".to_owned())
    );
    assert_eq!(kind_of(&with(None)), Err("wrong-password".to_owned()));
    assert_eq!(kind_of(&with(Some(""))), Err("wrong-password".to_owned()));
}

#[test]
fn pkcs7_bundles_and_der_pkcs8_keys_are_read() {
    let fixtures = Fixtures::new();
    fixtures.ec_key("key.pem", "P-384");
    fixtures.run(&[
        "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
    ]);
    fixtures.sign("key.pem", None, "cert.pem", SERVER_EXTENSIONS, &[]);
    fixtures.run(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        "cert.pem",
        "-certfile",
        "ca.pem",
        "-out",
        "bundle.p7b",
    ]);
    fixtures.run(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        "ca.pem",
        "-outform",
        "DER",
        "-out",
        "chain.p7b",
    ]);

    let pem_bundle = upload(
        vec![
            file(
                Field::Certificate,
                "bundle.p7b",
                fixtures.read("bundle.p7b"),
            ),
            file(Field::PrivateKey, "key.der", fixtures.read("key.der")),
        ],
        None,
    );
    assert_eq!(kind_of(&pem_bundle), Ok(vec![]));

    let der_chain = upload(
        vec![
            file(Field::Certificate, "cert.pem", fixtures.read("cert.pem")),
            file(Field::PrivateKey, "key.pem", fixtures.read("key.pem")),
            file(Field::Chain, "chain.p7b", fixtures.read("chain.p7b")),
        ],
        None,
    );
    assert_eq!(kind_of(&der_chain), Ok(vec![]));

    let mut truncated = fixtures.read("chain.p7b");
    truncated.truncate(truncated.len() / 2);
    let broken = upload(
        vec![
            file(Field::Certificate, "cert.pem", fixtures.read("cert.pem")),
            file(Field::PrivateKey, "key.pem", fixtures.read("key.pem")),
            file(Field::Chain, "chain.p7b", truncated),
        ],
        None,
    );
    assert_eq!(kind_of(&broken), Err("malformed".to_owned()));
}

#[test]
fn pkcs12_passwords_open_their_files() {
    let fixtures = Fixtures::new();
    fixtures.ec_key("key.pem", "P-256");
    fixtures.sign("key.pem", None, "cert.pem", SERVER_EXTENSIONS, &[]);
    let password = "Kämera-Paß-€";
    let pass = format!("pass:{password}");
    let common = [
        "pkcs12",
        "-export",
        "-inkey",
        "key.pem",
        "-in",
        "cert.pem",
        "-certfile",
        "ca.pem",
        "-passout",
        &pass,
    ];
    let mut modern = common.to_vec();
    modern.extend(["-out", "modern.p12"]);
    fixtures.run(&modern);
    let mut legacy = common.to_vec();
    legacy.extend(["-legacy", "-out", "legacy.p12"]);
    fixtures.run(&legacy);

    for name in ["modern.p12", "legacy.p12"] {
        let with = |password: Option<&str>| {
            upload(
                vec![file(Field::Pkcs12, name, fixtures.read(name))],
                password,
            )
        };
        assert_eq!(kind_of(&with(Some(password))), Ok(vec![]), "{name}");
        assert_eq!(
            kind_of(&with(Some("Kamera-Pass"))),
            Err("wrong-password".to_owned()),
            "{name}"
        );
        assert_eq!(
            kind_of(&with(None)),
            Err("wrong-password".to_owned()),
            "{name}"
        );
    }
}

#[test]
fn unusable_certificates_and_keys_are_rejected() {
    let fixtures = Fixtures::new();
    fixtures.ec_key("ec.key", "P-256");
    fixtures.sign("ec.key", None, "v1.pem", "", &[]);
    fixtures.run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-md5",
        "-days",
        "20",
        "-subj",
        "/CN=cam.example.com",
        "-addext",
        "extendedKeyUsage=serverAuth",
        "-keyout",
        "md5.key",
        "-out",
        "md5.pem",
    ]);
    fixtures.ec_key("p521.key", "P-521");
    fixtures.sign("p521.key", None, "p521.pem", SERVER_EXTENSIONS, &[]);
    fixtures.run(&[
        "genpkey",
        "-algorithm",
        "RSA-PSS",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "pss.key",
    ]);
    fixtures.sign("pss.key", None, "pss.pem", SERVER_EXTENSIONS, &[]);
    fixtures.run(&["genrsa", "-out", "rsa1024.key", "1024"]);
    fixtures.sign("rsa1024.key", None, "rsa1024.pem", SERVER_EXTENSIONS, &[]);

    let cases = [
        ("v1.pem", "ec.key", "unsupported-cert"),
        ("md5.pem", "md5.key", "weak-signature"),
        ("p521.pem", "p521.key", "unsupported-key"),
        ("pss.pem", "pss.key", "unsupported-key"),
        ("rsa1024.pem", "rsa1024.key", "weak-key"),
    ];
    for (cert, key, expected) in cases {
        let upload = fixtures.upload_with_ca(cert, key, None);
        assert_eq!(kind_of(&upload), Err(expected.to_owned()), "{cert}");
    }
}

#[test]
fn not_yet_valid_certificate_is_rejected() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["cam.example.com".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(40);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).unwrap();
    let upload = upload(
        vec![
            file(Field::Certificate, "cert.pem", cert.pem().into_bytes()),
            file(
                Field::PrivateKey,
                "key.pem",
                key.serialize_pem().into_bytes(),
            ),
        ],
        None,
    );
    assert_eq!(kind_of(&upload), Err("not-yet-valid".to_owned()));
}

#[test]
fn questionable_certificates_install_with_warnings() {
    let fixtures = Fixtures::new();
    fixtures.ec_key("key.pem", "P-256");
    let cases = [
        (
            "ip-dns.pem",
            "subjectAltName=DNS:192.0.2.10,IP:192.0.2.10\nextendedKeyUsage=serverAuth\n",
            "20",
            "ip-as-dns-name",
        ),
        (
            "ca-true.pem",
            "basicConstraints=CA:TRUE\nsubjectAltName=IP:192.0.2.10\n",
            "20",
            "ca-certificate",
        ),
        ("long.pem", SERVER_EXTENSIONS, "900", "long-validity"),
        (
            "other-ip.pem",
            "subjectAltName=IP:192.0.2.99\nextendedKeyUsage=serverAuth\n",
            "20",
            "address-not-covered",
        ),
    ];
    for (cert, extensions, days, expected) in cases {
        fixtures.sign("key.pem", None, cert, extensions, &["-days", days]);
        let upload = fixtures.upload_with_ca(cert, "key.pem", None);
        let warnings = kind_of(&upload).unwrap_or_else(|kind| panic!("{cert}: rejected as {kind}"));
        assert!(
            warnings.contains(&expected.to_owned()),
            "{cert}: {warnings:?}"
        );
    }
}
