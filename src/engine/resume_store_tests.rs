//! Suspend and resume across a restart of the gateway (a new [`Engine`] over the same store),
//! incoming large objects staged in the store and continued after a resume, and the client's
//! MaxObjSize taken from its Alert (PROTOCOL.md §1.6, §1.7, §3.7).

use std::sync::Arc;

use crate::engine::config::EngineConfig;
use crate::engine::tests::{
    alert, change, ctx, engine, first_contact, header, md5_cred, statuses, sync_cmds, take_nonce, Device,
};
use crate::engine::{Engine, Reply, Session};
use crate::proto::*;
use crate::store::Store;

const PHOTO_LINE: &str = "PHOTO;ENCODING=b;TYPE=JPEG:";

fn msg(dev: &Device, sid: &str, msg_id: u32, cred: Option<Cred>, body: Vec<Command>, final_: bool) -> Message {
    Message { version: Version::V1_2, header: header(dev, sid, msg_id, cred), body, final_ }
}

fn sync_of(commands: Vec<Command>) -> Command {
    Command::Sync(Sync {
        cmd_id: 1,
        target: Some(Target::uri("contacts")),
        source: Some(Source::uri("./addressbook")),
        commands,
        ..Default::default()
    })
}

fn chunk(cmd_id: u32, data: &str, size: Option<u64>, more: bool) -> Command {
    let mut c = change(cmd_id, "add", "big1", data);
    if let Command::Add(a) = &mut c {
        a.items[0].more_data = more;
        a.items[0].meta = size.map(|n| Meta { size: Some(n), ..Default::default() });
    }
    c
}

fn suspend() -> Command {
    Command::Alert(Alert {
        cmd_id: 9,
        no_resp: false,
        cred: None,
        correlator: None,
        data: Some(AlertCode::Suspend),
        items: vec![Item {
            target: Some(Target::uri("http://127.0.0.1/sync")),
            source: Some(Source::uri("dev-a")),
            ..Default::default()
        }],
    })
}

fn add_codes(r: &Reply) -> Vec<u16> {
    statuses(r).into_iter().filter(|(c, _)| *c == CmdName::Add).map(|(_, code)| code).collect()
}

/// The three parts of a large vCard (about 30 KB in all).
fn parts() -> (String, String, String) {
    let a = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Big;Bob;;;\r\nFN:Bob Big\r\n{PHOTO_LINE}{}", "A".repeat(10_000));
    let b = "B".repeat(10_000);
    let c = format!("{}\r\nEND:VCARD\r\n", "C".repeat(10_000));
    (a, b, c)
}

/// Device A starts a slow sync, sends the first part of a large object and suspends.
fn upload_first_part_and_suspend(e: &Engine, a: &mut Device, first: &str, total: u64) {
    let c = ctx();
    let mut s: Session = e.new_session();
    let r = e.handle(
        &mut s,
        msg(a, "1", 1, Some(md5_cred(&a.nonce, "secret")), vec![alert(a, AlertCode::SlowSync)], true),
        &c,
    );
    take_nonce(a, &r);
    let r = e.handle(
        &mut s,
        msg(a, "1", 2, None, vec![sync_of(vec![chunk(2, first, Some(total), true)]), suspend()], false),
        &c,
    );
    assert_eq!(add_codes(&r), vec![213], "{:?}", statuses(&r));
    assert!(r.finished, "the suspend ends the session");
}

/// A resumed session of device A on `e`: Alert 225, then one message per chunk list.
fn resume(e: &Engine, a: &mut Device, messages: Vec<Vec<Command>>) -> (u16, Vec<Reply>) {
    let c = ctx();
    let mut s = e.new_session();
    a.next += 1;
    let r = e.handle(
        &mut s,
        msg(a, "2", 1, Some(md5_cred(&a.nonce, "secret")), vec![alert(a, AlertCode::Resume)], true),
        &c,
    );
    take_nonce(a, &r);
    let alert_status = statuses(&r).into_iter().find(|(c, _)| *c == CmdName::Alert).expect("Alert status").1;
    let n = messages.len();
    let replies = messages
        .into_iter()
        .enumerate()
        .map(|(i, cmds)| e.handle(&mut s, msg(a, "2", 2 + i as u32, None, vec![sync_of(cmds)], i + 1 == n), &c))
        .collect();
    (alert_status, replies)
}

