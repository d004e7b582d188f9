//! Headless Chromium with a fresh NSS database, inside a network namespace
//! where the camera's address moves from 192.0.2.10 to 198.51.100.20. Trust
//! in the camera-local root survives the move; trust in a lone self-signed
//! certificate does not.
//!
//! Needs root, `ip netns`, Chromium (/usr/bin/chromium) and the NSS tools;
//! each test skips with a message where one is missing.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

const CHROMIUM: &str = "/usr/bin/chromium";

/// A browser profile: a home folder whose NSS database holds what the admin
/// chose to trust, and an empty Chromium profile.
struct Browser {
    home: tempfile::TempDir,
}

impl Browser {
    fn create() -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() {
            eprintln!("skipped: {CHROMIUM} is missing (Debian package chromium)");
            return None;
        }
        let home = tempfile::tempdir().unwrap();
        let database = home.path().join(".pki/nssdb");
        std::fs::create_dir_all(&database).unwrap();
        match Command::new("certutil")
            .args(["-N", "--empty-password", "-d"])
            .arg(format!("sql:{}", database.display()))
            .output()
        {
            Ok(output) if output.status.success() => Some(Browser { home }),
            Ok(output) => panic!("certutil -N: {}", String::from_utf8_lossy(&output.stderr)),
            Err(error) => {
                eprintln!("skipped: certutil is missing (package libnss3-tools): {error}");
                None
            }
        }
    }

    /// Imports `pem` into the browser's NSS database with `trust` flags:
    /// `C,,` for a root, `P,,` for a trusted server certificate.
    fn trust(&self, pem: &Path, trust: &str) {
        let output = Command::new("certutil")
            .args(["-A", "-a", "-n", "camera", "-t", trust, "-d"])
            .arg(format!(
                "sql:{}",
                self.home.path().join(".pki/nssdb").display()
            ))
            .arg("-i")
            .arg(pem)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "certutil -A: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Loads `url` in headless Chromium inside `namespace` and returns its
    /// output: the page's DOM on stdout, load errors on stderr.
    fn load(&self, namespace: &Namespace, url: &str) -> Output {
        let profile = tempfile::tempdir().unwrap();
        Command::new("ip")
            .args(["netns", "exec", &namespace.name, "timeout", "60", CHROMIUM])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(url)
            .env("HOME", self.home.path())
            .output()
            .expect("ip netns exec runs")
    }
}

/// Whether Chromium showed the camera's page, not an error.
fn page_loaded(output: &Output) -> bool {
    String::from_utf8_lossy(&output.stdout).contains(">camcertd")
}

fn describe(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("net::") || line.contains("Page load"))
        .collect();
    format!(
        "stdout: {}\nerrors: {}",
        String::from_utf8_lossy(&output.stdout),
        errors.join("\n")
    )
}

/// Starts camcertd in a new namespace whose camera address is 192.0.2.10,
/// with `extra` appended to the config.
fn camera(extra: &str) -> Option<(Namespace, tempfile::TempDir, Server)> {
    let namespace = Namespace::create()?;
    namespace.ip(&["addr", "add", "192.0.2.10/24", "dev", "veth0"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("camcertd.toml");
    std::fs::write(
        &config,
        format!(
            "[network]\nquiet_period_ms = 500\n[certificate]\nhostname = \"cam-test\"\ninterfaces = [\"veth0\"]\ninclude_loopback = false\n{extra}"
        ),
    )
    .unwrap();
    let server = Server::start_listening(
        &namespace.name,
        "0.0.0.0:0",
        &dir.path().join("state"),
        &["--config", config.to_str().unwrap()],
    );
    Some((namespace, dir, server))
}

/// Moves the camera from 192.0.2.10 to 198.51.100.20 and waits for the
/// certificate to follow.
fn move_camera(namespace: &Namespace, server: &Server) {
    namespace.ip(&["addr", "add", "198.51.100.20/24", "dev", "veth0"]);
    namespace.ip(&["addr", "del", "192.0.2.10/24", "dev", "veth0"]);
    namespace.wait_for_served(server, "moved to 198.51.100.20", |text| {
        text.contains("IP Address:198.51.100.20") && !text.contains("192.0.2.10")
    });
}

#[test]
fn device_ca_trust_survives_an_address_change() {
    let Some(browser) = Browser::create() else {
        return;
    };
    let extra = "[certificate.device_ca]\nenabled = true\npermitted_ip_ranges = [\"192.0.2.0/24\", \"198.51.100.0/24\"]\n";
    let Some((namespace, dir, server)) = camera(extra) else {
        return;
    };
    let port = server.address.port();

    let before = browser.load(&namespace, &format!("https://192.0.2.10:{port}/"));
    assert!(
        !page_loaded(&before),
        "an untrusted camera loaded: {}",
        describe(&before)
    );
    browser.trust(&dir.path().join("state/device-ca/cert.pem"), "C,,");
    let trusted = browser.load(&namespace, &format!("https://192.0.2.10:{port}/"));
    assert!(page_loaded(&trusted), "{}", describe(&trusted));

    move_camera(&namespace, &server);
    let moved = browser.load(&namespace, &format!("https://198.51.100.20:{port}/"));
    assert!(
        page_loaded(&moved),
        "after the move, with no new import: {}",
        describe(&moved)
    );
}

#[test]
fn self_signed_trust_breaks_on_an_address_change() {
    let Some(browser) = Browser::create() else {
        return;
    };
    let Some((namespace, dir, server)) = camera("") else {
        return;
    };
    let port = server.address.port();

    browser.trust(&dir.path().join("state/gen-00000001/cert.pem"), "P,,");
    let trusted = browser.load(&namespace, &format!("https://192.0.2.10:{port}/"));
    assert!(page_loaded(&trusted), "{}", describe(&trusted));

    move_camera(&namespace, &server);
    let moved = browser.load(&namespace, &format!("https://198.51.100.20:{port}/"));
    assert!(
        !page_loaded(&moved),
        "the new self-signed certificate was trusted: {}",
        describe(&moved)
    );
    assert!(
        String::from_utf8_lossy(&moved.stderr).contains("net::ERR_CERT_AUTHORITY_INVALID"),
        "{}",
        describe(&moved)
    );
}
