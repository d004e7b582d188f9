//! The admin page in headless Chromium, driven through chromedriver: log in,
//! read the certificate off the page, create a self-signed certificate,
//! upload a good and a bad corpus case, and switch to German.
//!
//! Skips with a message when Chromium or chromedriver is not installed;
//! `tests/run.sh` installs both. Screenshots go to the cargo target
//! directory (`target/tmp/page-screenshots`), not into the repository.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long chromedriver may take to accept connections, and the page to
/// show an element after a navigation. Generous, because the same test
/// also runs as ARM code under qemu-user.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const ELEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A running chromedriver, stopped by its PID when dropped.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        // Ask the kernel for a free loopback port; chromedriver binds it right after.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on 127.0.0.1:{port} within {STARTUP_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Chromedriver { child, port }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a headless Chromium session with a fresh profile in `profile`.
async fn browser(driver: &Chromedriver, profile: &Path) -> Client {
    let arguments = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--ignore-certificate-errors",
        "--window-size=1024,1400",
        "--lang=en-US",
    ]
    .iter()
    .map(|argument| argument.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("acceptInsecureCerts".into(), true.into());
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": arguments,
            "prefs": {"intl.accept_languages": "en-US,en"},
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("chromedriver opens a Chromium session")
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder can be created");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot is taken");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("screenshot is written");
    eprintln!("screenshot: {}", path.display());
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(ELEMENT_TIMEOUT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("element {css} did not appear: {error}"))
        .text()
        .await
        .expect("element text is readable")
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("element {css} not found: {error}"))
        .click()
        .await
        .unwrap_or_else(|error| panic!("clicking {css} failed: {error}"));
}

/// Clicks `css`, which submits a form or follows a link, and waits until
/// the old document is gone, so later reads see the new page. Elements
/// of the old page go stale once the browser replaces the document.
async fn click_and_wait(client: &Client, css: &str) {
    let old_document = client
        .find(Locator::Css("html"))
        .await
        .expect("the page has an html element");
    click(client, css).await;
    let deadline = Instant::now() + ELEMENT_TIMEOUT;
    while old_document.attr("lang").await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "clicking {css} loaded no new page within {ELEMENT_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|error| panic!("element {css} not found: {error}"));
    element.clear().await.expect("field clears");
    element.send_keys(text).await.expect("field takes the text");
}

/// Returns the leaf certificate a new TLS handshake with `address` gets.
async fn served_leaf(address: SocketAddr) -> Vec<u8> {
    let stream = connect(address, observing_client(&[b"http/1.1"]), "127.0.0.1")
        .await
        .expect("TLS handshake succeeds");
    peer_leaf(&stream)
}

/// Returns the `openssl x509` output line `field` (such as `-enddate`) of a
/// DER certificate, after the `=`.
fn openssl_field(der: &[u8], field: &str) -> String {
    let output = openssl(
        &[
            "x509", "-inform", "DER", "-noout", field, "-dateopt", "iso_8601",
        ],
        der,
    );
    output
        .trim()
        .split_once('=')
        .expect("openssl prints NAME=VALUE")
        .1
        .to_owned()
}

/// Returns the corpus case `id`'s folder and its upload field to file map.
fn corpus_case(dir: &Path, id: &str) -> (PathBuf, Vec<(String, String)>) {
    let case = corpus_cases(dir)
        .into_iter()
        .find(|case| case.id == id)
        .unwrap_or_else(|| panic!("corpus case {id} exists"));
    (dir.join(&case.dir), case.upload.into_iter().collect())
}

