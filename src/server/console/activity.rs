//! What the console shows that the store does not keep: the recent sessions (a ring of the
//! last `[console] history` ended ones) and the wire dumps (per device, switched on by an
//! operator: the last `[console] dump_messages` SyncML messages both ways, each cut at
//! `dump_bytes`). Both live in memory and are gone at a restart; the switch too, so a dump
//! never stays on forgotten.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::codec::Encoding;
use crate::engine::stats::{Flow, Outcome, SessionStats};
use crate::engine::Session;

/// One ended (or abandoned) session.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    /// The short form of the session token (as in the logs' `sid`).
    pub sid: String,
    pub user: Option<String>,
    pub device: Option<String>,
    /// Unix seconds of its first and last message.
    pub started: i64,
    pub ended: i64,
    pub messages: u32,
    pub outcome: Outcome,
    pub mode: &'static str,
    /// Datastore → mode.
    pub modes: Vec<(String, &'static str)>,
    /// Statuses other than success: "Add 415" → how many.
    pub refusals: Vec<(String, u32)>,
    pub items_from_client: u64,
    pub items_to_client: u64,
    /// The device quirks that were not at their default.
    pub quirks: Vec<&'static str>,
}

impl SessionRecord {
    /// The record of a session; `outcome` overrides the engine's (an abandoned session has none).
    pub fn of(session: &Session, sid: &str, outcome: Option<Outcome>) -> SessionRecord {
        let stats: &SessionStats = session.stats();
        let sum = |flow: Flow| stats.items.iter().filter(|((_, _, f), _)| *f == flow).map(|(_, n)| n).sum();
        SessionRecord {
            sid: sid.to_string(),
            user: session.user().map(str::to_string),
            device: session.device().map(str::to_string),
            started: stats.started,
            ended: stats.last,
            messages: stats.messages,
            outcome: outcome.or(stats.outcome).unwrap_or(Outcome::Failed),
            mode: stats.mode(),
            modes: stats.modes.iter().map(|(d, m)| (d.clone(), *m)).collect(),
            refusals: session.refusals().iter().map(|(k, n)| (k.clone(), *n)).collect(),
            items_from_client: sum(Flow::FromClient),
            items_to_client: sum(Flow::ToClient),
            quirks: super::pages::applied_quirks(session.quirks()),
        }
    }
}

/// The recent sessions, newest last.
#[derive(Debug)]
pub struct History {
    ring: Mutex<VecDeque<SessionRecord>>,
    capacity: usize,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History { ring: Mutex::new(VecDeque::new()), capacity }
    }

    pub fn push(&self, record: SessionRecord) {
        if self.capacity == 0 {
            return;
        }
        let mut ring = lock(&self.ring);
        while ring.len() >= self.capacity {
            ring.pop_front();
        }
        ring.push_back(record);
    }

    /// The newest `limit` sessions matching `keep`, newest first.
    pub fn recent(&self, limit: usize, keep: impl Fn(&SessionRecord) -> bool) -> Vec<SessionRecord> {
        lock(&self.ring).iter().rev().filter(|r| keep(r)).take(limit).cloned().collect()
    }
}

/// One captured message.
#[derive(Clone, Debug)]
pub struct Dumped {
    /// Numbers the device's captured messages from 1.
    pub seq: u64,
    /// Unix seconds.
    pub at: i64,
    pub sid: String,
    pub flow: Flow,
    pub encoding: Encoding,
    /// The bytes as on the wire, at most `dump_bytes` of them.
    pub bytes: Vec<u8>,
    /// The message's whole length (more than `bytes.len()` when cut).
    pub len: usize,
}

#[derive(Debug, Default)]
struct DeviceDump {
    on: bool,
    next: u64,
    messages: VecDeque<Dumped>,
}

/// The wire dumps, by (user, device).
#[derive(Debug)]
pub struct Dumps {
    devices: Mutex<HashMap<(String, String), DeviceDump>>,
    max_messages: usize,
    max_bytes: usize,
}

