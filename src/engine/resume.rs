//! Suspend and resume (DS 1.2, PROTOCOL.md §3.7): what an interrupted session leaves behind
//! so that the client's next session can continue it with Alert 225.
//!
//! The state is kept in memory, keyed by (user, device); it is lost when the gateway restarts
//! (the resume is then refused with 509 and the client falls back to a normal sync).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::engine::session::{Direction, DsState, Phase, Session};
use crate::engine::Engine;
use crate::proto::{CmdName, Command, Status};
use crate::store::UserId;

/// One datastore of a suspended session.
#[derive(Clone, Debug)]
pub(crate) struct SuspendedDs {
    pub(crate) direction: Direction,
    pub(crate) slow: bool,
    /// The client's Last anchor in the interrupted session: a resume must present it again.
    pub(crate) client_last: Option<String>,
    /// Whether the server's change set had been computed (package 4 started).
    pub(crate) built: bool,
    /// Store sequence the change set was computed at (changes after it are new on resume).
    pub(crate) snapshot_seq: u64,
    /// Server commands sent without a Status from the client, plus those never sent, each
    /// with the GUID it concerns (to drop it when a newer change of the item is sent).
    pub(crate) unacked: Vec<(Option<String>, Command)>,
}

/// Suspended sessions by (user, device) and datastore name.
#[derive(Debug, Default)]
pub(crate) struct ResumeTable {
    inner: Mutex<HashMap<(UserId, String), HashMap<String, SuspendedDs>>>,
}

impl ResumeTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(UserId, String), HashMap<String, SuspendedDs>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes (removes) the saved state of one datastore.
    pub(crate) fn take(&self, user: UserId, device: &str, datastore: &str) -> Option<SuspendedDs> {
        let mut map = self.lock();
        let key = (user, device.to_string());
        let per_dev = map.get_mut(&key)?;
        let found = per_dev.remove(datastore);
        if per_dev.is_empty() {
            map.remove(&key);
        }
        found
    }

    fn save(&self, user: UserId, device: &str, datastores: HashMap<String, SuspendedDs>) {
        self.lock().insert((user, device.to_string()), datastores);
    }
}

/// The GUID a server command concerns: an Add names it, a Replace/Delete names the LUID.
fn guid_of(ds: &DsState, cmd: &Command) -> Option<String> {
    let item = match cmd {
        Command::Add(a) => return a.items.first()?.source.as_ref().map(|s| s.loc_uri.clone()),
        Command::Replace(r) => r.items.first()?,
        Command::Delete(d) => d.items.first()?,
        _ => return None,
    };
    ds.map.get(&item.target.as_ref()?.loc_uri).cloned()
}

impl Engine {
    /// A client Status for one of the server's Sync commands: the command is acknowledged.
    pub(crate) fn acknowledge(s: &mut Session, st: &Status) {
        if !matches!(st.cmd, CmdName::Add | CmdName::Replace | CmdName::Delete) {
            return;
        }
        // MsgRef defaults to the message answered: our previous one.
        let msg_ref = st.msg_ref.unwrap_or(s.server_msg_id.saturating_sub(1));
        for ds in &mut s.datastores {
            if let Some(i) = ds.sent.iter().position(|(m, c, _)| *m == msg_ref && *c == st.cmd_ref) {
                ds.sent.swap_remove(i);
                return;
            }
        }
    }

    /// Alert 224: saves what the session's resume needs and ends it (PROTOCOL.md §3.7).
    pub(crate) fn suspend(&self, s: &mut Session) {
        let (Some(user), Some(device)) = (s.user.as_ref(), s.device.as_deref()) else { return };
        let built = matches!(s.phase, Phase::ServerSync | Phase::Map);
        // A large object half sent goes back whole.
        let partial = s.out_chunk.take().map(|oc| oc.into_whole());
        let mut saved = HashMap::new();
        for (index, ds) in s.datastores.iter_mut().enumerate() {
            let mut sent = std::mem::take(&mut ds.sent);
            sent.sort_by_key(|(m, c, _)| (*m, *c));
            let mut unacked: Vec<(Option<String>, Command)> =
                sent.into_iter().map(|(_, _, cmd)| (guid_of(ds, &cmd), cmd)).collect();
            if let Some((_, cmd)) = partial.as_ref().filter(|(i, _)| *i == index) {
                unacked.push((guid_of(ds, cmd), cmd.clone()));
            }
            for cmd in std::mem::take(&mut ds.outgoing) {
                unacked.push((guid_of(ds, &cmd), cmd));
            }
            tracing::info!(datastore = %ds.name, unacked = unacked.len(), built, "session suspended");
            saved.insert(
                ds.name.clone(),
                SuspendedDs {
                    direction: ds.direction,
                    slow: ds.slow,
                    client_last: ds.client_last.clone(),
                    built,
                    snapshot_seq: ds.snapshot_seq,
                    unacked,
                },
            );
        }
        self.resume.save(user.id, device, saved);
    }
}

/// The resumed part of a datastore's change set: the saved commands, minus those concerning
/// items changed again since (their newer version is in `fresh`).
pub(crate) fn merge_unacked(unacked: Vec<(Option<String>, Command)>, fresh: &HashSet<String>) -> Vec<Command> {
    unacked
        .into_iter()
        .filter(|(guid, _)| guid.as_ref().is_none_or(|g| !fresh.contains(g)))
        .map(|(_, cmd)| cmd)
        .collect()
}
