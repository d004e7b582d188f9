//! camcertd: the certificate manager that runs on an IP camera.
//!
//! It owns the camera's TLS private key and certificate, keeps them on flash
//! so that no power cut leaves the camera without a working pair, serves HTTPS
//! with them through rustls and swaps in a new certificate without a restart.
//!
//! # Layout
//!
//! - [`config`]: TOML settings with documented defaults.
//! - [`clock`]: renewal, expiry and unset-clock decisions, and the wall-clock timer.
//! - [`store`]: generations of key, certificate, chain and metadata on flash,
//!   written atomically, with the fallback order used at start.
//! - [`pki`]: key generation, self-signed issuance and certificate inspection.
//! - [`tls`]: the rustls server configuration and the resolver that hands out
//!   the current certificate through an atomic swap.
//! - [`netwatch`]: the camera's usable IP addresses, which the certificate names.
//! - [`manager`]: the one task that owns certificate state and decides changes.
//! - [`web`]: the HTTPS server, the JSON API, the admin page and admin
//!   authentication.
//! - [`privileges`]: switching from root to the service user after binding.
//! - [`service`]: wiring of all of the above for `camcertd serve`.
//!
//! Data flows one way: an event reaches the manager, which writes the store,
//! then swaps the resolver, then publishes a new status snapshot. A failure at
//! any step leaves the previous pair serving.

#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod manager;
pub mod netwatch;
pub mod pki;
pub mod privileges;
pub mod service;
pub mod store;
pub mod tls;
pub mod web;
