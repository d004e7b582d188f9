//! The one owner of certificate state.
//!
//! [`Manager::run`] takes [`Command`]s one at a time and decides: it writes
//! the store first, then swaps the TLS resolver, then publishes a new
//! [`Status`] snapshot. A failure at any step leaves the previous pair serving
//! and is returned to the caller. Everyone else reads snapshots through a
//! [`ManagerHandle`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use std::net::IpAddr;

use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;

use crate::clock::{self, TimeAction};
use crate::config::{CertificateConfig, Config, IpChangePolicy};
use crate::netwatch::{self, AddressSet};
use crate::pki::authority::{Authority, IpRange, RootRequest};
use crate::pki::import::{ImportError, Imported, Upload};
use crate::pki::lint::{Warning, WarningKind};
use crate::pki::{self, CertificateInfo, CheckedPair, KeyType, PkiError, SelfSignedRequest};
use crate::store::{reasons, Metadata, Origin, Source, Store, StoreError, Stored};
use crate::tls::CertResolver;

/// Errors from manager decisions.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The request was invalid, such as a validity out of range.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Writing the new pair to flash failed; the old pair is still served.
    #[error("storing the new certificate failed, the previous one is still served: {0}")]
    Store(#[from] StoreError),
    /// Reading the host's addresses failed.
    #[error("reading the camera's IP addresses failed: {0}")]
    Addresses(std::io::Error),
    /// Nothing usable was found on reload; the current pair stays.
    #[error("no usable key and certificate pair found in {0}; the current one is still served")]
    NothingToReload(String),
    /// The manager task has stopped, so the service is shutting down.
    #[error("the certificate manager has stopped")]
    Stopped,
    /// An upload was rejected; the installed pair is unchanged.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A return to the factory pair was requested, but the board has none.
    #[error(
        "this camera has no factory key and certificate (store.factory_dir is unset or empty)"
    )]
    NoFactory,
    /// A return to the factory pair was requested, but it has expired.
    #[error(
        "the factory certificate expired on {not_after}; create a self-signed certificate instead"
    )]
    FactoryExpired {
        /// The factory certificate's not_after, RFC 3339.
        not_after: String,
    },
    /// The system clock is before the build time, so it has not been set.
    #[error("the system clock reads {now}, before this build was made ({built}), so it is not set; set the clock or wait for NTP, then retry")]
    ClockUnset {
        /// The clock's reading.
        now: OffsetDateTime,
        /// The build time.
        built: OffsetDateTime,
    },
}

/// What the API, the command line and the page show about the served pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The leaf certificate's fields.
    #[serde(flatten)]
    pub info: CertificateInfo,
    /// Where the certificate came from.
    pub origin: Origin,
    /// The store generation served; `None` for the factory pair or a pair that
    /// could not be saved.
    pub generation: Option<u64>,
    /// When the pair was installed, RFC 3339.
    pub installed: String,
    /// Why it was installed.
    pub reason: String,
    /// Validity in days chosen at issuance, when issued on the camera.
    pub validity_days: Option<u32>,
    /// The camera's current usable addresses and whether the certificate
    /// names each of them.
    pub addresses: Vec<AddressCoverage>,
    /// Whether the system clock is before the build time, so not set yet;
    /// nothing is issued until it is.
    pub clock_unset: bool,
    /// The certificates above the leaf: intermediates in the order sent,
    /// then a stored root that is not sent.
    pub chain: Vec<CertificateInfo>,
    /// Whether the chain ends in a self-signed root (stored, not sent), so
    /// clients that trust that root can verify the certificate.
    pub reaches_root: bool,
    /// What is served anyway but deserves the admin's attention.
    pub warnings: Vec<Warning>,
}

/// One of the camera's addresses and whether the served certificate names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressCoverage {
    /// The address.
    pub address: IpAddr,
    /// Whether the certificate has an iPAddress subjectAltName for it.
    pub covered: bool,
}

impl Status {
    /// Builds the snapshot of a stored pair for the camera's `addresses`.
    pub fn from_stored(stored: &Stored, addresses: &[IpAddr]) -> Self {
        let certified = &stored.pair.certified_key;
        let mut chain: Vec<CertificateInfo> = certified.cert[1..]
            .iter()
            .filter_map(|der| CertificateInfo::from_der(der).ok())
            .collect();
        chain.extend(
            rustls_pki_types::CertificateDer::pem_slice_iter(stored.pair.root_pem.as_bytes())
                .flatten()
                .filter_map(|der| CertificateInfo::from_der(&der).ok()),
        );
        let info = &stored.pair.info;
        let mut warnings = pki::lint::leaf_warnings(&certified.cert[0], addresses);
        let issuer_known =
            info.issuer == info.subject || chain.iter().any(|above| above.subject == info.issuer);
        if !issuer_known {
            warnings.push(Warning {
                kind: WarningKind::IssuerNotFound,
                message: format!("the issuer {} is not in the stored chain; clients that do not already have it cannot verify the certificate, so upload the full chain", info.issuer),
            });
        }
        let above_leaf: Vec<Vec<u8>> = certified.cert[1..]
            .iter()
            .map(|der| der.to_vec())
            .chain(
                rustls_pki_types::CertificateDer::pem_slice_iter(stored.pair.root_pem.as_bytes())
                    .flatten()
                    .map(|der| der.to_vec()),
            )
            .collect();
        let not_ca: Vec<String> = above_leaf
            .iter()
            .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
            .filter(|(_, cert)| !cert.is_ca())
            .map(|(_, cert)| cert.subject().to_string())
            .collect();
        if !not_ca.is_empty() {
            warnings.push(Warning {
                kind: WarningKind::IssuerNotCa,
                message: format!("the chain holds {}, which is not a CA certificate (basicConstraints CA:TRUE is missing), so clients reject the chain; upload the chain your CA issued", not_ca.join(", ")),
            });
        }
        let reaches_root = not_ca.is_empty()
            && match chain.last() {
                Some(top) => top.subject == top.issuer,
                None => info.subject == info.issuer,
            };
        let addresses = addresses
            .iter()
            .map(|address| AddressCoverage {
                address: *address,
                covered: stored.pair.info.san_ip.contains(address),
            })
            .collect();
        Self {
            info: stored.pair.info.clone(),
            origin: stored.meta.origin,
            generation: stored.source.generation(),
            installed: stored.meta.installed.clone(),
            reason: stored.meta.reason.clone(),
            validity_days: stored.meta.validity_days,
            addresses,
            clock_unset: clock::clock_is_unset(OffsetDateTime::now_utc()),
            chain,
            reaches_root,
            warnings,
        }
    }

