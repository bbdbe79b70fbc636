//! The client's vocabulary: sync modes, the device's configuration, what to sync, and what a
//! session reports.

use std::collections::BTreeMap;

use crate::codec::Encoding;
use crate::proto::{AlertCode, Message};

/// How the device authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// `syncml:auth-md5` with the server's nonce (a first contact without a nonce is challenged).
    Md5,
    /// `syncml:auth-basic`.
    Basic,
}

/// The sync modes a device can ask for (Alert codes 200–205).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncMode {
    TwoWay,
    Slow,
    OneWayFromClient,
    RefreshFromClient,
    OneWayFromServer,
    RefreshFromServer,
}

impl SyncMode {
    pub fn alert_code(self) -> AlertCode {
        match self {
            SyncMode::TwoWay => AlertCode::TwoWay,
            SyncMode::Slow => AlertCode::SlowSync,
            SyncMode::OneWayFromClient => AlertCode::OneWayFromClient,
            SyncMode::RefreshFromClient => AlertCode::RefreshFromClient,
            SyncMode::OneWayFromServer => AlertCode::OneWayFromServer,
            SyncMode::RefreshFromServer => AlertCode::RefreshFromServer,
        }
    }

    /// The mode an Alert code (200–210) names.
    pub fn from_alert(code: AlertCode) -> Option<SyncMode> {
        Some(match code.without_server_alert() {
            AlertCode::TwoWay => SyncMode::TwoWay,
            AlertCode::SlowSync => SyncMode::Slow,
            AlertCode::OneWayFromClient => SyncMode::OneWayFromClient,
            AlertCode::RefreshFromClient => SyncMode::RefreshFromClient,
            AlertCode::OneWayFromServer => SyncMode::OneWayFromServer,
            AlertCode::RefreshFromServer => SyncMode::RefreshFromServer,
            _ => return None,
        })
    }

    /// `two-way`, `slow`, `one-way-from-client`, `refresh-from-client`, `one-way-from-server`,
    /// `refresh-from-server`.
    pub fn parse(text: &str) -> Option<SyncMode> {
        Some(match text {
            "two-way" => SyncMode::TwoWay,
            "slow" => SyncMode::Slow,
            "one-way-from-client" => SyncMode::OneWayFromClient,
            "refresh-from-client" => SyncMode::RefreshFromClient,
            "one-way-from-server" => SyncMode::OneWayFromServer,
            "refresh-from-server" => SyncMode::RefreshFromServer,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::TwoWay => "two-way",
            SyncMode::Slow => "slow",
            SyncMode::OneWayFromClient => "one-way-from-client",
            SyncMode::RefreshFromClient => "refresh-from-client",
            SyncMode::OneWayFromServer => "one-way-from-server",
            SyncMode::RefreshFromServer => "refresh-from-server",
        }
    }

    /// Whether the client sends its changes in this mode.
    pub(crate) fn sends(self) -> bool {
        !matches!(self, SyncMode::OneWayFromServer | SyncMode::RefreshFromServer)
    }

    /// Whether the client sends every item (not only changes).
    pub(crate) fn sends_all(self) -> bool {
        matches!(self, SyncMode::Slow | SyncMode::RefreshFromClient)
    }
}

/// The device's identity and limits.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// SyncHdr Source LocURI.
    pub device_id: String,
    pub user: String,
    pub password: String,
    pub auth: AuthKind,
    pub encoding: Encoding,
    /// The largest message the device accepts (sent as MaxMsgSize).
    pub max_msg_size: u64,
    /// The largest item the device accepts (sent as MaxObjSize).
    pub max_obj_size: u64,
    /// Put the device's DevInf in package 1.
    pub send_devinf: bool,
    /// Send Alert 224 (suspend) with the message after this many messages of the session.
    pub suspend_after: Option<u32>,
}

impl ClientConfig {
    /// A device with MD5 auth, WBXML, 64 KB messages, 4 MB objects and DevInf.
    pub fn new(device_id: &str, user: &str, password: &str) -> ClientConfig {
        ClientConfig {
            device_id: device_id.to_string(),
            user: user.to_string(),
            password: password.to_string(),
            auth: AuthKind::Md5,
            encoding: Encoding::Wbxml,
            max_msg_size: 65_536,
            max_obj_size: 4_000_000,
            send_devinf: true,
            suspend_after: None,
        }
    }
}

/// One datastore to sync.
#[derive(Clone, Debug)]
pub struct DatastoreSpec {
    /// The server's datastore URI (Alert Target), e.g. `contacts`.
    pub name: String,
    /// The device's own URI for it (Alert Source), e.g. `./contacts`.
    pub local_uri: String,
    /// The content type the device uses for new items and announces in DevInf.
    pub content_type: String,
    pub mode: SyncMode,
    /// Ask to resume a suspended session (Alert 225) when the state says one is waiting.
    pub resume: bool,
}

impl DatastoreSpec {
    pub fn new(name: &str, content_type: &str, mode: SyncMode) -> DatastoreSpec {
        DatastoreSpec {
            name: name.to_string(),
            local_uri: format!("./{name}"),
            content_type: content_type.to_string(),
            mode,
            resume: true,
        }
    }
}

/// What happened to one datastore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatastoreReport {
    pub name: String,
    /// The mode the server ran (its Alert), if it sent one.
    pub mode: Option<SyncMode>,
    /// The server's status for our Alert (200, 508, 509, 404, …).
    pub alert_status: Option<u16>,
    pub sent_added: u32,
    pub sent_replaced: u32,
    pub sent_deleted: u32,
    pub sent_moved: u32,
    /// Our changes the server refused (their status was not 2xx).
    pub sent_failed: u32,
    pub received_added: u32,
    pub received_replaced: u32,
    pub received_deleted: u32,
    pub received_moved: u32,
    /// The server's statuses for our item commands, by code.
    pub item_statuses: BTreeMap<u16, u32>,
}

/// How the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Suspended (Alert 224 from either side); the next session can resume.
    Suspended,
    Failed(String),
}

/// The session's result.
#[derive(Clone, Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub datastores: Vec<DatastoreReport>,
    /// Messages sent in the session.
    pub messages: u32,
}

/// What the caller does next.
#[derive(Clone, Debug)]
pub enum Next {
    /// Send this message to [`ClientSession::url`].
    Send(Box<Message>),
    /// The session is over; call [`ClientSession::finish`].
    Done,
}

/// Why the session cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("local data: {0}")]
    Local(#[from] crate::client::local::LocalError),
    #[error("protocol: {0}")]
    Protocol(String),
}
