//! The client's Sync (package 3): Add/Replace/Delete/Copy/Move against the store, Atomic and
//! Sequence inside the Sync, slow-sync matching by content, conflicts resolved by the
//! datastore's policy (`conflict`), large objects reassembled (213), one status per item.
//!
//! Commands are planned in order into batches, each committed in one store transaction: the
//! plain commands before, between and after the Sync's Atomics form one batch each, and every
//! Atomic is a batch of its own, committed only when all its commands succeed — otherwise
//! nothing of it is applied (507 for the Atomic, 216 for its commands that had succeeded). A
//! Sequence runs its commands in order; after a failure the rest get 215. An Atomic nested in an
//! Atomic or a Sequence is 406. A Move or Copy at the top level first commits the batch before
//! it, so a parent folder added earlier in the Sync is mapped; inside an Atomic it is not (428).
//!
//! Copy is an Add of a new item (201) mapped to the Item's Source LUID, with the Item's Data or,
//! without Data, the content of the item its Target names (client LUID or server GUID). Move
//! (DS 1.2) gives the item named by its Source LUID the parent named by SourceParent (client
//! LUID) or TargetParent (server GUID), which must be a mapped item: 200, otherwise 428.

use std::collections::{HashMap, HashSet};

use crate::engine::alert::datastore_name;
use crate::engine::conflict::{self, ConflictPolicy, Resolution};
use crate::engine::fields;
use crate::engine::matching::content_digest;
use crate::engine::reply::ReplyBuilder;
use crate::engine::server_sync::OutRef;
use crate::engine::session::{Chunk, Direction, DsState, Session};
use crate::engine::Engine;
use crate::proto::{Alert, AlertCode, Atomic, CmdName, Command, Data, Item, Source, StatusCode, Sync, Target};
use crate::store::{Applied, ChangeKind, Commit, Delta, MapUpdate, Mutation, Origin, Store, StoreError, UserId};

impl Engine {
    /// One Sync of the client; `now` is the session time (Unix seconds, for newer-wins).
    pub(crate) fn client_sync(
        &self,
        s: &mut Session,
        r: &mut ReplyBuilder,
        sync: &Sync,
        now: i64,
    ) -> Result<(), StoreError> {
        let target = sync.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
        let source = sync.source.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
        let name =
            datastore_name(if target.is_empty() && s.quirks.empty_target_uses_source { &source } else { &target });
        let (Some(user), Some(device)) = (s.user.clone(), s.device.clone()) else { return Ok(()) };
        let found = s.datastores.iter().position(|d| d.name.eq_ignore_ascii_case(&name) || d.alert_target == target);
        if !sync.no_resp {
            let code = if found.is_some() { StatusCode::Ok } else { StatusCode::NotFound };
            let st = r.status(sync.cmd_id, CmdName::Sync, code);
            st.target_refs = vec![target.clone()];
            st.source_refs = vec![source.clone()];
        }
        let Some(ds) = found else {
            tracing::warn!(datastore = %name, "Sync for a datastore that was not alerted: 404");
            return Ok(());
        };
        // The client's MaxObjSize may also come in the Sync's Meta (PROTOCOL.md §1.6).
        if let Some(max) = sync.meta.as_ref().and_then(|m| m.max_obj_size) {
            s.max_obj_size = Some(max);
        }
        let config = self.config.datastores.iter().find(|c| c.name == s.datastores[ds].name);
        let default_type = config
            .and_then(|c| c.content_types.first())
            .map(|t| t.split(';').next().unwrap_or("").to_string())
            .unwrap_or_default();
        let scope = Scope {
            store: self.store.as_ref(),
            user: user.id,
            device: &device,
            ds,
            default_type,
            policy: config.map_or(ConflictPolicy::default(), |c| c.conflict_policy),
            recursive_delete: config.is_some_and(|c| c.recursive_delete),
            now,
            max_obj: self.config.max_obj_size,
        };

        let mut batch = Batch::default();
        for (i, cmd) in sync.commands.iter().enumerate() {
            let step = match cmd {
                Command::Atomic(a) => {
                    scope.apply(s, r, std::mem::take(&mut batch)).and_then(|()| scope.atomic(s, r, a))
                }
                // A parent named by its LUID may be an item added just before: commit first so
                // that it is mapped (PROTOCOL.md §10.1).
                _ if matches!(cmd, Command::Move(_) | Command::Copy(_)) || names_parent(cmd) => scope
                    .apply(s, r, std::mem::take(&mut batch))
                    .and_then(|()| scope.plan_command(s, cmd, &mut batch).map(|_| ())),
                _ => scope.plan_command(s, cmd, &mut batch).map(|_| ()),
            };
            if let Err(e) = step {
                // Every change not done is answered with the failure, so the device keeps it
                // and sends it again (nothing lost); the session goes on.
                let code = failure_code(&e);
                tracing::error!(datastore = %s.datastores[ds].name, error = %e, status = code.code(), "store failure: the rest of the Sync is refused");
                let planned: HashSet<u32> = batch.pending.iter().map(|p| p.cmd_id).collect();
                for p in std::mem::take(&mut batch.pending) {
                    answer(r, p, code);
                }
                for rest in &sync.commands[i..] {
                    if !planned.contains(&rest.cmd_id()) && !sync.no_resp {
                        r.status(rest.cmd_id(), rest.name(), code);
                    }
                }
                scope.reload_maps(s);
                return Ok(());
            }
        }
        if let Err(e) = scope.apply(s, r, batch) {
            tracing::error!(datastore = %s.datastores[ds].name, error = %e, "store failure: the Sync's changes are refused");
            scope.reload_maps(s);
        }
        Ok(())
    }
}

