//! `Sync`: the changes of one datastore.

use crate::proto::command::Command;
use crate::proto::cred::Cred;
use crate::proto::location::{Source, Target};
use crate::proto::meta::Meta;

/// `Sync`: CmdID, NoResp?, Cred?, Target?, Source?, Meta?, NumberOfChanges?, commands*.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Sync {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub cred: Option<Box<Cred>>,
    /// The receiver's datastore.
    pub target: Option<Target>,
    /// The sender's datastore.
    pub source: Option<Source>,
    pub meta: Option<Meta>,
    pub number_of_changes: Option<u32>,
    /// Add, Atomic, Copy, Delete, Move, Replace, Sequence.
    pub commands: Vec<Command>,
}
