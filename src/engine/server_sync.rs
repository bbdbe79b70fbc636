//! The server's Sync (package 4): the change set of each datastore since the device's last
//! successful sync (never echoing the device's own changes), all unmapped items in a slow sync,
//! deletions closing a refresh from the client, and packing it into messages that fit the
//! client's MaxMsgSize.

use crate::engine::reply::{estimate, number_children, ReplyBuilder};
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::cpm::shape;
use crate::engine::fields::{self, Smaller};
use crate::engine::filters;
use crate::engine::out_chunk::{OutChunk, StoredBody, MIN_CHUNK};
use crate::engine::resume::merge_unacked;
use crate::engine::session::{Direction, DsState, Phase, Session};
use crate::engine::Engine;
use crate::proto::{Add, Command, Data, Delete, Item, Meta, Replace, Source, Status, StatusCode, Sync, Target};
use crate::store::{Change, ChangeKind, Commit, Delta, Mutation, Origin, StoreError, UserId};

impl Engine {
    /// Computes every datastore's outgoing change set (at the end of package 3) as references;
    /// the content of each item is read from the store only when its message is packed.
    pub(crate) fn build_server_changes(&self, s: &mut Session) -> Result<(), StoreError> {
        let (Some(user), Some(device)) = (s.user.clone(), s.device.clone()) else { return Ok(()) };
        let me = Origin::Device(device.clone());
        for ds in &mut s.datastores {
            // Refresh from the client: the server keeps exactly what the client sent.
            if ds.direction == Direction::FromClient && ds.slow {
                let doomed: Vec<Mutation> = self
                    .store
                    .guids(user.id, &ds.name)?
                    .into_iter()
                    .filter(|guid| !ds.touched.contains(guid))
                    .map(|guid| Mutation::Delete { guid })
                    .collect();
                if !doomed.is_empty() {
                    tracing::info!(datastore = %ds.name, deleted = doomed.len(), "refresh from client removes items the client does not have");
                    self.store.commit(
                        user.id,
                        &device,
                        &ds.name,
                        &Commit { mutations: doomed, ..Default::default() },
                    )?;
                }
            }
            ds.snapshot_seq = self.store.current_seq(user.id)?;
            if ds.direction == Direction::FromClient {
                continue;
            }
            // Merged items the client's Sync left to send back come first.
            let mut out: Vec<OutRef> = std::mem::take(&mut ds.outgoing).into();
            if let Some(saved) = ds.resumed.take().filter(|r| r.built) {
                // Resume (PROTOCOL.md §3.7): what the client did not acknowledge, then what
                // changed since the interrupted session's change set.
                let mut fresh_refs = Vec::new();
                let mut fresh = HashSet::new();
                for ch in self.store.changes_since(user.id, &ds.name, saved.snapshot_seq)? {
                    if ch.origin == me || ch.seq > ds.snapshot_seq {
                        continue;
                    }
                    fresh.insert(ch.guid.clone());
                    change_ref(ds, ch, &mut fresh_refs);
                }
                // An item changed again since: its new Replace also carries what the
                // unacknowledged one did.
                for r in &saved.unacked {
                    if let OutRef::Replace { guid, delta: before, .. } = r {
                        for f in fresh_refs.iter_mut() {
                            if let OutRef::Replace { guid: g, delta, .. } = f {
                                if g == guid {
                                    *delta = delta.union(*before);
                                }
                            }
                        }
                    }
                }
                for r in merge_unacked(saved.unacked, &fresh) {
                    if let OutRef::Add { guid } = &r {
                        ds.awaiting_map.insert(guid.clone());
                    }
                    out.push(r);
                }
                tracing::info!(datastore = %ds.name, resent = out.len(), new = fresh_refs.len(), "resumed change set");
                out.extend(fresh_refs);
            } else if ds.slow {
                for guid in self.store.guids(user.id, &ds.name)? {
                    if !ds.rev.contains_key(&guid) {
                        ds.awaiting_map.insert(guid.clone());
                        out.push(OutRef::Add { guid });
                    }
                }
            } else {
                let since = ds.anchor.as_ref().map_or(0, |a| a.synced_seq);
                for ch in self.store.changes_since(user.id, &ds.name, since)? {
                    if ch.origin == me || ch.seq > ds.snapshot_seq {
                        continue;
                    }
                    change_ref(ds, ch, &mut out);
                }
            }
            if ds.resync.resend {
                self.resend_held(user.id, ds, &mut out)?;
            }
            let record = ds.filter.clone().filter(|f| f.record.is_some());
            if record.is_some() || ds.resync.sweep {
                // Without a record filter now (one was dropped): every item belongs.
                let f = record.unwrap_or_default();
                self.filter_change_set(user.id, ds, &f, &mut out)?;
            }
            parents_first(&self.store.parents(user.id, &ds.name)?, &mut out);
            ds.number_of_changes = out.len() as u32;
            ds.outgoing = out.into();
        }
        Ok(())
    }