    /// The camera's addresses the certificate does not name.
    pub fn uncovered(&self) -> Vec<IpAddr> {
        self.addresses
            .iter()
            .filter(|coverage| !coverage.covered)
            .map(|coverage| coverage.address)
            .collect()
    }
}

/// Options for a new self-signed certificate; `None` takes the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfSignedOptions {
    /// Days of validity; default: the last choice, else the configured default.
    pub validity_days: Option<u64>,
    /// Key type for a new key; default: the current key's type.
    pub key_type: Option<KeyType>,
    /// Generate a new key even when the current one could be kept. A
    /// `key_type` other than the current key's also makes a new key.
    #[serde(default)]
    pub new_key: bool,
    /// Sign with the camera-local root (`true`) or self-sign (`false`);
    /// default: as the current certificate was, else the configuration.
    pub device_ca: Option<bool>,
}

type Reply = oneshot::Sender<Result<Arc<Status>, ManagerError>>;

/// Requests to the manager.
#[derive(Debug)]
pub enum Command {
    /// Issue and install a self-signed certificate.
    CreateSelfSigned {
        /// What to issue.
        options: SelfSignedOptions,
        /// Why, for the log and metadata, such as "admin request".
        reason: String,
        /// Receives the new status or the error.
        reply: Reply,
    },
    /// Check and install an admin's own key, certificate and chain.
    Upload {
        /// The uploaded files and password.
        upload: Upload,
        /// Receives the new status or the rejection.
        reply: Reply,
    },
    /// Generate a key and a CSR for it; the key stays pending on the camera.
    CreateCsr {
        /// Key type; default: the configured one.
        key_type: Option<KeyType>,
        /// Receives the CSR in PEM.
        reply: oneshot::Sender<Result<String, ManagerError>>,
    },
    /// Install the factory pair again as a new generation.
    UseFactory {
        /// Receives the new status or the error.
        reply: Reply,
    },
    /// Read the store again, as after SIGHUP or a command line change.
    Reload {
        /// Receives the new status or the error, if anyone waits.
        reply: Option<Reply>,
    },
}

/// A cheap, cloneable way to talk to the manager and read its snapshots.
#[derive(Debug, Clone)]
pub struct ManagerHandle {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Arc<Status>>,
    store: Store,
}

impl ManagerHandle {
    /// The latest status snapshot.
    pub fn status(&self) -> Arc<Status> {
        self.status.borrow().clone()
    }

    /// Returns the camera-local root certificate (PEM), once created. It is
    /// public, because clients import it as a trust anchor.
    pub fn device_ca_certificate(&self) -> Option<String> {
        self.store.device_ca_certificate()
    }

    /// Issues and installs a self-signed certificate; waits for the result.
    pub async fn create_self_signed(
        &self,
        options: SelfSignedOptions,
        reason: impl Into<String>,
    ) -> Result<Arc<Status>, ManagerError> {
        let (reply, result) = oneshot::channel();
        let command = Command::CreateSelfSigned {
            options,
            reason: reason.into(),
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| ManagerError::Stopped)?;
        result.await.map_err(|_| ManagerError::Stopped)?
    }

    /// Checks and installs an upload; waits for the result.
    pub async fn upload(&self, upload: Upload) -> Result<Arc<Status>, ManagerError> {
        let (reply, result) = oneshot::channel();
        self.commands
            .send(Command::Upload { upload, reply })
            .await
            .map_err(|_| ManagerError::Stopped)?;
        result.await.map_err(|_| ManagerError::Stopped)?
    }

    /// Generates a pending key and returns a CSR for it in PEM.
    pub async fn create_csr(&self, key_type: Option<KeyType>) -> Result<String, ManagerError> {
        let (reply, result) = oneshot::channel();
        self.commands
            .send(Command::CreateCsr { key_type, reply })
            .await
            .map_err(|_| ManagerError::Stopped)?;
        result.await.map_err(|_| ManagerError::Stopped)?
    }

    /// Installs the factory pair again; waits for the result.
    pub async fn use_factory(&self) -> Result<Arc<Status>, ManagerError> {
        let (reply, result) = oneshot::channel();
        self.commands
            .send(Command::UseFactory { reply })
            .await
            .map_err(|_| ManagerError::Stopped)?;
        result.await.map_err(|_| ManagerError::Stopped)?
    }

