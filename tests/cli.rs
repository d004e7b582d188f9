//! The command line: output, and one-line errors that name the value and the fix.

mod common;

use std::fs;
use std::net::TcpListener;

use common::*;

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn show_json_matches_api() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    let (_, _, body) = connection
        .request(
            "GET",
            "/api/v1/certificate",
            Some(("admin", &server.password())),
            None,
        )
        .await;
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();

    let output = run_camcertd(
        &[
            "show",
            "--json",
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    let cli: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(cli, api);

    let output = run_camcertd(&["show", "--state-dir", state.path().to_str().unwrap()], "");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(api["sha256_fingerprint"].as_str().unwrap()),
        "{text}"
    );
    assert!(text.contains("origin:              self-signed"), "{text}");
}

#[test]
fn show_on_empty_state_explains_what_to_do() {
    let state = tempfile::tempdir().unwrap();
    let output = run_camcertd(&["show", "--state-dir", state.path().to_str().unwrap()], "");
    assert!(!output.status.success());
    let message = stderr_of(&output);
    assert!(message.contains("no usable certificate in"), "{message}");
    assert!(message.contains("camcertd selfsign --days N"), "{message}");
}

#[test]
fn selfsign_rejects_days_out_of_range() {
    let state = tempfile::tempdir().unwrap();
    for days in ["0", "4000000"] {
        let output = run_camcertd(
            &[
                "selfsign",
                "--state-dir",
                state.path().to_str().unwrap(),
                "--days",
                days,
            ],
            "",
        );
        assert!(!output.status.success(), "--days {days}");
        let message = stderr_of(&output);
        assert!(
            message.contains(&format!(
                "validity_days {days} is out of range: choose 1 to"
            )),
            "{message}"
        );
        assert_eq!(message.trim().lines().count(), 1, "one line: {message}");
    }
    assert!(!state.path().join("active").exists(), "nothing was written");
}

#[test]
fn selfsign_rsa_key_and_25_years() {
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let output = run_camcertd(
        &[
            "selfsign",
            "--state-dir",
            state_arg,
            "--days",
            "9131",
            "--key-type",
            "rsa-2048",
        ],
        "",
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    let cert = active_cert_pem(state.path());
    let text = openssl(&["x509", "-noout", "-text"], cert.as_bytes());
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(text.contains("Key Encipherment"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
    let parsed = openssl(&["asn1parse"], cert.as_bytes());
    assert!(
        parsed.contains("UTCTIME"),
        "not_before before 2050: {parsed}"
    );
    assert!(
        parsed.contains("GENERALIZEDTIME"),
        "not_after from 2050 on: {parsed}"
    );
}

#[test]
fn unknown_key_type_lists_choices() {
    let output = run_camcertd(&["selfsign", "--days", "30", "--key-type", "dsa"], "");
    assert!(!output.status.success());
    let message = stderr_of(&output);
    assert!(message.contains("unknown key type \"dsa\""), "{message}");
    assert!(message.contains("ecdsa-p256"), "{message}");
}

#[test]
fn invalid_config_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("camcertd.toml");
    fs::write(&config, "[server]\nhttps_listen = \"not an address\"\n").unwrap();
    let output = run_camcertd(&["serve", "--config", config.to_str().unwrap()], "");
    assert!(!output.status.success());
    let message = stderr_of(&output);
    assert!(message.contains("invalid config file"), "{message}");
    assert!(message.contains("camcertd.toml"), "{message}");
    assert!(message.contains("https_listen"), "{message}");

    let missing = dir.path().join("missing.toml");
    let output = run_camcertd(&["serve", "--config", missing.to_str().unwrap()], "");
    let message = stderr_of(&output);
    assert!(message.contains("cannot read config file"), "{message}");
    assert!(message.contains("missing.toml"), "{message}");
}

#[test]
fn port_in_use_is_reported() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let state = tempfile::tempdir().unwrap();
    let output = run_camcertd(
        &[
            "serve",
            "--state-dir",
            state.path().to_str().unwrap(),
            "--https-listen",
            &address,
        ],
        "",
    );
    assert!(!output.status.success());
    let message = stderr_of(&output);
    assert!(
        message.contains(&format!("cannot listen on {address}")),
        "{message}"
    );
    assert!(message.contains("--https-listen"), "{message}");
}

#[test]
fn unwritable_state_dir_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    fs::write(&file, "").unwrap();
    let state_dir = file.join("state");
    let output = run_camcertd(
        &[
            "serve",
            "--state-dir",
            state_dir.to_str().unwrap(),
            "--https-listen",
            "127.0.0.1:0",
        ],
        "",
    );
    assert!(!output.status.success());
    let message = stderr_of(&output);
    assert!(message.contains("is not writable"), "{message}");
    assert!(message.contains("plain-file/state"), "{message}");
    assert!(message.contains("--state-dir"), "{message}");
}

