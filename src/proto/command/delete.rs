//! `Delete`: remove items (with the Archive and SftDel flags).

use crate::proto::cred::Cred;
use crate::proto::item::Item;
use crate::proto::meta::Meta;

/// `Delete`: CmdID, NoResp?, Archive?, SftDel?, Cred?, Meta?, Item+.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Delete {
    pub cmd_id: u32,
    pub no_resp: bool,
    /// Archive the item before deleting it.
    pub archive: bool,
    /// Soft delete: the item leaves the device but stays on the server.
    pub sft_del: bool,
    pub cred: Option<Box<Cred>>,
    pub meta: Option<Meta>,
    pub items: Vec<Item>,
}
