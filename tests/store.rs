//! Store fallback order, file modes and restarts, through the real binary.

mod common;

use std::fs;
use std::path::Path;

use camcertd::store::mode_of;
use common::*;

/// Starts the service once so that generation 1 exists, adds generation 2
/// from the command line, and stops.
fn two_generations(state: &Path) {
    Server::start(state, &[]).stop();
    let output = run_camcertd(
        &[
            "selfsign",
            "--state-dir",
            state.to_str().unwrap(),
            "--days",
            "20",
        ],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        fs::read_to_string(state.join("active")).unwrap().trim(),
        "2"
    );
}

fn served_pem(server: &Server) -> String {
    let output = openssl(
        &[
            "s_client",
            "-connect",
            &server.address.to_string(),
            "-showcerts",
        ],
        b"",
    );
    first_pem_certificate(&output).expect("s_client printed the certificate")
}

#[test]
fn files_and_folders_have_private_modes() {
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("camcertd");
    let server = Server::start(&state_dir, &[]);
    assert_eq!(mode_of(&state_dir).unwrap(), 0o700);
    let generation = state_dir.join("gen-00000001");
    assert_eq!(mode_of(&generation).unwrap(), 0o700);
    for name in ["key.pem", "cert.pem", "chain.pem", "meta.json"] {
        assert_eq!(mode_of(&generation.join(name)).unwrap(), 0o600, "{name}");
    }
    for name in ["active", "admin-password-hash", "initial-admin-password"] {
        assert_eq!(mode_of(&state_dir.join(name)).unwrap(), 0o600, "{name}");
    }
    let log = server.log_text();
    assert!(
        log.contains("initial-admin-password"),
        "the log names the password file: {log}"
    );
    assert!(
        !log.contains(&server.password()),
        "the log never shows the password"
    );
}

#[test]
fn restart_serves_same_certificate() {
    let state = tempfile::tempdir().unwrap();
    let first = Server::start(state.path(), &[]);
    let first_pem = served_pem(&first);
    let key_before = fs::read(state.path().join("gen-00000001/key.pem")).unwrap();
    assert!(first.stop().success());

    let second = Server::start(state.path(), &[]);
    assert_eq!(
        served_pem(&second),
        first_pem,
        "byte for byte the same certificate"
    );
    assert_eq!(
        fs::read(state.path().join("gen-00000001/key.pem")).unwrap(),
        key_before
    );
    assert!(
        !state.path().join("gen-00000002").exists(),
        "a restart writes no new generation"
    );
    assert!(
        second.log_text().contains("serving stored certificate"),
        "{}",
        second.log_text()
    );
}

#[test]
fn corrupt_active_generation_falls_back_to_previous() {
    let state = tempfile::tempdir().unwrap();
    two_generations(state.path());
    let previous = fs::read_to_string(state.path().join("gen-00000001/cert.pem")).unwrap();
    fs::write(
        state.path().join("gen-00000002/cert.pem"),
        "-----BEGIN CERTIFICATE-----\ngarbage\n",
    )
    .unwrap();

    let server = Server::start(state.path(), &[]);
    assert_eq!(served_pem(&server), previous);
    let log = server.log_text();
    assert!(log.contains("skipped unusable stored pair"), "{log}");
    assert!(
        log.contains("gen-00000002"),
        "the log names the bad generation: {log}"
    );
}

#[test]
fn mismatched_key_falls_back_to_previous() {
    let state = tempfile::tempdir().unwrap();
    two_generations(state.path());
    let previous = fs::read_to_string(state.path().join("gen-00000001/cert.pem")).unwrap();
    let other_key = openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        b"",
    );
    fs::write(state.path().join("gen-00000002/key.pem"), other_key).unwrap();

    let server = Server::start(state.path(), &[]);
    assert_eq!(served_pem(&server), previous);
    assert!(
        server.log_text().contains("does not match"),
        "{}",
        server.log_text()
    );
}

#[test]
fn corrupt_pointer_uses_newest_generation() {
    let state = tempfile::tempdir().unwrap();
    two_generations(state.path());
    let newest = fs::read_to_string(state.path().join("gen-00000002/cert.pem")).unwrap();
    fs::write(state.path().join("active"), "\u{0}\u{0}garbage").unwrap();

    let server = Server::start(state.path(), &[]);
    assert_eq!(served_pem(&server), newest);
}

