//! The `camcertd` command: parses flags, starts logging and hands over to the library.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use camcertd::config::Config;
use camcertd::manager::{self, ManagerError, SelfSignedOptions, Status};
use camcertd::pki::import::{Field, Upload, UploadFile, MAX_FILE_BYTES};
use camcertd::pki::KeyType;
use camcertd::store::Store;
use camcertd::web::auth::PasswordHash;

/// Camera-side TLS certificate manager: serves HTTPS with the camera's own
/// key and certificate and replaces them without a restart.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// State directory holding key and certificate generations [default:
    /// the config file's store.state_dir, else ./camcertd-state].
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// TOML configuration file [default: built-in development settings].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTPS with the managed certificate until SIGTERM or SIGINT.
    Serve {
        /// Address and port of the HTTPS listener, such as 0.0.0.0:443
        /// [default: the config file's server.https_listen, else 127.0.0.1:8443].
        #[arg(long, value_name = "ADDR:PORT")]
        https_listen: Option<SocketAddr>,
    },
    /// Print the installed certificate.
    Show {
        /// Print the JSON object the API returns.
        #[arg(long)]
        json: bool,
    },
    /// Issue and install a new self-signed certificate. A running service
    /// serves it after SIGHUP.
    Selfsign {
        /// Validity in days, from 1 to the last day of the year 9999.
        #[arg(long, value_name = "N")]
        days: u64,
        /// Key type for a new key: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072
        /// or rsa-4096 [default: the current key's type].
        #[arg(long, value_name = "TYPE")]
        key_type: Option<KeyType>,
        /// Generate a new key instead of keeping the current one.
        #[arg(long)]
        new_key: bool,
        /// Sign with the camera-local root, created on first use, instead of
        /// self-signing [default: as the current certificate was signed].
        #[arg(long, conflicts_with = "no_device_ca")]
        device_ca: bool,
        /// Self-sign even when the current certificate was signed by the
        /// camera-local root.
        #[arg(long)]
        no_device_ca: bool,
    },
    /// Check and install the admin's own certificate, key and chain, as an
    /// upload through the API does. A running service serves it after SIGHUP.
    Import {
        /// Certificate file: PEM (possibly with key and chain), DER or PKCS#7.
        #[arg(long, value_name = "FILE")]
        certificate: Option<PathBuf>,
        /// Private key file: PEM or DER, PKCS#8, PKCS#1 or SEC1, possibly encrypted.
        #[arg(long, value_name = "FILE")]
        private_key: Option<PathBuf>,
        /// Intermediate and root certificates: PEM, DER or PKCS#7.
        #[arg(long, value_name = "FILE")]
        chain: Option<PathBuf>,
        /// PKCS#12 / PFX file holding key, certificate and chain.
        #[arg(long, value_name = "FILE")]
        pkcs12: Option<PathBuf>,
        /// File whose first line is the password of the key or PKCS#12 file;
        /// an empty file is an empty password.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Print the JSON objects the API returns, on success and on rejection.
        #[arg(long)]
        json: bool,
    },
    /// Generate a key that stays on the camera and print a PKCS#10 request
    /// (PEM) for the camera's addresses and names. Importing the signed
    /// certificate without a key installs it with that key.
    Csr {
        /// Key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096
        /// [default: the config file's certificate.default_key_type].
        #[arg(long, value_name = "TYPE")]
        key_type: Option<KeyType>,
    },
    /// Production-line tools: a manufacturer root and factory certificates.
    #[command(subcommand)]
    Factory(FactoryCommand),
    /// Read a password from standard input and print its hash for the
    /// config key admin.password_hash.
    HashPassword,
}

