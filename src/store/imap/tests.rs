//! The IMAP store over the in-memory IMAP server (`fake`): the whole store battery (everything
//! outside the IMAP datastore passes through to the local store), and the IMAP datastore's own
//! checks: writes become IMAP commands, changes made directly in IMAP are pulled, UIDVALIDITY,
//! and an unreachable server. The same use case against Dovecot is in tests/it/imap_store.rs.

use std::sync::{Arc, Mutex};

use super::fake::FakeMailer;
use super::ImapStore;
use crate::cpm::objects::{Email, Folder, EMAIL_TYPE, FOLDER_TYPE};
use crate::imap::FlagMode;
use crate::store::battery::store_battery;
use crate::store::memory::MemoryStore;
use crate::store::observed::{ObservedStore, StoreEvent};
use crate::store::{ChangeKind, Commit, MapUpdate, Mutation, Origin, Store, StoreError, UserId};

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

fn folder(name: &str) -> Vec<u8> {
    Folder { name: name.into(), ..Default::default() }.to_xml()
}

fn add(parent: Option<&str>, ct: &str, data: Vec<u8>) -> Mutation {
    Mutation::Add { parent: parent.map(str::to_string), content_type: ct.into(), data }
}

fn guid_of(s: &ImapStore, u: UserId, m: Mutation) -> String {
    s.apply(u, DS, &Origin::Service, &[m]).unwrap()[0].guid().unwrap().to_string()
}

fn bodies(m: &FakeMailer, user: &str, mailbox: &str) -> Vec<(Vec<String>, String)> {
    let s = m.server();
    let b = &s.boxes[&(user.to_string(), mailbox.to_string())];
    b.messages.values().map(|(f, body, _)| (f.clone(), String::from_utf8_lossy(body).into_owned())).collect()
}

#[test]
fn device_and_service_changes_are_carried_out_in_imap() {
    let (s, m) = store();
    let u = s.create_user("alice", "x").unwrap().id;
    assert_eq!(s.pull_backend(u).unwrap(), 1, "INBOX indexed");
    let work = guid_of(&s, u, add(None, FOLDER_TYPE, folder("Work")));
    let lunch = guid_of(&s, u, add(Some(&work), EMAIL_TYPE, mail("Lunch", false)));
    let loose = guid_of(&s, u, add(None, EMAIL_TYPE, mail("Loose", true)));
    assert_eq!(bodies(&m, "alice", "Work").len(), 1);
    let inbox = bodies(&m, "alice", "INBOX");
    assert_eq!(inbox[0].0, ["\\Seen"]);
    assert!(inbox[0].1.contains("Subject: Loose"));
    // The device sees the objects, built from IMAP; the index holds no message text.
    let got = Email::parse(&s.item(u, DS, &lunch).unwrap().unwrap().data).unwrap();
    assert!(!got.read && String::from_utf8_lossy(&got.emailitem).contains("Text of Lunch."));
    let inbox_guid = s.parents(u, DS).unwrap().into_iter().find(|(g, _)| *g == loose).map(|(_, p)| p);
    assert!(inbox_guid.is_some(), "a message without a folder goes to INBOX");
    assert_eq!(s.item(u, DS, &loose).unwrap().unwrap().parent, inbox_guid);

    // Read elsewhere: \Seen; moved to a new folder: UID MOVE; the folder renamed: RENAME.
    let seen = Mutation::Replace {
        guid: lunch.clone(),
        parent: Some(work.clone()),
        content_type: EMAIL_TYPE.into(),
        data: mail("Lunch", true),
        fields_only: true,
    };
    s.apply(u, DS, &Origin::Service, &[seen]).unwrap();
    assert_eq!(bodies(&m, "alice", "Work")[0].0, ["\\Seen"]);
    let archive = guid_of(&s, u, add(Some(&work), FOLDER_TYPE, folder("Archive")));
    assert!(m.server().boxes.contains_key(&("alice".into(), "Work/Archive".into())));
    let moved = Mutation::Replace {
        guid: lunch.clone(),
        parent: Some(archive.clone()),
        content_type: EMAIL_TYPE.into(),
        data: mail("Lunch", true),
        fields_only: false,
    };
    s.apply(u, DS, &Origin::Device("phone".into()), &[moved]).unwrap();
    assert!(bodies(&m, "alice", "Work").is_empty());
    assert_eq!(bodies(&m, "alice", "Work/Archive").len(), 1);
    let renamed = Mutation::Replace {
        guid: work.clone(),
        parent: None,
        content_type: FOLDER_TYPE.into(),
        data: folder("Job"),
        fields_only: false,
    };
    s.apply(u, DS, &Origin::Service, &[renamed]).unwrap();
    assert_eq!(bodies(&m, "alice", "Job/Archive").len(), 1, "children move with the folder");
    let again = Email::parse(&s.item(u, DS, &lunch).unwrap().unwrap().data).unwrap();
    assert!(again.read, "still readable at its new path");
    // Deleted: expunged.
    s.apply(u, DS, &Origin::Service, &[Mutation::Delete { guid: lunch }]).unwrap();
    assert!(bodies(&m, "alice", "Job/Archive").is_empty());
    // Nothing of this comes back from a pull: the index is what IMAP holds.
    assert_eq!(s.pull_backend(u).unwrap(), 0);
    // Other types have no place in a mailbox.
    let vcard = add(None, "text/vcard", b"BEGIN:VCARD\r\nEND:VCARD\r\n".to_vec());
    assert!(matches!(s.apply(u, DS, &Origin::Service, &[vcard]), Err(StoreError::Invalid(_))));
}

