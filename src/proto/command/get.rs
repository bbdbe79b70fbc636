//! `Get`. Get: ask the peer for an object (in DS: its DevInf, `./devinf12`).

use crate::proto::cred::Cred;
use crate::proto::item::Item;
use crate::proto::meta::Meta;

/// `Get`: CmdID, NoResp?, Lang?, Cred?, Meta?, Item+.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Get {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub lang: Option<String>,
    pub cred: Option<Box<Cred>>,
    pub meta: Option<Meta>,
    pub items: Vec<Item>,
}
