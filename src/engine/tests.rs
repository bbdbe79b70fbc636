//! Whole sessions through the engine with the memory store and a fixed clock: no sockets.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::codec::Encoding;
use crate::engine::{Context, Engine, EngineConfig, Reply, Session};
use crate::proto::*;
use crate::store::memory::MemoryStore;
use crate::store::Store;

pub(super) const VCARD_A: &str =
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nTEL:+49 1\r\nEND:VCARD\r\n";
const VCARD_B: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Roe;Jane;;;\r\nFN:Jane Roe\r\nEND:VCARD\r\n";

pub(super) struct Device {
    pub(super) id: String,
    pub(super) nonce: Vec<u8>,
    pub(super) next: u32,
    pub(super) last: Option<String>,
}

pub(super) fn engine() -> (Engine, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store.create_user("alice", &crate::auth::md5_secret("alice", "secret")).unwrap();
    (Engine::new(store.clone(), EngineConfig::default()), store)
}

pub(super) fn ctx() -> Context {
    Context {
        resp_uri: "http://127.0.0.1/sync?sid=t".into(),
        now: 1_800_000_000,
        encoding: Encoding::Xml,
        user_agent: None,
        suspend: false,
    }
}

pub(super) fn header(dev: &Device, session: &str, msg_id: u32, cred: Option<Cred>) -> Header {
    Header {
        ver_dtd: "1.2".into(),
        ver_proto: "SyncML/1.2".into(),
        session_id: session.into(),
        msg_id,
        target: Target::uri("http://127.0.0.1/sync"),
        source: Source { loc_uri: dev.id.clone(), loc_name: Some("alice".into()) },
        cred: cred.map(Box::new),
        meta: Some(Meta { max_msg_size: Some(150_000), ..Default::default() }),
        ..Default::default()
    }
}

pub(super) fn md5_cred(nonce: &[u8], password: &str) -> Cred {
    Cred {
        meta: Some(Meta { type_: Some("syncml:auth-md5".into()), format: Some("b64".into()), ..Default::default() }),
        data: crate::auth::md5_credential("alice", password, nonce).into_bytes(),
    }
}

pub(super) fn statuses(reply: &Reply) -> Vec<(CmdName, u16)> {
    reply
        .message
        .body
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) => Some((s.cmd.clone(), s.data.code())),
            _ => None,
        })
        .collect()
}

pub(super) fn header_status(reply: &Reply) -> &Status {
    match reply.message.body.first() {
        Some(Command::Status(s)) if s.cmd == CmdName::SyncHdr => s,
        other => panic!("first command is not the SyncHdr status: {other:?}"),
    }
}

pub(super) fn server_sync(reply: &Reply) -> &Sync {
    reply
        .message
        .body
        .iter()
        .find_map(|c| match c {
            Command::Sync(s) => Some(s),
            _ => None,
        })
        .expect("server Sync")
}

pub(super) fn take_nonce(dev: &mut Device, reply: &Reply) {
    let chal = header_status(reply).chal.as_ref().expect("Chal");
    dev.nonce = B64.decode(chal.meta.next_nonce.as_deref().unwrap()).unwrap();
}

pub(super) fn alert(dev: &Device, code: AlertCode) -> Command {
    Command::Alert(Alert {
        cmd_id: 1,
        no_resp: false,
        cred: None,
        data: Some(code),
        correlator: None,
        items: vec![Item {
            target: Some(Target::uri("contacts")),
            source: Some(Source::uri("./addressbook")),
            meta: Some(Meta {
                anchor: Some(Anchor { last: dev.last.clone(), next: Some(dev.next.to_string()) }),
                ..Default::default()
            }),
            ..Default::default()
        }],
    })
}

pub(super) fn change(cmd_id: u32, kind: &str, luid: &str, data: &str) -> Command {
    let item = Item {
        source: Some(Source::uri(luid)),
        data: (!data.is_empty()).then(|| Data::from(data)),
        ..Default::default()
    };
    let meta = Some(Meta::with_type("text/vcard"));
    match kind {
        "add" => Command::Add(Add { cmd_id, meta, items: vec![item], ..Default::default() }),
        "replace" => Command::Replace(Replace { cmd_id, meta, items: vec![item], ..Default::default() }),
        _ => Command::Delete(Delete { cmd_id, items: vec![item], ..Default::default() }),
    }
}

