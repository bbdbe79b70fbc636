//! A [`Store`] that keeps one datastore (the users' messages and their folders) in an IMAP
//! server, so legacy sync clients work with the message store an operator already runs (issue
//! 9). Everything else — users, devices, anchors, ID maps, the change log, preferences, alerts,
//! and the other datastores — stays in the local store (SQLite), which also keeps a small
//! index of the IMAP datastore: per folder its name, per message its UIDVALIDITY, UID and
//! flags (never the message itself).
//!
//! Layout: `mail` (what the store needs of an IMAP connection, and the pool), `index` (the
//! index entries and folder paths), `write` (device and service changes become IMAP
//! commands: CREATE/RENAME/DELETE, APPEND, UID STORE, UID MOVE, expunge), `pull` (changes made
//! directly in IMAP become change-log entries with [`Origin::Backend`]: CONDSTORE/QRESYNC where
//! offered, a UID/flags comparison otherwise; a changed UIDVALIDITY re-indexes the mailbox and
//! makes every device slow-sync the datastore).
//!
//! Reads of a message fetch it from IMAP (`BODY.PEEK[]`) and build the OMA DS e-mail object
//! with its flags as states (\Seen read, \Answered replied, \Flagged flagged, \Deleted deleted,
//! $Forwarded forwarded). An IMAP server that cannot be reached gives
//! [`StoreError::Unavailable`] (SyncML 503), other IMAP refusals [`StoreError::Backend`] (510).

#[doc(hidden)]
pub mod checks;
pub mod config;
mod index;
pub mod mail;
pub mod pool;
mod pull;
mod write;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::imap::ImapError;
use crate::store::alerts::{AlertRecord, AlertStore, NewAlert, PrefsRecord};
use crate::store::{
    Applied, BackendSink, Change, Commit, DeviceRecord, ItemInfo, ItemRecord, Mutation, Origin, Store, StoreError,
    StoreResult, SyncAnchor, User, UserId,
};

use self::index::Entry;
use self::mail::{Lease, Mailer};

/// A message built from IMAP: its GUID, its index entry then, and the e-mail object.
type Built = (String, Vec<u8>, Vec<u8>);

/// Message texts read ahead and their total size.
type ReadAhead = (HashMap<(String, u32, u32), Vec<u8>>, u64);

/// The store.
pub struct ImapStore {
    local: Arc<dyn Store>,
    mail: Arc<dyn Mailer>,
    /// The datastore kept in IMAP.
    datastore: String,
    /// Per user: what `pull` last saw of each mailbox.
    seen: Mutex<HashMap<UserId, pull::Seen>>,
    /// The last message built from IMAP (a large object is read a chunk at a time).
    built: Mutex<Option<Built>>,
    /// Messages read ahead, by (mailbox, UIDVALIDITY, UID), and their bytes in all.
    bodies: Mutex<ReadAhead>,
    /// User names by id ([`ImapStore::user_name`]); emptied when users come or go.
    names: Mutex<HashMap<UserId, String>>,
    /// One writer or puller per user at a time: a pull must not see a message a device's
    /// APPEND put in IMAP before its index entry is committed (it would be added twice).
    locks: Mutex<HashMap<UserId, Arc<Mutex<()>>>>,
}

impl fmt::Debug for ImapStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapStore")
            .field("datastore", &self.datastore)
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

impl From<ImapError> for StoreError {
    fn from(e: ImapError) -> StoreError {
        if e.is_unavailable() {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Backend(e.to_string())
        }
    }
}

impl ImapStore {
    /// `datastore` kept in IMAP through `mail`; the rest in `local`.
    pub fn new(local: Arc<dyn Store>, mail: Arc<dyn Mailer>, datastore: &str) -> ImapStore {
        ImapStore {
            local,
            mail,
            datastore: datastore.to_string(),
            seen: Mutex::default(),
            built: Mutex::default(),
            bodies: Mutex::default(),
            names: Mutex::default(),
            locks: Mutex::default(),
        }
    }

    /// The user's lock (see `locks`).
    fn user_lock(&self, user: UserId) -> StoreResult<Arc<Mutex<()>>> {
        Ok(self.locks.lock().map_err(poisoned)?.entry(user).or_default().clone())
    }

    fn ours(&self, datastore: &str) -> bool {
        datastore == self.datastore
    }

