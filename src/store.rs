//! Generations of key, certificate, chain and metadata on flash.
//!
//! Layout of the state directory (mode 0700, every file mode 0600):
//!
//! ```text
//! active                 pointer: the number of the active generation
//! gen-00000007/          key.pem, cert.pem, chain.pem, meta.json, root.pem
//! gen-00000006/          the previous generation, kept for fallback
//! pending-key.pem        key of an outstanding CSR, if any
//! device-ca/             key.pem and cert.pem of the camera-local root, if created
//! lock                   advisory lock held while writing
//! ```
//!
//! A new generation is written into `gen-N.partial/`, each file synced, then
//! the folder is renamed to `gen-N/` and the pointer is replaced the same
//! way. A power cut at any point leaves either the old pointer naming a
//! complete old generation or the new pointer naming a complete new one.
//!
//! At start the order is: active generation, then the other generations from
//! newest to oldest, then the read-only factory directory. A generation that
//! fails to parse or whose key does not match is logged and skipped, never
//! fatal. When nothing is usable the caller issues a fresh pair.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::pki::{CheckedPair, PkiError};

/// Largest file the store reads. A certificate chain is a few KiB; this
/// bounds memory when a file is garbage.
const MAX_FILE_BYTES: u64 = 256 * 1024;

const POINTER_FILE: &str = "active";
const PENDING_KEY_FILE: &str = "pending-key.pem";
/// Folder of the camera-local root's `key.pem` and `cert.pem`.
const DEVICE_CA_DIR: &str = "device-ca";
const LOCK_FILE: &str = "lock";
const KEY_FILE: &str = "key.pem";
const CERT_FILE: &str = "cert.pem";
const CHAIN_FILE: &str = "chain.pem";
const ROOT_FILE: &str = "root.pem";
const META_FILE: &str = "meta.json";
const PARTIAL_SUFFIX: &str = ".partial";
const TEMP_SUFFIX: &str = ".tmp";

/// Errors from reading or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, such as "writing".
        action: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The state directory cannot be created or written.
    #[error("state directory {path} is not writable: {source}; choose a writable folder with --state-dir or fix its owner and mode")]
    NotWritable {
        /// The state directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A stored file exists but its content is unusable.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file that failed.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The stored key and certificate failed the pair check.
    #[error("{path}: {source}")]
    Pair {
        /// The generation or factory folder.
        path: PathBuf,
        /// Why the pair was rejected.
        source: PkiError,
    },
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Where a certificate came from; decides what camcertd may replace on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Made at the factory and signed by the manufacturer root.
    Factory,
    /// Made on the camera and signed by its own key.
    SelfSigned,
    /// Signed by the camera's own root.
    DeviceCa,
    /// Key made on the camera, certificate signed by a company CA from a CSR.
    Csr,
    /// Key and certificate made elsewhere and uploaded by an admin.
    Uploaded,
}

impl Origin {
    /// The name used in the API and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Factory => "factory",
            Origin::SelfSigned => "self-signed",
            Origin::DeviceCa => "device-ca",
            Origin::Csr => "csr",
            Origin::Uploaded => "uploaded",
        }
    }
}

/// The installation reasons camcertd records in [`Metadata::reason`], in
/// English as stored and shown by the API. The admin page translates them.
pub mod reasons {
    pub const FIRST_START: &str = "first start: no usable stored pair";
    /// Followed by a space and the factory certificate's expiry date.
    pub const FACTORY_EXPIRED_ON: &str = "factory certificate expired on";
    pub const FACTORY_EXPIRED: &str = "factory certificate expired";
    pub const DEVICE_CA_CONFIGURED: &str = "device-ca mode enabled in the configuration";
    pub const CLOCK_SET: &str = "clock set after issuance with an unset clock";
    pub const RENEWAL: &str = "renewal before expiry";
    pub const ADDRESS_CHANGE: &str = "IP address change";
    pub const ADMIN_API: &str = "admin request";
    pub const ADMIN_PAGE: &str = "admin request (web page)";
    pub const COMMAND_LINE: &str = "command line request";
    pub const CSR_CERTIFICATE: &str = "certificate for the camera's CSR";
    pub const UPLOAD: &str = "admin upload";
    pub const BACK_TO_FACTORY: &str = "admin request: back to the factory certificate";
    pub const FACTORY_PROVISIONING: &str = "factory provisioning";

