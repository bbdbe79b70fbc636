//! `Exec`: run an executable item (a device-management command; DS servers answer 406).

use crate::proto::cred::Cred;
use crate::proto::item::Item;
use crate::proto::meta::Meta;

/// `Exec`: CmdID, NoResp?, Cred?, Meta?, Correlator?, Item.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Exec {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub cred: Option<Box<Cred>>,
    pub meta: Option<Meta>,
    pub correlator: Option<String>,
    pub item: Item,
}
