//! Device quirks (PROTOCOL.md §11): named runtime switches for real clients' deviations, set by
//! rules keyed by device — DevInf manufacturer/model (case-insensitive, `*` globs) and the
//! HTTP User-Agent (substring). Resolved once per session ([`Quirks::resolve`]) and kept in the
//! session; every switch has a doc line here and a test vector in `quirks_tests.rs`.
//!
//! This module only decides which switches are on; the code that honours a switch lives where
//! the behaviour is (alert, reply, DevInf, the server's choice of encoding). It never touches
//! the store or the transport.

use std::fmt;

use serde::Deserialize;

use crate::codec::Encoding;

/// Defines [`Quirks`] (the switches with their defaults) and [`QuirkRule`] (the match keys plus
/// an optional value per switch) from one list, so a switch cannot exist without its doc line.
macro_rules! quirks {
    ($($(#[doc = $doc:literal])+ $name:ident = $default:literal;)+) => {
        /// The switches in force for one session. `Default` is the behaviour for a device no rule
        /// matches.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Quirks {
            $($(#[doc = $doc])+ pub $name: bool,)+
        }

        impl Default for Quirks {
            fn default() -> Self {
                Quirks { $($name: $default,)+ }
            }
        }

        /// One `[[engine.quirks]]` entry: which devices it matches and the switches it sets
        /// (switches it does not name keep their value). A rule matches when every key it gives
        /// matches; a rule with no key matches every device.
        #[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
        #[serde(deny_unknown_fields, default)]
        pub struct QuirkRule {
            /// DevInf `Man`, case-insensitive; `*` matches any run of characters.
            pub manufacturer: Option<String>,
            /// DevInf `Mod`, case-insensitive; `*` matches any run of characters.
            pub model: Option<String>,
            /// A substring of the HTTP User-Agent header (case-insensitive).
            pub user_agent: Option<String>,
            $($(#[doc = $doc])+ pub $name: Option<bool>,)+
        }

        impl Quirks {
            /// Every switch by name with its value (for logs and tests).
            pub fn switches(&self) -> Vec<(&'static str, bool)> {
                vec![$((stringify!($name), self.$name),)+]
            }

            fn set(&mut self, rule: &QuirkRule) {
                $(if let Some(on) = rule.$name { self.$name = on; })+
            }
        }
    };
}

quirks! {
    /// Never send Replace during a slow sync (libsynthesis `<noreplaceinslowsync>`, PROTOCOL.md
    /// §3.4): syncgate's slow sync only sends Adds for items the client lacks, so this holds for
    /// every device; the switch records the requirement.
    no_replace_in_slow_sync = false;
    /// One Status per Add/Replace/Delete/Copy/Move command with a list of SourceRefs instead of
    /// one per item (Horde `omitIndividualSyncStatus`, PROTOCOL.md §2 notes).
    status_per_command = false;
    /// The DataStore SourceRef in the server's DevInf and the Source of the server's Alert and
    /// Sync echo the client's exact alerted string (path and CGI; newer Nokias need it, §7.1);
    /// off: the configured datastore name.
    echo_datastore_string = true;
    /// Answer in XML whatever the request's encoding.
    force_xml = false;
    /// Answer in WBXML whatever the request's encoding (wins over `force_xml`).
    force_wbxml = false;
    /// An empty Target LocURI in Alert or Sync names the datastore by its Source LocURI
    /// (SonyEricsson C510, §11.3); off: an empty Target is an unknown datastore (404).
    empty_target_uses_source = false;
}

/// What identifies the device when its quirks are resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// DevInf `Man` and `Mod` (stored, or Put in this session's first package).
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    /// The HTTP User-Agent of the first message.
    pub user_agent: Option<String>,
}

/// The built-in rules, applied before the configured ones (`engine.default_quirks = false`
/// turns them off). Only quirks the engine honours are here:
///
/// * SonyEricsson C510 (DevInf `Sony*Ericsson*` / `C510*`, or User-Agent `SonyEricssonC510`):
///   `empty_target_uses_source` (§11.3).
/// * Nokia (DevInf `Nokia*`): `echo_datastore_string` (already the default; the rule keeps it on
///   for Nokias if a configured catch-all rule turns it off, §7.1).
pub fn default_rules() -> Vec<QuirkRule> {
    vec![
        QuirkRule {
            manufacturer: Some("Sony*Ericsson*".into()),
            model: Some("C510*".into()),
            empty_target_uses_source: Some(true),
            ..Default::default()
        },
        QuirkRule {
            user_agent: Some("SonyEricssonC510".into()),
            empty_target_uses_source: Some(true),
            ..Default::default()
        },
        QuirkRule { manufacturer: Some("Nokia*".into()), echo_datastore_string: Some(true), ..Default::default() },
    ]
}

impl Quirks {
    /// The switches for `device`: the defaults, then every matching rule in order (later rules
    /// win). Returns the quirks and how many rules matched.
    pub fn resolve<'a>(rules: impl IntoIterator<Item = &'a QuirkRule>, device: &DeviceIdentity) -> (Quirks, usize) {
        let mut quirks = Quirks::default();
        let mut matched = 0;
        for rule in rules.into_iter().filter(|r| r.matches(device)) {
            quirks.set(rule);
            matched += 1;
        }
        (quirks, matched)
    }

    /// The encoding to answer in, given the request's.
    pub fn reply_encoding(&self, request: Encoding) -> Encoding {
        if self.force_wbxml {
            Encoding::Wbxml
        } else if self.force_xml {
            Encoding::Xml
        } else {
            request
        }
    }
}

/// The switches that differ from the defaults, `name=value` separated by commas ("none").
impl fmt::Display for Quirks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = Quirks::default().switches();
        let changed: Vec<String> = self
            .switches()
            .into_iter()
            .zip(base)
            .filter(|((_, on), (_, default))| on != default)
            .map(|((name, on), _)| format!("{name}={on}"))
            .collect();
        if changed.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&changed.join(","))
        }
    }
}

