//! The IMAP datastore's store checks, run against any IMAP server through [`MailServer`]:
//! the in-memory one (`imap/tests.rs`) and Dovecot (tests/it/imap_store.rs). They complete the
//! store battery, whose items are arbitrary bytes no mailbox can hold: here items are folders
//! and messages, and the server is also changed behind the store's back.
//!
//! Each check takes a store whose datastore `messages` is kept in the server, and a user name
//! of its own (mailboxes of different checks never meet). Panics on a failed check, like the
//! battery. Test support: not part of the gateway's API.

use crate::cpm::objects::{Email, Folder, EMAIL_TYPE, FOLDER_TYPE};
use crate::store::{ChangeKind, Commit, MapUpdate, Mutation, Origin, Store, StoreError, UserId};

/// The datastore the checks use.
pub const DS: &str = "messages";

/// Another client of the IMAP server, and its switch.
pub trait MailServer {
    /// The hierarchy delimiter.
    fn delimiter(&self) -> char;
    fn create(&self, user: &str, mailbox: &str);
    fn rename(&self, user: &str, from: &str, to: &str);
    fn delete(&self, user: &str, mailbox: &str);
    /// Appends a message; its UID.
    fn append(&self, user: &str, mailbox: &str, flags: &[&str], body: &[u8]) -> u32;
    fn add_flags(&self, user: &str, mailbox: &str, uid: u32, flags: &[&str]);
    fn expunge(&self, user: &str, mailbox: &str, uid: u32);
    /// The flags (without \Recent) and text of every message of a mailbox.
    fn messages(&self, user: &str, mailbox: &str) -> Vec<(Vec<String>, Vec<u8>)>;
    fn mailboxes(&self, user: &str) -> Vec<String>;
    /// Stops (true) or starts again (false).
    fn set_down(&self, down: bool);
}

/// A check: the store, the server, the user it runs as.
pub type Check = fn(&dyn Store, &dyn MailServer, &str);

/// Every check, by name.
pub fn all() -> Vec<(&'static str, Check)> {
    vec![
        ("writes_become_imap_commands", writes_become_imap_commands),
        ("direct_changes_are_pulled", direct_changes_are_pulled),
        ("a_renamed_mailbox_is_one_folder_change", a_renamed_mailbox_is_one_folder_change),
        ("a_half_failed_commit_keeps_what_imap_took", a_half_failed_commit_keeps_what_imap_took),
        ("an_unreachable_server_changes_nothing", an_unreachable_server_changes_nothing),
    ]
}

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

fn guid_of(s: &dyn Store, u: UserId, m: Mutation) -> String {
    s.apply(u, DS, &Origin::Service, &[m]).expect("apply")[0].guid().expect("applied").to_string()
}

fn user(s: &dyn Store, name: &str) -> UserId {
    let u = s.create_user(name, "x").expect("user").id;
    s.pull_backend(u).expect("first pull");
    u
}

fn has_flag(flags: &[String], f: &str) -> bool {
    flags.iter().any(|x| x.eq_ignore_ascii_case(f))
}

pub fn writes_become_imap_commands(s: &dyn Store, m: &dyn MailServer, name: &str) {
    let u = user(s, name);
    let d = m.delimiter();
    let work = guid_of(s, u, add(None, FOLDER_TYPE, folder("Work")));
    let lunch = guid_of(s, u, add(Some(&work), EMAIL_TYPE, mail("Lunch", false)));
    let loose = guid_of(s, u, add(None, EMAIL_TYPE, mail("Loose", true)));
    assert_eq!(m.messages(name, "Work").len(), 1);
    let inbox = m.messages(name, "INBOX");
    assert!(inbox.len() == 1 && has_flag(&inbox[0].0, "\\Seen"), "{inbox:?}");
    assert!(String::from_utf8_lossy(&inbox[0].1).contains("Subject: Loose"));
    let got = Email::parse(&s.item(u, DS, &lunch).expect("item").expect("there").data).expect("email");
    assert!(!got.read && String::from_utf8_lossy(&got.emailitem).contains("Text of Lunch."));
    assert!(
        s.item(u, DS, &loose).expect("item").expect("there").parent.is_some(),
        "a message without a folder goes to INBOX"
    );
    let seen = Mutation::Replace {
        guid: lunch.clone(),
        parent: Some(work.clone()),
        content_type: EMAIL_TYPE.into(),
        data: mail("Lunch", true),
        fields_only: true,
    };
    s.apply(u, DS, &Origin::Service, &[seen]).expect("seen");
    assert!(has_flag(&m.messages(name, "Work")[0].0, "\\Seen"));
    let archive = guid_of(s, u, add(Some(&work), FOLDER_TYPE, folder("Archive")));
    let sub = format!("Work{d}Archive");
    assert!(m.mailboxes(name).contains(&sub), "{:?}", m.mailboxes(name));
    let moved = Mutation::Replace {
        guid: lunch.clone(),
        parent: Some(archive),
        content_type: EMAIL_TYPE.into(),
        data: mail("Lunch", true),
        fields_only: false,
    };
    s.apply(u, DS, &Origin::Device("phone".into()), &[moved]).expect("move");
    assert!(m.messages(name, "Work").is_empty());
    assert_eq!(m.messages(name, &sub).len(), 1);
    let renamed = Mutation::Replace {
        guid: work,
        parent: None,
        content_type: FOLDER_TYPE.into(),
        data: folder("Job"),
        fields_only: false,
    };
    s.apply(u, DS, &Origin::Service, &[renamed]).expect("rename");
    assert_eq!(m.messages(name, &format!("Job{d}Archive")).len(), 1, "children move with the folder");
    assert!(Email::parse(&s.item(u, DS, &lunch).expect("item").expect("there").data).expect("email").read);
    s.apply(u, DS, &Origin::Service, &[Mutation::Delete { guid: lunch }]).expect("delete");
    assert!(m.messages(name, &format!("Job{d}Archive")).is_empty());
    assert_eq!(s.pull_backend(u).expect("pull"), 0, "the index is what IMAP holds");
    let vcard = add(None, "text/vcard", b"BEGIN:VCARD\r\nEND:VCARD\r\n".to_vec());
    assert!(matches!(s.apply(u, DS, &Origin::Service, &[vcard]), Err(StoreError::Invalid(_))));
}

