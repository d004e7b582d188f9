//! The rustls server configuration and the live certificate swap.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// Hands every new handshake the current certificate.
///
/// [`CertResolver::swap`] replaces it in one atomic step. Handshakes that
/// already started keep the `Arc` they loaded, so open connections are not
/// disturbed. Parsing and checking happen before the swap, outside any lock
/// (see [`crate::pki::CheckedPair`]).
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    /// Creates a resolver serving `initial`.
    pub fn new(initial: Arc<CertifiedKey>) -> Self {
        Self {
            current: ArcSwap::new(initial),
        }
    }

    /// Serves `next` to every handshake from now on.
    pub fn swap(&self, next: Arc<CertifiedKey>) {
        self.current.store(next);
    }

    /// The certificate served right now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Builds the server configuration: aws-lc-rs crypto, TLS 1.2 and 1.3 only,
/// ALPN h2 then http/1.1, certificates from `resolver`.
pub fn server_config(resolver: Arc<CertResolver>) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
