//! The reference backend: every user's state in plain maps behind one `Mutex`.
//!
//! This file defines the semantics of [`Store`]; the SQLite backend must agree with it on every
//! check of the test battery. It favours being obviously right over being fast: writes that touch
//! items (`apply`, `commit`) work on a copy of the user's state and swap it in only when
//! everything succeeded, so a failure halfway changes nothing.
//!
//! Choices the trait leaves open, made here and checked by the battery:
//! - Sequence numbers are per user and start at 1; only successful mutations take one (a
//!   `NotFound` result does not).
//! - A GUID is the sequence number of the item's Add in base 36 ([`guid_from_seq`]): at most 13
//!   characters, unique per user and never reused.
//! - `list_users` is in name order, `list_devices` in device-id order, `id_map` in LUID order.
//! - Writes for an unknown user fail with `NotFound`; reads for one return nothing.
//! - `set_anchor` and `commit` create an empty device record when the device is unknown;
//!   `delete_device` of an unknown device is not an error.
//! - `stage_append`, `set_suspended` create the device record like `set_anchor`; a wrong
//!   `stage_append` offset is `Invalid`; `stage_clear` of nothing is not an error.
//! - In a [`Commit`]: the mutations first (in order), then the unmaps, then the maps. A
//!   `MapUpdate::Pair` may name any GUID (the item may have been deleted since it was sent).
//!
//! Must not be used for anything but tests and trying things out: nothing is persisted.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::store::{
    Applied, Change, ChangeKind, Commit, Delta, DeviceRecord, ItemInfo, ItemRecord, MapUpdate, Mutation, Origin, Store,
    StoreError, StoreResult, SyncAnchor, User, UserId,
};

/// The in-memory store. Cheap to create; everything is lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    pub(super) fn lock(&self) -> StoreResult<MutexGuard<'_, State>> {
        // A poisoned lock means a panic while the state was being changed: refuse to go on
        // rather than serve state that may be half-updated.
        self.state.lock().map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }
}

/// The GUID scheme shared by the backends: the sequence number of the item's Add, in base 36
/// (lower case). `u64::MAX` takes 13 characters, well under SyncEvolution's MaxGUIDSize of 64.
pub(crate) fn guid_from_seq(mut seq: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(13);
    loop {
        // The remainder is < 36, so the index is in range.
        out.push(DIGITS[(seq % 36) as usize]);
        seq /= 36;
        if seq == 0 {
            break;
        }
    }
    out.reverse();
    out.into_iter().map(char::from).collect()
}

/// Whole state of the store.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Last user id handed out; ids are never reused.
    last_user_id: i64,
    users: BTreeMap<UserId, UserState>,
    /// Server-initiated sync (memory_alerts.rs): preferences and the alert queue.
    pub(super) notify: crate::store::memory_alerts::NotifyState,
}

impl State {
    /// The name of a user, if it exists.
    pub(super) fn user_name(&self, user: UserId) -> Option<String> {
        self.users.get(&user).map(|u| u.user.name.clone())
    }

    /// Makes sure the user has a record of the device (as a device's first sync would).
    pub(super) fn ensure_device(&mut self, user: UserId, device_id: &str) -> StoreResult<()> {
        self.user_mut(user)?.device_mut(device_id);
        Ok(())
    }
}

/// Everything that belongs to one user.
#[derive(Clone, Debug)]
struct UserState {
    user: User,
    /// Last sequence number handed out.
    seq: u64,
    /// Live items: datastore → GUID → item.
    items: BTreeMap<String, BTreeMap<String, ItemRecord>>,
    /// Every successful mutation, in seq order.
    log: Vec<LogEntry>,
    devices: BTreeMap<String, DeviceState>,
}

#[derive(Clone, Debug)]
struct LogEntry {
    datastore: String,
    guid: String,
    kind: ChangeKind,
    origin: Origin,
    seq: u64,
    delta: Delta,
}