    /// Asks the manager to reread the store without waiting for the result.
    pub fn request_reload(&self) {
        if self
            .commands
            .try_send(Command::Reload { reply: None })
            .is_err()
        {
            tracing::warn!("reload request dropped: the manager is busy or stopped");
        }
    }

    /// Rereads the store and waits for the result.
    pub async fn reload(&self) -> Result<Arc<Status>, ManagerError> {
        let (reply, result) = oneshot::channel();
        let command = Command::Reload { reply: Some(reply) };
        self.commands
            .send(command)
            .await
            .map_err(|_| ManagerError::Stopped)?;
        result.await.map_err(|_| ManagerError::Stopped)?
    }
}

/// Logs a certificate event with the fixed fields every such event carries.
fn log_installed(stored: &Stored, event: &str) {
    let info = &stored.pair.info;
    tracing::info!(
        serial = %info.serial,
        sha256 = %info.sha256_fingerprint,
        not_after = %info.not_after,
        origin = stored.meta.origin.as_str(),
        generation = ?stored.source.generation(),
        reason = %stored.meta.reason,
        "{event}"
    );
}

/// Returns the camera's names for a new certificate: the configured hostname
/// or the system one, and the configured extra names. A system hostname that
/// is not a valid DNS name is left out with a warning.
fn certificate_names(config: &CertificateConfig) -> (Option<String>, Vec<String>) {
    let hostname = match &config.hostname {
        Some(name) => Some(name.clone()),
        None => match nix::unistd::gethostname().map(|name| name.to_string_lossy().into_owned()) {
            Ok(name) if pki::check_dns_name(&name).is_ok() => Some(name),
            Ok(name) => {
                tracing::warn!(hostname = %name, "system hostname is not a valid DNS name; left out of the certificate");
                None
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the system hostname; left out of the certificate");
                None
            }
        },
    };
    (hostname, config.extra_names.clone())
}

/// Logged for addresses that a leaf of the camera-local root cannot name.
const OUTSIDE_ROOT_RANGES: &str = "left out of the certificate: outside the address ranges the camera-local root may certify; add them to certificate.device_ca.permitted_ip_ranges and recreate the root";

/// Issues a certificate for the camera's names and `addresses`: signed by
/// `authority`, the camera-local root, when given, else self-signed.
///
/// Blocking: it may generate an RSA key. `current` supplies the key to keep
/// and the validity chosen last time. A leaf of the camera-local root names
/// only the addresses its name constraints permit and lives at most 825 days.
pub fn issue(
    config: &CertificateConfig,
    current: Option<&Stored>,
    options: &SelfSignedOptions,
    reason: &str,
    addresses: &[IpAddr],
    authority: Option<&Authority>,
) -> Result<(CheckedPair, Metadata), ManagerError> {
    let origin = if authority.is_some() {
        Origin::DeviceCa
    } else {
        Origin::SelfSigned
    };
    let last_choice = current
        .filter(|stored| stored.meta.origin == origin)
        .and_then(|stored| stored.meta.validity_days);
    let default_days = match authority {
        Some(_) => config.device_ca.leaf_validity_days,
        None => config.default_validity_days,
    };
    let validity_days = match options.validity_days {
        Some(days) => pki::check_validity_days(days)?,
        None => last_choice.unwrap_or(default_days),
    };
    let limit = pki::lint::APPLE_MAX_VALIDITY_DAYS;
    if authority.is_some() && i64::from(validity_days) > limit {
        return Err(PkiError::ValidityOverLimit {
            days: u64::from(validity_days),
            limit,
        }
        .into());
    }
    let addresses: Vec<IpAddr> = match authority {
        Some(authority) => {
            let (permitted, refused): (Vec<IpAddr>, Vec<IpAddr>) = addresses
                .iter()
                .partition(|address| authority.permits(**address));
            if !refused.is_empty() {
                tracing::warn!(addresses = ?refused, "{OUTSIDE_ROOT_RANGES}");
            }
            permitted
        }
        None => addresses.to_vec(),
    };
    let current_key_type =
        current.and_then(|stored| stored.pair.info.key_type.parse::<KeyType>().ok());
    let key_type = options
        .key_type
        .or(current_key_type)
        .unwrap_or(config.default_key_type);
    let reusable = current.filter(|_| !options.new_key && current_key_type == Some(key_type));
    let key = match reusable {
        Some(stored) => rcgen::KeyPair::from_pem(&stored.pair.key_pem)
            .map_err(|err| PkiError::BadKey(format!("current key cannot be reused: {err}")))?,
        None => pki::generate_key(key_type)?,
    };

    // With the clock unset the certificate is dated from the build time,
    // never from 1970, and marked for reissue once the clock is set.
    let now = OffsetDateTime::now_utc();
    let clock_unset = clock::clock_is_unset(now);
    let (hostname, extra_names) = certificate_names(config);
    let request = SelfSignedRequest {
        validity_days,
        hostname,
        extra_names,
        addresses,
        issued_at: if clock_unset {
            clock::build_time()
        } else {
            now
        },
    };
    let pair = match authority {
        Some(authority) => pki::device_ca_leaf(&request, &key, key_type, authority)?,
        None => pki::self_signed(&request, &key, key_type)?,
    };
    let mut meta = Metadata::now(origin, reason, Some(validity_days));
    meta.issued_with_unset_clock = clock_unset;
    Ok((pair, meta))
}

/// Reads the camera's usable addresses for a certificate issued outside the
/// running service, such as by the command line.
pub fn read_addresses(config: &CertificateConfig) -> Result<AddressSet, ManagerError> {
    netwatch::current_addresses(&netwatch::AddressFilter::from_config(config))
        .map_err(ManagerError::Addresses)
}

