//! The TLS configuration as a scanner sees it: sslyze (from PyPI) against
//! the loopback listener, once with an ECDSA and once with an RSA key. Skips
//! with a message when sslyze is not installed; the test setup installs it.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// Scans the server at `port` and returns sslyze's scan result object.
fn scan(port: u16) -> Option<Value> {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("scan.json");
    let output = Command::new("python3")
        .args(["-m", "sslyze", "--quiet", "--mozilla_config", "disable"])
        .args([
            "--sslv2",
            "--sslv3",
            "--tlsv1",
            "--tlsv1_1",
            "--tlsv1_2",
            "--tlsv1_3",
            "--compression",
            "--reneg",
            "--heartbleed",
            "--openssl_ccs",
            "--robot",
            "--fallback",
        ])
        .arg(format!("--json_out={}", json.display()))
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("python3 runs");
    if String::from_utf8_lossy(&output.stderr).contains("No module named sslyze") {
        eprintln!("skipped: sslyze is not installed (pip install sslyze)");
        return None;
    }
    let text = std::fs::read_to_string(&json).unwrap_or_else(|err| {
        panic!(
            "sslyze wrote no result ({err}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let report: Value = serde_json::from_str(&text).unwrap();
    Some(report["server_scan_results"][0]["scan_result"].clone())
}

fn accepted(result: &Value, protocol: &str) -> Vec<String> {
    result[protocol]["result"]["accepted_cipher_suites"]
        .as_array()
        .unwrap_or_else(|| panic!("{protocol} was not scanned: {}", result[protocol]))
        .iter()
        .map(|suite| suite["cipher_suite"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn check_configuration(result: &Value, key_exchange: &str) {
    for old in [
        "ssl_2_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
    ] {
        assert!(accepted(result, old).is_empty(), "{old} is accepted");
    }
    let tls12 = accepted(result, "tls_1_2_cipher_suites");
    assert!(!tls12.is_empty(), "TLS 1.2 is refused");
    for suite in &tls12 {
        assert!(
            suite.starts_with(&format!("TLS_ECDHE_{key_exchange}_WITH_")),
            "{suite}: only forward-secret ECDHE suites"
        );
        assert!(
            suite.contains("_GCM_") || suite.contains("CHACHA20_POLY1305"),
            "{suite}: only AEAD suites"
        );
    }
    assert!(
        !accepted(result, "tls_1_3_cipher_suites").is_empty(),
        "TLS 1.3 is refused"
    );
    assert_eq!(
        result["tls_compression"]["result"]["supports_compression"],
        false
    );
    let renegotiation = &result["session_renegotiation"]["result"];
    assert_eq!(renegotiation["client_renegotiations_success_count"], 0);
    assert_eq!(
        renegotiation["is_vulnerable_to_client_renegotiation_dos"],
        false
    );
    assert_eq!(
        result["heartbleed"]["result"]["is_vulnerable_to_heartbleed"],
        false
    );
    assert_eq!(
        result["openssl_ccs_injection"]["result"]["is_vulnerable_to_ccs_injection"],
        false
    );
    assert!(
        result["robot"]["result"]["robot_result"]
            .as_str()
            .unwrap()
            .starts_with("NOT_VULNERABLE"),
        "{}",
        result["robot"]
    );
}

#[test]
fn ecdsa_listener_offers_only_modern_tls() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let Some(result) = scan(server.address.port()) else {
        return;
    };
    check_configuration(&result, "ECDSA");
}

#[test]
fn rsa_listener_offers_only_modern_tls() {
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let output = run_camcertd(
        &[
            "selfsign",
            "--state-dir",
            state_arg,
            "--days",
            "30",
            "--key-type",
            "rsa-2048",
        ],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let server = Server::start(state.path(), &[]);
    let Some(result) = scan(server.address.port()) else {
        return;
    };
    check_configuration(&result, "RSA");
}