impl QuirkRule {
    /// Whether every key the rule gives matches `device` (an unknown value never matches).
    pub fn matches(&self, device: &DeviceIdentity) -> bool {
        let glob_ok = |pattern: &Option<String>, value: &Option<String>| match (pattern, value) {
            (None, _) => true,
            (Some(p), Some(v)) => glob(&p.to_lowercase(), &v.trim().to_lowercase()),
            (Some(_), None) => false,
        };
        let ua_ok = match (&self.user_agent, &device.user_agent) {
            (None, _) => true,
            (Some(p), Some(ua)) => ua.to_lowercase().contains(&p.to_lowercase()),
            (Some(_), None) => false,
        };
        glob_ok(&self.manufacturer, &device.manufacturer) && glob_ok(&self.model, &device.model) && ua_ok
    }
}

/// `*`-glob match of the whole of `text` (both already lower-cased).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(mut tail) = text.strip_prefix(head) else { return false };
            loop {
                if glob(rest, tail) {
                    return true;
                }
                let mut chars = tail.chars();
                if chars.next().is_none() {
                    return false;
                }
                tail = chars.as_str();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(man: &str, model: &str, ua: &str) -> DeviceIdentity {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        DeviceIdentity { manufacturer: opt(man), model: opt(model), user_agent: opt(ua) }
    }

    #[test]
    fn globs_are_case_insensitive_and_anchored() {
        assert!(glob("sony*ericsson*", "sony ericsson mobile communications ab"));
        assert!(glob("c510*", "c510"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("c510", "c510a"));
        assert!(!glob("nokia*", "a nokia"));
    }

    #[test]
    fn default_rules_pick_the_c510_by_devinf_or_user_agent() {
        let rules = default_rules();
        let (q, n) = Quirks::resolve(&rules, &device("SonyEricsson", "C510", ""));
        assert!(q.empty_target_uses_source && n == 1, "{q:?}");
        let (q, _) = Quirks::resolve(&rules, &device("", "", "SonyEricssonC510/R1FA035 Profile/MIDP-2.1"));
        assert!(q.empty_target_uses_source);
        let (q, n) = Quirks::resolve(&rules, &device("SonyEricsson", "K800i", ""));
        assert_eq!((q, n), (Quirks::default(), 0));
        let (q, _) = Quirks::resolve(&rules, &device("", "", ""));
        assert_eq!(q, Quirks::default());
        assert_eq!(q.to_string(), "none");
    }

    #[test]
    fn later_rules_win_and_unnamed_switches_stay() {
        let rules = vec![
            QuirkRule { status_per_command: Some(true), force_xml: Some(true), ..Default::default() },
            QuirkRule { user_agent: Some("funambol".into()), force_xml: Some(false), ..Default::default() },
        ];
        let (q, n) = Quirks::resolve(&rules, &device("", "", "Funambol SyncML Client"));
        assert_eq!(n, 2);
        assert!(q.status_per_command && !q.force_xml);
        assert_eq!(q.to_string(), "status_per_command=true");
        assert_eq!(q.reply_encoding(Encoding::Wbxml), Encoding::Wbxml);
        let forced = Quirks { force_xml: true, ..Default::default() };
        assert_eq!(forced.reply_encoding(Encoding::Wbxml), Encoding::Xml);
        let forced = Quirks { force_wbxml: true, force_xml: true, ..Default::default() };
        assert_eq!(forced.reply_encoding(Encoding::Xml), Encoding::Wbxml);
    }

    #[test]
    fn rules_parse_from_toml_and_reject_unknown_switches() {
        let rule: QuirkRule =
            toml::from_str("manufacturer = \"Nokia*\"\nmodel = \"E*\"\nstatus_per_command = true\n").unwrap();
        assert_eq!(rule.manufacturer.as_deref(), Some("Nokia*"));
        assert_eq!(rule.status_per_command, Some(true));
        assert_eq!(rule.force_xml, None);
        assert!(toml::from_str::<QuirkRule>("status_per_item = true\n").is_err());
    }
}
