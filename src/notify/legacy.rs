//! The SyncML 1.0/1.1 Server Alerted Notification (PROTOCOL.md §8.4): an ordinary SyncML
//! message whose Alerts (206–210) list the datastores to sync, one Item each with
//! `Source/LocURI` = server datastore URI and `Meta/Type` = its content type.
//!
//! Builds and reads the typed message only; encoding is the codec's job.

use serde::Serialize;

use crate::proto::{Alert, AlertCode, Command, Header, Item, Message, Meta, Source, Target, Version};

/// One datastore the client is asked to sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegacySync {
    /// 206–210.
    #[serde(serialize_with = "alert_number")]
    pub sync_type: AlertCode,
    /// The server-side datastore URI.
    pub server_uri: String,
    /// MIME type of the datastore's items (`text/x-vcard`); may be empty.
    pub content_type: String,
}

/// A decoded or to-be-built 1.0/1.1 notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LegacySan {
    /// `1.0` or `1.1`.
    pub version: String,
    pub session_id: String,
    /// The SyncHdr Source LocURI.
    pub server_id: String,
    pub syncs: Vec<LegacySync>,
}

fn alert_number<S: serde::Serializer>(c: &AlertCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(c.code())
}

impl LegacySan {
    /// The notification as a SyncML message: one Alert per sync type, in first-seen order.
    pub fn to_message(&self, version: Version) -> Message {
        let mut alerts: Vec<Alert> = Vec::new();
        for s in &self.syncs {
            let item = Item {
                source: Some(Source::uri(&s.server_uri)),
                meta: (!s.content_type.is_empty()).then(|| Meta::with_type(&s.content_type)),
                ..Default::default()
            };
            match alerts.iter_mut().find(|a| a.data == Some(s.sync_type)) {
                Some(a) => a.items.push(item),
                None => alerts.push(Alert {
                    cmd_id: alerts.len() as u32 + 1,
                    no_resp: false,
                    cred: None,
                    data: Some(s.sync_type),
                    correlator: None,
                    items: vec![item],
                }),
            }
        }
        Message {
            version,
            header: Header {
                ver_dtd: version.ver_dtd().into(),
                ver_proto: version.ver_proto().into(),
                session_id: self.session_id.clone(),
                msg_id: 1,
                target: Target::uri("/"),
                source: Source::uri(&self.server_id),
                ..Default::default()
            },
            body: alerts.into_iter().map(Command::Alert).collect(),
            final_: true,
        }
    }

    /// Reads a notification from a message; `None` when the message carries no server-alerted
    /// Alert (206–210) and so is not a notification.
    pub fn from_message(msg: &Message) -> Option<LegacySan> {
        let mut syncs = Vec::new();
        for c in &msg.body {
            let Command::Alert(a) = c else { continue };
            let Some(code) = a.data.filter(|c| (206..=210).contains(&c.code())) else { continue };
            for it in &a.items {
                syncs.push(LegacySync {
                    sync_type: code,
                    // libsynthesis reads Source; tolerate senders that use Target.
                    server_uri: it
                        .source
                        .as_ref()
                        .map(|s| s.loc_uri.clone())
                        .or_else(|| it.target.as_ref().map(|t| t.loc_uri.clone()))
                        .unwrap_or_default(),
                    content_type: it.meta.as_ref().and_then(|m| m.type_.clone()).unwrap_or_default(),
                });
            }
        }
        if syncs.is_empty() {
            return None;
        }
        Some(LegacySan {
            version: msg.header.ver_dtd.clone(),
            session_id: msg.header.session_id.clone(),
            server_id: msg.header.source.loc_uri.clone(),
            syncs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{self, Encoding, Limits};

    #[test]
    fn legacy_san_round_trips_through_both_encodings() {
        let san = LegacySan {
            version: "1.1".into(),
            session_id: "7".into(),
            server_id: "http://127.0.0.1:8080/sync".into(),
            syncs: vec![
                LegacySync {
                    sync_type: AlertCode::TwoWayByServer,
                    server_uri: "contacts".into(),
                    content_type: "text/x-vcard".into(),
                },
                LegacySync {
                    sync_type: AlertCode::TwoWayByServer,
                    server_uri: "calendar".into(),
                    content_type: "text/x-vcalendar".into(),
                },
                LegacySync {
                    sync_type: AlertCode::RefreshFromServerByServer,
                    server_uri: "notes".into(),
                    content_type: String::new(),
                },
            ],
        };
        let msg = san.to_message(Version::V1_1);
        assert_eq!(msg.body.len(), 2, "one Alert per sync type");
        for enc in [Encoding::Wbxml, Encoding::Xml] {
            let bytes = codec::encode_message(&msg, enc).unwrap();
            let (_, back) = codec::decode_message(&bytes, &Limits::default()).unwrap();
            assert_eq!(LegacySan::from_message(&back), Some(san.clone()));
        }
    }

    #[test]
    fn ordinary_message_is_not_a_notification() {
        let mut msg = LegacySan { version: "1.1".into(), session_id: "1".into(), server_id: "s".into(), syncs: vec![] }
            .to_message(Version::V1_1);
        msg.body.push(Command::Alert(Alert {
            cmd_id: 1,
            no_resp: false,
            cred: None,
            data: Some(AlertCode::TwoWay),
            correlator: None,
            items: vec![],
        }));
        assert_eq!(LegacySan::from_message(&msg), None);
    }
}
