//! Who is alerted when: a committed change of a user's storage matched against each of the
//! user's devices' preferences and the operator's policy. A pure decision over what the caller
//! read from the store; `server::notifier` applies it.
//!
//! Rules, in order: the device that made the change is not alerted for it; only `automatic`
//! devices are; only for their datastores and folders; only on channels the operator allows. A
//! device with an alert still pending gets the change merged into it (coalescing: many changes,
//! one alert). A new alert is due after the coalescing window, not before the minimum interval
//! since the device's last alert, not inside the device's quiet hours, and not while the device
//! has had its maximum of alerts in the last hour.

use serde::Deserialize;

use crate::notify::prefs::{Channel, Mode, SyncPrefs};
use crate::notify::schedule::{time_zone, Window};
use crate::store::alerts::AlertRecord;

/// The operator's policy (`[notify.policy]` in the configuration).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Changes within this window after the first one go into the same alert.
    pub coalesce_ms: u64,
    /// At least this long between two alerts to one device.
    pub min_interval_secs: u64,
    /// No alerts in this daily window of the device's time zone (e.g. `"22:00-07:00"`); they wait
    /// for its end.
    pub quiet_hours: Option<String>,
    /// At most this many alerts per device in any hour.
    pub max_per_hour: u32,
    /// The channels alerts may use.
    pub channels: Vec<Channel>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            coalesce_ms: 100,
            min_interval_secs: 60,
            quiet_hours: None,
            max_per_hour: 20,
            channels: vec![Channel::Longpoll, Channel::Webhook, Channel::Sms],
        }
    }
}

impl Policy {
    /// Checks what the configuration cannot express by its types.
    pub fn check(&self) -> Result<(), String> {
        if let Some(q) = &self.quiet_hours {
            if Window::parse(q).is_none() {
                return Err(format!("quiet_hours {q:?} is not \"HH:MM-HH:MM\""));
            }
        }
        if self.max_per_hour == 0 {
            return Err("max_per_hour must be at least 1".into());
        }
        Ok(())
    }

    /// The earliest a new alert to a device may go: not before `earliest`, after the minimum
    /// interval since `last_sent`, outside quiet hours, within the hourly maximum (`sent`: the
    /// times the device's alerts went out, any order).
    pub fn due(&self, prefs: &SyncPrefs, earliest: i64, sent: &[i64]) -> i64 {
        let mut due = earliest;
        if let Some(last) = sent.iter().max() {
            due = due.max(last.saturating_add(self.min_interval_secs as i64 * 1000));
        }
        // The hourly maximum: wait until the oldest of the last `max_per_hour` is an hour old.
        let mut recent: Vec<i64> = sent.iter().copied().filter(|t| *t > due - 3_600_000).collect();
        if recent.len() >= self.max_per_hour as usize {
            recent.sort_unstable();
            let oldest_that_counts = recent[recent.len() - self.max_per_hour as usize];
            due = due.max(oldest_that_counts + 3_600_000);
        }
        if let (Some(window), Some(tz)) =
            (self.quiet_hours.as_deref().and_then(Window::parse), time_zone(&prefs.time_zone))
        {
            if let Some(end) = window.ends_after(&tz, due) {
                due = end;
            }
        }
        due
    }
}

/// A committed change, as the notifier sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeEvent {
    pub datastore: String,
    /// The device that made it (`None`: the service).
    pub origin_device: Option<String>,
    /// When it was committed (ms).
    pub at: i64,
}

/// One device of the user, as the decision needs it.
#[derive(Debug)]
pub struct DeviceView<'a> {
    pub device_id: &'a str,
    pub prefs: &'a SyncPrefs,
    /// Its pending alert, if any.
    pub pending: Option<&'a AlertRecord>,
    /// When its alerts of the last hour (at least) went out.
    pub sent: &'a [i64],
    /// Whether the change lies in one of the device's folders (true when it names none).
    pub in_folders: bool,
}

/// What to do for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not alerted, and why.
    Ignore(&'static str),
    /// A new alert for these datastores (empty: all), due then.
    New { datastores: Vec<String>, due: i64 },
    /// The pending alert absorbs the change; its datastores become these.
    Merge { datastores: Vec<String> },
}

