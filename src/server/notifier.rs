//! Server-initiated sync at run time (issue 7): from a committed change to a Server Alerted
//! Notification on a device's push channel, and the scheduler for scheduled devices.
//!
//! ```text
//! ObservedStore ──StoreEvent──▶ event thread: notify::policy::decide per device
//!                                   │ enqueue / merge (store: durable alert queue)
//!                                   ▼ wake
//!        dispatcher task: due alerts ─▶ SAN (signed) ─▶ PushEnabler (longpoll, webhook, sms)
//!                         due schedules ─▶ alerts, next run
//! ```
//!
//! The clock is injectable ([`Clock`]); times are Unix milliseconds. An alert is marked
//! `sending` before it is handed to its channel and `sent` after, so after a crash it is never
//! sent twice (`store::alerts`); temporary failures are retried with exponential backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::{debug, info, warn};

use crate::engine::DatastoreConfig;
use crate::notify::legacy::{LegacySan, LegacySync};
use crate::notify::policy::{decide, ChangeEvent, Decision, DeviceView, Policy};
use crate::notify::prefs::{Channel, SanForm, SyncPrefs};
use crate::notify::san::{content_type_code, Initiator, San, SanSync, SanVersion, UiMode};
use crate::notify::schedule::{next_run, time_zone};
use crate::proto::{AlertCode, Version};
use crate::server::push::longpoll::LongPoll;
use crate::server::push::{Delivery, PushEnabler, PushError};
use crate::store::alerts::{AlertRecord, AlertState, NewAlert, PrefsRecord};
use crate::store::observed::{ObservedStore, StoreEvent};
use crate::store::{descendants, Origin, Store, StoreError, UserId};

/// Where the time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(ms))
    }

    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The `[notify]` settings the notifier uses.
#[derive(Clone, Debug)]
pub struct NotifierSettings {
    /// The server identifier written in notifications.
    pub server_id: String,
    pub policy: Policy,
    /// Failed deliveries are tried this often before the alert fails.
    pub max_attempts: u32,
    /// The datastores (for the content type each SAN entry names).
    pub datastores: Vec<DatastoreConfig>,
}

/// The notifier, shared by the event thread, the dispatcher task and the long-poll handler.
#[derive(Debug)]
pub struct Notifier {
    store: Arc<dyn Store>,
    settings: NotifierSettings,
    enablers: HashMap<Channel, Arc<dyn PushEnabler>>,
    longpoll: Arc<LongPoll>,
    clock: Arc<dyn Clock>,
    wake: Notify,
    /// Counts alerts by channel and event, once the server set it.
    metrics: std::sync::OnceLock<Arc<crate::server::metrics::Metrics>>,
}

/// A committed change and when it was committed (ms, by the notifier's clock).
pub type TimedEvent = (StoreEvent, i64);

/// Wraps `inner` so that its committed changes reach a notifier, stamped with `clock` at the
/// commit; returns the store for the engine and the receiving end for [`Notifier::start_events`].
pub fn observe(inner: Arc<dyn Store>, clock: Arc<dyn Clock>) -> (Arc<dyn Store>, mpsc::Receiver<TimedEvent>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let listener = Arc::new(move |e: StoreEvent| {
        let at = clock.now_ms();
        if let Ok(tx) = tx.lock() {
            let _ = tx.send((e, at));
        }
    });
    (Arc::new(ObservedStore::new(inner, listener)), rx)
}

