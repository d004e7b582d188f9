//! Shared helpers for the integration tests: start the real `camcertd`
//! binary on an ephemeral loopback port, connect with rustls and openssl.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The listen address of test servers: loopback, a port the kernel picks.
const LOOPBACK_ANY_PORT: &str = "127.0.0.1:0";

/// Returns how long a server may take to print its listening line: a minute,
/// or three under qemu-user emulation of ARM. There the parallel tests start
/// their emulated servers at once, and each first start hashes a password.
fn start_timeout() -> Duration {
    let emulated =
        std::env::var("CAMCERTD_TEST_RUNNER").is_ok_and(|runner| !runner.trim().is_empty());
    Duration::from_secs(if emulated { 180 } else { 60 })
}

/// The command that starts the binary under test: `CAMCERTD_TEST_RUNNER`
/// (such as `qemu-aarch64 -L /usr/aarch64-linux-gnu`) in front of it when the
/// tests run as ARM code, so the spawned service is emulated too.
pub fn camcertd_command() -> Command {
    let binary = env!("CARGO_BIN_EXE_camcertd");
    match std::env::var("CAMCERTD_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut command = Command::new(words.next().expect("runner is not empty"));
            command.args(words).arg(binary);
            command
        }
        _ => Command::new(binary),
    }
}

/// Runs `camcertd ARGS` to completion with `stdin` as standard input.
pub fn run_camcertd(args: &[&str], stdin: &str) -> Output {
    let mut child = camcertd_command()
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("camcertd starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin accepts the input");
    child.wait_with_output().expect("camcertd finishes")
}

/// A running `camcertd serve`, stopped by PID when dropped.
pub struct Server {
    child: Child,
    /// The bound HTTPS address.
    pub address: SocketAddr,
    /// The state directory it was started with.
    pub state_dir: PathBuf,
    /// Every line it wrote to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `camcertd serve` on 127.0.0.1 port 0 with `state_dir` and
    /// `extra_args`, and waits for its listening line.
    pub fn start(state_dir: &Path, extra_args: &[&str]) -> Server {
        Self::start_in(None, state_dir, extra_args)
    }

    /// Like [`Server::start`], inside the network namespace `namespace` when given.
    pub fn start_in(namespace: Option<&str>, state_dir: &Path, extra_args: &[&str]) -> Server {
        match namespace {
            Some(namespace) => {
                Self::start_wrapped(&["ip", "netns", "exec", namespace], state_dir, extra_args)
            }
            None => Self::start_wrapped(&[], state_dir, extra_args),
        }
    }

    /// Like [`Server::start`], with `envs` added to the environment.
    pub fn start_with_env(envs: &[(&str, &str)], state_dir: &Path, extra_args: &[&str]) -> Server {
        Self::start_full(&[], envs, LOOPBACK_ANY_PORT, state_dir, extra_args)
    }

    /// Like [`Server::start_in`], listening on `listen` (such as
    /// `0.0.0.0:0`, every address of the namespace) instead of loopback.
    pub fn start_listening(
        namespace: &str,
        listen: &str,
        state_dir: &Path,
        extra_args: &[&str],
    ) -> Server {
        Self::start_full(
            &["ip", "netns", "exec", namespace],
            &[],
            listen,
            state_dir,
            extra_args,
        )
    }

    /// Like [`Server::start`], with `wrapper` (such as `ip netns exec NAME`)
    /// in front of the command. The wrapper must exec the command, not fork
    /// it, so that the process id stays the service's.
    pub fn start_wrapped(wrapper: &[&str], state_dir: &Path, extra_args: &[&str]) -> Server {
        Self::start_full(wrapper, &[], LOOPBACK_ANY_PORT, state_dir, extra_args)
    }

    fn start_full(
        wrapper: &[&str],
        envs: &[(&str, &str)],
        listen: &str,
        state_dir: &Path,
        extra_args: &[&str],
    ) -> Server {
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let inner = camcertd_command();
                let mut command = Command::new(program);
                command
                    .args(wrapper_args)
                    .arg(inner.get_program())
                    .args(inner.get_args());
                command
            }
            None => camcertd_command(),
        };
        command.envs(envs.iter().copied());
        let mut child = command
            .arg("serve")
            .arg("--state-dir")
            .arg(state_dir)
            .args(["--https-listen", listen])
            .args(extra_args)
            .env("RUST_LOG", "info,camcertd=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("camcertd starts");

        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address_receiver) = mpsc::channel();
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening for HTTPS") {
                    if let Some(address) = line.split("address=").nth(1) {
                        let address = address.split_whitespace().next().unwrap_or("");
                        let _ = address_sender.send(address.parse::<SocketAddr>());
                    }
                }
                log_writer.lock().unwrap().push(line);
            }
        });

        let address = match address_receiver.recv_timeout(start_timeout()) {
            Ok(Ok(address)) => address,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "camcertd did not report its address ({other:?}); its log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            address,
            state_dir: state_dir.to_owned(),
            log,
        }
    }

    /// The process id, to check that a swap did not restart the service.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait works").is_none()
    }

    /// Sends a signal to the service.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal is delivered");
    }

    /// Kills the service with SIGKILL, as a power cut would stop it, and
    /// reaps it.
    pub fn kill(mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        self.child.wait().expect("wait works");
    }

    /// Sends SIGTERM and waits up to 30 s for a clean exit.
    pub fn stop(mut self) -> ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "camcertd did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The generated admin password from the state directory.
    pub fn password(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("initial-admin-password"))
            .expect("initial-admin-password exists")
            .trim()
            .to_owned()
    }

    /// The whole log so far, for failure messages.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`, up to `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(needle))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.is_running() {
            return;
        }
        // SIGTERM first, so that the service exits normally and preloaded
        // libraries such as libfaketime remove their files in /dev/shm.
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the active generation's certificate PEM from a state directory.
pub fn active_cert_pem(state_dir: &Path) -> String {
    let active = std::fs::read_to_string(state_dir.join("active")).expect("pointer file exists");
    let number: u64 = active.trim().parse().expect("pointer holds a number");
    std::fs::read_to_string(state_dir.join(format!("gen-{number:08}/cert.pem")))
        .expect("cert.pem exists")
}

