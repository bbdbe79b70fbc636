//! The client's Sync (package 3): Add/Replace/Delete against the store, slow-sync matching by
//! content, conflict detection (server wins), large objects reassembled (213), one status per
//! item, and each Sync's changes committed in one transaction.

use std::collections::{HashMap, HashSet};

use crate::engine::alert::datastore_name;
use crate::engine::matching::content_key;
use crate::engine::reply::ReplyBuilder;
use crate::engine::session::{Chunk, Direction, DsState, Session};
use crate::engine::Engine;
use crate::proto::{CmdName, Command, Data, Item, StatusCode, Sync};
use crate::store::{Applied, ChangeKind, Commit, MapUpdate, Mutation, Origin, Store, StoreError, UserId};

/// What to do with one incoming item, decided before the commit.
enum Plan {
    /// Mutation `index` of the commit; `added` says whether the status is 201.
    Mutate { index: usize, added: bool },
    /// Nothing to change (slow-sync match, conflict lost): answer with this status.
    Answer(StatusCode),
}

struct Pending {
    no_resp: bool,
    cmd_id: u32,
    cmd: CmdName,
    luid: String,
    plan: Plan,
}

impl Engine {
    pub(crate) fn client_sync(&self, s: &mut Session, r: &mut ReplyBuilder, sync: &Sync) -> Result<(), StoreError> {
        let target = sync.target.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
        let source = sync.source.as_ref().map(|t| t.loc_uri.clone()).unwrap_or_default();
        let name = datastore_name(if target.is_empty() { &source } else { &target });
        let (Some(user), Some(device)) = (s.user.clone(), s.device.clone()) else { return Ok(()) };
        let found = s.datastores.iter().position(|d| d.name.eq_ignore_ascii_case(&name) || d.alert_target == target);
        if !sync.no_resp {
            let code = if found.is_some() { StatusCode::Ok } else { StatusCode::NotFound };
            let st = r.status(sync.cmd_id, CmdName::Sync, code);
            st.target_refs = vec![target.clone()];
            st.source_refs = vec![source.clone()];
        }
        let Some(i) = found else {
            tracing::warn!(datastore = %name, "Sync for a datastore that was not alerted: 404");
            return Ok(());
        };
        let default_type = self
            .config
            .datastores
            .iter()
            .find(|c| c.name == s.datastores[i].name)
            .and_then(|c| c.content_types.first())
            .map(|t| t.split(';').next().unwrap_or("").to_string())
            .unwrap_or_default();

        let mut commit = Commit::default();
        let mut pending: Vec<Pending> = Vec::new();
        for cmd in &sync.commands {
            let (cmd_id, no_resp, name, meta, items) = match cmd {
                Command::Add(c) => (c.cmd_id, c.no_resp, CmdName::Add, &c.meta, &c.items),
                Command::Replace(c) => (c.cmd_id, c.no_resp, CmdName::Replace, &c.meta, &c.items),
                Command::Delete(c) => (c.cmd_id, c.no_resp, CmdName::Delete, &c.meta, &c.items),
                other => {
                    r.status(other.cmd_id(), other.name(), StatusCode::OptionalFeatureNotSupported);
                    continue;
                }
            };
            let cmd_type = meta.as_ref().and_then(|m| m.type_.clone());
            for item in items {
                let luid = item.source.as_ref().or(None).map(|x| x.loc_uri.clone()).or_else(|| item.target.as_ref().map(|t| t.loc_uri.clone())).unwrap_or_default();
                let content_type = item.meta.as_ref().and_then(|m| m.type_.clone()).or_else(|| cmd_type.clone());
                let (data, content_type) = match reassemble(s, i, &name, &luid, content_type, item, meta.as_ref().and_then(|m| m.size)) {
                    Reassembly::Complete(d, ct) => (d, ct),
                    Reassembly::Partial => {
                        pending.push(Pending { no_resp, cmd_id, cmd: name.clone(), luid, plan: Plan::Answer(StatusCode::ChunkAccepted) });
                        continue;
                    }
                    Reassembly::Failed(code) => {
                        pending.push(Pending { no_resp, cmd_id, cmd: name.clone(), luid, plan: Plan::Answer(code) });
                        continue;
                    }
                };
                let content_type = content_type.unwrap_or_else(|| default_type.clone());
                let ds = &mut s.datastores[i];
                let plan = plan_item(self.store.as_ref(), user.id, &device, ds, &name, &luid, content_type, data, &mut commit)?;
                pending.push(Pending { no_resp, cmd_id, cmd: name.clone(), luid, plan });
            }
        }

        let ds_name = s.datastores[i].name.clone();
        let results = if commit.mutations.is_empty() && commit.maps.is_empty() && commit.unmaps.is_empty() {
            Vec::new()
        } else {
            self.store.commit(user.id, &device, &ds_name, &commit)?
        };
        let ds = &mut s.datastores[i];
        for p in pending {
            let code = match p.plan {
                Plan::Answer(code) => code,
                Plan::Mutate { index, added } => match results.get(index) {
                    Some(Applied::Done { guid }) => {
                        if let Some(old) = ds.map.insert(p.luid.clone(), guid.clone()) {
                            if old != *guid {
                                ds.rev.remove(&old);
                            }
                        }
                        if matches!(commit.mutations.get(index), Some(Mutation::Delete { .. })) {
                            ds.map.remove(&p.luid);
                            ds.rev.remove(guid);
                        } else {
                            ds.rev.insert(guid.clone(), p.luid.clone());
                            ds.touched.insert(guid.clone());
                        }
                        if added {
                            StatusCode::ItemAdded
                        } else {
                            StatusCode::Ok
                        }
                    }
                    Some(Applied::NotFound) => StatusCode::ItemNotDeleted,
                    None => StatusCode::CommandFailed,
                },
            };
            if !p.no_resp {
                let st = r.status(p.cmd_id, p.cmd, code);
                st.source_refs = vec![p.luid];
            }
        }
        Ok(())
    }
}

