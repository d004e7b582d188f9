//! Settings read from a TOML file, with a documented default for every key.
//!
//! With no file, [`Config::default`] is the development setup: HTTPS on
//! 127.0.0.1:8443, state in `./camcertd-state`, loopback in the certificate.
//! Board profiles ship a file that sets the listen address, flash paths and
//! key type for the camera.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pki::KeyType;

/// Errors from reading or checking the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}; check the path given to --config")]
    Read {
        /// The file that was requested.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or holds an unknown key or a wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file that was read.
        path: PathBuf,
        /// What the TOML parser rejected, with line and column.
        message: String,
    },
    /// A value parsed but is outside its allowed range.
    #[error("invalid config value {key} = {value}: {hint}")]
    Value {
        /// The dotted key, such as `certificate.default_validity_days`.
        key: &'static str,
        /// The rejected value as written.
        value: String,
        /// The allowed range or form.
        hint: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listener and connection limits.
    pub server: ServerConfig,
    /// Where state and the factory certificate live.
    pub store: StoreConfig,
    /// What a certificate issued on the camera contains.
    pub certificate: CertificateConfig,
    /// The administrator account that may change the certificate.
    pub admin: AdminConfig,
    /// What happens when the camera's addresses change.
    pub network: NetworkConfig,
    /// When certificates are renewed or reported as expiring.
    pub expiry: ExpiryConfig,
}

/// When certificates are renewed or reported as expiring.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExpiryConfig {
    /// Days before not_after when a self-signed certificate is renewed and any
    /// other is reported as expiring. Default 30.
    pub renew_before_days: u32,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        Self {
            renew_before_days: 30,
        }
    }
}

/// What camcertd does when an address change leaves the certificate behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpChangePolicy {
    /// Issue a new certificate when the active one was made on the camera
    /// (self-signed) or at the factory; warn for uploaded and CSR-signed ones.
    Regenerate,
    /// Never replace the certificate on an address change; only warn.
    Warn,
}

/// What happens when the camera's addresses change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// `regenerate` (default) or `warn`.
    pub ip_change: IpChangePolicy,
    /// Milliseconds without address events before the set is compared with
    /// the certificate, so that a DHCP exchange or a flap causes at most one
    /// regeneration. Default 2000.
    pub quiet_period_ms: u64,
    /// Whether a regeneration after an address change also makes a new key.
    /// Default `false`, so clients that pin the public key keep working.
    pub rotate_key_on_ip_change: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            ip_change: IpChangePolicy::Regenerate,
            quiet_period_ms: 2000,
            rotate_key_on_ip_change: false,
        }
    }
}

/// Listener and connection limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port of the HTTPS listener. Default `127.0.0.1:8443`;
    /// camera boards use `0.0.0.0:443`.
    pub https_listen: SocketAddr,
    /// Address and port of a plain-HTTP listener that redirects every
    /// request to HTTPS, such as `0.0.0.0:80`. Default `None`: off.
    pub http_listen: Option<SocketAddr>,
    /// Connections open at once. When all are taken, a new client closes
    /// the one idle the longest: in its handshake, sending headers, or
    /// between requests. It waits only while every connection has a request
    /// in progress. Default 64.
    pub max_connections: usize,
    /// Seconds a client has to finish the TLS handshake. Default 10.
    pub handshake_timeout_secs: u64,
    /// Seconds a client has to send the request headers. Default 10.
    pub header_timeout_secs: u64,
    /// User to switch to after binding the listener, as a name from
    /// /etc/passwd or `UID:GID`. `None` keeps the user camcertd was started as.
    pub user: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            https_listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            http_listen: None,
            max_connections: 64,
            handshake_timeout_secs: 10,
            header_timeout_secs: 10,
            user: None,
        }
    }
}

/// Where state and the factory certificate live.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Writable directory for key and certificate generations (mode 0700).
    /// Default `camcertd-state`, relative to the working directory.
    pub state_dir: PathBuf,
    /// Read-only directory holding the factory `key.pem`, `cert.pem` and an
    /// optional `chain.pem`. `None` means the board has no factory pair.
    pub factory_dir: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from("camcertd-state"),
            factory_dir: None,
        }
    }
}

