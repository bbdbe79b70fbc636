//! Whole sessions exercising conflict policies (PROTOCOL.md §3.6) and the commands nested in a
//! Sync: Atomic, Sequence, Copy, Move (§2). Memory store, fixed clock, no sockets.

use std::sync::Arc;

use crate::engine::tests::{ctx, first_contact, header, header_status, md5_cred, session, take_nonce, Device, VCARD_A};
use crate::engine::{ConflictPolicy, Engine, EngineConfig};
use crate::proto::*;
use crate::store::memory::MemoryStore;
use crate::store::{ItemRecord, Store};

const SERVER_JOHN: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nTEL:+49 1\r\nNOTE:from B\r\nREV:20260101T000000Z\r\nEND:VCARD\r\n";
const CLIENT_JOHN: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nTEL:+49 1\r\nEMAIL:john@example.com\r\nREV:20270101T000000Z\r\nEND:VCARD\r\n";

fn engine_with(policy: ConflictPolicy) -> (Engine, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store.create_user("alice", &crate::auth::md5_secret("alice", "secret")).unwrap();
    let mut config = EngineConfig::default();
    config.datastores[0].conflict_policy = policy;
    (Engine::new(store.clone(), config), store)
}

fn items(store: &Arc<dyn Store>) -> Vec<ItemRecord> {
    let user = store.user_by_name("alice").unwrap().unwrap();
    store.items(user.id, "contacts").unwrap()
}

fn text(cmd: &Command) -> (&'static str, String, String) {
    let (kind, item) = match cmd {
        Command::Add(a) => ("add", &a.items[0]),
        Command::Replace(r) => ("replace", &r.items[0]),
        Command::Delete(d) => ("delete", &d.items[0]),
        other => panic!("unexpected {other:?}"),
    };
    let uri = item
        .source
        .as_ref()
        .map(|s| s.loc_uri.clone())
        .or_else(|| item.target.as_ref().map(|t| t.loc_uri.clone()))
        .unwrap_or_default();
    let data =
        item.data.as_ref().and_then(Data::bytes).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    (kind, uri, data)
}

/// The client's side of one session, keeping every status of package 3.
struct Outcome {
    /// (command, source ref, code) of every status but the header's and the Sync's.
    statuses: Vec<(CmdName, Option<String>, u16)>,
    out: Vec<Command>,
}

/// Like `tests::session` (two-way), but any status is allowed and all of them are returned.
fn run(e: &Engine, dev: &mut Device, changes: Vec<Command>, luid_base: u32) -> Outcome {
    let c = ctx();
    let mut s = e.new_session();
    let sid = format!("{}", dev.next);
    let pkg1 = Message {
        version: Version::V1_2,
        header: header(dev, &sid, 1, Some(md5_cred(&dev.nonce, "secret"))),
        body: vec![crate::engine::tests::alert(dev, AlertCode::TwoWay)],
        final_: true,
    };
    let r1 = e.handle(&mut s, pkg1, &c);
    assert_eq!(header_status(&r1).data, StatusCode::AuthenticationAccepted);
    take_nonce(dev, &r1);
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
    let statuses = r2
        .message
        .body
        .iter()
        .filter_map(|c| match c {
            Command::Status(st) if !matches!(st.cmd, CmdName::SyncHdr | CmdName::Sync) => {
                Some((st.cmd.clone(), st.source_refs.first().cloned(), st.data.code()))
            }
            _ => None,
        })
        .collect();
    let out = crate::engine::tests::server_sync(&r2).commands.clone();
    let body = crate::engine::tests::map_for(&out, luid_base);
    let r3 = e.handle(
        &mut s,
        Message { version: Version::V1_2, header: header(dev, &sid, 3, None), body, final_: true },
        &c,
    );
    assert!(r3.finished);
    dev.last = Some(dev.next.to_string());
    dev.next += 1;
    Outcome { statuses, out }
}

fn change(cmd_id: u32, kind: &str, luid: &str, data: &str) -> Command {
    crate::engine::tests::change(cmd_id, kind, luid, data)
}

