//! Admin authentication: HTTP Basic over TLS, a slow salted password hash and
//! a per-address slowdown after failed logins.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use zeroize::Zeroizing;

use crate::store::{self, StoreError};

/// PBKDF2-HMAC-SHA256 iterations for new hashes. Slow enough to make offline
/// guessing expensive, fast enough for a camera CPU to check a login in well
/// under a second; a verified login is cached, so requests do not repeat it.
pub const PBKDF2_ITERATIONS: u32 = 100_000;

/// The file in the state directory holding the admin password hash when the
/// configuration sets none.
pub const HASH_FILE: &str = "admin-password-hash";

/// The file in the state directory holding the generated first password.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Failed logins from one address that are free before the slowdown starts.
const FREE_FAILURES: u32 = 3;

/// Lockout after the first failure past [`FREE_FAILURES`]; it doubles with
/// each further failure up to [`MAX_LOCKOUT`].
const FIRST_LOCKOUT: Duration = Duration::from_secs(1);

/// Longest lockout.
const MAX_LOCKOUT: Duration = Duration::from_secs(60);

/// Failure records older than this are forgotten.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

/// Most addresses tracked at once; the oldest record is dropped beyond it,
/// so a scan from many addresses cannot grow memory without bound.
const MAX_TRACKED_ADDRESSES: usize = 256;

const HASH_PREFIX: &str = "$pbkdf2-sha256$i=";

/// Errors from reading or creating credentials.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A password hash string that is not in the expected form.
    #[error("invalid password hash {value:?}: expected the form printed by `camcertd hash-password` ($pbkdf2-sha256$i=N$SALT$HASH)")]
    BadHash {
        /// The first characters of the rejected value.
        value: String,
    },
    /// The hash file could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A PBKDF2-HMAC-SHA256 password hash with its salt and iteration count.
#[derive(Clone)]
pub struct PasswordHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt.
    pub fn new(password: &str) -> Self {
        let mut salt = vec![0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).expect("system random number generator works");
        let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).expect("iterations are not zero");
        let mut hash = vec![0u8; 32];
        aws_lc_rs::pbkdf2::derive(
            aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        Self {
            iterations,
            salt,
            hash,
        }
    }

    /// Parses the form `$pbkdf2-sha256$i=N$SALT$HASH` with unpadded URL-safe base64.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let text = text.trim();
        let bad = || AuthError::BadHash {
            value: text.chars().take(24).collect(),
        };
        let rest = text.strip_prefix(HASH_PREFIX).ok_or_else(bad)?;
        let mut parts = rest.split('$');
        let (Some(iterations), Some(salt), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let iterations = iterations.parse::<NonZeroU32>().map_err(|_| bad())?;
        let salt = URL_SAFE_NO_PAD.decode(salt).map_err(|_| bad())?;
        let hash = URL_SAFE_NO_PAD.decode(hash).map_err(|_| bad())?;
        if salt.len() < 8 || hash.len() < 16 {
            return Err(bad());
        }
        Ok(Self {
            iterations,
            salt,
            hash,
        })
    }

    /// Checks `password` in constant time with respect to the stored hash.
    pub fn verify(&self, password: &str) -> bool {
        aws_lc_rs::pbkdf2::verify(
            aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
            self.iterations,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{HASH_PREFIX}{}${}${}",
            self.iterations,
            URL_SAFE_NO_PAD.encode(&self.salt),
            URL_SAFE_NO_PAD.encode(&self.hash)
        )
    }
}