pub fn direct_changes_are_pulled(s: &dyn Store, m: &dyn MailServer, name: &str) {
    let u = user(s, name);
    let seq = s.current_seq(u).expect("seq");
    let uid = m.append(name, "INBOX", &[], b"Subject: direct\r\n\r\nhi\r\n");
    m.create(name, "Lists");
    m.append(name, "Lists", &["\\Flagged"], b"Subject: list\r\n\r\nx\r\n");
    assert_eq!(s.pull_backend(u).expect("pull"), 3, "a message, a folder, a message");
    let changes = s.changes_since(u, DS, seq).expect("changes");
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Add && c.origin == Origin::Service), "{changes:?}");
    let direct = changes
        .iter()
        .find(|c| {
            s.item(u, DS, &c.guid).ok().flatten().is_some_and(|r| String::from_utf8_lossy(&r.data).contains("direct"))
        })
        .expect("the appended message")
        .guid
        .clone();
    let seq = s.current_seq(u).expect("seq");
    m.add_flags(name, "INBOX", uid, &["\\Seen"]);
    assert_eq!(s.pull_backend(u).expect("pull"), 1);
    let c = s.changes_since(u, DS, seq).expect("changes");
    assert_eq!((c.len(), c[0].kind, c[0].delta.fields), (1, ChangeKind::Replace, true), "a state change only");
    assert!(Email::parse(&s.item(u, DS, &direct).expect("item").expect("there").data).expect("email").read);
    m.expunge(name, "INBOX", uid);
    m.delete(name, "Lists");
    assert_eq!(s.pull_backend(u).expect("pull"), 3, "the expunged message, the mailbox gone and its message");
    assert_eq!(s.guids(u, DS).expect("guids").len(), 1, "INBOX only");
    assert_eq!(s.pull_backend(u).expect("pull"), 0, "nothing new");
}

pub fn a_renamed_mailbox_is_one_folder_change(s: &dyn Store, m: &dyn MailServer, name: &str) {
    let d = m.delimiter();
    m.create(name, "Work");
    m.create(name, &format!("Work{d}Old"));
    m.append(name, "Work", &[], b"Subject: a\r\n\r\nx\r\n");
    m.append(name, &format!("Work{d}Old"), &[], b"Subject: b\r\n\r\nx\r\n");
    let u = user(s, name);
    let guids = s.guids(u, DS).expect("guids");
    let seq = s.current_seq(u).expect("seq");
    m.rename(name, "Work", "Job");
    s.pull_backend(u).expect("pull");
    let changes = s.changes_since(u, DS, seq).expect("changes");
    let replaced: Vec<_> = changes.iter().filter(|c| c.kind == ChangeKind::Replace).collect();
    assert_eq!((replaced.len(), changes.len()), (1, 1), "Work renamed in place: {changes:?}");
    let job = s.item(u, DS, &replaced[0].guid).expect("item").expect("there");
    assert_eq!(Folder::parse(&job.data).expect("folder").name, "Job");
    assert_eq!(s.guids(u, DS).expect("guids"), guids, "messages and the subfolder keep their GUIDs");
    let emails = s.items(u, DS).expect("items").into_iter().filter(|i| i.content_type == EMAIL_TYPE).count();
    assert_eq!(emails, 2, "readable at their new paths");
}

pub fn a_half_failed_commit_keeps_what_imap_took(s: &dyn Store, m: &dyn MailServer, name: &str) {
    let u = user(s, name);
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
    assert_eq!(m.messages(name, "INBOX").len(), 1);
    assert_eq!(s.id_map(u, "phone", DS).expect("map").len(), 1, "the first is mapped");
    assert_eq!(s.pull_backend(u).expect("pull"), 0, "and indexed: not pulled again");
}

pub fn an_unreachable_server_changes_nothing(s: &dyn Store, m: &dyn MailServer, name: &str) {
    let u = user(s, name);
    let g = guid_of(s, u, add(None, EMAIL_TYPE, mail("Before", false)));
    let seq = s.current_seq(u).expect("seq");
    m.set_down(true);
    let unavailable = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Unavailable(_)));
    let during = s.apply(u, DS, &Origin::Service, &[add(None, EMAIL_TYPE, mail("During", false))]).map(|_| ());
    let read = s.item(u, DS, &g).map(|_| ());
    let pulled = s.pull_backend(u).map(|_| ());
    let other =
        s.apply(u, "contacts", &Origin::Service, &[add(None, "text/vcard", b"BEGIN:VCARD\r\nEND:VCARD\r\n".to_vec())]);
    m.set_down(false);
    assert!(unavailable(during) && unavailable(read) && unavailable(pulled));
    assert!(other.is_ok(), "other datastores do not depend on IMAP");
    assert_eq!(s.changes_since(u, DS, seq).expect("changes").len(), 0, "nothing recorded");
    assert!(s.item(u, DS, &g).expect("item after").is_some());
    assert_eq!(m.messages(name, "INBOX").len(), 1);
}