/// The status of a change the store could not make: 503 (retry later) when a backing store is
/// unreachable, else 510.
fn failure_code(e: &StoreError) -> StatusCode {
    match e {
        StoreError::Unavailable(_) => StatusCode::ServiceUnavailable,
        _ => StatusCode::DataStoreFailure,
    }
}

/// What to do with one incoming item, decided before the commit.
pub(super) enum Plan {
    /// Mutation `index` of the batch's commit; `ok` is the status once it is applied, and
    /// `send_back` a command for the server's package 4 (a merged item).
    Mutate { index: usize, ok: StatusCode, send_back: Option<OutRef> },
    /// Nothing to change (slow-sync match, conflict lost, failure): answer with this status.
    Answer(StatusCode),
}

impl Plan {
    fn succeeds(&self) -> bool {
        match self {
            Plan::Mutate { .. } => true,
            Plan::Answer(code) => code.is_success(),
        }
    }
}

/// One status to send once the batch is committed (or rolled back).
struct Pending {
    no_resp: bool,
    cmd_id: u32,
    cmd: CmdName,
    /// The item's LUID (none for Atomic/Sequence themselves).
    source_ref: Option<String>,
    plan: Plan,
}

/// Changes committed in one store transaction, with the statuses that depend on them.
#[derive(Default)]
struct Batch {
    commit: Commit,
    pending: Vec<Pending>,
}

/// The session-wide facts planning needs.
pub(super) struct Scope<'a> {
    pub(super) store: &'a dyn Store,
    pub(super) user: UserId,
    pub(super) device: &'a str,
    /// Index of the datastore in the session.
    ds: usize,
    /// Content type assumed for items that name none.
    default_type: String,
    policy: ConflictPolicy,
    /// A Delete of a folder with items deletes them too (config; else 427).
    pub(super) recursive_delete: bool,
    now: i64,
    /// The server's MaxObjSize (larger objects get 413).
    max_obj: u64,
}

/// The planning-time state of a datastore an Atomic may have to restore.
struct Saved {
    map: HashMap<String, String>,
    rev: HashMap<String, String>,
    touched: HashSet<String>,
    slow_index: Option<HashMap<[u8; 16], Vec<String>>>,
}

