//! The embedded default backend: one SQLite file (bundled SQLite, nothing needed from the system).
//!
//! Owns the connection, its settings (WAL, `synchronous=NORMAL`, foreign keys, busy timeout) and
//! the schema ([`migrate`], from `schemas/sql/`). Every [`Store`] method runs in one transaction;
//! writes take the write lock up front (`BEGIN IMMEDIATE`) so two processes on one file wait for
//! each other instead of failing halfway. The queries live next to their concept: [`accounts`]
//! (users, devices), [`items`] (items and the change log), [`sync_state`] (anchors, maps,
//! commits). Semantics are those of the reference [`MemoryStore`](super::memory::MemoryStore),
//! checked by the shared battery.
//!
//! One `Mutex<Connection>` serialises all calls; a connection pool (readers in parallel under
//! WAL) can replace it later without changing the trait.
//!
//! Must not know about SyncML: it stores bytes and strings.

mod accounts;
mod alerts;
mod items;
mod migrate;
mod staging;
mod sync_state;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::store::alerts::{AlertRecord, AlertStore, NewAlert, PrefsRecord};
use crate::store::{
    Applied, Change, Commit, DeviceRecord, ItemInfo, ItemRecord, Mutation, Origin, Store, StoreError, StoreResult,
    SyncAnchor, User, UserId,
};

pub use migrate::SCHEMA_VERSION;

