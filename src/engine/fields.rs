//! Field-level Replace (OMA DS 1.2, PROTOCOL.md §1.3 MetInf `FieldLevel`, §7 CTCap `FieldLevel`)
//! and Move towards the client: a change that touched only a message's states, or only an
//! item's folder, goes to the device as just that, so a message marked seen on one device does
//! not cross the wire again with its body.
//!
//! Incoming: a Replace whose Meta says FieldLevel is merged into the stored object; a whole
//! Replace that differs from the stored object only in its fields is logged as such (so other
//! devices get the fields alone). Outgoing: a device that announces FieldLevel in its DevInf
//! CTCap for the type gets a field-level Replace; others get the whole object. The store's
//! change log keeps what changed ([`Delta`]). `cpm::fields` knows the object format.

use crate::cpm::fields;
use crate::proto::{Command, CtCap, Data, DevInf, Item, Meta, Move, Property, Replace, StatusCode, Target};
use crate::store::Delta;

/// What a client's Replace of a stored item stores: the data and whether only fields changed;
/// `Err` with the status when a field-level Replace cannot be applied.
pub(super) fn incoming(
    stored_type: &str,
    stored: &[u8],
    content_type: &str,
    data: Vec<u8>,
    field_level: bool,
    shape: &crate::cpm::shape::Shape,
) -> Result<(Vec<u8>, bool), StatusCode> {
    if field_level {
        if !fields::supports(stored_type) {
            tracing::info!(content_type = stored_type, "field-level Replace of a type without fields: 406");
            return Err(StatusCode::OptionalFeatureNotSupported);
        }
        return match fields::merge(stored_type, stored, &data) {
            Ok(merged) => {
                let only = fields::only_fields_differ(stored_type, stored, &merged);
                Ok((merged, only))
            }
            Err(e) => {
                tracing::info!(error = %e, "field-level Replace unreadable: 400");
                Err(StatusCode::BadRequest)
            }
        };
    }
    // A copy the device holds reduced (partial sync) never overwrites the whole object.
    let data = match crate::cpm::shape::merge_incoming(stored_type, stored, content_type, &data, shape) {
        Some(merged) => {
            tracing::debug!(content_type, "Replace of a reduced copy merged into the stored object");
            merged
        }
        None => data,
    };
    let only = content_type == stored_type && fields::only_fields_differ(content_type, stored, &data);
    Ok((data, only))
}

/// The content types a device takes field-level Replaces for (its DevInf CTCaps with
/// FieldLevel, in the datastores or at the top).
pub(super) fn client_types(di: &DevInf) -> Vec<String> {
    di.data_stores
        .iter()
        .flat_map(|d| d.ct_caps.iter())
        .chain(di.ct_caps.iter())
        .filter(|c| c.field_level)
        .map(|c| c.ct_type.to_ascii_lowercase())
        .collect()
}

/// The server's CTCaps for a datastore's types: the ones with fields, announcing FieldLevel.
pub(super) fn server_ctcaps(types: &[String]) -> Vec<CtCap> {
    types
        .iter()
        .filter(|t| fields::supports(t))
        .map(|t| {
            let (ct_type, ver) = t.split_once(';').unwrap_or((t, ""));
            let mut properties: Vec<Property> = fields::EMAIL_FIELDS
                .iter()
                .map(|n| Property { prop_name: (*n).into(), data_type: Some("bool".into()), ..Default::default() })
                .collect();
            for (name, data_type) in [("received", "datetime"), ("emailitem", "text")] {
                properties.push(Property {
                    prop_name: name.into(),
                    data_type: Some(data_type.into()),
                    ..Default::default()
                });
            }
            CtCap {
                ct_type: ct_type.trim().into(),
                ver_ct: Some(if ver.trim().is_empty() { "1.2".into() } else { ver.trim().into() }),
                field_level: true,
                properties,
            }
        })
        .collect()
}

/// How a Replace with `delta` goes to the client: `None` when the whole item must go (or nothing
/// changed that the client can be told alone).
pub(super) enum Smaller {
    /// A field-level Replace of the item's fields.
    Fields(Command),
    /// A Move to the parent (named later by the caller).
    Move(Command),
}