enum Reassembly {
    /// The whole item and its content type (from the first chunk when later ones omit it).
    Complete(Vec<u8>, Option<String>),
    Partial,
    Failed(StatusCode),
}

/// Large objects (PROTOCOL.md §1.7): chunks with MoreData are buffered (213) until the last.
fn reassemble(s: &mut Session, ds: usize, cmd: &CmdName, luid: &str, ct: Option<String>, item: &Item, cmd_size: Option<u64>) -> Reassembly {
    let bytes = match &item.data {
        Some(Data::Bytes(b)) => b.clone(),
        Some(_) | None => Vec::new(),
    };
    let declared = item.meta.as_ref().and_then(|m| m.size).or(cmd_size);
    let ds_name = s.datastores[ds].name.clone();
    match s.chunk.take() {
        Some(mut c) if c.datastore == ds_name && c.luid == luid && c.cmd == *cmd => {
            c.data.extend_from_slice(&bytes);
            if item.more_data {
                s.chunk = Some(c);
                return Reassembly::Partial;
            }
            match c.declared {
                Some(n) if n as usize != c.data.len() => {
                    tracing::warn!(luid, declared = n, received = c.data.len(), "large object size mismatch: 424");
                    Reassembly::Failed(StatusCode::SizeMismatch)
                }
                _ => Reassembly::Complete(c.data, ct.or(c.content_type)),
            }
        }
        other => {
            if other.is_some() {
                tracing::warn!("a large object was abandoned by the client");
            }
            if item.more_data {
                s.chunk = Some(Chunk { datastore: ds_name, luid: luid.to_string(), cmd: cmd.clone(), content_type: ct, declared, data: bytes });
                Reassembly::Partial
            } else {
                Reassembly::Complete(bytes, ct)
            }
        }
    }
}

