//! Factory certificates and the camera-local root, checked by the libraries
//! browsers use: NSS (`certutil`, `vfychain`) and OpenSSL.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// An NSS certificate database in a temporary folder, as Firefox and
/// Chromium on Linux keep one.
struct Nss {
    dir: tempfile::TempDir,
}

impl Nss {
    /// Creates an empty database, or returns `None` with a message where the
    /// NSS tools (Debian package libnss3-tools) are missing.
    fn create() -> Option<Nss> {
        let dir = tempfile::tempdir().unwrap();
        let created = Command::new("certutil")
            .args(["-N", "--empty-password", "-d"])
            .arg(format!("sql:{}", dir.path().display()))
            .output();
        match created {
            Ok(output) if output.status.success() => Some(Nss { dir }),
            Ok(output) => panic!(
                "certutil -N failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => {
                eprintln!("skipped: certutil is missing (package libnss3-tools): {error}");
                None
            }
        }
    }

    fn database(&self) -> String {
        format!("sql:{}", self.dir.path().display())
    }

    /// Adds `pem_file` as a trusted root for TLS servers.
    fn trust(&self, nickname: &str, pem_file: &Path) {
        let output = Command::new("certutil")
            .args([
                "-A",
                "-t",
                "C,,",
                "-a",
                "-n",
                nickname,
                "-d",
                &self.database(),
                "-i",
            ])
            .arg(pem_file)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "certutil -A: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Verifies `leaf` with `intermediates` for TLS server use, as a browser
    /// does, and returns vfychain's output.
    fn verify(&self, leaf: &Path, intermediates: &[&Path]) -> Output {
        self.verify_with(&["-pp"], leaf, intermediates)
    }

    /// Like [`Nss::verify`] with NSS's classic verifier, whose errors name
    /// the failed check more precisely than libpkix's.
    fn verify_classic(&self, leaf: &Path) -> Output {
        self.verify_with(&[], leaf, &[])
    }

    fn verify_with(&self, options: &[&str], leaf: &Path, intermediates: &[&Path]) -> Output {
        let mut command = Command::new("vfychain");
        command
            .args(["-d", &self.database()])
            .args(options)
            .args(["-u", "1", "-a"]);
        command.arg(leaf);
        for intermediate in intermediates {
            command.arg("-a").arg(intermediate);
        }
        command.output().unwrap()
    }
}

fn assert_good(output: &Output, what: &str) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && text.contains("Chain is good!"),
        "{what}: {text}"
    );
}

fn assert_bad(output: &Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{what} verified: {text}");
    text
}

