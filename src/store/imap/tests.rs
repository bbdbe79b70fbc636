//! The IMAP store over the in-memory IMAP server (`fake`): the whole store battery (everything
//! outside the IMAP datastore passes through to the local store), the IMAP datastore's checks
//! (`checks`, which tests/it/imap_store.rs also runs against Dovecot), and what only the
//! in-memory server can do: a new UIDVALIDITY, and the server going away at a chosen moment of a
//! device's session.

use std::sync::{Arc, Mutex};

use super::fake::FakeMailer;
use super::ImapStore;
use crate::cpm::objects::{Email, EMAIL_TYPE};
use crate::imap::FlagMode;
use crate::store::battery::store_battery;
use crate::store::memory::MemoryStore;
use crate::store::observed::{ObservedStore, StoreEvent};
use crate::store::{Origin, Store};

const DS: &str = "messages";

fn store() -> (ImapStore, FakeMailer) {
    let mail = FakeMailer::default();
    (ImapStore::new(Arc::new(MemoryStore::new()), Arc::new(mail.clone()), DS), mail)
}

store_battery!(|| Box::new(store().0));

fn mail(subject: &str, read: bool) -> Vec<u8> {
    let text = format!("From: a@example.com\r\nSubject: {subject}\r\n\r\nText of {subject}.\r\n");
    Email { read, emailitem: text.into_bytes(), ..Default::default() }.to_xml()
}

fn bodies(m: &FakeMailer, user: &str, mailbox: &str) -> Vec<(Vec<String>, String)> {
    let s = m.server();
    let b = &s.boxes[&(user.to_string(), mailbox.to_string())];
    b.messages.values().map(|(f, body, _)| (f.clone(), String::from_utf8_lossy(body).into_owned())).collect()
}

#[test]
fn a_new_uidvalidity_reindexes_without_doubles_and_makes_devices_slow_sync() {
    let (s, m) = store();
    let u = s.create_user("alice", "x").unwrap().id;
    s.pull_backend(u).unwrap();
    for i in 0..3 {
        m.server().append("alice", "INBOX", &[], format!("Subject: {i}\r\n\r\nx\r\n").as_bytes()).unwrap();
    }
    s.pull_backend(u).unwrap();
    s.set_anchor(u, "phone", DS, &crate::store::SyncAnchor { client_next: "1".into(), ..Default::default() }).unwrap();
    m.server().renumber("alice", "INBOX").unwrap();
    s.pull_backend(u).unwrap();
    assert_eq!(s.guids(u, DS).unwrap().len(), 4, "INBOX and three messages, once each");
    assert_eq!(s.anchor(u, "phone", DS).unwrap(), None, "the phone's next sync is slow");
    assert_eq!(s.items(u, DS).unwrap().len(), 4, "every message readable under its new UID");
}

#[test]
fn pulled_changes_are_told_through_an_observing_wrapper() {
    let (s, m) = store();
    let told: Arc<Mutex<Vec<StoreEvent>>> = Arc::default();
    let sink = told.clone();
    let observed = ObservedStore::new(Arc::new(s), Arc::new(move |e| sink.lock().unwrap().push(e)));
    let u = observed.create_user("alice", "x").unwrap().id;
    observed.pull_backend(u).unwrap();
    m.server().append("alice", "INBOX", &[], b"Subject: news\r\n\r\nx\r\n").unwrap();
    observed.pull_backend(u).unwrap();
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 2, "{told:?}");
    assert_eq!((told[1].datastore.as_str(), &told[1].origin, told[1].items.len()), (DS, &Origin::Backend, 1));
}

/// One session of the simulated client against an engine over `store`, in process.
fn sync(
    engine: &crate::engine::Engine,
    device: &str,
    mode: crate::client::SyncMode,
    state: &mut crate::client::DeviceState,
    local: &mut crate::client::MemoryLocal,
) -> crate::client::Report {
    sync_with(engine, device, mode, 65_536, state, local, |_| {}).expect("the session runs")
}

