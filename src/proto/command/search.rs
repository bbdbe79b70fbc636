//! `Search`: a query in some grammar (deprecated; DS servers answer 406).

use crate::proto::cred::Cred;
use crate::proto::location::{Source, Target};
use crate::proto::meta::Meta;

/// `Search`: CmdID, NoResp?, NoResults?, Cred?, Target?, Source+, Lang?, Meta, Data.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Search {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub no_results: bool,
    pub cred: Option<Box<Cred>>,
    pub target: Option<Target>,
    pub sources: Vec<Source>,
    pub lang: Option<String>,
    pub meta: Meta,
    pub data: Vec<u8>,
}