/// A has John as LUID "1", B as LUID "50"; B then changes (or deletes) John on the server.
fn conflict_setup(policy: ConflictPolicy, b_change: &str) -> (Engine, Arc<dyn Store>, Device, Device) {
    let (e, store) = engine_with(policy);
    let mut a = first_contact(&e, "dev-a");
    session(&e, &mut a, AlertCode::TwoWay, vec![change(2, "add", "1", VCARD_A)], 100);
    let mut b = first_contact(&e, "dev-b");
    let (out, _, _) = session(&e, &mut b, AlertCode::SlowSync, vec![], 50);
    assert_eq!(out.len(), 1);
    let kind = if b_change.is_empty() { "delete" } else { "replace" };
    session(&e, &mut b, AlertCode::TwoWay, vec![change(2, kind, "50", b_change)], 60);
    (e, store, a, b)
}

fn status_of(o: &Outcome, cmd: CmdName) -> u16 {
    o.statuses
        .iter()
        .find(|(c, _, _)| *c == cmd)
        .map(|(_, _, code)| *code)
        .unwrap_or_else(|| panic!("no {cmd:?} status in {:?}", o.statuses))
}

#[test]
fn server_wins_sends_the_server_version() {
    let (e, store, mut a, _) = conflict_setup(ConflictPolicy::ServerWins, SERVER_JOHN);
    let o = run(&e, &mut a, vec![change(2, "replace", "1", CLIENT_JOHN)], 200);
    assert_eq!(o.statuses, [(CmdName::Replace, Some("1".into()), 419)]);
    assert_eq!(o.out.iter().map(text).collect::<Vec<_>>(), [("replace", "1".into(), SERVER_JOHN.into())]);
    assert_eq!(items(&store).len(), 1);
    assert_eq!(items(&store)[0].data, SERVER_JOHN.as_bytes());
    assert!(run(&e, &mut a, vec![], 300).out.is_empty());
}

#[test]
fn client_wins_stores_the_client_version_and_sends_nothing() {
    let (e, store, mut a, mut b) = conflict_setup(ConflictPolicy::ClientWins, SERVER_JOHN);
    let o = run(&e, &mut a, vec![change(2, "replace", "1", CLIENT_JOHN)], 200);
    assert_eq!(status_of(&o, CmdName::Replace), 208);
    assert!(o.out.is_empty(), "{:?}", o.out);
    assert_eq!(items(&store)[0].data, CLIENT_JOHN.as_bytes());
    let o = run(&e, &mut b, vec![], 300);
    assert_eq!(o.out.iter().map(text).collect::<Vec<_>>(), [("replace", "50".into(), CLIENT_JOHN.into())]);
}

#[test]
fn newer_wins_by_rev() {
    // The client's REV (2027) is later than the server's (2026): client wins.
    let (e, store, mut a, _) = conflict_setup(ConflictPolicy::NewerWins, SERVER_JOHN);
    let o = run(&e, &mut a, vec![change(2, "replace", "1", CLIENT_JOHN)], 200);
    assert_eq!(status_of(&o, CmdName::Replace), 208);
    assert!(o.out.is_empty());
    assert_eq!(items(&store)[0].data, CLIENT_JOHN.as_bytes());

    // An older client REV loses.
    let (e, store, mut a, _) = conflict_setup(ConflictPolicy::NewerWins, SERVER_JOHN);
    let old = CLIENT_JOHN.replace("REV:2027", "REV:2025");
    let o = run(&e, &mut a, vec![change(2, "replace", "1", &old)], 200);
    assert_eq!(status_of(&o, CmdName::Replace), 419);
    assert_eq!(o.out.iter().map(text).collect::<Vec<_>>(), [("replace", "1".into(), SERVER_JOHN.into())]);
    assert_eq!(items(&store)[0].data, SERVER_JOHN.as_bytes());

    // The same time on both sides is undecidable: both kept.
    let (e, store, mut a, _) = conflict_setup(ConflictPolicy::NewerWins, SERVER_JOHN);
    let same = CLIENT_JOHN.replace("REV:2027", "REV:2026");
    let o = run(&e, &mut a, vec![change(2, "replace", "1", &same)], 200);
    assert_eq!(status_of(&o, CmdName::Replace), 209);
    assert_eq!(items(&store).len(), 2);
}