    /// Every item the device holds that this session's shape (or the last one's) treats
    /// differently goes again as a whole Replace: the device's copies take the new shape and
    /// fresh links (filters.rs `Resync::resend`).
    fn resend_held(&self, user: UserId, ds: &mut DsState, out: &mut Vec<OutRef>) -> Result<(), StoreError> {
        let queued: HashSet<String> = out.iter().filter_map(|r| r.guid().map(str::to_string)).collect();
        let mut held: Vec<(String, String)> = ds.rev.iter().map(|(g, l)| (g.clone(), l.clone())).collect();
        held.sort();
        let mut resent = 0;
        for (guid, luid) in held {
            if queued.contains(&guid) || ds.touched.contains(&guid) {
                continue;
            }
            let Some(info) = self.store.item_info(user, &ds.name, &guid)? else { continue };
            if shape::affects(&info.content_type) {
                out.push(OutRef::Replace { guid, luid, delta: Delta::WHOLE });
                resent += 1;
            }
        }
        tracing::info!(datastore = %ds.name, resent, "items the device holds sent again in its new shape");
        Ok(())
    }

    /// A client's record filter over the change set (filters.rs). EXCLUSIVE: changes to items
    /// outside it are not sent, and items the device has that left it are removed from the
    /// device (softly); INCLUSIVE leaves the change set as it is. When the filter changed, has
    /// relative dates or the sync is slow ([`filters::Resync::sweep`]) every stored item is
    /// checked too, so items that (re-)enter the filter go as Adds.
    fn filter_change_set(
        &self,
        user: UserId,
        ds: &mut DsState,
        f: &filters::ActiveFilter,
        out: &mut Vec<OutRef>,
    ) -> Result<(), StoreError> {
        let admits = |guid: &str, luid: Option<&str>| -> Result<Option<bool>, StoreError> {
            Ok(self.store.item(user, &ds.name, guid)?.map(|it| f.admits(&it.content_type, &it.data, luid)))
        };
        let mut kept = Vec::with_capacity(out.len());
        let mut seen: HashSet<String> = HashSet::new();
        for r in out.drain(..) {
            if let Some(g) = r.guid() {
                seen.insert(g.to_string());
            }
            match &r {
                OutRef::Add { guid } if !f.inclusive && admits(guid, None)? == Some(false) => {
                    ds.awaiting_map.remove(guid);
                }
                OutRef::Replace { guid, luid, .. } if !f.inclusive && admits(guid, Some(luid))? == Some(false) => {
                    kept.push(OutRef::Delete { guid: Some(guid.clone()), luid: luid.clone(), soft: true });
                }
                _ => kept.push(r),
            }
        }
        let (mut entered, mut left) = (0, 0);
        let all = if ds.resync.sweep { self.store.guids(user, &ds.name)? } else { Vec::new() };
        for guid in all {
            if seen.contains(&guid) || ds.awaiting_map.contains(&guid) {
                continue;
            }
            match ds.rev.get(&guid).cloned() {
                Some(luid) if !f.inclusive => {
                    if admits(&guid, Some(&luid))? == Some(false) {
                        kept.push(OutRef::Delete { guid: Some(guid), luid, soft: true });
                        left += 1;
                    }
                }
                Some(_) => {}
                None => {
                    if admits(&guid, None)? == Some(true) {
                        ds.awaiting_map.insert(guid.clone());
                        kept.push(OutRef::Add { guid });
                        entered += 1;
                    }
                }
            }
        }
        if entered + left > 0 {
            tracing::info!(datastore = %ds.name, entered, left, inclusive = f.inclusive, "filter: items entering and leaving the device's sync set");
        }
        *out = kept;
        Ok(())
    }