#[derive(Clone, Debug)]
struct DeviceState {
    record: DeviceRecord,
    /// Datastore → anchor.
    anchors: BTreeMap<String, SyncAnchor>,
    /// Datastore → LUID → GUID.
    maps: BTreeMap<String, BTreeMap<String, String>>,
    /// Key → large object being received.
    staged: BTreeMap<String, Vec<u8>>,
    /// The saved state of a suspended session.
    suspended: Option<String>,
}

impl DeviceState {
    fn empty(device_id: &str) -> DeviceState {
        DeviceState {
            record: DeviceRecord { device_id: device_id.to_owned(), ..DeviceRecord::default() },
            anchors: BTreeMap::new(),
            maps: BTreeMap::new(),
            staged: BTreeMap::new(),
            suspended: None,
        }
    }
}

impl State {
    fn user_by_name(&self, name: &str) -> Option<&UserState> {
        self.users.values().find(|u| u.user.name == name)
    }

    fn user_by_name_mut(&mut self, name: &str) -> StoreResult<&mut UserState> {
        self.users
            .values_mut()
            .find(|u| u.user.name == name)
            .ok_or_else(|| StoreError::NotFound(format!("user {name}")))
    }

    fn user_mut(&mut self, user: UserId) -> StoreResult<&mut UserState> {
        self.users.get_mut(&user).ok_or_else(|| StoreError::NotFound(format!("user {}", user.0)))
    }
}

impl UserState {
    fn next_seq(&mut self) -> StoreResult<u64> {
        self.seq = self.seq.checked_add(1).ok_or_else(|| StoreError::Backend("sequence number overflow".into()))?;
        Ok(self.seq)
    }

    fn device_mut(&mut self, device_id: &str) -> &mut DeviceState {
        self.devices.entry(device_id.to_owned()).or_insert_with(|| DeviceState::empty(device_id))
    }

    /// Applies one mutation to this (draft) state.
    fn apply_one(&mut self, datastore: &str, origin: &Origin, mutation: &Mutation) -> StoreResult<Applied> {
        let (guid, kind, seq, delta) = match mutation {
            Mutation::Add { parent, content_type, data } => {
                let seq = self.next_seq()?;
                let guid = guid_from_seq(seq);
                let record = ItemRecord {
                    guid: guid.clone(),
                    parent: parent.clone(),
                    content_type: content_type.clone(),
                    data: data.clone(),
                    seq,
                };
                self.items.entry(datastore.to_owned()).or_default().insert(guid.clone(), record);
                (guid, ChangeKind::Add, seq, Delta::WHOLE)
            }
            Mutation::Replace { guid, parent, content_type, data, fields_only } => {
                let Some(old) = self.items.get(datastore).and_then(|items| items.get(guid)) else {
                    return Ok(Applied::NotFound);
                };
                let delta = Delta::between(
                    (old.parent.as_deref(), &old.content_type, &old.data),
                    (parent.as_deref(), content_type, data),
                    *fields_only,
                );
                let seq = self.next_seq()?;
                let record = ItemRecord {
                    guid: guid.clone(),
                    parent: parent.clone(),
                    content_type: content_type.clone(),
                    data: data.clone(),
                    seq,
                };
                self.items.entry(datastore.to_owned()).or_default().insert(guid.clone(), record);
                (guid.clone(), ChangeKind::Replace, seq, delta)
            }
            Mutation::Delete { guid } => {
                if self.items.get_mut(datastore).and_then(|items| items.remove(guid)).is_none() {
                    return Ok(Applied::NotFound);
                }
                (guid.clone(), ChangeKind::Delete, self.next_seq()?, Delta::default())
            }
        };
        self.log.push(LogEntry {
            datastore: datastore.to_owned(),
            guid: guid.clone(),
            kind,
            // As the SQLite log: anything but a device reads back as the service.
            origin: match origin {
                Origin::Backend => Origin::Service,
                other => other.clone(),
            },
            seq,
            delta,
        });
        Ok(Applied::Done { guid })
    }