#[test]
fn duplicate_keeps_both_versions() {
    let (e, store, mut a, mut b) = conflict_setup(ConflictPolicy::Duplicate, SERVER_JOHN);
    let o = run(&e, &mut a, vec![change(2, "replace", "1", CLIENT_JOHN)], 200);
    assert_eq!(status_of(&o, CmdName::Replace), 209);
    // The server's version comes to A as a new item (its old mapping is gone).
    let sent: Vec<_> = o.out.iter().map(text).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].0, sent[0].2.as_str()), ("add", SERVER_JOHN));
    let mut data: Vec<Vec<u8>> = items(&store).into_iter().map(|i| i.data).collect();
    data.sort();
    let mut want = vec![SERVER_JOHN.as_bytes().to_vec(), CLIENT_JOHN.as_bytes().to_vec()];
    want.sort();
    assert_eq!(data, want);
    // A is up to date; B gets the client's version as a new item.
    assert!(run(&e, &mut a, vec![], 300).out.is_empty());
    let o = run(&e, &mut b, vec![], 400);
    assert_eq!(o.out.iter().map(text).map(|(k, _, d)| (k, d)).collect::<Vec<_>>(), [("add", CLIENT_JOHN.to_string())]);
}

#[test]
fn merge_stores_and_sends_the_merged_item() {
    let (e, store, mut a, mut b) = conflict_setup(ConflictPolicy::Merge, SERVER_JOHN);
    let o = run(&e, &mut a, vec![change(2, "replace", "1", CLIENT_JOHN)], 200);
    assert_eq!(status_of(&o, CmdName::Replace), 207);
    let merged = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nTEL:+49 1\r\nNOTE:from B\r\nREV:20260101T000000Z\r\nEMAIL:john@example.com\r\nEND:VCARD\r\n";
    assert_eq!(o.out.iter().map(text).collect::<Vec<_>>(), [("replace", "1".into(), merged.into())]);
    assert_eq!(items(&store).len(), 1);
    assert_eq!(items(&store)[0].data, merged.as_bytes());
    assert!(run(&e, &mut a, vec![], 300).out.is_empty());
    let o = run(&e, &mut b, vec![], 400);
    assert_eq!(o.out.iter().map(text).collect::<Vec<_>>(), [("replace", "50".into(), merged.into())]);
}

#[test]
fn merge_of_plain_text_falls_back_to_duplicate() {
    let (e, store) = engine_with(ConflictPolicy::Merge);
    let mut a = synced_device(&e);
    let mut b = first_contact(&e, "dev-b");
    session(&e, &mut b, AlertCode::SlowSync, vec![], 50);
    // Both change the item into a plain-text memo: nothing to merge by property.
    let memo = |cmd_id, luid: &str, data: &str| {
        let item = Item { source: Some(Source::uri(luid)), data: Some(Data::from(data)), ..Default::default() };
        Command::Replace(Replace {
            cmd_id,
            meta: Some(Meta::with_type("text/plain")),
            items: vec![item],
            ..Default::default()
        })
    };
    session(&e, &mut b, AlertCode::TwoWay, vec![memo(2, "50", "memo from B")], 60);
    let o = run(&e, &mut a, vec![memo(2, "1", "memo from A")], 200);
    assert_eq!(status_of(&o, CmdName::Replace), 209);
    assert_eq!(items(&store).len(), 2);
}

#[test]
fn client_delete_against_server_modify_re_adds_the_item() {
    for policy in [ConflictPolicy::ServerWins, ConflictPolicy::ClientWins, ConflictPolicy::Merge] {
        let (e, store, mut a, _) = conflict_setup(policy, SERVER_JOHN);
        let o = run(&e, &mut a, vec![change(2, "delete", "1", "")], 200);
        assert_eq!(o.statuses, [(CmdName::Delete, Some("1".into()), 419)], "{policy:?}");
        let sent: Vec<_> = o.out.iter().map(text).collect();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].0, sent[0].2.as_str()), ("add", SERVER_JOHN));
        assert_eq!(items(&store).len(), 1);
        // Mapped again under the new LUID: nothing more to send.
        assert!(run(&e, &mut a, vec![], 300).out.is_empty());
    }
}

#[test]
fn client_modify_against_server_delete_re_adds_the_item() {
    let (e, store, mut a, mut b) = conflict_setup(ConflictPolicy::ServerWins, "");
    assert!(items(&store).is_empty());
    let o = run(&e, &mut a, vec![change(2, "replace", "1", CLIENT_JOHN)], 200);
    assert_eq!(o.statuses, [(CmdName::Replace, Some("1".into()), 201)]);
    assert!(o.out.is_empty(), "the server's Delete is not sent: {:?}", o.out);
    assert_eq!(items(&store).len(), 1);
    assert_eq!(items(&store)[0].data, CLIENT_JOHN.as_bytes());
    let o = run(&e, &mut b, vec![], 300);
    assert_eq!(o.out.iter().map(text).map(|(k, _, d)| (k, d)).collect::<Vec<_>>(), [("add", CLIENT_JOHN.to_string())]);
    assert!(run(&e, &mut a, vec![], 400).out.is_empty());
}

