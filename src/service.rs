//! Wiring of the running service: store, manager, TLS and the web server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::manager::{self, Manager, ManagerError};
use crate::netwatch;
use crate::store::{Store, StoreError};
use crate::tls;
use crate::web::{self, auth, App, Limits};

/// Errors that stop the service from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The state directory cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No certificate could be loaded or issued.
    #[error(transparent)]
    Manager(#[from] ManagerError),
    /// The admin credentials could not be loaded or created.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// rustls rejected the server configuration.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// Runs the service on `listener` until `shutdown` completes.
///
/// Loads or issues the certificate before serving, so the first connection
/// already gets the managed pair. SIGHUP makes the manager reread the store.
pub async fn run(
    config: Config,
    listener: TcpListener,
    http_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let store = Store::open(&config.store.state_dir, config.store.factory_dir.as_deref())?;
    let addresses = manager::read_addresses(&config.certificate)?;
    let current = {
        let store = store.clone();
        let certificate = config.certificate.clone();
        let addresses = addresses.to_vec();
        tokio::task::spawn_blocking(move || manager::startup(&store, &certificate, &addresses))
            .await
            .expect("startup task does not panic")?
    };
    let hash = auth::load_or_create_hash(config.admin.password_hash.as_deref(), store.state_dir())?;
    let (address_sender, address_receiver) = tokio::sync::watch::channel(addresses.clone());
    let watch_settings = netwatch::WatchSettings {
        filter: netwatch::AddressFilter::from_config(&config.certificate),
        quiet_period: Duration::from_millis(config.network.quiet_period_ms),
    };
    let watcher_task = tokio::spawn(netwatch::watch(watch_settings, address_sender));
    let factory_available = matches!(store.load_factory(), Ok(Some(_)));
    let (manager, resolver, handle) = Manager::new(store, config.clone(), current, addresses);
    let manager_task = tokio::spawn(manager.run(address_receiver));
    let hangup_task = spawn_reload_on_hangup(handle.clone());

    let tls_config = Arc::new(tls::server_config(resolver.clone())?);
    let app = Arc::new(App {
        manager: handle,
        auth: auth::Authenticator::new(config.admin.user.clone(), hash),
        sessions: web::session::Sessions::new(),
        factory_available,
        resolver,
    });
    let limits = Limits {
        max_connections: config.server.max_connections,
        handshake_timeout: Duration::from_secs(config.server.handshake_timeout_secs),
        header_timeout: Duration::from_secs(config.server.header_timeout_secs),
    };
    let https_port = listener.local_addr().map_or(443, |address| address.port());
    let redirect_task = http_listener.map(|http_listener| {
        if let Ok(address) = http_listener.local_addr() {
            tracing::info!(%address, "listening for plain HTTP, redirecting to HTTPS");
        }
        tokio::spawn(web::redirect::run(http_listener, https_port))
    });
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "listening for HTTPS");
    }
    web::run(listener, tls_config, app, limits, shutdown).await;
    if let Some(task) = redirect_task {
        task.abort();
    }

    // With the web server, the SIGHUP task and the watcher gone, the manager
    // sees its last handle dropped, finishes the command in progress and stops. A connection
    // that outlived the grace period may still hold a handle, hence the bound.
    if let Some(task) = hangup_task {
        task.abort();
    }
    watcher_task.abort();
    tracing::info!("address watcher stopped");
    if tokio::time::timeout(Duration::from_secs(10), manager_task)
        .await
        .is_err()
    {
        tracing::warn!("certificate manager did not stop in time");
    }
    tracing::info!("stopped");
    Ok(())
}

fn spawn_reload_on_hangup(handle: manager::ManagerHandle) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => Some(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: rereading the store");
                handle.request_reload();
            }
        })),
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGHUP; reload needs a restart");
            None
        }
    }
}