fn camcertd_ok(args: &[&str]) -> String {
    let output = run_camcertd(args, "");
    assert!(
        output.status.success(),
        "camcertd {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The two time types of a certificate's validity, as `openssl asn1parse`
/// names them (UTCTIME or GENERALIZEDTIME).
fn validity_encodings(cert: &Path) -> Vec<String> {
    let text = openssl(&["asn1parse", "-in", cert.to_str().unwrap()], b"");
    text.lines()
        .filter_map(|line| {
            ["UTCTIME", "GENERALIZEDTIME"]
                .into_iter()
                .find(|kind| line.split_whitespace().any(|word| word == *kind))
        })
        .take(2)
        .map(str::to_owned)
        .collect()
}

fn create_manufacturer_root(dir: &Path) -> PathBuf {
    camcertd_ok(&["factory", "create-root", "--out", dir.to_str().unwrap()]);
    dir.join("manufacturer-root.pem")
}

#[test]
fn factory_certificates_follow_the_board_profile() {
    let root_dir = tempfile::tempdir().unwrap();
    let root = create_manufacturer_root(root_dir.path());
    let key_mode = camcertd::store::mode_of(&root_dir.path().join("manufacturer-root-key.pem"));
    assert_eq!(key_mode.unwrap(), 0o600);
    let nss = Nss::create();
    if let Some(nss) = &nss {
        nss.trust("manufacturer", &root);
    }
    let this_year = time::OffsetDateTime::now_utc().year();

    let boards = [
        ("camera-gen1", 15, "UTCTIME"),
        ("camera-gen2", 25, "GENERALIZEDTIME"),
    ];
    for (board, years, encoding) in boards {
        let factory = tempfile::tempdir().unwrap();
        let profile =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("board/{board}/profile.toml"));
        camcertd_ok(&[
            "factory",
            "provision",
            "--root-dir",
            root_dir.path().to_str().unwrap(),
            "--serial",
            "ACCC8E-0042",
            "--ip",
            "192.0.2.10",
            "--board",
            profile.to_str().unwrap(),
            "--out",
            factory.path().to_str().unwrap(),
        ]);
        let cert = factory.path().join("cert.pem");
        let text = openssl(
            &["x509", "-noout", "-text", "-in", cert.to_str().unwrap()],
            b"",
        );
        let end_year = this_year + years;
        assert!(
            text.contains(&format!(" {end_year} GMT")),
            "{board}: not after should fall in {end_year}: {text}"
        );
        assert!(text.contains("IP Address:192.0.2.10"), "{board}: {text}");
        assert!(
            text.contains("serialNumber = ACCC8E-0042"),
            "{board}: {text}"
        );
        assert!(
            text.contains("TLS Web Server Authentication"),
            "{board}: {text}"
        );
        assert_eq!(
            validity_encodings(&cert),
            vec!["UTCTIME".to_owned(), encoding.to_owned()],
            "{board}"
        );
        let verify = openssl_output(
            &[
                "verify",
                "-x509_strict",
                "-purpose",
                "sslserver",
                "-verify_ip",
                "192.0.2.10",
                "-CAfile",
                root.to_str().unwrap(),
                cert.to_str().unwrap(),
            ],
            b"",
        );
        assert!(
            verify.status.success(),
            "{board}: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
        if let Some(nss) = &nss {
            assert_good(&nss.verify(&cert, &[]), board);
        }
        assert_eq!(
            std::fs::read_to_string(factory.path().join("root.pem")).unwrap(),
            std::fs::read_to_string(&root).unwrap()
        );
    }
}

#[test]
fn factory_pair_is_served_and_verifies() {
    let root_dir = tempfile::tempdir().unwrap();
    let root = create_manufacturer_root(root_dir.path());
    let factory = tempfile::tempdir().unwrap();
    camcertd_ok(&[
        "factory",
        "provision",
        "--root-dir",
        root_dir.path().to_str().unwrap(),
        "--serial",
        "ACCC8E-0043",
        "--ip",
        "127.0.0.1",
        "--ip",
        "::1",
        "--years",
        "25",
        "--out",
        factory.path().to_str().unwrap(),
    ]);
    let state = tempfile::tempdir().unwrap();
    let config = state.path().join("camcertd.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nfactory_dir = \"{}\"\n[certificate]\ninterfaces = [\"lo\"]\n",
            factory.path().display()
        ),
    )
    .unwrap();
    let server = Server::start(
        &state.path().join("state"),
        &["--config", config.to_str().unwrap()],
    );
    let output = openssl_output(
        &[
            "s_client",
            "-connect",
            &server.address.to_string(),
            "-CAfile",
            root.to_str().unwrap(),
            "-verify_ip",
            "127.0.0.1",
            "-verify_return_error",
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("Verify return code: 0 (ok)"),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("ACCC8E-0043"), "{text}");

    // After a self-signed certificate, the API goes back to the factory pair.
    let password = server.password();
    let post = |path: &str| {
        let output = Command::new("curl")
            .args(["--silent", "--insecure", "--request", "POST"])
            .args(["--user", &format!("admin:{password}")])
            .args(["--header", "content-type: application/json"])
            .arg(format!("https://127.0.0.1:{}{path}", server.address.port()))
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    assert_eq!(
        post("/api/v1/certificate/self-signed")["origin"],
        "self-signed"
    );
    let status = post("/api/v1/certificate/factory");
    assert_eq!(status["origin"], "factory", "{status}");
    assert!(status["subject"].as_str().unwrap().contains("ACCC8E-0043"));
}

#[test]
fn factory_return_without_factory_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let output = Command::new("curl")
        .args(["--silent", "--insecure", "--request", "POST"])
        .args(["--user", &format!("admin:{}", server.password())])
        .args(["--header", "content-type: application/json"])
        .args(["--write-out", "\n%{http_code}"])
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/certificate/factory",
            server.address.port()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap();
    assert_eq!(code, "409");
    let json: Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["error"]["kind"], "no-factory");
}

#[test]
fn company_chain_verifies_in_nss() {
    let Some(corpus) = corpus_dir() else { return };
    let Some(nss) = Nss::create() else { return };
    nss.trust("company", &corpus.join("_pki/trust-anchors.pem"));
    let case = corpus.join("c01-pem-pkcs8-separate-files");
    assert_good(
        &nss.verify(&case.join("cert.pem"), &[&case.join("chain.pem")]),
        "company chain",
    );
    assert_bad(
        &nss.verify(&case.join("cert.pem"), &[]),
        "leaf without its chain",
    );
}

/// Writes a config for device-ca mode into `dir` and returns its path.
fn device_ca_config(dir: &Path, extra: &str) -> String {
    let path = dir.join("camcertd.toml");
    std::fs::write(
        &path,
        format!("[certificate]\nhostname = \"cam-test\"\n{extra}\n[certificate.device_ca]\nenabled = true\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn curl_public(server: &Server, path: &str) -> (u16, Vec<u8>) {
    let output = Command::new("curl")
        .args(["--silent", "--insecure", "--write-out", "%{http_code}"])
        .arg(format!("https://127.0.0.1:{}{path}", server.address.port()))
        .output()
        .expect("curl is installed (the test setup installs it)");
    let mut body = output.stdout;
    let code = body.split_off(body.len() - 3);
    (String::from_utf8(code).unwrap().parse().unwrap(), body)
}

#[tokio::test(flavor = "multi_thread")]
async fn device_ca_root_signs_the_served_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let config = device_ca_config(dir.path(), "interfaces = [\"lo\"]");
    let state = dir.path().join("state");
    let server = Server::start(&state, &["--config", &config]);
    let password = server.password();
    let credentials = Some(("admin", password.as_str()));

    // The root is public: no credentials needed, PEM and DER alike.
    let (code, root_pem) = curl_public(&server, "/api/v1/device-ca/root.pem");
    assert_eq!(code, 200);
    let (code, root_der) = curl_public(&server, "/api/v1/device-ca/root.cer");
    assert_eq!(code, 200);
    let root_file = dir.path().join("camera-root.pem");
    std::fs::write(&root_file, &root_pem).unwrap();
    let from_der = openssl(&["x509", "-inform", "DER"], &root_der);
    assert_eq!(from_der.trim(), String::from_utf8_lossy(&root_pem).trim());

    let root_text = openssl(&["x509", "-noout", "-text"], &root_pem);
    assert!(root_text.contains("CA:TRUE, pathlen:0"), "{root_text}");
    assert!(
        root_text.contains("Certificate Sign, CRL Sign"),
        "{root_text}"
    );
    assert!(
        root_text.contains("X509v3 Name Constraints: critical"),
        "{root_text}"
    );
    assert!(root_text.contains("IP:127.0.0.0/255.0.0.0"), "{root_text}");
    assert!(
        root_text.contains("IP:192.168.0.0/255.255.0.0"),
        "{root_text}"
    );
    assert!(root_text.contains("DNS:cam-test"), "{root_text}");
    assert!(
        root_text.contains("CN = cam-test local root"),
        "{root_text}"
    );
    let key_dir = state.join("device-ca");
    assert_eq!(camcertd::store::mode_of(&key_dir).unwrap(), 0o700);
    assert_eq!(
        camcertd::store::mode_of(&key_dir.join("key.pem")).unwrap(),
        0o600
    );

    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    let (_, _, body) = connection
        .request("GET", "/api/v1/certificate", credentials, None)
        .await;
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["origin"], "device-ca", "{status}");
    assert_eq!(status["validity_days"], 397);
    assert_eq!(status["reaches_root"], true);
    assert!(
        status["chain"][0]["subject"]
            .as_str()
            .unwrap()
            .contains("local root"),
        "{status}"
    );

    // OpenSSL and NSS accept the served leaf for 127.0.0.1 under the root.
    let output = openssl_output(
        &[
            "s_client",
            "-connect",
            &server.address.to_string(),
            "-CAfile",
            root_file.to_str().unwrap(),
            "-verify_ip",
            "127.0.0.1",
            "-verify_return_error",
            "-showcerts",
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    let leaf_file = dir.path().join("leaf.pem");
    std::fs::write(&leaf_file, first_pem_certificate(&text).unwrap()).unwrap();
    assert!(!text.contains(" 1 s:"), "the root must not be sent: {text}");
    if let Some(nss) = Nss::create() {
        nss.trust("camera", &root_file);
        assert_good(&nss.verify(&leaf_file, &[]), "device-ca leaf");

        // A leaf for an address outside the root's name constraints, made
        // with the root key, is refused by both libraries.
        let outside = dir.path().join("outside.pem");
        sign_with_root(&key_dir, &root_file, "IP:203.0.113.5", &outside);
        assert_bad(&nss.verify(&outside, &[]), "leaf outside the constraints");
        let text = assert_bad(
            &nss.verify_classic(&outside),
            "leaf outside the constraints",
        );
        assert!(text.contains("ERROR -8080"), "{text}");
        let inside = dir.path().join("inside.pem");
        sign_with_root(&key_dir, &root_file, "IP:127.0.0.2", &inside);
        assert_good(&nss.verify(&inside, &[]), "leaf inside the constraints");
        let verify = openssl_output(
            &[
                "verify",
                "-CAfile",
                root_file.to_str().unwrap(),
                outside.to_str().unwrap(),
            ],
            b"",
        );
        assert!(!verify.status.success());
        assert!(
            String::from_utf8_lossy(&verify.stdout).contains("permitted subtree violation")
                || String::from_utf8_lossy(&verify.stderr).contains("permitted subtree violation")
        );
    }

    // Leaves stay within 825 days; the root stays when switching modes.
    let (status_code, _, body) = connection
        .request(
            "POST",
            "/api/v1/certificate/self-signed",
            credentials,
            Some(r#"{"validity_days": 900}"#),
        )
        .await;
    assert_eq!(status_code, 422, "{body}");
    assert!(body.contains("at most 825 days"), "{body}");
    let (_, _, body) = connection
        .request(
            "POST",
            "/api/v1/certificate/self-signed",
            credentials,
            Some(r#"{"device_ca": false, "validity_days": 900}"#),
        )
        .await;
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["origin"], "self-signed", "{status}");
    let (_, _, body) = connection
        .request(
            "POST",
            "/api/v1/certificate/self-signed",
            credentials,
            Some(r#"{"device_ca": true, "validity_days": 30}"#),
        )
        .await;
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["origin"], "device-ca", "{status}");
    assert_eq!(status["validity_days"], 30);
    let (_, root_again) = curl_public(&server, "/api/v1/device-ca/root.pem");
    assert_eq!(
        root_again, root_pem,
        "the camera-local root must not change"
    );
}

/// Signs a leaf for `san` with the camera-local root's key, as only a
/// test can, to check that clients enforce the root's name constraints.
fn sign_with_root(key_dir: &Path, root: &Path, san: &str, out: &Path) {
    let work = tempfile::tempdir().unwrap();
    let extensions = work.path().join("leaf.ext");
    std::fs::write(
        &extensions,
        format!("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName={san}\n"),
    )
    .unwrap();
    let csr = work.path().join("leaf.csr");
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=outside",
            "-keyout",
            work.path().join("leaf.key").to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ],
        b"",
    );
    openssl(
        &[
            "x509",
            "-req",
            "-days",
            "30",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            root.to_str().unwrap(),
            "-CAkey",
            key_dir.join("key.pem").to_str().unwrap(),
            "-extfile",
            extensions.to_str().unwrap(),
            "-out",
            out.to_str().unwrap(),
        ],
        b"",
    );
}

#[test]
fn device_ca_leaf_follows_address_changes_under_one_root() {
    let Some(namespace) = Namespace::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = device_ca_config(
        dir.path(),
        "interfaces = [\"veth0\"]\ninclude_loopback = false\n[network]\nquiet_period_ms = 500",
    );
    // The documentation ranges stand for the site's own network here.
    let text = std::fs::read_to_string(&config).unwrap()
        + "permitted_ip_ranges = [\"192.0.2.0/24\", \"198.51.100.0/24\"]\n";
    std::fs::write(&config, text).unwrap();
    namespace.ip(&["addr", "add", "192.0.2.10/24", "dev", "veth0"]);
    let state = dir.path().join("state");
    let server = Server::start_in(Some(&namespace.name), &state, &["--config", &config]);
    let root = state.join("device-ca/cert.pem");

    let verify_for = |address: &str| {
        let output = Command::new("ip")
            .args(["netns", "exec", &namespace.name, "openssl", "s_client"])
            .args([
                "-connect",
                &server.address.to_string(),
                "-verify_return_error",
            ])
            .args(["-CAfile", root.to_str().unwrap(), "-verify_ip", address])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        output.status.success()
    };
    namespace.wait_for_served(&server, "named 192.0.2.10", |text| {
        text.contains("IP Address:192.0.2.10")
    });
    assert!(verify_for("192.0.2.10"));
    let root_before = std::fs::read(&root).unwrap();

    namespace.ip(&["addr", "add", "198.51.100.20/24", "dev", "veth0"]);
    namespace.ip(&["addr", "del", "192.0.2.10/24", "dev", "veth0"]);
    namespace.wait_for_served(&server, "moved to 198.51.100.20", |text| {
        text.contains("IP Address:198.51.100.20") && !text.contains("192.0.2.10")
    });
    assert!(verify_for("198.51.100.20"), "{}", server.log_text());
    assert!(!verify_for("192.0.2.10"));
    assert_eq!(std::fs::read(&root).unwrap(), root_before);

    // An address outside the root's ranges stays out of the leaf, with a
    // warning, and reissues nothing: the leaf already names every address
    // the root may certify. A second such address is a second event.
    let active = || std::fs::read_to_string(state.join("active")).unwrap();
    let generation_before = active();
    let warning = "outside the address ranges the camera-local root may certify";
    let warnings = || server.log_text().matches(warning).count();
    for (count, address) in [(1, "203.0.113.7/24"), (2, "203.0.113.8/24")] {
        namespace.ip(&["addr", "add", address, "dev", "veth0"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while warnings() < count && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(warnings() >= count, "{}", server.log_text());
    }
    // Longer than the quiet period plus an ECDSA issuance.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(active(), generation_before, "{}", server.log_text());
    let served = namespace.served_text(&server);
    assert!(!served.contains("203.0.113.7"), "{served}");
    assert!(!served.contains("203.0.113.8"), "{served}");
    assert!(verify_for("198.51.100.20"));

    // With only such addresses left, the leaf stays, and the log blames the
    // root's ranges, not a missing address.
    namespace.ip(&["addr", "del", "198.51.100.20/24", "dev", "veth0"]);
    let ranges_line = "no current address is in certificate.device_ca.permitted_ip_ranges";
    let logged = server.wait_for_log(ranges_line, std::time::Duration::from_secs(20));
    let log = server.log_text();
    assert!(logged, "{log}");
    assert!(!log.contains("no usable address"), "{log}");
    assert_eq!(active(), generation_before, "{log}");
}