/// Decides what one complete incoming item does; pushes its mutation (and map) into `commit`.
#[allow(clippy::too_many_arguments)]
fn plan_item(
    store: &dyn Store,
    user: UserId,
    device: &str,
    ds: &mut DsState,
    cmd: &CmdName,
    luid: &str,
    content_type: String,
    data: Vec<u8>,
    commit: &mut Commit,
) -> Result<Plan, StoreError> {
    if ds.direction == Direction::FromServer {
        return Ok(Plan::Answer(StatusCode::Forbidden));
    }
    let mapped = ds.map.get(luid).cloned();
    if *cmd == CmdName::Delete {
        let Some(guid) = mapped else { return Ok(Plan::Answer(StatusCode::NotFound)) };
        commit.unmaps.push(luid.to_string());
        commit.mutations.push(Mutation::Delete { guid });
        return Ok(Plan::Mutate { index: commit.mutations.len() - 1, added: false });
    }
    let is_add = *cmd == CmdName::Add;
    if ds.slow {
        // Slow sync / refresh: match what the client sends against what we have.
        if let Some(guid) = mapped {
            ds.touched.insert(guid.clone());
            return Ok(Plan::Answer(if is_add { StatusCode::ItemAdded } else { StatusCode::Ok }));
        }
        let key = content_key(&content_type, &data);
        let index = slow_index(store, user, ds)?;
        if let Some(guid) = index.get_mut(&key).and_then(Vec::pop) {
            ds.map.insert(luid.to_string(), guid.clone());
            ds.rev.insert(guid.clone(), luid.to_string());
            ds.touched.insert(guid.clone());
            commit.maps.push(MapUpdate::Pair { luid: luid.to_string(), guid });
            // SCTS requires 201 for an Add even when it matched an existing item.
            return Ok(Plan::Answer(if is_add { StatusCode::ItemAdded } else { StatusCode::Ok }));
        }
        commit.mutations.push(Mutation::Add { parent: None, content_type, data });
        let index = commit.mutations.len() - 1;
        commit.maps.push(MapUpdate::ToNewItem { luid: luid.to_string(), index });
        return Ok(Plan::Mutate { index, added: true });
    }
    match mapped {
        Some(guid) => {
            if server_changed(store, user, device, ds)?.contains(&guid) {
                tracing::info!(datastore = %ds.name, %guid, "conflict: both sides changed the item; server wins (419)");
                return Ok(Plan::Answer(StatusCode::ConflictServerWon));
            }
            commit.mutations.push(Mutation::Replace { guid, parent: None, content_type, data });
            Ok(Plan::Mutate { index: commit.mutations.len() - 1, added: false })
        }
        None => {
            commit.mutations.push(Mutation::Add { parent: None, content_type, data });
            let index = commit.mutations.len() - 1;
            commit.maps.push(MapUpdate::ToNewItem { luid: luid.to_string(), index });
            Ok(Plan::Mutate { index, added: true })
        }
    }
}

/// Stored items not mapped to this device, by content key (built once per session).
fn slow_index<'a>(store: &dyn Store, user: UserId, ds: &'a mut DsState) -> Result<&'a mut HashMap<String, Vec<String>>, StoreError> {
    if ds.slow_index.is_none() {
        let mut index: HashMap<String, Vec<String>> = HashMap::new();
        for it in store.items(user, &ds.name)? {
            if !ds.rev.contains_key(&it.guid) {
                index.entry(content_key(&it.content_type, &it.data)).or_default().push(it.guid);
            }
        }
        ds.slow_index = Some(index);
    }
    Ok(ds.slow_index.get_or_insert_with(HashMap::new))
}

/// Items changed by anyone but this device since the last sync (computed once per session).
fn server_changed<'a>(store: &dyn Store, user: UserId, device: &str, ds: &'a mut DsState) -> Result<&'a HashSet<String>, StoreError> {
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
