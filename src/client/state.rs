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
}

/// The sync state of one datastore.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatastoreState {
    /// Our Next anchor of the last successful session (the Last of the next one).
    pub last_anchor: Option<String>,
    /// LUID → digest of the item (content, type and parent) when it was last in step.
    pub synced: BTreeMap<String, String>,
    /// Set while a suspended session of this datastore waits for its resume (Alert 225): the
    /// alert code it ran with.
    #[serde(default)]
    pub suspended_mode: Option<u16>,
}

/// The digest change detection compares: content type, parent and bytes.
pub fn item_digest(content_type: &str, parent: Option<&str>, data: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(content_type.as_bytes());
    h.update([0]);
    h.update(parent.unwrap_or("").as_bytes());
    h.update([0]);
    h.update(data);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_sees_content_type_and_parent() {
        let a = item_digest("text/vcard", None, b"x");
        assert_eq!(a, item_digest("text/vcard", None, b"x"));
        assert_ne!(a, item_digest("text/plain", None, b"x"));
        assert_ne!(a, item_digest("text/vcard", Some("f"), b"x"));
        assert_ne!(a, item_digest("text/vcard", None, b"y"));
        let state = DeviceState { session_counter: 3, ..Default::default() };
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<DeviceState>(&text).unwrap(), state);
    }
}
