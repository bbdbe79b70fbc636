//! Suspend (Alert 224) and resume (Alert 225), DS 1.2 (PROTOCOL.md §3.7).

use crate::engine::tests::*;
use crate::engine::{Engine, Reply, Session};
use crate::proto::*;

fn vcard(i: usize) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Person{i};Some;;;\r\nFN:Some Person{i}\r\nTEL:+49 {i}\r\nEND:VCARD\r\n")
}

/// Device A puts `n` contacts on the server.
fn seed(e: &Engine, n: usize) {
    let mut a = first_contact(e, "dev-a");
    let adds = (0..n).map(|i| change(2 + i as u32, "add", &format!("a{i}"), &vcard(i))).collect();
    session(e, &mut a, AlertCode::SlowSync, adds, 100);
}

fn msg(dev: &Device, sid: &str, msg_id: u32, cred: Option<Cred>, max_msg: u64, body: Vec<Command>) -> Message {
    let mut header = header(dev, sid, msg_id, cred);
    header.meta = Some(Meta { max_msg_size: Some(max_msg), ..Default::default() });
    Message { version: Version::V1_2, header, body, final_: true }
}

fn alert_with(dev: &Device, code: AlertCode) -> Command {
    alert(dev, code)
}

fn suspend_alert() -> Command {
    Command::Alert(Alert {
        cmd_id: 9,
        no_resp: false,
        cred: None,
        data: Some(AlertCode::Suspend),
        correlator: None,
        items: vec![Item {
            target: Some(Target::uri("http://127.0.0.1/sync")),
            source: Some(Source::uri("dev-b")),
            ..Default::default()
        }],
    })
}

fn empty_sync() -> Command {
    Command::Sync(Sync {
        cmd_id: 1,
        target: Some(Target::uri("contacts")),
        source: Some(Source::uri("./addressbook")),
        ..Default::default()
    })
}

fn added_guid(cmd: &Command) -> String {
    match cmd {
        Command::Add(a) => a.items[0].source.as_ref().unwrap().loc_uri.clone(),
        other => panic!("expected an Add, got {other:?}"),
    }
}

fn ack(reply: &Reply, cmd: &Command) -> Command {
    Command::Status(Status {
        cmd_id: 0,
        msg_ref: Some(reply.message.header.msg_id),
        cmd_ref: cmd.cmd_id(),
        cmd: CmdName::Add,
        target_refs: vec![],
        source_refs: vec![added_guid(cmd)],
        cred: None,
        chal: None,
        data: StatusCode::ItemAdded,
        items: vec![],
    })
}

fn alert_status(reply: &Reply) -> u16 {
    statuses(reply).into_iter().find(|(c, _)| *c == CmdName::Alert).expect("Alert status").1
}

fn server_alert(reply: &Reply) -> Option<AlertCode> {
    reply.message.body.iter().find_map(|c| match c {
        Command::Alert(a) => a.data,
        _ => None,
    })
}

/// Device B starts a slow sync with small messages, acknowledges `acked` of the first
/// message's Adds (mapping them) and suspends. Returns the acknowledged GUIDs.
fn interrupted_slow_sync(e: &Engine, b: &mut Device, acked: usize) -> Vec<String> {
    let c = ctx();
    let mut s: Session = e.new_session();
    let r1 = e.handle(
        &mut s,
        msg(b, "1", 1, Some(md5_cred(&b.nonce, "secret")), 8192, vec![alert_with(b, AlertCode::SlowSync)]),
        &c,
    );
    assert_eq!(header_status(&r1).data, StatusCode::AuthenticationAccepted);
    take_nonce(b, &r1);
    let r2 = e.handle(&mut s, msg(b, "1", 2, None, 8192, vec![empty_sync()]), &c);
    let first = sync_cmds(&r2);
    assert!(!r2.message.final_, "20 items do not fit one 8 KiB message");
    assert!(first.len() > acked && first.len() < 20, "{} items in the first message", first.len());
    let mut body: Vec<Command> = first[..acked].iter().map(|cmd| ack(&r2, cmd)).collect();
    body.push(Command::Map(Map {
        cmd_id: 8,
        target: Target::uri("contacts"),
        source: Source::uri("./addressbook"),
        items: first[..acked]
            .iter()
            .enumerate()
            .map(|(i, cmd)| MapItem { target: Target::uri(added_guid(cmd)), source: Source::uri(format!("b{i}")) })
            .collect(),
        ..Default::default()
    }));
    body.push(suspend_alert());
    let r3 = e.handle(&mut s, msg(b, "1", 3, None, 8192, body), &c);
    assert!(r3.finished && r3.message.final_, "the session ends with the suspend");
    assert!(statuses(&r3).contains(&(CmdName::Alert, 200)), "{:?}", statuses(&r3));
    assert!(statuses(&r3).contains(&(CmdName::Map, 200)));
    assert!(sync_cmds(&r3).is_empty(), "nothing more is sent after the suspend");
    first[..acked].iter().map(added_guid).collect()
}

