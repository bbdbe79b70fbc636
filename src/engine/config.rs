//! Engine configuration: datastores, authentication policy and device quirk rules (deserialised
//! from the `[engine]` part of the configuration file; every field has a default).

use serde::Deserialize;

use crate::engine::conflict::ConflictPolicy;
use crate::engine::quirks::{self, QuirkRule};

/// What the engine needs to know from the configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// The datastores clients may sync, by the name they alert.
    pub datastores: Vec<DatastoreConfig>,
    pub auth: AuthConfig,
    /// MaxMsgSize the server advertises and assumes for clients that send none.
    pub max_msg_size: u64,
    /// MaxObjSize the server advertises.
    pub max_obj_size: u64,
    /// Apply the built-in device quirk rules ([`quirks::default_rules`]) before `quirks`.
    pub default_quirks: bool,
    /// Device quirk rules (`[[engine.quirks]]`), applied in order after the built-in ones.
    pub quirks: Vec<QuirkRule>,
    /// Operator limits on what devices get (`[[engine.limits]]`, partial sync): every rule that
    /// matches a device's class and the datastore applies, the strictest part wins.
    pub limits: Vec<DeviceLimit>,
    /// Links to whole objects for devices that keep details only (`[engine.links]`).
    pub links: LinkConfig,
}

/// An operator limit for a class of devices (partial sync, issue 8).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeviceLimit {
    /// The device class as its DevInf `DevTyp` says (`phone`, `pda`, `smartphone`,
    /// `workstation`…; case-insensitive); absent: every device.
    #[serde(default)]
    pub dev_typ: Option<String>,
    /// The datastore it applies to; absent: all.
    #[serde(default)]
    pub datastore: Option<String>,
    /// At most this many bytes of content per item: message text cut (marked), larger files as
    /// details plus link.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Details plus link instead of file bodies and message text.
    #[serde(default)]
    pub link: bool,
    /// Messages with their headers only.
    #[serde(default)]
    pub headers_only: bool,
    /// Leave attachments out of messages.
    #[serde(default)]
    pub no_attachments: bool,
}

impl DeviceLimit {
    /// Whether the rule applies to a device of class `dev_typ` syncing `datastore`.
    pub fn applies(&self, dev_typ: Option<&str>, datastore: &str) -> bool {
        let class_ok = match &self.dev_typ {
            None => true,
            Some(want) => dev_typ.is_some_and(|d| d.trim().eq_ignore_ascii_case(want.trim())),
        };
        class_ok && self.datastore.as_deref().is_none_or(|d| d == datastore)
    }

    pub fn shape(&self) -> crate::cpm::shape::Shape {
        crate::cpm::shape::Shape {
            link: self.link,
            max_size: self.max_size,
            headers_only: self.headers_only,
            attachments: !self.no_attachments,
            ..Default::default()
        }
    }
}

/// How links to whole objects are made (`cpm::link`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LinkConfig {
    /// The URL devices reach the gateway at (e.g. `https://sync.example.com`); empty: the
    /// scheme and host the device used for the sync.
    pub base_url: String,
    /// Mixed into every user's signing key; changing it revokes every link. May stay empty:
    /// keys are then made from the users' stored credentials alone.
    pub secret: String,
    /// How long a signed link works (days). A device gets fresh links when the items change or
    /// move; with its user's credentials a link works without the signature.
    pub ttl_days: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig { base_url: String::new(), secret: String::new(), ttl_days: 30 }
    }
}

/// One datastore.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DatastoreConfig {
    /// The name clients alert (Target LocURI), e.g. `contacts`.
    pub name: String,
    /// Content types accepted, preferred first, each `type` or `type;version` (e.g.
    /// `text/x-vcard;2.1`).
    pub content_types: Vec<String>,
    /// How a client change colliding with a server change is resolved (PROTOCOL.md §3.6):
    /// `server-wins` (default), `client-wins`, `newer-wins`, `duplicate` or `merge`.
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// Items form a folder tree (DS 1.2 hierarchical sync, PROTOCOL.md §10): DevInf says
    /// `SupportHierarchicalSync`. Parents are kept for every datastore either way.
    #[serde(default)]
    pub hierarchical: bool,
    /// A device's Delete of a folder that still holds items deletes them too (DS 1.2 has no
    /// flag for "recursively" on the wire, so the operator decides per datastore). Default
    /// false: such a Delete is refused with 427 and nothing is lost; the device deletes the
    /// contents first (in the same Sync is fine).
    #[serde(default)]
    pub recursive_delete: bool,
}

/// Authentication policy.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accept `syncml:auth-basic` (otherwise only MD5).
    pub allow_basic: bool,
    /// Accept an MD5 credential hashed with an empty nonce on a device's first contact instead of
    /// answering 401 + Chal and waiting for the retry.
    pub accept_empty_nonce: bool,
    /// Failed authentications of one user before further attempts are refused for
    /// `throttle_seconds` (0 disables throttling).
    pub max_failures: u32,
    pub throttle_seconds: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            datastores: vec![
                DatastoreConfig::new("contacts", &["text/vcard;3.0", "text/x-vcard;2.1"]),
                DatastoreConfig::new("calendar", &["text/calendar;2.0", "text/x-vcalendar;1.0"]),
                DatastoreConfig::new("tasks", &["text/calendar;2.0", "text/x-vcalendar;1.0"]),
                DatastoreConfig::new("notes", &["text/plain;1.0"]),
                // The message storage (PROTOCOL.md §10): folder trees of messages and of files.
                DatastoreConfig {
                    hierarchical: true,
                    ..DatastoreConfig::new(
                        "messages",
                        &["application/vnd.omads-email+xml;1.2", "application/vnd.omads-folder+xml;1.2"],
                    )
                },
                DatastoreConfig {
                    hierarchical: true,
                    ..DatastoreConfig::new(
                        "content",
                        &["application/vnd.omads-file+xml;1.2", "application/vnd.omads-folder+xml;1.2"],
                    )
                },
            ],
            auth: AuthConfig::default(),
            max_msg_size: 1_000_000,
            max_obj_size: 4_000_000,
            default_quirks: true,
            quirks: Vec::new(),
            limits: Vec::new(),
            links: LinkConfig::default(),
        }
    }
}

