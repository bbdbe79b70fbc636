//! The client session against the server engine in the same process (no sockets): whole
//! sessions of simulated devices, each message encoded and decoded as on the wire.

use std::sync::Arc;

use crate::client::local::{LocalItem, LocalStore, MemoryLocal};
use crate::client::session::{ClientConfig, ClientSession, DatastoreSpec, Next, Outcome, Report, SyncMode};
use crate::client::state::DeviceState;
use crate::codec::{decode_message, encode_message, Encoding, Limits};
use crate::engine::EngineConfig;
use crate::engine::{Context, Engine};
use crate::store::memory::MemoryStore;
use crate::store::Store;

/// A server engine with alice/secret.
fn server() -> Engine {
    server_and_store().0
}

fn server_and_store() -> (Engine, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store.create_user("alice", &crate::auth::md5_secret("alice", "secret")).unwrap();
    (Engine::new(store.clone(), EngineConfig::default()), store)
}

/// One simulated device.
struct Device {
    cfg: ClientConfig,
    state: DeviceState,
    local: MemoryLocal,
}

impl Device {
    fn new(id: &str, encoding: Encoding) -> Device {
        let mut cfg = ClientConfig::new(id, "alice", "secret");
        cfg.encoding = encoding;
        Device { cfg, state: DeviceState::default(), local: MemoryLocal::new() }
    }

    fn put(&mut self, luid: &str, text: &str) {
        let item = LocalItem {
            luid: luid.into(),
            content_type: "text/vcard".into(),
            parent: None,
            data: text.as_bytes().to_vec(),
        };
        self.local.put("contacts", item);
    }

    fn texts(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.local.items("contacts").unwrap().into_iter().map(|i| String::from_utf8(i.data).unwrap()).collect();
        v.sort();
        v
    }

    /// A whole session of this device against `e`, every message through the codec.
    fn sync(&mut self, e: &Engine, mode: SyncMode) -> Report {
        let spec = DatastoreSpec::new("contacts", "text/vcard", mode);
        let mut session =
            ClientSession::new(self.cfg.clone(), "http://127.0.0.1/sync", vec![spec], &mut self.state, 1_800_000_000);
        let mut server = e.new_session();
        let ctx = Context {
            resp_uri: "http://127.0.0.1/sync?sid=1".into(),
            now: 1_800_000_000,
            encoding: self.cfg.encoding,
            user_agent: None,
            suspend: false,
        };
        let mut msg = session.first_message();
        for _ in 0..500 {
            let wire = encode_message(&msg, self.cfg.encoding).unwrap();
            let (_, decoded) = decode_message(&wire, &Limits::default()).unwrap();
            let reply = e.handle(&mut server, decoded, &ctx);
            if reply.finished {
                // As the HTTP layer does: the next message starts a new server session.
                server = e.new_session();
            }
            let wire = encode_message(&reply.message, reply.encoding).unwrap();
            let (_, decoded) = decode_message(&wire, &Limits::default()).unwrap();
            match session.receive(decoded, &mut self.local).unwrap() {
                Next::Send(next) => msg = *next,
                Next::Done => return session.finish(&mut self.state, &self.local).unwrap(),
            }
        }
        panic!("the session did not end within 500 messages");
    }
}

fn vcard(name: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nN:{name};;;;\r\nFN:{name}\r\nEND:VCARD\r\n")
}