    /// Every reason above.
    pub const ALL: [&str; 14] = [
        FIRST_START,
        FACTORY_EXPIRED_ON,
        FACTORY_EXPIRED,
        DEVICE_CA_CONFIGURED,
        CLOCK_SET,
        RENEWAL,
        ADDRESS_CHANGE,
        ADMIN_API,
        ADMIN_PAGE,
        COMMAND_LINE,
        CSR_CERTIFICATE,
        UPLOAD,
        BACK_TO_FACTORY,
        FACTORY_PROVISIONING,
    ];
}

/// Facts about a generation that the certificate itself does not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Where the certificate came from.
    pub origin: Origin,
    /// When the generation was installed, RFC 3339 in UTC.
    pub installed: String,
    /// Why it was installed, such as "first start" or "admin request".
    pub reason: String,
    /// The validity in days that was chosen at issuance; `None` when the
    /// certificate was not issued on the camera.
    pub validity_days: Option<u32>,
    /// Whether it was issued while the clock was unset, dated from the build
    /// time; such a certificate is reissued once the clock is set.
    #[serde(default)]
    pub issued_with_unset_clock: bool,
}

impl Metadata {
    /// Metadata for a pair installed now.
    pub fn now(origin: Origin, reason: impl Into<String>, validity_days: Option<u32>) -> Self {
        let installed = time::OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        Self {
            origin,
            installed,
            reason: reason.into(),
            validity_days,
            issued_with_unset_clock: false,
        }
    }
}

/// Which stored pair is being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A numbered generation in the state directory.
    Generation(u64),
    /// The read-only factory directory.
    Factory,
    /// Issued at start but not saved, because the store could not be written.
    Unsaved,
}

impl Source {
    /// The generation number, or `None` for a pair outside the state directory.
    pub fn generation(self) -> Option<u64> {
        match self {
            Source::Generation(number) => Some(number),
            Source::Factory | Source::Unsaved => None,
        }
    }
}

/// A pair read from the store, checked and ready to serve.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The key and certificate chain.
    pub pair: CheckedPair,
    /// Facts recorded when it was installed.
    pub meta: Metadata,
    /// Where it was read from.
    pub source: Source,
}

/// A stored pair that was found unusable at start, with the reason.
#[derive(Debug)]
pub struct Skipped {
    /// The generation or factory folder.
    pub source: Source,
    /// Why it was skipped.
    pub error: StoreError,
}

/// The state directory and the optional factory directory.
#[derive(Debug, Clone)]
pub struct Store {
    state_dir: PathBuf,
    factory_dir: Option<PathBuf>,
}

