//! What a simulated device remembers between sessions: per datastore the anchor it last agreed
//! with the server and a digest of every item as of that sync (its change detection), the MD5
//! nonce the server gave last, and the session counter. Saved as JSON (`state.json` in the
//! device's state folder) by the driver; this module only defines it and its updates.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// The persistent state of one device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// The last SessionID used (the next session uses one more).
    pub session_counter: u64,
    /// The MD5 nonce (base64, as the server sent it) for the next session's credential.
    pub nonce: Option<String>,
    /// Per datastore (server-side name).
    pub datastores: BTreeMap<String, DatastoreState>,
    /// Content types the server takes field-level Replaces for (its DevInf CTCaps with
    /// FieldLevel); `None` until its DevInf was fetched.
    #[serde(default)]
    pub server_field_level: Option<Vec<String>>,
    /// The datastores our DevInf named when the server's was fetched (a server may tell its
    /// capabilities only for what the device announced: a new datastore fetches it again).
    #[serde(default)]
    pub server_devinf_for: Vec<String>,
}

/// The sync state of one datastore.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatastoreState {
    /// Our Next anchor of the last successful session (the Last of the next one).
    pub last_anchor: Option<String>,
    /// LUID → digest of the item (content type and bytes) when it was last in step.
    pub synced: BTreeMap<String, String>,
    /// LUID → parent LUID of the items that had a parent when last in step.
    #[serde(default)]
    pub parents: BTreeMap<String, String>,
    /// LUID → digest of what is not a field (the message of an e-mail) when last in step: an
    /// item that still has it changed only fields and goes up as a field-level Replace.
    #[serde(default)]
    pub bodies: BTreeMap<String, String>,
    /// Set while a suspended session of this datastore waits for its resume (Alert 225): the
    /// alert code it ran with.
    #[serde(default)]
    pub suspended_mode: Option<u16>,
}

/// The digest change detection compares: content type and bytes (the parent is kept apart, so a
/// move is told from an edit).
pub fn item_digest(content_type: &str, data: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(content_type.as_bytes());
    h.update([0]);
    h.update(data);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_sees_content_type_and_bytes() {
        let a = item_digest("text/vcard", b"x");
        assert_eq!(a, item_digest("text/vcard", b"x"));
        assert_ne!(a, item_digest("text/plain", b"x"));
        assert_ne!(a, item_digest("text/vcard", b"y"));
        let state = DeviceState { session_counter: 3, ..Default::default() };
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<DeviceState>(&text).unwrap(), state);
    }
}