#[test]
fn two_devices_converge_in_every_encoding() {
    for enc in [Encoding::Xml, Encoding::Wbxml] {
        let e = server();
        let mut a = Device::new("dev-a", enc);
        let mut b = Device::new("dev-b", enc);
        for i in 0..20 {
            a.put(&format!("a{i}"), &vcard(&format!("A{i}")));
        }
        let r = a.sync(&e, SyncMode::TwoWay);
        assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
        let ds = &r.datastores[0];
        assert_eq!((ds.alert_status, ds.mode, ds.sent_replaced), (Some(508), Some(SyncMode::Slow), 20), "{ds:?}");
        b.put("b0", &vcard("B0"));
        let r = b.sync(&e, SyncMode::Slow);
        assert_eq!(r.outcome, Outcome::Ok);
        assert_eq!(r.datastores[0].received_added, 20);
        assert_eq!(b.texts().len(), 21);
        // A's normal sync brings B's item; nothing else moves.
        let r = a.sync(&e, SyncMode::TwoWay);
        assert_eq!(r.outcome, Outcome::Ok);
        assert_eq!(r.datastores[0].alert_status, Some(200));
        assert_eq!((r.datastores[0].received_added, r.datastores[0].sent_added), (1, 0));
        assert_eq!(a.texts(), b.texts());
        // Changes and deletes both ways.
        let luid = a.local.items("contacts").unwrap()[0].luid.clone();
        a.local.replace("contacts", &luid, "text/vcard", None, vcard("Changed").as_bytes()).unwrap();
        let gone = a.local.items("contacts").unwrap()[1].luid.clone();
        a.local.delete("contacts", &gone).unwrap();
        let r = a.sync(&e, SyncMode::TwoWay);
        assert_eq!((r.datastores[0].sent_replaced, r.datastores[0].sent_deleted), (1, 1), "{r:?}");
        let r = b.sync(&e, SyncMode::TwoWay);
        assert_eq!((r.datastores[0].received_replaced, r.datastores[0].received_deleted), (1, 1), "{r:?}");
        assert_eq!(a.texts(), b.texts());
        assert_eq!(a.texts().len(), 20);
        // Nothing left to move.
        let r = b.sync(&e, SyncMode::TwoWay);
        let ds = &r.datastores[0];
        assert_eq!((ds.sent_added + ds.sent_replaced + ds.sent_deleted, ds.received_added), (0, 0), "{ds:?}");
    }
}

#[test]
fn large_objects_go_both_ways_in_small_messages() {
    let e = server();
    let mut a = Device::new("dev-a", Encoding::Xml);
    let mut b = Device::new("dev-b", Encoding::Wbxml);
    a.cfg.max_msg_size = 4096;
    b.cfg.max_msg_size = 4096;
    let big = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big\r\nNOTE:{}\r\nEND:VCARD\r\n", "ä<&>x".repeat(6_000));
    a.put("big", &big);
    a.put("small", &vcard("Small"));
    let r = a.sync(&e, SyncMode::Slow);
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    let r = b.sync(&e, SyncMode::Slow);
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert!(r.messages > 10, "the big item came in chunks: {} messages", r.messages);
    assert_eq!(a.texts(), b.texts());
}

#[test]
fn refresh_modes_and_one_way() {
    let e = server();
    let mut a = Device::new("dev-a", Encoding::Xml);
    a.put("1", &vcard("One"));
    a.put("2", &vcard("Two"));
    assert_eq!(a.sync(&e, SyncMode::Slow).outcome, Outcome::Ok);
    let mut b = Device::new("dev-b", Encoding::Xml);
    b.put("x", &vcard("Local only"));
    let r = b.sync(&e, SyncMode::RefreshFromServer);
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(b.texts(), a.texts(), "the device now has exactly the server's items");
    b.put("y", &vcard("Three"));
    let r = b.sync(&e, SyncMode::RefreshFromClient);
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    let r = a.sync(&e, SyncMode::OneWayFromServer);
    assert_eq!((r.outcome.clone(), r.datastores[0].received_added), (Outcome::Ok, 1), "{r:?}");
    assert_eq!(a.texts(), b.texts());
}

#[test]
fn wrong_password_fails_cleanly() {
    let e = server();
    let mut a = Device::new("dev-a", Encoding::Xml);
    a.cfg.password = "wrong".into();
    let r = a.sync(&e, SyncMode::TwoWay);
    assert!(matches!(&r.outcome, Outcome::Failed(why) if why.contains("401")), "{r:?}");
    assert!(a.state.datastores.is_empty(), "no state change for a failed session");
}

#[test]
fn suspend_and_resume_send_nothing_twice() {
    let e = server();
    let mut a = Device::new("dev-a", Encoding::Xml);
    for i in 0..40 {
        a.put(&format!("a{i}"), &vcard(&format!("Person {i}")));
    }
    assert_eq!(a.sync(&e, SyncMode::Slow).outcome, Outcome::Ok);
    let mut b = Device::new("dev-b", Encoding::Xml);
    b.cfg.max_msg_size = 4096;
    b.cfg.suspend_after = Some(4);
    let r = b.sync(&e, SyncMode::Slow);
    assert_eq!(r.outcome, Outcome::Suspended, "{r:?}");
    let first = b.texts().len();
    assert!(first > 0 && first < 40, "{first} items before the suspend");
    b.cfg.suspend_after = None;
    let r = b.sync(&e, SyncMode::Slow);
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(r.datastores[0].alert_status, Some(200), "resume accepted: {r:?}");
    assert_eq!(r.datastores[0].received_added as usize, 40 - first, "{r:?}");
    assert_eq!(b.texts(), a.texts());
}