#[derive(Debug, Subcommand)]
enum FactoryCommand {
    /// Create a manufacturer root: DIR/manufacturer-root.pem and
    /// DIR/manufacturer-root-key.pem (mode 0600; keep it offline).
    CreateRoot {
        /// Folder to write the root into; created if missing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Subject common name of the root.
        #[arg(
            long,
            value_name = "NAME",
            default_value = "Example Cameras Test Root CA"
        )]
        name: String,
        /// Subject organization of the root and of the device certificates.
        #[arg(long, value_name = "NAME", default_value = "Example Cameras")]
        organization: String,
        /// Validity in calendar years.
        #[arg(long, value_name = "N", default_value_t = 40)]
        years: u32,
        /// Key type of the root.
        #[arg(long, value_name = "TYPE", default_value = "ecdsa-p384")]
        key_type: KeyType,
    },
    /// Provision one camera: a device key and certificate signed by the
    /// manufacturer root, with the factory IP addresses, into a factory folder
    /// holding key.pem, cert.pem and root.pem.
    Provision {
        /// Folder holding manufacturer-root.pem and manufacturer-root-key.pem.
        #[arg(long, value_name = "DIR")]
        root_dir: PathBuf,
        /// The camera's serial number, put in the certificate subject.
        #[arg(long, value_name = "SERIAL")]
        serial: String,
        /// Factory IP address of the camera; repeat for several.
        #[arg(long = "ip", value_name = "ADDRESS", required = true)]
        addresses: Vec<std::net::IpAddr>,
        /// Factory folder to write; created if missing.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Board profile (board/NAME/profile.toml) whose
        /// factory_validity_years sets the validity.
        #[arg(long, value_name = "FILE", required_unless_present = "years")]
        board: Option<PathBuf>,
        /// Validity in calendar years, instead of the board profile's.
        #[arg(long, value_name = "N", conflicts_with = "board")]
        years: Option<u32>,
        /// Camera model, the first part of the common name.
        #[arg(long, value_name = "NAME", default_value = "IP Camera")]
        model: String,
        /// Key type of the device key.
        #[arg(long, value_name = "TYPE", default_value = "ecdsa-p256")]
        key_type: KeyType,
    },
}

/// Why a command failed: a message printed as one line, and the exit code.
#[derive(Debug)]
struct Failure {
    message: String,
    code: u8,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { message, code: 1 }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::from(message.to_owned())
    }
}

/// Exit code of a rejected import: the input was refused, nothing changed.
const EXIT_REJECTED: u8 = 2;

type CommandResult = Result<(), Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();

    let result = load_config(&cli).and_then(|config| match cli.command {
        Command::Serve { https_listen } => serve(config, https_listen),
        Command::Show { json } => show(&config, json),
        Command::Selfsign {
            days,
            key_type,
            new_key,
            device_ca,
            no_device_ca,
        } => {
            let options = SelfSignedOptions {
                validity_days: Some(days),
                key_type,
                new_key,
                device_ca: match (device_ca, no_device_ca) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            selfsign(&config, &options)
        }
        Command::Import {
            certificate,
            private_key,
            chain,
            pkcs12,
            password_file,
            json,
        } => {
            let files = [
                (Field::Certificate, certificate),
                (Field::PrivateKey, private_key),
                (Field::Chain, chain),
                (Field::Pkcs12, pkcs12),
            ];
            import(&config, &files, password_file.as_deref(), json)
        }
        Command::Csr { key_type } => csr(&config, key_type),
        Command::Factory(command) => factory(command),
        Command::HashPassword => hash_password(),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("camcertd: error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Logs to stderr with the filter from `RUST_LOG`, such as `info,camcertd=debug`
/// (default `info`). A plain target filter keeps the binary small because it
/// needs no regex engine.
fn init_logging() {
    let default = || Targets::new().with_default(tracing::Level::INFO);
    let (filter, invalid) = match std::env::var("RUST_LOG") {
        Ok(text) => match text.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(err) => (default(), Some(format!("{text:?}: {err}"))),
        },
        Err(_) => (default(), None),
    };
    // Colors only on a terminal, and never with NO_COLOR set (no-color.org).
    let colors = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colors);
    tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .init();
    if let Some(invalid) = invalid {
        tracing::warn!("RUST_LOG {invalid}; logging at info instead");
    }
}

/// Reads the config file, if any, and applies the command line overrides.
fn load_config(cli: &Cli) -> Result<Config, Failure> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path).map_err(|err| err.to_string())?,
        None => Config::default(),
    };
    if let Some(dir) = &cli.state_dir {
        config.store.state_dir = dir.clone();
    }
    Ok(config)
}

fn serve(mut config: Config, https_listen: Option<SocketAddr>) -> CommandResult {
    if let Some(address) = https_listen {
        config.server.https_listen = address;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start the async runtime: {err}"))?;
    runtime.block_on(async {
        let address = config.server.https_listen;
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|err| {
            format!(
                "cannot listen on {address}: {err}; stop the other service on that port or choose another with --https-listen"
            )
        })?;
        // Both ports are bound before dropping root, since cameras use 443 and 80.
        let http_listener = match config.server.http_listen {
            Some(address) => Some(tokio::net::TcpListener::bind(address).await.map_err(|err| {
                format!("cannot listen on {address} (server.http_listen): {err}; stop the other service on that port, choose another, or remove server.http_listen")
            })?),
            None => None,
        };
        if let Some(user) = &config.server.user {
            switch_user(
                user,
                &config.store.state_dir,
                config.store.factory_dir.as_deref(),
            )?;
        }
        camcertd::service::run(config, listener, http_listener, shutdown_signal()?)
            .await
            .map_err(|err| Failure::from(err.to_string()))
    })
}