impl Saved {
    fn of(ds: &DsState) -> Saved {
        Saved {
            map: ds.map.clone(),
            rev: ds.rev.clone(),
            touched: ds.touched.clone(),
            slow_index: ds.slow_index.clone(),
        }
    }

    fn restore(self, ds: &mut DsState) {
        (ds.map, ds.rev, ds.touched, ds.slow_index) = (self.map, self.rev, self.touched, self.slow_index);
    }
}

impl Scope<'_> {
    /// Commits a batch and sends its statuses.
    /// A failed commit answers each of its changes with the failure and returns the error.
    fn apply(&self, s: &mut Session, r: &mut ReplyBuilder, batch: Batch) -> Result<(), StoreError> {
        let ds = &mut s.datastores[self.ds];
        let results = if is_empty(&batch.commit) {
            Vec::new()
        } else {
            match self.store.commit(self.user, self.device, &ds.name, &batch.commit) {
                Ok(results) => results,
                Err(e) => {
                    let code = failure_code(&e);
                    for p in batch.pending {
                        answer(r, p, code);
                    }
                    return Err(e);
                }
            }
        };
        settle(ds, r, batch, &results);
        Ok(())
    }

    /// After a failure: the session's maps as the store has them (a backing store may have
    /// taken part of a batch).
    fn reload_maps(&self, s: &mut Session) {
        let ds = &mut s.datastores[self.ds];
        match self.store.id_map(self.user, self.device, &ds.name) {
            Ok(pairs) => {
                ds.map.clear();
                ds.rev.clear();
                for (l, g) in pairs {
                    ds.rev.insert(g.clone(), l.clone());
                    ds.map.insert(l, g);
                }
            }
            Err(e) => tracing::warn!(error = %e, "maps not reloaded after a store failure"),
        }
    }

    /// An Atomic inside the Sync: all its commands in one commit, or none of them.
    fn atomic(&self, s: &mut Session, r: &mut ReplyBuilder, a: &Atomic) -> Result<(), StoreError> {
        let saved = Saved::of(&s.datastores[self.ds]);
        let mut batch = Batch::default();
        let mut ok = true;
        for cmd in &a.commands {
            match self.plan_command(s, cmd, &mut batch) {
                Ok(done) => ok &= done,
                Err(e) => {
                    saved.restore(&mut s.datastores[self.ds]);
                    return Err(e);
                }
            }
        }
        let ds = &mut s.datastores[self.ds];
        let results = match ok {
            false => None,
            true if is_empty(&batch.commit) => Some(Vec::new()),
            true => match self.store.commit(self.user, self.device, &ds.name, &batch.commit) {
                Ok(results) => Some(results),
                Err(e) => {
                    tracing::error!(error = %e, "store failure committing an Atomic: rolled back");
                    None
                }
            },
        };
        let code = if results.is_some() { StatusCode::Ok } else { StatusCode::AtomicFailed };
        if !a.no_resp {
            r.status(a.cmd_id, CmdName::Atomic, code);
        }
        match results {
            Some(results) => settle(ds, r, batch, &results),
            None => {
                tracing::info!(datastore = %ds.name, "Atomic failed: nothing of it applied (507)");
                saved.restore(ds);
                for p in batch.pending {
                    let code = match p.plan {
                        Plan::Answer(code) if !code.is_success() => code,
                        _ => StatusCode::AtomicRollBackOk,
                    };
                    answer(r, p, code);
                }
            }
        }
        Ok(())
    }

    /// Plans one command into `batch`. Returns false when it (or an item of it) failed.
    fn plan_command(&self, s: &mut Session, cmd: &Command, batch: &mut Batch) -> Result<bool, StoreError> {
        let (cmd_id, no_resp, name, meta, items) = match cmd {
            Command::Add(c) => (c.cmd_id, c.no_resp, CmdName::Add, &c.meta, &c.items),
            Command::Replace(c) => (c.cmd_id, c.no_resp, CmdName::Replace, &c.meta, &c.items),
            Command::Delete(c) => (c.cmd_id, c.no_resp, CmdName::Delete, &c.meta, &c.items),
            Command::Copy(c) => (c.cmd_id, c.no_resp, CmdName::Copy, &c.meta, &c.items),
            Command::Move(c) => (c.cmd_id, c.no_resp, CmdName::Move, &c.meta, &c.items),
            Command::Sequence(q) => {
                batch.pending.push(Pending {
                    no_resp: q.no_resp,
                    cmd_id: q.cmd_id,
                    cmd: CmdName::Sequence,
                    source_ref: None,
                    plan: Plan::Answer(StatusCode::Ok),
                });
                let mut ok = true;
                for inner in &q.commands {
                    if ok {
                        ok = self.plan_command(s, inner, batch)?;
                    } else {
                        not_executed(inner, batch);
                    }
                }
                return Ok(ok);
            }
            other => {
                tracing::info!(cmd = other.name().as_str(), "command not supported inside this Sync: 406");
                batch.pending.push(Pending {
                    no_resp: false,
                    cmd_id: other.cmd_id(),
                    cmd: other.name(),
                    source_ref: None,
                    plan: Plan::Answer(StatusCode::OptionalFeatureNotSupported),
                });
                return Ok(false);
            }
        };
        let cmd_type = meta.as_ref().and_then(|m| m.type_.clone());
        let mut ok = true;
        for item in items {
            let luid = item_luid(&name, item);
            let plan = if name == CmdName::Move {
                self.plan_move(&mut s.datastores[self.ds], &luid, item, &mut batch.commit)?
            } else {
                let content_type = item.meta.as_ref().and_then(|m| m.type_.clone()).or_else(|| cmd_type.clone());
                match self.reassemble(s, &name, &luid, content_type, item, meta.as_ref().and_then(|m| m.size))? {
                    Reassembly::Complete(data, content_type) => {
                        let content_type = content_type.unwrap_or_else(|| self.default_type.clone());
                        let ds = &mut s.datastores[self.ds];
                        if name == CmdName::Copy {
                            self.plan_copy(ds, &luid, item, content_type, data, &mut batch.commit)?
                        } else {
                            // SourceParent (client LUID) or TargetParent (GUID): a folder.
                            let named = item.source_parent.is_some() || item.target_parent.is_some();
                            let parent = match named {
                                false => None,
                                true => {
                                    let found = self.parent(ds, item)?;
                                    if found.is_none() {
                                        tracing::warn!(datastore = %ds.name, luid = %luid, "item names a parent that is not a known item: kept at the top");
                                    }
                                    Some(found)
                                }
                            };
                            let ds = &mut s.datastores[self.ds];
                            let field_level = name == CmdName::Replace
                                && (item.meta.as_ref().is_some_and(|m| m.field_level)
                                    || meta.as_ref().is_some_and(|m| m.field_level));
                            let commit = &mut batch.commit;
                            self.plan_item(ds, &name, &luid, parent, content_type, data, field_level, commit)?
                        }
                    }
                    Reassembly::Partial => Plan::Answer(StatusCode::ChunkAccepted),
                    Reassembly::Failed(code) => Plan::Answer(code),
                }
            };
            ok &= plan.succeeds();
            batch.pending.push(Pending { no_resp, cmd_id, cmd: name.clone(), source_ref: Some(luid), plan });
        }
        Ok(ok)
    }

    /// Large objects (PROTOCOL.md §1.7): chunks with MoreData are staged in the store (213)
    /// until the last, so memory does not grow with the item. A declared (or received) size
    /// above the server's MaxObjSize is refused with 413, a first chunk declaring no size and a
    /// total that differs from the declared size with 424; a partial object the client abandons (it starts another item)
    /// is dropped and answered with Alert 223. After a resume (resume.rs) the object
    /// continues; a repeat of the chunk sent last before the suspend is dropped, and a chunk
    /// declaring the size again starts the object anew.
    fn reassemble(
        &self,
        s: &mut Session,
        cmd: &CmdName,
        luid: &str,
        ct: Option<String>,
        item: &Item,
        cmd_size: Option<u64>,
    ) -> Result<Reassembly, StoreError> {
        let bytes: &[u8] = match &item.data {
            Some(Data::Bytes(b)) => b,
            Some(_) | None => &[],
        };
        let len = bytes.len() as u64;
        let declared = item.meta.as_ref().and_then(|m| m.size).or(cmd_size);
        let ds_name = s.datastores[self.ds].name.clone();
        let (store, user, device, max_obj) = (self.store, self.user, self.device, self.max_obj);
        match s.chunk.take() {
            Some(mut c) if c.datastore == ds_name && c.luid == luid && c.cmd == cmd.as_str() => {
                let mut skip = false;
                if std::mem::take(&mut c.resumed) {
                    if declared.is_some() {
                        tracing::info!(luid, "resumed large object sent again from its start");
                        c.received = 0;
                        c.declared = declared;
                    } else if len > 0 && len == c.last_len {
                        let staged = store.stage_read(user, device, &c.key)?.unwrap_or_default();
                        skip = staged.ends_with(bytes);
                        if skip {
                            tracing::info!(luid, len, "resumed large object: repeated last chunk dropped");
                        }
                    }
                }
                if !skip {
                    if c.received + len > max_obj {
                        tracing::warn!(
                            luid,
                            received = c.received + len,
                            max_obj,
                            "large object above MaxObjSize: 413"
                        );
                        store.stage_clear(user, device, Some(&c.key))?;
                        return Ok(Reassembly::Failed(StatusCode::RequestEntityTooLarge));
                    }
                    c.received = store.stage_append(user, device, &c.key, c.received, bytes)?;
                    c.last_len = len;
                }
                if item.more_data {
                    s.chunk = Some(c);
                    return Ok(Reassembly::Partial);
                }
                let data = store.stage_read(user, device, &c.key)?.unwrap_or_default();
                store.stage_clear(user, device, Some(&c.key))?;
                match c.declared {
                    Some(n) if n != data.len() as u64 => {
                        tracing::warn!(luid, declared = n, received = data.len(), "large object size mismatch: 424");
                        Ok(Reassembly::Failed(StatusCode::SizeMismatch))
                    }
                    _ => Ok(Reassembly::Complete(data, ct.or(c.content_type))),
                }
            }
            other => {
                if let Some(old) = other {
                    tracing::warn!(luid = %old.luid, received = old.received, "a large object was abandoned by the client: Alert 223");
                    store.stage_clear(user, device, Some(&old.key))?;
                    // Target = the item's source (the client's LUID), Source = its target.
                    let target = s.datastores.iter().find(|d| d.name == old.datastore).map(|d| d.alert_target.clone());
                    s.pending_alerts.push(Command::Alert(Alert {
                        cmd_id: 0,
                        no_resp: false,
                        cred: None,
                        correlator: None,
                        data: Some(AlertCode::NoEndOfData),
                        items: vec![Item {
                            target: Some(Target::uri(&old.luid)),
                            source: target.map(Source::uri),
                            ..Default::default()
                        }],
                    }));
                }
                if declared.is_some_and(|n| n > max_obj) || len > max_obj {
                    tracing::warn!(luid, declared, max_obj, "object above MaxObjSize: 413");
                    return Ok(Reassembly::Failed(StatusCode::RequestEntityTooLarge));
                }
                if !item.more_data {
                    return Ok(Reassembly::Complete(bytes.to_vec(), ct));
                }
                if declared.is_none() {
                    // The first chunk must declare the total (PROTOCOL.md §1.7 rule 4).
                    tracing::warn!(luid, "first chunk of a large object without Meta Size: 424");
                    return Ok(Reassembly::Failed(StatusCode::SizeMismatch));
                }
                let key = format!("{ds_name}\n{luid}");
                let received = store.stage_append(user, device, &key, 0, bytes)?;
                s.chunk = Some(Chunk {
                    datastore: ds_name,
                    luid: luid.to_string(),
                    cmd: cmd.as_str().to_string(),
                    content_type: ct,
                    declared,
                    key,
                    received,
                    last_len: len,
                    resumed: false,
                });
                Ok(Reassembly::Partial)
            }
        }
    }

    /// Decides what one complete Add/Replace/Delete item does; pushes its mutation (and map)
    /// into `commit`.
    #[allow(clippy::too_many_arguments)]
    fn plan_item(
        &self,
        ds: &mut DsState,
        cmd: &CmdName,
        luid: &str,
        // `Some` when the item names a parent (resolved GUID, or `None` for the top).
        parent: Option<Option<String>>,
        content_type: String,
        data: Vec<u8>,
        // The command or item Meta says FieldLevel: `data` holds only changed fields.
        field_level: bool,
        commit: &mut Commit,
    ) -> Result<Plan, StoreError> {
        if ds.direction == Direction::FromServer {
            return Ok(Plan::Answer(StatusCode::Forbidden));
        }
        let mapped = ds.map.get(luid).cloned();
        if *cmd == CmdName::Delete {
            return self.plan_delete(ds, luid, mapped, commit);
        }
        let is_add = *cmd == CmdName::Add;
        if ds.slow {
            // Slow sync / refresh: match what the client sends against what we have.
            if let Some(guid) = mapped {
                ds.touched.insert(guid.clone());
                return Ok(Plan::Answer(if is_add { StatusCode::ItemAdded } else { StatusCode::Ok }));
            }
            // A reduced copy (partial sync) names its item in its link.
            if let Some(t) = crate::cpm::shape::linked(&content_type, &data) {
                let known = t.datastore == ds.name
                    && !ds.rev.contains_key(&t.guid)
                    && self.store.item_info(self.user, &ds.name, &t.guid)?.is_some();
                if known {
                    let guid = t.guid;
                    ds.map.insert(luid.to_string(), guid.clone());
                    ds.rev.insert(guid.clone(), luid.to_string());
                    ds.touched.insert(guid.clone());
                    commit.maps.push(MapUpdate::Pair { luid: luid.to_string(), guid });
                    return Ok(Plan::Answer(if is_add { StatusCode::ItemAdded } else { StatusCode::Ok }));
                }
            }
            let key = content_digest(&content_type, &data);
            slow_index(self.store, self.user, ds)?;
            let (index, rev) = (ds.slow_index.get_or_insert_with(HashMap::new), &ds.rev);
            let candidates = index.get_mut(&key);
            let unmapped = candidates.and_then(|c| std::iter::from_fn(|| c.pop()).find(|g| !rev.contains_key(g)));
            if let Some(guid) = unmapped {
                ds.map.insert(luid.to_string(), guid.clone());
                ds.rev.insert(guid.clone(), luid.to_string());
                ds.touched.insert(guid.clone());
                commit.maps.push(MapUpdate::Pair { luid: luid.to_string(), guid });
                // SCTS requires 201 for an Add even when it matched an existing item.
                return Ok(Plan::Answer(if is_add { StatusCode::ItemAdded } else { StatusCode::Ok }));
            }
            return Ok(add_new(commit, luid, parent.flatten(), content_type, data, StatusCode::ItemAdded));
        }
        let Some(guid) = mapped else {
            return Ok(add_new(commit, luid, parent.flatten(), content_type, data, StatusCode::ItemAdded));
        };
        let Some(current) = self.store.item(self.user, &ds.name, &guid)? else {
            // Deleted on the server, modified by the client: the modification wins (conflict.rs).
            tracing::info!(datastore = %ds.name, %guid, "client changed an item deleted on the server: added again");
            return Ok(add_new(commit, luid, parent.flatten(), content_type, data, StatusCode::ItemAdded));
        };
        // A Replace naming a parent moves the item there too.
        let new_parent = parent.unwrap_or_else(|| current.parent.clone());
        // A field-level Replace is merged into what is stored (fields.rs).
        let (data, fields_only) =
            match fields::incoming(&current.content_type, &current.data, &content_type, data, field_level, &ds.shape) {
                Ok(x) => x,
                Err(code) => return Ok(Plan::Answer(code)),
            };
        let content_type = if field_level { current.content_type.clone() } else { content_type };
        let conflict = ds.direction == Direction::TwoWay
            && server_changed(self.store, self.user, self.device, ds)?.contains(&guid);
        if !conflict {
            commit.mutations.push(Mutation::Replace { guid, parent: new_parent, content_type, data, fields_only });
            return Ok(Plan::Mutate { index: commit.mutations.len() - 1, ok: StatusCode::Ok, send_back: None });
        }
        let resolution = conflict::resolve(self.policy, &current.content_type, &current.data, &data, self.now);
        let ok = conflict::status(&resolution);
        tracing::info!(datastore = %ds.name, %guid, policy = ?self.policy, status = ok.code(), "conflict: both sides changed the item");
        Ok(match resolution {
            Resolution::ServerWins => Plan::Answer(ok),
            Resolution::ClientWins => {
                commit.mutations.push(Mutation::Replace { guid, parent: new_parent, content_type, data, fields_only });
                Plan::Mutate { index: commit.mutations.len() - 1, ok, send_back: None }
            }
            Resolution::Duplicate => add_new(commit, luid, current.parent, content_type, data, ok),
            Resolution::Merged(merged) => {
                // The merged item goes back to the client as stored.
                let send_back = OutRef::Replace { guid: guid.clone(), luid: luid.to_string(), delta: Delta::WHOLE };
                commit.mutations.push(Mutation::Replace {
                    guid,
                    parent: current.parent,
                    content_type: current.content_type,
                    data: merged,
                    fields_only: false,
                });
                Plan::Mutate { index: commit.mutations.len() - 1, ok, send_back: Some(send_back) }
            }
        })
    }
}