#[test]
fn resume_sends_only_unacknowledged_items() {
    let (e, store) = engine();
    seed(&e, 20);
    let mut b = first_contact(&e, "dev-b");
    let acked = interrupted_slow_sync(&e, &mut b, 5);
    // The gateway restarts in between: the suspended state is in the store.
    let e = Engine::new(store.clone(), crate::engine::config::EngineConfig::default());

    // Resume: same Last anchor (none: first sync), new Next.
    b.next += 1;
    let c = ctx();
    let mut s = e.new_session();
    let r1 = e.handle(
        &mut s,
        msg(&b, "2", 1, Some(md5_cred(&b.nonce, "secret")), 150_000, vec![alert_with(&b, AlertCode::Resume)]),
        &c,
    );
    assert_eq!(header_status(&r1).data, StatusCode::AuthenticationAccepted);
    take_nonce(&mut b, &r1);
    assert_eq!(alert_status(&r1), 200, "resume accepted");
    assert_eq!(server_alert(&r1), Some(AlertCode::SlowSync), "continues in the saved mode");
    let r2 = e.handle(&mut s, msg(&b, "2", 2, None, 150_000, vec![empty_sync()]), &c);
    assert!(r2.message.final_);
    let out = sync_cmds(&r2);
    let guids: Vec<String> = out.iter().map(added_guid).collect();
    assert_eq!(guids.len(), 15, "only the unacknowledged items: {guids:?}");
    for g in &acked {
        assert!(!guids.contains(g), "acknowledged item {g} sent again");
    }
    let mut all: Vec<String> = guids.iter().chain(&acked).cloned().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 20);
    let maps = Command::Map(Map {
        cmd_id: 1,
        target: Target::uri("contacts"),
        source: Source::uri("./addressbook"),
        items: guids
            .iter()
            .enumerate()
            .map(|(i, g)| MapItem { target: Target::uri(g.clone()), source: Source::uri(format!("r{i}")) })
            .collect(),
        ..Default::default()
    });
    let mut body: Vec<Command> = out.iter().map(|cmd| ack(&r2, cmd)).collect();
    body.push(maps);
    let r3 = e.handle(&mut s, msg(&b, "2", 3, None, 150_000, body), &c);
    assert!(r3.finished);
    let user = store.user_by_name("alice").unwrap().unwrap();
    assert_eq!(store.id_map(user.id, "dev-b", "contacts").unwrap().len(), 20, "every item mapped once");

    // The resumed session completed: anchors stored, the next sync is a normal two-way one
    // with nothing to send, and a second resume has no state.
    b.last = Some(b.next.to_string());
    b.next += 1;
    let (out, status, mode) = session(&e, &mut b, AlertCode::TwoWay, vec![], 300);
    assert_eq!((status, mode), (200, AlertCode::TwoWay));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn resume_without_saved_state_is_refused() {
    let (e, _) = engine();
    seed(&e, 2);
    let mut b = first_contact(&e, "dev-b");
    // Anchors do not match (first contact): 508 and slow sync.
    let (out, status, mode) = session(&e, &mut b, AlertCode::Resume, vec![], 100);
    assert_eq!((status, mode), (508, AlertCode::SlowSync));
    assert_eq!(out.len(), 2);
    // Anchors match but nothing was suspended: 509, normal two-way sync.
    let (out, status, mode) = session(&e, &mut b, AlertCode::Resume, vec![], 200);
    assert_eq!((status, mode), (509, AlertCode::TwoWay));
    assert!(out.is_empty());
}

#[test]
fn resume_with_other_anchors_or_after_a_normal_sync_is_refused() {
    let (e, _) = engine();
    seed(&e, 20);
    let mut b = first_contact(&e, "dev-b");
    interrupted_slow_sync(&e, &mut b, 5);
    // A different Last than the suspended session's: the state is not used (508, slow).
    b.last = Some("bogus".into());
    let (out, status, mode) = session(&e, &mut b, AlertCode::Resume, vec![], 100);
    assert_eq!((status, mode), (508, AlertCode::SlowSync));
    assert_eq!(out.len(), 20, "a refused resume is a fresh slow sync: the map is dropped");

    let mut c = first_contact(&e, "dev-c");
    interrupted_slow_sync(&e, &mut c, 5);
    // A normal sync in between drops the saved state.
    session(&e, &mut c, AlertCode::SlowSync, vec![], 100);
    let (_, status, _) = session(&e, &mut c, AlertCode::Resume, vec![], 200);
    assert_eq!(status, 509);
}

#[test]
fn suspend_and_resume_need_ds_1_2() {
    let (e, _) = engine();
    let mut b = first_contact(&e, "dev-b");
    let c = ctx();
    for code in [AlertCode::Suspend, AlertCode::Resume] {
        let mut s = e.new_session();
        let mut m = msg(&b, "1", 1, Some(md5_cred(&b.nonce, "secret")), 150_000, vec![alert_with(&b, code)]);
        m.version = Version::V1_1;
        m.header.ver_dtd = "1.1".into();
        m.header.ver_proto = "SyncML/1.1".into();
        let r = e.handle(&mut s, m, &c);
        assert_eq!(header_status(&r).data, StatusCode::AuthenticationAccepted, "{:?}", r.message);
        take_nonce(&mut b, &r);
        assert_eq!(alert_status(&r), 406, "{code:?} in DS 1.1");
    }
}

#[test]
fn suspend_in_package_1_ends_the_session() {
    let (e, _) = engine();
    let mut b = first_contact(&e, "dev-b");
    let c = ctx();
    let mut s = e.new_session();
    let r = e.handle(
        &mut s,
        msg(
            &b,
            "1",
            1,
            Some(md5_cred(&b.nonce, "secret")),
            150_000,
            vec![alert_with(&b, AlertCode::TwoWay), suspend_alert()],
        ),
        &c,
    );
    take_nonce(&mut b, &r);
    assert!(r.finished && r.message.final_);
    assert_eq!(statuses(&r).iter().filter(|(c, code)| *c == CmdName::Alert && *code == 200).count(), 1);
    assert!(server_alert(&r).is_none(), "no server Alert after a suspend");
}
