//! A device's sync preferences: whether the server alerts it when the user's storage changes
//! (`automatic`), at set times (`scheduled`) or never (`manual`); which datastores and folders
//! that applies to; the schedule in the user's time zone; the push channel and its address; the
//! SAN form the device takes; its standing record filters per datastore (partial sync). Set through the service API and `syncgate user prefs`, stored as
//! JSON by the store (`store::alerts`).
//!
//! ```json
//! {"mode": "automatic", "channel": "longpoll", "datastores": ["messages"]}
//! {"mode": "scheduled", "schedule": {"daily": "24:00"}, "time_zone": "Europe/Berlin",
//!  "channel": "sms", "address": "+491701234567"}
//! {"mode": "scheduled", "schedule": {"every_minutes": 30}, "channel": "webhook"}
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// A push channel, as device preferences and the operator policy name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// `GET /notify` held open by the device on the gateway.
    Longpoll,
    /// An HTTP POST to the operator's push service.
    Webhook,
    /// WAP Push over SMS through Kannel.
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Longpoll => "longpoll",
            Channel::Webhook => "webhook",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        match text {
            "longpoll" => Some(Channel::Longpoll),
            "webhook" => Some(Channel::Webhook),
            "sms" => Some(Channel::Sms),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the server alerts the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// On every change made elsewhere (coalesced, within the operator's policy).
    Automatic,
    /// At the times of its schedule.
    Scheduled,
    /// Never: the device syncs when its user says so.
    Manual,
}

/// When a scheduled device is alerted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Every day at `HH:MM` in the device's time zone (`24:00` is midnight at the day's end).
    Daily(String),
    /// Every N minutes.
    EveryMinutes(u32),
}

/// The SAN form a device takes (PROTOCOL.md §8.1, §8.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SanForm {
    /// The DS 1.2 binary notification.
    #[default]
    #[serde(rename = "1.2")]
    V12,
    /// A SyncML 1.1 message with an Alert.
    #[serde(rename = "1.1")]
    V11,
}

/// A device's preferences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncPrefs {
    pub mode: Mode,
    /// Server datastore names the alerts are for; empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datastores: Vec<String>,
    /// Folder GUIDs: only changes inside them (at any depth) alert; empty: everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// IANA time zone of the schedule and of quiet hours (default UTC).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// How alerts reach the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The MSISDN for `sms`, a URL for `webhook` (else the configured one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default)]
    pub san: SanForm,
    /// How the SAN digest is keyed, when the device does not use the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestPrefs>,
    /// Per datastore: the record filter applied when the device sends none in its Alert
    /// (partial sync, issue 8).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub filters: std::collections::BTreeMap<String, DatastoreFilter>,
}

/// A device's standing filter for one datastore.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatastoreFilter {
    /// A `syncml:filtertype-cgi` query; dates may be relative to the sync (`SINCE&EQ;-30d`).
    /// Empty: every item.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub record: String,
    /// INCLUSIVE (adds to what the device has) instead of EXCLUSIVE (the device's whole set).
    #[serde(default)]
    pub inclusive: bool,
    /// How the items travel: `{"link": true}` (details plus link), `{"max_size": N}`,
    /// `{"headers_only": true}`, `{"attachments": false}` (`cpm::shape::Shape`).
    #[serde(default, skip_serializing_if = "crate::cpm::shape::Shape::is_whole")]
    pub shape: crate::cpm::shape::Shape,
}

/// What keys a notification's digest (PROTOCOL.md §8.2: implementations disagree, so each part
/// can be set per device). By default: `B64(H(user:password))` of the user's sync credentials
/// and the last nonce the server gave the device, as libsynthesis checks them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestPrefs {
    /// With `password`: hash `identity:password` (a server identifier and the password the
    /// device was given for notifications) instead of the user's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A fixed nonce (e.g. `Synthesis`, `SyncEvolution`) instead of the device's last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

fn utc() -> String {
    "UTC".into()
}

/// Why preferences cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sync preferences: {0}")]
pub struct PrefsError(pub String);

