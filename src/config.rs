//! The gateway's configuration file (TOML): where to listen, where the data lives, the sync
//! endpoint, sessions, body and decoding limits, the engine's settings and the log filter.
//!
//! Every key has a default, so an empty file (or no file) is a working configuration; unknown
//! keys are rejected by name at every level. [`Config::load`] parses and checks a file; the
//! annotated example `testdata/config/example.toml` lists every key and is parsed by a test.
//! Reads nothing but the file it is given; opens no sockets and no store.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::codec::Limits;
use crate::engine::EngineConfig;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the HTTP server binds (`127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Directory holding the SQLite database `syncgate.db` (`./syncgate-data`).
    pub data_dir: PathBuf,
    /// Path of the SyncML endpoint clients POST to (`/sync`).
    pub sync_path: String,
    /// Base URL clients reach the server under (`https://sync.example.com`, perhaps with a path
    /// prefix), used to build the RespURI; when unset, `http://` + the request's Host header.
    pub public_url: Option<String>,
    /// Seconds of inactivity after which a session is forgotten.
    pub session_timeout_secs: u64,
    /// Most sessions held at once; beyond that new sessions are refused with HTTP 503.
    pub max_sessions: usize,
    /// Largest request body accepted, in bytes (larger: HTTP 413).
    pub max_body_bytes: usize,
    /// Decoding limits for incoming messages.
    pub limits: Limits,
    /// The sync engine's settings.
    pub engine: EngineConfig,
    /// Log filter in `RUST_LOG` syntax (`info`, `syncgate=debug`, …); `RUST_LOG` overrides it.
    pub log: String,
    /// `text` (human-readable, the default) or `json` (one object per line, for collectors);
    /// `serve --log-format` overrides it.
    pub log_format: LogFormat,
    /// The service API under `/api/v1`.
    pub api: ApiConfig,
    /// Server-initiated sync: notifications, their policy and channels.
    pub notify: NotifyConfig,
    /// The messages datastore in an IMAP server (issue 9).
    pub imap: crate::store::imap::config::ImapConfig,
    /// Prometheus metrics on their own listener (`server::metrics`).
    pub metrics: MetricsConfig,
    /// The operator console under `/console` (`server::console`).
    pub console: ConsoleConfig,
    /// Built-in HTTPS (`server::tls`).
    pub tls: crate::server::tls::TlsConfig,
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where `GET /metrics` is served (`127.0.0.1:9464`); unset: no metrics listener. The
    /// endpoint has no authentication: keep it on loopback or an operator network.
    pub listen: Option<SocketAddr>,
}