    /// The command for one outgoing change, read from the store now: `None` when the item is
    /// gone since, or larger than the client's MaxObjSize (libsynthesis suppresses those too,
    /// PROTOCOL.md §1.6; an Add stays unmapped, so it is offered again next session).
    fn materialize(
        &self,
        user: UserId,
        ds: &mut DsState,
        r: &OutRef,
        p: &Packing<'_>,
    ) -> Result<Option<(Command, Option<StoredBody>)>, StoreError> {
        let (max_obj, field_level_types, budget, links) = (p.max_obj, p.field_level_types, p.budget, p.links);
        let (guid, luid, delta) = match r {
            OutRef::Delete { luid, soft, .. } => return Ok(Some((delete(luid, *soft), None))),
            OutRef::Add { guid } => (guid, None, Delta::WHOLE),
            OutRef::Replace { guid, luid, delta } => (guid, Some(luid), *delta),
        };
        let Some(info) = self.store.item_info(user, &ds.name, guid)? else {
            ds.awaiting_map.remove(guid);
            return Ok(None);
        };
        // An item larger than any message stays in the store and is read a chunk at a time
        // (out_chunk.rs), unless a field-level Replace or a Move may do instead.
        let may_be_smaller = luid.is_some() && !delta.content;
        // A device that takes items reduced (partial sync) gets them built whole here.
        let reduce = ds.shape.reduces(&info.content_type);
        let stream = !may_be_smaller && !reduce && info.size > budget as u64;
        let (mut data, mut smaller) = if stream {
            (Vec::new(), None)
        } else {
            let Some(it) = self.store.item(user, &ds.name, guid)? else {
                ds.awaiting_map.remove(guid);
                return Ok(None);
            };
            let smaller = luid.and_then(|l| fields::smaller(delta, l, &it.content_type, &it.data, field_level_types));
            (it.data, smaller)
        };
        if smaller.is_none() && luid.is_some() && delta.is_empty() {
            return Ok(None);
        }
        let mut size = info.size;
        if reduce {
            // A moved item's details and link go again (the link is refreshed).
            if ds.shape.link && matches!(smaller, Some(Smaller::Move(_))) {
                smaller = None;
            }
            if smaller.is_none() {
                let url = links.map(|l| l.url(&ds.name, guid));
                if let Some(reduced) = shape::apply(&ds.shape, &info.content_type, &data, url.as_deref()) {
                    size = reduced.len() as u64;
                    data = reduced;
                }
            }
        }
        if let Some(max) = max_obj.filter(|max| smaller.is_none() && size > *max) {
            tracing::warn!(datastore = %ds.name, size, max_obj_size = max, "item larger than the client's MaxObjSize: not sent");
            ds.awaiting_map.remove(guid);
            return Ok(None);
        }
        // The parent (PROTOCOL.md §10.1): TargetParent = the client's LUID when it has the
        // folder; SourceParent = our GUID of a folder sent as an Add in this session.
        let (target_parent, source_parent) = match &info.parent {
            Some(p) => match ds.rev.get(p) {
                Some(luid) => (Some(luid.clone()), None),
                None => (None, ds.awaiting_map.contains(p).then(|| p.clone())),
            },
            None => (None, None),
        };
        let mut cmd = match (smaller, luid) {
            (Some(Smaller::Fields(cmd) | Smaller::Move(cmd)), _) => cmd,
            (None, Some(luid)) => replace(luid, &info.content_type, data),
            (None, None) => add(&info.guid, &info.content_type, data),
        };
        let item = match &mut cmd {
            Command::Add(a) => a.items.first_mut(),
            Command::Replace(r) => r.items.first_mut(),
            Command::Move(m) => m.items.first_mut(),
            _ => None,
        };
        if let Some(item) = item {
            // An Add names its parent always, a Replace or Move when the parent changed.
            if luid.is_none() || delta.parent {
                item.target_parent = target_parent;
                item.source_parent = source_parent;
            }
        }
        Ok(Some((cmd, stream.then(|| StoredBody::of(&ds.name, &info)))))
    }