/// Hands the state directory to `user` and switches to it, when running as
/// root; otherwise checks that camcertd already runs as that user.
fn switch_user(user: &str, state_dir: &Path, factory_dir: Option<&Path>) -> CommandResult {
    use camcertd::privileges;
    let target = privileges::resolve(user).map_err(|err| err.to_string())?;
    let current = nix::unistd::Uid::effective();
    if current == target.uid {
        return Ok(());
    }
    if !current.is_root() {
        return Err(format!(
            "server.user is {user:?} (uid {}) but camcertd runs as uid {current} without root; start it as root or as that user",
            target.uid
        )
        .into());
    }
    privileges::hand_over_state_dir(state_dir, target).map_err(|err| err.to_string())?;
    privileges::drop_to(target).map_err(|err| err.to_string())?;
    tracing::info!(%user, uid = %target.uid, gid = %target.gid, "switched from root to the service user");
    if let Some(dir) = factory_dir {
        warn_unreadable_factory_files(dir, user);
    }
    Ok(())
}

/// Warns about factory files that the service user cannot open. Root could
/// read them, so the problem would otherwise show only when the camera falls
/// back to its factory certificate and cannot.
fn warn_unreadable_factory_files(dir: &Path, user: &str) {
    for name in ["key.pem", "cert.pem", "chain.pem"] {
        let path = dir.join(name);
        if let Err(error) = std::fs::File::open(&path) {
            if error.kind() == std::io::ErrorKind::PermissionDenied {
                tracing::warn!(path = %path.display(), %user, %error, "the service user cannot read this factory file, so the factory certificate cannot be served; give the service user's group read access (chgrp GROUP FILE; chmod 640 FILE) and to the folder (chmod 750)");
            }
        }
    }
}

/// Watches SIGTERM and SIGINT from now on and returns a future that completes
/// on the first of them. Registering before the listener reports ready means
/// no early signal takes the default action and kills the process.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let watch =
        |kind| signal(kind).map_err(|err| format!("cannot watch SIGTERM and SIGINT: {err}"));
    let mut terminate = watch(SignalKind::terminate())?;
    let mut interrupt = watch(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    })
}

fn show(config: &Config, json: bool) -> CommandResult {
    let store = Store::open_read_only(&config.store.state_dir, config.store.factory_dir.as_deref());
    let (found, skipped) = store.load_startup();
    for skip in &skipped {
        tracing::warn!(source = ?skip.source, error = %skip.error, "skipped unusable stored pair");
    }
    let stored = found.ok_or_else(|| no_certificate_message(&config.store.state_dir))?;
    let addresses = manager::read_addresses(&config.certificate).map_err(|err| err.to_string())?;
    print_status(&Status::from_stored(&stored, &addresses), json);
    Ok(())
}

fn no_certificate_message(state_dir: &Path) -> String {
    format!(
        "no usable certificate in {}; run `camcertd serve` or `camcertd selfsign --days N` with this --state-dir",
        state_dir.display()
    )
}

fn selfsign(config: &Config, options: &SelfSignedOptions) -> CommandResult {
    let days = options.validity_days.unwrap_or_default();
    camcertd::pki::check_validity_days(days).map_err(|err| format!("--days: {err}"))?;
    let store = Store::open(&config.store.state_dir, config.store.factory_dir.as_deref())
        .map_err(|err| err.to_string())?;
    let (current, _) = store.load_startup();
    let addresses = manager::read_addresses(&config.certificate).map_err(|err| err.to_string())?;
    let stored = manager::issue_and_install(
        &store,
        &config.certificate,
        current.as_ref(),
        options,
        camcertd::store::reasons::COMMAND_LINE,
        &addresses,
    )
    .map_err(|err| err.to_string())?;
    print_status(&Status::from_stored(&stored, &addresses), false);
    eprintln!("installed; a running camcertd serves it after SIGHUP (kill -HUP its PID)");
    Ok(())
}

