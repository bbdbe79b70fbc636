//! What a session did, counted as it goes, for the gateway's metrics and the operator console:
//! items by datastore, operation and direction, large objects, the sync mode of each datastore,
//! and at the end one outcome. The engine only counts; the server decides what to do with it.
//!
//! Datastore labels are always names from the configuration (or `other`), never strings a
//! client sent, so a metric's label set stays bounded whatever devices send.

use std::collections::BTreeMap;

use crate::engine::session::{Direction, DsState};
use crate::proto::{Command, Item};

/// Which way items travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flow {
    /// Sent by the device (its Sync).
    FromClient,
    /// Sent to the device (the server's Sync).
    ToClient,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::FromClient => "from_client",
            Flow::ToClient => "to_client",
        }
    }
}

/// How a session ended, one word (the metrics label and the console's column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Every command succeeded (a 508 asking for a slow sync counts as success).
    Ok,
    /// The session completed, but some commands were refused (a status of 300 or more).
    Refused,
    /// The credentials were refused (wrong, unknown user, throttled: SyncHdr 401 or 407).
    AuthFailed,
    /// The device had no credential to give yet and was challenged (none sent: 407; MD5
    /// before it knew a nonce: 401 with a nonce): the normal first round of a device's first
    /// login; it starts again with credentials.
    Challenged,
    /// The whole message was refused (another SyncHdr error, e.g. 503 or 513).
    Failed,
    /// Suspended by the device or by a stopping gateway (a resume can follow).
    Suspended,
    /// Abandoned by the device: forgotten after the session timeout (counted by the server).
    Expired,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::Refused,
        Outcome::AuthFailed,
        Outcome::Challenged,
        Outcome::Failed,
        Outcome::Suspended,
        Outcome::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::AuthFailed => "auth_failed",
            Outcome::Challenged => "challenged",
            Outcome::Failed => "failed",
            Outcome::Suspended => "suspended",
            Outcome::Expired => "expired",
        }
    }
}

/// The counts of one session.
#[derive(Clone, Debug, Default)]
pub struct SessionStats {
    /// (datastore, operation, flow) → items; a large object counts once, at its last chunk.
    pub items: BTreeMap<(String, &'static str, Flow), u64>,
    /// Large objects whose first chunk travelled, by flow.
    pub large_objects: BTreeMap<Flow, u64>,
    /// Datastore → sync mode (`two-way`, `slow`, `one-way-from-client`, `refresh-from-client`,
    /// `one-way-from-server`, `refresh-from-server`), as negotiated.
    pub modes: BTreeMap<String, &'static str>,
    /// Set when the session ended.
    pub outcome: Option<Outcome>,
    /// SyncML messages received.
    pub messages: u32,
    /// Unix seconds (the engine's [`crate::engine::Context::now`]) of the first and the last
    /// message.
    pub started: i64,
    pub last: i64,
    /// The status of an authentication failure (401/407).
    pub auth_status: Option<u16>,
    /// The authentication refusal was a challenge (no credential yet), not a failed login.
    pub(crate) challenged: bool,
    /// A large object is in the middle of travelling, per flow (from client, to client).
    open_chunk: [bool; 2],
}

impl SessionStats {
    /// The session's mode in one word: the datastores' mode when they agree, `mixed` when they
    /// do not, `none` when no datastore was synced.
    pub fn mode(&self) -> &'static str {
        let mut modes = self.modes.values();
        match modes.next() {
            None => "none",
            Some(first) if modes.all(|m| m == first) => first,
            Some(_) => "mixed",
        }
    }

    /// Counts the items of the Syncs in `body` (one message, either way).
    pub(crate) fn count(&mut self, body: &[Command], flow: Flow, datastores: &[DsState]) {
        for cmd in body {
            if let Command::Sync(sync) = cmd {
                // The device names our datastore as Target; we name it as Source.
                let uri = match flow {
                    Flow::FromClient => sync.target.as_ref().map(|t| t.loc_uri.as_str()),
                    Flow::ToClient => sync.source.as_ref().map(|s| s.loc_uri.as_str()),
                };
                let ds = label(uri.unwrap_or(""), datastores);
                self.count_changes(&sync.commands, &ds, flow);
            }
        }
    }