/// The decision for one device about one change.
pub fn decide(policy: &Policy, event: &ChangeEvent, device: &DeviceView<'_>) -> Decision {
    if event.origin_device.as_deref() == Some(device.device_id) {
        return Decision::Ignore("its own change");
    }
    let prefs = device.prefs;
    if prefs.mode != Mode::Automatic {
        return Decision::Ignore("not automatic");
    }
    if !prefs.covers_datastore(&event.datastore) {
        return Decision::Ignore("another datastore");
    }
    if !device.in_folders {
        return Decision::Ignore("outside its folders");
    }
    match prefs.channel {
        Some(c) if policy.channels.contains(&c) => {}
        _ => return Decision::Ignore("channel not allowed"),
    }
    let wanted = vec![event.datastore.clone()];
    if let Some(pending) = device.pending {
        return Decision::Merge { datastores: union(&pending.datastores, &wanted) };
    }
    let due = policy.due(prefs, event.at.saturating_add(policy.coalesce_ms as i64), device.sent);
    Decision::New { datastores: wanted, due }
}

/// Datastore lists merged; empty means all, and stays all.
pub fn union(a: &[String], b: &[String]) -> Vec<String> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut out = a.to_vec();
    for d in b {
        if !out.contains(d) {
            out.push(d.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::alerts::AlertState;
    use crate::store::UserId;

    fn prefs(json: &str) -> SyncPrefs {
        SyncPrefs::parse(json).unwrap()
    }

    fn event(origin: Option<&str>) -> ChangeEvent {
        ChangeEvent { datastore: "messages".into(), origin_device: origin.map(str::to_string), at: 1_000_000 }
    }

    fn view<'a>(id: &'a str, p: &'a SyncPrefs, pending: Option<&'a AlertRecord>, sent: &'a [i64]) -> DeviceView<'a> {
        DeviceView { device_id: id, prefs: p, pending, sent, in_folders: true }
    }

    #[test]
    fn who_is_alerted() {
        let policy = Policy::default();
        let auto = prefs(r#"{"mode":"automatic","channel":"longpoll"}"#);
        let only_content = prefs(r#"{"mode":"automatic","channel":"longpoll","datastores":["content"]}"#);
        let sched = prefs(r#"{"mode":"scheduled","channel":"longpoll","schedule":{"every_minutes":5}}"#);
        assert_eq!(
            decide(&policy, &event(Some("b")), &view("b", &auto, None, &[])),
            Decision::Ignore("its own change")
        );
        assert_eq!(
            decide(&policy, &event(Some("b")), &view("a", &auto, None, &[])),
            Decision::New { datastores: vec!["messages".into()], due: 1_000_100 }
        );
        assert_eq!(decide(&policy, &event(None), &view("a", &sched, None, &[])), Decision::Ignore("not automatic"));
        assert_eq!(
            decide(&policy, &event(None), &view("a", &only_content, None, &[])),
            Decision::Ignore("another datastore")
        );
        let outside = DeviceView { in_folders: false, ..view("a", &auto, None, &[]) };
        assert_eq!(decide(&policy, &event(None), &outside), Decision::Ignore("outside its folders"));
        let no_sms = Policy { channels: vec![Channel::Longpoll], ..Policy::default() };
        let sms = prefs(r#"{"mode":"automatic","channel":"sms","address":"+49"}"#);
        assert_eq!(decide(&no_sms, &event(None), &view("a", &sms, None, &[])), Decision::Ignore("channel not allowed"));
        let pending = AlertRecord {
            id: 1,
            user: UserId(1),
            user_name: "u".into(),
            device_id: "a".into(),
            datastores: vec!["content".into()],
            reason: "change".into(),
            created: 0,
            due: 5,
            state: AlertState::Pending,
            attempts: 0,
            sent: None,
            error: None,
        };
        assert_eq!(
            decide(&policy, &event(None), &view("a", &auto, Some(&pending), &[])),
            Decision::Merge { datastores: vec!["content".into(), "messages".into()] }
        );
    }

    #[test]
    fn due_times_follow_the_policy() {
        let auto = prefs(r#"{"mode":"automatic","channel":"longpoll"}"#);
        let p = Policy { min_interval_secs: 60, max_per_hour: 3, ..Policy::default() };
        assert_eq!(p.due(&auto, 1_000, &[]), 1_000);
        // The minimum interval since the last alert.
        assert_eq!(p.due(&auto, 100_000, &[90_000]), 150_000);
        // Three in the last hour already: wait until the oldest is an hour old.
        let sent = [4_000_000, 4_100_000, 4_200_000];
        assert_eq!(p.due(&auto, 4_300_000, &sent), 4_000_000 + 3_600_000);
        // Quiet hours in the device's zone: wait for their end.
        let quiet = Policy { quiet_hours: Some("22:00-07:00".into()), ..Policy::default() };
        let at_23 = "2026-11-22T23:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond();
        let at_7 = "2026-11-23T07:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(quiet.due(&auto, at_23, &[]), at_7);
        assert!(Policy { quiet_hours: Some("late".into()), ..Policy::default() }.check().is_err());
        assert_eq!(union(&["a".into()], &[]), Vec::<String>::new(), "all stays all");
    }
}