    /// Adds as much of the outgoing Syncs as fits the client's MaxMsgSize. Returns true when
    /// everything is sent (package 4 complete; the phase moves to Map).
    ///
    /// An Add/Replace too big for any message goes out as a large object (PROTOCOL.md §1.7):
    /// one chunk per message, the last command of a message that is not final; the next chunk
    /// follows when the client has answered 213. Items above the client's MaxObjSize are not
    /// sent.
    pub(crate) fn send_server_changes(&self, s: &mut Session, r: &mut ReplyBuilder) -> Result<bool, StoreError> {
        let (Some(user), max_obj) = (s.user.as_ref().map(|u| u.id), s.max_obj_size) else { return Ok(true) };
        // Leave room for the header and the encoding's overhead.
        let budget = s.max_msg_size.saturating_sub(s.max_msg_size / 10 + 1024);
        let mut out_chunk = s.out_chunk.take();
        let links = s.links.clone();
        if let Some(oc) = &out_chunk {
            if oc.awaiting.is_some() {
                tracing::warn!(uri = %oc.uri, "client did not accept the previous chunk (no 213): large object abandoned");
                out_chunk = None;
            }
        }
        for (index, ds) in s.datastores.iter_mut().enumerate() {
            let continuing = out_chunk.as_ref().is_some_and(|oc| oc.ds == index);
            if ds.sync_sent && ds.outgoing.is_empty() && ds.front.is_none() && !continuing {
                continue;
            }
            let mut sync = Sync {
                target: Some(Target::uri(&ds.client_uri)),
                source: Some(Source::uri(&ds.alert_target)),
                number_of_changes: (!ds.sync_sent).then_some(ds.number_of_changes),
                ..Default::default()
            };
            let mut used = r.body_len() + 400;
            // The object being chunked continues first.
            let mut chunking = if continuing { out_chunk.take() } else { None };
            // The reference of each whole command in `sync.commands`.
            let mut refs: Vec<OutRef> = Vec::new();
            while chunking.is_none() {
                if ds.front.is_none() {
                    let Some(next) = ds.outgoing.pop_front() else { break };
                    let packing =
                        Packing { max_obj, field_level_types: &s.field_level_types, budget, links: links.as_ref() };
                    if let Some((cmd, stored)) = self.materialize(user, ds, &next, &packing)? {
                        ds.front = Some((next, cmd, stored));
                    }
                    continue;
                }
                let size = ds.front.as_ref().map_or(0, |(_, cmd, stored)| {
                    estimate(cmd) + stored.as_ref().map_or(0, |b| usize::try_from(b.size).unwrap_or(usize::MAX))
                });
                if used + size > budget {
                    // Too big for any message: a large object, starting here when there is
                    // room for a useful first chunk (or nothing else in this Sync).
                    let room = budget.saturating_sub(used) >= MIN_CHUNK + 400;
                    if size + 1000 > budget && (room || sync.commands.is_empty()) {
                        if let Some((oref, cmd, stored)) = ds.front.take() {
                            chunking = OutChunk::new(index, oref, cmd, stored);
                        }
                        break;
                    }
                    // At least one command per message, or nothing would ever move.
                    if !sync.commands.is_empty() || r.body_len() > 2000 {
                        break;
                    }
                }
                used += size;
                match ds.front.take() {
                    // (Cannot happen: a stored body is larger than any message.)
                    Some((oref, cmd, Some(stored))) => chunking = OutChunk::new(index, oref, cmd, Some(stored)),
                    Some((oref, cmd, None)) => {
                        sync.commands.push(cmd);
                        refs.push(oref);
                    }
                    None => {}
                }
            }
            let mut pending_chunk = false;
            let mut finished_whole = None;
            if let Some(mut oc) = chunking {
                let room = budget.saturating_sub(used).max(MIN_CHUNK + 400);
                // `None`: the item changed under way; it stays unacknowledged (sent next time).
                if let Some(chunk) = oc.next_chunk(room, self.store.as_ref(), user)? {
                    sync.commands.push(chunk);
                    pending_chunk = !oc.done();
                    if pending_chunk {
                        tracing::debug!(datastore = %ds.name, uri = %oc.uri, sent = oc.sent, total = oc.total(), "large object chunk sent");
                        out_chunk = Some(oc);
                    } else {
                        finished_whole = Some(oc.into_whole().1);
                    }
                }
            }
            let full = pending_chunk || !ds.outgoing.is_empty() || ds.front.is_some();
            ds.sync_sent = true;
            let id = r.cmd_id();
            sync.cmd_id = id;
            number_children(r, &mut sync.commands);
            if let (true, Some(oc), Some(last)) = (pending_chunk, out_chunk.as_mut(), sync.commands.last()) {
                oc.awaiting = Some((r.msg.header.msg_id, last.cmd_id()));
            }
            // Remember what goes out until the client acknowledges it (suspend, resume.rs); a
            // large object counts once its last chunk is sent.
            let msg_id = r.msg.header.msg_id;
            for (cmd, oref) in sync.commands.iter().zip(refs) {
                ds.sent.push((msg_id, cmd.cmd_id(), oref));
            }
            if let (Some(oref), Some(last)) = (finished_whole, sync.commands.last()) {
                ds.sent.push((msg_id, last.cmd_id(), oref));
            }
            r.msg.body.push(Command::Sync(sync));
            if full {
                s.out_chunk = out_chunk;
                return Ok(false);
            }
        }
        s.out_chunk = None;
        s.phase = Phase::Map;
        Ok(true)
    }