/// Decides whether a new certificate is signed by the camera-local root: as
/// requested, else as the current one was, else as configured.
pub fn wants_device_ca(
    config: &CertificateConfig,
    current: Option<&Stored>,
    options: &SelfSignedOptions,
) -> bool {
    options
        .device_ca
        .unwrap_or_else(|| match current.map(|stored| stored.meta.origin) {
            Some(Origin::DeviceCa) => true,
            Some(Origin::SelfSigned) => false,
            _ => config.device_ca.enabled,
        })
}

/// Loads the camera-local root, creating it on first use. Blocking. A root
/// whose files are unusable is set aside and replaced, with an error logged,
/// because clients must then import the new root.
pub fn device_authority(
    store: &Store,
    config: &CertificateConfig,
) -> Result<Authority, ManagerError> {
    match store.load_device_ca() {
        Ok(Some((cert_pem, key_pem))) => match Authority::from_pem(&cert_pem, &key_pem) {
            Ok(authority) => return Ok(authority),
            Err(error) => {
                tracing::error!(%error, "the camera-local root is unusable; setting it aside and creating a new one, which clients must import again");
                store.set_aside_device_ca()?;
            }
        },
        Ok(None) => {}
        Err(error) => {
            tracing::error!(%error, "the camera-local root cannot be read; setting it aside and creating a new one, which clients must import again");
            store.set_aside_device_ca()?;
        }
    }

    let settings = &config.device_ca;
    let mut ranges: Vec<IpRange> = settings
        .permitted_ip_ranges
        .iter()
        .filter_map(|range| range.parse().ok())
        .collect();
    if config.include_loopback {
        ranges.extend(
            ["127.0.0.0/8", "::1/128"].map(|range| range.parse::<IpRange>().expect("valid range")),
        );
    }
    let (hostname, extra_names) = certificate_names(config);
    let mut names = settings.permitted_dns_names.clone();
    names.extend(hostname.iter().cloned());
    names.extend(extra_names);
    let now = OffsetDateTime::now_utc();
    let request = RootRequest {
        common_name: format!("{} local root", hostname.as_deref().unwrap_or("camera")),
        organization: "camcertd device-ca".into(),
        validity_years: settings.root_validity_years,
        issued_at: if clock::clock_is_unset(now) {
            clock::build_time()
        } else {
            now
        },
        constraints: Some((ranges, names)),
    };
    let authority = pki::authority::create_root(&request, config.default_key_type)?;
    store.save_device_ca(&authority.cert_pem, &authority.key_pem)?;
    tracing::info!(
        subject = %authority.info.subject,
        sha256 = %authority.info.sha256_fingerprint,
        not_after = %authority.info.not_after,
        "created the camera-local root"
    );
    Ok(authority)
}

/// Issues a certificate with [`issue`], signed by the camera-local root
/// when [`wants_device_ca`] returns true, and installs it as a new generation.
/// Blocking. When the store write fails nothing changes.
pub fn issue_and_install(
    store: &Store,
    config: &CertificateConfig,
    current: Option<&Stored>,
    options: &SelfSignedOptions,
    reason: &str,
    addresses: &[IpAddr],
) -> Result<Stored, ManagerError> {
    let authority = if wants_device_ca(config, current, options) {
        Some(device_authority(store, config)?)
    } else {
        None
    };
    let (pair, meta) = issue(
        config,
        current,
        options,
        reason,
        addresses,
        authority.as_ref(),
    )?;
    let serving = current.and_then(|stored| stored.source.generation());
    let number = store.install(&pair, &meta, serving)?;
    Ok(Stored {
        pair,
        meta,
        source: Source::Generation(number),
    })
}

/// Imports an upload and installs it as a new generation. Blocking. The
/// origin is `csr` when the certificate matched the pending CSR key, whose
/// file is then removed; otherwise `uploaded`. On any error nothing changes.
pub fn import_and_install(
    store: &Store,
    upload: &Upload,
    addresses: &[IpAddr],
    serving: Option<u64>,
) -> Result<(Stored, Imported), ManagerError> {
    let pending = store.pending_key();
    let imported = pki::import::import(
        upload,
        OffsetDateTime::now_utc(),
        addresses,
        pending.as_deref().map(String::as_str),
    )?;
    let (origin, reason) = if imported.for_pending_key {
        (Origin::Csr, reasons::CSR_CERTIFICATE)
    } else {
        (Origin::Uploaded, reasons::UPLOAD)
    };
    let meta = Metadata::now(origin, reason, None);
    let number = store.install(&imported.pair, &meta, serving)?;
    if imported.for_pending_key {
        if let Err(error) = store.clear_pending_key() {
            tracing::warn!(%error, "cannot remove the pending CSR key after installing its certificate");
        }
    }
    let stored = Stored {
        pair: imported.pair.clone(),
        meta,
        source: Source::Generation(number),
    };
    Ok((stored, imported))
}

/// Installs the factory pair as a new generation with origin `factory`.
/// Blocking. Rejects an expired factory certificate, which the expiry
/// check would replace at once; on any error nothing changes.
pub fn install_factory(store: &Store, serving: Option<u64>) -> Result<Stored, ManagerError> {
    let factory = store.load_factory()?.ok_or(ManagerError::NoFactory)?;
    let info = &factory.pair.info;
    if info
        .not_after_time()
        .is_none_or(|not_after| not_after <= OffsetDateTime::now_utc())
    {
        return Err(ManagerError::FactoryExpired {
            not_after: info.not_after.clone(),
        });
    }
    let meta = Metadata::now(Origin::Factory, reasons::BACK_TO_FACTORY, None);
    let number = store.install(&factory.pair, &meta, serving)?;
    Ok(Stored {
        pair: factory.pair,
        meta,
        source: Source::Generation(number),
    })
}

