//! `[imap]`: whether the messages datastore lives in an IMAP server, where it is, and how the
//! gateway logs in for a user.
//!
//! Access (`login`): `"master"` logs in as `{user}{separator}{master_user}` with the master
//! password (Dovecot master users: `auth_master_user_separator = *` and a passdb with
//! `master = yes`; README), so the gateway needs no user's mail password; `"users"` logs in with
//! each user's own password from `[imap.passwords]`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::imap::{ImapError, Security, TlsClient};

/// How the gateway logs in for a user.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Login {
    /// As the user through a master user.
    #[default]
    Master,
    /// With each user's own password (`passwords`).
    Users,
}

/// How the connection to the IMAP server is secured.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ImapTls {
    /// Plain IMAP: loopback or a trusted network only.
    #[default]
    None,
    /// TLS from the first byte (IMAPS, usually port 993).
    Imaps,
    /// Plain greeting, then STARTTLS (usually port 143); a server without it is refused.
    Starttls,
}

/// `[imap]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    /// Keep the messages datastore in this IMAP server (otherwise in the local database).
    pub enabled: bool,
    /// `host:port` of the server.
    pub address: String,
    /// `none` (plain: loopback or a trusted network), `imaps` or `starttls`.
    pub tls: ImapTls,
    /// PEM file of the CAs trusted for the server's certificate (default: the system's,
    /// /etc/ssl/certs/ca-certificates.crt).
    pub ca_file: Option<std::path::PathBuf>,
    /// The name the server's certificate must carry (default: the host of `address`).
    pub server_name: Option<String>,
    /// The datastore kept in IMAP.
    pub datastore: String,
    pub login: Login,
    pub master_user: String,
    pub master_password: String,
    /// Between the user and the master user in the login name (Dovecot: `*`).
    pub master_separator: String,
    /// Per user, the IMAP password (`login = "users"`).
    pub passwords: BTreeMap<String, String>,
    /// Connecting, and every read and write, gives up after this long (the device gets 503).
    pub timeout_secs: u64,
    /// Look for changes made directly in IMAP this often (seconds; 0: only when a device
    /// syncs). Devices with automatic sync are alerted of them.
    pub poll_secs: u64,
    /// Watch every user's INBOX with IMAP IDLE (one connection per user with devices), so
    /// deliveries reach the change log at once; other mailboxes are polled.
    pub idle: bool,
    /// The most users watched with IDLE (the rest wait for the poll).
    pub idle_users: usize,
    /// Idle connections kept per user.
    pub pool_per_user: usize,
    /// An idle connection older than this is closed rather than reused.
    pub idle_secs: u64,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            enabled: false,
            address: "127.0.0.1:143".into(),
            tls: ImapTls::None,
            ca_file: None,
            server_name: None,
            datastore: "messages".into(),
            login: Login::Master,
            master_user: String::new(),
            master_password: String::new(),
            master_separator: "*".into(),
            passwords: BTreeMap::new(),
            timeout_secs: 10,
            poll_secs: 30,
            idle: true,
            idle_users: 1000,
            pool_per_user: 2,
            idle_secs: 60,
        }
    }
}

impl ImapConfig {
    /// What must hold for the configuration to be used.
    pub fn check(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.address.trim().is_empty() {
            return Err("[imap] address is empty".into());
        }
        if self.login == Login::Master && (self.master_user.is_empty() || self.master_password.is_empty()) {
            return Err("[imap] login = \"master\" needs master_user and master_password".into());
        }
        self.security().map(|_| ())
    }

    /// How connections are secured, with the trusted CAs loaded (an error names the file).
    pub fn security(&self) -> Result<Security, String> {
        if self.tls == ImapTls::None {
            return Ok(Security::Plain);
        }
        let ca = self.ca_file.clone().unwrap_or_else(|| crate::imap::tls::SYSTEM_CA_BUNDLE.into());
        let host = match self.address.rsplit_once(':') {
            Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
            None => self.address.as_str(),
        };
        let client =
            TlsClient::new(&ca, self.server_name.as_deref().unwrap_or(host)).map_err(|e| format!("[imap] {e}"))?;
        Ok(match self.tls {
            ImapTls::Imaps => Security::Imaps(client),
            _ => Security::StartTls(client),
        })
    }

    /// The login name and password for `user`.
    pub(crate) fn credentials(&self, user: &str) -> Result<(String, String), ImapError> {
        match self.login {
            Login::Master => {
                Ok((format!("{user}{}{}", self.master_separator, self.master_user), self.master_password.clone()))
            }
            Login::Users => match self.passwords.get(user) {
                Some(p) => Ok((user.to_string(), p.clone())),
                None => Err(ImapError::No(format!("no IMAP password configured for {user} ([imap.passwords])"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_and_checks() {
        let master = ImapConfig {
            enabled: true,
            master_user: "syncgate-master".into(),
            master_password: "pw".into(),
            ..ImapConfig::default()
        };
        assert_eq!(master.credentials("alice").unwrap(), ("alice*syncgate-master".into(), "pw".into()));
        assert!(master.check().is_ok());
        assert!(ImapConfig { master_password: String::new(), ..master.clone() }.check().is_err());
        let users = ImapConfig {
            login: Login::Users,
            passwords: [("alice".to_string(), "secret".to_string())].into(),
            ..master
        };
        assert_eq!(users.credentials("alice").unwrap(), ("alice".into(), "secret".into()));
        assert!(matches!(users.credentials("bob"), Err(ImapError::No(_))));
        let parsed: ImapConfig =
            toml::from_str("enabled = true\nlogin = \"users\"\n[passwords]\nalice = \"x\"\n").unwrap();
        assert_eq!(parsed.login, Login::Users);
        assert!(toml::from_str::<ImapConfig>("login = \"guess\"\n").is_err());
    }
}
