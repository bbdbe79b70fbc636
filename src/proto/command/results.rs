//! `Results`: the answer to a `Get`.

use crate::proto::item::Item;
use crate::proto::meta::Meta;

/// `Results`: CmdID, MsgRef?, CmdRef, Meta?, TargetRef?, SourceRef?, Item+.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Results {
    pub cmd_id: u32,
    pub msg_ref: Option<u32>,
    pub cmd_ref: u32,
    pub meta: Option<Meta>,
    pub target_ref: Option<String>,
    pub source_ref: Option<String>,
    pub items: Vec<Item>,
}