/// A client configuration that trusts exactly the certificate in `cert_pem`,
/// as a browser does after the admin imported it.
pub fn trusting_client(cert_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("certificate PEM parses");
    roots
        .add(cert)
        .expect("certificate is a usable trust anchor");
    let mut config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Arc::new(config)
}

/// A certificate verifier that accepts any certificate but still checks the
/// handshake signature against the certificate's key, so a connection proves
/// that the server holds the key of the certificate it sent.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration that accepts any certificate; see [`AnyCertificate`].
pub fn observing_client(alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Arc::new(config)
}

/// Opens a TLS connection to `address`, presenting `server_name` in SNI.
pub async fn connect(
    address: SocketAddr,
    config: Arc<ClientConfig>,
    server_name: &str,
) -> Result<TlsStream<TcpStream>, std::io::Error> {
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from(server_name.to_owned()).expect("valid server name");
    TlsConnector::from(config).connect(name, tcp).await
}

/// The leaf certificate the server sent on `stream`.
pub fn peer_leaf(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    let (_, connection) = stream.get_ref();
    connection
        .peer_certificates()
        .expect("server sent certificates")[0]
        .to_vec()
}

/// An HTTP/1.1 keep-alive connection over TLS.
pub struct HttpConnection {
    sender: SendRequest<Full<Bytes>>,
    /// The leaf certificate seen in this connection's handshake.
    pub leaf: Vec<u8>,
}

impl HttpConnection {
    /// Connects with `config` and starts HTTP/1.1.
    pub async fn open(address: SocketAddr, config: Arc<ClientConfig>) -> HttpConnection {
        let stream = connect(address, config, "127.0.0.1")
            .await
            .expect("TLS handshake succeeds");
        let leaf = peer_leaf(&stream);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake succeeds");
        tokio::spawn(connection);
        HttpConnection { sender, leaf }
    }

    /// Sends one request and returns the status, headers and body.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        credentials: Option<(&str, &str)>,
        json_body: Option<&str>,
    ) -> (StatusCode, hyper::HeaderMap, String) {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1");
        if let Some((user, password)) = credentials {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            builder = builder.header("authorization", format!("Basic {token}"));
        }
        let body = match json_body {
            Some(json) => {
                builder = builder.header("content-type", "application/json");
                Full::new(Bytes::from(json.to_owned()))
            }
            None => Full::new(Bytes::new()),
        };
        self.sender
            .ready()
            .await
            .expect("connection is ready for a request");
        let response = self
            .sender
            .send_request(builder.body(body).unwrap())
            .await
            .expect("server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body arrives")
            .to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }
}