fn import(
    config: &Config,
    files: &[(Field, Option<PathBuf>)],
    password_file: Option<&Path>,
    json: bool,
) -> CommandResult {
    let mut upload = Upload::default();
    for (field, path) in files {
        let Some(path) = path else { continue };
        let data = read_upload_file(path, *field)?;
        upload.files.push(UploadFile {
            field: *field,
            name: path.display().to_string(),
            data: data.into(),
        });
    }
    if upload.files.is_empty() {
        return Err("nothing to import; give --certificate and --private-key, or --pkcs12".into());
    }
    if let Some(path) = password_file {
        let text = std::fs::read(path)
            .map_err(|err| format!("--password-file {}: cannot read it: {err}", path.display()))?;
        let text = zeroize::Zeroizing::new(text);
        let first_line = text.split(|byte| *byte == b'\n').next().unwrap_or_default();
        let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
        let password = String::from_utf8(first_line.to_vec()).map_err(|_| {
            format!(
                "--password-file {}: the password is not UTF-8 text; save the file as UTF-8",
                path.display()
            )
        })?;
        upload.password = Some(zeroize::Zeroizing::new(password));
    }

    let store = Store::open(&config.store.state_dir, config.store.factory_dir.as_deref())
        .map_err(|err| err.to_string())?;
    let (current, _) = store.load_startup();
    let serving = current
        .as_ref()
        .and_then(|stored| stored.source.generation());
    let addresses = manager::read_addresses(&config.certificate).map_err(|err| err.to_string())?;
    match manager::import_and_install(&store, &upload, &addresses, serving) {
        Ok((stored, _)) => {
            let status = Status::from_stored(&stored, &addresses);
            print_status(&status, json);
            if !json {
                for warning in &status.warnings {
                    eprintln!("warning: {}", warning.message);
                }
            }
            eprintln!("installed; a running camcertd serves it after SIGHUP (kill -HUP its PID)");
            Ok(())
        }
        Err(ManagerError::Import(rejection)) => {
            if json {
                let body = serde_json::json!({
                    "error": { "kind": rejection.kind.as_str(), "message": rejection.message }
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&body).expect("error serializes")
                );
            }
            Err(Failure {
                message: format!(
                    "{}: {}; nothing was changed",
                    rejection.kind.as_str(),
                    rejection.message
                ),
                code: EXIT_REJECTED,
            })
        }
        Err(error) => Err(error.to_string().into()),
    }
}

/// Reads one file to import, refusing one far over the upload limit
/// before reading it whole.
fn read_upload_file(path: &Path, field: Field) -> Result<Vec<u8>, String> {
    let flag = format!("--{}", field.as_str().replace('_', "-"));
    let metadata = std::fs::metadata(path)
        .map_err(|err| format!("{flag} {}: cannot read it: {err}", path.display()))?;
    if metadata.len() > MAX_FILE_BYTES as u64 {
        return Err(format!(
            "too-large: {flag} {} has {} bytes, more than the {MAX_FILE_BYTES} accepted; give only the key, certificate and chain",
            path.display(),
            metadata.len()
        ));
    }
    std::fs::read(path).map_err(|err| format!("{flag} {}: cannot read it: {err}", path.display()))
}

fn csr(config: &Config, key_type: Option<KeyType>) -> CommandResult {
    let store = Store::open(&config.store.state_dir, config.store.factory_dir.as_deref())
        .map_err(|err| err.to_string())?;
    let addresses = manager::read_addresses(&config.certificate).map_err(|err| err.to_string())?;
    let csr = manager::create_csr(&store, &config.certificate, key_type, &addresses)
        .map_err(|err| err.to_string())?;
    print!("{csr}");
    eprintln!("the key stays on the camera; import the signed certificate with `camcertd import --certificate FILE`");
    Ok(())
}

fn print_status(status: &Status, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(status).expect("status serializes")
        );
        return;
    }
    let info = &status.info;
    let generation = status
        .generation
        .map_or_else(|| "none".to_owned(), |number| number.to_string());
    let join = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    println!("subject:             {}", info.subject);
    println!("issuer:              {}", info.issuer);
    println!("serial:              {}", info.serial);
    println!("not before:          {}", info.not_before);
    println!("not after:           {}", info.not_after);
    println!("DNS names:           {}", join(info.san_dns.clone()));
    println!(
        "IP addresses:        {}",
        join(info.san_ip.iter().map(ToString::to_string).collect())
    );
    println!("key type:            {}", info.key_type);
    println!("signature algorithm: {}", info.signature_algorithm);
    println!("SHA-256 fingerprint: {}", info.sha256_fingerprint);
    println!("SHA-1 fingerprint:   {}", info.sha1_fingerprint);
    println!("origin:              {}", status.origin.as_str());
    println!("generation:          {generation}");
    println!(
        "installed:           {} ({})",
        status.installed, status.reason
    );
}

