//! Uploads end to end: every corpus case through `PUT /api/v1/certificate`
//! (with curl) and through `camcertd import` (then SIGHUP), the CSR round
//! trip, and the stored files after each rejection.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Every file under `dir` with its bytes, to prove a rejection changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The first certificate the server at `port` sends, as PEM, read with openssl.
fn served_leaf_pem(port: u16) -> String {
    let text = openssl(
        &[
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-showcerts",
        ],
        b"",
    );
    first_pem_certificate(&text).expect("s_client printed the server certificate")
}

/// Runs `openssl s_client` trusting only `ca_file` and fails the handshake on
/// any verification error.
fn verify_served_chain(port: u16, ca_file: &Path) -> Output {
    openssl_output(
        &[
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            ca_file.to_str().unwrap(),
            "-verify_return_error",
        ],
        b"",
    )
}

/// The subject and issuer of each certificate the server at `port` sends,
/// in the order sent, as `s_client -showcerts` prints them.
fn sent_subjects_and_issuers(port: u16) -> Vec<(String, String)> {
    let text = openssl(
        &[
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-showcerts",
        ],
        b"",
    );
    let mut pairs = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some((number, subject)) = trimmed.split_once(" s:") else {
            continue;
        };
        if number.parse::<u32>().is_err() {
            continue;
        }
        let issuer = lines.next().unwrap_or_default().trim_start();
        let issuer = issuer.strip_prefix("i:").unwrap_or_default();
        pairs.push((subject.to_owned(), issuer.to_owned()));
    }
    assert!(!pairs.is_empty(), "no certificate chain in: {text}");
    pairs
}

fn sha256_of_pem(pem: &str) -> String {
    let text = openssl(
        &["x509", "-noout", "-fingerprint", "-sha256"],
        pem.as_bytes(),
    );
    normalize_fingerprint(text.trim().rsplit('=').next().unwrap())
}

fn normalize_fingerprint(text: &str) -> String {
    text.replace(':', "").to_ascii_lowercase()
}

/// Checks that the server at `port` now serves the certificate `status`
/// describes, and that its chain verifies against the corpus trust anchors
/// (or against itself, for a self-signed upload).
fn check_served(case: &CorpusCase, port: u16, status: &Value, corpus: &Path) {
    let leaf = served_leaf_pem(port);
    assert_eq!(
        sha256_of_pem(&leaf),
        normalize_fingerprint(status["sha256_fingerprint"].as_str().unwrap()),
        "{}: the served certificate is not the installed one",
        case.id
    );
    let sent = sent_subjects_and_issuers(port);
    for (subject, issuer) in sent.iter().skip(1) {
        assert_ne!(subject, issuer, "{}: a self-signed root was sent", case.id);
    }
    let self_signed = status["subject"] == status["issuer"];
    let leaf_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(leaf_file.path(), &leaf).unwrap();
    let anchors = if self_signed {
        leaf_file.path().to_owned()
    } else {
        corpus.join("_pki/trust-anchors.pem")
    };
    // An upload without its intermediate is served without it, and the
    // status reports it. The client then brings the intermediates itself, as
    // a browser with a cached copy does.
    let issuer_missing = status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|warning| warning["kind"] == "issuer-not-found");
    let known = tempfile::NamedTempFile::new().unwrap();
    let mut pem = std::fs::read_to_string(&anchors).unwrap();
    if issuer_missing {
        pem += &std::fs::read_to_string(corpus.join("_pki/issuing-ca-1.pem")).unwrap();
        pem += &std::fs::read_to_string(corpus.join("_pki/step-intermediate.pem")).unwrap();
    }
    std::fs::write(known.path(), pem).unwrap();
    let output = verify_served_chain(port, known.path());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("Verify return code: 0 (ok)"),
        "{}: the served chain does not verify against {}: {}{}",
        case.id,
        anchors.display(),
        text,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The kind name of a corpus `warn: ...` entry, as the API spells it.
fn warning_kind(kind: &str) -> &'static str {
    match kind.trim_start_matches("warn: ") {
        "negative serial" => "negative-serial",
        "no subjectAltName" => "no-subject-alt-name",
        other => panic!("unknown corpus warning {other:?}"),
    }
}

fn check_warning(case: &CorpusCase, status: &Value) {
    if !case.warn {
        return;
    }
    let expected = warning_kind(case.kind.as_deref().unwrap());
    let kinds: Vec<&str> = status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|warning| warning["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&expected),
        "{}: expected warning {expected}, got {kinds:?}",
        case.id
    );
}

