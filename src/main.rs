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
use camcertd::manager::{self, SelfSignedOptions, Status};
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
    },
    /// Read a password from standard input and print its hash for the
    /// config key admin.password_hash.
    HashPassword,
}

/// A command's failure, printed as one line.
type CommandResult = Result<(), String>;

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
        } => selfsign(&config, days, key_type, new_key),
        Command::HashPassword => hash_password(),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("camcertd: error: {message}");
            ExitCode::FAILURE
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
fn load_config(cli: &Cli) -> Result<Config, String> {
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
        if let Some(user) = &config.server.user {
            switch_user(user, &config.store.state_dir)?;
        }
        camcertd::service::run(config, listener, shutdown_signal()?)
            .await
            .map_err(|err| err.to_string())
    })
}

/// Hands the state directory to `user` and switches to it, when running as
/// root; otherwise checks that camcertd already runs as that user.
fn switch_user(user: &str, state_dir: &Path) -> CommandResult {
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
        ));
    }
    privileges::hand_over_state_dir(state_dir, target).map_err(|err| err.to_string())?;
    privileges::drop_to(target).map_err(|err| err.to_string())?;
    tracing::info!(%user, uid = %target.uid, gid = %target.gid, "switched from root to the service user");
    Ok(())
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

fn selfsign(config: &Config, days: u64, key_type: Option<KeyType>, new_key: bool) -> CommandResult {
    camcertd::pki::check_validity_days(days).map_err(|err| format!("--days: {err}"))?;
    let store = Store::open(&config.store.state_dir, config.store.factory_dir.as_deref())
        .map_err(|err| err.to_string())?;
    let (current, _) = store.load_startup();
    let options = SelfSignedOptions {
        validity_days: Some(days),
        key_type,
        new_key,
    };
    let addresses = manager::read_addresses(&config.certificate).map_err(|err| err.to_string())?;
    let stored = manager::issue_and_install(
        &store,
        &config.certificate,
        current.as_ref(),
        &options,
        "command line request",
        &addresses,
    )
    .map_err(|err| err.to_string())?;
    print_status(&Status::from_stored(&stored, &addresses), false);
    eprintln!("installed; a running camcertd serves it after SIGHUP (kill -HUP its PID)");
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