/// Loads the admin password hash: the configured one, else the state
/// directory's hash file. On first start with neither, generates a random
/// password, stores its hash, writes the password to
/// [`INITIAL_PASSWORD_FILE`] (mode 0600) and logs that file's path.
pub fn load_or_create_hash(
    configured: Option<&str>,
    state_dir: &Path,
) -> Result<PasswordHash, AuthError> {
    if let Some(text) = configured {
        return PasswordHash::parse(text);
    }
    let hash_path = state_dir.join(HASH_FILE);
    match std::fs::read_to_string(&hash_path) {
        Ok(text) => return PasswordHash::parse(&text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(StoreError::Io {
                action: "reading",
                path: hash_path,
                source,
            }
            .into())
        }
    }

    let mut random = Zeroizing::new([0u8; 18]);
    aws_lc_rs::rand::fill(random.as_mut()).expect("system random number generator works");
    let password = Zeroizing::new(URL_SAFE_NO_PAD.encode(random.as_ref()));
    let hash = PasswordHash::new(&password);
    // The password file first: if power fails in between, the next start
    // finds no hash and makes a new password instead of locking the admin out.
    store::write_file_atomic(
        state_dir,
        INITIAL_PASSWORD_FILE,
        format!("{}\n", password.as_str()).as_bytes(),
    )?;
    store::write_file_atomic(state_dir, HASH_FILE, format!("{hash}\n").as_bytes())?;
    tracing::warn!(
        path = %state_dir.join(INITIAL_PASSWORD_FILE).display(),
        "no admin password was set; generated one for the user admin and wrote it to this file"
    );
    Ok(hash)
}