/// Device A's slow sync suspended after the first part of a large object: the engine, its
/// store, the device, the three parts and their total size.
fn suspended_upload() -> (Engine, Arc<dyn Store>, Device, [String; 3], u64) {
    let (e, store) = engine();
    let mut a = first_contact(&e, "dev-a");
    let (p1, p2, p3) = parts();
    let total = (p1.len() + p2.len() + p3.len()) as u64;
    upload_first_part_and_suspend(&e, &mut a, &p1, total);
    (e, store, a, [p1, p2, p3], total)
}

/// The three chunks were answered 213, 213, 201 and the object is stored whole, once.
fn assert_whole(store: &Arc<dyn Store>, replies: &[Reply], parts: &[String; 3]) {
    assert_eq!(replies.iter().flat_map(add_codes).collect::<Vec<_>>(), vec![213, 213, 201]);
    assert!(stored_items(store) == vec![parts.concat()], "the object is whole, each part once");
}

/// A fresh engine over the same store: what a restarted gateway is.
fn restart(store: &Arc<dyn Store>) -> Engine {
    Engine::new(store.clone(), EngineConfig::default())
}

fn stored_items(store: &Arc<dyn Store>) -> Vec<String> {
    let user = store.user_by_name("alice").unwrap().unwrap();
    store.items(user.id, "contacts").unwrap().into_iter().map(|i| String::from_utf8(i.data).unwrap()).collect()
}

#[test]
fn chunks_are_staged_in_the_store_until_the_last() {
    let (_, store, mut a, [p1, p2, p3], _) = suspended_upload();
    let user = store.user_by_name("alice").unwrap().unwrap().id;
    let staged = store.stage_read(user, "dev-a", "contacts\nbig1").unwrap();
    assert!(staged.as_deref() == Some(p1.as_bytes()), "the first chunk waits in the store");
    assert!(store.suspended(user, "dev-a").unwrap().is_some(), "the suspended session is saved in the store");

    let e = restart(&store);
    let (code, replies) = resume(&e, &mut a, vec![vec![chunk(2, &p2, None, true)], vec![chunk(3, &p3, None, false)]]);
    assert_eq!(code, 200, "resume accepted after the restart");
    assert_eq!(add_codes(&replies[0]), vec![213]);
    assert_eq!(add_codes(&replies[1]), vec![201]);
    assert!(stored_items(&store) == vec![format!("{p1}{p2}{p3}")], "the object is whole, each part once");
    assert!(store.stage_read(user, "dev-a", "contacts\nbig1").unwrap().is_none(), "staging cleared");
    assert_eq!(store.suspended(user, "dev-a").unwrap(), None, "resume state consumed");
}

#[test]
fn a_chunk_repeated_after_resume_is_dropped() {
    let (_, store, mut a, [p1, p2, p3], _) = suspended_upload();
    let e = restart(&store);
    // libsynthesis may send the last chunk before the suspend once more (PROTOCOL.md §3.7).
    let (code, replies) = resume(
        &e,
        &mut a,
        vec![vec![chunk(2, &p1, None, true)], vec![chunk(3, &p2, None, true)], vec![chunk(4, &p3, None, false)]],
    );
    assert_eq!(code, 200);
    assert_whole(&store, &replies, &[p1, p2, p3]);
}

#[test]
fn a_resumed_object_sent_again_from_its_start_replaces_the_staged_part() {
    let (e, store, mut a, [p1, p2, p3], total) = suspended_upload();
    let (code, replies) = resume(
        &e,
        &mut a,
        vec![vec![chunk(2, &p1, Some(total), true)], vec![chunk(3, &p2, None, true)], vec![chunk(4, &p3, None, false)]],
    );
    assert_eq!(code, 200);
    assert_whole(&store, &replies, &[p1, p2, p3]);
}

#[test]
fn a_missing_chunk_after_resume_is_a_size_mismatch() {
    let (e, store, mut a, [_, _, p3], _) = suspended_upload();
    let (_, replies) = resume(&e, &mut a, vec![vec![chunk(3, &p3, None, false)]]);
    assert_eq!(add_codes(&replies[0]), vec![424]);
    assert!(stored_items(&store).is_empty(), "nothing half-made is stored");
}

