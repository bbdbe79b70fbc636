//! `Map`: the client tells the server which LUIDs it gave the items the server added.

use crate::proto::cred::Cred;
use crate::proto::location::{Source, Target};
use crate::proto::meta::Meta;

/// `Map`: CmdID, Target (server datastore), Source (client datastore), Cred?, Meta?, MapItem+.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Map {
    pub cmd_id: u32,
    pub target: Target,
    pub source: Source,
    pub cred: Option<Box<Cred>>,
    pub meta: Option<Meta>,
    pub items: Vec<MapItem>,
}

/// `MapItem`: Target = server GUID, Source = client LUID.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MapItem {
    pub target: Target,
    pub source: Source,
}