/// What a certificate issued on the camera contains.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CertificateConfig {
    /// DNS name put in the subject and a DNS subjectAltName. `None` uses the
    /// system hostname.
    pub hostname: Option<String>,
    /// Further DNS names for the subjectAltName, such as `camera.example.com`.
    pub extra_names: Vec<String>,
    /// Interfaces whose addresses the certificate names, such as `["eth0"]`.
    /// Empty means every interface.
    pub interfaces: Vec<String>,
    /// Whether loopback addresses (127.0.0.1, ::1) go into the certificate.
    /// Default `true`, which the loopback development setup needs; boards set
    /// `false`.
    pub include_loopback: bool,
    /// Whether IPv4 link-local addresses (169.254.0.0/16, which zeroconf
    /// assigns without DHCP) go into the certificate. Default `true`.
    pub include_ipv4_link_local: bool,
    /// Validity in days of a certificate issued without an explicit choice.
    /// Default 397, inside the 398 days that browsers allow publicly trusted
    /// certificates and well inside the 825 days Apple platforms accept.
    pub default_validity_days: u32,
    /// Key type of a key generated without an explicit choice. Default
    /// `ecdsa-p256`.
    pub default_key_type: KeyType,
    /// The camera-local root (`[certificate.device_ca]`).
    pub device_ca: DeviceCaConfig,
}

/// The camera-local root of device-ca mode: created once on the camera,
/// it signs every certificate the camera issues for itself, so clients that
/// trust it once keep trusting the camera across address changes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceCaConfig {
    /// Whether certificates the camera issues without an explicit choice
    /// (first start, replacing an expired factory certificate) are signed
    /// by the camera-local root. Default `false`: self-signed. A service
    /// started with `true` moves a self-signed certificate to device-ca.
    pub enabled: bool,
    /// Validity in calendar years of the root. Default 25; older boards 15.
    pub root_validity_years: u32,
    /// Validity in days of a leaf issued without an explicit choice. Default
    /// 397; at most 825, the most Apple platforms accept.
    pub leaf_validity_days: u32,
    /// Address ranges the root may certify (its name constraints). Default:
    /// the private IPv4 ranges, IPv4 link-local and IPv6 unique local
    /// addresses; loopback is added when `include_loopback` is set.
    pub permitted_ip_ranges: Vec<String>,
    /// DNS names the root may certify, each with its subdomains. Default
    /// `local` (mDNS names); the hostname and extra names are added.
    pub permitted_dns_names: Vec<String>,
}

impl Default for DeviceCaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            root_validity_years: 25,
            leaf_validity_days: 397,
            permitted_ip_ranges: [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "169.254.0.0/16",
                "fc00::/7",
            ]
            .map(str::to_owned)
            .to_vec(),
            permitted_dns_names: vec!["local".to_owned()],
        }
    }
}

impl Default for CertificateConfig {
    fn default() -> Self {
        Self {
            hostname: None,
            extra_names: Vec::new(),
            interfaces: Vec::new(),
            include_loopback: true,
            include_ipv4_link_local: true,
            default_validity_days: 397,
            default_key_type: KeyType::EcdsaP256,
            device_ca: DeviceCaConfig::default(),
        }
    }
}

