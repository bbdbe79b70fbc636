//! Persistent state behind one trait: users, devices, items with their change log, and the
//! per-device sync state (anchors, LUID↔GUID maps, nonces, DevInf).
//!
//! [`Store`] is what the engine and the server see; [`memory::MemoryStore`] is the reference
//! backend and [`sqlite::SqliteStore`] the embedded default. Both pass the same test battery
//! (`battery`), and so does [`imap::ImapStore`] (which keeps one datastore in an IMAP server and
//! passes everything else to a local store; the battery's items are arbitrary bytes no mailbox
//! can hold, so the IMAP datastore has checks of its own, `imap::checks`, run against the
//! in-memory IMAP server and against Dovecot; a changed UIDVALIDITY is checked on the former
//! only, Dovecot cannot be made to renumber a mailbox in place). Items carry a parent (folders later), every change records its [`Origin`]
//! (which device, or the service), so change sets never echo a device's own changes.
//!
//! Must not know about SyncML messages or the codec: it stores bytes and strings.

pub mod alerts;
pub mod imap;
pub mod memory;
mod memory_alerts;
pub mod metered;
pub mod observed;
pub mod sqlite;

#[cfg(test)]
pub(crate) mod battery;
#[cfg(test)]
pub(crate) mod battery_alerts;
#[cfg(test)]
pub(crate) mod battery_staging;

use std::fmt;

/// A user's numeric id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    /// `B64(MD5("name:password"))`, never the password itself.
    pub secret: String,
}

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A device, by its SyncML device id (SyncHdr Source LocURI).
    Device(String),
    /// The service itself (API, messaging service, administrator).
    Service,
    /// The backing store, changed directly by its other clients (e.g. a mail program on the
    /// IMAP server the messages live in): only recorded, never written back. Read back from the
    /// change log as [`Origin::Service`] (not a device).
    Backend,
}

/// A stored item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRecord {
    /// Server-wide unique id of the item (the SyncML GUID), assigned by the store.
    pub guid: String,
    /// GUID of the parent folder, if any.
    pub parent: Option<String>,
    pub content_type: String,
    /// The item exactly as received.
    pub data: Vec<u8>,
    /// Sequence number of the item's last change (grows with every change of the user).
    pub seq: u64,
}

/// An item without its content ([`Store::item_info`]): enough to decide how to send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemInfo {
    pub guid: String,
    pub parent: Option<String>,
    pub content_type: String,
    /// Length of the content in bytes.
    pub size: u64,
    pub seq: u64,
}

/// The kind of a change in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Add,
    Replace,
    Delete,
}

/// What Replaces of an item changed, as the change log records it: the server sends a device
/// no more than that (a field-level Replace for states, a Move for a new parent), so a message
/// marked seen does not cross the wire again with its body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Delta {
    /// The content changed beyond what `fields` covers (or the content type changed).
    pub content: bool,
    /// Only fields of the object changed (e.g. a message's states): see [`Mutation::Replace`].
    pub fields: bool,
    /// The item has a new parent folder.
    pub parent: bool,
}

impl Delta {
    /// The whole item changed (Adds, and what older change logs recorded).
    pub const WHOLE: Delta = Delta { content: true, fields: false, parent: false };

    /// Both changes together.
    pub fn union(self, other: Delta) -> Delta {
        Delta {
            content: self.content || other.content,
            fields: self.fields || other.fields,
            parent: self.parent || other.parent,
        }
    }

    /// Nothing changed (a Replace with the same content and parent).
    pub fn is_empty(self) -> bool {
        !self.content && !self.fields && !self.parent
    }

    /// The bits backends store: 1 content, 2 fields, 4 parent.
    pub fn bits(self) -> i64 {
        i64::from(self.content) | i64::from(self.fields) << 1 | i64::from(self.parent) << 2
    }

    pub fn from_bits(bits: i64) -> Delta {
        Delta { content: bits & 1 != 0, fields: bits & 2 != 0, parent: bits & 4 != 0 }
    }

    /// What replacing (`old_parent`, `old_type`, `old_data`) with a Replace's values changes.
    pub fn between(old: (Option<&str>, &str, &[u8]), new: (Option<&str>, &str, &[u8]), fields_only: bool) -> Delta {
        Delta::compared(old.0 == new.0, old.1 == new.1, old.2 == new.2, fields_only)
    }

    /// The delta from what a backend compared: same parent, same content type, same bytes.
    pub fn compared(same_parent: bool, same_type: bool, same_data: bool, fields_only: bool) -> Delta {
        Delta {
            content: !same_type || (!same_data && !fields_only),
            fields: same_type && !same_data && fields_only,
            parent: !same_parent,
        }
    }
}

