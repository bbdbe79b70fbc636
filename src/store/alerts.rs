//! What server-initiated sync keeps (issue 7): per device its sync preferences (JSON written by
//! `notify::prefs`) with the next scheduled run, and the durable queue of alerts (Server Alerted
//! Notifications to send), with the delivery state of each.
//!
//! A part of [`Store`](crate::store::Store) (a supertrait), kept apart to keep files short. The
//! store only keeps records; deciding who is alerted when is `notify::policy`'s, sending them
//! `server::notifier`'s. Times are Unix milliseconds.

use std::fmt;

use crate::store::{StoreResult, UserId};

/// A device's stored preferences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefsRecord {
    pub user: UserId,
    pub user_name: String,
    pub device_id: String,
    /// The preferences as JSON (`notify::prefs::SyncPrefs`).
    pub prefs: String,
    /// When its schedule fires next (ms), if it has one.
    pub next_run: Option<i64>,
}

/// Where an alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// Waiting for its due time (or for a retry, or for the device's long-poll).
    Pending,
    /// Handed to a push channel, outcome not recorded yet.
    Sending,
    /// The channel took it.
    Sent,
    /// Given up (permanent failure or too many attempts).
    Failed,
    /// Was being sent when the gateway stopped: it may or may not have gone out, and is not
    /// sent again (nothing twice); the next change alerts anew.
    Unknown,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Sending => "sending",
            AlertState::Sent => "sent",
            AlertState::Failed => "failed",
            AlertState::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<AlertState> {
        Some(match text {
            "pending" => AlertState::Pending,
            "sending" => AlertState::Sending,
            "sent" => AlertState::Sent,
            "failed" => AlertState::Failed,
            "unknown" => AlertState::Unknown,
            _ => return None,
        })
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAlert {
    pub user: UserId,
    pub device_id: String,
    /// Server datastore names to sync; empty = all.
    pub datastores: Vec<String>,
    /// Why: `change`, `schedule`, `manual`.
    pub reason: String,
    pub created: i64,
    pub due: i64,
}

/// A queued alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRecord {
    pub id: i64,
    pub user: UserId,
    pub user_name: String,
    pub device_id: String,
    pub datastores: Vec<String>,
    pub reason: String,
    pub created: i64,
    /// When it may go (next retry time after a failure).
    pub due: i64,
    pub state: AlertState,
    pub attempts: u32,
    /// When the channel took it.
    pub sent: Option<i64>,
    /// The last failure.
    pub error: Option<String>,
}

/// Preferences and the alert queue. Every method is one transaction.
pub trait AlertStore {
    /// A device's preferences (`None` when it has none: it is never alerted).
    fn device_prefs(&self, user: UserId, device_id: &str) -> StoreResult<Option<PrefsRecord>>;
    /// Sets (creating the device record when needed) or, with `None`, removes a device's
    /// preferences, with the time its schedule fires next.
    fn set_device_prefs(
        &self,
        user: UserId,
        device_id: &str,
        prefs: Option<&str>,
        next_run: Option<i64>,
    ) -> StoreResult<()>;
    /// The preferences of every device of a user that has some.
    fn user_device_prefs(&self, user: UserId) -> StoreResult<Vec<PrefsRecord>>;
    /// Moves a device's next scheduled run (`None`: none).
    fn set_next_run(&self, user: UserId, device_id: &str, next_run: Option<i64>) -> StoreResult<()>;
    /// Devices (of every user) whose next run is at or before `now`.
    fn due_schedules(&self, now: i64) -> StoreResult<Vec<PrefsRecord>>;
    /// The earliest next run of any device.
    fn next_schedule(&self) -> StoreResult<Option<i64>>;

    /// Queues an alert; returns its id.
    fn enqueue_alert(&self, alert: &NewAlert) -> StoreResult<i64>;
    /// The device's alert that is still pending, if any (changes coalesce into it).
    fn pending_alert(&self, user: UserId, device_id: &str) -> StoreResult<Option<AlertRecord>>;
    /// Writes an alert's datastores, due time, state, attempts, sent time and error.
    fn update_alert(&self, alert: &AlertRecord) -> StoreResult<()>;
    /// Pending alerts due at or before `now`, earliest first, at most `limit`.
    fn due_alerts(&self, now: i64, limit: usize) -> StoreResult<Vec<AlertRecord>>;
    /// The earliest due time of any pending alert.
    fn next_alert_due(&self) -> StoreResult<Option<i64>>;
    /// A device's alerts created at or after `since`, oldest first.
    fn device_alerts(&self, user: UserId, device_id: &str, since: i64) -> StoreResult<Vec<AlertRecord>>;
    /// After a restart: alerts left `Sending` become `Unknown` (never sent twice). Returns how
    /// many.
    fn settle_inflight_alerts(&self) -> StoreResult<usize>;
}