/// [`sync`] with the device's MaxMsgSize and `before(n)` called before the server handles the
/// n-th message; a session the client gives up is its error.
fn sync_with(
    engine: &crate::engine::Engine,
    device: &str,
    mode: crate::client::SyncMode,
    max_msg_size: u64,
    state: &mut crate::client::DeviceState,
    local: &mut crate::client::MemoryLocal,
    mut before: impl FnMut(usize),
) -> Result<crate::client::Report, crate::client::ClientError> {
    use crate::client::{ClientConfig, ClientSession, DatastoreSpec, Next};
    let cfg = ClientConfig {
        encoding: crate::codec::Encoding::Xml,
        max_msg_size,
        ..ClientConfig::new(device, "alice", "pw")
    };
    let specs = vec![DatastoreSpec::new(DS, EMAIL_TYPE, mode)];
    let mut client = ClientSession::new(cfg, "http://t/sync", specs, state, 1_800_000_000);
    let mut server = engine.new_session();
    let mut msg = client.first_message();
    for n in 0..1000 {
        before(n);
        let ctx = crate::engine::Context {
            resp_uri: "http://t/sync?sid=1".into(),
            now: 1_800_000_000,
            encoding: crate::codec::Encoding::Xml,
            user_agent: None,
            suspend: false,
        };
        let reply = engine.handle(&mut server, msg, &ctx);
        if reply.finished {
            server = engine.new_session();
        }
        match client.receive(reply.message, local) {
            Ok(Next::Send(next)) => msg = *next,
            Ok(Next::Done) => break,
            Err(e) => {
                let _ = client.finish(state, local);
                return Err(e);
            }
        }
    }
    client.finish(state, local)
}

#[test]
fn a_device_syncing_while_imap_is_down_gets_503_loses_nothing_and_converges() {
    use crate::client::{DeviceState, LocalItem, LocalStore as _, MemoryLocal, SyncMode};
    let (s, m) = store();
    let s: Arc<dyn Store> = Arc::new(s);
    s.create_user("alice", &crate::auth::md5_secret("alice", "pw")).unwrap();
    let engine = crate::engine::Engine::new(s.clone(), crate::engine::EngineConfig::default());
    let (mut state, mut local) = (DeviceState::default(), MemoryLocal::new());
    let first = sync(&engine, "phone", SyncMode::Slow, &mut state, &mut local);
    assert_eq!(first.datastores[0].received_added, 1, "INBOX: {first:?}");
    let inbox = local.items(DS).unwrap()[0].luid.clone();
    let item = LocalItem {
        luid: "new-1".into(),
        content_type: EMAIL_TYPE.into(),
        parent: Some(inbox),
        data: mail("Offline", false),
    };
    local.put(DS, item);

    m.server().down = true;
    let down = sync(&engine, "phone", SyncMode::TwoWay, &mut state, &mut local);
    assert!(!crate::client::driver::succeeded(&down) || down.datastores[0].sent_failed > 0, "{down:?}");
    assert!(bodies(&m, "alice", "INBOX").is_empty());
    assert_eq!(local.items(DS).unwrap().len(), 2, "the device keeps its message");

    m.server().down = false;
    let up = sync(&engine, "phone", SyncMode::TwoWay, &mut state, &mut local);
    assert!(crate::client::driver::succeeded(&up), "{up:?}");
    assert_eq!(bodies(&m, "alice", "INBOX").len(), 1, "the message reached IMAP once");
    let again = sync(&engine, "phone", SyncMode::TwoWay, &mut state, &mut local);
    assert_eq!((again.datastores[0].sent_added, again.datastores[0].received_added), (0, 0), "{again:?}");
    let (mut pc_state, mut pc) = (DeviceState::default(), MemoryLocal::new());
    sync(&engine, "pc", SyncMode::Slow, &mut pc_state, &mut pc);
    assert_eq!(pc.items(DS).unwrap().len(), 2, "INBOX and the message, once");
}