/// One entry of the change log as returned by [`Store::changes_since`]: the net change of one
/// item since the given sequence number (an Add followed by Replaces is an Add; an Add followed by
/// a Delete disappears).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub guid: String,
    pub kind: ChangeKind,
    /// The origin of the most recent change of the item.
    pub origin: Origin,
    pub seq: u64,
    /// For a net Replace, what all its Replaces changed together ([`Delta::WHOLE`] for an Add,
    /// empty for a Delete).
    pub delta: Delta,
}

/// A change to apply to a datastore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// A new item; the store assigns its GUID (returned in [`Applied::guid`]).
    Add { parent: Option<String>, content_type: String, data: Vec<u8> },
    /// New content for an existing item. `fields_only`: the maker knows the new data differs
    /// from the old only in fields a field-level Replace carries (a message's states); the store
    /// compares data and parent itself and logs the [`Delta`].
    Replace { guid: String, parent: Option<String>, content_type: String, data: Vec<u8>, fields_only: bool },
    /// Removes an item.
    Delete { guid: String },
}

/// The outcome of one [`Mutation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Done; the item's GUID (new for an Add).
    Done { guid: String },
    /// Replace/Delete of an item that does not exist.
    NotFound,
}

impl Applied {
    /// The GUID of a successful mutation.
    pub fn guid(&self) -> Option<&str> {
        match self {
            Applied::Done { guid } => Some(guid),
            Applied::NotFound => None,
        }
    }
}

/// What the server remembers of a device of a user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: String,
    /// Raw bytes of the nonce last issued to the device in a Chal (base64-decoded form).
    pub nonce: Option<Vec<u8>>,
    /// The device's DevInf as received (encoded XML), if it sent one.
    pub devinf: Option<Vec<u8>>,
    /// Unix seconds of the last successful sync, if any.
    pub last_sync: Option<i64>,
}

/// Per device and datastore: what the last successful session agreed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncAnchor {
    /// The client's Next anchor of the last successful session (its Last in the next one).
    pub client_next: String,
    /// The server's Next anchor of the last successful session.
    pub server_next: String,
    /// The store sequence number the device was brought up to.
    pub synced_seq: u64,
    /// The filter and shape the device's set was built with (engine-defined JSON), if any.
    pub filter: Option<String>,
}

/// Everything a session commits for one datastore in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Commit {
    /// Item changes made by the device (origin `Device(device_id)`).
    pub mutations: Vec<Mutation>,
    /// LUID↔GUID pairs to add or overwrite. A `Mutation::Add` can be mapped in the same commit by
    /// giving its index: see [`MapUpdate::ToNewItem`].
    pub maps: Vec<MapUpdate>,
    /// LUIDs whose mapping is removed.
    pub unmaps: Vec<String>,
}

/// One map change in a [`Commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapUpdate {
    /// Maps a LUID to an existing GUID.
    Pair { luid: String, guid: String },
    /// Maps a LUID to the item created by `mutations[index]` (an Add) of the same commit.
    ToNewItem { luid: String, index: usize },
}

/// Store failures. `NotFound`/`AlreadyExists` are the caller's mistakes; `Backend` is ours.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("store failure: {0}")]
    Backend(String),
    /// The backing store cannot be reached or is too slow (an IMAP server down): try later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where [`Store::sync_backend`] records what changed in a backing store.
pub type BackendSink<'a> = dyn FnMut(&str, &[Mutation]) -> StoreResult<Vec<Applied>> + 'a;

/// The persistent state of the gateway. Implementations are shared between threads; every
/// method is one atomic operation (one transaction).
pub trait Store: alerts::AlertStore + Send + Sync + fmt::Debug {
    // Users.
    fn create_user(&self, name: &str, secret: &str) -> StoreResult<User>;
    fn user_by_name(&self, name: &str) -> StoreResult<Option<User>>;
    fn list_users(&self) -> StoreResult<Vec<User>>;
    fn set_user_secret(&self, name: &str, secret: &str) -> StoreResult<()>;
    /// Removes the user with all items, devices and sync state.
    fn delete_user(&self, name: &str) -> StoreResult<()>;

    // Devices.
    fn device(&self, user: UserId, device_id: &str) -> StoreResult<Option<DeviceRecord>>;
    /// Creates or updates the device record (all fields as given).
    fn put_device(&self, user: UserId, device: &DeviceRecord) -> StoreResult<()>;
    fn list_devices(&self, user: UserId) -> StoreResult<Vec<DeviceRecord>>;
    /// Forgets a device with its anchors and maps (its next sync is a first sync).
    fn delete_device(&self, user: UserId, device_id: &str) -> StoreResult<()>;

