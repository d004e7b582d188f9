//! Login sessions of the admin page and the CSRF tokens bound to them.
//!
//! A session is a random 256-bit identifier in a `Secure; HttpOnly;
//! SameSite=Strict` cookie. The server keeps only SHA-256 digests of live
//! identifiers, in memory, so a restart logs everyone out. Every form of the
//! page carries a token: an HMAC of the session identifier and the form's
//! name under a random per-process key. Another site can neither read nor
//! compute it, and it is useless for a different form or session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "camcertd_session";

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A session ends this long after login, however busy.
const MAX_AGE: Duration = Duration::from_secs(12 * 60 * 60);

/// Live sessions kept at once; a new login beyond it ends the least
/// recently used one, so repeated logins cannot grow memory without bound.
const MAX_SESSIONS: usize = 16;

type Digest = [u8; 32];

#[derive(Debug, Clone, Copy)]
struct Session {
    created: Instant,
    last_used: Instant,
}

/// Live admin sessions and the key for their CSRF tokens.
pub struct Sessions {
    /// HMAC key for CSRF tokens, random per process.
    csrf_key: aws_lc_rs::hmac::Key,
    /// Live sessions by the SHA-256 digest of their identifier.
    live: Mutex<HashMap<Digest, Session>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new()
    }
}

fn digest(id: &str) -> Digest {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_bytes());
    digest
        .as_ref()
        .try_into()
        .expect("SHA-256 digests are 32 bytes")
}

impl Sessions {
    /// Creates an empty session table with a fresh CSRF key.
    pub fn new() -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let csrf_key = aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &rng)
            .expect("system random number generator works");
        Self {
            csrf_key,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Returns a fresh random value for the login form's cookie, which ties
    /// the form's CSRF token to the browser that loaded the form.
    pub fn login_nonce(&self) -> String {
        let mut random = [0u8; 32];
        aws_lc_rs::rand::fill(&mut random).expect("system random number generator works");
        URL_SAFE_NO_PAD.encode(random)
    }

    /// Starts a session and returns its identifier for the cookie.
    pub fn create(&self) -> String {
        let mut random = [0u8; 32];
        aws_lc_rs::rand::fill(&mut random).expect("system random number generator works");
        let id = URL_SAFE_NO_PAD.encode(random);
        let now = Instant::now();
        let mut live = self.live.lock().expect("lock is not poisoned");
        live.retain(|_, session| is_current(session, now));
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live
                .iter()
                .min_by_key(|(_, session)| session.last_used)
                .map(|(key, _)| *key)
            {
                live.remove(&oldest);
            }
        }
        live.insert(
            digest(&id),
            Session {
                created: now,
                last_used: now,
            },
        );
        id
    }

    /// Returns whether `id` names a live session, and marks it used.
    pub fn touch(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut live = self.live.lock().expect("lock is not poisoned");
        let key = digest(id);
        match live.get_mut(&key) {
            Some(session) if is_current(session, now) => {
                session.last_used = now;
                true
            }
            Some(_) => {
                live.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Ends the session `id`; an unknown one is ignored.
    pub fn end(&self, id: &str) {
        self.live
            .lock()
            .expect("lock is not poisoned")
            .remove(&digest(id));
    }

    /// Returns the CSRF token for the form `form` in session `id`.
    pub fn csrf_token(&self, id: &str, form: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.csrf_key, &csrf_message(id, form));
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Checks a submitted CSRF token for `form` in session `id`, in constant
    /// time with respect to the expected token.
    pub fn check_csrf(&self, id: &str, form: &str, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        aws_lc_rs::hmac::verify(&self.csrf_key, &csrf_message(id, form), &tag).is_ok()
    }
}

fn is_current(session: &Session, now: Instant) -> bool {
    now.duration_since(session.last_used) < IDLE_TIMEOUT
        && now.duration_since(session.created) < MAX_AGE
}

/// Builds the HMAC input: the form name and the session identifier,
/// separated by a byte neither contains.
fn csrf_message(id: &str, form: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(form.len() + 1 + id.len());
    message.extend_from_slice(form.as_bytes());
    message.push(0);
    message.extend_from_slice(id.as_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lives_until_ended() {
        let sessions = Sessions::new();
        let id = sessions.create();
        assert!(sessions.touch(&id));
        assert!(!sessions.touch("not-a-session"));
        sessions.end(&id);
        assert!(!sessions.touch(&id));
    }

    #[test]
    fn csrf_token_binds_session_and_form() {
        let sessions = Sessions::new();
        let one = sessions.create();
        let two = sessions.create();
        let token = sessions.csrf_token(&one, "upload");
        assert!(sessions.check_csrf(&one, "upload", &token));
        assert!(!sessions.check_csrf(&two, "upload", &token));
        assert!(!sessions.check_csrf(&one, "self-signed", &token));
        assert!(!sessions.check_csrf(&one, "upload", ""));
        assert!(!sessions.check_csrf(&one, "upload", "%%%"));
    }

    #[test]
    fn other_process_key_rejects_token() {
        let first = Sessions::new();
        let second = Sessions::new();
        let token = first.csrf_token("same-id", "upload");
        assert!(!second.check_csrf("same-id", "upload", &token));
    }

    #[test]
    fn session_table_is_bounded() {
        let sessions = Sessions::new();
        let first = sessions.create();
        for _ in 0..MAX_SESSIONS {
            sessions.create();
        }
        assert!(!sessions.touch(&first), "the least recently used one ended");
        assert_eq!(sessions.live.lock().unwrap().len(), MAX_SESSIONS);
    }
}