    /// A client Status: the answer to a chunk of the large object being sent? 213 lets the next
    /// chunk go; anything else abandons the object.
    pub(crate) fn outgoing_chunk_status(s: &mut Session, st: &Status) {
        let Some(oc) = &mut s.out_chunk else { return };
        let Some((msg_id, cmd_id)) = oc.awaiting else { return };
        if st.msg_ref.is_some_and(|m| m != msg_id) || st.cmd != oc.cmd {
            return;
        }
        let refers = st.cmd_ref == cmd_id || st.source_refs.iter().chain(&st.target_refs).any(|u| *u == oc.uri);
        if !refers {
            return;
        }
        if st.data == StatusCode::ChunkAccepted {
            oc.awaiting = None;
        } else {
            tracing::warn!(uri = %oc.uri, status = st.data.code(), sent = oc.sent, total = oc.total(), "client refused a large-object chunk: item abandoned");
            s.out_chunk = None;
        }
    }
}

/// What the packing of one message needs to know of the session.
struct Packing<'a> {
    /// The client's MaxObjSize.
    max_obj: Option<u64>,
    /// Content types the client takes field-level Replaces for.
    field_level_types: &'a [String],
    /// Room for commands in a message.
    budget: usize,
    /// Links for items sent reduced.
    links: Option<&'a filters::Links>,
}