impl Store {
    /// Opens the state directory, creating it with mode 0700 when missing, and
    /// checks that it can be written. Removes leftovers of interrupted writes.
    pub fn open(state_dir: &Path, factory_dir: Option<&Path>) -> Result<Self, StoreError> {
        let not_writable = |source| StoreError::NotWritable {
            path: state_dir.to_owned(),
            source,
        };
        if !state_dir.is_dir() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(state_dir)
                .map_err(not_writable)?;
        }
        nix::unistd::access(state_dir, nix::unistd::AccessFlags::W_OK)
            .map_err(|errno| not_writable(std::io::Error::from(errno)))?;
        // The folder holds the private key: nobody but the service user may list it.
        if mode_of(state_dir).map_err(not_writable)? != 0o700 {
            fs::set_permissions(state_dir, fs::Permissions::from_mode(0o700))
                .map_err(not_writable)?;
        }
        let store = Self {
            state_dir: state_dir.to_owned(),
            factory_dir: factory_dir.map(Path::to_owned),
        };
        store.remove_leftovers();
        Ok(store)
    }

    /// Opens an existing state directory for reading only.
    pub fn open_read_only(state_dir: &Path, factory_dir: Option<&Path>) -> Self {
        Self {
            state_dir: state_dir.to_owned(),
            factory_dir: factory_dir.map(Path::to_owned),
        }
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Removes `*.partial` folders and `*.tmp` files left by a write that a
    /// crash or power cut interrupted. They were never named by the pointer.
    fn remove_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.state_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            let result = if name.ends_with(PARTIAL_SUFFIX) {
                fs::remove_dir_all(&path)
            } else if name.ends_with(TEMP_SUFFIX) {
                fs::remove_file(&path)
            } else {
                continue;
            };
            match result {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed leftover of an interrupted write")
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot remove leftover of an interrupted write")
                }
            }
        }
    }

    fn generation_dir(&self, number: u64) -> PathBuf {
        self.state_dir.join(format!("gen-{number:08}"))
    }

    /// Lists complete generations, oldest first.
    pub fn generations(&self) -> Vec<u64> {
        let mut numbers: Vec<u64> = fs::read_dir(&self.state_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let digits = name.to_str()?.strip_prefix("gen-")?;
                if digits.len() != 8 {
                    return None;
                }
                digits.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        numbers
    }

    /// Reads the pointer file. `Ok(None)` means no generation was ever activated.
    pub fn active_generation(&self) -> Result<Option<u64>, StoreError> {
        let path = self.state_dir.join(POINTER_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt {
                    path,
                    reason: format!("expected a generation number, found {:?}", text.trim()),
                }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_error("reading", &path)(err)),
        }
    }

    /// Reads and checks one generation.
    pub fn load_generation(&self, number: u64) -> Result<Stored, StoreError> {
        let dir = self.generation_dir(number);
        let meta_path = dir.join(META_FILE);
        let meta_text = read_limited(&meta_path)?;
        let meta: Metadata =
            serde_json::from_str(&meta_text).map_err(|err| StoreError::Corrupt {
                path: meta_path,
                reason: err.to_string(),
            })?;
        let pair = load_pair(&dir)?;
        Ok(Stored {
            pair,
            meta,
            source: Source::Generation(number),
        })
    }

    /// Reads and checks the factory pair. `Ok(None)` means the board has none.
    pub fn load_factory(&self) -> Result<Option<Stored>, StoreError> {
        let Some(dir) = &self.factory_dir else {
            return Ok(None);
        };
        if !dir.join(CERT_FILE).exists() && !dir.join(KEY_FILE).exists() {
            return Ok(None);
        }
        let pair = load_pair(dir)?;
        let installed = fs::metadata(dir.join(CERT_FILE))
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| time::OffsetDateTime::from(modified).format(&Rfc3339).ok())
            .unwrap_or_default();
        Ok(Some(Stored {
            pair,
            meta: Metadata {
                origin: Origin::Factory,
                installed,
                reason: reasons::FACTORY_PROVISIONING.into(),
                validity_days: None,
                issued_with_unset_clock: false,
            },
            source: Source::Factory,
        }))
    }

    /// Finds the pair to serve at start: the active generation, then the other
    /// generations newest first, then the factory pair. Returns what was
    /// skipped and why, for logging; `None` means nothing usable was found.
    pub fn load_startup(&self) -> (Option<Stored>, Vec<Skipped>) {
        let mut skipped = Vec::new();
        let active = match self.active_generation() {
            Ok(active) => active,
            Err(error) => {
                skipped.push(Skipped {
                    source: Source::Generation(0),
                    error,
                });
                None
            }
        };
        let mut order: Vec<u64> = active.into_iter().collect();
        order.extend(
            self.generations()
                .into_iter()
                .rev()
                .filter(|n| Some(*n) != active),
        );
        for number in order {
            match self.load_generation(number) {
                Ok(stored) => return (Some(stored), skipped),
                Err(error) => skipped.push(Skipped {
                    source: Source::Generation(number),
                    error,
                }),
            }
        }
        match self.load_factory() {
            Ok(Some(stored)) => (Some(stored), skipped),
            Ok(None) => (None, skipped),
            Err(error) => {
                skipped.push(Skipped {
                    source: Source::Factory,
                    error,
                });
                (None, skipped)
            }
        }
    }

    /// Writes `pair` as a new generation and makes it active.
    ///
    /// `serving` is the generation served until now; it is kept as the
    /// previous one and every other generation is removed. On error the
    /// pointer still names the old generation.
    pub fn install(
        &self,
        pair: &CheckedPair,
        meta: &Metadata,
        serving: Option<u64>,
    ) -> Result<u64, StoreError> {
        let _lock = self.lock()?;
        let number = self
            .generations()
            .last()
            .copied()
            .unwrap_or(0)
            .max(serving.unwrap_or(0))
            + 1;
        let final_dir = self.generation_dir(number);
        let partial_dir = self
            .state_dir
            .join(format!("gen-{number:08}{PARTIAL_SUFFIX}"));

        fs::DirBuilder::new()
            .mode(0o700)
            .create(&partial_dir)
            .map_err(io_error("creating", &partial_dir))?;
        let meta_json = serde_json::to_vec_pretty(meta).expect("metadata serializes");
        for (name, bytes) in [
            (KEY_FILE, pair.key_pem.as_bytes()),
            (CERT_FILE, pair.cert_pem.as_bytes()),
            (CHAIN_FILE, pair.chain_pem.as_bytes()),
            (META_FILE, meta_json.as_slice()),
        ] {
            write_synced(&partial_dir.join(name), bytes)?;
        }
        if !pair.root_pem.is_empty() {
            write_synced(&partial_dir.join(ROOT_FILE), pair.root_pem.as_bytes())?;
        }
        // The folder's entries must be on flash before the rename makes them visible.
        sync_dir(&partial_dir)?;
        fs::rename(&partial_dir, &final_dir).map_err(io_error("renaming", &partial_dir))?;
        sync_dir(&self.state_dir)?;

        write_file_atomic(
            &self.state_dir,
            POINTER_FILE,
            format!("{number}\n").as_bytes(),
        )?;

        for old in self.generations() {
            if old != number && Some(old) != serving {
                let dir = self.generation_dir(old);
                if let Err(error) = fs::remove_dir_all(&dir) {
                    tracing::warn!(path = %dir.display(), %error, "cannot remove old generation");
                }
            }
        }
        Ok(number)
    }

    /// Reads the key of an outstanding CSR. `None` means there is none.
    /// Secret: never logged.
    pub fn pending_key(&self) -> Option<zeroize::Zeroizing<String>> {
        read_limited(&self.state_dir.join(PENDING_KEY_FILE))
            .ok()
            .map(zeroize::Zeroizing::new)
    }

    /// Stores the key of a new CSR, replacing an older pending one.
    pub fn set_pending_key(&self, key_pem: &str) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        write_file_atomic(&self.state_dir, PENDING_KEY_FILE, key_pem.as_bytes())
    }

    /// Removes the pending CSR key once its certificate is installed.
    pub fn clear_pending_key(&self) -> Result<(), StoreError> {
        let path = self.state_dir.join(PENDING_KEY_FILE);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.state_dir),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(io_error("removing", &path)(err)),
        }
    }

    /// Reads the camera-local root's certificate and key. `Ok(None)` means
    /// none was created yet, or its creation was cut short.
    pub fn load_device_ca(
        &self,
    ) -> Result<Option<(String, zeroize::Zeroizing<String>)>, StoreError> {
        let dir = self.state_dir.join(DEVICE_CA_DIR);
        if !dir.join(CERT_FILE).exists() || !dir.join(KEY_FILE).exists() {
            return Ok(None);
        }
        let cert = read_limited(&dir.join(CERT_FILE))?;
        let key = zeroize::Zeroizing::new(read_limited(&dir.join(KEY_FILE))?);
        Ok(Some((cert, key)))
    }

    /// Reads the camera-local root's certificate alone, for download.
    pub fn device_ca_certificate(&self) -> Option<String> {
        read_limited(&self.state_dir.join(DEVICE_CA_DIR).join(CERT_FILE)).ok()
    }

    /// Saves a new camera-local root. The key is written first, so a cut
    /// after it leaves no certificate and the next start creates both anew.
    pub fn save_device_ca(&self, cert_pem: &str, key_pem: &str) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let dir = self.state_dir.join(DEVICE_CA_DIR);
        let _ = fs::remove_file(dir.join(CERT_FILE));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_error("creating", &dir))?;
        sync_dir(&self.state_dir)?;
        write_file_atomic(&dir, KEY_FILE, key_pem.as_bytes())?;
        write_file_atomic(&dir, CERT_FILE, cert_pem.as_bytes())
    }

    /// Moves an unusable camera-local root out of the way, keeping it for
    /// inspection as `device-ca.unusable`.
    pub fn set_aside_device_ca(&self) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let dir = self.state_dir.join(DEVICE_CA_DIR);
        let aside = self.state_dir.join(format!("{DEVICE_CA_DIR}.unusable"));
        let _ = fs::remove_dir_all(&aside);
        fs::rename(&dir, &aside).map_err(io_error("renaming", &dir))?;
        sync_dir(&self.state_dir)
    }

    /// Takes the advisory write lock, so that the service and a command line
    /// call never write generations at the same time. Blocks until free.
    fn lock(&self) -> Result<nix::fcntl::Flock<File>, StoreError> {
        let path = self.state_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_error("opening", &path))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| io_error("locking", &path)(errno.into()))
    }
}

