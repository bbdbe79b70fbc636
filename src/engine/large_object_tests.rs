//! Large objects (PROTOCOL.md §1.6–1.7) through whole sessions with the memory store: server
//! items bigger than the client's MaxMsgSize go out in chunks, items above its MaxObjSize stay
//! unsent; incoming objects above the server's MaxObjSize get 413, abandoned ones Alert 223.

use crate::codec::{encode_message, Encoding};
use crate::engine::tests::{
    alert, change, ctx, engine, first_contact, header, header_status, md5_cred, session, statuses, sync_cmds,
    take_nonce, Device,
};
use crate::engine::{Engine, Reply, Session};
use crate::proto::*;

/// A ~30 KB vCard: folded base64 PHOTO, a few escapable and multi-byte characters.
fn big_vcard(photo_bytes: usize) -> String {
    let raw: Vec<u8> = (0..photo_bytes).map(|i| (i * 7 + i / 13) as u8).collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    let mut folded = String::new();
    for (i, ch) in b64.chars().enumerate() {
        if i > 0 && i % 74 == 0 {
            folded.push_str("\r\n ");
        }
        folded.push(ch);
    }
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Müller;Jürgen;;;\r\nFN:Jürgen Müller & <Söhne>\r\nNOTE:ä€😀\r\n\
         PHOTO;ENCODING=b;TYPE=JPEG:{folded}\r\nEND:VCARD\r\n"
    )
}

fn hdr(dev: &Device, sid: &str, msg_id: u32, cred: Option<Cred>, max_msg: u64, max_obj: Option<u64>) -> Header {
    let mut h = header(dev, sid, msg_id, cred);
    h.meta = Some(Meta { max_msg_size: Some(max_msg), max_obj_size: max_obj, ..Default::default() });
    h
}

fn msg(header: Header, body: Vec<Command>, final_: bool) -> Message {
    Message { version: Version::V1_2, header, body, final_ }
}

fn assert_fits(reply: &Reply, max: usize) {
    for enc in [Encoding::Xml, Encoding::Wbxml] {
        let bytes = encode_message(&reply.message, enc).expect("encodes");
        assert!(bytes.len() <= max, "{enc:?} reply is {} bytes > {max}", bytes.len());
    }
}

/// What the client answers for a server item command.
fn status_for(reply: &Reply, cmd: &Command, code: StatusCode) -> Command {
    let (name, item) = match cmd {
        Command::Add(a) => (CmdName::Add, &a.items[0]),
        Command::Replace(a) => (CmdName::Replace, &a.items[0]),
        Command::Delete(a) => (CmdName::Delete, &a.items[0]),
        other => panic!("{other:?}"),
    };
    Command::Status(Status {
        cmd_id: 0,
        msg_ref: Some(reply.message.header.msg_id),
        cmd_ref: cmd.cmd_id(),
        cmd: name,
        target_refs: item.target.iter().map(|t| t.loc_uri.clone()).collect(),
        source_refs: item.source.iter().map(|t| t.loc_uri.clone()).collect(),
        cred: None,
        chal: None,
        data: code,
        items: Vec::new(),
    })
}

/// Uploads `data` from device A (normal MaxMsgSize) so the server has it.
fn seed(e: &Engine, data: &str) {
    let mut a = first_contact(e, "dev-a");
    session(e, &mut a, AlertCode::SlowSync, vec![change(2, "add", "1", data)], 100);
}

struct Outcome {
    /// Per Add/Replace LocURI: (declared size, reassembled data, chunk count).
    received: Vec<(Option<u64>, Vec<u8>, usize)>,
    messages: usize,
}