/// Fills the upload form with corpus case `id` and submits it.
async fn upload_case(client: &Client, dir: &Path, id: &str) {
    let (case_dir, files) = corpus_case(dir, id);
    for (field, file) in files {
        // chromedriver accepts only canonical paths for file inputs.
        let path = std::fs::canonicalize(case_dir.join(&file)).expect("corpus file exists");
        let css = match field.as_str() {
            "certificate" => "#certificate",
            "private_key" => "#private-key",
            "chain" => "#chain-file",
            "pkcs12" => "#pkcs12",
            "password_file" => {
                let password = std::fs::read_to_string(&path).unwrap();
                type_into(client, "#upload-password", password.trim_end()).await;
                continue;
            }
            other => panic!("{id}: unknown upload field {other}"),
        };
        let input = client.find(Locator::Css(css)).await.expect("file input");
        input
            .send_keys(path.to_str().expect("corpus path is UTF-8"))
            .await
            .expect("file input takes the path");
    }
    click_and_wait(client, "#upload-button").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_page_in_chromium() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(tool).exists() {
            eprintln!("skipped: {tool} is not installed (tests/run.sh installs chromium and chromium-driver)");
            return;
        }
    }
    let state = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let base = format!("https://127.0.0.1:{}", server.address.port());
    let driver = Chromedriver::start();
    let client = browser(&driver, profile.path()).await;

    // Log in: /admin/ leads to the login form, which leads to the page.
    client.goto(&format!("{base}/admin/")).await.unwrap();
    type_into(&client, "#password", &server.password()).await;
    screenshot(&client, "01-login").await;
    click_and_wait(&client, "#log-in").await;
    let sha256 = text_of(&client, "#sha256").await;
    let expires_on = text_of(&client, "#expires-on").await;
    screenshot(&client, "02-page").await;

    // The page shows the certificate that the server actually serves.
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
    assert_eq!(sha256, fingerprint.trim().split_once('=').unwrap().1);
    assert_eq!(expires_on, openssl_field(&leaf, "-enddate")[..10]);

    // Check, then create, a 3-year self-signed certificate.
    type_into(&client, "#validity", "3").await;
    click(&client, "#unit option[value=years]").await;
    click_and_wait(&client, "#check").await;
    let note = text_of(&client, "#validity-note").await;
    assert!(note.contains("1095 days is more than 825"), "{note}");
    screenshot(&client, "03-apple-note").await;
    assert_eq!(
        served_leaf(server.address).await,
        leaf,
        "Check installs nothing"
    );
    click_and_wait(&client, "#create").await;
    let notice = text_of(&client, "#notice").await;
    assert!(
        notice.contains("self-signed certificate is installed"),
        "{notice}"
    );
    let new_leaf = served_leaf(server.address).await;
    assert_ne!(new_leaf, leaf);
    let new_expiry = text_of(&client, "#expires-on").await;
    assert_eq!(new_expiry, openssl_field(&new_leaf, "-enddate")[..10]);
    assert_ne!(new_expiry, expires_on);
    let warnings = text_of(&client, "#warnings").await;
    assert!(warnings.contains("825 days"), "{warnings}");
    screenshot(&client, "04-self-signed").await;

    if let Some(corpus) = corpus_dir() {
        // A good upload is installed and served.
        upload_case(&client, &corpus, "c01").await;
        let notice = text_of(&client, "#notice").await;
        assert!(
            notice.contains("uploaded certificate is installed"),
            "{notice}"
        );
        assert_eq!(text_of(&client, "#origin").await, "uploaded");
        let (case_dir, _) = corpus_case(&corpus, "c01");
        let uploaded = CertificateDer::from_pem_file(case_dir.join("cert.pem"))
            .expect("c01 certificate parses")
            .to_vec();
        assert_eq!(served_leaf(server.address).await, uploaded);
        screenshot(&client, "05-uploaded").await;

        // A key that does not match is rejected with its kind; nothing changes.
        upload_case(&client, &corpus, "c25").await;
        let error = text_of(&client, "#error").await;
        assert!(error.contains("key-mismatch"), "{error}");
        assert!(error.contains("was not changed"), "{error}");
        assert_eq!(served_leaf(server.address).await, uploaded);
        screenshot(&client, "06-rejected").await;
    }

    // Switch to German: the text and the date format follow.
    click_and_wait(&client, "#switch-language").await;
    let heading = text_of(&client, "h1").await;
    assert_eq!(heading, "Webserver-Zertifikat");
    let german_date = text_of(&client, "#expires-on").await;
    assert_eq!(german_date.len(), 10, "{german_date}");
    assert_eq!(&german_date[2..3], ".", "{german_date}");
    assert_eq!(&german_date[5..6], ".", "{german_date}");
    screenshot(&client, "07-german").await;

    // The choice survives a reload from the cookie.
    client
        .goto(&format!("{base}/admin/webserver"))
        .await
        .unwrap();
    assert_eq!(text_of(&client, "h1").await, "Webserver-Zertifikat");

    // A phone-sized window.
    client.set_window_size(390, 844).await.unwrap();
    screenshot(&client, "08-phone").await;
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        serde_json::Value::Bool(false),
        "no sideways scrolling on a phone"
    );

    client.close().await.unwrap();
}