/// How long a call waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A store in one SQLite database.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// The database file, `None` when in memory.
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file and its parent directories as needed,
    /// and brings its schema up to date. A database written by a newer syncgate is refused.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("creating directory {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).context(&format!("opening {}", path.display()))?;
        SqliteStore::set_up(conn, Some(path.to_owned()))
    }

    /// A private database in memory, gone when the store is dropped (tests, trying things out).
    pub fn open_in_memory() -> StoreResult<SqliteStore> {
        let conn = Connection::open_in_memory().context("opening an in-memory database")?;
        SqliteStore::set_up(conn, None)
    }

    /// The database file, `None` when in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn set_up(mut conn: Connection, path: Option<PathBuf>) -> StoreResult<SqliteStore> {
        conn.busy_timeout(BUSY_TIMEOUT).context("setting the busy timeout")?;
        conn.pragma_update(None, "foreign_keys", true).context("enabling foreign keys")?;
        let foreign_keys: bool =
            conn.pragma_query_value(None, "foreign_keys", |row| row.get(0)).context("checking foreign keys")?;
        if !foreign_keys {
            return Err(StoreError::Backend("this SQLite does not enforce foreign keys".into()));
        }
        // An in-memory database answers "memory": there is no journal file to switch.
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).context("switching to WAL")?;
        if path.is_some() && !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "SQLite store is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL").context("setting synchronous=NORMAL")?;
        migrate::run(&mut conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn), path })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held unwound through a `Transaction`, whose drop rolled it
        // back: the database is consistent, so the connection can be used again.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.transaction(TransactionBehavior::Deferred, f)
    }

    /// Runs `f` in a write transaction; nothing of it stays unless `f` succeeds.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.transaction(TransactionBehavior::Immediate, f)
    }

    fn transaction<T>(
        &self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(behavior).context("starting a transaction")?;
        // On error `tx` is dropped here, which rolls it back.
        let out = f(&tx)?;
        tx.commit().context("committing")?;
        Ok(out)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store for SqliteStore {
    fn create_user(&self, name: &str, secret: &str) -> StoreResult<User> {
        self.write(|tx| accounts::create_user(tx, name, secret))
    }

    fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        self.read(|tx| accounts::user_by_name(tx, name))
    }

    fn list_users(&self) -> StoreResult<Vec<User>> {
        self.read(accounts::list_users)
    }

    fn set_user_secret(&self, name: &str, secret: &str) -> StoreResult<()> {
        self.write(|tx| accounts::set_user_secret(tx, name, secret))
    }

    fn delete_user(&self, name: &str) -> StoreResult<()> {
        self.write(|tx| accounts::delete_user(tx, name))
    }

    fn device(&self, user: UserId, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        self.read(|tx| accounts::device(tx, user, device_id))
    }

    fn put_device(&self, user: UserId, device: &DeviceRecord) -> StoreResult<()> {
        self.write(|tx| accounts::put_device(tx, user, device))
    }

    fn list_devices(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.read(|tx| accounts::list_devices(tx, user))
    }

    fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<()> {
        self.write(|tx| accounts::delete_device(tx, user, device_id))
    }

    fn item(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemRecord>> {
        self.read(|tx| items::item(tx, user, datastore, guid))
    }

    fn item_info(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemInfo>> {
        self.read(|tx| items::item_info(tx, user, datastore, guid))
    }

    fn item_bytes(
        &self,
        user: UserId,
        datastore: &str,
        guid: &str,
        offset: u64,
        len: usize,
    ) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.read(|tx| items::item_bytes(tx, user, datastore, guid, offset, len))
    }

    fn items(&self, user: UserId, datastore: &str) -> StoreResult<Vec<ItemRecord>> {
        self.read(|tx| items::items(tx, user, datastore))
    }

    fn current_seq(&self, user: UserId) -> StoreResult<u64> {
        self.read(|tx| items::current_seq(tx, user))
    }

    fn changes_since(&self, user: UserId, datastore: &str, since: u64) -> StoreResult<Vec<Change>> {
        self.read(|tx| items::changes_since(tx, user, datastore, since))
    }

    fn apply(
        &self,
        user: UserId,
        datastore: &str,
        origin: &Origin,
        mutations: &[Mutation],
    ) -> StoreResult<Vec<Applied>> {
        self.write(|tx| {
            accounts::require_user(tx, user)?;
            items::apply(tx, user, datastore, origin, mutations)
        })
    }

    fn anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Option<SyncAnchor>> {
        self.read(|tx| sync_state::anchor(tx, user, device_id, datastore))
    }

    fn set_anchor(&self, user: UserId, device_id: &str, datastore: &str, anchor: &SyncAnchor) -> StoreResult<()> {
        self.write(|tx| sync_state::set_anchor(tx, user, device_id, datastore, anchor))
    }

    fn clear_anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<()> {
        self.write(|tx| sync_state::clear_anchor(tx, user, device_id, datastore))
    }

    fn id_map(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Vec<(String, String)>> {
        self.read(|tx| sync_state::id_map(tx, user, device_id, datastore))
    }

    fn commit(&self, user: UserId, device_id: &str, datastore: &str, commit: &Commit) -> StoreResult<Vec<Applied>> {
        self.write(|tx| sync_state::commit(tx, user, device_id, datastore, commit))
    }

    fn guids(&self, user: UserId, datastore: &str) -> StoreResult<Vec<String>> {
        self.read(|tx| items::guids(tx, user, datastore))
    }

    fn parents(&self, user: UserId, datastore: &str) -> StoreResult<Vec<(String, String)>> {
        self.read(|tx| items::parents(tx, user, datastore))
    }

    fn stage_append(&self, user: UserId, device_id: &str, key: &str, offset: u64, bytes: &[u8]) -> StoreResult<u64> {
        self.write(|tx| staging::append(tx, user, device_id, key, offset, bytes))
    }

    fn stage_read(&self, user: UserId, device_id: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.read(|tx| staging::read(tx, user, device_id, key))
    }

    fn stage_clear(&self, user: UserId, device_id: &str, key: Option<&str>) -> StoreResult<()> {
        self.write(|tx| staging::clear(tx, user, device_id, key))
    }

    fn suspended(&self, user: UserId, device_id: &str) -> StoreResult<Option<String>> {
        self.read(|tx| staging::suspended(tx, user, device_id))
    }

    fn set_suspended(&self, user: UserId, device_id: &str, state: Option<&str>) -> StoreResult<()> {
        self.write(|tx| staging::set_suspended(tx, user, device_id, state))
    }
}

/// Adds what was being done to a SQLite error.
trait Context<T> {
    fn context(self, doing: &str) -> StoreResult<T>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn context(self, doing: &str) -> StoreResult<T> {
        self.map_err(|e| StoreError::Backend(format!("{doing}: {e}")))
    }
}

#[cfg(test)]
mod tests;

impl AlertStore for SqliteStore {
    fn device_prefs(&self, user: UserId, device_id: &str) -> StoreResult<Option<PrefsRecord>> {
        self.read(|tx| alerts::device_prefs(tx, user, device_id))
    }

    fn set_device_prefs(
        &self,
        user: UserId,
        device_id: &str,
        prefs: Option<&str>,
        next_run: Option<i64>,
    ) -> StoreResult<()> {
        self.write(|tx| alerts::set_device_prefs(tx, user, device_id, prefs, next_run))
    }

    fn user_device_prefs(&self, user: UserId) -> StoreResult<Vec<PrefsRecord>> {
        self.read(|tx| alerts::user_device_prefs(tx, user))
    }

    fn set_next_run(&self, user: UserId, device_id: &str, next_run: Option<i64>) -> StoreResult<()> {
        self.write(|tx| alerts::set_next_run(tx, user, device_id, next_run))
    }

    fn due_schedules(&self, now: i64) -> StoreResult<Vec<PrefsRecord>> {
        self.read(|tx| alerts::due_schedules(tx, now))
    }

    fn next_schedule(&self) -> StoreResult<Option<i64>> {
        self.read(alerts::next_schedule)
    }

    fn enqueue_alert(&self, alert: &NewAlert) -> StoreResult<i64> {
        self.write(|tx| alerts::enqueue_alert(tx, alert))
    }

    fn pending_alert(&self, user: UserId, device_id: &str) -> StoreResult<Option<AlertRecord>> {
        self.read(|tx| alerts::pending_alert(tx, user, device_id))
    }

    fn update_alert(&self, alert: &AlertRecord) -> StoreResult<()> {
        self.write(|tx| alerts::update_alert(tx, alert))
    }

    fn due_alerts(&self, now: i64, limit: usize) -> StoreResult<Vec<AlertRecord>> {
        self.read(|tx| alerts::due_alerts(tx, now, limit))
    }

    fn next_alert_due(&self) -> StoreResult<Option<i64>> {
        self.read(alerts::next_alert_due)
    }

    fn device_alerts(&self, user: UserId, device_id: &str, since: i64) -> StoreResult<Vec<AlertRecord>> {
        self.read(|tx| alerts::device_alerts(tx, user, device_id, since))
    }

    fn settle_inflight_alerts(&self) -> StoreResult<usize> {
        self.write(alerts::settle_inflight_alerts)
    }
}
