//! `Sequence`. Sequence: nested commands executed in order (215 after a failure).

use crate::proto::command::Command;
use crate::proto::meta::Meta;

/// `Sequence`: CmdID, NoResp?, Meta?, commands+.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Sequence {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub meta: Option<Meta>,
    pub commands: Vec<Command>,
}