/// Uploads the files of `case` with curl and returns the HTTP status and body.
fn curl_upload(server: &Server, corpus: &Path, case: &CorpusCase) -> (u16, Value) {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--insecure", "--request", "PUT"])
        .args(["--user", &format!("admin:{}", server.password())])
        .args(["--write-out", "\n%{http_code}"]);
    for (field, file) in &case.upload {
        let path = corpus.join(&case.dir).join(file);
        let form = if field == "password_file" {
            // `<` sends the file's content as a plain text field.
            format!("password=<{}", path.display())
        } else {
            format!("{field}=@{}", path.display())
        };
        command.arg("--form").arg(form);
    }
    let url = format!(
        "https://127.0.0.1:{}/api/v1/certificate",
        server.address.port()
    );
    let output = command
        .arg(url)
        .output()
        .expect("curl is installed (the test setup installs it)");
    assert!(
        output.status.success(),
        "{}: curl failed: {}",
        case.id,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap();
    let json = serde_json::from_str(body)
        .unwrap_or_else(|err| panic!("{}: invalid JSON ({err}): {body}", case.id));
    (code.parse().unwrap(), json)
}

#[test]
fn corpus_uploads_through_the_api() {
    let Some(corpus) = corpus_dir() else { return };
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let port = server.address.port();

    for case in corpus_cases(&corpus) {
        let before_files = snapshot(state.path());
        let before_leaf = served_leaf_pem(port);
        let (code, json) = curl_upload(&server, &corpus, &case);
        if case.expect == "accept" {
            assert_eq!(code, 200, "{}: {json}", case.id);
            assert_eq!(json["origin"], "uploaded", "{}", case.id);
            check_warning(&case, &json);
            check_served(&case, port, &json, &corpus);
        } else {
            let kind = case.kind.as_deref().unwrap();
            assert_eq!(code, 422, "{}: {json}", case.id);
            assert_eq!(json["error"]["kind"], kind, "{}: {json}", case.id);
            assert!(
                !json["error"]["message"].as_str().unwrap().is_empty(),
                "{}",
                case.id
            );
            assert_eq!(
                served_leaf_pem(port),
                before_leaf,
                "{}: served certificate changed",
                case.id
            );
            assert!(
                snapshot(state.path()) == before_files,
                "{}: stored files changed",
                case.id
            );
        }
    }
}

fn import_command(state: &Path, corpus: &Path, case: &CorpusCase) -> Output {
    let mut command = camcertd_command();
    command
        .arg("import")
        .arg("--state-dir")
        .arg(state)
        .arg("--json");
    for (field, file) in &case.upload {
        let flag = format!("--{}", field.replace('_', "-"));
        command.arg(flag).arg(corpus.join(&case.dir).join(file));
    }
    command.output().expect("camcertd runs")
}

#[test]
fn corpus_uploads_through_the_command_line() {
    let Some(corpus) = corpus_dir() else { return };
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let port = server.address.port();

    for case in corpus_cases(&corpus) {
        let before_files = snapshot(state.path());
        let before_leaf = served_leaf_pem(port);
        let output = import_command(state.path(), &corpus, &case);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let json: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|err| panic!("{}: invalid JSON ({err}): {stdout}{stderr}", case.id));
        if case.expect == "accept" {
            assert!(output.status.success(), "{}: {stderr}", case.id);
            assert_eq!(json["origin"], "uploaded", "{}", case.id);
            check_warning(&case, &json);
            let fingerprint = json["sha256_fingerprint"].as_str().unwrap();
            server.signal(nix::sys::signal::Signal::SIGHUP);
            let needle = format!("sha256={fingerprint}");
            assert!(
                server.wait_for_log(&needle, Duration::from_secs(10)),
                "{}: the service did not load {fingerprint} after SIGHUP: {}",
                case.id,
                server.log_text()
            );
            check_served(&case, port, &json, &corpus);
        } else {
            let kind = case.kind.as_deref().unwrap();
            assert_eq!(output.status.code(), Some(2), "{}: {stderr}", case.id);
            assert_eq!(json["error"]["kind"], kind, "{}: {json}", case.id);
            assert!(
                stderr.contains(&format!("error: {kind}: ")),
                "{}: {stderr}",
                case.id
            );
            assert_eq!(served_leaf_pem(port), before_leaf, "{}", case.id);
            assert!(
                snapshot(state.path()) == before_files,
                "{}: stored files changed",
                case.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn csr_round_trip_through_the_api() {
    let state = tempfile::tempdir().unwrap();
    let ca = tempfile::tempdir().unwrap();
    openssl_ca(ca.path());
    let server = Server::start(state.path(), &[]);
    let password = server.password();
    let credentials = Some(("admin", password.as_str()));
    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;

    let (status, _, body) = connection
        .request(
            "POST",
            "/api/v1/csr",
            credentials,
            Some(r#"{"key_type": "ecdsa-p384"}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let csr = serde_json::from_str::<Value>(&body).unwrap()["csr"]
        .as_str()
        .unwrap()
        .to_owned();
    let parsed = openssl(&["req", "-noout", "-text", "-verify"], csr.as_bytes());
    assert!(parsed.contains("IP Address:127.0.0.1"), "{parsed}");
    assert!(parsed.contains("secp384r1"), "{parsed}");
    let pending = std::fs::read_to_string(state.path().join("pending-key.pem")).unwrap();
    assert!(
        !body.contains("PRIVATE KEY"),
        "the CSR response leaks a key"
    );

    let certificate = openssl_sign(ca.path(), &csr);
    let cert_file = ca.path().join("signed.pem");
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--insecure", "--request", "PUT"])
        .args(["--user", &format!("admin:{password}")])
        .arg("--form")
        .arg(format!("certificate=@{}", cert_file.display()))
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/certificate",
            server.address.port()
        ))
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["origin"], "csr", "{json}");

    // The served pair is the signed certificate with the pending key, and
    // the pending key is gone from the state directory.
    let served = served_leaf_pem(server.address.port());
    assert_eq!(sha256_of_pem(&served), sha256_of_pem(&certificate));
    let verify = verify_served_chain(server.address.port(), &ca.path().join("ca.pem"));
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let stored_key = std::fs::read_to_string(active_dir(state.path()).join("key.pem")).unwrap();
    let public_of = |key: &str| openssl(&["pkey", "-pubout"], key.as_bytes());
    assert_eq!(public_of(&stored_key), public_of(&pending));
    assert!(!state.path().join("pending-key.pem").exists());
}

#[test]
fn csr_round_trip_through_the_command_line() {
    let state = tempfile::tempdir().unwrap();
    let ca = tempfile::tempdir().unwrap();
    openssl_ca(ca.path());
    let state_arg = state.path().to_str().unwrap();
    let selfsign = run_camcertd(&["selfsign", "--state-dir", state_arg, "--days", "30"], "");
    assert!(selfsign.status.success());

    let output = run_camcertd(&["csr", "--state-dir", state_arg], "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csr = String::from_utf8(output.stdout).unwrap();
    assert!(
        csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{csr}"
    );
    openssl_sign(ca.path(), &csr);

    let cert_file = ca.path().join("signed.pem");
    let output = run_camcertd(
        &[
            "import",
            "--state-dir",
            state_arg,
            "--certificate",
            cert_file.to_str().unwrap(),
            "--chain",
            ca.path().join("ca.pem").to_str().unwrap(),
        ],
        "",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("origin:              csr"), "{stdout}");

    // A second import of the same certificate has no pending key left.
    let again = run_camcertd(
        &[
            "import",
            "--state-dir",
            state_arg,
            "--certificate",
            cert_file.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("missing-key"));
}

/// The directory of the active generation.
fn active_dir(state: &Path) -> PathBuf {
    let active = std::fs::read_to_string(state.join("active")).unwrap();
    state.join(format!("gen-{:08}", active.trim().parse::<u64>().unwrap()))
}

/// Uploads `size` bytes as the certificate field and returns curl's output:
/// the body, a newline and the HTTP status.
fn upload_filler(server: &Server, size: usize) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("filler.pem");
    std::fs::write(&file, vec![b'A'; size]).unwrap();
    let output = Command::new("curl")
        .args(["--silent", "--insecure", "--request", "PUT"])
        .args(["--user", &format!("admin:{}", server.password())])
        .args(["--write-out", "\n%{http_code}"])
        .arg("--form")
        .arg(format!("certificate=@{}", file.display()))
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/certificate",
            server.address.port()
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn oversized_uploads_are_too_large() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let before = snapshot(state.path());

    // One file over the per-file limit, in a body the server reads whole.
    let text = upload_filler(&server, 100 * 1024);
    let (body, code) = text.rsplit_once('\n').unwrap();
    let json: Value = serde_json::from_str(body).unwrap();
    assert_eq!(code, "422");
    assert_eq!(json["error"]["kind"], "too-large");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("filler.pem"));

    // A body over the request limit, refused while it arrives.
    let text = upload_filler(&server, 400 * 1024);
    let (body, code) = text.rsplit_once('\n').unwrap();
    let json: Value = serde_json::from_str(body).unwrap();
    assert_eq!(code, "413");
    assert_eq!(json["error"]["kind"], "too-large");

    assert!(snapshot(state.path()) == before);
}

#[test]
fn import_without_files_explains_the_flags() {
    let state = tempfile::tempdir().unwrap();
    let output = run_camcertd(
        &["import", "--state-dir", state.path().to_str().unwrap()],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--certificate and --private-key, or --pkcs12"),
        "{stderr}"
    );
}

#[test]
fn uploaded_root_is_stored_not_sent() {
    let Some(corpus) = corpus_dir() else { return };
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let case_dir = corpus.join("c01-pem-pkcs8-separate-files");
    let mut chain = std::fs::read_to_string(case_dir.join("chain.pem")).unwrap();
    chain += &std::fs::read_to_string(corpus.join("_pki/root-r1.pem")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let chain_file = scratch.path().join("fullchain-with-root.pem");
    std::fs::write(&chain_file, chain).unwrap();

    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--insecure", "--request", "PUT"])
        .args(["--user", &format!("admin:{}", server.password())])
        .arg("--form")
        .arg(format!(
            "certificate=@{}",
            case_dir.join("cert.pem").display()
        ))
        .arg("--form")
        .arg(format!(
            "private_key=@{}",
            case_dir.join("key.pem").display()
        ))
        .arg("--form")
        .arg(format!("chain=@{}", chain_file.display()))
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/certificate",
            server.address.port()
        ))
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let chain_subjects: Vec<&str> = json["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|info| info["subject"].as_str().unwrap())
        .collect();
    assert_eq!(chain_subjects.len(), 2, "{json}");
    assert!(chain_subjects[1].contains("Test Root CA R1"), "{json}");

    let sent = sent_subjects_and_issuers(server.address.port());
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].0.contains("Issuing CA 1"), "{sent:?}");
    let stored_root = std::fs::read_to_string(active_dir(state.path()).join("root.pem")).unwrap();
    assert!(stored_root.contains("BEGIN CERTIFICATE"));
}

#[test]
fn chain_of_a_non_ca_is_flagged() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let work = tempfile::tempdir().unwrap();
    let path = |name: &str| work.path().join(name).to_str().unwrap().to_owned();
    // An "issuer" that is an ordinary server certificate, not a CA.
    openssl_self_signed(
        &work.path().join("issuer.key"),
        &work.path().join("issuer.pem"),
        "/CN=Not A CA",
        30,
        &["basicConstraints=critical,CA:FALSE"],
    );
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
            "/CN=cam",
            "-keyout",
            &path("leaf.key"),
            "-out",
            &path("leaf.csr"),
        ],
        b"",
    );
    std::fs::write(
        work.path().join("leaf.ext"),
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-days",
            "20",
            "-in",
            &path("leaf.csr"),
            "-CA",
            &path("issuer.pem"),
            "-CAkey",
            &path("issuer.key"),
            "-extfile",
            &path("leaf.ext"),
            "-out",
            &path("leaf.pem"),
        ],
        b"",
    );
    let output = Command::new("curl")
        .args(["--silent", "--insecure", "--request", "PUT"])
        .args(["--user", &format!("admin:{}", server.password())])
        .args(["--form", &format!("certificate=@{}", path("leaf.pem"))])
        .args(["--form", &format!("private_key=@{}", path("leaf.key"))])
        .args(["--form", &format!("chain=@{}", path("issuer.pem"))])
        .arg(format!(
            "https://127.0.0.1:{}/api/v1/certificate",
            server.address.port()
        ))
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["origin"], "uploaded", "{json}");
    assert_eq!(json["reaches_root"], false, "{json}");
    let kinds: Vec<&str> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|warning| warning["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"issuer-not-ca"), "{kinds:?}");
}
