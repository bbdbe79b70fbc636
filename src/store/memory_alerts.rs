//! The memory side of [`AlertStore`]: preferences and the alert queue kept beside the rest of
//! [`MemoryStore`]'s state, under the same lock (forgotten with their device or user).

use std::collections::BTreeMap;

use crate::store::alerts::{AlertRecord, AlertState, AlertStore, NewAlert, PrefsRecord};
use crate::store::memory::MemoryStore;
use crate::store::{StoreError, StoreResult, UserId};

/// What [`MemoryStore`] keeps for server-initiated sync.
#[derive(Debug, Default)]
pub(crate) struct NotifyState {
    /// (user, device) → (preferences JSON, next run).
    prefs: BTreeMap<(UserId, String), (String, Option<i64>)>,
    alerts: Vec<AlertRecord>,
    last_alert_id: i64,
}

impl NotifyState {
    /// Drops what belongs to a user (or one of its devices).
    pub(crate) fn forget(&mut self, user: UserId, device: Option<&str>) {
        let gone = |u: UserId, d: &str| u == user && device.is_none_or(|x| x == d);
        self.prefs.retain(|(u, d), _| !gone(*u, d));
        self.alerts.retain(|a| !gone(a.user, &a.device_id));
    }
}

fn record(user: UserId, name: String, device: &str, prefs: &(String, Option<i64>)) -> PrefsRecord {
    PrefsRecord { user, user_name: name, device_id: device.to_string(), prefs: prefs.0.clone(), next_run: prefs.1 }
}

impl AlertStore for MemoryStore {
    fn device_prefs(&self, user: UserId, device_id: &str) -> StoreResult<Option<PrefsRecord>> {
        let state = self.lock()?;
        let Some(name) = state.user_name(user) else { return Ok(None) };
        Ok(state.notify.prefs.get(&(user, device_id.to_string())).map(|p| record(user, name, device_id, p)))
    }

    fn set_device_prefs(
        &self,
        user: UserId,
        device_id: &str,
        prefs: Option<&str>,
        next_run: Option<i64>,
    ) -> StoreResult<()> {
        let mut state = self.lock()?;
        if state.user_name(user).is_none() {
            return Err(StoreError::NotFound(format!("user {}", user.0)));
        }
        let key = (user, device_id.to_string());
        match prefs {
            Some(p) => {
                state.ensure_device(user, device_id)?;
                state.notify.prefs.insert(key, (p.to_string(), next_run));
            }
            None => {
                state.notify.prefs.remove(&key);
            }
        }
        Ok(())
    }

    fn user_device_prefs(&self, user: UserId) -> StoreResult<Vec<PrefsRecord>> {
        let state = self.lock()?;
        let Some(name) = state.user_name(user) else { return Ok(Vec::new()) };
        Ok(state
            .notify
            .prefs
            .iter()
            .filter(|((u, _), _)| *u == user)
            .map(|((u, d), p)| record(*u, name.clone(), d, p))
            .collect())
    }

    fn set_next_run(&self, user: UserId, device_id: &str, next_run: Option<i64>) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(p) = state.notify.prefs.get_mut(&(user, device_id.to_string())) {
            p.1 = next_run;
        }
        Ok(())
    }

    fn due_schedules(&self, now: i64) -> StoreResult<Vec<PrefsRecord>> {
        let state = self.lock()?;
        let mut due: Vec<PrefsRecord> = state
            .notify
            .prefs
            .iter()
            .filter(|(_, p)| p.1.is_some_and(|t| t <= now))
            .filter_map(|((u, d), p)| Some(record(*u, state.user_name(*u)?, d, p)))
            .collect();
        due.sort_by_key(|p| p.next_run);
        Ok(due)
    }

    fn next_schedule(&self) -> StoreResult<Option<i64>> {
        Ok(self.lock()?.notify.prefs.values().filter_map(|p| p.1).min())
    }

    fn enqueue_alert(&self, alert: &NewAlert) -> StoreResult<i64> {
        let mut state = self.lock()?;
        let name = state.user_name(alert.user).ok_or_else(|| StoreError::NotFound(format!("user {}", alert.user.0)))?;
        state.ensure_device(alert.user, &alert.device_id)?;
        state.notify.last_alert_id += 1;
        let id = state.notify.last_alert_id;
        state.notify.alerts.push(AlertRecord {
            id,
            user: alert.user,
            user_name: name,
            device_id: alert.device_id.clone(),
            datastores: alert.datastores.clone(),
            reason: alert.reason.clone(),
            created: alert.created,
            due: alert.due,
            state: AlertState::Pending,
            attempts: 0,
            sent: None,
            error: None,
        });
        Ok(id)
    }

    fn pending_alert(&self, user: UserId, device_id: &str) -> StoreResult<Option<AlertRecord>> {
        let state = self.lock()?;
        Ok(state
            .notify
            .alerts
            .iter()
            .find(|a| a.user == user && a.device_id == device_id && a.state == AlertState::Pending)
            .cloned())
    }

    fn update_alert(&self, alert: &AlertRecord) -> StoreResult<()> {
        let mut state = self.lock()?;
        let Some(a) = state.notify.alerts.iter_mut().find(|a| a.id == alert.id) else {
            return Err(StoreError::NotFound(format!("alert {}", alert.id)));
        };
        a.datastores = alert.datastores.clone();
        a.due = alert.due;
        a.state = alert.state;
        a.attempts = alert.attempts;
        a.sent = alert.sent;
        a.error = alert.error.clone();
        Ok(())
    }

    fn due_alerts(&self, now: i64, limit: usize) -> StoreResult<Vec<AlertRecord>> {
        let state = self.lock()?;
        let mut due: Vec<AlertRecord> =
            state.notify.alerts.iter().filter(|a| a.state == AlertState::Pending && a.due <= now).cloned().collect();
        due.sort_by_key(|a| (a.due, a.id));
        due.truncate(limit);
        Ok(due)
    }

    fn next_alert_due(&self) -> StoreResult<Option<i64>> {
        let state = self.lock()?;
        Ok(state.notify.alerts.iter().filter(|a| a.state == AlertState::Pending).map(|a| a.due).min())
    }

    fn device_alerts(&self, user: UserId, device_id: &str, since: i64) -> StoreResult<Vec<AlertRecord>> {
        let state = self.lock()?;
        Ok(state
            .notify
            .alerts
            .iter()
            .filter(|a| a.user == user && a.device_id == device_id && a.created >= since)
            .cloned()
            .collect())
    }

    fn settle_inflight_alerts(&self) -> StoreResult<usize> {
        let mut state = self.lock()?;
        let mut n = 0;
        for a in state.notify.alerts.iter_mut().filter(|a| a.state == AlertState::Sending) {
            a.state = AlertState::Unknown;
            a.error = Some("the gateway stopped while it was being sent".into());
            n += 1;
        }
        Ok(n)
    }
}