#[test]
fn invalid_flag_is_rejected() {
    let output = run_camcertd(&["serve", "--https-listen", "localhost"], "");
    assert!(!output.status.success());
    let message = stderr_of(&output);
    assert!(message.contains("--https-listen"), "{message}");
    assert!(message.contains("localhost"), "{message}");
}

#[test]
fn version_is_printed() {
    let output = run_camcertd(&["--version"], "");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("camcertd {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_password_hash_is_used() {
    let output = run_camcertd(&["hash-password"], "s3cret camera password\n");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let hash = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(hash.starts_with("$pbkdf2-sha256$i="), "{hash}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("camcertd.toml");
    fs::write(
        &config,
        format!("[admin]\nuser = \"operator\"\npassword_hash = \"{hash}\"\n"),
    )
    .unwrap();
    let state_dir = dir.path().join("state");
    let server = Server::start(&state_dir, &["--config", config.to_str().unwrap()]);
    assert!(
        !state_dir.join("initial-admin-password").exists(),
        "no password is generated when one is configured"
    );

    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    let (status, _, _) = connection
        .request(
            "GET",
            "/api/v1/certificate",
            Some(("operator", "s3cret camera password")),
            None,
        )
        .await;
    assert_eq!(status, hyper::StatusCode::OK);
    let (status, _, _) = connection
        .request(
            "GET",
            "/api/v1/certificate",
            Some(("admin", "s3cret camera password")),
            None,
        )
        .await;
    assert_eq!(status, hyper::StatusCode::UNAUTHORIZED);
}

#[test]
fn empty_password_is_rejected() {
    let output = run_camcertd(&["hash-password"], "\n");
    assert!(!output.status.success());
    assert!(stderr_of(&output).contains("empty password"));
}

/// Creates a temporary folder that the service user can enter. Returns `None`
/// and prints why when the tests do not run as root, so cannot switch users.
fn folder_for_user_switch() -> Option<tempfile::TempDir> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: switching users needs root; run the tests as root to cover it");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    Some(dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn root_switches_to_service_user() {
    let Some(dir) = folder_for_user_switch() else {
        return;
    };
    let config = dir.path().join("camcertd.toml");
    fs::write(&config, "[server]\nuser = \"65534:65534\"\n").unwrap();
    let state_dir = dir.path().join("state");
    let server = Server::start(&state_dir, &["--config", config.to_str().unwrap()]);

    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let uid_line = status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .unwrap();
    let uids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
    assert_eq!(
        uids, ["65534"; 4],
        "real, effective, saved and file system uid"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&state_dir).unwrap().uid(), 65534);
    assert_eq!(
        fs::metadata(state_dir.join("gen-00000001/key.pem"))
            .unwrap()
            .uid(),
        65534
    );
    assert!(server
        .log_text()
        .contains("switched from root to the service user"));

    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    let (status, _, body) = connection
        .request(
            "POST",
            "/api/v1/certificate/self-signed",
            Some(("admin", &server.password())),
            Some("{}"),
        )
        .await;
    assert_eq!(
        status,
        hyper::StatusCode::OK,
        "the service user can write new generations: {body}"
    );
}

#[test]
fn unreadable_factory_files_are_reported() {
    let Some(dir) = folder_for_user_switch() else {
        return;
    };
    // Root-only files, as a production line might leave them.
    let factory = dir.path().join("factory");
    fs::create_dir(&factory).unwrap();
    fs::set_permissions(
        &factory,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for (name, mode) in [("key.pem", 0o600), ("cert.pem", 0o644)] {
        let path = factory.join(name);
        fs::write(&path, "placeholder\n").unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    let config = dir.path().join("camcertd.toml");
    fs::write(
        &config,
        format!(
            "[server]\nuser = \"65534:65534\"\n[store]\nfactory_dir = \"{}\"\n",
            factory.display()
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--config", config.to_str().unwrap()],
    );

    let log = server.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("the service user cannot read this factory file"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("key.pem"), "{log}");
}

#[test]
fn unknown_service_user_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("camcertd.toml");
    fs::write(&config, "[server]\nuser = \"no-such-camera-user\"\n").unwrap();
    let output = run_camcertd(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            dir.path().join("s").to_str().unwrap(),
            "--https-listen",
            "127.0.0.1:0",
        ],
        "",
    );
    assert!(!output.status.success());
    let message = stderr_of(&output);
    assert!(
        message.contains("\"no-such-camera-user\" not found in /etc/passwd"),
        "{message}"
    );
}
