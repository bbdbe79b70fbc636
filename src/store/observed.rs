//! A [`Store`] that tells a listener about every committed item change (who made it, in which
//! datastore, which items and their folders), so server-initiated sync learns of changes from
//! device sessions and the service API alike, without the engine or the API knowing about it.
//! Everything else passes through unchanged.

use std::fmt;
use std::sync::Arc;

use crate::store::alerts::{AlertRecord, AlertStore, NewAlert, PrefsRecord};
use crate::store::{
    Applied, Change, Commit, DeviceRecord, ItemInfo, ItemRecord, Mutation, Origin, Store, StoreResult, SyncAnchor,
    User, UserId,
};

/// One committed batch of item changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreEvent {
    pub user: UserId,
    pub datastore: String,
    pub origin: Origin,
    /// The GUIDs changed, with the folder each was put in (`None` for deletions and the top).
    pub items: Vec<(String, Option<String>)>,
}

/// What is told of changes.
pub type Listener = Arc<dyn Fn(StoreEvent) + Send + Sync>;

/// The wrapper.
pub struct ObservedStore {
    inner: Arc<dyn Store>,
    listener: Listener,
}

impl fmt::Debug for ObservedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedStore").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl ObservedStore {
    pub fn new(inner: Arc<dyn Store>, listener: Listener) -> ObservedStore {
        ObservedStore { inner, listener }
    }

    fn tell(&self, user: UserId, datastore: &str, origin: &Origin, mutations: &[Mutation], applied: &[Applied]) {
        let items: Vec<(String, Option<String>)> = mutations
            .iter()
            .zip(applied)
            .filter_map(|(m, a)| {
                let guid = a.guid()?.to_string();
                let parent = match m {
                    Mutation::Add { parent, .. } | Mutation::Replace { parent, .. } => parent.clone(),
                    Mutation::Delete { .. } => None,
                };
                Some((guid, parent))
            })
            .collect();
        if !items.is_empty() {
            (self.listener)(StoreEvent { user, datastore: datastore.to_string(), origin: origin.clone(), items });
        }
    }
}

impl Store for ObservedStore {
    fn create_user(&self, name: &str, secret: &str) -> StoreResult<User> {
        self.inner.create_user(name, secret)
    }

    fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_name(name)
    }

    fn list_users(&self) -> StoreResult<Vec<User>> {
        self.inner.list_users()
    }

    fn set_user_secret(&self, name: &str, secret: &str) -> StoreResult<()> {
        self.inner.set_user_secret(name, secret)
    }

    fn delete_user(&self, name: &str) -> StoreResult<()> {
        self.inner.delete_user(name)
    }

    fn device(&self, user: UserId, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        self.inner.device(user, device_id)
    }

    fn put_device(&self, user: UserId, device: &DeviceRecord) -> StoreResult<()> {
        self.inner.put_device(user, device)
    }

    fn list_devices(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.inner.list_devices(user)
    }

    fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<()> {
        self.inner.delete_device(user, device_id)
    }

    fn item(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemRecord>> {
        self.inner.item(user, datastore, guid)
    }

    fn item_info(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemInfo>> {
        self.inner.item_info(user, datastore, guid)
    }

    fn item_bytes(
        &self,
        user: UserId,
        datastore: &str,
        guid: &str,
        offset: u64,
        len: usize,
    ) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.inner.item_bytes(user, datastore, guid, offset, len)
    }

    fn items(&self, user: UserId, datastore: &str) -> StoreResult<Vec<ItemRecord>> {
        self.inner.items(user, datastore)
    }

    fn current_seq(&self, user: UserId) -> StoreResult<u64> {
        self.inner.current_seq(user)
    }

    fn changes_since(&self, user: UserId, datastore: &str, since: u64) -> StoreResult<Vec<Change>> {
        self.inner.changes_since(user, datastore, since)
    }

    fn apply(
        &self,
        user: UserId,
        datastore: &str,
        origin: &Origin,
        mutations: &[Mutation],
    ) -> StoreResult<Vec<Applied>> {
        let applied = self.inner.apply(user, datastore, origin, mutations)?;
        self.tell(user, datastore, origin, mutations, &applied);
        Ok(applied)
    }

    fn anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Option<SyncAnchor>> {
        self.inner.anchor(user, device_id, datastore)
    }

    fn set_anchor(&self, user: UserId, device_id: &str, datastore: &str, anchor: &SyncAnchor) -> StoreResult<()> {
        self.inner.set_anchor(user, device_id, datastore, anchor)
    }

    fn clear_anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<()> {
        self.inner.clear_anchor(user, device_id, datastore)
    }

    fn id_map(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Vec<(String, String)>> {
        self.inner.id_map(user, device_id, datastore)
    }

    fn commit(&self, user: UserId, device_id: &str, datastore: &str, commit: &Commit) -> StoreResult<Vec<Applied>> {
        let applied = self.inner.commit(user, device_id, datastore, commit)?;
        self.tell(user, datastore, &Origin::Device(device_id.to_string()), &commit.mutations, &applied);
        Ok(applied)
    }

    fn guids(&self, user: UserId, datastore: &str) -> StoreResult<Vec<String>> {
        self.inner.guids(user, datastore)
    }

    fn parents(&self, user: UserId, datastore: &str) -> StoreResult<Vec<(String, String)>> {
        self.inner.parents(user, datastore)
    }

    fn stage_append(&self, user: UserId, device_id: &str, key: &str, offset: u64, bytes: &[u8]) -> StoreResult<u64> {
        self.inner.stage_append(user, device_id, key, offset, bytes)
    }

    fn stage_read(&self, user: UserId, device_id: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.stage_read(user, device_id, key)
    }

    fn stage_clear(&self, user: UserId, device_id: &str, key: Option<&str>) -> StoreResult<()> {
        self.inner.stage_clear(user, device_id, key)
    }

    fn suspended(&self, user: UserId, device_id: &str) -> StoreResult<Option<String>> {
        self.inner.suspended(user, device_id)
    }

    fn set_suspended(&self, user: UserId, device_id: &str, state: Option<&str>) -> StoreResult<()> {
        self.inner.set_suspended(user, device_id, state)
    }

    // `pull_backend` (provided) records through `self.apply`, so backing-store changes are told.
    fn sync_backend(&self, user: UserId, record: &mut crate::store::BackendSink<'_>) -> StoreResult<usize> {
        self.inner.sync_backend(user, record)
    }
}

impl AlertStore for ObservedStore {
    fn device_prefs(&self, user: UserId, device_id: &str) -> StoreResult<Option<PrefsRecord>> {
        self.inner.device_prefs(user, device_id)
    }

    fn set_device_prefs(
        &self,
        user: UserId,
        device_id: &str,
        prefs: Option<&str>,
        next_run: Option<i64>,
    ) -> StoreResult<()> {
        self.inner.set_device_prefs(user, device_id, prefs, next_run)
    }

    fn user_device_prefs(&self, user: UserId) -> StoreResult<Vec<PrefsRecord>> {
        self.inner.user_device_prefs(user)
    }

    fn set_next_run(&self, user: UserId, device_id: &str, next_run: Option<i64>) -> StoreResult<()> {
        self.inner.set_next_run(user, device_id, next_run)
    }

    fn due_schedules(&self, now: i64) -> StoreResult<Vec<PrefsRecord>> {
        self.inner.due_schedules(now)
    }

    fn next_schedule(&self) -> StoreResult<Option<i64>> {
        self.inner.next_schedule()
    }

    fn enqueue_alert(&self, alert: &NewAlert) -> StoreResult<i64> {
        self.inner.enqueue_alert(alert)
    }

    fn pending_alert(&self, user: UserId, device_id: &str) -> StoreResult<Option<AlertRecord>> {
        self.inner.pending_alert(user, device_id)
    }

    fn update_alert(&self, alert: &AlertRecord) -> StoreResult<()> {
        self.inner.update_alert(alert)
    }

    fn due_alerts(&self, now: i64, limit: usize) -> StoreResult<Vec<AlertRecord>> {
        self.inner.due_alerts(now, limit)
    }

    fn next_alert_due(&self) -> StoreResult<Option<i64>> {
        self.inner.next_alert_due()
    }

    fn device_alerts(&self, user: UserId, device_id: &str, since: i64) -> StoreResult<Vec<AlertRecord>> {
        self.inner.device_alerts(user, device_id, since)
    }

    fn settle_inflight_alerts(&self) -> StoreResult<usize> {
        self.inner.settle_inflight_alerts()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn committed_changes_are_told_with_origin_and_folders() {
        let seen: Arc<Mutex<Vec<StoreEvent>>> = Arc::default();
        let sink = seen.clone();
        let store = ObservedStore::new(Arc::new(MemoryStore::new()), Arc::new(move |e| sink.lock().unwrap().push(e)));
        let u = store.create_user("bob", "x").unwrap().id;
        let add = Mutation::Add { parent: Some("f".into()), content_type: "t".into(), data: b"x".to_vec() };
        let g = store.apply(u, "notes", &Origin::Service, &[add]).unwrap()[0].guid().unwrap().to_string();
        let gone = Mutation::Delete { guid: "nothing".into() };
        store.apply(u, "notes", &Origin::Service, &[gone]).unwrap();
        let commit = Commit { mutations: vec![Mutation::Delete { guid: g.clone() }], ..Default::default() };
        store.commit(u, "phone", "notes", &commit).unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "nothing applied, nothing told: {seen:?}");
        assert_eq!(
            (seen[0].origin.clone(), seen[0].items.clone()),
            (Origin::Service, vec![(g.clone(), Some("f".into()))])
        );
        assert_eq!((seen[1].origin.clone(), seen[1].items.clone()), (Origin::Device("phone".into()), vec![(g, None)]));
        assert_eq!(store.items(u, "notes").unwrap().len(), 0, "passes through");
    }
}