/// Reads a key, certificate and optional chain from `dir` and checks them.
fn load_pair(dir: &Path) -> Result<CheckedPair, StoreError> {
    let key = zeroize::Zeroizing::new(read_limited(&dir.join(KEY_FILE))?);
    let cert = read_limited(&dir.join(CERT_FILE))?;
    let chain_path = dir.join(CHAIN_FILE);
    let chain = if chain_path.exists() {
        read_limited(&chain_path)?
    } else {
        String::new()
    };
    let mut pair =
        CheckedPair::from_pem(&key, &cert, &chain).map_err(|source| StoreError::Pair {
            path: dir.to_owned(),
            source,
        })?;
    // The root is informational: a damaged root.pem does not make the pair unusable.
    let root_path = dir.join(ROOT_FILE);
    if root_path.exists() {
        match read_limited(&root_path) {
            Ok(root) => pair.root_pem = root,
            Err(error) => tracing::warn!(%error, "ignoring unreadable root certificate"),
        }
    }
    Ok(pair)
}

/// Reads a text file of at most [`MAX_FILE_BYTES`].
fn read_limited(path: &Path) -> Result<String, StoreError> {
    let file = File::open(path).map_err(io_error("reading", path))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io_error("reading", path))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            reason: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    Ok(text)
}

/// Creates `path` with mode 0600, writes `bytes` and syncs them to flash.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error("creating", path))?;
    file.write_all(bytes).map_err(io_error("writing", path))?;
    // Without this the rename below may reach flash before the data does.
    file.sync_all().map_err(io_error("syncing", path))
}

/// Syncs a folder so that renames and new entries in it survive a power cut.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error("syncing", dir))
}

/// Replaces `dir/name` atomically: writes a mode 0600 temporary file, syncs
/// it, renames it over the old file and syncs the folder. A reader sees the
/// old or the new content, never a mix, even across a power cut.
pub fn write_file_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let target = dir.join(name);
    let _ = fs::remove_file(&temp);
    write_synced(&temp, bytes)?;
    fs::rename(&temp, &target).map_err(io_error("renaming", &temp))?;
    // The rename is only durable once the folder entry is synced.
    sync_dir(dir)
}

/// Returns the permission bits of a path, for checks and tests.
pub fn mode_of(path: &Path) -> std::io::Result<u32> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o7777)
}