// ---- Atomic, Sequence, Copy, Move inside Sync -------------------------------------------

fn synced_device(e: &Engine) -> Device {
    let mut a = first_contact(e, "dev-a");
    session(e, &mut a, AlertCode::TwoWay, vec![change(2, "add", "1", VCARD_A)], 100);
    a
}

fn atomic(cmd_id: u32, commands: Vec<Command>) -> Command {
    Command::Atomic(Atomic { cmd_id, commands, ..Default::default() })
}

fn sequence(cmd_id: u32, commands: Vec<Command>) -> Command {
    Command::Sequence(Sequence { cmd_id, commands, ..Default::default() })
}

fn card(n: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{n}\r\nN:{n};;;;\r\nEND:VCARD\r\n")
}

#[test]
fn atomic_commits_all_or_nothing() {
    let (e, store) = engine_with(ConflictPolicy::ServerWins);
    let mut a = synced_device(&e);
    let o = run(
        &e,
        &mut a,
        vec![atomic(2, vec![change(3, "add", "10", &card("a")), change(4, "add", "11", &card("b"))])],
        200,
    );
    assert_eq!(
        o.statuses,
        [(CmdName::Atomic, None, 200), (CmdName::Add, Some("10".into()), 201), (CmdName::Add, Some("11".into()), 201)]
    );
    assert_eq!(items(&store).len(), 3);

    // One failing command (Delete of an unknown LUID) rolls back the Add and the map: after the
    // Atomic, a Replace of LUID 12 is a new item, not a change of the rolled-back one.
    let o = run(
        &e,
        &mut a,
        vec![
            atomic(2, vec![change(3, "add", "12", &card("c")), change(4, "delete", "999", "")]),
            change(5, "replace", "12", &card("d")),
        ],
        300,
    );
    assert_eq!(
        o.statuses,
        [
            (CmdName::Atomic, None, 507),
            (CmdName::Add, Some("12".into()), 216),
            (CmdName::Delete, Some("999".into()), 404),
            (CmdName::Replace, Some("12".into()), 201),
        ]
    );
    let data: Vec<Vec<u8>> = items(&store).into_iter().map(|i| i.data).collect();
    assert_eq!(data.len(), 4);
    assert!(!data.contains(&card("c").into_bytes()));
}

#[test]
fn nested_atomic_is_refused_and_fails_the_outer_one() {
    let (e, store) = engine_with(ConflictPolicy::ServerWins);
    let mut a = synced_device(&e);
    let o = run(&e, &mut a, vec![atomic(2, vec![change(3, "add", "10", &card("a")), atomic(4, vec![])])], 200);
    assert_eq!(
        o.statuses,
        [(CmdName::Atomic, None, 507), (CmdName::Add, Some("10".into()), 216), (CmdName::Atomic, None, 406)]
    );
    assert_eq!(items(&store).len(), 1);
}

#[test]
fn sequence_stops_at_the_first_failure() {
    let (e, store) = engine_with(ConflictPolicy::ServerWins);
    let mut a = synced_device(&e);
    let o = run(
        &e,
        &mut a,
        vec![sequence(
            2,
            vec![
                change(3, "add", "20", &card("a")),
                change(4, "delete", "999", ""),
                change(5, "add", "21", &card("b")),
            ],
        )],
        200,
    );
    assert_eq!(
        o.statuses,
        [
            (CmdName::Sequence, None, 200),
            (CmdName::Add, Some("20".into()), 201),
            (CmdName::Delete, Some("999".into()), 404),
            (CmdName::Add, Some("21".into()), 215),
        ]
    );
    assert_eq!(items(&store).len(), 2);
}