/// Whether an Add or Replace names a parent by the client's LUID.
fn names_parent(cmd: &Command) -> bool {
    let items = match cmd {
        Command::Add(c) => &c.items,
        Command::Replace(c) => &c.items,
        _ => return false,
    };
    items.iter().any(|i| i.source_parent.is_some())
}

/// The LUID an item is known by: Copy and Move name it in Source only; others fall back to
/// Target.
fn item_luid(cmd: &CmdName, item: &Item) -> String {
    let source = item.source.as_ref().map(|x| x.loc_uri.clone());
    match cmd {
        CmdName::Copy | CmdName::Move => source.unwrap_or_default(),
        _ => source.or_else(|| item.target.as_ref().map(|t| t.loc_uri.clone())).unwrap_or_default(),
    }
}

fn is_empty(commit: &Commit) -> bool {
    commit.mutations.is_empty() && commit.maps.is_empty() && commit.unmaps.is_empty()
}

/// A new item mapped to `luid`.
pub(super) fn add_new(
    commit: &mut Commit,
    luid: &str,
    parent: Option<String>,
    content_type: String,
    data: Vec<u8>,
    ok: StatusCode,
) -> Plan {
    commit.mutations.push(Mutation::Add { parent, content_type, data });
    let index = commit.mutations.len() - 1;
    commit.maps.push(MapUpdate::ToNewItem { luid: luid.to_string(), index });
    Plan::Mutate { index, ok, send_back: None }
}

