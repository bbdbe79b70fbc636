//! `Atomic`. Atomic: nested commands executed all-or-nothing (507/216).

use crate::proto::command::Command;
use crate::proto::meta::Meta;

/// `Atomic`: CmdID, NoResp?, Meta?, commands+.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Atomic {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub meta: Option<Meta>,
    pub commands: Vec<Command>,
}
