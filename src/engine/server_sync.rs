//! The server's Sync (package 4): the change set of each datastore since the device's last
//! successful sync (never echoing the device's own changes), all unmapped items in a slow sync,
//! deletions closing a refresh from the client, and packing it into messages that fit the
//! client's MaxMsgSize.

use crate::engine::reply::{estimate, number_children, ReplyBuilder};
use crate::engine::session::{Direction, Phase, Session};
use crate::engine::Engine;
use crate::proto::{Add, Command, Data, Delete, Item, Meta, Replace, Source, Sync, Target};
use crate::store::{ChangeKind, Commit, Mutation, Origin, StoreError};

impl Engine {
    /// Computes every datastore's outgoing commands (at the end of package 3).
    pub(crate) fn build_server_changes(&self, s: &mut Session) -> Result<(), StoreError> {
        let (Some(user), Some(device)) = (s.user.clone(), s.device.clone()) else { return Ok(()) };
        let me = Origin::Device(device.clone());
        for ds in &mut s.datastores {
            // Refresh from the client: the server keeps exactly what the client sent.
            if ds.direction == Direction::FromClient && ds.slow {
                let doomed: Vec<Mutation> = self
                    .store
                    .items(user.id, &ds.name)?
                    .into_iter()
                    .filter(|it| !ds.touched.contains(&it.guid))
                    .map(|it| Mutation::Delete { guid: it.guid })
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
            let mut out: Vec<Command> = std::mem::take(&mut ds.outgoing).into();
            if ds.slow {
                for it in self.store.items(user.id, &ds.name)? {
                    if !ds.rev.contains_key(&it.guid) {
                        out.push(add(&it.guid, &it.content_type, it.data));
                        ds.awaiting_map.insert(it.guid);
                    }
                }
            } else {
                let since = ds.anchor.as_ref().map_or(0, |a| a.synced_seq);
                for ch in self.store.changes_since(user.id, &ds.name, since)? {
                    if ch.origin == me || ch.seq > ds.snapshot_seq {
                        continue;
                    }
                    let luid = ds.rev.get(&ch.guid).cloned();
                    match (ch.kind, luid) {
                        (ChangeKind::Delete, Some(luid)) => out.push(delete(&luid)),
                        (ChangeKind::Delete, None) => {}
                        (_, luid) => {
                            let Some(it) = self.store.item(user.id, &ds.name, &ch.guid)? else { continue };
                            match luid {
                                Some(luid) => out.push(replace(&luid, &it.content_type, it.data)),
                                None => {
                                    out.push(add(&it.guid, &it.content_type, it.data));
                                    ds.awaiting_map.insert(it.guid);
                                }
                            }
                        }
                    }
                }
            }
            ds.number_of_changes = out.len() as u32;
            ds.outgoing = out.into();
        }
        Ok(())
    }

    /// Adds as much of the outgoing Syncs as fits the client's MaxMsgSize. Returns true when
    /// everything is sent (package 4 complete; the phase moves to Map).
    pub(crate) fn send_server_changes(&self, s: &mut Session, r: &mut ReplyBuilder) -> bool {
        // Leave room for the header and the encoding's overhead.
        let budget = s.max_msg_size.saturating_sub(s.max_msg_size / 10 + 1024);
        for ds in &mut s.datastores {
            if ds.sync_sent && ds.outgoing.is_empty() {
                continue;
            }
            let mut sync = Sync {
                target: Some(Target::uri(&ds.client_uri)),
                source: Some(Source::uri(&ds.alert_target)),
                number_of_changes: (!ds.sync_sent).then_some(ds.number_of_changes),
                ..Default::default()
            };
            let mut used = r.body_len() + 400;
            while let Some(cmd) = ds.outgoing.front() {
                let size = estimate(cmd);
                // At least one command per message, or nothing would ever move.
                if used + size > budget && !sync.commands.is_empty() {
                    break;
                }
                if used + size > budget && r.body_len() > 2000 {
                    break;
                }
                used += size;
                if let Some(cmd) = ds.outgoing.pop_front() {
                    sync.commands.push(cmd);
                }
            }
            let full = !ds.outgoing.is_empty();
            ds.sync_sent = true;
            let id = r.cmd_id();
            sync.cmd_id = id;
            number_children(r, &mut sync.commands);
            r.msg.body.push(Command::Sync(sync));
            if full {
                return false;
            }
        }
        s.phase = Phase::Map;
        true
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

fn delete(luid: &str) -> Command {
    Command::Delete(Delete {
        items: vec![Item { target: Some(Target::uri(luid)), ..Default::default() }],
        ..Default::default()
    })
}