/// Device B's slow sync with `max_msg`/`max_obj`; the client answers chunks with `chunk_code`.
fn slow_sync_b(e: &Engine, max_msg: u64, max_obj: Option<u64>, chunk_code: StatusCode) -> Outcome {
    let c = ctx();
    let mut b = first_contact(e, "dev-b");
    let mut s: Session = e.new_session();
    let r = e.handle(
        &mut s,
        msg(
            hdr(&b, "1", 1, Some(md5_cred(&b.nonce, "secret")), max_msg, max_obj),
            vec![alert(&b, AlertCode::SlowSync)],
            true,
        ),
        &c,
    );
    assert_eq!(header_status(&r).data, StatusCode::AuthenticationAccepted);
    take_nonce(&mut b, &r);
    let sync = Command::Sync(Sync {
        cmd_id: 1,
        target: Some(Target::uri("contacts")),
        source: Some(Source::uri("./addressbook")),
        ..Default::default()
    });
    let mut msg_id = 2;
    let mut reply = e.handle(&mut s, msg(hdr(&b, "1", msg_id, None, max_msg, max_obj), vec![sync], true), &c);
    let mut out = Outcome { received: Vec::new(), messages: 0 };
    let mut current: Option<(Option<u64>, Vec<u8>, usize)> = None;
    let mut maps = Vec::new();
    loop {
        out.messages += 1;
        assert_fits(&reply, max_msg as usize);
        for (cmd, code) in statuses(&reply) {
            assert!(code < 300, "{cmd:?} {code}");
        }
        let cmds = sync_cmds(&reply);
        let mut answers = Vec::new();
        for (i, cmd) in cmds.iter().enumerate() {
            let item = match cmd {
                Command::Add(a) => &a.items[0],
                Command::Replace(a) => &a.items[0],
                _ => continue,
            };
            let data = item.data.as_ref().and_then(Data::bytes).unwrap_or_default();
            let part = current.get_or_insert_with(|| (item.meta.as_ref().and_then(|m| m.size), Vec::new(), 0));
            part.1.extend_from_slice(data);
            part.2 += 1;
            if item.more_data {
                assert_eq!(i, cmds.len() - 1, "a chunk is the last command of its message");
                assert!(!reply.message.final_, "a message with a chunk is not final");
                answers.push(status_for(&reply, cmd, chunk_code));
            } else {
                out.received.extend(current.take());
                answers.push(status_for(&reply, cmd, StatusCode::ItemAdded));
                if let Command::Add(a) = cmd {
                    maps.push(MapItem {
                        target: Target::uri(a.items[0].source.as_ref().unwrap().loc_uri.clone()),
                        source: Source::uri(format!("{}", 50 + maps.len())),
                    });
                }
            }
        }
        if chunk_code != StatusCode::ChunkAccepted && current.is_some() {
            // The client refused the chunk: it drops what it has.
            current = None;
        }
        msg_id += 1;
        if reply.finished {
            break;
        }
        if reply.message.final_ {
            if !maps.is_empty() {
                answers.push(Command::Map(Map {
                    cmd_id: 1,
                    target: Target::uri("contacts"),
                    source: Source::uri("./addressbook"),
                    items: std::mem::take(&mut maps),
                    ..Default::default()
                }));
            }
            reply = e.handle(&mut s, msg(hdr(&b, "1", msg_id, None, max_msg, max_obj), answers, true), &c);
            assert!(reply.finished && reply.message.final_, "session ends after the map");
            out.messages += 1;
            assert_fits(&reply, max_msg as usize);
            break;
        }
        answers.push(Command::Alert(Alert {
            cmd_id: 0,
            no_resp: false,
            cred: None,
            data: Some(AlertCode::NextMessage),
            correlator: None,
            items: vec![Item {
                target: Some(Target::uri("contacts")),
                source: Some(Source::uri("./addressbook")),
                ..Default::default()
            }],
        }));
        reply = e.handle(&mut s, msg(hdr(&b, "1", msg_id, None, max_msg, max_obj), answers, false), &c);
        assert!(out.messages < 50, "the session does not move");
    }
    assert!(current.is_none(), "no half-received object at the end");
    out
}

#[test]
fn large_item_reaches_small_client_in_chunks() {
    let (e, _) = engine();
    let card = big_vcard(22_000);
    assert!(card.len() > 29_000, "{}", card.len());
    seed(&e, &card);
    let out = slow_sync_b(&e, 10_240, None, StatusCode::ChunkAccepted);
    assert_eq!(out.received.len(), 1);
    let (declared, data, chunks) = &out.received[0];
    assert!(*chunks >= 4, "{chunks} chunks");
    assert_eq!(*declared, Some(card.len() as u64), "first chunk declares the total size");
    assert_eq!(data, card.as_bytes(), "reassembled byte-exact");
    assert_eq!(out.messages, chunks + 1, "one chunk per message, then the map round");
}

#[test]
fn small_items_pack_around_a_large_one() {
    let (e, store) = engine();
    let card = big_vcard(22_000);
    let mut a = first_contact(&e, "dev-a");
    let mut changes = vec![change(2, "add", "1", &card)];
    for i in 0..5 {
        let v = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nN:P{i};Q;;;\r\nFN:Q P{i}\r\nEND:VCARD\r\n");
        changes.push(change(3 + i, "add", &format!("{}", 10 + i), &v));
    }
    session(&e, &mut a, AlertCode::SlowSync, changes, 100);
    let user = store.user_by_name("alice").unwrap().unwrap();
    assert_eq!(store.items(user.id, "contacts").unwrap().len(), 6);
    let out = slow_sync_b(&e, 10_240, None, StatusCode::ChunkAccepted);
    assert_eq!(out.received.len(), 6);
    let big: Vec<_> = out.received.iter().filter(|r| r.2 > 1).collect();
    assert_eq!(big.len(), 1);
    assert_eq!(big[0].1, card.as_bytes());
}

#[test]
fn refused_chunk_abandons_the_item_without_blocking() {
    let (e, _) = engine();
    seed(&e, &big_vcard(22_000));
    let out = slow_sync_b(&e, 10_240, None, StatusCode::CommandFailed);
    assert!(out.received.is_empty(), "nothing complete arrived");
}

#[test]
fn item_above_client_max_obj_size_is_not_sent() {
    let (e, _) = engine();
    seed(&e, &big_vcard(22_000));
    let out = slow_sync_b(&e, 10_240, Some(20_000), StatusCode::ChunkAccepted);
    assert!(out.received.is_empty());
    assert_eq!(out.messages, 2, "server Sync (empty) and the map round");
}