impl EngineConfig {
    /// The shape the operator's limits impose on a device of class `dev_typ` for `datastore`.
    pub fn limit_shape(&self, dev_typ: Option<&str>, datastore: &str) -> crate::cpm::shape::Shape {
        self.limits
            .iter()
            .filter(|l| l.applies(dev_typ, datastore))
            .fold(crate::cpm::shape::Shape::default(), |acc, l| acc.and(&l.shape()))
    }

    /// The quirk rules in the order they apply: built-in (unless turned off), then configured.
    pub fn quirk_rules(&self) -> Vec<QuirkRule> {
        let builtin = if self.default_quirks { quirks::default_rules() } else { Vec::new() };
        builtin.into_iter().chain(self.quirks.iter().cloned()).collect()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { allow_basic: true, accept_empty_nonce: false, max_failures: 10, throttle_seconds: 60 }
    }
}

impl DatastoreConfig {
    pub fn new(name: &str, content_types: &[&str]) -> DatastoreConfig {
        DatastoreConfig {
            name: name.into(),
            content_types: content_types.iter().map(|s| s.to_string()).collect(),
            conflict_policy: ConflictPolicy::default(),
            hierarchical: false,
            recursive_delete: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn conflict_policy_defaults_to_server_wins_and_is_read() {
        let ds: DatastoreConfig = toml::from_str("name = \"c\"\ncontent_types = []\n").unwrap();
        assert_eq!(ds.conflict_policy, ConflictPolicy::ServerWins);
        let ds: DatastoreConfig =
            toml::from_str("name = \"c\"\ncontent_types = []\nconflict_policy = \"newer-wins\"\n").unwrap();
        assert_eq!(ds.conflict_policy, ConflictPolicy::NewerWins);
        assert!(toml::from_str::<DatastoreConfig>("name = \"c\"\ncontent_types = []\nconflict_policy = \"last\"\n")
            .is_err());
        assert!(toml::from_str::<DatastoreConfig>("name = \"c\"\ncontent_types = []\nconflicts = 1\n").is_err());
    }

    #[test]
    fn example_file_sets_policies() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config/example.toml");
        let config = crate::config::Config::load(&path).unwrap();
        let policies: Vec<ConflictPolicy> = config.engine.datastores.iter().map(|d| d.conflict_policy).collect();
        let mut expected = vec![ConflictPolicy::ServerWins; 6];
        expected[1] = ConflictPolicy::Merge;
        assert_eq!(policies, expected);
    }

    #[test]
    fn example_file_has_a_limit_and_links_and_limits_combine() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config/example.toml");
        let config = crate::config::Config::load(&path).unwrap();
        assert_eq!(config.engine.links, LinkConfig::default());
        let e = &config.engine;
        assert_eq!(e.limit_shape(Some("PHONE"), "content").max_size, Some(1_048_576));
        assert!(e.limit_shape(Some("phone"), "messages").is_whole());
        assert!(e.limit_shape(Some("workstation"), "content").is_whole());
        assert!(e.limit_shape(None, "content").is_whole(), "no class, no class rule");
        let mut strict = e.clone();
        strict.limits.push(DeviceLimit {
            dev_typ: None,
            datastore: None,
            max_size: Some(100),
            link: true,
            headers_only: false,
            no_attachments: true,
        });
        let shape = strict.limit_shape(Some("phone"), "content");
        assert_eq!((shape.max_size, shape.link, shape.attachments), (Some(100), true, false));
        assert!(toml::from_str::<DeviceLimit>("dev_typ = \"phone\"\nmax_bytes = 1\n").is_err(), "unknown keys refused");
    }

    #[test]
    fn example_file_has_a_quirk_rule() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config/example.toml");
        let config = crate::config::Config::load(&path).unwrap();
        assert!(config.engine.default_quirks);
        assert_eq!(config.engine.quirks.len(), 1);
        let rule = &config.engine.quirks[0];
        assert_eq!((rule.manufacturer.as_deref(), rule.model.as_deref()), (Some("Nokia"), Some("6*")));
        assert_eq!((rule.status_per_command, rule.force_wbxml, rule.force_xml), (Some(true), Some(true), None));
        let rules = config.engine.quirk_rules();
        assert_eq!(rules.len(), crate::engine::quirks::default_rules().len() + 1);
        let nokia = crate::engine::quirks::DeviceIdentity {
            manufacturer: Some("NOKIA".into()),
            model: Some("6300".into()),
            user_agent: None,
        };
        let (q, _) = crate::engine::Quirks::resolve(&rules, &nokia);
        assert!(q.status_per_command && q.force_wbxml && q.echo_datastore_string);
    }

    #[test]
    fn quirk_rules_without_defaults() {
        let cfg: EngineConfig =
            toml::from_str("default_quirks = false\n[[quirks]]\nuser_agent = \"Funambol\"\nforce_xml = true\n")
                .unwrap();
        assert_eq!(cfg.quirk_rules().len(), 1);
        assert!(toml::from_str::<EngineConfig>("[[quirks]]\nforce_json = true\n").is_err());
    }
}
