//! Address changes in a real network namespace: the served certificate
//! follows the camera's addresses, and nothing else changes it.
//!
//! Needs root and `ip netns`; each test skips with a message where either is
//! missing. CI runs as root.

mod common;

use std::fs;
use std::path::Path;

use std::time::Duration;

use common::*;

/// Quiet period the tests configure, in milliseconds.
const QUIET_MS: u64 = 500;

fn write_config(dir: &Path) -> String {
    let config = dir.join("camcertd.toml");
    fs::write(
        &config,
        format!(
            "[certificate]\ninterfaces = [\"veth0\"]\ninclude_loopback = false\nhostname = \"cam-test\"\n\
             [network]\nquiet_period_ms = {QUIET_MS}\n"
        ),
    )
    .unwrap();
    config.to_str().unwrap().to_owned()
}

fn active_generation(state: &Path) -> u64 {
    fs::read_to_string(state.join("active"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn regenerations(server: &Server) -> usize {
    server
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("regenerated the certificate for the new addresses"))
        .count()
}

/// Waits long enough for any pending quiet period and regeneration to finish.
fn settle() {
    std::thread::sleep(Duration::from_millis(QUIET_MS * 4 + 1000));
}

#[test]
fn certificate_follows_address_changes() {
    let Some(namespace) = Namespace::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let state = dir.path().join("state");
    let server = Server::start_in(Some(&namespace.name), &state, &["--config", &config]);
    let first = namespace.served_text(&server);
    assert!(
        !first.contains("IP Address"),
        "no usable address yet: {first}"
    );
    assert!(first.contains("DNS:cam-test"), "{first}");

    namespace.ip(&["addr", "add", "192.0.2.10/24", "dev", "veth0"]);
    namespace.wait_for_served(&server, "named 192.0.2.10", |text| {
        text.contains("IP Address:192.0.2.10")
    });

    // A move to another subnet, as after a new DHCP server.
    namespace.ip(&["addr", "add", "198.51.100.20/24", "dev", "veth0"]);
    namespace.ip(&["addr", "del", "192.0.2.10/24", "dev", "veth0"]);
    let moved = namespace.wait_for_served(&server, "moved to 198.51.100.20 only", |text| {
        text.contains("IP Address:198.51.100.20") && !text.contains("192.0.2.10")
    });
    assert!(moved.contains("DNS:cam-test"));

    namespace.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8::10/64",
        "dev",
        "veth0",
        "nodad",
    ]);
    let both = namespace.wait_for_served(&server, "named 2001:db8::10", |text| {
        text.contains("IP Address:2001:DB8:0:0:0:0:0:10")
    });
    assert!(both.contains("IP Address:198.51.100.20"), "{both}");
    assert!(!both.contains("FE80"), "no IPv6 link-local address: {both}");

    settle();
    assert_eq!(regenerations(&server), 3, "{}", server.log_text());
    assert!(
        server.log_text().contains("old_serial="),
        "the log names old and new serial"
    );
}

#[test]
fn flaps_and_renewals_write_nothing_extra() {
    let Some(namespace) = Namespace::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let state = dir.path().join("state");
    let server = Server::start_in(Some(&namespace.name), &state, &["--config", &config]);
    namespace.ip(&["addr", "add", "192.0.2.10/24", "dev", "veth0"]);
    namespace.wait_for_served(&server, "named 192.0.2.10", |text| {
        text.contains("IP Address:192.0.2.10")
    });
    settle();
    let generation = active_generation(&state);
    let cert_path = state.join(format!("gen-{generation:08}/cert.pem"));
    let modified = fs::metadata(&cert_path).unwrap().modified().unwrap();
    let before = regenerations(&server);

    // A flap that returns to the same set within the quiet period.
    namespace.ip(&["addr", "del", "192.0.2.10/24", "dev", "veth0"]);
    namespace.ip(&["addr", "add", "192.0.2.10/24", "dev", "veth0"]);
    // A DHCP renewal: the same address with new lifetimes.
    namespace.ip(&[
        "addr",
        "change",
        "192.0.2.10/24",
        "dev",
        "veth0",
        "valid_lft",
        "3600",
        "preferred_lft",
        "3600",
    ]);
    settle();
    assert_eq!(active_generation(&state), generation, "no new generation");
    assert_eq!(
        fs::metadata(&cert_path).unwrap().modified().unwrap(),
        modified,
        "no flash write"
    );
    assert_eq!(regenerations(&server), before);

    // A burst that ends in a new set gives exactly one regeneration.
    namespace.ip(&["addr", "add", "203.0.113.5/24", "dev", "veth0"]);
    namespace.ip(&["addr", "del", "203.0.113.5/24", "dev", "veth0"]);
    namespace.ip(&["addr", "add", "203.0.113.5/24", "dev", "veth0"]);
    namespace.wait_for_served(&server, "named 203.0.113.5", |text| {
        text.contains("IP Address:203.0.113.5")
    });
    settle();
    assert_eq!(regenerations(&server), before + 1, "{}", server.log_text());
    assert_eq!(active_generation(&state), generation + 1);
}

#[test]
fn uploaded_certificate_is_kept_and_reported() {
    let Some(namespace) = Namespace::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let state = dir.path().join("state");
    let generation = state.join("gen-00000001");
    fs::create_dir_all(&generation).unwrap();
    openssl_pair(&generation, "uploaded", "IP:192.0.2.10", 90);
    fs::write(
        generation.join("meta.json"),
        r#"{"origin":"uploaded","installed":"2026-01-01T00:00:00Z","reason":"test upload","validity_days":null}"#,
    )
    .unwrap();
    fs::write(state.join("active"), "1\n").unwrap();
    let uploaded = fs::read_to_string(generation.join("cert.pem")).unwrap();

    namespace.ip(&["addr", "add", "192.0.2.10/24", "dev", "veth0"]);
    let server = Server::start_in(Some(&namespace.name), &state, &["--config", &config]);
    namespace.ip(&["addr", "add", "198.51.100.20/24", "dev", "veth0"]);
    settle();

    assert_eq!(
        active_generation(&state),
        1,
        "nothing replaced the uploaded certificate"
    );
    assert_eq!(
        fs::read_to_string(generation.join("cert.pem")).unwrap(),
        uploaded
    );
    assert!(
        namespace.served_text(&server).contains("CN = uploaded")
            || namespace.served_text(&server).contains("CN=uploaded")
    );
    assert!(
        server
            .log_text()
            .contains("does not name the current addresses and is kept"),
        "{}",
        server.log_text()
    );

    let url = format!("https://{}/api/v1/certificate", server.address);
    let body = namespace.run(&[
        "curl",
        "--silent",
        "--insecure",
        "--user",
        &format!("admin:{}", server.password()),
        &url,
    ]);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let addresses = status["addresses"].as_array().unwrap();
    assert!(
        addresses.contains(&serde_json::json!({"address": "198.51.100.20", "covered": false})),
        "{addresses:?}"
    );
    assert!(
        addresses.contains(&serde_json::json!({"address": "192.0.2.10", "covered": true})),
        "{addresses:?}"
    );
}