/// Device A's session sending `changes` in one Sync; returns the reply to it.
fn upload(e: &Engine, changes: Vec<Command>) -> Reply {
    let c = ctx();
    let mut a = first_contact(e, "dev-a");
    let mut s = e.new_session();
    let r = e.handle(
        &mut s,
        msg(header(&a, "1", 1, Some(md5_cred(&a.nonce, "secret"))), vec![alert(&a, AlertCode::SlowSync)], true),
        &c,
    );
    take_nonce(&mut a, &r);
    let sync = Command::Sync(Sync {
        cmd_id: 1,
        target: Some(Target::uri("contacts")),
        source: Some(Source::uri("./addressbook")),
        commands: changes,
        ..Default::default()
    });
    e.handle(&mut s, msg(header(&a, "1", 2, None), vec![sync], true), &c)
}

fn chunk(cmd_id: u32, luid: &str, data: &str, size: Option<u64>, more: bool) -> Command {
    let mut c = change(cmd_id, "add", luid, data);
    if let Command::Add(a) = &mut c {
        a.items[0].more_data = more;
        a.items[0].meta = size.map(|n| Meta { size: Some(n), ..Default::default() });
    }
    c
}

#[test]
fn incoming_object_above_max_obj_size_gets_413() {
    let (e, _) = engine();
    let max = e.config().max_obj_size;
    let r = upload(&e, vec![chunk(2, "1", "BEGIN:VCARD", Some(max + 1), true)]);
    assert!(statuses(&r).contains(&(CmdName::Add, 413)), "{:?}", statuses(&r));
}

#[test]
fn abandoned_incoming_object_gets_alert_223() {
    let (e, _) = engine();
    let whole = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nEND:VCARD\r\n";
    let r = upload(&e, vec![chunk(2, "1", "BEGIN:VCARD\r\n", Some(100), true), chunk(3, "2", whole, None, false)]);
    assert_eq!(
        statuses(&r).iter().filter(|(c, _)| *c == CmdName::Add).map(|x| x.1).collect::<Vec<_>>(),
        vec![213, 201]
    );
    let alert = r
        .message
        .body
        .iter()
        .find_map(|c| match c {
            Command::Alert(a) if a.data == Some(AlertCode::NoEndOfData) => Some(a),
            _ => None,
        })
        .expect("Alert 223");
    assert_eq!(alert.items[0].target.as_ref().unwrap().loc_uri, "1");
}

#[test]
fn a_large_object_is_read_from_the_store_chunk_by_chunk() {
    let (e, store) = engine();
    let card = big_vcard(22_000);
    seed(&e, &card);
    let user = store.user_by_name("alice").unwrap().unwrap().id;
    let guid = store.guids(user, "contacts").unwrap().remove(0);
    let c = ctx();
    let mut b = first_contact(&e, "dev-b");
    let mut s: Session = e.new_session();
    let r = e.handle(
        &mut s,
        msg(
            hdr(&b, "1", 1, Some(md5_cred(&b.nonce, "secret")), 10_240, None),
            vec![alert(&b, AlertCode::SlowSync)],
            true,
        ),
        &c,
    );
    take_nonce(&mut b, &r);
    let sync = Command::Sync(Sync {
        cmd_id: 1,
        target: Some(Target::uri("contacts")),
        source: Some(Source::uri("./addressbook")),
        ..Default::default()
    });
    let first = e.handle(&mut s, msg(hdr(&b, "1", 2, None, 10_240, None), vec![sync], true), &c);
    let cmds = sync_cmds(&first);
    let Some(Command::Add(add)) = cmds.last() else { panic!("{cmds:?}") };
    assert!(add.items[0].more_data, "the first chunk");
    // The item changes while it is being sent: the next chunk would come from the new
    // version, so the object is abandoned instead of sent mixed.
    let replaced = crate::store::Mutation::Replace {
        guid,
        parent: None,
        content_type: "text/vcard".into(),
        data: big_vcard(21_000).into_bytes(),
        fields_only: false,
    };
    store.apply(user, "contacts", &crate::store::Origin::Service, &[replaced]).unwrap();
    let next = Command::Alert(Alert {
        cmd_id: 0,
        no_resp: false,
        cred: None,
        data: Some(AlertCode::NextMessage),
        correlator: None,
        items: vec![Item {
            target: Some(Target::uri("contacts")),
            source: Some(Source::uri("./addressbook")),
            ..Default::default()
        }],
    });
    let answers = vec![status_for(&first, cmds.last().unwrap(), StatusCode::ChunkAccepted), next];
    let second = e.handle(&mut s, msg(hdr(&b, "1", 3, None, 10_240, None), answers, false), &c);
    assert!(
        sync_cmds(&second).iter().all(|c| !matches!(c, Command::Add(_) | Command::Replace(_))),
        "no chunk of a changed item: {:?}",
        second.message
    );
}
