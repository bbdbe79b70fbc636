//! A [`Store`] that times every call of the store it wraps and tells an observer (the
//! gateway's metrics: `store_duration_seconds{operation}`), whatever the backend: SQLite, IMAP
//! or one of an operator's own. Results pass through unchanged.
//!
//! `pull_backend` keeps the trait's default, so the changes it records go through the
//! wrappers above this one (the notifier's [`super::observed::ObservedStore`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::store::alerts::{AlertRecord, AlertStore, NewAlert, PrefsRecord};
use crate::store::{
    Applied, BackendSink, Change, Commit, DeviceRecord, ItemInfo, ItemRecord, Mutation, Origin, Store, StoreResult,
    SyncAnchor, User, UserId,
};

/// Told of each call: the operation (the method's name) and how long it took.
pub type Observer = Arc<dyn Fn(&'static str, Duration) + Send + Sync>;

/// The wrapper.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    observe: Observer,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>, observe: Observer) -> MeteredStore {
        MeteredStore { inner, observe }
    }
}

impl fmt::Debug for MeteredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredStore").field("inner", &self.inner).finish_non_exhaustive()
    }
}

/// Delegates each listed method to `inner`, timed.
macro_rules! timed {
    ($( fn $name:ident(&self $(, $arg:ident : $ty:ty)* ) -> $ret:ty; )*) => {
        $(
            fn $name(&self $(, $arg: $ty)*) -> $ret {
                let started = Instant::now();
                let out = self.inner.$name($($arg),*);
                (self.observe)(stringify!($name), started.elapsed());
                out
            }
        )*
    };
}

impl Store for MeteredStore {
    timed! {
        fn create_user(&self, name: &str, secret: &str) -> StoreResult<User>;
        fn user_by_name(&self, name: &str) -> StoreResult<Option<User>>;
        fn list_users(&self) -> StoreResult<Vec<User>>;
        fn set_user_secret(&self, name: &str, secret: &str) -> StoreResult<()>;
        fn delete_user(&self, name: &str) -> StoreResult<()>;
        fn device(&self, user: UserId, device_id: &str) -> StoreResult<Option<DeviceRecord>>;
        fn put_device(&self, user: UserId, device: &DeviceRecord) -> StoreResult<()>;
        fn list_devices(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>>;
        fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<()>;
        fn item(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemRecord>>;
        fn item_info(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemInfo>>;
        fn item_bytes(&self, user: UserId, datastore: &str, guid: &str, offset: u64, len: usize)
            -> StoreResult<Option<(u64, Vec<u8>)>>;
        fn items(&self, user: UserId, datastore: &str) -> StoreResult<Vec<ItemRecord>>;
        fn current_seq(&self, user: UserId) -> StoreResult<u64>;
        fn changes_since(&self, user: UserId, datastore: &str, since: u64) -> StoreResult<Vec<Change>>;
        fn apply(&self, user: UserId, datastore: &str, origin: &Origin, mutations: &[Mutation])
            -> StoreResult<Vec<Applied>>;
        fn anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Option<SyncAnchor>>;
        fn set_anchor(&self, user: UserId, device_id: &str, datastore: &str, anchor: &SyncAnchor) -> StoreResult<()>;
        fn clear_anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<()>;
        fn id_map(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Vec<(String, String)>>;
        fn commit(&self, user: UserId, device_id: &str, datastore: &str, commit: &Commit) -> StoreResult<Vec<Applied>>;
        fn guids(&self, user: UserId, datastore: &str) -> StoreResult<Vec<String>>;
        fn parents(&self, user: UserId, datastore: &str) -> StoreResult<Vec<(String, String)>>;
        fn stage_append(&self, user: UserId, device_id: &str, key: &str, offset: u64, bytes: &[u8]) -> StoreResult<u64>;
        fn stage_read(&self, user: UserId, device_id: &str, key: &str) -> StoreResult<Option<Vec<u8>>>;
        fn stage_clear(&self, user: UserId, device_id: &str, key: Option<&str>) -> StoreResult<()>;
        fn suspended(&self, user: UserId, device_id: &str) -> StoreResult<Option<String>>;
        fn set_suspended(&self, user: UserId, device_id: &str, state: Option<&str>) -> StoreResult<()>;
        fn sync_backend(&self, user: UserId, record: &mut BackendSink<'_>) -> StoreResult<usize>;
    }
}

impl AlertStore for MeteredStore {
    timed! {
        fn device_prefs(&self, user: UserId, device_id: &str) -> StoreResult<Option<PrefsRecord>>;
        fn set_device_prefs(&self, user: UserId, device_id: &str, prefs: Option<&str>, next_run: Option<i64>)
            -> StoreResult<()>;
        fn user_device_prefs(&self, user: UserId) -> StoreResult<Vec<PrefsRecord>>;
        fn set_next_run(&self, user: UserId, device_id: &str, next_run: Option<i64>) -> StoreResult<()>;
        fn due_schedules(&self, now: i64) -> StoreResult<Vec<PrefsRecord>>;
        fn next_schedule(&self) -> StoreResult<Option<i64>>;
        fn enqueue_alert(&self, alert: &NewAlert) -> StoreResult<i64>;
        fn pending_alert(&self, user: UserId, device_id: &str) -> StoreResult<Option<AlertRecord>>;
        fn update_alert(&self, alert: &AlertRecord) -> StoreResult<()>;
        fn due_alerts(&self, now: i64, limit: usize) -> StoreResult<Vec<AlertRecord>>;
        fn next_alert_due(&self) -> StoreResult<Option<i64>>;
        fn device_alerts(&self, user: UserId, device_id: &str, since: i64) -> StoreResult<Vec<AlertRecord>>;
        fn settle_inflight_alerts(&self) -> StoreResult<usize>;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn every_call_is_timed_and_passes_through() {
        let seen: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let log = seen.clone();
        let store = MeteredStore::new(
            Arc::new(MemoryStore::new()),
            Arc::new(move |op, _| log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(op)),
        );
        let user = store.create_user("alice", "secret").expect("created");
        assert_eq!(store.user_by_name("alice").expect("read").map(|u| u.id), Some(user.id));
        assert_eq!(store.current_seq(user.id).expect("seq"), 0);
        let ops = seen.lock().expect("log").clone();
        assert_eq!(ops, ["create_user", "user_by_name", "current_seq"]);
    }

    /// The shared battery: a wrapper must not change what the store does.
    mod battery {
        use super::*;
        use crate::store::battery::store_battery;

        store_battery!(|| Box::new(MeteredStore::new(Arc::new(MemoryStore::new()), Arc::new(|_, _| {}))));
    }
}