/// The smaller command for a Replace of the client's `luid`, if there is one: a field-level
/// Replace when only fields changed and the client takes them for the type, a Move when only
/// the parent changed.
pub(super) fn smaller(
    delta: Delta,
    luid: &str,
    content_type: &str,
    data: &[u8],
    client_types: &[String],
) -> Option<Smaller> {
    if delta.content {
        return None;
    }
    if delta.fields {
        let base = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !client_types.contains(&base) {
            return None;
        }
        let form = fields::fields_only(content_type, data)?;
        let meta = Meta { type_: Some(content_type.into()), field_level: true, ..Default::default() };
        return Some(Smaller::Fields(Command::Replace(Replace {
            meta: Some(meta),
            items: vec![Item { target: Some(Target::uri(luid)), data: Some(Data::Bytes(form)), ..Default::default() }],
            ..Default::default()
        })));
    }
    if delta.parent {
        return Some(Smaller::Move(Command::Move(Move {
            cmd_id: 0,
            no_resp: false,
            cred: None,
            meta: None,
            items: vec![Item { target: Some(Target::uri(luid)), ..Default::default() }],
        })));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpm::objects::{Email, EMAIL_TYPE};

    fn mail(read: bool) -> Vec<u8> {
        Email { read, emailitem: b"Subject: s\r\n\r\nthe body".to_vec(), ..Default::default() }.to_xml()
    }

    #[test]
    fn incoming_merges_and_classifies() {
        let (data, only) = incoming(
            EMAIL_TYPE,
            &mail(false),
            EMAIL_TYPE,
            b"<Email><read>1</read></Email>".to_vec(),
            true,
            &Default::default(),
        )
        .expect("merged");
        assert!(only && Email::parse(&data).unwrap().read);
        assert!(incoming(EMAIL_TYPE, &mail(false), EMAIL_TYPE, mail(true), false, &Default::default()).unwrap().1);
        assert!(!incoming("text/x-vcard", b"a", "text/x-vcard", b"b".to_vec(), false, &Default::default()).unwrap().1);
        assert_eq!(
            incoming("text/x-vcard", b"a", "text/x-vcard", b"b".to_vec(), true, &Default::default()).unwrap_err(),
            StatusCode::OptionalFeatureNotSupported
        );
        assert_eq!(
            incoming(EMAIL_TYPE, &mail(false), EMAIL_TYPE, b"<Folder/>".to_vec(), true, &Default::default())
                .unwrap_err(),
            StatusCode::BadRequest
        );
    }

    #[test]
    fn smaller_commands() {
        let fields_delta = Delta { fields: true, ..Default::default() };
        let types = vec![EMAIL_TYPE.to_string()];
        let Some(Smaller::Fields(Command::Replace(r))) = smaller(fields_delta, "7", EMAIL_TYPE, &mail(true), &types)
        else {
            panic!("field-level Replace expected")
        };
        assert!(r.meta.as_ref().is_some_and(|m| m.field_level));
        let Some(Data::Bytes(b)) = &r.items[0].data else { panic!("data") };
        assert!(!String::from_utf8_lossy(b).contains("the body"));
        assert!(smaller(fields_delta, "7", EMAIL_TYPE, &mail(true), &[]).is_none(), "client without FieldLevel");
        assert!(smaller(Delta::WHOLE, "7", EMAIL_TYPE, &mail(true), &types).is_none());
        let moved = Delta { parent: true, ..Default::default() };
        assert!(matches!(smaller(moved, "7", "text/plain", b"x", &[]), Some(Smaller::Move(_))));
        assert_eq!(server_ctcaps(&["text/x-vcard".into(), EMAIL_TYPE.into()]).len(), 1);
    }
}

#[cfg(test)]
mod session_tests {
    use crate::codec::{encode, Document, Encoding};
    use crate::cpm::objects::{Email, EMAIL_TYPE, FOLDER_TYPE};
    use crate::engine::tests::{engine, first_contact, session};
    use crate::proto::*;
    use crate::store::{Mutation, Origin};

    fn mail(read: bool, flagged: bool) -> Vec<u8> {
        Email { read, flagged, emailitem: b"Subject: s\r\n\r\nTHE-BODY".to_vec(), ..Default::default() }.to_xml()
    }

    fn body_of(cmd: &Command) -> String {
        let items = match cmd {
            Command::Add(c) => &c.items,
            Command::Replace(c) => &c.items,
            _ => return String::new(),
        };
        match &items[0].data {
            Some(Data::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        }
    }

    #[test]
    fn states_and_moves_travel_without_the_body_to_devices_that_take_them() {
        let (e, store) = engine();
        let user = store.user_by_name("alice").unwrap().unwrap().id;
        let email =
            |read, flagged| Mutation::Add { parent: None, content_type: EMAIL_TYPE.into(), data: mail(read, flagged) };
        let guid = store.apply(user, "contacts", &Origin::Service, &[email(false, false)]).unwrap()[0]
            .guid()
            .unwrap()
            .to_string();
        // A announces FieldLevel for e-mail in its DevInf; B does not.
        let mut a = first_contact(&e, "dev-a");
        let mut record = store.device(user, "dev-a").unwrap().unwrap();
        let ctcap = CtCap { ct_type: EMAIL_TYPE.into(), field_level: true, ..Default::default() };
        let di = DevInf {
            ver_dtd: "1.2".into(),
            dev_id: "dev-a".into(),
            dev_typ: "phone".into(),
            data_stores: vec![DataStore {
                source_ref: "./addressbook".into(),
                ct_caps: vec![ctcap],
                ..Default::default()
            }],
            ..Default::default()
        };
        record.devinf = Some(encode(&Document::DevInf(di), Encoding::Xml, false).unwrap());
        store.put_device(user, &record).unwrap();
        let mut b = first_contact(&e, "dev-b");
        for (dev, base) in [(&mut a, 100), (&mut b, 200)] {
            let (out, _, _) = session(&e, dev, AlertCode::TwoWay, vec![], base);
            assert!(body_of(&out[0]).contains("THE-BODY"), "the first time with the body");
        }

        // The service marks the message read: A gets the fields alone, B the whole message.
        let read = Mutation::Replace {
            guid: guid.clone(),
            parent: None,
            content_type: EMAIL_TYPE.into(),
            data: mail(true, false),
            fields_only: true,
        };
        store.apply(user, "contacts", &Origin::Service, &[read]).unwrap();
        let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 300);
        let Command::Replace(r) = &out[0] else { panic!("{out:?}") };
        assert!(r.meta.as_ref().is_some_and(|m| m.field_level), "{r:?}");
        assert!(body_of(&out[0]).contains("<read>true</read>") && !body_of(&out[0]).contains("THE-BODY"));
        let (out, _, _) = session(&e, &mut b, AlertCode::TwoWay, vec![], 300);
        assert!(body_of(&out[0]).contains("THE-BODY") && body_of(&out[0]).contains("<read>true</read>"));

        // B flags it with a field-level Replace: merged into the stored message, A gets the fields.
        let flag = Command::Replace(Replace {
            cmd_id: 2,
            meta: Some(Meta { type_: Some(EMAIL_TYPE.into()), field_level: true, ..Default::default() }),
            items: vec![Item {
                source: Some(Source::uri("200")),
                data: Some(Data::from("<Email><flagged>true</flagged></Email>")),
                ..Default::default()
            }],
            ..Default::default()
        });
        session(&e, &mut b, AlertCode::TwoWay, vec![flag], 400);
        let stored = Email::parse(&store.item(user, "contacts", &guid).unwrap().unwrap().data).unwrap();
        assert!(stored.read && stored.flagged && stored.emailitem.ends_with(b"THE-BODY"), "{stored:?}");
        let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 500);
        assert!(body_of(&out[0]).contains("<flagged>true</flagged>") && !body_of(&out[0]).contains("THE-BODY"));

        // A folder appears and the message moves into it: A gets the folder and a Move.
        let folder = Mutation::Add {
            parent: None,
            content_type: FOLDER_TYPE.into(),
            data: b"<Folder><name>F</name></Folder>".to_vec(),
        };
        let folder = store.apply(user, "contacts", &Origin::Service, &[folder]).unwrap()[0].guid().unwrap().to_string();
        let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 600);
        assert!(matches!(&out[..], [Command::Add(_)]), "{out:?}");
        let moved = Mutation::Replace {
            guid: guid.clone(),
            parent: Some(folder),
            content_type: EMAIL_TYPE.into(),
            data: mail(true, true),
            fields_only: false,
        };
        store.apply(user, "contacts", &Origin::Service, &[moved]).unwrap();
        let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 700);
        let [Command::Move(m)] = &out[..] else { panic!("{out:?}") };
        assert_eq!(m.items[0].target_parent.as_deref(), Some("600"), "the folder by A's LUID");
        assert_eq!(m.items[0].target.as_ref().map(|t| t.loc_uri.as_str()), Some("100"));
    }
}