impl SyncPrefs {
    /// Parses and checks preferences (JSON).
    pub fn parse(text: &str) -> Result<SyncPrefs, PrefsError> {
        let p: SyncPrefs = serde_json::from_str(text).map_err(|e| PrefsError(e.to_string()))?;
        p.check()?;
        Ok(p)
    }

    pub fn to_json(&self) -> String {
        // Plain data: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Everything that must hold for the preferences to be used.
    pub fn check(&self) -> Result<(), PrefsError> {
        let bad = |m: String| Err(PrefsError(m));
        if self.mode == Mode::Scheduled && self.schedule.is_none() {
            return bad("mode \"scheduled\" needs a schedule ({\"daily\": \"HH:MM\"} or {\"every_minutes\": N})".into());
        }
        if self.mode != Mode::Manual && self.channel.is_none() {
            return bad("a channel is needed to alert the device: \"longpoll\", \"webhook\" or \"sms\"".into());
        }
        if self.channel == Some(Channel::Sms) && self.address.as_deref().is_none_or(|a| a.trim().is_empty()) {
            return bad("channel \"sms\" needs the device's number as \"address\"".into());
        }
        match &self.schedule {
            Some(Schedule::Daily(at)) if crate::notify::schedule::parse_hhmm(at).is_none() => {
                return bad(format!("daily time {at:?} is not HH:MM (00:00 to 24:00)"));
            }
            Some(Schedule::EveryMinutes(0)) => return bad("every_minutes must be at least 1".into()),
            _ => {}
        }
        if let Some(d) = &self.digest {
            if d.identity.is_some() != d.password.is_some() {
                return bad("digest: identity and password go together".into());
            }
        }
        for (ds, f) in &self.filters {
            if f.record.trim().is_empty() {
                continue;
            }
            if let Err(e) = crate::filter::RecordFilter::parse(&f.record) {
                return bad(format!("filter of {ds}: {e}"));
            }
        }
        if crate::notify::schedule::time_zone(&self.time_zone).is_none() {
            return bad(format!(
                "unknown time zone {:?} (an IANA name such as \"Europe/Berlin\", or \"UTC\")",
                self.time_zone
            ));
        }
        Ok(())
    }

    /// Whether changes to `datastore` concern the device.
    pub fn covers_datastore(&self, datastore: &str) -> bool {
        self.datastores.is_empty() || self.datastores.iter().any(|d| d == datastore)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_parse_and_mistakes_are_explained() {
        let p = SyncPrefs::parse(r#"{"mode":"automatic","channel":"longpoll","datastores":["messages"]}"#).unwrap();
        assert!(p.covers_datastore("messages") && !p.covers_datastore("content"));
        assert_eq!(SyncPrefs::parse(&p.to_json()).unwrap(), p);
        let pc = SyncPrefs::parse(
            r#"{"mode":"scheduled","schedule":{"daily":"24:00"},"time_zone":"Europe/Berlin","channel":"sms","address":"+4917012"}"#,
        )
        .unwrap();
        assert_eq!(pc.schedule, Some(Schedule::Daily("24:00".into())));
        for (text, needle) in [
            (r#"{"mode":"scheduled","channel":"longpoll"}"#, "needs a schedule"),
            (r#"{"mode":"automatic"}"#, "channel is needed"),
            (r#"{"mode":"automatic","channel":"sms"}"#, "number"),
            (r#"{"mode":"scheduled","channel":"longpoll","schedule":{"daily":"25:00"}}"#, "HH:MM"),
            (r#"{"mode":"scheduled","channel":"longpoll","schedule":{"every_minutes":0}}"#, "at least 1"),
            (r#"{"mode":"automatic","channel":"longpoll","time_zone":"Mars/Olympus"}"#, "time zone"),
            (r#"{"mode":"sometimes"}"#, "unknown variant"),
            (r#"{"mode":"manual","colour":"red"}"#, "unknown field"),
            (r#"{"mode":"manual","digest":{"identity":"srv"}}"#, "go together"),
            (r#"{"mode":"manual","filters":{"messages":{"record":"READ&IS;1"}}}"#, "filter of messages"),
        ] {
            let e = SyncPrefs::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        assert!(SyncPrefs::parse(r#"{"mode":"manual"}"#).is_ok());
    }
}