/// `[console]`: the operator console (behind `[api] token`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console at `/console` (it also needs `[api] token`).
    pub enabled: bool,
    /// Ended sessions remembered for the console (in memory; gone at a restart).
    pub history: usize,
    /// Messages kept per device while its wire dump is switched on (the oldest go first).
    pub dump_messages: usize,
    /// Bytes kept of one dumped message (longer ones are cut, and say so).
    pub dump_bytes: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { enabled: true, history: 1000, dump_messages: 100, dump_bytes: 64 * 1024 }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[notify]`: server-initiated, automatic and scheduled sync (`server::notifier`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Alert devices at all (their preferences say which and how).
    pub enabled: bool,
    /// The server identifier written in notifications (libsynthesis wants it to be part of the
    /// URL it syncs with).
    pub server_id: String,
    /// A long-poll with nothing to deliver is answered 204 after this long; the device asks
    /// again (that keeps NAT bindings alive).
    pub longpoll_heartbeat_secs: u64,
    /// Deliveries failing for a passing reason are tried this often.
    pub max_attempts: u32,
    /// The operator's policy.
    pub policy: crate::notify::policy::Policy,
    /// The webhook channel.
    pub webhook: crate::server::push::webhook::WebhookConfig,
    /// The SMS channel (WAP Push through Kannel's smsbox); used once `username` is set.
    pub sms: crate::server::push::kannel::KannelConfig,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            enabled: true,
            server_id: "syncgate".into(),
            longpoll_heartbeat_secs: 25,
            max_attempts: 8,
            policy: Default::default(),
            webhook: Default::default(),
            sms: Default::default(),
        }
    }
}

/// The service API (JSON under `/api/v1`, `server::api`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The operator token requests must bring as `Authorization: Bearer TOKEN`; without one the
    /// API is off (every request 403).
    pub token: Option<String>,
    /// The datastore holding users' messages.
    pub messages_datastore: String,
    /// The datastore holding users' content files.
    pub content_datastore: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { token: None, messages_datastore: "messages".into(), content_datastore: "content".into() }
    }
}

/// Name of the SQLite database file inside [`Config::data_dir`].
pub const DATABASE_FILE: &str = "syncgate.db";

/// Why a configuration file could not be used. Every message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {location}{message}")]
    Parse { path: String, location: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./syncgate-data"),
            sync_path: "/sync".into(),
            public_url: None,
            session_timeout_secs: 300,
            max_sessions: 10_000,
            max_body_bytes: Limits::default().max_input_bytes,
            limits: Limits::default(),
            engine: EngineConfig::default(),
            log: "info".into(),
            log_format: LogFormat::Text,
            api: ApiConfig::default(),
            notify: NotifyConfig::default(),
            imap: Default::default(),
            metrics: MetricsConfig::default(),
            console: ConsoleConfig::default(),
            tls: Default::default(),
        }
    }
}

impl Config {
    /// Reads, parses and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        Config::parse(&text).map_err(|e| e.with_path(&shown))
    }

    /// Parses and checks configuration text (errors name the file as `<config>`).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        config.check().map_err(|message| ConfigError::Invalid { path: "<config>".into(), message })?;
        Ok(config)
    }

    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(DATABASE_FILE)
    }

    /// The base of every RespURI when `public_url` is set (without a trailing `/`).
    pub fn public_base(&self) -> Option<&str> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/'))
    }

    /// What is allowed but probably a mistake, one line each (`syncgate check-config`).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.api.token.as_deref().is_some_and(|t| t.starts_with("change-me") || t.len() < 16) {
            w.push("[api] token is a placeholder or shorter than 16 characters".into());
        }
        if self.imap.enabled && self.imap.master_password.starts_with("change-me") {
            w.push("[imap] master_password is a placeholder".into());
        }
        let behind_https_proxy = self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
        if !self.listen.ip().is_loopback() && !behind_https_proxy {
            if self.tls.enabled() {
                w.push(format!(
                    "the plain HTTP listener {} is reachable besides [tls]: bind it to loopback (for a local proxy) or a private network (devices send credentials)",
                    self.listen
                ));
            } else {
                w.push(format!(
                    "listening on {} without TLS: configure [tls] or put a TLS-terminating proxy in front (devices send credentials)",
                    self.listen
                ));
            }
        }
        if self.imap.enabled && self.imap.tls == crate::store::imap::config::ImapTls::None {
            let host = self.imap.address.rsplit_once(':').map_or(self.imap.address.as_str(), |(h, _)| h);
            if !matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") {
                w.push(format!(
                    "[imap] {} is reached without TLS: set tls = \"starttls\" or \"imaps\" unless the network is trusted",
                    self.imap.address
                ));
            }
        }
        if self.tls.enabled() && self.public_url.as_deref().is_some_and(|u| u.starts_with("http://")) {
            w.push("[tls] is on but public_url is http://: RespURIs and links will send devices to plain HTTP".into());
        }
        if self.metrics.listen.is_some_and(|a| !a.ip().is_loopback()) {
            w.push("[metrics] listen is not on loopback: /metrics has no authentication".into());
        }
        if self.engine.auth.allow_basic {
            w.push("[engine.auth] allow_basic = true: basic credentials are only as safe as the transport".into());
        }
        w
    }

    /// Checks what serde cannot: the shape of paths and URLs, non-zero sizes.
    pub fn check(&self) -> Result<(), String> {
        check_sync_path(&self.sync_path)?;
        if let Some(url) = &self.public_url {
            check_public_url(url)?;
        }
        if self.session_timeout_secs == 0 {
            return Err("session_timeout_secs must be at least 1".into());
        }
        if self.max_sessions == 0 {
            return Err("max_sessions must be at least 1".into());
        }
        if self.max_body_bytes == 0 {
            return Err("max_body_bytes must be at least 1".into());
        }
        self.notify.policy.check().map_err(|e| format!("notify.policy: {e}"))?;
        if self.tls.enabled() || self.tls.listen.is_some() || self.tls.key.is_some() {
            self.tls.parts().map_err(|e| e.to_string())?;
        }
        if self.notify.server_id.is_empty() || self.notify.server_id.len() > 255 {
            return Err("notify.server_id must be 1 to 255 bytes".into());
        }
        if !self.notify.sms.username.is_empty() {
            crate::server::push::kannel::KannelEnabler::new(self.notify.sms.clone())
                .map_err(|e| format!("notify.sms: {e}"))?;
        }
        self.imap.check()?;
        if self.imap.enabled && !self.engine.datastores.iter().any(|d| d.name == self.imap.datastore) {
            return Err(format!("[imap] datastore {:?} is not one of the engine's datastores", self.imap.datastore));
        }
        Ok(())
    }
}

impl ConfigError {
    fn with_path(self, path: &str) -> ConfigError {
        let path = path.to_string();
        match self {
            ConfigError::Read { source, .. } => ConfigError::Read { path, source },
            ConfigError::Parse { location, message, .. } => ConfigError::Parse { path, location, message },
            ConfigError::Invalid { message, .. } => ConfigError::Invalid { path, message },
        }
    }
}

/// The parser's message on one line, with the line and column it points at and, for a bad
/// value, the key it belongs to.
fn parse_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let mut location = String::new();
    let mut message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(span) = e.span() {
        // The parser's spans are on character boundaries; `get` keeps a bad one harmless.
        let start = span.start.min(text.len());
        let before = text.get(..start).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        location = format!("line {line}, column {column}: ");
        if let Some(key) = key_of_value_at(text, start) {
            message = format!("{key}: {message}");
        }
    }
    ConfigError::Parse { path: "<config>".into(), location, message }
}

/// The dotted key whose value is at byte `offset` (`limits.max_depth`), when `offset` is right
/// of a `key =` on its line.
fn key_of_value_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let eq = line.find('=').filter(|&eq| line_start + eq < offset)?;
    let key = line[..eq].trim();
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    Some(match section {
        Some(section) => format!("{section}.{key}"),
        None => key.to_string(),
    })
}

/// `sync_path`: absolute, no query or fragment, only characters that need no escaping in a URI
/// or in XML, and not the health check.
fn check_sync_path(path: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("sync_path {path:?} {why}"));
    if !path.starts_with('/') {
        return bad("must start with '/'");
    }
    if path == "/healthz" {
        return bad("is taken by the health check");
    }
    if !path.bytes().all(is_path_byte) {
        return bad("may only contain letters, digits and - . _ ~ / % + , ; = : @");
    }
    Ok(())
}

/// `public_url`: `http://` or `https://`, a host, no query or fragment.
fn check_public_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("public_url {url:?} {why}"));
    let rest = match url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) {
        Some(rest) => rest,
        None => return bad("must start with http:// or https://"),
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return bad("has no host");
    }
    if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) {
        return bad("has an invalid host");
    }
    if !rest.bytes().all(is_path_byte) {
        return bad("may not have a query, a fragment or characters that need escaping");
    }
    Ok(())
}

fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~/%+,;=:@".contains(&b)
}

impl fmt::Display for Config {
    /// A one-line summary for the startup log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "listen={} data_dir={} sync_path={} public_url={} session_timeout={}s max_body={}B",
            self.listen,
            self.data_dir.display(),
            self.sync_path,
            self.public_url.as_deref().unwrap_or("-"),
            self.session_timeout_secs,
            self.max_body_bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_the_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./syncgate-data"));
        assert_eq!(config.sync_path, "/sync");
        assert_eq!(config.public_url, None);
        assert_eq!(config.session_timeout_secs, 300);
        assert_eq!(config.max_body_bytes, Limits::default().max_input_bytes);
        assert_eq!(config.log, "info");
        assert_eq!(config.database_path(), PathBuf::from("./syncgate-data/syncgate.db"));
    }

    #[test]
    fn partial_sections_keep_the_other_defaults() {
        let config =
            Config::parse("listen = \"0.0.0.0:9000\"\n[limits]\nmax_depth = 12\n[engine.auth]\nallow_basic = false\n")
                .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.limits.max_depth, 12);
        assert_eq!(config.limits.max_elements, Limits::default().max_elements);
        assert!(!config.engine.auth.allow_basic);
        assert_eq!(config.engine.datastores, EngineConfig::default().datastores);
    }

    #[test]
    fn unknown_keys_are_rejected_by_name_at_every_level() {
        for (text, key, line) in [
            ("listen = \"127.0.0.1:1\"\nlisten_port = 8\n", "listen_port", 2),
            ("[limits]\nmax_deepness = 3\n", "max_deepness", 2),
            ("[engine]\n[engine.auth]\nallow_md4 = true\n", "allow_md4", 3),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
            assert!(err.contains(&format!("line {line},")), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn bad_values_are_explained() {
        for (text, needle) in [
            ("listen = \"localhost\"", "listen: invalid socket address"),
            ("session_timeout_secs = -1", "session_timeout_secs: "),
            ("[limits]\nmax_depth = \"deep\"", "line 2, column 13: limits.max_depth: "),
            ("sync_path = \"sync\"", "must start with '/'"),
            ("sync_path = \"/sync?x=1\"", "may only contain"),
            ("sync_path = \"/healthz\"", "health check"),
            ("public_url = \"ftp://x\"", "http://"),
            ("public_url = \"https://x/?a=b\"", "query"),
            ("session_timeout_secs = 0", "at least 1"),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn public_base_drops_the_trailing_slash() {
        let config = Config::parse("public_url = \"https://sync.example.com/dav/\"").unwrap();
        assert_eq!(config.public_base(), Some("https://sync.example.com/dav"));
    }

    #[test]
    fn load_names_the_file() {
        let err = Config::load(Path::new("/nonexistent/syncgate.toml")).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/syncgate.toml: "), "{err}");
    }

    #[test]
    fn warnings_about_plain_http_know_about_tls() {
        let public = Config::parse("listen = \"0.0.0.0:8080\"\n").unwrap();
        assert!(
            public.warnings().iter().any(|w| w.contains("without TLS: configure [tls]")),
            "{:?}",
            public.warnings()
        );
        let both = Config::parse(
            "listen = \"0.0.0.0:8080\"\n[tls]\nlisten = \"0.0.0.0:8443\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        )
        .unwrap();
        assert!(both.warnings().iter().any(|w| w.contains("reachable besides [tls]")), "{:?}", both.warnings());
        let http_url = Config::parse(
            "public_url = \"http://sync.example.com\"\n[tls]\nlisten = \"0.0.0.0:8443\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        )
        .unwrap();
        assert!(http_url.warnings().iter().any(|w| w.contains("public_url is http://")), "{:?}", http_url.warnings());
        let local = Config::parse("listen = \"127.0.0.1:8080\"\n[metrics]\nlisten = \"0.0.0.0:9464\"\n").unwrap();
        let w = local.warnings();
        assert!(
            w.contains(&"[metrics] listen is not on loopback: /metrics has no authentication".to_string()),
            "{w:?}"
        );
        assert!(!w.iter().any(|w| w.contains("TLS")), "a loopback listener needs no TLS: {w:?}");
        assert!(Config::parse("[tls]\ncert = \"c.pem\"\n").is_err(), "cert without listen and key");
        let imap = "[imap]\nenabled = true\naddress = \"imap.example.com:143\"\nmaster_user = \"m\"\nmaster_password = \"p\"\n";
        let remote = Config::parse(imap).unwrap();
        assert!(remote.warnings().iter().any(|w| w.contains("without TLS: set tls")), "{:?}", remote.warnings());
        let missing_ca = format!("{imap}tls = \"imaps\"\nca_file = \"/nonexistent/ca.pem\"\n");
        let e = Config::parse(&missing_ca).expect_err("an unreadable CA file is refused at start");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    /// The example's commented-out `[tls]` block, uncommented, parses too; its metrics and
    /// console blocks are read as written.
    #[test]
    fn example_file_tls_metrics_and_console_blocks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config/example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut in_tls = false;
        let uncommented: String = text
            .lines()
            .map(|l| {
                if l == "# [tls]" {
                    in_tls = true;
                } else if !l.starts_with("# ") {
                    in_tls = false;
                }
                if in_tls {
                    format!("{}\n", &l[2..])
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let config = Config::parse(&uncommented).unwrap();
        assert_eq!(config.tls.listen.map(|a| a.to_string()).as_deref(), Some("0.0.0.0:8443"));
        assert!(config.tls.enabled() && config.tls.parts().is_ok());
        assert_eq!(config.metrics.listen.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(
            config.console,
            ConsoleConfig { enabled: true, history: 1000, dump_messages: 100, dump_bytes: 65536 }
        );
        assert!(!Config::parse(&text).unwrap().tls.enabled(), "commented out as shipped");
    }

    /// The annotated example lists every key, with values other than the defaults where that
    /// proves the key is read.
    #[test]
    fn example_file_parses_with_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config/example.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/syncgate"));
        assert_eq!(config.sync_path, "/sync");
        assert_eq!(config.public_base(), Some("https://sync.example.com"));
        assert_eq!(config.session_timeout_secs, 300);
        assert_eq!(config.max_sessions, 10_000);
        assert_eq!(config.max_body_bytes, 16 << 20);
        assert_eq!(config.limits, Limits::default());
        let names: Vec<&str> = config.engine.datastores.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["contacts", "calendar", "tasks", "notes", "messages", "content"]);
        assert_eq!(config.engine.datastores[0].content_types, ["text/vcard;3.0", "text/x-vcard;2.1"]);
        let tree: Vec<bool> = config.engine.datastores.iter().map(|d| d.hierarchical).collect();
        assert_eq!(tree, [false, false, false, false, true, true]);
        assert!(config.engine.datastores.iter().all(|d| !d.recursive_delete));
        assert_eq!(config.api.token.as_deref(), Some("change-me-to-a-long-random-string"));
        assert_eq!(
            (config.api.messages_datastore.as_str(), config.api.content_datastore.as_str()),
            ("messages", "content")
        );
        assert_eq!((config.engine.max_msg_size, config.engine.max_obj_size), (1_000_000, 4_000_000));
        assert!(config.engine.auth.allow_basic && !config.engine.auth.accept_empty_nonce);
        assert_eq!((config.engine.auth.max_failures, config.engine.auth.throttle_seconds), (10, 60));
        assert_eq!(config.log, "info,syncgate::server=debug");
        let n = &config.notify;
        assert!(n.enabled && n.server_id == "syncgate" && n.longpoll_heartbeat_secs == 25 && n.max_attempts == 8);
        assert_eq!((n.policy.coalesce_ms, n.policy.min_interval_secs, n.policy.max_per_hour), (100, 60, 20));
        assert_eq!(n.policy.quiet_hours.as_deref(), Some("22:00-07:00"));
        assert_eq!(n.webhook.secret.as_deref(), Some("change-me-too"));
        assert_eq!((n.sms.username.as_str(), n.sms.from.as_str()), ("syncgate", "4711"));
    }
}