/// File names of a manufacturer root in its folder.
const MANUFACTURER_ROOT: &str = "manufacturer-root.pem";
const MANUFACTURER_ROOT_KEY: &str = "manufacturer-root-key.pem";

fn factory(command: FactoryCommand) -> CommandResult {
    use camcertd::pki::authority::{self, Authority, DeviceRequest, RootRequest};

    let now = time::OffsetDateTime::now_utc();
    match command {
        FactoryCommand::CreateRoot {
            out,
            name,
            organization,
            years,
            key_type,
        } => {
            if !(1..=100).contains(&years) {
                return Err(format!("--years {years} is out of range: choose 1 to 100").into());
            }
            let request = RootRequest {
                common_name: name,
                organization,
                validity_years: years,
                issued_at: now,
                constraints: None,
            };
            let root = authority::create_root(&request, key_type).map_err(|err| err.to_string())?;
            create_dir(&out)?;
            write_output(&out, MANUFACTURER_ROOT_KEY, root.key_pem.as_bytes())?;
            write_output(&out, MANUFACTURER_ROOT, root.cert_pem.as_bytes())?;
            println!("subject:             {}", root.info.subject);
            println!("not after:           {}", root.info.not_after);
            println!("SHA-256 fingerprint: {}", root.info.sha256_fingerprint);
            eprintln!(
                "wrote {} and {}",
                out.join(MANUFACTURER_ROOT).display(),
                out.join(MANUFACTURER_ROOT_KEY).display()
            );
            Ok(())
        }
        FactoryCommand::Provision {
            root_dir,
            serial,
            addresses,
            out,
            board,
            years,
            model,
            key_type,
        } => {
            let validity_years = match (years, board) {
                (Some(years), _) => years,
                (None, Some(board)) => {
                    camcertd::config::BoardProfile::load(&board)
                        .map_err(|err| match err {
                            camcertd::config::ConfigError::Read { path, source } => format!(
                                "--board {}: cannot read it: {source}; give the path of board/NAME/profile.toml from the repository root, or a full path",
                                path.display()
                            ),
                            other => format!("--board: {other}"),
                        })?
                        .factory_validity_years
                }
                (None, None) => return Err("give --board PROFILE or --years N".into()),
            };
            if !(1..=50).contains(&validity_years) {
                return Err(format!(
                    "a validity of {validity_years} years is out of range: choose 1 to 50"
                )
                .into());
            }
            let read = |name: &str| {
                let path = root_dir.join(name);
                std::fs::read_to_string(&path).map_err(|err| {
                    format!("cannot read {}: {err}; create the root with `camcertd factory create-root --out {}`", path.display(), root_dir.display())
                })
            };
            let cert_pem = read(MANUFACTURER_ROOT)?;
            let key_pem = zeroize::Zeroizing::new(read(MANUFACTURER_ROOT_KEY)?);
            let manufacturer = Authority::from_pem(&cert_pem, &key_pem).map_err(|err| {
                format!(
                    "the manufacturer root in {} is unusable: {err}",
                    root_dir.display()
                )
            })?;
            let request = DeviceRequest {
                serial_number: serial,
                model,
                addresses,
                validity_years,
                issued_at: now,
            };
            let pair = authority::device_certificate(&request, key_type, &manufacturer)
                .map_err(|err| err.to_string())?;
            create_dir(&out)?;
            write_output(&out, "key.pem", pair.key_pem.as_bytes())?;
            write_output(&out, "cert.pem", pair.cert_pem.as_bytes())?;
            write_output(&out, "root.pem", pair.root_pem.as_bytes())?;
            println!("subject:             {}", pair.info.subject);
            println!("not after:           {}", pair.info.not_after);
            println!(
                "IP addresses:        {}",
                pair.info
                    .san_ip
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("SHA-256 fingerprint: {}", pair.info.sha256_fingerprint);
            eprintln!("wrote key.pem, cert.pem and root.pem to {}", out.display());
            Ok(())
        }
    }
}

fn create_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))
}

fn write_output(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    camcertd::store::write_file_atomic(dir, name, bytes)
        .map_err(|err| format!("cannot write {}: {err}", dir.join(name).display()))
}

fn hash_password() -> CommandResult {
    if std::io::stdin().is_terminal() {
        eprintln!("type the password and press Enter (it is shown as you type):");
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| format!("cannot read the password from standard input: {err}"))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("empty password: write the password on standard input".into());
    }
    println!("{}", PasswordHash::new(password));
    Ok(())
}