#[test]
fn copy_adds_a_new_item() {
    let (e, store) = engine_with(ConflictPolicy::ServerWins);
    let mut a = synced_device(&e);
    let with_data =
        Item { source: Some(Source::uri("30")), data: Some(Data::from(card("copy").as_str())), ..Default::default() };
    let from_original = Item { source: Some(Source::uri("31")), target: Some(Target::uri("1")), ..Default::default() };
    let unknown = Item { source: Some(Source::uri("32")), target: Some(Target::uri("nope")), ..Default::default() };
    let copy = Command::Copy(Copy {
        cmd_id: 2,
        meta: Some(Meta::with_type("text/vcard")),
        items: vec![with_data, from_original, unknown],
        ..Default::default()
    });
    let o = run(&e, &mut a, vec![copy], 200);
    assert_eq!(
        o.statuses,
        [
            (CmdName::Copy, Some("30".into()), 201),
            (CmdName::Copy, Some("31".into()), 201),
            (CmdName::Copy, Some("32".into()), 404)
        ]
    );
    let data: Vec<Vec<u8>> = items(&store).into_iter().map(|i| i.data).collect();
    assert_eq!(data.iter().filter(|d| d.as_slice() == VCARD_A.as_bytes()).count(), 2);
    assert!(data.contains(&card("copy").into_bytes()));
    // The copies are mapped: changing one is a Replace (200), not a new item.
    let o = run(&e, &mut a, vec![change(2, "replace", "31", &card("changed"))], 300);
    assert_eq!(o.statuses, [(CmdName::Replace, Some("31".into()), 200)]);
    assert_eq!(items(&store).len(), 3);
}

#[test]
fn move_changes_the_parent() {
    let (e, store) = engine_with(ConflictPolicy::ServerWins);
    let mut a = synced_device(&e);
    let moving = |cmd_id, luid: &str, source_parent: Option<&str>, target_parent: Option<String>| {
        let item = Item {
            source: Some(Source::uri(luid)),
            source_parent: source_parent.map(str::to_string),
            target_parent,
            ..Default::default()
        };
        Command::Move(Move { cmd_id, items: vec![item], ..Default::default() })
    };
    // The folder is added in the same Sync, before the Move: it is committed first, so mapped.
    let o = run(
        &e,
        &mut a,
        vec![
            change(2, "add", "f1", &card("folder")),
            moving(3, "1", Some("f1"), None),
            moving(4, "1", Some("nope"), None),
        ],
        200,
    );
    assert_eq!(
        o.statuses,
        [
            (CmdName::Add, Some("f1".into()), 201),
            (CmdName::Move, Some("1".into()), 200),
            (CmdName::Move, Some("1".into()), 428)
        ]
    );
    let all = items(&store);
    let folder = all.iter().find(|i| i.data == card("folder").as_bytes()).unwrap().guid.clone();
    let john = all.iter().find(|i| i.data == VCARD_A.as_bytes()).unwrap();
    assert_eq!(john.parent.as_deref(), Some(folder.as_str()));
    assert!(run(&e, &mut a, vec![], 300).out.is_empty(), "the device's own Move is not echoed");

    // TargetParent names the server GUID; a folder cannot move below its own child; an unknown
    // item cannot move.
    let o = run(
        &e,
        &mut a,
        vec![
            change(2, "add", "f2", &card("folder 2")),
            moving(3, "1", None, Some(folder.clone())),
            moving(4, "f1", Some("1"), None),
            moving(5, "zz", Some("f1"), None),
        ],
        400,
    );
    assert_eq!(
        o.statuses,
        [
            (CmdName::Add, Some("f2".into()), 201),
            (CmdName::Move, Some("1".into()), 200),
            (CmdName::Move, Some("f1".into()), 428),
            (CmdName::Move, Some("zz".into()), 428),
        ]
    );
}

#[test]
fn move_of_an_item_changed_on_the_server_still_delivers_the_change() {
    let (e, store, mut a, _) = conflict_setup(ConflictPolicy::ServerWins, SERVER_JOHN);
    let item =
        Item { source: Some(Source::uri("f")), data: Some(Data::from(card("folder").as_str())), ..Default::default() };
    let add_folder = Command::Add(Add {
        cmd_id: 2,
        meta: Some(Meta::with_type("text/vcard")),
        items: vec![item],
        ..Default::default()
    });
    let mv = Command::Move(Move {
        cmd_id: 3,
        items: vec![Item { source: Some(Source::uri("1")), source_parent: Some("f".into()), ..Default::default() }],
        ..Default::default()
    });
    let o = run(&e, &mut a, vec![add_folder, mv], 200);
    assert_eq!(status_of(&o, CmdName::Move), 200);
    assert_eq!(o.out.iter().map(text).collect::<Vec<_>>(), [("replace", "1".into(), SERVER_JOHN.into())]);
    assert!(items(&store).iter().any(|i| i.data == SERVER_JOHN.as_bytes() && i.parent.is_some()));
}