#[test]
fn an_item_put_into_a_folder_goes_as_move() {
    let (e, store) = server_and_store();
    let mut a = Device::new("dev-a", Encoding::Xml);
    a.put("folder", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Group\r\nEND:VCARD\r\n");
    a.put("x", &vcard("Member"));
    assert_eq!(a.sync(&e, SyncMode::Slow).outcome, Outcome::Ok);
    let item = a.local.items("contacts").unwrap().into_iter().find(|i| i.luid == "x").unwrap();
    a.local.replace("contacts", "x", &item.content_type, Some(Some("folder")), &item.data).unwrap();
    let r = a.sync(&e, SyncMode::TwoWay);
    let ds = &r.datastores[0];
    assert_eq!((ds.sent_moved, ds.sent_replaced, ds.sent_failed), (1, 0, 0), "{ds:?}");
    assert_eq!(ds.item_statuses.get(&200), Some(&1), "{ds:?}");
    let user = store.user_by_name("alice").unwrap().unwrap().id;
    let map: std::collections::HashMap<String, String> =
        store.id_map(user, "dev-a", "contacts").unwrap().into_iter().collect();
    let stored = store.item(user, "contacts", &map["x"]).unwrap().unwrap();
    assert_eq!(stored.parent.as_deref(), Some(map["folder"].as_str()), "the server moved it into the folder");
    // In step now: nothing moves again.
    let r = a.sync(&e, SyncMode::TwoWay);
    assert_eq!(r.datastores[0].sent_moved, 0);
}

/// The LUID of `dev`'s item whose text contains `needle`, and its parent LUID.
fn find(dev: &Device, needle: &str) -> (String, Option<String>) {
    let items = dev.local.items("contacts").unwrap();
    let item = items.into_iter().find(|i| String::from_utf8_lossy(&i.data).contains(needle)).unwrap();
    (item.luid, item.parent)
}

#[test]
fn folders_reach_another_device_parents_first() {
    let e = server();
    let mut a = Device::new("dev-a", Encoding::Wbxml);
    // Item LUIDs sort before the folder's, so the folder must be put first on purpose.
    a.put("z-folder", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Folder\r\nEND:VCARD\r\n");
    let inner = LocalItem {
        luid: "a-inner".into(),
        content_type: "text/vcard".into(),
        parent: Some("z-folder".into()),
        data: vcard("Inner").into_bytes(),
    };
    a.local.put("contacts", inner);
    a.put("b-top", &vcard("Top"));
    assert_eq!(a.sync(&e, SyncMode::TwoWay).outcome, Outcome::Ok);
    let mut b = Device::new("dev-b", Encoding::Xml);
    let r = b.sync(&e, SyncMode::Slow);
    assert_eq!((r.outcome.clone(), r.datastores[0].received_added), (Outcome::Ok, 3), "{r:?}");
    let (folder_b, _) = find(&b, "FN:Folder");
    assert_eq!(find(&b, "FN:Inner").1.as_deref(), Some(folder_b.as_str()), "the child arrived inside the folder");
    assert_eq!(find(&b, "FN:Top").1, None);

    // A moves the top item into the folder: B's next sync puts it there too.
    let (top_a, _) = find(&a, "FN:Top");
    let data = vcard("Top").into_bytes();
    a.local.replace("contacts", &top_a, "text/vcard", Some(Some("z-folder")), &data).unwrap();
    assert_eq!(a.sync(&e, SyncMode::TwoWay).datastores[0].sent_moved, 1);
    let r = b.sync(&e, SyncMode::TwoWay);
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    assert_eq!(find(&b, "FN:Top").1.as_deref(), Some(folder_b.as_str()), "moved on B too: {r:?}");

    // Deleting the folder alone is refused while it holds items (427), with its contents it goes.
    a.local.delete("contacts", "z-folder").unwrap();
    let r = a.sync(&e, SyncMode::TwoWay);
    assert_eq!(r.datastores[0].item_statuses.get(&427), Some(&1), "{r:?}");
    for luid in ["a-inner", &top_a] {
        a.local.delete("contacts", luid).unwrap();
    }
    let r = a.sync(&e, SyncMode::TwoWay);
    assert_eq!((r.datastores[0].sent_deleted, r.datastores[0].sent_failed), (3, 0), "{r:?}");
    let r = b.sync(&e, SyncMode::TwoWay);
    assert_eq!(r.datastores[0].received_deleted, 3, "{r:?}");
    assert!(b.texts().is_empty());
}