#[test]
fn changes_made_directly_in_imap_are_pulled_into_the_change_log() {
    let (s, m) = store();
    let u = s.create_user("alice", "x").unwrap().id;
    s.pull_backend(u).unwrap();
    let seq = s.current_seq(u).unwrap();
    // Another client: a new message, a new mailbox with one, then a flag and an expunge.
    let uid = m.server().append("alice", "INBOX", &[], b"Subject: direct\r\n\r\nhi\r\n").unwrap();
    m.server().create("alice", "Lists").unwrap();
    m.server().append("alice", "Lists", &["\\Flagged"], b"Subject: list\r\n\r\nx\r\n").unwrap();
    assert_eq!(s.pull_backend(u).unwrap(), 3, "a message, a folder, a message");
    let changes = s.changes_since(u, DS, seq).unwrap();
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Add && c.origin == Origin::Service));
    let direct = changes
        .iter()
        .find(|c| s.item(u, DS, &c.guid).unwrap().is_some_and(|r| String::from_utf8_lossy(&r.data).contains("direct")))
        .expect("the appended message")
        .guid
        .clone();
    let seq = s.current_seq(u).unwrap();
    m.server().set_flags("alice", "INBOX", uid, FlagMode::Add, &["\\Seen"]).unwrap();
    assert_eq!(s.pull_backend(u).unwrap(), 1);
    let c = s.changes_since(u, DS, seq).unwrap();
    assert_eq!((c.len(), c[0].kind, c[0].delta.fields), (1, ChangeKind::Replace, true), "a state change only");
    assert!(Email::parse(&s.item(u, DS, &direct).unwrap().unwrap().data).unwrap().read);
    m.server().expunge("alice", "INBOX", uid).unwrap();
    m.server().boxes.remove(&("alice".to_string(), "Lists".to_string()));
    assert_eq!(s.pull_backend(u).unwrap(), 3, "the expunged message, the gone mailbox and its message");
    assert_eq!(s.guids(u, DS).unwrap().len(), 1, "INBOX only");
    assert_eq!(s.pull_backend(u).unwrap(), 0, "nothing new");
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
fn an_unreachable_server_is_unavailable_and_changes_nothing() {
    let (s, m) = store();
    let u = s.create_user("alice", "x").unwrap().id;
    s.pull_backend(u).unwrap();
    let g = guid_of(&s, u, add(None, EMAIL_TYPE, mail("Before", false)));
    let seq = s.current_seq(u).unwrap();
    m.server().down = true;
    let unavailable = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Unavailable(_)));
    assert!(unavailable(s.apply(u, DS, &Origin::Service, &[add(None, EMAIL_TYPE, mail("During", false))]).map(|_| ())));
    assert!(unavailable(s.item(u, DS, &g).map(|_| ())));
    assert!(unavailable(s.pull_backend(u).map(|_| ())));
    assert_eq!(s.current_seq(u).unwrap(), seq, "nothing recorded");
    // Other datastores do not depend on IMAP.
    s.apply(u, "contacts", &Origin::Service, &[add(None, "text/vcard", b"BEGIN:VCARD\r\nEND:VCARD\r\n".to_vec())])
        .unwrap();
    m.server().down = false;
    assert!(s.item(u, DS, &g).unwrap().is_some());
    assert_eq!(s.pull_backend(u).unwrap(), 0);
}

