//! The real service on a loopback port, checked with rustls, openssl and curl.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use hyper::StatusCode;
use serde_json::Value;
use x509_parser::prelude::*;

fn status_json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|err| panic!("invalid JSON ({err}): {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn served_certificate_is_the_stored_one() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let stored_pem = active_cert_pem(state.path());

    // A client that trusts only the stored certificate, as a browser after
    // import, verifies the chain and the 127.0.0.1 iPAddress SAN.
    let mut connection =
        HttpConnection::open(server.address, trusting_client(&stored_pem, &[b"http/1.1"])).await;
    let stored_der = rustls::pki_types::pem::PemObject::from_pem_slice(stored_pem.as_bytes())
        .map(|der: rustls::pki_types::CertificateDer<'static>| der.to_vec())
        .unwrap();
    assert_eq!(connection.leaf, stored_der);

    let (_, cert) = X509Certificate::from_der(&connection.leaf).unwrap();
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
    assert!(
        cert.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
    assert!(cert.key_usage().unwrap().unwrap().value.digital_signature());
    let sans = &cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names;
    assert!(
        sans.contains(&GeneralName::IPAddress(&[127, 0, 0, 1])),
        "{sans:?}"
    );
    assert!(
        !sans.iter().any(|name| matches!(name, GeneralName::IPAddress(octets) if octets.len() == 16 && octets[0] == 0xfe && octets[1] & 0xc0 == 0x80)),
        "no IPv6 link-local address: {sans:?}"
    );
    let validity = cert.validity();
    let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
    assert_eq!(
        days, 397,
        "default validity plus the one-hour backdate rounds down to 397 days"
    );
    assert!(cert.raw_serial()[0] & 0x80 == 0, "serial is positive");

    let (status, _, body) = connection
        .request(
            "GET",
            "/api/v1/certificate",
            Some(("admin", &server.password())),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let json = status_json(&body);
    assert_eq!(json["origin"], "self-signed");
    assert_eq!(json["generation"], 1);
    assert_eq!(json["key_type"], "ecdsa-p256");
    assert_eq!(json["signature_algorithm"], "ecdsa-with-SHA256");
    let san_ip: Vec<&str> = json["san_ip"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ip| ip.as_str().unwrap())
        .collect();
    assert!(san_ip.contains(&"127.0.0.1"), "{san_ip:?}");

    let openssl_fingerprint = openssl(
        &["x509", "-noout", "-fingerprint", "-sha256"],
        stored_pem.as_bytes(),
    );
    let expected = openssl_fingerprint.trim().split('=').nth(1).unwrap();
    assert_eq!(json["sha256_fingerprint"], expected);
    let openssl_sha1 = openssl(
        &["x509", "-noout", "-fingerprint", "-sha1"],
        stored_pem.as_bytes(),
    );
    assert_eq!(
        json["sha1_fingerprint"],
        openssl_sha1.trim().split('=').nth(1).unwrap()
    );
}

#[test]
fn openssl_client_sees_server_certificate() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let connect = server.address.to_string();
    let output = openssl(
        &[
            "s_client",
            "-connect",
            &connect,
            "-showcerts",
            "-alpn",
            "h2,http/1.1",
        ],
        b"",
    );
    assert!(output.contains("ALPN protocol: h2"), "{output}");
    let served = first_pem_certificate(&output).expect("s_client printed the certificate");
    assert_eq!(served, active_cert_pem(state.path()));

    let text = openssl(&["x509", "-noout", "-text"], served.as_bytes());
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("Digital Signature"), "{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");

    // The stored key belongs to the served certificate.
    let generation_dir = state.path().join("gen-00000001");
    let key_public = openssl(
        &[
            "pkey",
            "-pubout",
            "-in",
            generation_dir.join("key.pem").to_str().unwrap(),
        ],
        b"",
    );
    let cert_public = openssl(&["x509", "-noout", "-pubkey"], served.as_bytes());
    assert_eq!(key_public, cert_public);

    // openssl verifies it against itself as the trust anchor, for the IP.
    let cert_file = generation_dir.join("cert.pem");
    let verified = openssl(
        &[
            "verify",
            "-CAfile",
            cert_file.to_str().unwrap(),
            "-purpose",
            "sslserver",
            "-verify_ip",
            "127.0.0.1",
            cert_file.to_str().unwrap(),
        ],
        b"",
    );
    assert!(verified.contains(": OK"), "{verified}");
}

#[test]
fn only_tls_12_and_13_are_offered() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let connect = server.address.to_string();
    for (flag, accepted) in [
        ("-tls1_3", true),
        ("-tls1_2", true),
        ("-tls1_1", false),
        ("-tls1", false),
    ] {
        let output = openssl_output(
            &[
                "s_client",
                "-connect",
                &connect,
                flag,
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
            ],
            b"",
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let handshake_done =
            text.contains("Verify return code") && !text.contains("Cipher is (NONE)");
        assert_eq!(handshake_done, accepted, "{flag}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_swap_keeps_open_connection() {
    let state = tempfile::tempdir().unwrap();
    let mut server = Server::start(state.path(), &[]);
    let pid = server.pid();
    let password = server.password();
    let credentials = Some(("admin", password.as_str()));

    let mut old_connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    let (status, _, body) = old_connection
        .request("GET", "/api/v1/certificate", credentials, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let old_serial = status_json(&body)["serial"].as_str().unwrap().to_owned();

    let (status, _, body) = old_connection
        .request(
            "POST",
            "/api/v1/certificate/self-signed",
            credentials,
            Some(r#"{"validity_days": 30, "new_key": true}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let created = status_json(&body);
    let new_serial = created["serial"].as_str().unwrap().to_owned();
    assert_ne!(new_serial, old_serial);
    assert_eq!(created["generation"], 2);
    assert_eq!(created["validity_days"], 30);

    // A new connection gets the new certificate at once.
    let new_connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    let (_, new_leaf) = X509Certificate::from_der(&new_connection.leaf).unwrap();
    let served_serial = camcertd::pki::inspect::colon_hex(new_leaf.raw_serial());
    assert_eq!(served_serial, new_serial);
    let (_, old_leaf) = X509Certificate::from_der(&old_connection.leaf).unwrap();
    assert_eq!(
        camcertd::pki::inspect::colon_hex(old_leaf.raw_serial()),
        old_serial
    );

    // The old keep-alive connection still answers, on the same process.
    let (status, _, body) = old_connection
        .request("GET", "/api/v1/certificate", credentials, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_json(&body)["serial"], new_serial.as_str());
    assert!(server.is_running());
    assert_eq!(server.pid(), pid);
    assert!(
        server
            .log_text()
            .contains("installed self-signed certificate"),
        "{}",
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_api_route_needs_credentials() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let password = server.password();
    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    let routes = [
        ("GET", "/api/v1/certificate", None),
        (
            "POST",
            "/api/v1/certificate/self-signed",
            Some(r#"{"validity_days": 5}"#),
        ),
    ];
    for (method, path, body) in routes {
        let (status, headers, _) = connection.request(method, path, None, body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials"
        );
        assert!(headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));

        let (status, _, _) = connection
            .request(method, path, Some(("admin", "not-the-password")), body)
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a wrong password"
        );

        let (status, _, response) = connection
            .request(method, path, Some(("admin", &password)), body)
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{method} {path} with the right password: {response}"
        );
    }
    let (status, _, _) = connection
        .request(
            "GET",
            "/api/v1/certificate",
            Some(("root", &password)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong user name");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_slowed_down() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let password = server.password();
    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
    for _ in 0..3 {
        let (status, _, _) = connection
            .request("GET", "/api/v1/certificate", Some(("admin", "guess")), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) = connection
        .request(
            "GET",
            "/api/v1/certificate",
            Some(("admin", &password)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert!(body.contains("127.0.0.1"), "{body}");
}

#[test]
fn curl_verifies_and_reads_the_api() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cert_file = state.path().join("gen-00000001/cert.pem");
    let url = format!(
        "https://127.0.0.1:{}/api/v1/certificate",
        server.address.port()
    );
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--cacert"])
        .arg(&cert_file)
        .args(["--user", &format!("admin:{}", server.password()), &url])
        .output()
        .expect("curl is installed (the test setup installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = status_json(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(json["origin"], "self-signed");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_self_signed_requests_are_rejected() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let password = server.password();
    let credentials = Some(("admin", password.as_str()));
    let before = active_cert_pem(state.path());
    let mut connection =
        HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;

    let cases = [
        (
            r#"{"validity_days": 0}"#,
            "validity_days 0 is out of range: choose 1 to",
        ),
        (
            r#"{"validity_days": 3000000}"#,
            "validity_days 3000000 is out of range",
        ),
        (r#"{"key_type": "ed25519"}"#, "unknown key type \"ed25519\""),
        (r#"{"validity": 30}"#, "unknown field `validity`"),
        ("not json", "invalid request body: expected ident"),
    ];
    for (body, expected) in cases {
        let (status, _, response) = connection
            .request(
                "POST",
                "/api/v1/certificate/self-signed",
                credentials,
                Some(body),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {response}"
        );
        let message = status_json(&response)["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_eq!(
        active_cert_pem(state.path()),
        before,
        "nothing was installed"
    );
    assert!(!state.path().join("gen-00000002").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_posts_are_rejected() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let password = server.password();
    let address = server.address;

    // A form post (text/plain or form encoding) from another site.
    let stream = connect(address, observing_client(&[b"http/1.1"]), "127.0.0.1")
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
    for (content_type, origin, expected) in [
        (
            "application/x-www-form-urlencoded",
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/json",
            Some("https://attacker.example"),
            StatusCode::FORBIDDEN,
        ),
        (
            "application/json",
            Some("https://127.0.0.1"),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let mut request = hyper::Request::post("/api/v1/certificate/self-signed")
            .header("host", address.to_string())
            .header("authorization", format!("Basic {token}"))
            .header("content-type", content_type);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
            .unwrap();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), expected, "{content_type} {origin:?}");
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
    let same_origin = hyper::Request::post("/api/v1/certificate/self-signed")
        .header("host", address.to_string())
        .header("authorization", format!("Basic {token}"))
        .header("content-type", "application/json")
        .header("origin", format!("https://{address}"))
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
        .unwrap();
    sender.ready().await.unwrap();
    let response = sender.send_request(same_origin).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_is_served_over_alpn() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let stream = connect(server.address, observing_client(&[b"h2"]), "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(format!("https://127.0.0.1:{}/", server.address.port()))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
}

#[test]
fn sigterm_stops_cleanly() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let log = server.log.clone();
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    let log = log.lock().unwrap().join("\n");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn sighup_serves_certificate_from_command_line() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let state_arg = state.path().to_str().unwrap();
    let output = run_camcertd(
        &[
            "selfsign",
            "--state-dir",
            state_arg,
            "--days",
            "45",
            "--key-type",
            "ecdsa-p384",
        ],
        "",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("ecdsa-p384"));

    server.signal(nix::sys::signal::Signal::SIGHUP);
    assert!(
        server.wait_for_log(
            "reloaded certificate from the store",
            Duration::from_secs(30)
        ),
        "{}",
        server.log_text()
    );
    let connect = server.address.to_string();
    let output = openssl(&["s_client", "-connect", &connect, "-showcerts"], b"");
    let served = first_pem_certificate(&output).unwrap();
    assert_eq!(served, active_cert_pem(state.path()));
    let text = openssl(&["x509", "-noout", "-text"], served.as_bytes());
    assert!(
        text.contains("NIST CURVE: P-384") || text.contains("secp384r1"),
        "{text}"
    );
}

#[test]
fn plain_http_redirects_to_https() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("camcertd.toml");
    std::fs::write(&config, "[server]\nhttp_listen = \"127.0.0.1:0\"\n").unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--config", config.to_str().unwrap()],
    );
    let line = server
        .log
        .lock()
        .unwrap()
        .iter()
        .find(|line| line.contains("listening for plain HTTP"))
        .cloned()
        .expect("the plain-HTTP listener is logged before the HTTPS one");
    let http = line
        .split("address=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let https_port = server.address.port();

    let location = |path: &str, host: Option<&str>| {
        let mut command = Command::new("curl");
        command.args([
            "--silent",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code} %{redirect_url}",
        ]);
        if let Some(host) = host {
            command.args(["--header", &format!("Host: {host}")]);
        }
        let output = command
            .arg(format!("http://{http}{path}"))
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(
        location("/", None),
        format!("301 https://127.0.0.1:{https_port}/admin/")
    );
    assert_eq!(
        location("/admin/webserver?lang=de", Some("cam-0042.local")),
        format!("301 https://cam-0042.local:{https_port}/admin/webserver?lang=de")
    );
    // A Host header that is not a plain host name cannot steer the redirect.
    assert_eq!(
        location("/", Some("evil.example/x")),
        format!("301 https://127.0.0.1:{https_port}/admin/")
    );

    // The redirected URL answers over HTTPS.
    let output = Command::new("curl")
        .args([
            "--silent",
            "--insecure",
            "--location",
            "--write-out",
            "%{http_code}",
            "--output",
            "/dev/null",
        ])
        .arg(format!("http://{http}/admin/login"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "200");
}