/// 215 for a command of a Sequence after a failure (one status per item, as for executed ones).
fn not_executed(cmd: &Command, batch: &mut Batch) {
    let items: &[Item] = match cmd {
        Command::Add(c) => &c.items,
        Command::Replace(c) => &c.items,
        Command::Delete(c) => &c.items,
        Command::Copy(c) => &c.items,
        Command::Move(c) => &c.items,
        _ => &[],
    };
    let no_resp = match cmd {
        Command::Add(c) => c.no_resp,
        Command::Replace(c) => c.no_resp,
        Command::Delete(c) => c.no_resp,
        Command::Copy(c) => c.no_resp,
        Command::Move(c) => c.no_resp,
        Command::Atomic(c) => c.no_resp,
        Command::Sequence(c) => c.no_resp,
        _ => false,
    };
    let refs: Vec<Option<String>> =
        if items.is_empty() { vec![None] } else { items.iter().map(|i| Some(item_luid(&cmd.name(), i))).collect() };
    for source_ref in refs {
        batch.pending.push(Pending {
            no_resp,
            cmd_id: cmd.cmd_id(),
            cmd: cmd.name(),
            source_ref,
            plan: Plan::Answer(StatusCode::NotExecuted),
        });
    }
}

/// After the commit: the session's map follows the store's, and each item gets its status.
fn settle(ds: &mut DsState, r: &mut ReplyBuilder, batch: Batch, results: &[Applied]) {
    for p in batch.pending {
        let code = match &p.plan {
            Plan::Answer(code) => *code,
            Plan::Mutate { index, ok, send_back } => match results.get(*index) {
                Some(Applied::Done { guid }) => {
                    let luid = p.source_ref.clone().unwrap_or_default();
                    if matches!(batch.commit.mutations.get(*index), Some(Mutation::Delete { .. })) {
                        ds.map.remove(&luid);
                        ds.rev.remove(guid);
                    } else {
                        if let Some(old) = ds.map.insert(luid.clone(), guid.clone()) {
                            if old != *guid {
                                ds.rev.remove(&old);
                            }
                        }
                        ds.rev.insert(guid.clone(), luid);
                        ds.touched.insert(guid.clone());
                    }
                    if let Some(oref) = send_back {
                        ds.outgoing.push_back(oref.clone());
                    }
                    *ok
                }
                Some(Applied::NotFound) => match p.cmd {
                    CmdName::Delete => StatusCode::ItemNotDeleted,
                    CmdName::Move => StatusCode::MoveFailed,
                    _ => StatusCode::CommandFailed,
                },
                None => StatusCode::CommandFailed,
            },
        };
        answer(r, p, code);
    }
}

