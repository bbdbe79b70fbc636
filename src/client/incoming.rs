//! The server's Sync (package 4) applied to the device's data: Add gets a new LUID and a Map
//! entry (201), Replace, Move and Delete name the device's LUID (200; Delete of nothing 211,
//! Move of an unknown item or to an unknown parent 428); a
//! parent is named by TargetParent (our LUID) or SourceParent (a GUID added in this session).
//! A field-level Replace (Meta FieldLevel) is merged into the local item. Chunks with MoreData
//! are collected (213) until the last (PROTOCOL.md §1.7). A refresh from the server first
//! removes every local item.

use crate::client::local::LocalStore;
use crate::client::session::{ClientError, ClientSession, SyncMode};
use crate::cpm::fields;
use crate::proto::{CmdName, Command, Data, Item, StatusCode, Sync};

/// A large object the server is sending in chunks.
#[derive(Debug)]
pub(crate) struct InChunk {
    ds: usize,
    cmd: CmdName,
    /// The item's Source (GUID) or Target (LUID) LocURI.
    uri: String,
    content_type: Option<String>,
    declared: Option<u64>,
    data: Vec<u8>,
}

impl ClientSession {
    /// Applies one server Sync; statuses go to the next message.
    pub(crate) fn server_sync(
        &mut self,
        msg_ref: u32,
        sync: &Sync,
        local: &mut dyn LocalStore,
    ) -> Result<(), ClientError> {
        let target = sync.target.as_ref().map(|t| t.loc_uri.as_str()).unwrap_or("");
        let source = sync.source.as_ref().map(|t| t.loc_uri.as_str()).unwrap_or("");
        let found = self.ds.iter().position(|d| d.spec.local_uri == target || d.spec.name == source);
        let code = if found.is_some() { StatusCode::Ok } else { StatusCode::NotFound };
        let st = self.owe_code(msg_ref, sync.cmd_id, CmdName::Sync, code);
        st.target_refs = vec![target.to_string()];
        st.source_refs = vec![source.to_string()];
        let Some(di) = found else { return Ok(()) };
        self.wipe_one(di, local)?;
        let cmd_type = |meta: &Option<crate::proto::Meta>| meta.as_ref().and_then(|m| m.type_.clone());
        for cmd in &sync.commands {
            let field_level = match cmd {
                Command::Replace(c) => c.meta.as_ref().is_some_and(|m| m.field_level),
                _ => false,
            };
            let (name, ct, items) = match cmd {
                Command::Add(c) => (CmdName::Add, cmd_type(&c.meta), &c.items),
                Command::Replace(c) => (CmdName::Replace, cmd_type(&c.meta), &c.items),
                Command::Delete(c) => (CmdName::Delete, None, &c.items),
                Command::Move(c) => (CmdName::Move, cmd_type(&c.meta), &c.items),
                other => {
                    self.owe_code(msg_ref, other.cmd_id(), other.name(), StatusCode::OptionalFeatureNotSupported);
                    continue;
                }
            };
            for item in items {
                let field_level = field_level || item.meta.as_ref().is_some_and(|m| m.field_level);
                let code = self.server_item(di, &name, ct.as_deref(), field_level, item, local)?;
                let st = self.owe_code(msg_ref, cmd.cmd_id(), name.clone(), code);
                if let Some(s) = &item.source {
                    st.source_refs = vec![s.loc_uri.clone()];
                }
                if let Some(t) = &item.target {
                    st.target_refs = vec![t.loc_uri.clone()];
                }
            }
        }
        Ok(())
    }

    /// A refresh from the server replaces the device's data: remove it first (once).
    pub(crate) fn wipe_for_refresh(&mut self, local: &mut dyn LocalStore) -> Result<(), ClientError> {
        for di in 0..self.ds.len() {
            self.wipe_one(di, local)?;
        }
        Ok(())
    }

    fn wipe_one(&mut self, di: usize, local: &mut dyn LocalStore) -> Result<(), ClientError> {
        let ds = &mut self.ds[di];
        if ds.wiped || ds.mode != Some(SyncMode::RefreshFromServer) {
            return Ok(());
        }
        ds.wiped = true;
        for item in local.items(&ds.spec.name)? {
            local.delete(&ds.spec.name, &item.luid)?;
        }
        Ok(())
    }