    /// The user's name (the IMAP login is made from it), cached: every read of a message
    /// needs it. A cached name is checked against the store by name (an indexed look-up), so
    /// users deleted and created by another process are never confused.
    fn user_name(&self, user: UserId) -> StoreResult<String> {
        let cached = self.names.lock().map_err(poisoned)?.get(&user).cloned();
        if let Some(name) = cached {
            if self.local.user_by_name(&name)?.is_some_and(|u| u.id == user) {
                return Ok(name);
            }
        }
        let users = self.local.list_users()?;
        let mut names = self.names.lock().map_err(poisoned)?;
        for u in users {
            names.insert(u.id, u.name);
        }
        names.get(&user).cloned().ok_or_else(|| StoreError::NotFound(format!("user {}", user.0)))
    }

    fn lease(&self, user: UserId) -> StoreResult<Lease<'_>> {
        let name = self.user_name(user)?;
        Ok(Lease::open(self.mail.as_ref(), &name)?)
    }

    /// The item as devices see it: folders as folder objects, messages fetched from IMAP.
    fn present(&self, user: UserId, rec: ItemRecord) -> StoreResult<Option<ItemRecord>> {
        let entry = Entry::parse(&rec.data)?;
        let data = match &entry {
            Entry::Folder { .. } => entry.folder_object(),
            Entry::Message { .. } => {
                if let Some((guid, stamp, xml)) = self.built.lock().map_err(poisoned)?.as_ref() {
                    if *guid == rec.guid && *stamp == rec.data {
                        return Ok(Some(ItemRecord { data: xml.clone(), ..rec }));
                    }
                }
                let mut lease = self.lease(user)?;
                let mailbox = index::mailbox_of(
                    self.local.as_ref(),
                    user,
                    &self.datastore,
                    rec.parent.as_deref(),
                    lease.delimiter()?,
                )?;
                let Entry::Message { uidvalidity, uid, .. } = &entry else { return Ok(None) };
                let Some(body) = self.message_body(&mut lease, &mailbox, *uidvalidity, *uid)? else {
                    tracing::info!(guid = %rec.guid, %mailbox, "message gone from IMAP; it goes at the next pull");
                    return Ok(None);
                };
                let xml = entry.email_object(body);
                *self.built.lock().map_err(poisoned)? = Some((rec.guid.clone(), rec.data.clone(), xml.clone()));
                xml
            }
        };
        Ok(Some(ItemRecord { data, ..rec }))
    }
}

/// Messages read ahead: up to this many UIDs after the one asked for…
const READ_AHEAD: u32 = 64;
/// …within this many bytes; and the most the read-ahead cache holds.
const READ_AHEAD_BYTES: u64 = 4 << 20;

impl ImapStore {
    /// The text of message `uid` of `mailbox`; `None` when IMAP no longer has it. Reads the
    /// following messages along (a sync sends them in order): two round trips for up to
    /// [`READ_AHEAD`] messages instead of one per message.
    fn message_body(
        &self,
        lease: &mut Lease<'_>,
        mailbox: &str,
        uidvalidity: u32,
        uid: u32,
    ) -> Result<Option<Vec<u8>>, ImapError> {
        let key = (mailbox.to_string(), uidvalidity, uid);
        if let Ok(mut cache) = self.bodies.lock() {
            if let Some(body) = cache.0.remove(&key) {
                cache.1 = cache.1.saturating_sub(body.len() as u64);
                return Ok(Some(body));
            }
        }
        if lease.select(mailbox)?.uidvalidity != uidvalidity {
            return Ok(None);
        }
        let sizes = lease.fetch_sizes(mailbox, uid, uid.saturating_add(READ_AHEAD - 1))?;
        let mut chosen = Vec::new();
        let mut total = 0u64;
        for (u, size) in sizes {
            if u != uid && total + size > READ_AHEAD_BYTES {
                break;
            }
            chosen.push(u);
            total += size;
        }
        if !chosen.contains(&uid) {
            return Ok(None);
        }
        let mut mine = None;
        let bodies = lease.fetch_bodies(mailbox, &chosen)?;
        if let Ok(mut cache) = self.bodies.lock() {
            if cache.1 + total > READ_AHEAD_BYTES {
                cache.0.clear();
                cache.1 = 0;
            }
            for (u, body) in bodies {
                if u == uid {
                    mine = Some(body);
                } else {
                    cache.1 += body.len() as u64;
                    cache.0.insert((mailbox.to_string(), uidvalidity, u), body);
                }
            }
        }
        Ok(mine)
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("a lock of the IMAP store was poisoned".into())
}

impl Store for ImapStore {
    fn create_user(&self, name: &str, secret: &str) -> StoreResult<User> {
        self.names.lock().map_err(poisoned)?.clear();
        self.local.create_user(name, secret)
    }

    fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        self.local.user_by_name(name)
    }

    fn list_users(&self) -> StoreResult<Vec<User>> {
        self.local.list_users()
    }

    fn set_user_secret(&self, name: &str, secret: &str) -> StoreResult<()> {
        self.local.set_user_secret(name, secret)
    }

    /// Removes the user's sync state and index; the mailboxes stay in IMAP.
    fn delete_user(&self, name: &str) -> StoreResult<()> {
        self.names.lock().map_err(poisoned)?.clear();
        self.local.delete_user(name)
    }

    fn device(&self, user: UserId, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        self.local.device(user, device_id)
    }

    fn put_device(&self, user: UserId, device: &DeviceRecord) -> StoreResult<()> {
        self.local.put_device(user, device)
    }

    fn list_devices(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        self.local.list_devices(user)
    }

    fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<()> {
        self.local.delete_device(user, device_id)
    }

    fn item(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemRecord>> {
        let rec = self.local.item(user, datastore, guid)?;
        match rec {
            Some(rec) if self.ours(datastore) => self.present(user, rec),
            other => Ok(other),
        }
    }

    fn item_info(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemInfo>> {
        if !self.ours(datastore) {
            return self.local.item_info(user, datastore, guid);
        }
        Ok(self.item(user, datastore, guid)?.map(|r| ItemInfo {
            size: r.data.len() as u64,
            guid: r.guid,
            parent: r.parent,
            content_type: r.content_type,
            seq: r.seq,
        }))
    }

    fn item_bytes(
        &self,
        user: UserId,
        datastore: &str,
        guid: &str,
        offset: u64,
        len: usize,
    ) -> StoreResult<Option<(u64, Vec<u8>)>> {
        if !self.ours(datastore) {
            return self.local.item_bytes(user, datastore, guid, offset, len);
        }
        Ok(self.item(user, datastore, guid)?.map(|r| {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(r.data.len());
            let end = start.saturating_add(len).min(r.data.len());
            (r.seq, r.data[start..end].to_vec())
        }))
    }

    fn items(&self, user: UserId, datastore: &str) -> StoreResult<Vec<ItemRecord>> {
        let recs = self.local.items(user, datastore)?;
        if !self.ours(datastore) {
            return Ok(recs);
        }
        let mut out = Vec::with_capacity(recs.len());
        for rec in recs {
            if let Some(r) = self.present(user, rec)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn current_seq(&self, user: UserId) -> StoreResult<u64> {
        self.local.current_seq(user)
    }

    fn changes_since(&self, user: UserId, datastore: &str, since: u64) -> StoreResult<Vec<Change>> {
        self.local.changes_since(user, datastore, since)
    }

    fn apply(
        &self,
        user: UserId,
        datastore: &str,
        origin: &Origin,
        mutations: &[Mutation],
    ) -> StoreResult<Vec<Applied>> {
        if !self.ours(datastore) || *origin == Origin::Backend {
            return self.local.apply(user, datastore, origin, mutations);
        }
        let lock = self.user_lock(user)?;
        let _held = lock.lock().map_err(poisoned)?;
        let (done, failed) = self.write(user, mutations);
        let applied = self.local.apply(user, datastore, origin, &done)?;
        match failed {
            Some(e) => Err(e),
            None => Ok(applied),
        }
    }

    fn anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Option<SyncAnchor>> {
        self.local.anchor(user, device_id, datastore)
    }

    fn set_anchor(&self, user: UserId, device_id: &str, datastore: &str, anchor: &SyncAnchor) -> StoreResult<()> {
        self.local.set_anchor(user, device_id, datastore, anchor)
    }

    fn clear_anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<()> {
        self.local.clear_anchor(user, device_id, datastore)
    }

    fn id_map(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Vec<(String, String)>> {
        self.local.id_map(user, device_id, datastore)
    }

    /// The device's changes go to IMAP one by one; what IMAP took is committed with the maps
    /// that refer to it, even when a later one fails (the error is returned then), so the
    /// index never lags behind the server and nothing is done twice.
    fn commit(&self, user: UserId, device_id: &str, datastore: &str, commit: &Commit) -> StoreResult<Vec<Applied>> {
        if !self.ours(datastore) || commit.mutations.is_empty() {
            return self.local.commit(user, device_id, datastore, commit);
        }
        let lock = self.user_lock(user)?;
        let _held = lock.lock().map_err(poisoned)?;
        let (done, failed) = self.write(user, &commit.mutations);
        let mut c = commit.clone();
        if failed.is_some() {
            let n = done.len();
            c.maps.retain(|m| match m {
                crate::store::MapUpdate::ToNewItem { index, .. } => *index < n,
                _ => true,
            });
        }
        c.mutations = done;
        let applied = self.local.commit(user, device_id, datastore, &c)?;
        match failed {
            Some(e) => Err(e),
            None => Ok(applied),
        }
    }

    fn guids(&self, user: UserId, datastore: &str) -> StoreResult<Vec<String>> {
        self.local.guids(user, datastore)
    }

    fn parents(&self, user: UserId, datastore: &str) -> StoreResult<Vec<(String, String)>> {
        self.local.parents(user, datastore)
    }

    fn stage_append(&self, user: UserId, device_id: &str, key: &str, offset: u64, bytes: &[u8]) -> StoreResult<u64> {
        self.local.stage_append(user, device_id, key, offset, bytes)
    }

    fn stage_read(&self, user: UserId, device_id: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.local.stage_read(user, device_id, key)
    }

    fn stage_clear(&self, user: UserId, device_id: &str, key: Option<&str>) -> StoreResult<()> {
        self.local.stage_clear(user, device_id, key)
    }

    fn suspended(&self, user: UserId, device_id: &str) -> StoreResult<Option<String>> {
        self.local.suspended(user, device_id)
    }

    fn set_suspended(&self, user: UserId, device_id: &str, state: Option<&str>) -> StoreResult<()> {
        self.local.set_suspended(user, device_id, state)
    }

    fn sync_backend(&self, user: UserId, record: &mut BackendSink<'_>) -> StoreResult<usize> {
        let lock = self.user_lock(user)?;
        let _held = lock.lock().map_err(poisoned)?;
        self.pull(user, record)
    }
}

impl AlertStore for ImapStore {
    fn device_prefs(&self, user: UserId, device_id: &str) -> StoreResult<Option<PrefsRecord>> {
        self.local.device_prefs(user, device_id)
    }

    fn set_device_prefs(
        &self,
        user: UserId,
        device_id: &str,
        prefs: Option<&str>,
        next_run: Option<i64>,
    ) -> StoreResult<()> {
        self.local.set_device_prefs(user, device_id, prefs, next_run)
    }

    fn user_device_prefs(&self, user: UserId) -> StoreResult<Vec<PrefsRecord>> {
        self.local.user_device_prefs(user)
    }

    fn set_next_run(&self, user: UserId, device_id: &str, next_run: Option<i64>) -> StoreResult<()> {
        self.local.set_next_run(user, device_id, next_run)
    }

    fn due_schedules(&self, now: i64) -> StoreResult<Vec<PrefsRecord>> {
        self.local.due_schedules(now)
    }

    fn next_schedule(&self) -> StoreResult<Option<i64>> {
        self.local.next_schedule()
    }

    fn enqueue_alert(&self, alert: &NewAlert) -> StoreResult<i64> {
        self.local.enqueue_alert(alert)
    }

    fn pending_alert(&self, user: UserId, device_id: &str) -> StoreResult<Option<AlertRecord>> {
        self.local.pending_alert(user, device_id)
    }

    fn update_alert(&self, alert: &AlertRecord) -> StoreResult<()> {
        self.local.update_alert(alert)
    }

    fn due_alerts(&self, now: i64, limit: usize) -> StoreResult<Vec<AlertRecord>> {
        self.local.due_alerts(now, limit)
    }

    fn next_alert_due(&self) -> StoreResult<Option<i64>> {
        self.local.next_alert_due()
    }

    fn device_alerts(&self, user: UserId, device_id: &str, since: i64) -> StoreResult<Vec<AlertRecord>> {
        self.local.device_alerts(user, device_id, since)
    }

    fn settle_inflight_alerts(&self) -> StoreResult<usize> {
        self.local.settle_inflight_alerts()
    }
}