fn answer(r: &mut ReplyBuilder, p: Pending, code: StatusCode) {
    if p.no_resp {
        return;
    }
    let st = r.status(p.cmd_id, p.cmd, code);
    if let Some(luid) = p.source_ref {
        st.source_refs = vec![luid];
    }
}

enum Reassembly {
    /// The whole item and its content type (from the first chunk when later ones omit it).
    Complete(Vec<u8>, Option<String>),
    Partial,
    Failed(StatusCode),
}

/// Stored items not mapped to this device, by digest of their content key (built once per
/// session, reading one item at a time: memory holds 16 bytes and a GUID per item).
fn slow_index<'a>(
    store: &dyn Store,
    user: UserId,
    ds: &'a mut DsState,
) -> Result<&'a mut HashMap<[u8; 16], Vec<String>>, StoreError> {
    if ds.slow_index.is_none() {
        let mut index: HashMap<[u8; 16], Vec<String>> = HashMap::new();
        for guid in store.guids(user, &ds.name)? {
            if ds.rev.contains_key(&guid) {
                continue;
            }
            if let Some(it) = store.item(user, &ds.name, &guid)? {
                index.entry(content_digest(&it.content_type, &it.data)).or_default().push(it.guid);
            }
        }
        ds.slow_index = Some(index);
    }
    Ok(ds.slow_index.get_or_insert_with(HashMap::new))
}

/// Items changed by anyone but this device since the last sync (computed once per session).
pub(super) fn server_changed<'a>(
    store: &dyn Store,
    user: UserId,
    device: &str,
    ds: &'a mut DsState,
) -> Result<&'a HashSet<String>, StoreError> {
    if ds.server_changed.is_none() {
        let since = ds.anchor.as_ref().map_or(0, |a| a.synced_seq);
        let me = Origin::Device(device.to_string());
        let set = store
            .changes_since(user, &ds.name, since)?
            .into_iter()
            .filter(|c| c.origin != me && c.kind != ChangeKind::Delete)
            .map(|c| c.guid)
            .collect();
        ds.server_changed = Some(set);
    }
    Ok(ds.server_changed.get_or_insert_with(HashSet::new))
}