#[test]
fn imap_stopping_in_the_middle_of_a_session_loses_nothing_and_the_next_sync_converges() {
    use crate::client::{DeviceState, LocalStore as _, MemoryLocal, SyncMode};
    let (s, m) = store();
    let s: Arc<dyn Store> = Arc::new(s);
    s.create_user("alice", &crate::auth::md5_secret("alice", "pw")).unwrap();
    m.server().create("alice", "INBOX").unwrap();
    for i in 0..40 {
        m.server()
            .append("alice", "INBOX", &[], format!("Subject: m{i}\r\n\r\n{}\r\n", "x".repeat(300)).as_bytes())
            .unwrap();
    }
    let engine = crate::engine::Engine::new(s.clone(), crate::engine::EngineConfig::default());
    let (mut state, mut local) = (DeviceState::default(), MemoryLocal::new());
    // Small messages: the server's package 4 takes many; IMAP goes away after the third.
    let report = sync_with(&engine, "pc", SyncMode::Slow, 3000, &mut state, &mut local, |n| {
        if n == 3 {
            m.server().down = true;
        }
    });
    let got = local.items(DS).unwrap().len();
    assert!(got < 41, "the session was cut short ({got} items): {report:?}");
    m.server().down = false;
    let next = sync(&engine, "pc", SyncMode::TwoWay, &mut state, &mut local);
    assert!(crate::client::driver::succeeded(&next), "{next:?}");
    let mut subjects: Vec<String> =
        local.items(DS).unwrap().iter().filter_map(|i| Email::parse(&i.data).ok()?.header("Subject")).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!((subjects.len(), local.items(DS).unwrap().len()), (40, 41), "every message once, and INBOX");
    assert_eq!(
        m.server().boxes[&("alice".to_string(), "INBOX".to_string())].messages.len(),
        40,
        "nothing lost in IMAP"
    );
}

impl super::checks::MailServer for FakeMailer {
    fn delimiter(&self) -> char {
        '/'
    }

    fn create(&self, user: &str, mailbox: &str) {
        self.server().create(user, mailbox).unwrap();
    }

    fn rename(&self, user: &str, from: &str, to: &str) {
        self.server().rename(user, from, to).unwrap();
    }

    fn delete(&self, user: &str, mailbox: &str) {
        self.server().boxes.remove(&(user.to_string(), mailbox.to_string()));
    }

    fn append(&self, user: &str, mailbox: &str, flags: &[&str], body: &[u8]) -> u32 {
        self.server().append(user, mailbox, flags, body).unwrap()
    }

    fn add_flags(&self, user: &str, mailbox: &str, uid: u32, flags: &[&str]) {
        self.server().set_flags(user, mailbox, uid, FlagMode::Add, flags).unwrap();
    }

    fn expunge(&self, user: &str, mailbox: &str, uid: u32) {
        self.server().expunge(user, mailbox, uid).unwrap();
    }

    fn messages(&self, user: &str, mailbox: &str) -> Vec<(Vec<String>, Vec<u8>)> {
        let s = self.server();
        s.boxes
            .get(&(user.to_string(), mailbox.to_string()))
            .map(|b| b.messages.values().map(|(f, body, _)| (f.clone(), body.clone())).collect())
            .unwrap_or_default()
    }

    fn mailboxes(&self, user: &str) -> Vec<String> {
        self.server().boxes.keys().filter(|(u, _)| u == user).map(|(_, n)| n.clone()).collect()
    }

    fn set_down(&self, down: bool) {
        self.server().down = down;
    }
}

#[test]
fn the_imap_checks_on_the_in_memory_server() {
    for (name, check) in super::checks::all() {
        let (s, m) = store();
        check(&s, &m, "alice");
        eprintln!("imap check {name}: ok");
    }
}
