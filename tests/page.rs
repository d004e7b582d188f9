//! The admin page over HTTPS against the real service: login, sessions,
//! CSRF tokens, origin checks, the forms, downloads and languages.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// One response: status, headers, body, and the leaf certificate the
/// server sent in that connection's handshake.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    leaf: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }
}

/// Sends one request on a new connection, with `Host: 127.0.0.1`.
async fn send(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let stream = connect(address, observing_client(&[b"http/1.1"]), "127.0.0.1")
        .await
        .expect("TLS handshake succeeds");
    let leaf = peer_leaf(&stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake succeeds");
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = sender
        .send_request(builder.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .expect("server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body arrives")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
        leaf,
    }
}

async fn get(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(address, "GET", path, headers, Vec::new()).await
}

/// Posts a URL-encoded form with the session `cookie` and the camera's own Origin.
async fn post_form(address: SocketAddr, path: &str, cookie: &str, fields: &str) -> Reply {
    send(
        address,
        "POST",
        path,
        &[
            ("cookie", cookie),
            ("origin", "https://127.0.0.1"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        fields.as_bytes().to_vec(),
    )
    .await
}

/// Returns the leaf certificate a new handshake gets.
async fn served_leaf(address: SocketAddr) -> Vec<u8> {
    get(address, "/", &[]).await.leaf
}

/// Logs in through the form and returns the `Cookie` header value.
/// Loads the login form and returns its cookie and CSRF token.
async fn login_form(server: &Server) -> (String, String) {
    let reply = get(server.address, "/admin/login", &[]).await;
    let cookie = reply.header("set-cookie");
    assert!(cookie.starts_with("camcertd_login="), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    (cookie, token(&reply.text(), "/admin/login"))
}

/// Posts the login form with `password`, as a browser that loaded it does.
async fn post_login(server: &Server, password: &str, extra: &[(&str, &str)]) -> Reply {
    let (cookie, csrf) = login_form(server).await;
    let mut headers = vec![
        ("cookie", cookie.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    headers.extend_from_slice(extra);
    send(
        server.address,
        "POST",
        "/admin/login",
        &headers,
        format!("csrf={csrf}&user=admin&password={password}").into_bytes(),
    )
    .await
}

async fn login(server: &Server) -> String {
    let reply = post_login(
        server,
        &server.password(),
        &[("origin", "https://127.0.0.1")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let set_cookie = reply.header("set-cookie");
    set_cookie
        .split(';')
        .next()
        .expect("Set-Cookie has a value")
        .to_owned()
}

async fn page(server: &Server, cookie: &str) -> String {
    let reply = get(server.address, "/admin/webserver", &[("cookie", cookie)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.text()
}

/// Returns the CSRF token in the form that posts to `action`.
fn token(html: &str, action: &str) -> String {
    let form = html
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form for {action}"));
    let rest = &html[form..];
    let value = rest
        .find("name=\"csrf\" value=\"")
        .expect("form has a csrf field")
        + 19;
    rest[value..].split('"').next().unwrap().to_owned()
}

/// Returns the text of the element with `id`, up to its first tag, with
/// the HTML escapes that the templates produce decoded.
fn element_text(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id}"));
    let rest = &html[start..];
    let open = rest.find('>').unwrap() + 1;
    rest[open..]
        .split('<')
        .next()
        .unwrap()
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Builds a multipart/form-data body of `(name, file name, content)` parts.
/// A part without a file name is a text field.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "camcertd-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file_name) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// One multipart part: field name, file name (none for a text field), content.
type Part = (String, Option<String>, Vec<u8>);

/// Returns the upload parts of corpus case `id` and the CSRF `token`, or
/// `None` when the corpus is absent.
fn corpus_upload(id: &str, token: &str) -> Option<Vec<Part>> {
    let dir = corpus_dir()?;
    let case = corpus_cases(&dir)
        .into_iter()
        .find(|case| case.id == id)
        .unwrap_or_else(|| panic!("corpus case {id} exists"));
    let mut parts = vec![("csrf".to_owned(), None, token.as_bytes().to_vec())];
    for (field, file) in &case.upload {
        let data = std::fs::read(dir.join(&case.dir).join(file)).unwrap();
        if field == "password_file" {
            parts.push(("password".into(), None, data));
        } else {
            parts.push((field.clone(), Some(file.clone()), data));
        }
    }
    Some(parts)
}

async fn upload(address: SocketAddr, cookie: &str, parts: &[Part]) -> Reply {
    let borrowed: Vec<(&str, Option<&str>, &[u8])> = parts
        .iter()
        .map(|(name, file, data)| (name.as_str(), file.as_deref(), data.as_slice()))
        .collect();
    let (content_type, body) = multipart(&borrowed);
    send(
        address,
        "POST",
        "/admin/webserver/upload",
        &[
            ("cookie", cookie),
            ("origin", "https://127.0.0.1"),
            ("content-type", &content_type),
        ],
        body,
    )
    .await
}

fn pem_der(pem: &[u8]) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem)
        .expect("PEM certificate parses")
        .to_vec()
}

fn validity_days(der: &[u8]) -> i64 {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let validity = cert.validity();
    (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400
}

/// Whole days from now until the certificate's not_after, rounded down.
fn days_left(der: &[u8]) -> i64 {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (cert.validity().not_after.timestamp() * 1000 - now_ms).div_euclid(86_400_000)
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_root_redirects_to_page() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    for path in ["/admin", "/admin/"] {
        let reply = get(server.address, path, &[]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.header("location"), "/admin/webserver", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn page_needs_login_not_basic() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let anonymous = get(server.address, "/admin/webserver", &[]).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.header("location"), "/admin/login");

    // Credentials a browser cached for the API do not open the page.
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", server.password()))
    );
    let with_basic = get(
        server.address,
        "/admin/webserver",
        &[("authorization", &basic)],
    )
    .await;
    assert_eq!(with_basic.status, StatusCode::SEE_OTHER);

    let forged = get(
        server.address,
        "/admin/webserver",
        &[(
            "cookie",
            "camcertd_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )],
    )
    .await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);

    let login_page = get(server.address, "/admin/login", &[]).await;
    assert_eq!(login_page.status, StatusCode::OK);
    assert!(login_page.text().contains("name=\"password\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn login_sets_strict_session_cookie() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let wrong = post_login(&server, "wrong", &[]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(!wrong.header("set-cookie").contains("camcertd_session"));
    assert!(wrong.text().contains("id=\"error\""), "{}", wrong.text());

    // Without the login form's cookie and token, even the right password
    // does not log in, so another site cannot log a browser in.
    let forged = send(
        server.address,
        "POST",
        "/admin/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("user=admin&password={}", server.password()).into_bytes(),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!forged.header("set-cookie").contains("camcertd_session"));
    let (cookie, _) = login_form(&server).await;
    let (_, other_token) = login_form(&server).await;
    let mismatched = send(
        server.address,
        "POST",
        "/admin/login",
        &[
            ("cookie", cookie.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        format!(
            "csrf={other_token}&user=admin&password={}",
            server.password()
        )
        .into_bytes(),
    )
    .await;
    assert_eq!(mismatched.status, StatusCode::FORBIDDEN);

    let right = post_login(&server, &server.password(), &[]).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(right.header("location"), "/admin/webserver");
    let cookie = right.header("set-cookie");
    assert!(cookie.starts_with("camcertd_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }

    let foreign = post_login(
        &server,
        &server.password(),
        &[("origin", "https://attacker.example")],
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert_eq!(foreign.header("set-cookie"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_slow_down() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let reply = post_login(&server, "guess", &[]).await;
        statuses.push(reply.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn page_shows_served_certificate() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let html = page(&server, &cookie).await;
    let leaf = served_leaf(server.address).await;

    let fingerprint = openssl(
        &[
            "x509",
            "-inform",
            "DER",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
        &leaf,
    );
    let expected = fingerprint.trim().split('=').nth(1).unwrap();
    assert_eq!(element_text(&html, "sha256"), expected);

    let end_date = openssl(
        &[
            "x509", "-inform", "DER", "-noout", "-enddate", "-dateopt", "iso_8601",
        ],
        &leaf,
    );
    let expected_date = end_date.trim().trim_start_matches("notAfter=");
    assert_eq!(element_text(&html, "expires-on"), &expected_date[..10]);
    assert!(element_text(&html, "remaining").contains("days left"));
    assert!(element_text(&html, "san-ip").contains("127.0.0.1"));
    assert_eq!(element_text(&html, "origin"), "self-signed on the camera");
    assert!(element_text(&html, "reaches-root").contains("ends in a self-signed root"));
    assert!(html.contains("<td>127.0.0.1</td><td class=\"ok\">yes</td>"));
    assert!(
        html.contains("id=\"factory-missing\""),
        "no factory pair here"
    );
    assert!(!html.contains("<script"), "the page needs no script");
    assert!(
        !html.contains("style=\""),
        "inline styles are blocked by the CSP"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_security_headers() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    for path in [
        "/admin/",
        "/admin/login",
        "/admin/webserver",
        "/admin/style.css",
        "/admin/webserver/certificate.pem",
        "/admin/nothing-here",
    ] {
        let reply = get(server.address, path, &[("cookie", &cookie)]).await;
        let policy = reply.header("content-security-policy");
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert!(policy.contains("style-src 'self'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert!(!policy.contains("unsafe"), "{path}: {policy}");
        assert_eq!(reply.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(reply.header("cache-control"), "no-store", "{path}");
    }
    let css = get(server.address, "/admin/style.css", &[]).await;
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    let missing = get(server.address, "/admin/nothing-here", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_without_session_change_nothing() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let before = served_leaf(server.address).await;
    for path in [
        "/admin/webserver/self-signed",
        "/admin/webserver/csr",
        "/admin/webserver/factory",
        "/admin/logout",
    ] {
        let reply = post_form(
            server.address,
            path,
            "",
            "action=create&validity=30&unit=days&key_type=ecdsa-p256&key=new",
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (content_type, body) = multipart(&[("certificate", Some("cert.pem"), b"x")]);
    let reply = send(
        server.address,
        "POST",
        "/admin/webserver/upload",
        &[("content-type", &content_type)],
        body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(served_leaf(server.address).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_wrong_csrf_token_is_rejected() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let html = page(&server, &cookie).await;
    let before = served_leaf(server.address).await;
    let upload_token = token(&html, "/admin/webserver/upload");
    let create = "action=create&validity=30&unit=days&key_type=ecdsa-p256&key=new";

    let cases = [
        ("missing", create.to_owned()),
        ("empty", format!("{create}&csrf=")),
        ("garbage", format!("{create}&csrf=not-a-token")),
        ("other form's", format!("{create}&csrf={upload_token}")),
    ];
    for (case, fields) in cases {
        let reply = post_form(
            server.address,
            "/admin/webserver/self-signed",
            &cookie,
            &fields,
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{case} token");
    }

    // A token from another session does not work in this one.
    let other_cookie = login(&server).await;
    let other_token = token(
        &page(&server, &other_cookie).await,
        "/admin/webserver/self-signed",
    );
    let reply = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("{create}&csrf={other_token}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "other session's token");

    let (content_type, body) = multipart(&[("certificate", Some("cert.pem"), b"x")]);
    let reply = send(
        server.address,
        "POST",
        "/admin/webserver/upload",
        &[("cookie", &cookie), ("content-type", &content_type)],
        body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "upload without token");
    assert_eq!(served_leaf(server.address).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_origin_is_rejected() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let html = page(&server, &cookie).await;
    let before = served_leaf(server.address).await;
    let fields = format!(
        "action=create&validity=30&unit=days&key_type=ecdsa-p256&key=new&csrf={}",
        token(&html, "/admin/webserver/self-signed")
    );
    let foreign_headers: [(&str, &str); 3] = [
        ("origin", "https://attacker.example"),
        ("origin", "null"),
        ("referer", "https://attacker.example/camera"),
    ];
    for (name, value) in foreign_headers {
        let reply = send(
            server.address,
            "POST",
            "/admin/webserver/self-signed",
            &[
                ("cookie", &cookie),
                (name, value),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            fields.clone().into_bytes(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{name}: {value}");
    }
    assert_eq!(served_leaf(server.address).await, before);

    // The same request from the camera's own page goes through.
    let reply = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &fields,
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_ne!(served_leaf(server.address).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_never_changes_state() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let html = page(&server, &cookie).await;
    let before = served_leaf(server.address).await;
    let query = format!(
        "?action=create&validity=30&unit=days&key_type=ecdsa-p256&key=new&csrf={}",
        token(&html, "/admin/webserver/self-signed")
    );
    for path in [
        "/admin/webserver/self-signed",
        "/admin/webserver/upload",
        "/admin/webserver/csr",
        "/admin/webserver/factory",
        "/admin/logout",
    ] {
        let reply = get(
            server.address,
            &format!("{path}{query}"),
            &[("cookie", &cookie)],
        )
        .await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(reply.header("allow"), "POST", "{path}");
    }

    let reply = get(
        server.address,
        &format!("/admin/webserver{query}"),
        &[("cookie", &cookie)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(served_leaf(server.address).await, before);
    assert_eq!(
        std::fs::read_to_string(state.path().join("active"))
            .unwrap()
            .trim(),
        "1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn self_signed_form_checks_and_creates() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let html = page(&server, &cookie).await;
    let csrf = token(&html, "/admin/webserver/self-signed");
    let before = served_leaf(server.address).await;

    // "Check" shows the Apple note for 3 years and installs nothing.
    let check = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("action=check&validity=3&unit=years&key_type=ecdsa-p256&key=keep&csrf={csrf}"),
    )
    .await;
    assert_eq!(check.status, StatusCode::OK);
    let note = element_text(&check.text(), "validity-note");
    assert!(note.contains("1095 days is more than 825"), "{note}");
    assert!(check.text().contains("<option value=\"years\" selected>"));
    assert_eq!(served_leaf(server.address).await, before);

    let short = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("action=check&validity=800&unit=days&key_type=ecdsa-p256&key=keep&csrf={csrf}"),
    )
    .await;
    assert!(element_text(&short.text(), "validity-note").contains("within the 825-day limit"));

    let invalid = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("action=create&validity=zero&unit=days&key_type=ecdsa-p256&key=keep&csrf={csrf}"),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(served_leaf(server.address).await, before);

    let create = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("action=create&validity=2&unit=years&key_type=ecdsa-p384&key=new&csrf={csrf}"),
    )
    .await;
    assert_eq!(create.status, StatusCode::SEE_OTHER, "{}", create.text());
    assert_eq!(
        create.header("location"),
        "/admin/webserver?done=self-signed"
    );
    let after = served_leaf(server.address).await;
    assert_ne!(after, before);
    assert_eq!(validity_days(&after), 730);

    let done = get(
        server.address,
        "/admin/webserver?done=self-signed",
        &[("cookie", &cookie)],
    )
    .await
    .text();
    assert!(element_text(&done, "notice").contains("self-signed certificate is installed"));
    assert_eq!(element_text(&done, "key-type"), "ecdsa-p384");
    let expected_days = days_left(&after);
    assert_eq!(
        element_text(&done, "remaining"),
        format!("{expected_days} days left")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn long_validity_is_warned_about() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let csrf = token(
        &page(&server, &cookie).await,
        "/admin/webserver/self-signed",
    );
    let create = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("action=create&validity=900&unit=days&key_type=ecdsa-p256&key=keep&csrf={csrf}"),
    )
    .await;
    assert_eq!(create.status, StatusCode::SEE_OTHER, "{}", create.text());
    let html = page(&server, &cookie).await;
    assert!(
        html.contains(
            "iPhones, iPads and Macs refuse server certificates valid for more than 825 days"
        ),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_upload_keeps_served_certificate() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let csrf = token(&page(&server, &cookie).await, "/admin/webserver/upload");
    let Some(parts) = corpus_upload("c25", &csrf) else {
        return;
    };
    let before = served_leaf(server.address).await;
    let stored_before = active_cert_pem(state.path());
    let download_before = get(server.address, "/admin/webserver/certificate.cer", &[])
        .await
        .body;

    let reply = upload(server.address, &cookie, &parts).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = reply.text();
    assert!(
        html.contains("The upload was rejected (key-mismatch)."),
        "{html}"
    );
    assert!(html.contains("Choose the private key that belongs to this certificate."));
    assert!(html.contains("The installed certificate was not changed."));

    assert_eq!(served_leaf(server.address).await, before);
    assert_eq!(active_cert_pem(state.path()), stored_before);
    let download_after = get(server.address, "/admin/webserver/certificate.cer", &[])
        .await
        .body;
    assert_eq!(download_after, download_before);

    let empty = upload(
        server.address,
        &cookie,
        &[("csrf".into(), None, csrf.clone().into_bytes())],
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        empty.text().contains("(missing-certificate)"),
        "{}",
        empty.text()
    );
    assert_eq!(served_leaf(server.address).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_upload_installs_with_chain() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let csrf = token(&page(&server, &cookie).await, "/admin/webserver/upload");
    let Some(parts) = corpus_upload("c01", &csrf) else {
        return;
    };
    let certificate = &parts
        .iter()
        .find(|(name, _, _)| name == "certificate")
        .unwrap()
        .2;
    let chain = &parts.iter().find(|(name, _, _)| name == "chain").unwrap().2;

    let no_chain = get(server.address, "/admin/webserver/chain.pem", &[]).await;
    assert_eq!(no_chain.status, StatusCode::NOT_FOUND);

    let reply = upload(server.address, &cookie, &parts).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.header("location"), "/admin/webserver?done=upload");
    assert_eq!(served_leaf(server.address).await, pem_der(certificate));

    let html = page(&server, &cookie).await;
    assert_eq!(element_text(&html, "origin"), "uploaded");
    assert!(
        element_text(&html, "reaches-root").contains("does not reach a self-signed root"),
        "the uploaded chain stops at the intermediate"
    );
    assert!(html.contains("id=\"chain\""));
    assert!(html.contains("id=\"download-chain\""));

    let chain_download = get(server.address, "/admin/webserver/chain.pem", &[]).await;
    assert_eq!(chain_download.status, StatusCode::OK);
    assert_eq!(pem_der(&chain_download.body), pem_der(chain));
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_are_public_and_served() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let leaf = served_leaf(server.address).await;

    let pem = get(server.address, "/admin/webserver/certificate.pem", &[]).await;
    assert_eq!(pem.status, StatusCode::OK);
    assert_eq!(pem.header("content-type"), "application/x-pem-file");
    assert!(pem
        .header("content-disposition")
        .contains("camera-certificate.pem"));
    assert_eq!(pem_der(&pem.body), leaf);
    assert_eq!(
        String::from_utf8(pem.body.clone()).unwrap(),
        active_cert_pem(state.path())
    );

    let der = get(server.address, "/admin/webserver/certificate.cer", &[]).await;
    assert_eq!(der.status, StatusCode::OK);
    assert_eq!(der.header("content-type"), "application/pkix-cert");
    assert_eq!(der.body, leaf);
}

#[tokio::test(flavor = "multi_thread")]
async fn language_follows_header_link_and_cookie() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;

    let german = get(
        server.address,
        "/admin/webserver",
        &[
            ("cookie", &cookie),
            ("accept-language", "de-DE,de;q=0.9,en;q=0.5"),
        ],
    )
    .await
    .text();
    assert!(german.contains("<html lang=\"de\">"));
    assert!(german.contains("Webserver-Zertifikat"));
    let expires = element_text(&german, "expires-on");
    assert!(
        expires.len() == 10 && expires.as_bytes()[2] == b'.' && expires.as_bytes()[5] == b'.',
        "German date {expires:?}"
    );
    assert!(element_text(&german, "remaining").starts_with("noch "));

    let switched = get(
        server.address,
        "/admin/webserver?lang=en",
        &[("cookie", &cookie), ("accept-language", "de")],
    )
    .await;
    assert!(switched.text().contains("<html lang=\"en\">"));
    let lang_cookie = switched.header("set-cookie");
    assert!(
        lang_cookie.starts_with("camcertd_lang=en;"),
        "{lang_cookie}"
    );
    assert!(lang_cookie.contains("SameSite=Strict"), "{lang_cookie}");

    // The cookie keeps the choice over the browser's header.
    let both = format!("{cookie}; camcertd_lang=en");
    let kept = get(
        server.address,
        "/admin/webserver",
        &[("cookie", &both), ("accept-language", "de")],
    )
    .await
    .text();
    assert!(kept.contains("<html lang=\"en\">"));
    assert!(kept.contains("Web server certificate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn csr_form_returns_request() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let csrf = token(&page(&server, &cookie).await, "/admin/webserver/csr");
    let before = served_leaf(server.address).await;
    let reply = post_form(
        server.address,
        "/admin/webserver/csr",
        &cookie,
        &format!("key_type=ecdsa-p256&csrf={csrf}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let html = reply.text();
    let csr = element_text(&html, "csr");
    assert!(
        csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{csr}"
    );
    let parsed = openssl(&["req", "-noout", "-verify"], csr.as_bytes());
    assert!(parsed.is_empty() || !parsed.contains("fail"), "{parsed}");
    assert_eq!(served_leaf(server.address).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_session() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let cookie = login(&server).await;
    let csrf = token(&page(&server, &cookie).await, "/admin/logout");
    let reply = post_form(
        server.address,
        "/admin/logout",
        &cookie,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.header("set-cookie").contains("Max-Age=0"));
    let after = get(server.address, "/admin/webserver", &[("cookie", &cookie)]).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.header("location"), "/admin/login");
}

/// Writes a factory pair naming the loopback addresses and a configuration
/// that uses it, and returns the configuration path.
fn factory_config(dir: &Path) -> std::path::PathBuf {
    let factory = dir.join("factory");
    std::fs::create_dir(&factory).unwrap();
    openssl_pair(&factory, "factory-cam", "IP:127.0.0.1,IP:::1", 3650);
    let config = dir.join("camcertd.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nfactory_dir = {:?}\n[certificate]\ninterfaces = [\"lo\"]\n",
            factory.display().to_string()
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn factory_form_restores_factory_pair() {
    let dir = tempfile::tempdir().unwrap();
    let config = factory_config(dir.path());
    let state = dir.path().join("state");
    let server = Server::start(&state, &["--config", config.to_str().unwrap()]);
    let factory_der = pem_der(&std::fs::read(dir.path().join("factory/cert.pem")).unwrap());
    assert_eq!(served_leaf(server.address).await, factory_der);

    let cookie = login(&server).await;
    let html = page(&server, &cookie).await;
    let csrf = token(&html, "/admin/webserver/self-signed");
    let create = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("action=create&validity=30&unit=days&key_type=ecdsa-p256&key=new&csrf={csrf}"),
    )
    .await;
    assert_eq!(create.status, StatusCode::SEE_OTHER, "{}", create.text());
    assert_ne!(served_leaf(server.address).await, factory_der);

    let csrf = token(&page(&server, &cookie).await, "/admin/webserver/factory");
    let back = post_form(
        server.address,
        "/admin/webserver/factory",
        &cookie,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.text());
    assert_eq!(served_leaf(server.address).await, factory_der);
    let html = page(&server, &cookie).await;
    assert_eq!(element_text(&html, "origin"), "factory certificate");
}

#[tokio::test(flavor = "multi_thread")]
async fn csr_certificate_installs_with_camera_key() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let server = Server::start(&state, &[]);
    let cookie = login(&server).await;
    let csrf = token(&page(&server, &cookie).await, "/admin/webserver/csr");
    let reply = post_form(
        server.address,
        "/admin/webserver/csr",
        &cookie,
        &format!("key_type=ecdsa-p256&csrf={csrf}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let csr_path = dir.path().join("camera.csr");
    std::fs::write(&csr_path, element_text(&reply.text(), "csr")).unwrap();

    // A small CA signs the request, keeping its names and serverAuth usage.
    let ca_key = dir.path().join("ca.key");
    let ca_cert = dir.path().join("ca.pem");
    let leaf_path = dir.path().join("camera.pem");
    let path = |path: &Path| path.to_str().unwrap().to_owned();
    openssl_self_signed(&ca_key, &ca_cert, "/CN=Test Company CA", 365, &[]);
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &path(&csr_path),
            "-CA",
            &path(&ca_cert),
            "-CAkey",
            &path(&ca_key),
            "-CAcreateserial",
            "-days",
            "90",
            "-copy_extensions",
            "copy",
            "-out",
            &path(&leaf_path),
        ],
        b"",
    );

    // Certificate and chain only: the key stayed on the camera.
    let csrf = token(&page(&server, &cookie).await, "/admin/webserver/upload");
    let leaf_pem = std::fs::read(&leaf_path).unwrap();
    let parts = vec![
        ("csrf".to_owned(), None, csrf.into_bytes()),
        (
            "certificate".to_owned(),
            Some("camera.pem".to_owned()),
            leaf_pem.clone(),
        ),
        (
            "chain".to_owned(),
            Some("ca.pem".to_owned()),
            std::fs::read(&ca_cert).unwrap(),
        ),
    ];
    let reply = upload(server.address, &cookie, &parts).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(served_leaf(server.address).await, pem_der(&leaf_pem));
    let html = page(&server, &cookie).await;
    assert_eq!(
        element_text(&html, "origin"),
        "signed by your CA from the camera's CSR"
    );
    assert!(element_text(&html, "issuer").contains("Test Company CA"));
}

#[tokio::test(flavor = "multi_thread")]
async fn device_ca_signer_offers_root() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("camcertd.toml");
    std::fs::write(
        &config,
        "[certificate]\nhostname = \"cam-test\"\ninterfaces = [\"lo\"]\n",
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("state"),
        &["--config", config.to_str().unwrap()],
    );
    let cookie = login(&server).await;
    let html = page(&server, &cookie).await;
    assert!(!html.contains("id=\"download-root\""), "no root yet");
    assert!(html.contains("name=\"signer\" value=\"self\" checked"));

    let csrf = token(&html, "/admin/webserver/self-signed");
    let create = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("action=create&validity=397&unit=days&key_type=ecdsa-p256&key=keep&signer=device-ca&csrf={csrf}"),
    )
    .await;
    assert_eq!(create.status, StatusCode::SEE_OTHER, "{}", create.text());

    let html = page(&server, &cookie).await;
    assert_eq!(
        element_text(&html, "origin"),
        "signed by the camera's own CA"
    );
    assert!(html.contains("name=\"signer\" value=\"device-ca\" checked"));
    assert!(html.contains("id=\"download-root\""));
    assert_ne!(
        element_text(&html, "issuer"),
        element_text(&html, "subject")
    );
    let root = get(server.address, "/api/v1/device-ca/root.pem", &[]).await;
    assert_eq!(root.status, StatusCode::OK);
    assert!(root.text().starts_with("-----BEGIN CERTIFICATE-----"));

    // The page gives the root's fingerprint for checking it out of band,
    // and says what trusting the root means.
    let fingerprint = openssl(
        &["x509", "-noout", "-fingerprint", "-sha256"],
        root.text().as_bytes(),
    );
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap().to_owned();
    assert!(
        element_text(&html, "root-fingerprint").ends_with(&fingerprint),
        "{}",
        element_text(&html, "root-fingerprint")
    );
    assert!(element_text(&html, "signer-tradeoff").contains("trusts it once"));

    // Over 825 days, "Check" says the camera's root will not sign it.
    let csrf = token(&html, "/admin/webserver/self-signed");
    let check = post_form(
        server.address,
        "/admin/webserver/self-signed",
        &cookie,
        &format!("action=check&validity=900&unit=days&key_type=ecdsa-p256&key=keep&signer=device-ca&csrf={csrf}"),
    )
    .await;
    let note = element_text(&check.text(), "validity-note");
    assert!(note.contains("signs at most 825 days"), "{note}");
}
