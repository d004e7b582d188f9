//! The HTTPS server: accept loop, TLS handshake, HTTP/1.1 and HTTP/2, and
//! graceful shutdown.
//!
//! - [`api`]: routes and JSON responses.
//! - [`auth`]: admin credentials and the login slowdown.
//! - [`slots`]: which connections are idle, to close the idlest when full.
//! - [`page`]: the admin page under `/admin/`, rendered from `templates/admin`.
//! - [`redirect`]: the optional plain-HTTP listener that redirects to HTTPS.
//! - [`session`]: login sessions and CSRF tokens of the admin page.
//! - [`form`]: request checks and body readers shared by the API and the page.
//! - [`i18n`]: the admin page's English and German text.

pub mod api;
pub mod auth;
pub mod form;
pub mod i18n;
pub mod page;
pub mod redirect;
pub mod session;
pub mod slots;
mod view;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::manager::ManagerHandle;
use auth::Authenticator;

/// How long open connections get to finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Longest pause between accept retries after errors such as running out of
/// file descriptors; the pause starts at 10 ms and doubles.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Limits on connections; see [`crate::config::ServerConfig`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed for request headers to arrive.
    pub header_timeout: Duration,
}

/// What every request handler shares.
pub struct App {
    /// The certificate manager.
    pub manager: ManagerHandle,
    /// Admin credential checks.
    pub auth: Authenticator,
    /// Login sessions of the admin page.
    pub sessions: session::Sessions,
    /// Whether the board has a usable factory pair to go back to.
    pub factory_available: bool,
    /// The served certificate chain, for the downloads: byte for byte what
    /// the TLS handshake sends.
    pub resolver: Arc<crate::tls::CertResolver>,
}

/// Serves HTTPS on `listener` until `shutdown` completes, then lets open
/// connections finish for up to [`SHUTDOWN_GRACE`].
pub async fn run(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_sender, stop_receiver) = watch::channel(false);
    tokio::pin!(shutdown);

    let slots = Arc::new(slots::Slots::default());
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff = Duration::from_millis(10);
                    accepted
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // With every slot taken, the connection idle the longest makes room,
        // so idle or slow clients cannot lock the admin out. Only when every
        // connection has a request in progress does the new one wait.
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if slots.evict_idlest() {
                    tracing::debug!(%peer, "all connection slots taken; closed the connection idle the longest");
                } else {
                    tracing::debug!(%peer, "all connection slots busy; waiting for one to finish");
                }
                tokio::select! {
                    permit = permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };

        let acceptor = acceptor.clone();
        let app = app.clone();
        let limits = limits.clone();
        let stop = stop_receiver.clone();
        let slot = slots.open();
        let handle = slot.handle();
        let task = tokio::spawn(async move {
            let handle = slot.handle();
            serve_connection(stream, peer, acceptor, app, &limits, stop, handle).await;
            drop(slot);
            drop(permit);
        });
        handle.set_task(task.abort_handle());
    }

    tracing::info!("shutting down: no new connections");
    let _ = stop_sender.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "open connections did not finish in time; closing them");
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Arc<App>,
    limits: &Limits,
    mut stop: watch::Receiver<bool>,
    slot: slots::SlotHandle,
) {
    let _ = stream.set_nodelay(true);
    let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };

    let service = service_fn(move |request| {
        let app = app.clone();
        let busy = slot.busy();
        async move {
            let response = if page::owns(request.uri().path()) {
                page::handle(&app, peer, request).await
            } else {
                api::handle(&app, peer, request).await
            };
            drop(busy);
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(32);
    let connection = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(connection);

    let stopping = async move {
        // An error means the sender is gone, which also means shutdown.
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            return;
        }
        () = stopping => {}
    }
    connection.as_mut().graceful_shutdown();
    if let Err(error) = connection.await {
        tracing::debug!(%peer, %error, "connection ended with an error during shutdown");
    }
}
