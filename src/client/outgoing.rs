//! The device's change set and how it goes into package 3: new items as Add, changed ones as
//! Replace, ones put into another folder as Move, removed ones as Delete (every item as Replace in a slow sync or refresh); parents
//! before their children; as many per message as the server's MaxMsgSize allows, an item too big
//! for any message split into chunks with MoreData and the total size in the first chunk's
//! Meta (PROTOCOL.md §1.7), the next chunk following once the server answered 213.

use std::collections::{HashMap, VecDeque};

use crate::client::local::LocalItem;
use crate::client::session::{ClientSession, SyncMode};
use crate::client::state::{item_digest, DatastoreState};
use crate::codec::estimate;
use crate::cpm::fields;
use crate::proto::{Add, Command, Data, Delete, DevInf, Item, Message, Meta, Move, Replace, Source, Sync, Target};

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Add,
    Replace,
    Delete,
    /// Only the parent changed (DS 1.2 Move).
    Move,
}

/// One change to send.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub(crate) kind: Kind,
    pub(crate) luid: String,
    pub(crate) content_type: String,
    pub(crate) parent: Option<String>,
    pub(crate) data: Vec<u8>,
    /// A Replace carrying only the item's fields (Meta FieldLevel).
    pub(crate) field_level: bool,
}

/// A large object being sent in chunks.
#[derive(Debug)]
pub(crate) struct OutChunk {
    pub(crate) datastore: String,
    pub(crate) ds: usize,
    pub(crate) luid: String,
    change: Change,
    sent: usize,
    /// (MsgID, CmdID) of the last chunk until the server answers 213.
    pub(crate) awaiting: Option<(u32, u32)>,
}

/// The changes of a datastore since the digests, parents and bodies in `saved` (every item in
/// a slow sync). An item of a type in `field_level` (the server takes field-level Replaces for
/// it) whose body is what it was goes as a field-level Replace of its fields.
pub(crate) fn changes(
    mode: SyncMode,
    items: Vec<LocalItem>,
    saved: &DatastoreState,
    field_level: &[String],
) -> VecDeque<Change> {
    let (synced, parents) = (&saved.synced, &saved.parents);
    let mut out = Vec::new();
    let present: HashMap<String, ()> = items.iter().map(|i| (i.luid.clone(), ())).collect();
    let depth = depths(&items);
    for item in items {
        let digest = item_digest(&item.content_type, &item.data);
        let moved = parents.get(&item.luid).map(String::as_str) != item.parent.as_deref();
        let kind = if mode.sends_all() {
            Kind::Replace
        } else {
            match synced.get(&item.luid) {
                None => Kind::Add,
                Some(old) if *old != digest => Kind::Replace,
                // Into a folder: Move; out to the top: a Replace naming no parent.
                Some(_) if moved && item.parent.is_some() => Kind::Move,
                Some(_) if moved => Kind::Replace,
                Some(_) => continue,
            }
        };
        let small = (kind == Kind::Replace && !mode.sends_all())
            .then(|| fields_only(&item, saved.bodies.get(&item.luid), field_level))
            .flatten();
        let field_level = small.is_some();
        let data = small.unwrap_or(item.data);
        let (luid, content_type, parent) = (item.luid, item.content_type, item.parent);
        let change = Change { kind, luid, content_type, parent, data, field_level };
        out.push((depth.get(&change.luid).copied().unwrap_or(0), change));
    }
    // Folders before what they contain.
    out.sort_by_key(|(d, _)| *d);
    let mut changes: VecDeque<Change> = out.into_iter().map(|(_, c)| c).collect();
    if !mode.sends_all() {
        // Deleted items, the contents of a folder before the folder.
        let depth_of = |luid: &str| {
            let mut d = 0;
            let mut at = parents.get(luid);
            while let Some(p) = at {
                d += 1;
                if d > 64 {
                    break;
                }
                at = parents.get(p);
            }
            d
        };
        let mut gone: Vec<&String> = synced.keys().filter(|l| !present.contains_key(*l)).collect();
        gone.sort_by_key(|l| std::cmp::Reverse(depth_of(l)));
        for luid in gone {
            changes.push_back(Change {
                kind: Kind::Delete,
                luid: luid.clone(),
                content_type: String::new(),
                parent: None,
                data: Vec::new(),
                field_level: false,
            });
        }
    }
    changes
}