    fn count_changes(&mut self, cmds: &[Command], ds: &str, flow: Flow) {
        for cmd in cmds {
            let (op, items): (&'static str, &[Item]) = match cmd {
                Command::Add(c) => ("add", &c.items),
                Command::Replace(c) => ("replace", &c.items),
                Command::Delete(c) => ("delete", &c.items),
                Command::Copy(c) => ("copy", &c.items),
                Command::Move(c) => ("move", &c.items),
                Command::Atomic(a) => {
                    self.count_changes(&a.commands, ds, flow);
                    continue;
                }
                Command::Sequence(q) => {
                    self.count_changes(&q.commands, ds, flow);
                    continue;
                }
                _ => continue,
            };
            for item in items {
                let open = &mut self.open_chunk[flow as usize];
                if item.more_data {
                    if !*open {
                        *open = true;
                        *self.large_objects.entry(flow).or_insert(0) += 1;
                    }
                    continue;
                }
                *open = false;
                *self.items.entry((ds.to_string(), op, flow)).or_insert(0) += 1;
            }
        }
    }

    /// Notes each datastore's mode (before the session forgets its datastores).
    pub(crate) fn note_modes(&mut self, datastores: &[DsState]) {
        for d in datastores {
            self.modes.insert(d.name.clone(), mode_of(d.direction, d.slow));
        }
    }

    /// Decides the outcome from the non-success statuses sent ("SyncHdr 401" → count).
    pub(crate) fn finish(&mut self, refusals: &BTreeMap<String, u32>, suspended: bool) -> Outcome {
        let header: Vec<u16> = refusals.keys().filter(|k| k.starts_with("SyncHdr ")).map(|k| code_of(k)).collect();
        let outcome = if let Some(&code) = header.iter().find(|c| matches!(c, 401 | 407)) {
            if self.challenged {
                Outcome::Challenged
            } else {
                self.auth_status = Some(code);
                Outcome::AuthFailed
            }
        } else if !header.is_empty() {
            Outcome::Failed
        } else if suspended {
            Outcome::Suspended
        } else if refusals.keys().any(|k| code_of(k) != 508) {
            Outcome::Refused
        } else {
            Outcome::Ok
        };
        self.outcome = Some(outcome);
        outcome
    }
}

/// The status code of a refusal key ("Sync 503" → 503; 0 when there is none).
pub(crate) fn code_of(key: &str) -> u16 {
    key.rsplit(' ').next().and_then(|c| c.parse::<u16>().ok()).unwrap_or(0)
}

/// The configured name of the datastore a Sync names, or `other`.
fn label(uri: &str, datastores: &[DsState]) -> String {
    let name = crate::engine::alert::datastore_name(uri);
    datastores
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(&name) || d.alert_target == uri || d.client_uri == uri)
        .map_or_else(|| "other".to_string(), |d| d.name.clone())
}

fn mode_of(direction: Direction, slow: bool) -> &'static str {
    match (direction, slow) {
        (Direction::TwoWay, false) => "two-way",
        (Direction::TwoWay, true) => "slow",
        (Direction::FromClient, false) => "one-way-from-client",
        (Direction::FromClient, true) => "refresh-from-client",
        (Direction::FromServer, false) => "one-way-from-server",
        (Direction::FromServer, true) => "refresh-from-server",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusals(keys: &[&str]) -> BTreeMap<String, u32> {
        keys.iter().map(|k| (k.to_string(), 1)).collect()
    }

    #[test]
    fn outcomes() {
        let mut s = SessionStats::default();
        assert_eq!(s.finish(&refusals(&[]), false), Outcome::Ok);
        assert_eq!(s.finish(&refusals(&["Alert 508"]), false), Outcome::Ok, "a slow sync is not a refusal");
        assert_eq!(s.finish(&refusals(&["Add 415"]), false), Outcome::Refused);
        assert_eq!(s.finish(&refusals(&["SyncHdr 503"]), false), Outcome::Failed);
        assert_eq!(s.finish(&refusals(&[]), true), Outcome::Suspended);
        assert_eq!(s.finish(&refusals(&["SyncHdr 401"]), false), Outcome::AuthFailed);
        assert_eq!(s.auth_status, Some(401));
        s.auth_status = None;
        s.challenged = true;
        assert_eq!(s.finish(&refusals(&["SyncHdr 407"]), false), Outcome::Challenged, "no credentials yet");
        assert_eq!(s.auth_status, None);
        s.challenged = false;
        assert_eq!(s.finish(&refusals(&["SyncHdr 401"]), false), Outcome::AuthFailed);
        assert_eq!(s.auth_status, Some(401));
    }

    #[test]
    fn mode_of_a_session() {
        let mut s = SessionStats::default();
        assert_eq!(s.mode(), "none");
        s.modes.insert("contacts".into(), "slow");
        s.modes.insert("calendar".into(), "slow");
        assert_eq!(s.mode(), "slow");
        s.modes.insert("notes".into(), "two-way");
        assert_eq!(s.mode(), "mixed");
    }
}