/// The administrator account that may change the certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// User name for HTTP Basic authentication. Default `admin`.
    pub user: String,
    /// Password hash as printed by `camcertd hash-password`. `None` means the
    /// hash kept in the state directory, created with a random password on
    /// first start.
    pub password_hash: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            user: "admin".to_owned(),
            password_hash: None,
        }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_owned(),
            message: err.to_string().trim_end().replace('\n', " "),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks value ranges that the types alone do not enforce.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.max_connections == 0 {
            return Err(ConfigError::Value {
                key: "server.max_connections",
                value: "0".into(),
                hint: "set at least 1".into(),
            });
        }
        for (key, secs) in [
            (
                "server.handshake_timeout_secs",
                self.server.handshake_timeout_secs,
            ),
            (
                "server.header_timeout_secs",
                self.server.header_timeout_secs,
            ),
        ] {
            if !(1..=3600).contains(&secs) {
                return Err(ConfigError::Value {
                    key,
                    value: secs.to_string(),
                    hint: "choose 1 to 3600 seconds".into(),
                });
            }
        }
        if !(1..=3650).contains(&self.expiry.renew_before_days) {
            return Err(ConfigError::Value {
                key: "expiry.renew_before_days",
                value: self.expiry.renew_before_days.to_string(),
                hint: "choose 1 to 3650 days".into(),
            });
        }
        if self.network.quiet_period_ms > 600_000 {
            return Err(ConfigError::Value {
                key: "network.quiet_period_ms",
                value: self.network.quiet_period_ms.to_string(),
                hint: "choose 0 to 600000 milliseconds".into(),
            });
        }
        if let Err(err) = crate::pki::check_validity_days(self.certificate.default_validity_days) {
            return Err(ConfigError::Value {
                key: "certificate.default_validity_days",
                value: self.certificate.default_validity_days.to_string(),
                hint: err.to_string(),
            });
        }
        for name in self
            .certificate
            .hostname
            .iter()
            .chain(&self.certificate.extra_names)
        {
            if let Err(err) = crate::pki::check_dns_name(name) {
                return Err(ConfigError::Value {
                    key: "certificate.hostname or certificate.extra_names",
                    value: name.clone(),
                    hint: err.to_string(),
                });
            }
        }
        let device_ca = &self.certificate.device_ca;
        if !(1..=50).contains(&device_ca.root_validity_years) {
            return Err(ConfigError::Value {
                key: "certificate.device_ca.root_validity_years",
                value: device_ca.root_validity_years.to_string(),
                hint: "choose 1 to 50 years".into(),
            });
        }
        let apple_max = crate::pki::lint::APPLE_MAX_VALIDITY_DAYS;
        if !(1..=apple_max).contains(&i64::from(device_ca.leaf_validity_days)) {
            return Err(ConfigError::Value {
                key: "certificate.device_ca.leaf_validity_days",
                value: device_ca.leaf_validity_days.to_string(),
                hint: format!("choose 1 to {apple_max} days; Apple devices refuse longer ones"),
            });
        }
        for range in &device_ca.permitted_ip_ranges {
            if let Err(hint) = range.parse::<crate::pki::authority::IpRange>() {
                return Err(ConfigError::Value {
                    key: "certificate.device_ca.permitted_ip_ranges",
                    value: range.clone(),
                    hint,
                });
            }
        }
        for name in &device_ca.permitted_dns_names {
            if let Err(err) = crate::pki::check_dns_name(name.trim_start_matches('.')) {
                return Err(ConfigError::Value {
                    key: "certificate.device_ca.permitted_dns_names",
                    value: name.clone(),
                    hint: err.to_string(),
                });
            }
        }
        if self.admin.user.is_empty() || self.admin.user.contains(':') {
            return Err(ConfigError::Value {
                key: "admin.user",
                value: self.admin.user.clone(),
                hint: "use a non-empty name without ':'".into(),
            });
        }
        Ok(())
    }
}

/// A board profile (`board/<name>/profile.toml`): what a firmware image
/// build needs to know to install camcertd on one camera board.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardProfile {
    /// Board name, equal to its folder name.
    pub name: String,
    /// One line on the hardware.
    pub description: String,
    /// Rust target triple of the firmware build.
    pub target: String,
    /// Validity in years of the factory certificate made on the production line.
    pub factory_validity_years: u32,
    /// Writable flash folder for key and certificate generations.
    pub state_dir: PathBuf,
    /// Read-only folder holding the factory pair.
    pub factory_dir: PathBuf,
    /// Network interfaces whose addresses the certificate names.
    pub interfaces: Vec<String>,
    /// Key type for keys made on the camera.
    pub default_key_type: KeyType,
    /// HTTPS listen address and port.
    pub https_listen: SocketAddr,
    /// Plain-HTTP listener that redirects to HTTPS; absent means off.
    #[serde(default)]
    pub http_listen: Option<SocketAddr>,
    /// User the service runs as after binding its port.
    pub service_user: String,
}

impl BoardProfile {
    /// Reads a board profile file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|err| ConfigError::Parse {
            path: path.to_owned(),
            message: err.to_string().trim_end().replace('\n', " "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = Config::parse("", Path::new("empty.toml")).unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = Config::parse(
            "[server]\nhttps_lisen = \"0.0.0.0:443\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("https_lisen"), "{message}");
        assert!(message.contains("c.toml"), "{message}");
    }

    #[test]
    fn zero_validity_is_rejected_with_range() {
        let err = Config::parse(
            "[certificate]\ndefault_validity_days = 0\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("default_validity_days = 0"), "{message}");
        assert!(message.contains("1 to"), "{message}");
    }

    #[test]
    fn board_values_parse() {
        let text = r#"
            [server]
            https_listen = "0.0.0.0:443"
            [store]
            state_dir = "/data/camcertd"
            factory_dir = "/factory/tls"
            [certificate]
            include_loopback = false
            default_key_type = "rsa-2048"
            extra_names = ["cam-0042.example.com"]
        "#;
        let config = Config::parse(text, Path::new("board.toml")).unwrap();
        assert_eq!(config.server.https_listen.port(), 443);
        assert_eq!(config.certificate.default_key_type, KeyType::Rsa2048);
        assert_eq!(
            config.store.factory_dir,
            Some(PathBuf::from("/factory/tls"))
        );
    }
}
