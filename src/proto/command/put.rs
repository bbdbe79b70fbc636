//! `Put`. Put: send an object (in DS: the sender's DevInf).

use crate::proto::cred::Cred;
use crate::proto::item::Item;
use crate::proto::meta::Meta;

/// `Put`: CmdID, NoResp?, Lang?, Cred?, Meta?, Item+.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Put {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub lang: Option<String>,
    pub cred: Option<Box<Cred>>,
    pub meta: Option<Meta>,
    pub items: Vec<Item>,
}
