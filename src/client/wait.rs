//! The device side of server-initiated sync: waiting for notifications on the gateway's
//! long-poll channel (`GET /notify?device=ID`, HTTP basic auth), and checking one before acting
//! on it — the digest with the device's sync credentials and the last nonce the server gave it
//! (PROTOCOL.md §8.2), then which datastores it asks for.

use base64::Engine as _;

use crate::notify::san::{self, San, SanSecret};
use crate::transport::{HttpClient, TransportError, Url};

/// The content type the long-poll answers with.
pub const SAN_CONTENT_TYPE: &str = "application/vnd.syncml.ds.notification";

/// A notification as the device sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub san: San,
    /// The digest matched the device's credentials and nonce.
    pub verified: bool,
    pub bytes: Vec<u8>,
}

/// The long-poll URL of a sync URL: same host, path `/notify`, this device.
pub fn notify_url(sync_url: &str, device: &str) -> Result<Url, TransportError> {
    let base = Url::parse(sync_url)?;
    let encoded: String = device
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    base.join(&format!("/notify?device={encoded}"))
}

/// One long-poll: `Some(bytes)` when a notification came, `None` when the gateway let the poll
/// end empty (heartbeat).
pub async fn poll(http: &mut HttpClient, url: &Url, user: &str, password: &str) -> Result<Option<Vec<u8>>, String> {
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
    let r = http
        .request(hyper::Method::GET, url, None, Vec::new(), &[("Authorization", &auth)])
        .await
        .map_err(|e| e.to_string())?;
    match r.status {
        200 => Ok(Some(r.body)),
        204 => Ok(None),
        s => Err(format!("long-poll answered {s}: {}", String::from_utf8_lossy(&r.body).trim())),
    }
}

/// Reads and checks a notification: signed with `B64(H(user:password))` and the nonce the device
/// holds (base64, as the server sent it; an empty nonce when it has none).
pub fn check(bytes: &[u8], user: &str, password: &str, nonce_b64: Option<&str>) -> Result<Received, String> {
    let (decoded, _) = San::decode(bytes).map_err(|e| e.to_string())?;
    let nonce = nonce_b64.and_then(|n| base64::engine::general_purpose::STANDARD.decode(n).ok()).unwrap_or_default();
    let verified = san::verify(bytes, &SanSecret { identity: user, password, nonce: &nonce });
    Ok(Received { san: decoded, verified, bytes: bytes.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::san::{SanSync, SanVersion};
    use crate::proto::AlertCode;

    #[test]
    fn a_signed_notification_verifies_with_the_right_credentials_only() {
        let s = San {
            version: SanVersion::V1_2,
            server_id: "syncgate".into(),
            syncs: vec![SanSync {
                sync_type: AlertCode::TwoWayByServer,
                content_type: 0,
                server_uri: "messages".into(),
            }],
            ..Default::default()
        };
        let nonce = b"n0nce";
        let bytes = s.encode_hashed(&crate::auth::md5_secret("alice", "pw"), nonce).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(nonce);
        let ok = check(&bytes, "alice", "pw", Some(&b64)).unwrap();
        assert!(ok.verified && ok.san.syncs[0].server_uri == "messages");
        assert!(!check(&bytes, "alice", "wrong", Some(&b64)).unwrap().verified);
        assert!(!check(&bytes, "alice", "pw", None).unwrap().verified, "another nonce");
        assert!(check(&bytes[..10], "alice", "pw", None).is_err());
        let url = notify_url("http://127.0.0.1:8080/sync", "IMEI:35 6").unwrap();
        assert_eq!(url.target, "/notify?device=IMEI%3A35%206");
    }
}
