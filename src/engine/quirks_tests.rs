//! Test vectors of the device quirks (`quirks.rs`): each switch with and without, through the
//! engine with the memory store, quirks picked by User-Agent or by the client's DevInf.

use std::sync::Arc;

use crate::codec::Encoding;
use crate::engine::tests::{alert, change, header, header_status, server_sync, statuses, Device, VCARD_A};
use crate::engine::{Context, Engine, EngineConfig, QuirkRule, Reply, Session};
use crate::proto::*;
use crate::store::memory::MemoryStore;
use crate::store::{Commit, Mutation, Store};

const UA: &str = "TestPhone/1.0 SyncML";

fn engine_with(rules: Vec<QuirkRule>) -> (Engine, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store.create_user("alice", &crate::auth::md5_secret("alice", "secret")).unwrap();
    (Engine::new(store.clone(), EngineConfig { quirks: rules, ..Default::default() }), store)
}

/// A rule for the test phone's User-Agent.
fn ua_rule(set: impl FnOnce(&mut QuirkRule)) -> Vec<QuirkRule> {
    let mut rule = QuirkRule { user_agent: Some("testphone".into()), ..Default::default() };
    set(&mut rule);
    vec![rule]
}

fn ctx(ua: Option<&str>) -> Context {
    Context {
        resp_uri: "http://127.0.0.1/sync?sid=t".into(),
        now: 1_800_000_000,
        encoding: Encoding::Xml,
        user_agent: ua.map(str::to_string),
        suspend: false,
    }
}

fn device(id: &str) -> Device {
    Device { id: id.into(), nonce: Vec::new(), next: 1, last: None }
}

/// The first message of a session, authenticated with basic auth.
fn pkg1(dev: &Device, body: Vec<Command>) -> Message {
    let cred = Cred {
        meta: Some(Meta { type_: Some("syncml:auth-basic".into()), format: Some("b64".into()), ..Default::default() }),
        data: crate::auth::basic_credential("alice", "secret").into_bytes(),
    };
    Message { version: Version::V1_2, header: header(dev, "1", 1, Some(cred)), body, final_: true }
}

fn alert_to(dev: &Device, target: &str, source: &str) -> Command {
    let mut cmd = alert(dev, AlertCode::SlowSync);
    if let Command::Alert(a) = &mut cmd {
        a.items[0].target = Some(Target::uri(target));
        a.items[0].source = Some(Source::uri(source));
    }
    cmd
}

fn server_alert(reply: &Reply) -> Option<&Alert> {
    reply.message.body.iter().find_map(|c| match c {
        Command::Alert(a) => Some(a),
        _ => None,
    })
}

fn get_devinf() -> Command {
    Command::Get(Get {
        cmd_id: 2,
        meta: Some(Meta::with_type("application/vnd.syncml-devinf+xml")),
        items: vec![Item { target: Some(Target::uri("./devinf12")), ..Default::default() }],
        ..Default::default()
    })
}