/// Runs `openssl ARGS` with `stdin` and returns stdout; panics with stderr on failure.
pub fn openssl(args: &[&str], stdin: &[u8]) -> String {
    let output = openssl_output(args, stdin);
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `openssl ARGS` with `stdin` and returns the whole output.
pub fn openssl_output(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed (the test setup installs it)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Extracts the first PEM certificate from text such as `s_client -showcerts` output.
pub fn first_pem_certificate(text: &str) -> Option<String> {
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end_marker = "-----END CERTIFICATE-----";
    let end = text[start..].find(end_marker)? + start + end_marker.len();
    Some(format!("{}\n", &text[start..end]))
}

/// Writes a new ECDSA P-256 key to `key` and a self-signed certificate for
/// it to `cert`, with `subject`, `days` of validity and each `-addext` value
/// in `extensions`.
pub fn openssl_self_signed(key: &Path, cert: &Path, subject: &str, days: u32, extensions: &[&str]) {
    let days = days.to_string();
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        &days,
        "-subj",
        subject,
    ];
    for extension in extensions {
        args.extend(["-addext", extension]);
    }
    args.extend([
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    openssl(&args, b"");
}

/// Writes `key.pem` and a self-signed `cert.pem` made by openssl into `dir`:
/// ECDSA P-256, common name `common_name`, subjectAltName `san` (such as
/// `IP:127.0.0.1`), valid for `days`. Stands for a factory or uploaded pair.
pub fn openssl_pair(dir: &Path, common_name: &str, san: &str, days: u32) {
    openssl_self_signed(
        &dir.join("key.pem"),
        &dir.join("cert.pem"),
        &format!("/CN={common_name}"),
        days,
        &[&format!("subjectAltName={san}")],
    );
}

/// A test CA made with openssl: `ca.pem` and `ca-key.pem` in `dir`.
pub fn openssl_ca(dir: &Path) {
    openssl_self_signed(
        &dir.join("ca-key.pem"),
        &dir.join("ca.pem"),
        "/CN=Upload Test CA",
        30,
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// Signs `csr_pem` with the CA in `dir`, copying the requested names, and
/// returns the certificate PEM.
pub fn openssl_sign(dir: &Path, csr_pem: &str) -> String {
    let csr_file = dir.join("request.csr");
    std::fs::write(&csr_file, csr_pem).unwrap();
    let extensions = dir.join("leaf.ext");
    std::fs::write(
        &extensions,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let cert_file = dir.join("signed.pem");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            csr_file.to_str().unwrap(),
            "-CA",
            dir.join("ca.pem").to_str().unwrap(),
            "-CAkey",
            dir.join("ca-key.pem").to_str().unwrap(),
            "-days",
            "20",
            "-copy_extensions",
            "copy",
            "-extfile",
            extensions.to_str().unwrap(),
            "-out",
            cert_file.to_str().unwrap(),
        ],
        b"",
    );
    std::fs::read_to_string(cert_file).unwrap()
}

/// The shared corpus of real-world shaped certificate uploads with expected
/// outcomes, beside this repository. `None`, with a message, when it is absent.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("cases.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: the upload corpus is not at {}; tests that need it do nothing",
            dir.display()
        );
        None
    }
}

/// One corpus case from `cases.json`.
#[derive(Debug, serde::Deserialize)]
pub struct CorpusCase {
    /// Short id such as `c01`.
    pub id: String,
    /// Folder name under the corpus.
    pub dir: String,
    /// Upload field name to file name.
    pub upload: std::collections::BTreeMap<String, String>,
    /// `accept` or `reject`.
    pub expect: String,
    /// Whether a warning must be shown.
    pub warn: bool,
    /// The warning (`warn: ...`) or rejection kind.
    pub kind: Option<String>,
}

/// Reads every corpus case.
pub fn corpus_cases(dir: &Path) -> Vec<CorpusCase> {
    let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json is readable");
    serde_json::from_str(&text).expect("cases.json parses")
}

/// A network namespace with a veth pair, deleted on drop. The camera's
/// interface is one end of the pair, because some kernels, the CI host's
/// among them, are built without dummy links.
pub struct Namespace {
    /// The namespace name for `ip netns exec`.
    pub name: String,
}

impl Namespace {
    /// Creates the namespace with loopback and `veth0` up, or returns `None`
    /// with a message where root or `ip netns` is missing.
    pub fn create() -> Option<Namespace> {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: network namespaces need root; run the tests as root to cover address changes");
            return None;
        }
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "camcertd-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let created = Command::new("ip").args(["netns", "add", &name]).output();
        match created {
            Ok(output) if output.status.success() => {}
            Ok(output) => {
                eprintln!(
                    "skipped: `ip netns add` failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                return None;
            }
            Err(error) => {
                eprintln!("skipped: cannot run `ip` (package iproute2): {error}");
                return None;
            }
        }
        let namespace = Namespace { name };
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace.ip(&[
            "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ]);
        namespace.ip(&["link", "set", "veth1", "up"]);
        namespace.ip(&["link", "set", "veth0", "up"]);
        // Keep the secondary address when the primary of a subnet goes.
        namespace.run(&[
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.conf.veth0.promote_secondaries=1",
        ]);
        Some(namespace)
    }

    /// Runs `ip ARGS` inside the namespace and panics on failure.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["ip"];
        full.extend_from_slice(args);
        self.run(&full);
    }

    /// Runs a command inside the namespace and returns its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("ip netns exec runs");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The certificate served on the namespace's loopback, as openssl text.
    pub fn served_text(&self, server: &Server) -> String {
        let output = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "openssl", "s_client", "-connect",
            ])
            .arg(server.address.to_string())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl runs");
        let pem = first_pem_certificate(&String::from_utf8_lossy(&output.stdout))
            .expect("a certificate was served");
        openssl(&["x509", "-noout", "-text", "-serial"], pem.as_bytes())
    }

    /// Waits up to 20 s until the served certificate's text satisfies `check`.
    pub fn wait_for_served(
        &self,
        server: &Server,
        what: &str,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.served_text(server);
            if check(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "served certificate never {what}:\n{text}\nlog:\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