impl Notifier {
    pub fn new(
        store: Arc<dyn Store>,
        settings: NotifierSettings,
        enablers: Vec<Arc<dyn PushEnabler>>,
        longpoll: Arc<LongPoll>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Notifier> {
        let enablers = enablers.into_iter().map(|e| (e.channel(), e)).collect();
        Arc::new(Notifier {
            store,
            settings,
            enablers,
            longpoll,
            clock,
            wake: Notify::new(),
            metrics: Default::default(),
        })
    }

    /// Where alert events are counted from now on (set once).
    pub fn set_metrics(&self, metrics: Arc<crate::server::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    fn count(&self, channel: Option<Channel>, event: &'static str) {
        if let Some(m) = self.metrics.get() {
            m.alert(channel.map_or("none", Channel::as_str), event);
        }
    }

    /// The operator's "send it again": the device's pending alert is made due now, or a new
    /// alert for the datastores of `alert` is queued. Returns the id of the alert that will go.
    pub fn resend(&self, alert: &AlertRecord) -> Result<i64, StoreError> {
        let now = self.clock.now_ms();
        let id = match self.store.pending_alert(alert.user, &alert.device_id)? {
            Some(mut pending) => {
                pending.due = now;
                pending.error = None;
                self.store.update_alert(&pending)?;
                pending.id
            }
            None => {
                let channel =
                    self.prefs_of(alert.user, &alert.device_id)?.and_then(|p| SyncPrefs::parse(&p.prefs).ok());
                self.count(channel.and_then(|p| p.channel), "queued");
                self.store.enqueue_alert(&NewAlert {
                    user: alert.user,
                    device_id: alert.device_id.clone(),
                    datastores: alert.datastores.clone(),
                    reason: "operator".into(),
                    created: now,
                    due: now,
                })?
            }
        };
        info!(user = %alert.user_name, device = %alert.device_id, alert = id, "alert resent by an operator");
        self.wake.notify_one();
        Ok(id)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Starts the event thread (it ends when the store's senders are gone).
    pub fn start_events(self: &Arc<Self>, events: mpsc::Receiver<TimedEvent>) {
        let me = self.clone();
        let spawned = std::thread::Builder::new().name("notify-events".into()).spawn(move || {
            for (event, at) in events {
                if let Err(e) = me.on_event(&event, at) {
                    warn!(error = %e, user = event.user.0, "could not decide on alerts for a change");
                }
            }
        });
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start the notification thread: no alerts on changes");
        }
    }

    /// Decides, for each of the user's devices, what a change committed at `now` means; queues
    /// or merges alerts (their creation time is the commit's, so latency counts the queue).
    pub fn on_event(&self, event: &StoreEvent, now: i64) -> Result<(), StoreError> {
        let change = ChangeEvent {
            datastore: event.datastore.clone(),
            origin_device: match &event.origin {
                Origin::Device(d) => Some(d.clone()),
                Origin::Service | Origin::Backend => None,
            },
            at: now,
        };
        let mut woke = false;
        let mut tree: Option<Vec<(String, String)>> = None;
        for rec in self.store.user_device_prefs(event.user)? {
            let Ok(prefs) = SyncPrefs::parse(&rec.prefs) else {
                warn!(device = %rec.device_id, "stored preferences unreadable: device not alerted");
                continue;
            };
            let in_folders = prefs.folders.is_empty() || {
                let tree = match &tree {
                    Some(t) => t,
                    None => tree.insert(self.store.parents(event.user, &event.datastore)?),
                };
                event.items.iter().any(|(guid, parent)| self.inside(tree, guid, parent.as_deref(), &prefs.folders))
            };
            let pending = self.store.pending_alert(event.user, &rec.device_id)?;
            let sent = self.recent_sends(event.user, &rec.device_id, now)?;
            let view = DeviceView {
                device_id: &rec.device_id,
                prefs: &prefs,
                pending: pending.as_ref(),
                sent: &sent,
                in_folders,
            };
            match decide(&self.settings.policy, &change, &view) {
                Decision::Ignore(why) => debug!(device = %rec.device_id, why, "change: device not alerted"),
                Decision::New { datastores, due } => {
                    let id = self.store.enqueue_alert(&NewAlert {
                        user: event.user,
                        device_id: rec.device_id.clone(),
                        datastores,
                        reason: "change".into(),
                        created: now,
                        due,
                    })?;
                    debug!(device = %rec.device_id, alert = id, in_ms = due - now, "alert queued");
                    self.count(prefs.channel, "queued");
                    woke = true;
                }
                Decision::Merge { datastores } => {
                    if let Some(mut p) = pending {
                        p.datastores = datastores;
                        self.store.update_alert(&p)?;
                    }
                }
            }
        }
        if woke {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Whether an item (or, for a deletion, its last known place: unknown, so yes) lies in one
    /// of `folders`.
    fn inside(&self, tree: &[(String, String)], guid: &str, parent: Option<&str>, folders: &[String]) -> bool {
        let Some(parent) = parent else { return true };
        folders.iter().any(|f| f == guid || f == parent || descendants(tree, f).iter().any(|d| d == parent))
    }

    /// When the device's alerts of the last hour went out.
    fn recent_sends(&self, user: UserId, device: &str, now: i64) -> Result<Vec<i64>, StoreError> {
        let since = now - 3_600_000 - self.settings.policy.min_interval_secs as i64 * 1000;
        Ok(self.store.device_alerts(user, device, since)?.into_iter().filter_map(|a| a.sent).collect())
    }

    /// The dispatcher: sends due alerts, fires due schedules, sleeps until the next of either
    /// (or a wake-up), until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        match self.store.settle_inflight_alerts() {
            Ok(0) => {}
            Ok(n) => warn!(alerts = n, "alerts were being sent when the gateway stopped: not sent again"),
            Err(e) => warn!(error = %e, "cannot settle alerts in flight"),
        }
        loop {
            if *stop.borrow() {
                return;
            }
            let wait = match self.clone().tick().await {
                Ok(wait) => wait,
                Err(e) => {
                    warn!(error = %e, "notifier: store failure; trying again in 1 s");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One round: due schedules become alerts, due alerts go out. Returns how long to sleep.
    pub async fn tick(self: Arc<Self>) -> Result<Duration, StoreError> {
        let now = self.clock.now_ms();
        let me = self.clone();
        let due = tokio::task::spawn_blocking(move || -> Result<Vec<AlertRecord>, StoreError> {
            me.fire_schedules(now)?;
            me.store.due_alerts(now, 256)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("notifier task: {e}")))??;
        let mut sends = tokio::task::JoinSet::new();
        for alert in due {
            let me = self.clone();
            sends.spawn(async move { me.send(alert).await });
        }
        while let Some(done) = sends.join_next().await {
            if let Ok(Err(e)) = done {
                warn!(error = %e, "notifier: recording an alert failed");
            }
        }
        let next = [self.store.next_alert_due()?, self.store.next_schedule()?].into_iter().flatten().min();
        let now = self.clock.now_ms();
        Ok(match next {
            Some(t) if t <= now => Duration::ZERO,
            Some(t) => Duration::from_millis((t - now).min(60_000) as u64),
            None => Duration::from_secs(60),
        })
    }

    /// Scheduled devices whose time came get an alert (once, also after a restart that missed
    /// several times) and their next run.
    pub fn fire_schedules(&self, now: i64) -> Result<usize, StoreError> {
        let due = self.store.due_schedules(now)?;
        for rec in &due {
            let Ok(prefs) = SyncPrefs::parse(&rec.prefs) else {
                self.store.set_next_run(rec.user, &rec.device_id, None)?;
                continue;
            };
            let missed = rec.next_run.is_some_and(|t| now - t > 60_000);
            info!(user = %rec.user_name, device = %rec.device_id, missed, "scheduled sync due");
            self.store.enqueue_alert(&NewAlert {
                user: rec.user,
                device_id: rec.device_id.clone(),
                datastores: prefs.datastores.clone(),
                reason: "schedule".into(),
                created: now,
                due: now,
            })?;
            self.count(prefs.channel, "queued");
            self.store.set_next_run(rec.user, &rec.device_id, Self::next_of(&prefs, now))?;
        }
        Ok(due.len())
    }

    /// When preferences fire next after `now` (`None` without a schedule).
    pub fn next_of(prefs: &SyncPrefs, now: i64) -> Option<i64> {
        let tz = time_zone(&prefs.time_zone)?;
        next_run(prefs.schedule.as_ref()?, &tz, now)
    }

    /// Hands one due alert to its channel and records the outcome.
    async fn send(self: Arc<Self>, mut alert: AlertRecord) -> Result<(), StoreError> {
        let prefs =
            self.store.device_prefs(alert.user, &alert.device_id)?.and_then(|p| SyncPrefs::parse(&p.prefs).ok());
        let Some(prefs) = prefs else {
            self.count(None, "failed");
            return self.finish(alert, AlertState::Failed, Some("the device has no preferences any more".into()));
        };
        let Some(channel) = prefs.channel else {
            self.count(None, "failed");
            return self.finish(alert, AlertState::Failed, Some("the device has no channel".into()));
        };
        let Some(enabler) = self.enablers.get(&channel).cloned() else {
            self.count(Some(channel), "failed");
            return self.finish(alert, AlertState::Failed, Some(format!("channel {channel} is not configured")));
        };
        let san = match self.build_san(&alert, &prefs) {
            Ok(san) => san,
            Err(e) => {
                self.count(Some(channel), "failed");
                return self.finish(alert, AlertState::Failed, Some(e));
            }
        };
        alert.state = AlertState::Sending;
        alert.attempts += 1;
        self.store.update_alert(&alert)?;
        let delivery = Delivery {
            alert_id: alert.id,
            user: alert.user_name.clone(),
            device: alert.device_id.clone(),
            address: prefs.address.clone(),
            san,
        };
        let outcome = enabler.deliver(&delivery).await;
        let now = self.clock.now_ms();
        match outcome {
            Ok(()) => {
                alert.sent = Some(now);
                info!(user = %alert.user_name, device = %alert.device_id, alert = alert.id, %channel, latency_ms = now - alert.created, "alert sent");
                self.count(Some(channel), "sent");
                self.finish(alert, AlertState::Sent, None)
            }
            Err(PushError::Retry(why)) if channel == Channel::Longpoll => {
                // Not connected: it takes the alert when it polls (LongPoll::wait).
                alert.attempts -= 1;
                alert.due = now + 60_000;
                debug!(device = %alert.device_id, "long-poll device not connected: alert waits for it");
                self.finish(alert, AlertState::Pending, Some(why))
            }
            Err(PushError::Retry(why)) if alert.attempts < self.settings.max_attempts => {
                let backoff = 1_000i64 << alert.attempts.min(10);
                alert.due = now + backoff.min(600_000);
                warn!(device = %alert.device_id, alert = alert.id, attempts = alert.attempts, retry_in_ms = alert.due - now, error = %why, "alert not delivered; will retry");
                self.count(Some(channel), "retried");
                self.finish(alert, AlertState::Pending, Some(why))
            }
            Err(e) => {
                warn!(device = %alert.device_id, alert = alert.id, error = %e, "alert failed");
                self.count(Some(channel), "failed");
                self.finish(alert, AlertState::Failed, Some(e.to_string()))
            }
        }
    }

    fn finish(&self, mut alert: AlertRecord, state: AlertState, error: Option<String>) -> Result<(), StoreError> {
        alert.state = state;
        alert.error = error;
        self.store.update_alert(&alert)
    }

    /// The notification for an alert: DS 1.2 SAN signed with the user's sync credentials and
    /// the device's last nonce (PROTOCOL.md §8.2) unless its preferences set other ones, or the
    /// 1.1 message form.
    pub fn build_san(&self, alert: &AlertRecord, prefs: &SyncPrefs) -> Result<Vec<u8>, String> {
        let user = self
            .store
            .user_by_name(&alert.user_name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("user {} is gone", alert.user_name))?;
        let digest = prefs.digest.clone().unwrap_or_default();
        let credentials = match (&digest.identity, &digest.password) {
            (Some(identity), Some(password)) => crate::auth::md5_secret(identity, password),
            _ => user.secret.clone(),
        };
        let nonce = match digest.nonce {
            Some(fixed) => Some(fixed.into_bytes()),
            None => self.store.device(user.id, &alert.device_id).map_err(|e| e.to_string())?.and_then(|d| d.nonce),
        };
        let type_of = |name: &str| -> String {
            let ds = self.settings.datastores.iter().find(|d| d.name == name);
            ds.and_then(|d| d.content_types.first()).cloned().unwrap_or_default()
        };
        match prefs.san {
            SanForm::V12 => {
                let san = San {
                    version: SanVersion::V1_2,
                    ui_mode: UiMode::Background,
                    initiator: Initiator::Server,
                    session_id: (alert.id & 0xFFFF) as u16,
                    server_id: self.settings.server_id.clone(),
                    syncs: alert
                        .datastores
                        .iter()
                        .map(|d| SanSync {
                            sync_type: AlertCode::TwoWayByServer,
                            content_type: content_type_code(&type_of(d)),
                            server_uri: d.clone(),
                        })
                        .collect(),
                    vendor: Vec::new(),
                };
                san.encode_hashed(&credentials, nonce.as_deref().unwrap_or_default()).map_err(|e| e.to_string())
            }
            SanForm::V11 => {
                let legacy = LegacySan {
                    version: "1.1".into(),
                    session_id: alert.id.to_string(),
                    server_id: self.settings.server_id.clone(),
                    syncs: alert
                        .datastores
                        .iter()
                        .map(|d| LegacySync {
                            sync_type: AlertCode::TwoWayByServer,
                            server_uri: d.clone(),
                            content_type: type_of(d).split(';').next().unwrap_or_default().to_string(),
                        })
                        .collect(),
                };
                crate::codec::encode_message(&legacy.to_message(Version::V1_1), crate::codec::Encoding::Wbxml)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// For the long-poll handler: the device's pending alert that is due (or waited for its
    /// poll), built and marked sent; `None` when there is none.
    pub fn take_for_longpoll(&self, user: UserId, device: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now_ms();
        let Some(mut alert) = self.store.pending_alert(user, device)? else { return Ok(None) };
        if alert.due > now && alert.error.is_none() {
            return Ok(None);
        }
        let prefs = self.store.device_prefs(user, device)?.and_then(|p| SyncPrefs::parse(&p.prefs).ok());
        let Some(prefs) = prefs.filter(|p| p.channel == Some(Channel::Longpoll)) else { return Ok(None) };
        let san = match self.build_san(&alert, &prefs) {
            Ok(s) => s,
            Err(e) => {
                self.finish(alert, AlertState::Failed, Some(e))?;
                return Ok(None);
            }
        };
        alert.attempts += 1;
        alert.sent = Some(now);
        info!(user = %alert.user_name, device, alert = alert.id, latency_ms = now - alert.created, "alert sent (device polled)");
        self.count(Some(Channel::Longpoll), "sent");
        self.finish(alert, AlertState::Sent, None)?;
        Ok(Some(san))
    }

    pub fn longpoll(&self) -> &Arc<LongPoll> {
        &self.longpoll
    }

    /// Sets a device's preferences (checked), computing its next scheduled run.
    pub fn set_prefs(&self, user: UserId, device: &str, prefs: Option<&SyncPrefs>) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let next = prefs.and_then(|p| Self::next_of(p, now));
        self.store.set_device_prefs(user, device, prefs.map(SyncPrefs::to_json).as_deref(), next)?;
        self.wake.notify_one();
        Ok(())
    }

    /// Records for the API.
    pub fn prefs_of(&self, user: UserId, device: &str) -> Result<Option<PrefsRecord>, StoreError> {
        self.store.device_prefs(user, device)
    }
}