fn put_devinf(man: &str, model: &str) -> Command {
    let di = DevInf { man: Some(man.into()), mod_: Some(model.into()), dev_id: "x".into(), ..Default::default() };
    Command::Put(Put {
        cmd_id: 3,
        meta: Some(Meta::with_type("application/vnd.syncml-devinf+xml")),
        items: vec![Item {
            source: Some(Source::uri("./devinf12")),
            data: Some(Data::DevInf(Box::new(di))),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn results(reply: &Reply) -> &Results {
    reply
        .message
        .body
        .iter()
        .find_map(|c| match c {
            Command::Results(r) => Some(r),
            _ => None,
        })
        .expect("Results")
}

fn devinf_source_ref(reply: &Reply) -> String {
    match &results(reply).items[0].data {
        Some(Data::DevInf(di)) => di.data_stores[0].source_ref.clone(),
        other => panic!("no DevInf: {other:?}"),
    }
}

/// Package 3: one Add carrying `luids.len()` items.
fn sync_with_add(dev: &Device, luids: &[&str]) -> Message {
    let items = luids
        .iter()
        .enumerate()
        .map(|(i, l)| Item {
            source: Some(Source::uri(*l)),
            data: Some(Data::from(VCARD_A.replace("+49 1", &format!("+49 {i}")).as_str())),
            ..Default::default()
        })
        .collect();
    let add = Command::Add(Add { cmd_id: 2, meta: Some(Meta::with_type("text/vcard")), items, ..Default::default() });
    let sync = Command::Sync(Sync {
        cmd_id: 1,
        target: Some(Target::uri("contacts")),
        source: Some(Source::uri("./addressbook")),
        commands: vec![add],
        ..Default::default()
    });
    Message { version: Version::V1_2, header: header(dev, "1", 2, None), body: vec![sync], final_: true }
}

fn add_statuses(reply: &Reply) -> Vec<(u32, Vec<String>)> {
    reply
        .message
        .body
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if s.cmd == CmdName::Add => Some((s.cmd_id, s.source_refs.clone())),
            _ => None,
        })
        .collect()
}

fn cmd_ids(reply: &Reply) -> Vec<u32> {
    reply.message.body.iter().map(Command::cmd_id).collect()
}

#[test]
fn status_per_command_folds_item_statuses() {
    for on in [false, true] {
        let (e, _) = engine_with(ua_rule(|r| r.status_per_command = Some(true)));
        let dev = device("dev-spc");
        let ua = on.then_some(UA);
        let mut s: Session = e.new_session();
        e.handle(&mut s, pkg1(&dev, vec![alert(&dev, AlertCode::SlowSync)]), &ctx(ua));
        assert_eq!(s.quirks().status_per_command, on);
        let r = e.handle(&mut s, sync_with_add(&dev, &["1", "2", "3"]), &ctx(ua));
        assert!(statuses(&r).iter().all(|(_, code)| *code < 300), "{:?}", statuses(&r));
        let adds = add_statuses(&r);
        if on {
            assert_eq!(adds.len(), 1, "{adds:?}");
            assert_eq!(adds[0].1, ["1", "2", "3"]);
        } else {
            let refs: Vec<Vec<String>> = adds.iter().map(|a| a.1.clone()).collect();
            assert_eq!(refs, [vec!["1".to_string()], vec!["2".into()], vec!["3".into()]]);
        }
        // CmdIDs stay consecutive after folding.
        let ids = cmd_ids(&r);
        assert_eq!(ids, (1..=ids.len() as u32).collect::<Vec<_>>());
    }
}

#[test]
fn force_encoding_overrides_the_request() {
    let cases = [
        (vec![], Encoding::Xml),
        (ua_rule(|r| r.force_wbxml = Some(true)), Encoding::Wbxml),
        (ua_rule(|r| r.force_xml = Some(true)), Encoding::Xml),
    ];
    for (rules, want) in cases {
        let (e, _) = engine_with(rules);
        let dev = device("dev-enc");
        let mut s = e.new_session();
        let r = e.handle(&mut s, pkg1(&dev, vec![alert(&dev, AlertCode::SlowSync), get_devinf()]), &ctx(Some(UA)));
        assert_eq!(r.encoding, want);
        assert_eq!(results(&r).meta.as_ref().and_then(|m| m.type_.as_deref()), Some(want.devinf_type()));
    }
    // A WBXML request under force_xml is answered in XML.
    let (e, _) = engine_with(ua_rule(|r| r.force_xml = Some(true)));
    let dev = device("dev-enc2");
    let mut s = e.new_session();
    let c = Context { encoding: Encoding::Wbxml, ..ctx(Some(UA)) };
    assert_eq!(e.handle(&mut s, pkg1(&dev, vec![alert(&dev, AlertCode::SlowSync)]), &c).encoding, Encoding::Xml);
}

#[test]
fn empty_target_uses_source_by_user_agent_devinf_put_or_stored_devinf() {
    let (e, _) = engine_with(vec![]);
    let dev = device("dev-c510");
    // Without the quirk an empty Target is an unknown datastore.
    let mut s = e.new_session();
    let r = e.handle(&mut s, pkg1(&dev, vec![alert_to(&dev, "", "contacts")]), &ctx(Some(UA)));
    assert_eq!(statuses(&r)[1], (CmdName::Alert, 404));
    assert!(server_alert(&r).is_none());
    // The built-in rule, by User-Agent.
    let mut s = e.new_session();
    let c510 = Some("SonyEricssonC510/R1FA035 Browser/NetFront/3.4 Profile/MIDP-2.1");
    let r = e.handle(&mut s, pkg1(&dev, vec![alert_to(&dev, "", "contacts")]), &ctx(c510));
    assert!(s.quirks().empty_target_uses_source);
    assert_eq!(statuses(&r)[1].1, 200);
    let a = server_alert(&r).expect("server alert");
    assert_eq!(a.items[0].source.as_ref().map(|x| x.loc_uri.as_str()), Some("contacts"));
    // By the DevInf Put in package 1 (after the Alert: resolved before any command runs).
    let mut s = e.new_session();
    let body = vec![alert_to(&dev, "", "contacts"), put_devinf("Sony Ericsson", "C510")];
    let r = e.handle(&mut s, pkg1(&dev, body), &ctx(None));
    assert_eq!(statuses(&r)[1].1, 200, "{:?}", statuses(&r));
    // The Sync with an empty Target finds the datastore too.
    let sync = Command::Sync(Sync {
        cmd_id: 1,
        target: Some(Target::uri("")),
        source: Some(Source::uri("contacts")),
        commands: vec![change(2, "add", "1", VCARD_A)],
        ..Default::default()
    });
    let r = e.handle(
        &mut s,
        Message { version: Version::V1_2, header: header(&dev, "1", 2, None), body: vec![sync], final_: true },
        &ctx(None),
    );
    assert_eq!(statuses(&r)[1], (CmdName::Sync, 200));
    // Next session: the stored DevInf identifies the phone.
    let mut s = e.new_session();
    let r = e.handle(&mut s, pkg1(&dev, vec![alert_to(&dev, "", "contacts")]), &ctx(None));
    assert!(s.quirks().empty_target_uses_source);
    assert_eq!(statuses(&r)[1].1, 200);
    // Turning the built-in rules off restores the 404.
    let cfg = EngineConfig { default_quirks: false, ..Default::default() };
    let (e, _) = (Engine::new(e.store().clone(), cfg), ());
    let mut s = e.new_session();
    let r = e.handle(&mut s, pkg1(&dev, vec![alert_to(&dev, "", "contacts")]), &ctx(c510));
    assert_eq!(statuses(&r)[1].1, 404);
}

#[test]
fn echo_datastore_string_is_switchable() {
    for (rules, want) in
        [(vec![], "./contacts?type=vcard"), (ua_rule(|r| r.echo_datastore_string = Some(false)), "contacts")]
    {
        let (e, _) = engine_with(rules);
        let dev = device("dev-echo");
        let mut s = e.new_session();
        let body = vec![alert_to(&dev, "./contacts?type=vcard", "./addressbook"), get_devinf()];
        let r = e.handle(&mut s, pkg1(&dev, body), &ctx(Some(UA)));
        assert_eq!(header_status(&r).data, StatusCode::AuthenticationAccepted);
        let a = server_alert(&r).expect("server alert");
        assert_eq!(a.items[0].source.as_ref().map(|x| x.loc_uri.as_str()), Some(want));
        assert_eq!(devinf_source_ref(&r), want);
    }
}

#[test]
fn no_replace_in_slow_sync_holds_with_and_without_the_switch() {
    for rules in [vec![], ua_rule(|r| r.no_replace_in_slow_sync = Some(true))] {
        let (e, store) = engine_with(rules);
        let user = store.user_by_name("alice").unwrap().unwrap();
        let other = VCARD_A.replace("John", "Jim");
        let mutations = [VCARD_A, other.as_str()]
            .iter()
            .map(|d| Mutation::Add { parent: None, content_type: "text/vcard".into(), data: d.as_bytes().to_vec() })
            .collect();
        store.commit(user.id, "web", "contacts", &Commit { mutations, ..Default::default() }).unwrap();
        let dev = device("dev-slow");
        let mut s = e.new_session();
        e.handle(&mut s, pkg1(&dev, vec![alert(&dev, AlertCode::SlowSync)]), &ctx(Some(UA)));
        // The client's copy of John, changed: in a slow sync it is matched or added, never replaced.
        let changed = VCARD_A.replace("+49 1", "+49 2");
        let sync = Command::Sync(Sync {
            cmd_id: 1,
            target: Some(Target::uri("contacts")),
            source: Some(Source::uri("./addressbook")),
            commands: vec![change(2, "replace", "1", &changed)],
            ..Default::default()
        });
        let r = e.handle(
            &mut s,
            Message { version: Version::V1_2, header: header(&dev, "1", 2, None), body: vec![sync], final_: true },
            &ctx(Some(UA)),
        );
        let out = &server_sync(&r).commands;
        assert!(!out.is_empty());
        assert!(out.iter().all(|c| matches!(c, Command::Add(_))), "{out:?}");
    }
}