#[test]
fn unusable_generations_and_no_factory_give_fresh_pair() {
    let state = tempfile::tempdir().unwrap();
    two_generations(state.path());
    let old_serving = fs::read_to_string(state.path().join("gen-00000002/cert.pem")).unwrap();
    fs::remove_file(state.path().join("gen-00000001/key.pem")).unwrap();
    fs::write(state.path().join("gen-00000002/meta.json"), "{").unwrap();

    let server = Server::start(state.path(), &[]);
    let served = served_pem(&server);
    assert_ne!(served, old_serving);
    assert_eq!(served, active_cert_pem(state.path()));
    assert_eq!(
        fs::read_to_string(state.path().join("active"))
            .unwrap()
            .trim(),
        "3"
    );
    assert!(server
        .log_text()
        .contains("first start: no usable stored pair"));
}

/// Makes a factory folder with a 25-year certificate naming `san`.
fn factory_dir(san: &str) -> tempfile::TempDir {
    let factory = tempfile::tempdir().unwrap();
    openssl_pair(factory.path(), "factory-test-camera", san, 9131);
    factory
}

/// Writes a config that uses `factory` and names only loopback addresses.
fn loopback_factory_config(dir: &Path, factory: &Path) -> String {
    let config = dir.join("camcertd.toml");
    fs::write(
        &config,
        format!("[store]\nfactory_dir = {factory:?}\n[certificate]\ninterfaces = [\"lo\"]\n"),
    )
    .unwrap();
    config.to_str().unwrap().to_owned()
}

#[test]
fn factory_pair_is_used_when_state_is_empty() {
    let state = tempfile::tempdir().unwrap();
    let factory = factory_dir("IP:127.0.0.1,IP:::1");
    let config = loopback_factory_config(state.path(), factory.path());
    let state_dir = state.path().join("state");

    let server = Server::start(&state_dir, &["--config", &config]);
    let factory_pem = fs::read_to_string(factory.path().join("cert.pem")).unwrap();
    assert_eq!(served_pem(&server), factory_pem);
    assert!(
        !state_dir.join("active").exists(),
        "serving the factory pair writes no generation"
    );

    let output = run_camcertd(
        &[
            "show",
            "--json",
            "--state-dir",
            state_dir.to_str().unwrap(),
            "--config",
            &config,
        ],
        "",
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["origin"], "factory");
    assert_eq!(json["generation"], serde_json::Value::Null);
    assert_eq!(json["san_ip"][0], "127.0.0.1");
}

#[test]
fn factory_pair_for_other_address_is_replaced() {
    let state = tempfile::tempdir().unwrap();
    // The factory IP is not one of the camera's addresses any more.
    let factory = factory_dir("IP:192.0.2.10");
    let config = loopback_factory_config(state.path(), factory.path());
    let state_dir = state.path().join("state");

    let server = Server::start(&state_dir, &["--config", &config]);
    assert!(
        server.wait_for_log(
            "regenerated the certificate for the new addresses",
            std::time::Duration::from_secs(30)
        ),
        "{}",
        server.log_text()
    );
    let served = served_pem(&server);
    assert_ne!(
        served,
        fs::read_to_string(factory.path().join("cert.pem")).unwrap()
    );
    assert_eq!(served, active_cert_pem(&state_dir));
    let text = openssl(&["x509", "-noout", "-text"], served.as_bytes());
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");
    let factory_key = fs::read_to_string(factory.path().join("key.pem")).unwrap();
    let key_public = openssl(&["pkey", "-pubout"], factory_key.as_bytes());
    let cert_public = openssl(&["x509", "-noout", "-pubkey"], served.as_bytes());
    assert_eq!(
        key_public, cert_public,
        "the regenerated certificate keeps the factory key"
    );
}

#[test]
fn interrupted_write_leftovers_are_removed() {
    let state = tempfile::tempdir().unwrap();
    Server::start(state.path(), &[]).stop();
    let partial = state.path().join("gen-00000002.partial");
    fs::create_dir(&partial).unwrap();
    fs::write(partial.join("key.pem"), "half").unwrap();
    fs::write(state.path().join("active.tmp"), "2").unwrap();

    let server = Server::start(state.path(), &[]);
    assert!(!partial.exists());
    assert!(!state.path().join("active.tmp").exists());
    assert_eq!(served_pem(&server), active_cert_pem(state.path()));
    assert_eq!(
        fs::read_to_string(state.path().join("active"))
            .unwrap()
            .trim(),
        "1"
    );
}

#[test]
fn new_generation_keeps_only_previous() {
    let state = tempfile::tempdir().unwrap();
    two_generations(state.path());
    let output = run_camcertd(
        &[
            "selfsign",
            "--state-dir",
            state.path().to_str().unwrap(),
            "--days",
            "10",
        ],
        "",
    );
    assert!(output.status.success());
    assert!(!state.path().join("gen-00000001").exists());
    assert!(state.path().join("gen-00000002").exists());
    assert!(state.path().join("gen-00000003").exists());
    assert_eq!(
        fs::read_to_string(state.path().join("active"))
            .unwrap()
            .trim(),
        "3"
    );
}