/// The field-level form of a changed item whose body is still `body` (its digest when last in
/// step), when the server takes field-level Replaces for its type.
fn fields_only(item: &LocalItem, body: Option<&String>, field_level: &[String]) -> Option<Vec<u8>> {
    let base = item.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !field_level.contains(&base) {
        return None;
    }
    let now = fields::body_digest(&item.content_type, &item.data)?;
    (Some(&now) == body).then(|| fields::fields_only(&item.content_type, &item.data)).flatten()
}

/// The content types a DevInf announces field-level Replaces for (CTCaps with FieldLevel).
pub(crate) fn field_level_types(di: &DevInf) -> Vec<String> {
    di.data_stores
        .iter()
        .flat_map(|d| d.ct_caps.iter())
        .chain(di.ct_caps.iter())
        .filter(|c| c.field_level)
        .map(|c| c.ct_type.to_ascii_lowercase())
        .collect()
}

/// How deep each item lies in the parent chain (0 without a parent).
fn depths(items: &[LocalItem]) -> HashMap<String, usize> {
    let parent: HashMap<&str, Option<&str>> = items.iter().map(|i| (i.luid.as_str(), i.parent.as_deref())).collect();
    items
        .iter()
        .map(|i| {
            let mut d = 0;
            let mut at = i.parent.as_deref();
            while let Some(p) = at {
                d += 1;
                if d > 64 {
                    break;
                }
                at = parent.get(p).copied().flatten();
            }
            (i.luid.clone(), d)
        })
        .collect()
}

/// Adds the datastores' Syncs with as many changes as fit `budget` bytes to `msg`. Returns
/// true when everything was sent (package 3 complete).
pub(crate) fn pack(s: &mut ClientSession, msg: &mut Message, budget: usize) -> bool {
    // A large object in progress: its next chunk once the server took the previous one.
    if let Some(oc) = &s.out_chunk {
        if oc.awaiting.is_some() {
            return false;
        }
        let ds = oc.ds;
        push_chunk(s, msg, ds, budget);
        if s.out_chunk.is_some() {
            return false;
        }
    }
    for di in 0..s.ds.len() {
        let ds = &s.ds[di];
        let mode = ds.mode.unwrap_or(ds.spec.mode);
        if !ds.alert_ok || (ds.sync_opened && ds.pending.is_empty()) {
            continue;
        }
        let mut sync = Sync {
            target: Some(Target::uri(&ds.spec.name)),
            source: Some(Source::uri(&ds.spec.local_uri)),
            number_of_changes: (!ds.sync_opened && mode.sends()).then_some(ds.pending.len() as u32),
            ..Default::default()
        };
        let mut luids = Vec::new();
        let mut used = ClientSession::body_size(msg) + 400;
        let mut too_big = false;
        while let Some(change) = s.ds[di].pending.front() {
            if s.server_max_obj().is_some_and(|max| change.data.len() as u64 > max) {
                // Larger than the server accepts (PROTOCOL.md §1.6): not sent, still a change.
                if let Some(change) = s.ds[di].pending.pop_front() {
                    s.ds[di].failed.push(change.luid);
                    s.ds[di].report.sent_failed += 1;
                }
                continue;
            }
            let cmd = command(change, None, false);
            let size = estimate(&cmd);
            if used + size > budget {
                too_big = size + 1000 > budget && sync.commands.is_empty();
                break;
            }
            used += size;
            luids.push(change.luid.clone());
            sync.commands.push(cmd);
            s.ds[di].pending.pop_front();
        }
        s.ds[di].sync_opened = true;
        count_sent(s, di, &sync);
        let full = !s.ds[di].pending.is_empty();
        if !sync.commands.is_empty() || !too_big {
            s.push(msg, Command::Sync(sync));
            let Some(Command::Sync(pushed)) = msg.body.last() else { return false };
            let ids: Vec<u32> = pushed.commands.iter().map(Command::cmd_id).collect();
            for (cmd_id, luid) in ids.into_iter().zip(luids) {
                s.expect_statuses(di, cmd_id, vec![luid]);
            }
        }
        if too_big {
            if let Some(change) = s.ds[di].pending.pop_front() {
                let datastore = s.ds[di].spec.name.clone();
                s.out_chunk =
                    Some(OutChunk { datastore, ds: di, luid: change.luid.clone(), change, sent: 0, awaiting: None });
                push_chunk(s, msg, di, budget);
            }
            return false;
        }
        if full {
            return false;
        }
    }
    s.out_chunk.is_none() && s.ds.iter().all(|d| !d.alert_ok || (d.sync_opened && d.pending.is_empty()))
}

