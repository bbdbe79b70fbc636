//! `Alert`: sync requests (200–210), next message (222), suspend/resume (224/225) and others.

use crate::proto::codes::AlertCode;
use crate::proto::cred::Cred;
use crate::proto::item::Item;

/// `Alert`: CmdID, NoResp?, Cred?, Data?, Correlator?, Item*.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub cmd_id: u32,
    pub no_resp: bool,
    pub cred: Option<Box<Cred>>,
    /// The alert code (absent only in broken messages).
    pub data: Option<AlertCode>,
    /// DS 1.2 (DM usage).
    pub correlator: Option<String>,
    /// For a sync alert: Target = receiver's datastore, Source = sender's, Meta/Anchor.
    pub items: Vec<Item>,
}