/// One change for the client, by reference: the item's content is read from the store when
/// the message carrying it is packed, so a session never holds its whole change set in memory,
/// and a resumed session sends the item as it is then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum OutRef {
    /// An item the client does not have (its GUID is the Add's Source).
    Add { guid: String },
    /// New content for the client's item `luid`; `delta` says what changed (fields.rs sends a
    /// field-level Replace or a Move when that is all).
    Replace {
        guid: String,
        luid: String,
        #[serde(default = "whole")]
        delta: Delta,
    },
    /// Removes the client's item `luid` (the item `guid`, when known); `soft`: only from the
    /// device (it left the device's filter; SftDel), the server keeps it.
    Delete {
        guid: Option<String>,
        luid: String,
        #[serde(default)]
        soft: bool,
    },
}

fn whole() -> Delta {
    Delta::WHOLE
}

impl OutRef {
    /// The GUID the change concerns, when known.
    pub(crate) fn guid(&self) -> Option<&str> {
        match self {
            OutRef::Add { guid } | OutRef::Replace { guid, .. } => Some(guid),
            OutRef::Delete { guid, .. } => guid.as_deref(),
        }
    }
}

/// Orders a change set so that a folder goes before what it contains (PROTOCOL.md §10.1):
/// stable by depth in the folder tree, deletes last.
fn parents_first(tree: &[(String, String)], out: &mut [OutRef]) {
    if tree.is_empty() {
        return;
    }
    let parent: std::collections::HashMap<&str, &str> = tree.iter().map(|(c, p)| (c.as_str(), p.as_str())).collect();
    let depth = |guid: &str| {
        let mut d = 0usize;
        let mut at = parent.get(guid);
        while let Some(p) = at {
            d += 1;
            if d > 64 {
                break;
            }
            at = parent.get(p);
        }
        d
    };
    out.sort_by_key(|r| match r {
        OutRef::Add { guid } | OutRef::Replace { guid, .. } => depth(guid),
        OutRef::Delete { .. } => usize::MAX,
    });
}

/// The reference sending one stored change to the client (none for a delete of an item the
/// client never had). A new item awaits the client's Map.
fn change_ref(ds: &mut DsState, ch: Change, out: &mut Vec<OutRef>) {
    let luid = ds.rev.get(&ch.guid).cloned();
    match (ch.kind, luid) {
        (ChangeKind::Delete, Some(luid)) => out.push(OutRef::Delete { guid: Some(ch.guid), luid, soft: false }),
        (ChangeKind::Delete, None) => {}
        // Replaced with the same content and parent: nothing to tell.
        (ChangeKind::Replace, Some(_)) if ch.delta.is_empty() => {}
        (_, Some(luid)) => out.push(OutRef::Replace { guid: ch.guid, luid, delta: ch.delta }),
        (_, None) => {
            ds.awaiting_map.insert(ch.guid.clone());
            out.push(OutRef::Add { guid: ch.guid });
        }
    }
}

fn add(guid: &str, content_type: &str, data: Vec<u8>) -> Command {
    Command::Add(Add {
        meta: Some(Meta::with_type(content_type)),
        items: vec![Item { source: Some(Source::uri(guid)), data: Some(Data::Bytes(data)), ..Default::default() }],
        ..Default::default()
    })
}

/// A Replace of the client's item `luid`.
pub(crate) fn replace(luid: &str, content_type: &str, data: Vec<u8>) -> Command {
    Command::Replace(Replace {
        meta: Some(Meta::with_type(content_type)),
        items: vec![Item { target: Some(Target::uri(luid)), data: Some(Data::Bytes(data)), ..Default::default() }],
        ..Default::default()
    })
}

fn delete(luid: &str, soft: bool) -> Command {
    Command::Delete(Delete {
        sft_del: soft,
        items: vec![Item { target: Some(Target::uri(luid)), ..Default::default() }],
        ..Default::default()
    })
}