    /// One item of the server's Sync; returns its status.
    fn server_item(
        &mut self,
        di: usize,
        cmd: &CmdName,
        cmd_type: Option<&str>,
        // A field-level Replace: `item` holds only fields (merged into the local item).
        field_level: bool,
        item: &Item,
        local: &mut dyn LocalStore,
    ) -> Result<StatusCode, ClientError> {
        let guid = item.source.as_ref().map(|s| s.loc_uri.clone());
        let luid = item.target.as_ref().map(|t| t.loc_uri.clone());
        let uri = match cmd {
            CmdName::Add => guid.clone(),
            _ => luid.clone().or_else(|| guid.clone()),
        }
        .unwrap_or_default();
        let bytes = match &item.data {
            Some(Data::Bytes(b)) => b.as_slice(),
            _ => &[],
        };
        let ct = item.meta.as_ref().and_then(|m| m.type_.clone()).or(cmd_type.map(str::to_string));
        // Large objects.
        let (data, ct) = match self.in_chunk.take() {
            Some(mut c) if c.ds == di && c.cmd == *cmd && c.uri == uri => {
                c.data.extend_from_slice(bytes);
                if item.more_data {
                    self.in_chunk = Some(c);
                    return Ok(StatusCode::ChunkAccepted);
                }
                if c.declared.is_some_and(|n| n != c.data.len() as u64) {
                    return Ok(StatusCode::SizeMismatch);
                }
                (c.data, ct.or(c.content_type))
            }
            _ if item.more_data => {
                let declared = item.meta.as_ref().and_then(|m| m.size);
                self.in_chunk =
                    Some(InChunk { ds: di, cmd: cmd.clone(), uri, content_type: ct, declared, data: bytes.to_vec() });
                return Ok(StatusCode::ChunkAccepted);
            }
            _ => (bytes.to_vec(), ct),
        };
        let name = self.ds[di].spec.name.clone();
        let ct = ct.unwrap_or_else(|| self.ds[di].spec.content_type.clone());
        let parent = match (&item.target_parent, &item.source_parent) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(g)) => self.ds[di].added.get(g).cloned(),
            (None, None) => None,
        };
        let ds = &mut self.ds[di];
        Ok(match cmd {
            CmdName::Add => {
                let Some(guid) = guid else { return Ok(StatusCode::BadRequest) };
                let luid = local.add(&name, &ct, parent.as_deref(), &data)?;
                ds.added.insert(guid.clone(), luid.clone());
                ds.maps.push((luid, guid));
                ds.report.received_added += 1;
                StatusCode::ItemAdded
            }
            CmdName::Move => {
                // The item keeps its content and goes to the parent named.
                let Some(luid) = luid.or(guid.and_then(|g| ds.added.get(&g).cloned())) else {
                    return Ok(StatusCode::BadRequest);
                };
                let Some(current) = local.items(&name)?.into_iter().find(|i| i.luid == luid) else {
                    return Ok(StatusCode::MoveFailed);
                };
                if parent.is_none() {
                    return Ok(StatusCode::MoveFailed);
                }
                local.replace(&name, &luid, &current.content_type, Some(parent.as_deref()), &current.data)?;
                ds.report.received_moved += 1;
                StatusCode::Ok
            }
            CmdName::Replace => {
                let Some(luid) = luid else { return Ok(StatusCode::BadRequest) };
                let (ct, data) = if field_level {
                    let Some(current) = local.items(&name)?.into_iter().find(|i| i.luid == luid) else {
                        return Ok(StatusCode::NotFound);
                    };
                    match fields::merge(&current.content_type, &current.data, &data) {
                        Ok(merged) => (current.content_type, merged),
                        Err(_) => return Ok(StatusCode::OptionalFeatureNotSupported),
                    }
                } else {
                    (ct, data)
                };
                let parent =
                    (item.target_parent.is_some() || item.source_parent.is_some()).then_some(parent.as_deref());
                if local.replace(&name, &luid, &ct, parent, &data)? {
                    ds.report.received_replaced += 1;
                    StatusCode::Ok
                } else {
                    StatusCode::NotFound
                }
            }
            _ => {
                let Some(luid) = luid else { return Ok(StatusCode::BadRequest) };
                if local.delete(&name, &luid)? {
                    ds.report.received_deleted += 1;
                    StatusCode::Ok
                } else {
                    StatusCode::ItemNotDeleted
                }
            }
        })
    }
}
