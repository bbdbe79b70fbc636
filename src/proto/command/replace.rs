//! `Replace`. Replace: changed items (client→server Source = LUID; server→client Target = LUID).

use crate::proto::cred::Cred;
use crate::proto::item::Item;
use crate::proto::meta::Meta;

/// `Replace`: CmdID, NoResp?, Cred?, Meta?, Item+.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Replace {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub cred: Option<Box<Cred>>,
    /// libsynthesis puts the item content type here rather than in each Item.
    pub meta: Option<Meta>,
    pub items: Vec<Item>,
}