#[test]
fn staged_chunks_of_a_session_that_is_not_resumed_are_dropped() {
    let (e, store, mut a, _, _) = suspended_upload();
    let user = store.user_by_name("alice").unwrap().unwrap().id;
    // A client that does not resume starts a new slow sync (first sync: no anchors to keep).
    crate::engine::tests::session(&e, &mut a, AlertCode::SlowSync, vec![], 100);
    assert!(store.stage_read(user, "dev-a", "contacts\nbig1").unwrap().is_none(), "staged chunks dropped");
    assert!(store.suspended(user, "dev-a").unwrap().is_none());
}

#[test]
fn max_obj_size_in_the_alert_item_limits_what_is_sent() {
    let (e, _) = engine();
    let mut a = first_contact(&e, "dev-a");
    let big = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big\r\nNOTE:{}\r\nEND:VCARD\r\n", "x".repeat(5_000));
    let small = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Small\r\nEND:VCARD\r\n";
    crate::engine::tests::session(
        &e,
        &mut a,
        AlertCode::SlowSync,
        vec![change(2, "add", "1", &big), change(3, "add", "2", small)],
        100,
    );
    // Device B announces MaxObjSize 4000 only in its Alert's item Meta.
    let mut b = first_contact(&e, "dev-b");
    let c = ctx();
    let mut s = e.new_session();
    let mut al = alert(&b, AlertCode::SlowSync);
    if let Command::Alert(x) = &mut al {
        x.items[0].meta.as_mut().unwrap().max_obj_size = Some(4000);
    }
    let r = e.handle(&mut s, msg(&b, "1", 1, Some(md5_cred(&b.nonce, "secret")), vec![al], true), &c);
    take_nonce(&mut b, &r);
    let r = e.handle(&mut s, msg(&b, "1", 2, None, vec![sync_of(vec![])], true), &c);
    let sent = sync_cmds(&r);
    assert_eq!(sent.len(), 1, "only the small item: {sent:?}");
}

#[test]
fn a_stopping_gateway_suspends_the_session_and_the_client_resumes() {
    let (e, store) = engine();
    let mut a = first_contact(&e, "dev-a");
    let c = ctx();
    let mut s = e.new_session();
    let r = e.handle(
        &mut s,
        msg(&a, "1", 1, Some(md5_cred(&a.nonce, "secret")), vec![alert(&a, AlertCode::SlowSync)], true),
        &c,
    );
    take_nonce(&mut a, &r);
    let small = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Small\r\nEND:VCARD\r\n";
    // The gateway starts stopping while the client sends its package 3.
    let stopping = crate::engine::Context { suspend: true, ..ctx() };
    let r = e.handle(&mut s, msg(&a, "1", 2, None, vec![sync_of(vec![change(2, "add", "1", small)])], true), &stopping);
    assert_eq!(add_codes(&r), vec![201], "the client's item is still taken");
    let alert_224 = r.message.body.iter().any(|c| matches!(c, Command::Alert(x) if x.data == Some(AlertCode::Suspend)));
    assert!(
        alert_224 && r.message.final_ && !r.finished,
        "server Alert 224, the session waits for the client's answer"
    );
    let user = store.user_by_name("alice").unwrap().unwrap().id;
    assert!(store.suspended(user, "dev-a").unwrap().is_some(), "state saved for a resume");
    // The client's answer (its Status for our Alert) ends the session without touching the state.
    let status = Command::Status(Status {
        cmd_id: 1,
        msg_ref: Some(r.message.header.msg_id),
        cmd_ref: 1,
        cmd: CmdName::Alert,
        target_refs: vec![],
        source_refs: vec![],
        cred: None,
        chal: None,
        data: StatusCode::Ok,
        items: vec![],
    });
    let r = e.handle(&mut s, msg(&a, "1", 3, None, vec![status], true), &stopping);
    assert!(r.finished);
    assert!(store.suspended(user, "dev-a").unwrap().is_some(), "still saved");

    let e = restart(&store);
    let (code, replies) = resume(&e, &mut a, vec![vec![]]);
    assert_eq!(code, 200, "resume accepted");
    assert!(replies[0].message.final_);
    assert_eq!(stored_items(&store).len(), 1, "the item sent before the stop is stored once");
}
