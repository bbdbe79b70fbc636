//! Suspend and resume (DS 1.2, PROTOCOL.md §3.7): what an interrupted session leaves behind
//! so that the client's next session can continue it with Alert 225.
//!
//! The state is saved in the store (`Store::set_suspended`, as JSON) per device, one entry per
//! datastore, so it survives a restart of the gateway. Server commands are saved as references
//! ([`OutRef`]) and built again from the store on resume, so an item changed in between goes
//! out in its current version. A large object the client was sending keeps its received
//! chunks in the store; the resumed session continues it (a repeat of the last chunk before
//! the suspend is recognised and dropped, a chunk declaring the size again restarts it). A
//! large object the server was sending is sent again whole: a client cannot be assumed to have
//! kept the part it received.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::engine::server_sync::OutRef;
use crate::engine::session::{Chunk, Direction, Phase, Session};
use crate::engine::Engine;
use crate::proto::{CmdName, Status};
use crate::store::{Store, StoreError, UserId};

/// One datastore of a suspended session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SuspendedDs {
    pub(crate) direction: Direction,
    pub(crate) slow: bool,
    /// The client's Last anchor in the interrupted session: a resume must present it again.
    pub(crate) client_last: Option<String>,
    /// Whether the server's change set had been computed (package 4 started).
    pub(crate) built: bool,
    /// Store sequence the change set was computed at (changes after it are new on resume).
    pub(crate) snapshot_seq: u64,
    /// Server commands sent without a Status from the client, plus those never sent.
    pub(crate) unacked: Vec<OutRef>,
    /// The client's large object that was being received, its chunks staged in the store.
    #[serde(default)]
    pub(crate) incoming: Option<Chunk>,
}

/// The saved datastores of one device's suspended session.
type Saved = BTreeMap<String, SuspendedDs>;

fn load(store: &dyn Store, user: UserId, device: &str) -> Result<Saved, StoreError> {
    let Some(text) = store.suspended(user, device)? else { return Ok(Saved::new()) };
    Ok(serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "unreadable suspended-session state dropped: a resume will be refused (509)");
        Saved::new()
    }))
}

fn save(store: &dyn Store, user: UserId, device: &str, saved: &Saved) -> Result<(), StoreError> {
    if saved.is_empty() {
        return store.set_suspended(user, device, None);
    }
    let text = serde_json::to_string(saved).map_err(|e| StoreError::Backend(format!("encoding resume state: {e}")))?;
    store.set_suspended(user, device, Some(&text))
}

/// Whether the device has a suspended session waiting.
pub(crate) fn has_suspended(store: &dyn Store, user: UserId, device: &str) -> Result<bool, StoreError> {
    Ok(store.suspended(user, device)?.is_some())
}

/// Takes (removes) the saved state of one datastore.
pub(crate) fn take(
    store: &dyn Store,
    user: UserId,
    device: &str,
    datastore: &str,
) -> Result<Option<SuspendedDs>, StoreError> {
    let mut saved = load(store, user, device)?;
    let found = saved.remove(datastore);
    if found.is_some() {
        save(store, user, device, &saved)?;
    }
    Ok(found)
}

impl Engine {
    /// A client Status for one of the server's Sync commands: the command is acknowledged.
    /// Returns, for a Delete the client carried out, the datastore and the LUID that is gone from
    /// the device (its mapping goes too, so the item comes back as an Add should it be sent again).
    pub(crate) fn acknowledge(s: &mut Session, st: &Status) -> Option<(String, String)> {
        if !matches!(st.cmd, CmdName::Add | CmdName::Replace | CmdName::Delete) {
            return None;
        }
        // MsgRef defaults to the message answered: our previous one.
        let msg_ref = st.msg_ref.unwrap_or(s.server_msg_id.saturating_sub(1));
        for ds in &mut s.datastores {
            if let Some(i) = ds.sent.iter().position(|(m, c, _)| *m == msg_ref && *c == st.cmd_ref) {
                let (_, _, r) = ds.sent.swap_remove(i);
                if let OutRef::Delete { luid, guid, .. } = r {
                    if matches!(st.data.code(), 200 | 211) {
                        ds.map.remove(&luid);
                        if let Some(g) = guid {
                            ds.rev.remove(&g);
                        }
                        return Some((ds.name.clone(), luid));
                    }
                }
                return None;
            }
        }
        None
    }

    /// Alert 224: saves what the session's resume needs and ends it (PROTOCOL.md §3.7).
    pub(crate) fn suspend(&self, s: &mut Session) -> Result<(), StoreError> {
        let (Some(user), Some(device)) = (s.user.clone(), s.device.clone()) else { return Ok(()) };
        let built = matches!(s.phase, Phase::ServerSync | Phase::Map);
        // A large object half sent goes back whole.
        let partial = s.out_chunk.take().map(|oc| oc.into_whole());
        let mut incoming = s.chunk.take();
        let mut saved = Saved::new();
        for (index, ds) in s.datastores.iter_mut().enumerate() {
            let mut sent = std::mem::take(&mut ds.sent);
            sent.sort_by_key(|(m, c, _)| (*m, *c));
            let mut unacked: Vec<OutRef> = sent.into_iter().map(|(_, _, r)| r).collect();
            if let Some((_, r)) = partial.as_ref().filter(|(i, _)| *i == index) {
                unacked.push(r.clone());
            }
            unacked.extend(ds.front.take().map(|(r, _, _)| r));
            unacked.extend(std::mem::take(&mut ds.outgoing));
            let chunk = incoming.take_if(|c| c.datastore == ds.name);
            tracing::info!(datastore = %ds.name, unacked = unacked.len(), built, receiving = chunk.as_ref().map(|c| c.received), "session suspended");
            saved.insert(
                ds.name.clone(),
                SuspendedDs {
                    direction: ds.direction,
                    slow: ds.slow,
                    client_last: ds.client_last.clone(),
                    built,
                    snapshot_seq: ds.snapshot_seq,
                    unacked,
                    incoming: chunk,
                },
            );
        }
        save(self.store.as_ref(), user.id, &device, &saved)
    }
}

/// The resumed part of a datastore's change set: the saved references, minus those concerning
/// items changed again since (their newer version is in `fresh`).
pub(crate) fn merge_unacked(unacked: Vec<OutRef>, fresh: &HashSet<String>) -> Vec<OutRef> {
    unacked.into_iter().filter(|r| r.guid().is_none_or(|g| !fresh.contains(g))).collect()
}