#[test]
fn a_commit_failing_halfway_keeps_what_imap_took_with_its_maps() {
    let (s, m) = store();
    let u = s.create_user("alice", "x").unwrap().id;
    s.pull_backend(u).unwrap();
    let commit = Commit {
        mutations: vec![
            add(None, EMAIL_TYPE, mail("First", false)),
            add(Some("no-such-folder"), EMAIL_TYPE, mail("Second", false)),
        ],
        maps: vec![
            MapUpdate::ToNewItem { luid: "1".into(), index: 0 },
            MapUpdate::ToNewItem { luid: "2".into(), index: 1 },
        ],
        ..Default::default()
    };
    assert!(s.commit(u, "phone", DS, &commit).is_err());
    assert_eq!(bodies(&m, "alice", "INBOX").len(), 1);
    let map = s.id_map(u, "phone", DS).unwrap();
    assert_eq!(map.len(), 1, "the first is mapped: {map:?}");
    assert_eq!(s.pull_backend(u).unwrap(), 0, "and indexed: not pulled again");
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
    use crate::client::{ClientConfig, ClientSession, DatastoreSpec, Next};
    let cfg = ClientConfig { encoding: crate::codec::Encoding::Xml, ..ClientConfig::new(device, "alice", "pw") };
    let specs = vec![DatastoreSpec::new(DS, EMAIL_TYPE, mode)];
    let mut client = ClientSession::new(cfg, "http://t/sync", specs, state, 1_800_000_000);
    let mut server = engine.new_session();
    let mut msg = client.first_message();
    for _ in 0..1000 {
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
        match client.receive(reply.message, local).unwrap() {
            Next::Send(next) => msg = *next,
            Next::Done => break,
        }
    }
    client.finish(state, local).unwrap()
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
    let report = {
        use crate::client::{ClientConfig, ClientSession, DatastoreSpec, Next};
        let cfg = ClientConfig {
            encoding: crate::codec::Encoding::Xml,
            max_msg_size: 3000,
            ..ClientConfig::new("pc", "alice", "pw")
        };
        let specs = vec![DatastoreSpec::new(DS, EMAIL_TYPE, SyncMode::Slow)];
        let mut client = ClientSession::new(cfg, "http://t/sync", specs, &mut state, 1_800_000_000);
        let mut server = engine.new_session();
        let mut msg = client.first_message();
        for n in 0..1000 {
            if n == 3 {
                m.server().down = true;
            }
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
            match client.receive(reply.message, &mut local) {
                Ok(Next::Send(next)) => msg = *next,
                Ok(Next::Done) | Err(_) => break,
            }
        }
        client.finish(&mut state, &local)
    };
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

#[test]
fn a_mailbox_renamed_by_another_client_is_one_folder_change() {
    let (s, m) = store();
    let u = s.create_user("alice", "x").unwrap().id;
    m.server().create("alice", "INBOX").unwrap();
    m.server().create("alice", "Work").unwrap();
    m.server().create("alice", "Work/Old").unwrap();
    m.server().append("alice", "Work", &[], b"Subject: a\r\n\r\nx\r\n").unwrap();
    m.server().append("alice", "Work/Old", &[], b"Subject: b\r\n\r\nx\r\n").unwrap();
    m.server().create("alice", "Empty").unwrap();
    s.pull_backend(u).unwrap();
    let guids = s.guids(u, DS).unwrap();
    let seq = s.current_seq(u).unwrap();
    // Another client renames Work (with its subfolder) to Job; the empty folder too.
    {
        let mut srv = m.server();
        for (from, to) in [("Work", "Job"), ("Work/Old", "Job/Old"), ("Empty", "Void")] {
            let b = srv.boxes.remove(&("alice".to_string(), from.to_string())).unwrap();
            srv.boxes.insert(("alice".to_string(), to.to_string()), b);
        }
    }
    s.pull_backend(u).unwrap();
    let changes = s.changes_since(u, DS, seq).unwrap();
    let replaced: Vec<_> = changes.iter().filter(|c| c.kind == ChangeKind::Replace).collect();
    assert_eq!(replaced.len(), 1, "Work renamed in place: {changes:?}");
    let job = s.item(u, DS, &replaced[0].guid).unwrap().unwrap();
    assert_eq!(Folder::parse(&job.data).unwrap().name, "Job");
    // The messages and the subfolder kept their GUIDs; the empty folder went and came.
    let after = s.guids(u, DS).unwrap();
    assert_eq!(after.len(), guids.len());
    assert_eq!(guids.iter().filter(|g| !after.contains(g)).count(), 1, "only the empty folder is new");
    assert_eq!(
        s.items(u, DS).unwrap().iter().filter(|i| i.content_type == EMAIL_TYPE).count(),
        2,
        "readable at the new paths"
    );
    assert_eq!(s.pull_backend(u).unwrap(), 0);
}

impl super::checks::MailServer for FakeMailer {
    fn delimiter(&self) -> char {
        '/'
    }

    fn create(&self, user: &str, mailbox: &str) {
        self.server().create(user, mailbox).unwrap();
    }

    fn rename(&self, user: &str, from: &str, to: &str) {
        let mut s = self.server();
        let prefix = format!("{from}/");
        let moving: Vec<String> = s
            .boxes
            .keys()
            .filter(|(u, n)| u == user && (n == from || n.starts_with(&prefix)))
            .map(|(_, n)| n.clone())
            .collect();
        for n in moving {
            let b = s.boxes.remove(&(user.to_string(), n.clone())).unwrap();
            s.boxes.insert((user.to_string(), format!("{to}{}", &n[from.len()..])), b);
        }
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