/// Counts the changes of a Sync in the datastore's report.
fn count_sent(s: &mut ClientSession, di: usize, sync: &Sync) {
    let report = &mut s.ds[di].report;
    for cmd in &sync.commands {
        match cmd {
            Command::Add(_) => report.sent_added += 1,
            Command::Replace(_) => report.sent_replaced += 1,
            Command::Delete(_) => report.sent_deleted += 1,
            Command::Move(_) => report.sent_moved += 1,
            _ => {}
        }
    }
}

/// Puts the next chunk of the large object in progress into `msg` (in a Sync of its own).
fn push_chunk(s: &mut ClientSession, msg: &mut Message, di: usize, budget: usize) {
    let Some(mut oc) = s.out_chunk.take() else { return };
    let used = ClientSession::body_size(msg) + 1000;
    let room = budget.saturating_sub(used).max(512);
    let rest = &oc.change.data[oc.sent..];
    let mut n = 0;
    let mut cost = 0;
    while n < rest.len() {
        let c = if matches!(rest[n], b'\r' | b'&' | b'<' | b'>') { 6 } else { 1 };
        if cost + c > room {
            break;
        }
        cost += c;
        n += 1;
    }
    // Never split a UTF-8 sequence of a text item.
    if n < rest.len() && std::str::from_utf8(&oc.change.data).is_ok() {
        while n > 0 && (rest[n] & 0xC0) == 0x80 {
            n -= 1;
        }
    }
    let first = oc.sent == 0;
    let piece = rest[..n].to_vec();
    oc.sent += n;
    let more = oc.sent < oc.change.data.len();
    let total = first.then_some(oc.change.data.len() as u64);
    let cmd = with_size(command(&oc.change, Some(piece), more), total);
    let ds = &s.ds[di];
    let sync = Sync {
        target: Some(Target::uri(&ds.spec.name)),
        source: Some(Source::uri(&ds.spec.local_uri)),
        commands: vec![cmd],
        ..Default::default()
    };
    if first {
        count_sent(s, di, &sync);
    }
    s.ds[di].sync_opened = true;
    s.push(msg, Command::Sync(sync));
    let cmd_id = match msg.body.last() {
        Some(Command::Sync(pushed)) => pushed.commands.first().map_or(0, Command::cmd_id),
        _ => 0,
    };
    let msg_id = s.current_msg_id();
    if more {
        oc.awaiting = Some((msg_id, cmd_id));
        s.out_chunk = Some(oc);
    } else {
        s.expect_statuses(di, cmd_id, vec![oc.luid]);
    }
}

/// The command sending a change (with `data` instead of the whole item for a chunk).
fn command(change: &Change, data: Option<Vec<u8>>, more: bool) -> Command {
    let item = Item {
        source: Some(Source::uri(&change.luid)),
        source_parent: change.parent.clone(),
        data: match change.kind {
            Kind::Delete | Kind::Move => None,
            _ => Some(Data::Bytes(data.unwrap_or_else(|| change.data.clone()))),
        },
        more_data: more,
        ..Default::default()
    };
    let meta = matches!(change.kind, Kind::Add | Kind::Replace)
        .then(|| Meta { field_level: change.field_level, ..Meta::with_type(&change.content_type) });
    match change.kind {
        Kind::Add => Command::Add(Add { meta, items: vec![item], ..Default::default() }),
        Kind::Replace => Command::Replace(Replace { meta, items: vec![item], ..Default::default() }),
        Kind::Delete => Command::Delete(Delete { items: vec![item], ..Default::default() }),
        Kind::Move => Command::Move(Move { cmd_id: 0, no_resp: false, cred: None, meta, items: vec![item] }),
    }
}

/// Declares the object's total size in the first chunk's item Meta.
fn with_size(mut cmd: Command, total: Option<u64>) -> Command {
    let Some(total) = total else { return cmd };
    let item = match &mut cmd {
        Command::Add(a) => a.items.first_mut(),
        Command::Replace(r) => r.items.first_mut(),
        _ => None,
    };
    if let Some(item) = item {
        item.meta.get_or_insert_with(Meta::default).size = Some(total);
    }
    cmd
}

impl ClientSession {
    /// The server's 213 for a chunk: the next one may go.
    pub(crate) fn chunk_accepted(&mut self, msg_ref: u32, cmd_ref: u32) {
        if let Some(oc) = &mut self.out_chunk {
            if oc.awaiting == Some((msg_ref, cmd_ref)) {
                oc.awaiting = None;
            }
        }
    }
}