/// Generates a key of `key_type` (default: the configured one), keeps it
/// as the pending CSR key and returns a PEM CSR for the camera's names and
/// `addresses`. Blocking. A new CSR replaces an older pending key.
pub fn create_csr(
    store: &Store,
    config: &CertificateConfig,
    key_type: Option<KeyType>,
    addresses: &[IpAddr],
) -> Result<String, ManagerError> {
    let key_type = key_type.unwrap_or(config.default_key_type);
    let key = pki::generate_key(key_type)?;
    let (hostname, extra_names) = certificate_names(config);
    let csr = pki::csr::create_csr(&key, hostname.as_deref(), &extra_names, addresses)?;
    let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
    store.set_pending_key(&key_pem)?;
    tracing::info!(%key_type, "created a CSR; its key waits on the camera for the signed certificate");
    Ok(csr)
}

/// Finds the pair to serve at start, following the store's fallback order,
/// and issues a fresh self-signed pair for `addresses` when nothing stored
/// is usable.
///
/// If saving the fresh pair fails, it is served unsaved and the error
/// logged, because a camera without HTTPS cannot be repaired from its page.
pub fn startup(
    store: &Store,
    config: &CertificateConfig,
    addresses: &[IpAddr],
) -> Result<Stored, ManagerError> {
    let (found, skipped) = store.load_startup();
    for skip in &skipped {
        tracing::warn!(source = ?skip.source, error = %skip.error, "skipped unusable stored pair");
    }
    let mut reason = reasons::FIRST_START.to_owned();
    let mut previous = None;
    if let Some(stored) = found {
        let check = clock::decide_time(
            OffsetDateTime::now_utc(),
            clock::build_time(),
            certificate_times(&stored),
            time::Duration::ZERO,
        );
        let moves_to_device_ca =
            config.device_ca.enabled && stored.meta.origin == Origin::SelfSigned;
        if check.action == TimeAction::ReplaceExpiredFactory {
            tracing::warn!(
                not_after = %stored.pair.info.not_after,
                serial = %stored.pair.info.serial,
                "the factory certificate has expired; a certificate made on the camera replaces it"
            );
            reason = format!(
                "{} {}",
                reasons::FACTORY_EXPIRED_ON,
                stored.pair.info.not_after
            );
        } else if moves_to_device_ca && !clock::clock_is_unset(OffsetDateTime::now_utc()) {
            tracing::info!(
                serial = %stored.pair.info.serial,
                "device-ca mode is configured; the camera-local root replaces the self-signed certificate"
            );
            reason = reasons::DEVICE_CA_CONFIGURED.to_owned();
        } else {
            log_installed(&stored, "serving stored certificate");
            return Ok(stored);
        }
        previous = Some(stored);
    }

    let options = SelfSignedOptions {
        device_ca: Some(config.device_ca.enabled),
        ..SelfSignedOptions::default()
    };
    let authority = if config.device_ca.enabled {
        Some(device_authority(store, config)?)
    } else {
        None
    };
    let (pair, meta) = issue(
        config,
        previous.as_ref(),
        &options,
        &reason,
        addresses,
        authority.as_ref(),
    )?;
    let source = match store.install(&pair, &meta, None) {
        Ok(number) => Source::Generation(number),
        Err(error) => {
            tracing::error!(%error, "cannot save the fresh certificate; serving it unsaved");
            Source::Unsaved
        }
    };
    let stored = Stored { pair, meta, source };
    log_installed(&stored, "issued certificate at start");
    Ok(stored)
}

/// The facts about `stored` that time decisions need. A date that does not
/// parse counts as already passed, so the certificate is treated as expired.
fn certificate_times(stored: &Stored) -> clock::CertificateTimes {
    let info = &stored.pair.info;
    clock::CertificateTimes {
        origin: stored.meta.origin,
        not_before: info.not_before_time().unwrap_or(OffsetDateTime::UNIX_EPOCH),
        not_after: info.not_after_time().unwrap_or(OffsetDateTime::UNIX_EPOCH),
        issued_with_unset_clock: stored.meta.issued_with_unset_clock,
    }
}

/// What an address change does to the served certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressDecision {
    /// The certificate names exactly the current addresses.
    Covered,
    /// No usable address at all, as with the cable unplugged: keep the
    /// certificate until addresses return instead of issuing one without.
    NoAddresses,
    /// Issue a new certificate for the current addresses.
    Regenerate,
    /// Keep the certificate and warn: policy or origin forbids replacing it.
    Warn,
}

/// Decides what an address set means for a certificate of `origin` naming
/// `san_ip`. Only certificates made on the camera or at the factory are
/// replaced; uploaded and CSR-signed ones carry someone else's trust.
pub fn decide_addresses(
    policy: IpChangePolicy,
    origin: Origin,
    san_ip: &[IpAddr],
    addresses: &[IpAddr],
) -> AddressDecision {
    if addresses.is_empty() {
        return AddressDecision::NoAddresses;
    }
    let mut named: Vec<IpAddr> = san_ip.to_vec();
    named.sort();
    named.dedup();
    if named == addresses {
        return AddressDecision::Covered;
    }
    let replaceable = matches!(
        origin,
        Origin::SelfSigned | Origin::Factory | Origin::DeviceCa
    );
    if policy == IpChangePolicy::Regenerate && replaceable {
        AddressDecision::Regenerate
    } else {
        AddressDecision::Warn
    }
}