impl Dumps {
    pub fn new(max_messages: usize, max_bytes: usize) -> Dumps {
        Dumps { devices: Mutex::new(HashMap::new()), max_messages, max_bytes }
    }

    /// Switches a device's dump on or off (what was captured stays until cleared).
    pub fn switch(&self, user: &str, device: &str, on: bool) {
        let mut devices = lock(&self.devices);
        let dump = devices.entry((user.to_string(), device.to_string())).or_default();
        dump.on = on;
    }

    /// Forgets what was captured of a device.
    pub fn clear(&self, user: &str, device: &str) {
        if let Some(dump) = lock(&self.devices).get_mut(&(user.to_string(), device.to_string())) {
            dump.messages.clear();
        }
    }

    pub fn is_on(&self, user: &str, device: &str) -> bool {
        lock(&self.devices).get(&(user.to_string(), device.to_string())).is_some_and(|d| d.on)
    }

    /// Whether any device is being dumped (the sync path skips the lookup otherwise).
    pub fn any_on(&self) -> bool {
        lock(&self.devices).values().any(|d| d.on)
    }

    /// Keeps a message of the device if its dump is on.
    pub fn record(&self, user: &str, device: &str, message: (Flow, Encoding, &[u8]), sid: &str, at: i64) {
        let mut devices = lock(&self.devices);
        let Some(dump) = devices.get_mut(&(user.to_string(), device.to_string())).filter(|d| d.on) else { return };
        let (flow, encoding, bytes) = message;
        dump.next += 1;
        while dump.messages.len() >= self.max_messages.max(1) {
            dump.messages.pop_front();
        }
        let kept = bytes.len().min(self.max_bytes);
        dump.messages.push_back(Dumped {
            seq: dump.next,
            at,
            sid: sid.to_string(),
            flow,
            encoding,
            bytes: bytes[..kept].to_vec(),
            len: bytes.len(),
        });
    }

    /// The device's captured messages, oldest first.
    pub fn list(&self, user: &str, device: &str) -> Vec<Dumped> {
        lock(&self.devices)
            .get(&(user.to_string(), device.to_string()))
            .map(|d| d.messages.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// One captured message.
    pub fn get(&self, user: &str, device: &str, seq: u64) -> Option<Dumped> {
        lock(&self.devices)
            .get(&(user.to_string(), device.to_string()))?
            .messages
            .iter()
            .find(|m| m.seq == seq)
            .cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_newest() {
        let h = History::new(2);
        for i in 0..3 {
            let mut s = Session::default();
            s.stats.messages = i;
            h.push(SessionRecord::of(&s, &format!("s{i}"), Some(Outcome::Ok)));
        }
        let sids: Vec<String> = h.recent(10, |_| true).into_iter().map(|r| r.sid).collect();
        assert_eq!(sids, ["s2", "s1"]);
    }

    #[test]
    fn dumps_only_when_on_and_bounded() {
        let d = Dumps::new(2, 4);
        d.record("alice", "phone", (Flow::FromClient, Encoding::Xml, b"<SyncML/>"), "s", 1);
        assert!(d.list("alice", "phone").is_empty(), "off: nothing kept");
        d.switch("alice", "phone", true);
        assert!(d.any_on() && d.is_on("alice", "phone") && !d.is_on("alice", "pc"));
        for i in 0..3u8 {
            d.record("alice", "phone", (Flow::ToClient, Encoding::Xml, &[i; 10]), "s", 2);
        }
        let kept = d.list("alice", "phone");
        assert_eq!(kept.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!((kept[0].bytes.len(), kept[0].len), (4, 10), "cut at dump_bytes, length kept");
        assert_eq!(d.get("alice", "phone", 3).map(|m| m.bytes), Some(vec![2; 4]));
        d.switch("alice", "phone", false);
        d.record("alice", "phone", (Flow::ToClient, Encoding::Xml, b"x"), "s", 3);
        assert_eq!(d.list("alice", "phone").len(), 2, "off again: kept, not added to");
        d.clear("alice", "phone");
        assert!(d.list("alice", "phone").is_empty());
    }
}
