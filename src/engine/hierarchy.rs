//! Hierarchical sync in the client's Sync (PROTOCOL.md §10.1): Delete of a folder (427 while it
//! holds anything the same Sync does not delete too, unless the datastore's `recursive_delete`
//! is on: then its contents go with it, deepest first, unless one of them changed elsewhere
//! since the device's last sync), Copy, Move, and resolving the parent an Item names. Part of `client_sync`'s
//! planning: these add to the batch being planned and answer with a [`Plan`].

use std::collections::HashSet;

use crate::engine::client_sync::{add_new, server_changed, Plan, Scope};
use crate::engine::server_sync::OutRef;
use crate::engine::session::{Direction, DsState};
use crate::proto::{Item, StatusCode};
use crate::store::{descendants, Commit, Delta, Mutation, StoreError};

impl Scope<'_> {
    /// A Delete; against a modification by someone else, the modification wins (conflict.rs).
    pub(super) fn plan_delete(
        &self,
        ds: &mut DsState,
        luid: &str,
        mapped: Option<String>,
        commit: &mut Commit,
    ) -> Result<Plan, StoreError> {
        let Some(guid) = mapped else { return Ok(Plan::Answer(StatusCode::NotFound)) };
        // A folder with something in it stays (PROTOCOL.md §10.1): the client deletes the
        // contents first (children come before parents in its Deletes).
        let going: HashSet<&str> = commit
            .mutations
            .iter()
            .filter_map(|m| match m {
                Mutation::Delete { guid } => Some(guid.as_str()),
                _ => None,
            })
            .collect();
        let parents = self.store.parents(self.user, &ds.name)?;
        let doomed: Vec<String> =
            descendants(&parents, &guid).into_iter().filter(|g| !going.contains(g.as_str())).collect();
        if !doomed.is_empty() {
            if !self.recursive_delete {
                tracing::info!(datastore = %ds.name, %guid, items = doomed.len(), "Delete of a folder that is not empty: 427");
                return Ok(Plan::Answer(StatusCode::ItemNotEmpty));
            }
            // Never delete what the device has not seen: items changed by others since.
            if ds.direction == Direction::TwoWay && !ds.slow {
                let changed = server_changed(self.store, self.user, self.device, ds)?;
                if doomed.iter().any(|g| changed.contains(g)) {
                    tracing::info!(datastore = %ds.name, %guid, "recursive Delete of a folder holding items changed elsewhere: 427");
                    return Ok(Plan::Answer(StatusCode::ItemNotEmpty));
                }
            }
            tracing::info!(datastore = %ds.name, %guid, items = doomed.len(), "recursive Delete of a folder");
            for g in doomed {
                if let Some(l) = ds.rev.remove(&g) {
                    ds.map.remove(&l);
                    commit.unmaps.push(l);
                }
                commit.mutations.push(Mutation::Delete { guid: g });
            }
        }
        commit.unmaps.push(luid.to_string());
        if ds.direction == Direction::TwoWay
            && !ds.slow
            && server_changed(self.store, self.user, self.device, ds)?.contains(&guid)
        {
            tracing::info!(datastore = %ds.name, %guid, "client deleted an item modified on the server: kept, sent again (419)");
            ds.map.remove(luid);
            ds.rev.remove(&guid);
            return Ok(Plan::Answer(StatusCode::ConflictServerWon));
        }
        commit.mutations.push(Mutation::Delete { guid });
        Ok(Plan::Mutate { index: commit.mutations.len() - 1, ok: StatusCode::Ok, send_back: None })
    }

    /// Copy: a new item with the Item's Data, or the content of the item its Target names.
    pub(super) fn plan_copy(
        &self,
        ds: &mut DsState,
        luid: &str,
        item: &Item,
        content_type: String,
        data: Vec<u8>,
        commit: &mut Commit,
    ) -> Result<Plan, StoreError> {
        if ds.direction == Direction::FromServer {
            return Ok(Plan::Answer(StatusCode::Forbidden));
        }
        if luid.is_empty() {
            return Ok(Plan::Answer(StatusCode::BadRequest));
        }
        let original = match item.target.as_ref().map(|t| t.loc_uri.as_str()) {
            Some(t) => match ds.map.get(t).cloned().or_else(|| ds.rev.contains_key(t).then(|| t.to_string())) {
                Some(guid) => self.store.item(self.user, &ds.name, &guid)?,
                None => None,
            },
            None => None,
        };
        let parent = match (&item.source_parent, &item.target_parent) {
            (None, None) => original.as_ref().and_then(|o| o.parent.clone()),
            _ => match self.parent(ds, item)? {
                Some(p) => Some(p),
                None => return Ok(Plan::Answer(StatusCode::NotFound)),
            },
        };
        let (content_type, data) = match (item.data.is_some(), original) {
            (true, _) => (content_type, data),
            (false, Some(o)) => (o.content_type, o.data),
            (false, None) => return Ok(Plan::Answer(StatusCode::NotFound)),
        };
        Ok(add_new(commit, luid, parent, content_type, data, StatusCode::ItemAdded))
    }

    /// Move: the item keeps its content and gets the parent the Item names.
    pub(super) fn plan_move(
        &self,
        ds: &mut DsState,
        luid: &str,
        item: &Item,
        commit: &mut Commit,
    ) -> Result<Plan, StoreError> {
        if ds.direction == Direction::FromServer {
            return Ok(Plan::Answer(StatusCode::Forbidden));
        }
        let current = match ds.map.get(luid) {
            Some(guid) => self.store.item(self.user, &ds.name, guid)?,
            None => None,
        };
        let Some(current) = current else {
            tracing::info!(datastore = %ds.name, luid, "Move of an unknown item: 428");
            return Ok(Plan::Answer(StatusCode::MoveFailed));
        };
        let Some(parent) = self.parent(ds, item)? else {
            tracing::info!(datastore = %ds.name, luid, "Move to a parent that is not a mapped item: 428");
            return Ok(Plan::Answer(StatusCode::MoveFailed));
        };
        if self.is_within(ds, &parent, &current.guid)? {
            tracing::info!(datastore = %ds.name, luid, "Move into itself: 428");
            return Ok(Plan::Answer(StatusCode::MoveFailed));
        }
        // The device's Replace hides a server change to the content: send that along.
        let changed = ds.direction == Direction::TwoWay
            && !ds.slow
            && server_changed(self.store, self.user, self.device, ds)?.contains(&current.guid);
        let send_back = changed.then(|| OutRef::Replace {
            guid: current.guid.clone(),
            luid: luid.to_string(),
            delta: Delta::WHOLE,
        });
        commit.mutations.push(Mutation::Replace {
            guid: current.guid,
            parent: Some(parent),
            content_type: current.content_type,
            data: current.data,
            fields_only: false,
        });
        Ok(Plan::Mutate { index: commit.mutations.len() - 1, ok: StatusCode::Ok, send_back })
    }

    /// The GUID of the parent an Item names (SourceParent: client LUID; TargetParent: server
    /// GUID), if it is a mapped, existing item.
    pub(super) fn parent(&self, ds: &DsState, item: &Item) -> Result<Option<String>, StoreError> {
        let guid = match (&item.source_parent, &item.target_parent) {
            (Some(luid), _) => ds.map.get(luid).cloned(),
            (None, Some(guid)) => ds.rev.contains_key(guid).then(|| guid.clone()),
            (None, None) => None,
        };
        match guid {
            Some(g) if self.store.item(self.user, &ds.name, &g)?.is_some() => Ok(Some(g)),
            _ => Ok(None),
        }
    }

    /// Whether `folder` is `item` or lies below it (a Move there would make a cycle).
    pub(super) fn is_within(&self, ds: &DsState, folder: &str, item: &str) -> Result<bool, StoreError> {
        let mut at = Some(folder.to_string());
        for _ in 0..256 {
            match at {
                Some(g) if g == item => return Ok(true),
                Some(g) => at = self.store.item(self.user, &ds.name, &g)?.and_then(|i| i.parent),
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::engine::tests::{first_contact, session, VCARD_A};
    use crate::engine::{Engine, EngineConfig};
    use crate::proto::*;
    use crate::store::memory::MemoryStore;
    use crate::store::{descendants, Store};

    fn add(cmd_id: u32, luid: &str, parent: Option<&str>) -> Command {
        Command::Add(Add {
            cmd_id,
            meta: Some(Meta::with_type("text/vcard")),
            items: vec![Item {
                source: Some(Source::uri(luid)),
                source_parent: parent.map(str::to_string),
                data: Some(Data::from(VCARD_A.replace("John", luid).as_str())),
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    #[test]
    fn a_recursive_datastore_deletes_a_folder_with_its_contents() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let user = store.create_user("alice", &crate::auth::md5_secret("alice", "secret")).unwrap().id;
        let mut config = EngineConfig::default();
        config.datastores.iter_mut().for_each(|d| d.recursive_delete = d.name == "contacts");
        let e = Engine::new(store.clone(), config);
        let mut a = first_contact(&e, "dev-a");
        let tree = vec![add(2, "f", None), add(3, "g", Some("f")), add(4, "x", Some("g")), add(5, "top", None)];
        session(&e, &mut a, AlertCode::TwoWay, tree, 100);
        assert_eq!(store.items(user, "contacts").unwrap().len(), 4);
        let folder = Command::Delete(Delete {
            cmd_id: 2,
            items: vec![Item { source: Some(Source::uri("f")), ..Default::default() }],
            ..Default::default()
        });
        session(&e, &mut a, AlertCode::TwoWay, vec![folder], 200);
        let left = store.items(user, "contacts").unwrap();
        assert_eq!(left.len(), 1, "only the top item stays: {left:?}");
        let luids: Vec<String> = store.id_map(user, "dev-a", "contacts").unwrap().into_iter().map(|(l, _)| l).collect();
        assert_eq!(luids, ["top"], "the maps of the deleted items are gone");
    }

    #[test]
    fn descendants_come_deepest_first_and_survive_cycles() {
        let pairs =
            |list: &[(&str, &str)]| list.iter().map(|(c, p)| (c.to_string(), p.to_string())).collect::<Vec<_>>();
        let tree = pairs(&[("b", "a"), ("c", "b"), ("d", "a"), ("e", "z")]);
        let below = descendants(&tree, "a");
        assert_eq!(below.len(), 3);
        assert_eq!(below[0], "c", "the deepest first: {below:?}");
        assert!(descendants(&tree, "c").is_empty());
        let cycle = pairs(&[("a", "b"), ("b", "a")]);
        assert_eq!(descendants(&cycle, "a"), ["b"]);
    }
}
