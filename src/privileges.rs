//! Dropping root after the HTTPS port is bound.
//!
//! Camera init systems often start services as root. camcertd needs root only
//! to bind port 443; it then hands its state directory to the service user and
//! switches to that user for good, so a flaw in the TLS or HTTP code does not
//! run as root.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::unistd::{Gid, Uid};

/// Errors from resolving the service user or switching to it.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// The user is neither in /etc/passwd nor a numeric `UID:GID`.
    #[error("service user {0:?} not found in /etc/passwd; add it or give numeric ids as \"UID:GID\" in server.user")]
    UnknownUser(String),
    /// /etc/passwd could not be read.
    #[error("cannot read /etc/passwd to look up service user {user:?}: {source}")]
    Passwd {
        /// The requested user.
        user: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A system call failed while switching users.
    #[error("{action} failed: {source}; run camcertd as root or remove server.user")]
    Switch {
        /// The call that failed, such as "setuid(1000)".
        action: String,
        /// The error number.
        source: nix::Error,
    },
    /// Changing the owner of the state directory failed.
    #[error("cannot hand {path} to the service user: {source}")]
    Chown {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The error number.
        source: nix::Error,
    },
}

/// A user and group id to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceUser {
    /// The user id.
    pub uid: Uid,
    /// The primary group id.
    pub gid: Gid,
}

/// Resolves `name` as `UID:GID` or through /etc/passwd.
///
/// Reads /etc/passwd itself instead of calling getpwnam, because the static
/// firmware binary cannot load glibc's NSS modules on a camera.
pub fn resolve(name: &str) -> Result<ServiceUser, PrivilegeError> {
    if let Some((uid, gid)) = name.split_once(':') {
        if let (Ok(uid), Ok(gid)) = (uid.parse(), gid.parse()) {
            return Ok(ServiceUser {
                uid: Uid::from_raw(uid),
                gid: Gid::from_raw(gid),
            });
        }
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(|source| PrivilegeError::Passwd {
        user: name.to_owned(),
        source,
    })?;
    lookup_passwd(&passwd, name).ok_or_else(|| PrivilegeError::UnknownUser(name.to_owned()))
}

/// Finds `name` in the text of an /etc/passwd file.
fn lookup_passwd(passwd: &str, name: &str) -> Option<ServiceUser> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let _password = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(ServiceUser {
            uid: Uid::from_raw(uid),
            gid: Gid::from_raw(gid),
        })
    })
}

/// Creates `state_dir` when missing and gives it and the files in it to
/// `user`, so that the service can still write them after dropping root.
pub fn hand_over_state_dir(state_dir: &Path, user: ServiceUser) -> Result<(), PrivilegeError> {
    let chown = |path: &Path| {
        nix::unistd::chown(path, Some(user.uid), Some(user.gid)).map_err(|source| {
            PrivilegeError::Chown {
                path: path.to_owned(),
                source,
            }
        })
    };
    if !state_dir.exists() {
        let _ = fs::create_dir_all(state_dir);
    }
    let mut pending = vec![state_dir.to_owned()];
    while let Some(path) = pending.pop() {
        let Ok(metadata) = fs::symlink_metadata(&path) else {
            continue;
        };
        if metadata.file_type().is_symlink() {
            continue;
        }
        if metadata.uid() != user.uid.as_raw() || metadata.gid() != user.gid.as_raw() {
            chown(&path)?;
        }
        if metadata.is_dir() {
            pending.extend(
                fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path()),
            );
        }
    }
    Ok(())
}

/// Switches the process to `user` for good: supplementary groups, group, user.
/// Checks afterwards that root cannot be regained.
pub fn drop_to(user: ServiceUser) -> Result<(), PrivilegeError> {
    let switch = |action: String, result: nix::Result<()>| {
        result.map_err(|source| PrivilegeError::Switch { action, source })
    };
    switch(
        format!("setgroups([{}])", user.gid),
        nix::unistd::setgroups(&[user.gid]),
    )?;
    switch(
        format!("setgid({})", user.gid),
        nix::unistd::setgid(user.gid),
    )?;
    switch(
        format!("setuid({})", user.uid),
        nix::unistd::setuid(user.uid),
    )?;
    if !user.uid.is_root() && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::Switch {
            action: "checking that root cannot be regained".into(),
            source: nix::Error::EPERM,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lookup_finds_user() {
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\ncamcertd:x:120:130::/var/lib/camcertd:/bin/false\n";
        let user = lookup_passwd(passwd, "camcertd").unwrap();
        assert_eq!(user.uid.as_raw(), 120);
        assert_eq!(user.gid.as_raw(), 130);
        assert!(lookup_passwd(passwd, "camcert").is_none());
        assert!(lookup_passwd("broken", "broken").is_none());
    }

    #[test]
    fn numeric_ids_need_no_lookup() {
        let user = resolve("4242:4343").unwrap();
        assert_eq!(user.uid.as_raw(), 4242);
        assert_eq!(user.gid.as_raw(), 4343);
    }
}