/// The commands of every Sync in a reply.
pub(super) fn sync_cmds(reply: &Reply) -> Vec<Command> {
    reply
        .message
        .body
        .iter()
        .filter_map(|c| match c {
            Command::Sync(s) => Some(s.commands.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Runs a whole session: auth, alert, the client's changes, maps for the server's adds.
/// Returns the server's Sync commands and the alert status.
pub(super) fn session(
    e: &Engine,
    dev: &mut Device,
    code: AlertCode,
    changes: Vec<Command>,
    luid_base: u32,
) -> (Vec<Command>, u16, AlertCode) {
    let a = alert(dev, code);
    session_with_alert(e, dev, a, changes, luid_base)
}

/// [`session`] with the client's Alert as given (e.g. with a Filter).
pub(super) fn session_with_alert(
    e: &Engine,
    dev: &mut Device,
    alert: Command,
    changes: Vec<Command>,
    luid_base: u32,
) -> (Vec<Command>, u16, AlertCode) {
    let c = ctx();
    let mut s: Session = e.new_session();
    let sid = format!("{}", dev.next);
    let pkg1 = Message {
        version: Version::V1_2,
        header: header(dev, &sid, 1, Some(md5_cred(&dev.nonce, "secret"))),
        body: vec![alert],
        final_: true,
    };
    let r1 = e.handle(&mut s, pkg1, &c);
    assert_eq!(header_status(&r1).data, StatusCode::AuthenticationAccepted, "{:?}", r1.message);
    take_nonce(dev, &r1);
    assert!(r1.message.final_);
    let alert_status = statuses(&r1)[1].1;
    let server_alert = r1
        .message
        .body
        .iter()
        .find_map(|c| match c {
            Command::Alert(a) => a.data,
            _ => None,
        })
        .expect("server alert");
    let sync = Command::Sync(Sync {
        cmd_id: 1,
        target: Some(Target::uri("contacts")),
        source: Some(Source::uri("./addressbook")),
        commands: changes,
        ..Default::default()
    });
    let r2 = e.handle(
        &mut s,
        Message { version: Version::V1_2, header: header(dev, &sid, 2, None), body: vec![sync], final_: true },
        &c,
    );
    assert_eq!(header_status(&r2).data, StatusCode::Ok);
    assert!(r2.message.final_);
    for (cmd, code) in statuses(&r2) {
        assert!(code < 300 || code == 419, "{cmd:?} {code}");
    }
    let out = server_sync(&r2).commands.clone();
    // Package 5: a status for every server command (as a real client answers), then the Map.
    let mut body: Vec<Command> = out
        .iter()
        .map(|cmd| {
            let (name, code) = match cmd {
                Command::Add(_) => (CmdName::Add, StatusCode::ItemAdded),
                other => (other.name(), StatusCode::Ok),
            };
            Command::Status(Status {
                cmd_id: 0,
                msg_ref: Some(r2.message.header.msg_id),
                cmd_ref: cmd.cmd_id(),
                cmd: name,
                target_refs: vec![],
                source_refs: vec![],
                cred: None,
                chal: None,
                data: code,
                items: vec![],
            })
        })
        .collect();
    body.extend(map_for(&out, luid_base));
    let r3 = e.handle(
        &mut s,
        Message { version: Version::V1_2, header: header(dev, &sid, 3, None), body, final_: true },
        &c,
    );
    assert!(r3.finished && r3.message.final_);
    dev.last = Some(dev.next.to_string());
    dev.next += 1;
    (out, alert_status, server_alert)
}

/// The client's package 5: a Map giving the server's Adds in `out` the LUIDs `luid_base + i`.
pub(super) fn map_for(out: &[Command], luid_base: u32) -> Vec<Command> {
    let map_items: Vec<MapItem> = out
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Command::Add(a) => Some(MapItem {
                target: Target::uri(a.items[0].source.as_ref().unwrap().loc_uri.clone()),
                source: Source::uri(format!("{}", luid_base + i as u32)),
            }),
            _ => None,
        })
        .collect();
    let mut body = Vec::new();
    if !map_items.is_empty() {
        body.push(Command::Map(Map {
            cmd_id: 1,
            target: Target::uri("contacts"),
            source: Source::uri("./addressbook"),
            items: map_items,
            ..Default::default()
        }));
    }
    body
}

pub(super) fn first_contact(e: &Engine, id: &str) -> Device {
    let mut dev = Device { id: id.into(), nonce: Vec::new(), next: 1, last: None };
    let mut s = e.new_session();
    let r = e.handle(
        &mut s,
        Message {
            version: Version::V1_2,
            header: header(&dev, "0", 1, Some(md5_cred(b"", "secret"))),
            body: vec![alert(&dev, AlertCode::TwoWay)],
            final_: true,
        },
        &ctx(),
    );
    assert_eq!(
        header_status(&r).data,
        StatusCode::InvalidCredentials,
        "first contact hashes with an empty nonce: challenged"
    );
    assert!(r.finished);
    take_nonce(&mut dev, &r);
    dev
}

#[test]
fn two_devices_converge_without_duplicates() {
    let (e, store) = engine();
    let user = store.user_by_name("alice").unwrap().unwrap();
    let mut a = first_contact(&e, "dev-a");
    // A's first sync: asked two-way, forced slow (508 + 201), uploads two contacts.
    let (out, st, code) = session(
        &e,
        &mut a,
        AlertCode::TwoWay,
        vec![change(2, "add", "1", VCARD_A), change(3, "add", "2", VCARD_B)],
        100,
    );
    assert_eq!((st, code), (508, AlertCode::SlowSync));
    assert!(out.is_empty());
    assert_eq!(store.items(user.id, "contacts").unwrap().len(), 2);

    // B's slow sync has a re-encoded copy of John: matched, not duplicated; Jane comes down.
    let mut b = first_contact(&e, "dev-b");
    let john_again = "BEGIN:VCARD\nVERSION:3.0\nPRODID:x\nFN:John Doe\nN:Doe;John\nTEL:+49 1\nEND:VCARD\n";
    let (out, _, _) = session(&e, &mut b, AlertCode::SlowSync, vec![change(2, "add", "7", john_again)], 8);
    assert_eq!(store.items(user.id, "contacts").unwrap().len(), 2, "no duplicate");
    assert_eq!(out.len(), 1);
    assert!(matches!(&out[0], Command::Add(add) if add.items[0].data == Some(Data::from(VCARD_B))));

    // A two-way with nothing changed: anchors match (200), nothing comes back.
    let (out, st, code) = session(&e, &mut a, AlertCode::TwoWay, vec![], 200);
    assert_eq!((st, code), (200, AlertCode::TwoWay));
    assert!(out.is_empty(), "{out:?}");

    // B changes Jane (its LUID 8) and deletes John (7); A gets a Replace and a Delete.
    let jane2 = VCARD_B.replace("END:VCARD", "TEL:+1 555\r\nEND:VCARD");
    session(&e, &mut b, AlertCode::TwoWay, vec![change(2, "replace", "8", &jane2), change(3, "delete", "7", "")], 300);
    let (out, _, _) = session(&e, &mut a, AlertCode::TwoWay, vec![], 400);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out.iter().any(|c| matches!(c, Command::Replace(r) if r.items[0].target.as_ref().unwrap().loc_uri == "2" && r.items[0].data == Some(Data::from(jane2.as_str())))));
    assert!(out.iter().any(|c| matches!(c, Command::Delete(d) if d.items[0].target.as_ref().unwrap().loc_uri == "1")));
    // B does not get its own changes back.
    let (out, _, _) = session(&e, &mut b, AlertCode::TwoWay, vec![], 500);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(store.items(user.id, "contacts").unwrap().len(), 1);
}

#[test]
fn wrong_password_and_replayed_nonce_fail() {
    let (e, store) = engine();
    let dev = first_contact(&e, "dev-a");
    let mut s = e.new_session();
    let bad = Message {
        version: Version::V1_2,
        header: header(&dev, "1", 1, Some(md5_cred(&dev.nonce, "wrong"))),
        body: vec![],
        final_: true,
    };
    let r = e.handle(&mut s, bad, &ctx());
    assert_eq!(header_status(&r).data, StatusCode::InvalidCredentials);
    assert!(r.finished);
    // The nonce was used by the failed attempt: the right password with the old nonce fails too.
    let mut s = e.new_session();
    let replay = Message {
        version: Version::V1_2,
        header: header(&dev, "2", 1, Some(md5_cred(&dev.nonce, "secret"))),
        body: vec![],
        final_: true,
    };
    assert_eq!(header_status(&e.handle(&mut s, replay, &ctx())).data, StatusCode::InvalidCredentials);
    // No credentials at all: 407.
    let mut s = e.new_session();
    let none = Message { version: Version::V1_2, header: header(&dev, "3", 1, None), body: vec![], final_: true };
    assert_eq!(header_status(&e.handle(&mut s, none, &ctx())).data, StatusCode::MissingCredentials);
    let user = store.user_by_name("alice").unwrap().unwrap();
    assert!(store.items(user.id, "contacts").unwrap().is_empty());
}

#[test]
fn basic_auth_and_unknown_datastore() {
    let (e, _) = engine();
    let dev = Device { id: "dev-basic".into(), nonce: Vec::new(), next: 1, last: None };
    let cred = Cred {
        meta: Some(Meta { type_: Some("syncml:auth-basic".into()), format: Some("b64".into()), ..Default::default() }),
        data: crate::auth::basic_credential("alice", "secret").into_bytes(),
    };
    let mut a = match alert(&dev, AlertCode::TwoWay) {
        Command::Alert(a) => a,
        _ => unreachable!(),
    };
    a.items[0].target = Some(Target::uri("nosuchstore"));
    let mut s = e.new_session();
    let r = e.handle(
        &mut s,
        Message {
            version: Version::V1_2,
            header: header(&dev, "1", 1, Some(cred)),
            body: vec![Command::Alert(a)],
            final_: true,
        },
        &ctx(),
    );
    assert_eq!(header_status(&r).data, StatusCode::AuthenticationAccepted);
    assert_eq!(statuses(&r)[1], (CmdName::Alert, 404));
    assert!(!r.finished);
    // Nothing was accepted: the client's final package 3 (no Sync) ends the session at once,
    // instead of holding the user's session lock until it times out.
    let r = e.handle(
        &mut s,
        Message { version: Version::V1_2, header: header(&dev, "1", 2, None), body: vec![], final_: true },
        &ctx(),
    );
    assert!(r.finished && r.message.final_, "{:?}", r.message);
}