    // Items and the change log.
    fn item(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemRecord>>;
    /// An item's details without its content.
    fn item_info(&self, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemInfo>>;
    /// Up to `len` bytes of an item's content from `offset` (fewer at the end, none past it),
    /// with the item's seq (a caller reading in pieces sees when the item changed in between),
    /// without reading the rest: large objects are sent from the store a chunk at a time.
    fn item_bytes(
        &self,
        user: UserId,
        datastore: &str,
        guid: &str,
        offset: u64,
        len: usize,
    ) -> StoreResult<Option<(u64, Vec<u8>)>>;
    /// All live items of a datastore, in GUID order.
    fn items(&self, user: UserId, datastore: &str) -> StoreResult<Vec<ItemRecord>>;
    /// The user's current change sequence number (0 when nothing happened yet).
    fn current_seq(&self, user: UserId) -> StoreResult<u64>;
    /// Net changes of a datastore with sequence number greater than `since`, in seq order.
    fn changes_since(&self, user: UserId, datastore: &str, since: u64) -> StoreResult<Vec<Change>>;
    /// Applies mutations made by `origin` in one transaction; one result per mutation.
    fn apply(
        &self,
        user: UserId,
        datastore: &str,
        origin: &Origin,
        mutations: &[Mutation],
    ) -> StoreResult<Vec<Applied>>;

    // Per-device sync state.
    fn anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Option<SyncAnchor>>;
    fn set_anchor(&self, user: UserId, device_id: &str, datastore: &str, anchor: &SyncAnchor) -> StoreResult<()>;
    /// Removes the anchor (forces a slow sync next time).
    fn clear_anchor(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<()>;
    /// The LUID↔GUID map of a device's datastore as (luid, guid) pairs.
    fn id_map(&self, user: UserId, device_id: &str, datastore: &str) -> StoreResult<Vec<(String, String)>>;
    /// Applies a device's item changes (origin `Device(device_id)`) and map changes in one
    /// transaction; one result per mutation.
    fn commit(&self, user: UserId, device_id: &str, datastore: &str, commit: &Commit) -> StoreResult<Vec<Applied>>;

    /// The GUIDs of a datastore's live items, in GUID order (no content loaded).
    fn guids(&self, user: UserId, datastore: &str) -> StoreResult<Vec<String>>;
    /// (GUID, parent GUID) of the datastore's live items that have a parent, in GUID order (the
    /// folder tree without content).
    fn parents(&self, user: UserId, datastore: &str) -> StoreResult<Vec<(String, String)>>;

    // Large objects being received (PROTOCOL.md §1.7): the chunks of an item are staged here,
    // not in memory, until the last one arrives; they outlive the session for a resume.
    /// Appends `bytes` to the device's staged object `key` and returns its new length. At
    /// `offset` 0 any older object of that key is replaced; any other offset must equal the
    /// current length (`Invalid` otherwise, and nothing is written).
    fn stage_append(&self, user: UserId, device_id: &str, key: &str, offset: u64, bytes: &[u8]) -> StoreResult<u64>;
    /// The staged object, whole (`None` when there is none).
    fn stage_read(&self, user: UserId, device_id: &str, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Forgets one staged object, or with `None` every staged object of the device.
    fn stage_clear(&self, user: UserId, device_id: &str, key: Option<&str>) -> StoreResult<()>;

    // Suspended sessions (PROTOCOL.md §3.7).
    /// The saved state of the device's suspended session (opaque text written by the engine).
    fn suspended(&self, user: UserId, device_id: &str) -> StoreResult<Option<String>>;
    /// Saves (`Some`) or forgets (`None`) the device's suspended session.
    fn set_suspended(&self, user: UserId, device_id: &str, state: Option<&str>) -> StoreResult<()>;

    // Backing stores.
    /// Looks for changes made directly in a backing store (by other clients of an IMAP server)
    /// and hands them to `record` as mutations to apply with [`Origin::Backend`], in order (a
    /// folder before what it holds); returns how many. Stores that back nothing have none.
    fn sync_backend(&self, user: UserId, record: &mut BackendSink<'_>) -> StoreResult<usize> {
        let _ = (user, record);
        Ok(0)
    }

    /// [`Store::sync_backend`], recording through this store (so wrappers see the changes).
    fn pull_backend(&self, user: UserId) -> StoreResult<usize> {
        self.sync_backend(user, &mut |datastore: &str, mutations: &[Mutation]| {
            self.apply(user, datastore, &Origin::Backend, mutations)
        })
    }
}

/// Everything below `folder` in a tree of (child, parent) pairs as [`Store::parents`] lists
/// it, the deepest first (the order to delete them in).
pub fn descendants(tree: &[(String, String)], folder: &str) -> Vec<String> {
    let mut children: std::collections::HashMap<&str, Vec<&str>> = std::collections::HashMap::new();
    for (child, parent) in tree {
        children.entry(parent.as_str()).or_default().push(child.as_str());
    }
    // Breadth first (a cycle in a damaged tree cannot loop: each item is taken once).
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::from([folder]);
    let mut order: Vec<String> = Vec::new();
    let mut next = 0;
    let mut frontier = vec![folder];
    while next < frontier.len() {
        let at = frontier[next];
        next += 1;
        for c in children.get(at).into_iter().flatten() {
            if seen.insert(c) {
                frontier.push(c);
                order.push((*c).to_string());
            }
        }
    }
    order.reverse();
    order
}