/// The outcome of checking a request's credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are right.
    Allowed,
    /// No or wrong credentials.
    Denied,
    /// Too many recent failures from this address; retry after this long.
    SlowDown(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Checks HTTP Basic credentials and slows down repeated failures per address.
pub struct Authenticator {
    user: String,
    hash: PasswordHash,
    /// Key for the verified-credentials cache, random per process, so the
    /// cached digest is useless outside it.
    cache_key: aws_lc_rs::hmac::Key,
    /// Digest of the last credentials that passed PBKDF2, so that each request
    /// of a logged-in admin does not pay for the slow hash again.
    verified: Mutex<Option<Vec<u8>>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl Authenticator {
    /// Creates an authenticator for `user` with password `hash`.
    pub fn new(user: String, hash: PasswordHash) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let cache_key = aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &rng)
            .expect("system random number generator works");
        Self {
            user,
            hash,
            cache_key,
            verified: Mutex::new(None),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the `Authorization` header value of a request from `client`.
    pub fn check(&self, client: IpAddr, authorization: Option<&[u8]>) -> Verdict {
        if let Some(wait) = self.lockout(client) {
            return Verdict::SlowDown(wait);
        }
        let Some(header) = authorization else {
            // A request without credentials is how browsers ask for the
            // login prompt; it does not count as a failed login.
            return Verdict::Denied;
        };
        let decoded = header
            .strip_prefix(b"Basic ")
            .and_then(|encoded| STANDARD.decode(encoded.trim_ascii()).ok())
            .map(Zeroizing::new);
        let matched = decoded.is_some_and(|decoded| self.credentials_match(&decoded));
        self.record_outcome(client, matched)
    }

    /// Checks a user name and password typed into the admin page's login
    /// form from `client`, with the same slowdown as [`Self::check`].
    pub fn check_login(&self, client: IpAddr, user: &str, password: &str) -> Verdict {
        if let Some(wait) = self.lockout(client) {
            return Verdict::SlowDown(wait);
        }
        let joined = Zeroizing::new(format!("{user}:{password}"));
        let matched = self.credentials_match(joined.as_bytes());
        self.record_outcome(client, matched)
    }

    fn record_outcome(&self, client: IpAddr, matched: bool) -> Verdict {
        if matched {
            self.failures
                .lock()
                .expect("lock is not poisoned")
                .remove(&client);
            Verdict::Allowed
        } else {
            self.record_failure(client);
            tracing::warn!(%client, "failed admin login");
            Verdict::Denied
        }
    }

    /// Checks `user:password` bytes, as in a decoded Basic header.
    fn credentials_match(&self, decoded: &[u8]) -> bool {
        let digest = aws_lc_rs::hmac::sign(&self.cache_key, decoded);
        {
            let verified = self.verified.lock().expect("lock is not poisoned");
            if let Some(known) = verified.as_deref() {
                if aws_lc_rs::constant_time::verify_slices_are_equal(known, digest.as_ref()).is_ok()
                {
                    return true;
                }
            }
        }
        let Ok(text) = std::str::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = text.split_once(':') else {
            return false;
        };
        let user_ok = aws_lc_rs::constant_time::verify_slices_are_equal(
            user.as_bytes(),
            self.user.as_bytes(),
        )
        .is_ok();
        // The hash is checked even for a wrong user, so timing does not tell
        // whether the user name exists.
        let password_ok = self.hash.verify(password);
        if user_ok && password_ok {
            *self.verified.lock().expect("lock is not poisoned") = Some(digest.as_ref().to_vec());
            return true;
        }
        false
    }

    fn lockout(&self, client: IpAddr) -> Option<Duration> {
        let failures = self.failures.lock().expect("lock is not poisoned");
        let record = failures.get(&client)?;
        if record.count < FREE_FAILURES {
            return None;
        }
        let doublings = (record.count - FREE_FAILURES).min(16);
        let lockout = FIRST_LOCKOUT
            .saturating_mul(1 << doublings)
            .min(MAX_LOCKOUT);
        let elapsed = record.last.elapsed();
        (elapsed < lockout).then(|| lockout - elapsed)
    }

    fn record_failure(&self, client: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("lock is not poisoned");
        failures.retain(|_, record| now.duration_since(record.last) < FAILURE_MEMORY);
        if failures.len() >= MAX_TRACKED_ADDRESSES && !failures.contains_key(&client) {
            if let Some(oldest) = failures
                .iter()
                .min_by_key(|(_, record)| record.last)
                .map(|(address, _)| *address)
            {
                failures.remove(&oldest);
            }
        }
        let record = failures.entry(client).or_insert(Failures {
            count: 0,
            last: now,
        });
        record.count += 1;
        record.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))).into_bytes()
    }

    #[test]
    fn hash_round_trips_through_text() {
        let hash = PasswordHash::new("correct horse");
        let parsed = PasswordHash::parse(&hash.to_string()).unwrap();
        assert!(parsed.verify("correct horse"));
        assert!(!parsed.verify("correct horse "));
    }

    #[test]
    fn malformed_hash_is_rejected() {
        for text in [
            "",
            "secret",
            "$pbkdf2-sha256$i=0$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$i=10$short$x",
        ] {
            let err = PasswordHash::parse(text).unwrap_err().to_string();
            assert!(err.contains("camcertd hash-password"), "{err}");
        }
    }

    #[test]
    fn basic_credentials_are_checked() {
        let auth = Authenticator::new("admin".into(), PasswordHash::new("pw"));
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(auth.check(client, None), Verdict::Denied);
        assert_eq!(
            auth.check(client, Some(&basic("admin", "pw"))),
            Verdict::Allowed
        );
        assert_eq!(
            auth.check(client, Some(&basic("admin", "pw"))),
            Verdict::Allowed,
            "cached"
        );
        assert_eq!(
            auth.check(client, Some(&basic("root", "pw"))),
            Verdict::Denied
        );
        assert_eq!(
            auth.check(client, Some(&basic("admin", "wrong"))),
            Verdict::Denied
        );
        assert_eq!(auth.check(client, Some(b"Bearer x")), Verdict::Denied);
        let form_client: IpAddr = "127.0.0.4".parse().unwrap();
        assert_eq!(
            auth.check_login(form_client, "admin", "pw"),
            Verdict::Allowed
        );
        assert_eq!(
            auth.check_login(form_client, "admin", "pw2"),
            Verdict::Denied
        );
    }

    #[test]
    fn repeated_failures_slow_down_one_address() {
        let auth = Authenticator::new("admin".into(), PasswordHash::new("pw"));
        let attacker: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert_eq!(
                auth.check(attacker, Some(&basic("admin", "guess"))),
                Verdict::Denied
            );
        }
        assert!(matches!(
            auth.check(attacker, Some(&basic("admin", "pw"))),
            Verdict::SlowDown(_)
        ));
        assert_eq!(
            auth.check(other, Some(&basic("admin", "pw"))),
            Verdict::Allowed
        );
    }

    #[test]
    fn first_start_writes_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let hash = load_or_create_hash(None, dir.path()).unwrap();
        let password = std::fs::read_to_string(dir.path().join(INITIAL_PASSWORD_FILE)).unwrap();
        assert!(hash.verify(password.trim()));
        assert_eq!(
            store::mode_of(&dir.path().join(INITIAL_PASSWORD_FILE)).unwrap(),
            0o600
        );
        let again = load_or_create_hash(None, dir.path()).unwrap();
        assert!(
            again.verify(password.trim()),
            "second start keeps the password"
        );
    }
}