/// The manager task's state.
pub struct Manager {
    store: Store,
    config: Config,
    resolver: Arc<CertResolver>,
    current: Stored,
    /// The usable addresses last reported by the watcher.
    addresses: AddressSet,
    /// Whether the last time check found the clock unset; logged on change only.
    clock_unset: bool,
    /// The next moment a time check is due; `None` waits for a clock change.
    next_due: Option<OffsetDateTime>,
    status: watch::Sender<Arc<Status>>,
    commands: mpsc::Receiver<Command>,
}

/// Waits on the timer, or forever when there is none.
async fn wait_timer(timer: &Option<clock::WallTimer>) -> std::io::Result<clock::Wake> {
    match timer {
        Some(timer) => timer.wait().await,
        None => std::future::pending().await,
    }
}

impl Manager {
    /// Creates the manager around the pair found by [`startup`], with the
    /// resolver that serves it and a handle for everyone else.
    pub fn new(
        store: Store,
        config: Config,
        current: Stored,
        addresses: AddressSet,
    ) -> (Self, Arc<CertResolver>, ManagerHandle) {
        let resolver = Arc::new(CertResolver::new(current.pair.certified_key.clone()));
        let (status_sender, status_receiver) =
            watch::channel(Arc::new(Status::from_stored(&current, &addresses)));
        // Commands are rare admin actions; a short queue is plenty.
        let (command_sender, command_receiver) = mpsc::channel(8);
        let manager = Self {
            store,
            config,
            resolver: resolver.clone(),
            current,
            addresses,
            clock_unset: false,
            next_due: None,
            status: status_sender,
            commands: command_receiver,
        };
        let handle = ManagerHandle {
            commands: command_sender,
            status: status_receiver,
            store: manager.store.clone(),
        };
        (manager, resolver, handle)
    }

