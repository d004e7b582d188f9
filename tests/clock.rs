//! Renewal, expiry and the unset clock with the real binary, its wall clock
//! shifted by libfaketime.
//!
//! libfaketime works by preloading into a dynamically linked process, so
//! these tests skip under the static ARM builds and where `faketime` is not
//! installed. The decisions themselves are unit-tested in `clock.rs` with any
//! clock.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;

/// Folders where Debian's libfaketime package puts the library.
const LIBFAKETIME: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
];

/// The environment that shifts the service's clock by `spec` (libfaketime's
/// FAKETIME syntax, such as `+50d` or `@1970-01-02 00:00:00`), or `None`
/// with a message when libfaketime cannot be used. The library is preloaded
/// directly: the `faketime` command forks, which would hide the service's
/// process id from the test.
fn faketime(spec: &str) -> Option<Vec<(&'static str, String)>> {
    if std::env::var("CAMCERTD_TEST_RUNNER").is_ok_and(|runner| !runner.trim().is_empty()) {
        eprintln!("skipped: libfaketime cannot shift the clock of a static binary under emulation");
        return None;
    }
    let Some(library) = LIBFAKETIME.iter().find(|path| Path::new(path).exists()) else {
        eprintln!("skipped: libfaketime is not installed (Debian package libfaketime)");
        return None;
    };
    Some(vec![
        ("LD_PRELOAD", (*library).to_owned()),
        ("FAKETIME", spec.to_owned()),
    ])
}

fn start_faked(spec: &[(&'static str, String)], state: &Path, args: &[&str]) -> Server {
    let envs: Vec<(&str, &str)> = spec
        .iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect();
    Server::start_with_env(&envs, state, args)
}

fn generation_of(state: &Path) -> u64 {
    fs::read_to_string(state.join("active"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn meta_of(state: &Path) -> serde_json::Value {
    let generation = generation_of(state);
    serde_json::from_str(
        &fs::read_to_string(state.join(format!("gen-{generation:08}/meta.json"))).unwrap(),
    )
    .unwrap()
}

#[test]
fn certificate_in_window_is_renewed_at_start() {
    let Some(later) = faketime("+50d") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let output = run_camcertd(&["selfsign", "--state-dir", state_arg, "--days", "60"], "");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key_before = fs::read_to_string(state.path().join("gen-00000001/key.pem")).unwrap();

    // 50 days later, 10 days are left: inside the window (a third of 60 days).
    let server = start_faked(&later, state.path(), &[]);
    assert!(
        server.wait_for_log("renewal before expiry", Duration::from_secs(30)),
        "{}",
        server.log_text()
    );
    assert!(server.wait_for_log("replaced the certificate", Duration::from_secs(30)));
    assert_eq!(generation_of(state.path()), 2);
    let meta = meta_of(state.path());
    assert_eq!(meta["reason"], "renewal before expiry");
    assert_eq!(meta["validity_days"], 60, "the chosen validity is kept");
    let key_after = fs::read_to_string(state.path().join("gen-00000002/key.pem")).unwrap();
    assert_eq!(key_after, key_before, "renewal keeps the key");
}

#[test]
fn certificate_outside_window_is_kept() {
    let Some(later) = faketime("+30d") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let output = run_camcertd(&["selfsign", "--state-dir", state_arg, "--days", "60"], "");
    assert!(output.status.success());

    let server = start_faked(&later, state.path(), &[]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(generation_of(state.path()), 1, "{}", server.log_text());
    assert!(!server.log_text().contains("replaced the certificate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unset_clock_issues_nothing_dated_1970() {
    let Some(unset) = faketime("@1970-01-02 00:00:00") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let server = start_faked(&unset, state.path(), &[]);
    assert!(
        server.wait_for_log("so it is not set", Duration::from_secs(30)),
        "{}",
        server.log_text()
    );

    // The first certificate is dated from the build time, not from 1970.
    let cert = active_cert_pem(state.path());
    let dates = openssl(&["x509", "-noout", "-startdate"], cert.as_bytes());
    assert!(!dates.contains("1970"), "{dates}");
    assert_eq!(meta_of(state.path())["issued_with_unset_clock"], true);

    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    let credentials = Some(("admin", server.password()));
    let credentials = credentials
        .as_ref()
        .map(|(user, password)| (*user, password.as_str()));
    let (status, _, body) = connection
        .request("GET", "/api/v1/certificate", credentials, None)
        .await;
    assert_eq!(status, hyper::StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["clock_unset"], true);

    let (status, _, body) = connection
        .request(
            "POST",
            "/api/v1/certificate/self-signed",
            credentials,
            Some("{}"),
        )
        .await;
    assert_eq!(status, hyper::StatusCode::CONFLICT, "{body}");
    assert!(body.contains("set the clock or wait for NTP"), "{body}");
    assert_eq!(generation_of(state.path()), 1, "nothing new was issued");
    drop(connection);
    assert!(server.stop().success());

    // Once the clock is right, the certificate from the unset clock is replaced.
    let server = Server::start(state.path(), &[]);
    assert!(
        server.wait_for_log(
            "clock set after issuance with an unset clock",
            Duration::from_secs(30)
        ),
        "{}",
        server.log_text()
    );
    assert!(server.wait_for_log("replaced the certificate", Duration::from_secs(30)));
    assert_eq!(generation_of(state.path()), 2);
    assert_eq!(meta_of(state.path())["issued_with_unset_clock"], false);
}

#[test]
fn expired_factory_certificate_is_replaced_at_start() {
    let Some(later) = faketime("+40d") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let factory = dir.path().join("factory");
    fs::create_dir(&factory).unwrap();
    openssl_pair(&factory, "factory-test-camera", "IP:127.0.0.1", 30);
    let config = dir.path().join("camcertd.toml");
    fs::write(
        &config,
        format!("[store]\nfactory_dir = {factory:?}\n[certificate]\ninterfaces = [\"lo\"]\n"),
    )
    .unwrap();
    let state = dir.path().join("state");

    let server = start_faked(&later, &state, &["--config", config.to_str().unwrap()]);
    let log = server.log_text();
    assert!(log.contains("the factory certificate has expired"), "{log}");
    let expiry = openssl(
        &["x509", "-noout", "-enddate"],
        fs::read(factory.join("cert.pem")).unwrap().as_slice(),
    );
    assert!(
        log.contains("not_after="),
        "the log gives the expiry date ({expiry}): {log}"
    );
    let reason = meta_of(&state)["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.starts_with("factory certificate expired on "),
        "{reason}"
    );
    assert_eq!(meta_of(&state)["origin"], "self-signed");
}