    fn apply_all(&mut self, datastore: &str, origin: &Origin, mutations: &[Mutation]) -> StoreResult<Vec<Applied>> {
        mutations.iter().map(|m| self.apply_one(datastore, origin, m)).collect()
    }
}

impl Store for MemoryStore {
    fn create_user(&self, name: &str, secret: &str) -> StoreResult<User> {
        let mut state = self.lock()?;
        if state.user_by_name(name).is_some() {
            return Err(StoreError::AlreadyExists(format!("user {name}")));
        }
        state.last_user_id += 1;
        let user = User { id: UserId(state.last_user_id), name: name.to_owned(), secret: secret.to_owned() };
        let user_state =
            UserState { user: user.clone(), seq: 0, items: BTreeMap::new(), log: Vec::new(), devices: BTreeMap::new() };
        state.users.insert(user.id, user_state);
        Ok(user)
    }

    fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        Ok(self.lock()?.user_by_name(name).map(|u| u.user.clone()))
    }

    fn list_users(&self) -> StoreResult<Vec<User>> {
        let mut users: Vec<User> = self.lock()?.users.values().map(|u| u.user.clone()).collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }

    fn set_user_secret(&self, name: &str, secret: &str) -> StoreResult<()> {
        self.lock()?.user_by_name_mut(name)?.user.secret = secret.to_owned();
        Ok(())
    }

    fn delete_user(&self, name: &str) -> StoreResult<()> {
        let mut state = self.lock()?;
        let id = state.user_by_name_mut(name)?.user.id;
        state.users.remove(&id);
        state.notify.forget(id, None);
        Ok(())
    }

    fn device(&self, user: UserId, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        let state = self.lock()?;
        Ok(state.users.get(&user).and_then(|u| u.devices.get(device_id)).map(|d| d.record.clone()))
    }

    fn put_device(&self, user: UserId, device: &DeviceRecord) -> StoreResult<()> {
        let mut state = self.lock()?;
        state.user_mut(user)?.device_mut(&device.device_id).record = device.clone();
        Ok(())
    }

    fn list_devices(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
        let state = self.lock()?;
        // BTreeMap iteration is in device-id order.
        Ok(state.users.get(&user).map(|u| u.devices.values().map(|d| d.record.clone()).collect()).unwrap_or_default())
    }

    fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<()> {
        let mut state = self.lock()?;
        state.user_mut(user)?.devices.remove(device_id);
        state.notify.forget(user, Some(device_id));
        Ok(())
    }

    fn item(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemRecord>> {
        let state = self.lock()?;
        Ok(state.users.get(&user).and_then(|u| u.items.get(datastore)).and_then(|items| items.get(guid)).cloned())
    }

    fn items(&self, user: UserId, datastore: &str) -> StoreResult<Vec<ItemRecord>> {
        let state = self.lock()?;
        // BTreeMap iteration is in GUID order.
        let items = state.users.get(&user).and_then(|u| u.items.get(datastore));
        Ok(items.map(|items| items.values().cloned().collect()).unwrap_or_default())
    }

    fn current_seq(&self, user: UserId) -> StoreResult<u64> {
        Ok(self.lock()?.users.get(&user).map_or(0, |u| u.seq))
    }

    fn item_info(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemInfo>> {
        let state = self.lock()?;
        let it = state.users.get(&user).and_then(|u| u.items.get(datastore)).and_then(|items| items.get(guid));
        Ok(it.map(|it| ItemInfo {
            guid: it.guid.clone(),
            parent: it.parent.clone(),
            content_type: it.content_type.clone(),
            size: it.data.len() as u64,
            seq: it.seq,
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
        let state = self.lock()?;
        let it = state.users.get(&user).and_then(|u| u.items.get(datastore)).and_then(|items| items.get(guid));
        Ok(it.map(|it| {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(it.data.len());
            let end = start.saturating_add(len).min(it.data.len());
            (it.seq, it.data[start..end].to_vec())
        }))
    }

    fn changes_since(&self, user: UserId, datastore: &str, since: u64) -> StoreResult<Vec<Change>> {
        let state = self.lock()?;
        let Some(user) = state.users.get(&user) else { return Ok(Vec::new()) };
        Ok(net_changes(user.log.iter().filter(|e| e.datastore == datastore && e.seq > since)))
    }

    fn apply(
        &self,
        user: UserId,
        datastore: &str,
        origin: &Origin,
        mutations: &[Mutation],
    ) -> StoreResult<Vec<Applied>> {
        let mut state = self.lock()?;
        let current = state.user_mut(user)?;
        let mut draft = current.clone();
        let results = draft.apply_all(datastore, origin, mutations)?;
        *current = draft;
        Ok(results)
    }

    fn anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Option<SyncAnchor>> {
        let state = self.lock()?;
        let device = state.users.get(&user).and_then(|u| u.devices.get(device_id));
        Ok(device.and_then(|d| d.anchors.get(datastore)).cloned())
    }

    fn set_anchor(&self, user: UserId, device_id: &str, datastore: &str, anchor: &SyncAnchor) -> StoreResult<()> {
        let mut state = self.lock()?;
        state.user_mut(user)?.device_mut(device_id).anchors.insert(datastore.to_owned(), anchor.clone());
        Ok(())
    }

    fn clear_anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(device) = state.user_mut(user)?.devices.get_mut(device_id) {
            device.anchors.remove(datastore);
        }
        Ok(())
    }

    fn id_map(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Vec<(String, String)>> {
        let state = self.lock()?;
        let device = state.users.get(&user).and_then(|u| u.devices.get(device_id));
        let map = device.and_then(|d| d.maps.get(datastore));
        // BTreeMap iteration is in LUID order.
        Ok(map.map(|m| m.iter().map(|(l, g)| (l.clone(), g.clone())).collect()).unwrap_or_default())
    }

    fn commit(&self, user: UserId, device_id: &str, datastore: &str, commit: &Commit) -> StoreResult<Vec<Applied>> {
        let mut state = self.lock()?;
        let current = state.user_mut(user)?;
        let mut draft = current.clone();
        let origin = Origin::Device(device_id.to_owned());
        let results = draft.apply_all(datastore, &origin, &commit.mutations)?;
        let map = draft.device_mut(device_id).maps.entry(datastore.to_owned()).or_default();
        for luid in &commit.unmaps {
            map.remove(luid);
        }
        for update in &commit.maps {
            let (luid, guid) = resolve_map(update, &commit.mutations, &results)?;
            // One pair per LUID and per GUID: drop whatever held either side before.
            map.retain(|_, g| g != guid);
            map.insert(luid.to_owned(), guid.to_owned());
        }
        *current = draft;
        Ok(results)
    }

    fn guids(&self, user: UserId, datastore: &str) -> StoreResult<Vec<String>> {
        let state = self.lock()?;
        let items = state.users.get(&user).and_then(|u| u.items.get(datastore));
        Ok(items.map(|items| items.keys().cloned().collect()).unwrap_or_default())
    }

    fn parents(&self, user: UserId, datastore: &str) -> StoreResult<Vec<(String, String)>> {
        let state = self.lock()?;
        let items = state.users.get(&user).and_then(|u| u.items.get(datastore));
        Ok(items
            .map(|items| items.values().filter_map(|i| Some((i.guid.clone(), i.parent.clone()?))).collect())
            .unwrap_or_default())
    }

    fn stage_append(&self, user: UserId, device_id: &str, key: &str, offset: u64, bytes: &[u8]) -> StoreResult<u64> {
        let mut state = self.lock()?;
        let staged = &mut state.user_mut(user)?.device_mut(device_id).staged;
        if offset == 0 {
            staged.insert(key.to_owned(), Vec::new());
        }
        let object = staged.get_mut(key).ok_or_else(|| StoreError::Invalid(format!("no staged object {key}")))?;
        if object.len() as u64 != offset {
            return Err(StoreError::Invalid(format!("staged object {key} has {} bytes, not {offset}", object.len())));
        }
        object.extend_from_slice(bytes);
        Ok(object.len() as u64)
    }

    fn stage_read(&self, user: UserId, device_id: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let state = self.lock()?;
        let device = state.users.get(&user).and_then(|u| u.devices.get(device_id));
        Ok(device.and_then(|d| d.staged.get(key)).cloned())
    }

    fn stage_clear(&self, user: UserId, device_id: &str, key: Option<&str>) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(device) = state.user_mut(user)?.devices.get_mut(device_id) {
            match key {
                Some(key) => {
                    device.staged.remove(key);
                }
                None => device.staged.clear(),
            }
        }
        Ok(())
    }

    fn suspended(&self, user: UserId, device_id: &str) -> StoreResult<Option<String>> {
        let state = self.lock()?;
        let device = state.users.get(&user).and_then(|u| u.devices.get(device_id));
        Ok(device.and_then(|d| d.suspended.clone()))
    }

    fn set_suspended(&self, user: UserId, device_id: &str, saved: Option<&str>) -> StoreResult<()> {
        let mut state = self.lock()?;
        let user = state.user_mut(user)?;
        match saved {
            Some(saved) => user.device_mut(device_id).suspended = Some(saved.to_owned()),
            None => {
                if let Some(device) = user.devices.get_mut(device_id) {
                    device.suspended = None;
                }
            }
        }
        Ok(())
    }
}

/// The (luid, guid) pair a map update stands for, given the commit's mutations and their results.
/// A `ToNewItem` must point at an Add of the same commit.
pub(crate) fn resolve_map<'a>(
    update: &'a MapUpdate,
    mutations: &[Mutation],
    results: &'a [Applied],
) -> StoreResult<(&'a str, &'a str)> {
    match update {
        MapUpdate::Pair { luid, guid } => Ok((luid, guid)),
        MapUpdate::ToNewItem { luid, index } => {
            let is_add = matches!(mutations.get(*index), Some(Mutation::Add { .. }));
            match results.get(*index).and_then(Applied::guid) {
                Some(guid) if is_add => Ok((luid, guid)),
                _ => Err(StoreError::Invalid(format!(
                    "map of LUID {luid} points at mutation {index}, which is not an Add"
                ))),
            }
        }
    }
}

/// Folds log entries (in seq order) into one net change per item, in order of each item's
/// latest change.
fn net_changes<'a>(entries: impl Iterator<Item = &'a LogEntry>) -> Vec<Change> {
    // GUID → (existed before the first entry, latest entry, union of the deltas).
    let mut per_item: BTreeMap<&str, (bool, &LogEntry, Delta)> = BTreeMap::new();
    for entry in entries {
        per_item
            .entry(entry.guid.as_str())
            .and_modify(|(_, latest, delta)| {
                *latest = entry;
                *delta = delta.union(entry.delta);
            })
            .or_insert((entry.kind != ChangeKind::Add, entry, entry.delta));
    }
    let mut changes: Vec<Change> = per_item
        .into_values()
        .filter_map(|(existed_before, latest, delta)| {
            let exists_now = latest.kind != ChangeKind::Delete;
            let kind = match (existed_before, exists_now) {
                (false, true) => ChangeKind::Add,
                (true, true) => ChangeKind::Replace,
                (true, false) => ChangeKind::Delete,
                (false, false) => return None,
            };
            let delta = match kind {
                ChangeKind::Add => Delta::WHOLE,
                ChangeKind::Replace => delta,
                ChangeKind::Delete => Delta::default(),
            };
            Some(Change { guid: latest.guid.clone(), kind, origin: latest.origin.clone(), seq: latest.seq, delta })
        })
        .collect();
    changes.sort_by_key(|c| c.seq);
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::battery::store_battery;

    store_battery!(|| Box::new(MemoryStore::new()));

    #[test]
    fn guids_are_base36_seq() {
        assert_eq!(guid_from_seq(0), "0");
        assert_eq!(guid_from_seq(35), "z");
        assert_eq!(guid_from_seq(36), "10");
        assert_eq!(guid_from_seq(u64::MAX), "3w5e11264sgsf");
    }
}
