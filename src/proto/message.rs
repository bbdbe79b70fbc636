//! A whole SyncML message: the version it is written in, the header and the body.

use crate::proto::command::Command;
use crate::proto::cred::Cred;
use crate::proto::location::{Source, Target};
use crate::proto::meta::Meta;

/// The SyncML version a document is written in (root namespace in XML, public id in WBXML).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Version {
    V1_0,
    V1_1,
    #[default]
    V1_2,
}

impl Version {
    /// 0, 1 or 2.
    pub fn minor(self) -> u8 {
        match self {
            Version::V1_0 => 0,
            Version::V1_1 => 1,
            Version::V1_2 => 2,
        }
    }

    /// The version for a minor number; unknown numbers are `None`.
    pub fn from_minor(minor: u8) -> Option<Version> {
        match minor {
            0 => Some(Version::V1_0),
            1 => Some(Version::V1_1),
            2 => Some(Version::V1_2),
            _ => None,
        }
    }

    /// The `VerDTD` string (`1.2`).
    pub fn ver_dtd(self) -> &'static str {
        ["1.0", "1.1", "1.2"][self.minor() as usize]
    }

    /// The `VerProto` string (`SyncML/1.2`).
    pub fn ver_proto(self) -> &'static str {
        ["SyncML/1.0", "SyncML/1.1", "SyncML/1.2"][self.minor() as usize]
    }

    /// The DevInf LocURI of this version (`./devinf12`).
    pub fn devinf_uri(self) -> &'static str {
        ["./devinf10", "./devinf11", "./devinf12"][self.minor() as usize]
    }
}

/// One SyncML message (one HTTP body).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Message {
    /// The dialect the document is written in. `VerDTD`/`VerProto` in the header are kept as
    /// sent so the engine can answer 505/513 for versions it does not speak.
    pub version: Version,
    pub header: Header,
    /// SyncBody commands in document order.
    pub body: Vec<Command>,
    /// `<Final/>`: the last message of a package.
    pub final_: bool,
}

/// `SyncHdr`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub ver_dtd: String,
    pub ver_proto: String,
    /// Opaque, chosen by the client, echoed by the server.
    pub session_id: String,
    pub msg_id: u32,
    pub target: Target,
    pub source: Source,
    pub resp_uri: Option<String>,
    pub no_resp: bool,
    pub cred: Option<Box<Cred>>,
    pub meta: Option<Meta>,
}