    /// Processes commands, address changes and due times until every handle
    /// is dropped. Checks time and addresses once at start, since both may
    /// have changed while the camera was off.
    pub async fn run(mut self, mut addresses: watch::Receiver<AddressSet>) {
        tracing::info!("certificate manager started");
        let mut timer = match clock::WallTimer::new() {
            Ok(timer) => Some(timer),
            Err(error) => {
                tracing::error!(%error, "cannot create the wall-clock timer; renewals wait for the next restart or event");
                None
            }
        };
        self.addresses = addresses.borrow_and_update().clone();
        self.check_time().await;
        self.check_addresses().await;
        let mut watching = true;
        loop {
            self.arm(&mut timer);
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.execute(command).await,
                    None => break,
                },
                changed = addresses.changed(), if watching => {
                    if changed.is_err() {
                        tracing::warn!("address watcher stopped; addresses are no longer followed");
                        watching = false;
                        continue;
                    }
                    self.addresses = addresses.borrow_and_update().clone();
                    self.check_addresses().await;
                }
                wake = wait_timer(&timer) => {
                    match wake {
                        Ok(clock::Wake::Due) => tracing::debug!("time check due"),
                        Ok(clock::Wake::ClockChanged) => {
                            tracing::info!("system clock was set; rechecking validity and addresses");
                        }
                        Err(error) => {
                            tracing::error!(%error, "wall-clock timer failed; renewals wait for the next event");
                            timer = None;
                        }
                    }
                    self.check_time().await;
                    self.check_addresses().await;
                }
            }
        }
        tracing::info!("certificate manager stopped");
    }

    /// Arms the timer for the next due time; a failure drops the timer.
    fn arm(&self, timer: &mut Option<clock::WallTimer>) {
        if let Some(active) = timer {
            if let Err(error) = active.arm(self.next_due) {
                tracing::error!(%error, "cannot arm the wall-clock timer; renewals wait for the next event");
                *timer = None;
            }
        }
    }

    /// Applies [`clock::decide_time`] to the served certificate: renews,
    /// replaces an expired factory certificate, or warns, and records when
    /// to look again.
    async fn check_time(&mut self) {
        let now = OffsetDateTime::now_utc();
        let renew_before = time::Duration::days(i64::from(self.config.expiry.renew_before_days));
        let check = clock::decide_time(
            now,
            clock::build_time(),
            certificate_times(&self.current),
            renew_before,
        );
        self.next_due = check.next_due;
        let was_unset = std::mem::replace(
            &mut self.clock_unset,
            check.action == TimeAction::ClockUnset,
        );
        let info = &self.current.pair.info;
        let reason = match check.action {
            TimeAction::Nothing => {
                if was_unset {
                    tracing::info!(%now, "system clock is set; issuing is allowed again");
                    self.publish();
                }
                return;
            }
            TimeAction::ClockUnset => {
                if !was_unset {
                    tracing::warn!(
                        %now,
                        built = %clock::build_time(),
                        "system clock is before the build time, so it is not set; serving the current certificate and issuing nothing until it is"
                    );
                    self.publish();
                }
                return;
            }
            TimeAction::WarnExpiring => {
                tracing::warn!(
                    serial = %info.serial,
                    not_after = %info.not_after,
                    origin = self.current.meta.origin.as_str(),
                    "certificate expires soon and is not renewed by camcertd; install a new one"
                );
                return;
            }
            TimeAction::WarnExpired => {
                tracing::warn!(
                    serial = %info.serial,
                    not_after = %info.not_after,
                    origin = self.current.meta.origin.as_str(),
                    "certificate has expired and is not replaced by camcertd; install a new one"
                );
                return;
            }
            TimeAction::Renew if self.current.meta.issued_with_unset_clock => reasons::CLOCK_SET,
            TimeAction::Renew => reasons::RENEWAL,
            TimeAction::ReplaceExpiredFactory => {
                tracing::warn!(not_after = %info.not_after, "the factory certificate has expired; a self-signed certificate replaces it");
                reasons::FACTORY_EXPIRED
            }
        };
        let old_serial = info.serial.clone();
        match self
            .create_self_signed(SelfSignedOptions::default(), reason.into())
            .await
        {
            Ok(status) => {
                tracing::info!(old_serial = %old_serial, new_serial = %status.info.serial, reason, "replaced the certificate");
            }
            Err(error) => {
                tracing::error!(%error, reason, "replacing the certificate failed; retrying in an hour");
                self.next_due = Some(OffsetDateTime::now_utc() + time::Duration::hours(1));
            }
        }
    }

    async fn execute(&mut self, command: Command) {
        match command {
            Command::CreateSelfSigned {
                options,
                reason,
                reply,
            } => {
                let now = OffsetDateTime::now_utc();
                let result = if clock::clock_is_unset(now) {
                    Err(ManagerError::ClockUnset {
                        now,
                        built: clock::build_time(),
                    })
                } else {
                    self.create_self_signed(options, reason).await
                };
                if let Err(error) = &result {
                    tracing::warn!(%error, "self-signed certificate not installed");
                }
                let _ = reply.send(result);
            }
            Command::Upload { upload, reply } => {
                let result = self.upload(upload).await;
                if let Err(error) = &result {
                    tracing::warn!(%error, "upload rejected; the installed certificate is unchanged");
                }
                let _ = reply.send(result);
            }
            Command::CreateCsr { key_type, reply } => {
                let store = self.store.clone();
                let config = self.config.certificate.clone();
                let addresses = self.addresses.to_vec();
                let result = tokio::task::spawn_blocking(move || {
                    create_csr(&store, &config, key_type, &addresses)
                })
                .await
                .expect("CSR task does not panic");
                if let Err(error) = &result {
                    tracing::warn!(%error, "CSR not created");
                }
                let _ = reply.send(result);
            }
            Command::UseFactory { reply } => {
                let store = self.store.clone();
                let serving = self.current.source.generation();
                let result = tokio::task::spawn_blocking(move || install_factory(&store, serving))
                    .await
                    .expect("factory install task does not panic")
                    .map(|stored| {
                        log_installed(&stored, "installed the factory certificate again");
                        self.activate(stored)
                    });
                if let Err(error) = &result {
                    tracing::warn!(%error, "factory certificate not installed");
                }
                let _ = reply.send(result);
            }
            Command::Reload { reply } => {
                let result = self.reload().await;
                if let Err(error) = &result {
                    tracing::warn!(%error, "reload failed");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
        }
    }

    /// Compares the current addresses with the certificate and regenerates
    /// or warns as the policy says. Publishes the new coverage either way.
    async fn check_addresses(&mut self) {
        if self.clock_unset {
            tracing::info!(addresses = ?self.addresses, "clock not set; any regeneration for these addresses waits until it is");
            self.publish();
            return;
        }
        let (addresses, outside) = self.certifiable_addresses().await;
        let decision = decide_addresses(
            self.config.network.ip_change,
            self.current.meta.origin,
            &self.current.pair.info.san_ip,
            &addresses,
        );
        // A regeneration logs these itself, from `issue`.
        if !outside.is_empty() && decision != AddressDecision::Regenerate {
            tracing::warn!(addresses = ?outside, "{OUTSIDE_ROOT_RANGES}");
        }
        match decision {
            AddressDecision::Covered => {
                tracing::debug!(addresses = ?self.addresses, "certificate names every current address");
            }
            AddressDecision::NoAddresses if outside.is_empty() => {
                tracing::info!("no usable address; keeping the certificate until one returns");
            }
            AddressDecision::NoAddresses => {
                tracing::info!(addresses = ?self.addresses, "keeping the certificate: no current address is in certificate.device_ca.permitted_ip_ranges; add the camera's range there and recreate the root");
            }
            AddressDecision::Warn => {
                tracing::warn!(
                    origin = self.current.meta.origin.as_str(),
                    addresses = ?self.addresses,
                    san_ip = ?self.current.pair.info.san_ip,
                    "the certificate does not name the current addresses and is kept; \
                     install one that names them or allow regeneration (network.ip_change)"
                );
            }
            AddressDecision::Regenerate => {
                let options = SelfSignedOptions {
                    new_key: self.config.network.rotate_key_on_ip_change,
                    ..SelfSignedOptions::default()
                };
                let old_serial = self.current.pair.info.serial.clone();
                let old_san_ip = self.current.pair.info.san_ip.clone();
                match self
                    .create_self_signed(options, reasons::ADDRESS_CHANGE.into())
                    .await
                {
                    Ok(status) => tracing::info!(
                        old_serial = %old_serial,
                        new_serial = %status.info.serial,
                        old_san_ip = ?old_san_ip,
                        new_san_ip = ?status.info.san_ip,
                        "regenerated the certificate for the new addresses"
                    ),
                    Err(error) => {
                        tracing::error!(%error, "regeneration after an address change failed; the old certificate is still served")
                    }
                }
                return;
            }
        }
        self.publish();
    }

    /// Splits the current addresses into those the certificate should name
    /// and those the camera-local root may not certify. Only a leaf of that
    /// root has the second kind, so an address outside its ranges does not
    /// cause a reissue on every address event. When the root cannot be read,
    /// every address counts.
    async fn certifiable_addresses(&self) -> (Vec<IpAddr>, Vec<IpAddr>) {
        let addresses = self.addresses.to_vec();
        if self.current.meta.origin != Origin::DeviceCa {
            return (addresses, Vec::new());
        }
        let store = self.store.clone();
        let loaded = tokio::task::spawn_blocking(move || store.load_device_ca()).await;
        let authority = match loaded {
            Ok(Ok(Some((cert_pem, key_pem)))) => Authority::from_pem(&cert_pem, &key_pem).ok(),
            _ => None,
        };
        match authority {
            Some(authority) => addresses
                .into_iter()
                .partition(|address| authority.permits(*address)),
            None => (addresses, Vec::new()),
        }
    }

    async fn create_self_signed(
        &mut self,
        options: SelfSignedOptions,
        reason: String,
    ) -> Result<Arc<Status>, ManagerError> {
        let store = self.store.clone();
        let config = self.config.certificate.clone();
        let current = self.current.clone();
        let addresses = self.addresses.to_vec();
        let stored = tokio::task::spawn_blocking(move || {
            issue_and_install(
                &store,
                &config,
                Some(&current),
                &options,
                &reason,
                &addresses,
            )
        })
        .await
        .expect("issuance task does not panic")?;
        log_installed(&stored, "installed self-signed certificate");
        Ok(self.activate(stored))
    }

    async fn upload(&mut self, upload: Upload) -> Result<Arc<Status>, ManagerError> {
        let store = self.store.clone();
        let addresses = self.addresses.to_vec();
        let serving = self.current.source.generation();
        let (stored, _) = tokio::task::spawn_blocking(move || {
            import_and_install(&store, &upload, &addresses, serving)
        })
        .await
        .expect("import task does not panic")?;
        log_installed(&stored, "installed uploaded certificate");
        Ok(self.activate(stored))
    }

    async fn reload(&mut self) -> Result<Arc<Status>, ManagerError> {
        let store = self.store.clone();
        let (found, skipped) = tokio::task::spawn_blocking(move || store.load_startup())
            .await
            .expect("store read does not panic");
        for skip in &skipped {
            tracing::warn!(source = ?skip.source, error = %skip.error, "skipped unusable stored pair");
        }
        let stored = found.ok_or_else(|| {
            ManagerError::NothingToReload(self.store.state_dir().display().to_string())
        })?;
        if stored.pair.info.sha256_fingerprint == self.current.pair.info.sha256_fingerprint
            && stored.source == self.current.source
        {
            tracing::info!("reload found no change");
            return Ok(self.status.borrow().clone());
        }
        log_installed(&stored, "reloaded certificate from the store");
        Ok(self.activate(stored))
    }

    /// Swaps the resolver to `stored`, schedules its next time check and
    /// publishes its status.
    fn activate(&mut self, stored: Stored) -> Arc<Status> {
        self.resolver.swap(stored.pair.certified_key.clone());
        self.current = stored;
        let renew_before = time::Duration::days(i64::from(self.config.expiry.renew_before_days));
        self.next_due = clock::decide_time(
            OffsetDateTime::now_utc(),
            clock::build_time(),
            certificate_times(&self.current),
            renew_before,
        )
        .next_due;
        self.publish()
    }

    /// Publishes the status of the current pair and addresses.
    fn publish(&mut self) -> Arc<Status> {
        let status = Arc::new(Status::from_stored(&self.current, &self.addresses));
        let uncovered = status.uncovered();
        if !uncovered.is_empty() {
            tracing::debug!(?uncovered, "addresses the certificate does not name");
        }
        self.status.send_replace(status.clone());
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        let mut addresses: Vec<IpAddr> = list.iter().map(|text| text.parse().unwrap()).collect();
        addresses.sort();
        addresses
    }

    #[test]
    fn address_decisions_follow_origin_and_policy() {
        use AddressDecision::*;
        use IpChangePolicy::{Regenerate as Regen, Warn as WarnOnly};
        let old = ips(&["192.0.2.10"]);
        let new = ips(&["198.51.100.20"]);
        let cases = [
            (Regen, Origin::SelfSigned, &old, &old, Covered),
            (Regen, Origin::SelfSigned, &old, &new, Regenerate),
            (Regen, Origin::Factory, &old, &new, Regenerate),
            (Regen, Origin::DeviceCa, &old, &new, Regenerate),
            (Regen, Origin::Uploaded, &old, &new, Warn),
            (Regen, Origin::Csr, &old, &new, Warn),
            (WarnOnly, Origin::SelfSigned, &old, &new, Warn),
            (Regen, Origin::SelfSigned, &old, &Vec::new(), NoAddresses),
        ];
        for (policy, origin, san_ip, addresses, expected) in cases {
            assert_eq!(
                decide_addresses(policy, origin, san_ip, addresses),
                expected,
                "{policy:?} {origin:?} {san_ip:?} -> {addresses:?}"
            );
        }
    }

    #[test]
    fn removed_address_also_regenerates() {
        let both = ips(&["192.0.2.10", "2001:db8::10"]);
        let one = ips(&["2001:db8::10"]);
        let decision =
            decide_addresses(IpChangePolicy::Regenerate, Origin::SelfSigned, &both, &one);
        assert_eq!(decision, AddressDecision::Regenerate);
    }
}
