//! `Status`: the result of one command (or of the SyncHdr, CmdRef 0).

use crate::proto::codes::StatusCode;
use crate::proto::cred::{Chal, Cred};
use crate::proto::item::Item;

/// `Status`: CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*, Cred?, Chal?, Data, Item*.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub cmd_id: u32,
    /// Always written; absent only in lenient input.
    pub msg_ref: Option<u32>,
    /// 0 for the SyncHdr.
    pub cmd_ref: u32,
    pub cmd: CmdName,
    pub target_refs: Vec<String>,
    pub source_refs: Vec<String>,
    pub cred: Option<Box<Cred>>,
    pub chal: Option<Chal>,
    pub data: StatusCode,
    pub items: Vec<Item>,
}

/// The name in a Status's `Cmd`: a command or `SyncHdr`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CmdName {
    SyncHdr,
    Add,
    Alert,
    Atomic,
    Copy,
    Delete,
    Exec,
    Get,
    Map,
    Move,
    Put,
    Replace,
    Results,
    Search,
    Sequence,
    Status,
    Sync,
    /// Any other name, kept as received.
    Other(String),
}

const NAMES: [(CmdName, &str); 17] = [
    (CmdName::SyncHdr, "SyncHdr"),
    (CmdName::Add, "Add"),
    (CmdName::Alert, "Alert"),
    (CmdName::Atomic, "Atomic"),
    (CmdName::Copy, "Copy"),
    (CmdName::Delete, "Delete"),
    (CmdName::Exec, "Exec"),
    (CmdName::Get, "Get"),
    (CmdName::Map, "Map"),
    (CmdName::Move, "Move"),
    (CmdName::Put, "Put"),
    (CmdName::Replace, "Replace"),
    (CmdName::Results, "Results"),
    (CmdName::Search, "Search"),
    (CmdName::Sequence, "Sequence"),
    (CmdName::Status, "Status"),
    (CmdName::Sync, "Sync"),
];

impl CmdName {
    /// Parses a command name (exact match; anything else is kept as `Other`).
    pub fn parse(s: &str) -> CmdName {
        NAMES.iter().find(|(_, n)| *n == s).map(|(c, _)| c.clone()).unwrap_or_else(|| CmdName::Other(s.to_string()))
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            CmdName::Other(s) => s,
            known => NAMES.iter().find(|(c, _)| c == known).map(|(_, n)| *n).unwrap_or(""),
        }
    }
}
