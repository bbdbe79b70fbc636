//! The battery against SQLite in memory and on a file, plus what only a file-backed database
//! has: persistence across opens, the recorded schema version, refusal of newer schemas, and
//! errors (not panics) on rows that do not hold what the schema promises.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::store::battery::store_battery;
use crate::store::MapUpdate;

mod in_memory {
    use super::*;

    store_battery!(|| Box::new(SqliteStore::open_in_memory().unwrap()));
}

mod on_file {
    use super::*;

    store_battery!(TempDb::new);
}

#[test]
fn reopening_a_file_keeps_everything() {
    let dir = TempDir::new();
    let path = dir.path().join("nested/deeper/store.db");
    let (user, guid) = {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.path(), Some(path.as_path()));
        let journal: String = store.lock().pragma_query_value(None, "journal_mode", |row| row.get(0)).unwrap();
        assert_eq!(journal, "wal");
        let user = store.create_user("bob", "secret").unwrap();
        let device =
            DeviceRecord { device_id: "phone".into(), nonce: Some(vec![1, 2]), devinf: None, last_sync: Some(7) };
        store.put_device(user.id, &device).unwrap();
        let add = Mutation::Add { parent: None, content_type: "text/vcard".into(), data: b"card".to_vec() };
        let commit = Commit {
            mutations: vec![add],
            maps: vec![MapUpdate::ToNewItem { luid: "5".into(), index: 0 }],
            unmaps: vec![],
        };
        let guid = store.commit(user.id, "phone", "contacts", &commit).unwrap()[0].guid().unwrap().to_owned();
        let anchor = SyncAnchor { client_next: "c".into(), server_next: "s".into(), synced_seq: 1, filter: None };
        store.set_anchor(user.id, "phone", "contacts", &anchor).unwrap();
        (user, guid)
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.user_by_name("bob").unwrap(), Some(user.clone()));
    assert_eq!(store.device(user.id, "phone").unwrap().unwrap().nonce, Some(vec![1, 2]));
    assert_eq!(store.item(user.id, "contacts", &guid).unwrap().unwrap().data, b"card");
    assert_eq!(store.current_seq(user.id).unwrap(), 1);
    assert_eq!(store.changes_since(user.id, "contacts", 0).unwrap().len(), 1);
    assert_eq!(store.id_map(user.id, "phone", "contacts").unwrap(), vec![("5".into(), guid.clone())]);
    assert_eq!(store.anchor(user.id, "phone", "contacts").unwrap().unwrap().synced_seq, 1);
    // The sequence carries on where it was.
    let add = Mutation::Add { parent: None, content_type: "text/vcard".into(), data: vec![] };
    let next = store.apply(user.id, "contacts", &Origin::Service, &[add]).unwrap();
    assert_eq!(store.item(user.id, "contacts", next[0].guid().unwrap()).unwrap().unwrap().seq, 2);
}

#[test]
fn two_stores_on_one_file_take_turns() {
    let dir = TempDir::new();
    let path = dir.path().join("store.db");
    let first = SqliteStore::open(&path).unwrap();
    let second = SqliteStore::open(&path).unwrap();
    let user = first.create_user("bob", "x").unwrap().id;
    std::thread::scope(|scope| {
        for store in [&first, &second] {
            scope.spawn(move || {
                for i in 0..50u8 {
                    let add = Mutation::Add { parent: None, content_type: "text/plain".into(), data: vec![i] };
                    store.apply(user, "notes", &Origin::Service, &[add]).unwrap();
                }
            });
        }
    });
    assert_eq!(second.current_seq(user).unwrap(), 100);
    assert_eq!(first.items(user, "notes").unwrap().len(), 100);
}

#[test]
fn the_schema_version_is_recorded() {
    assert_eq!(SCHEMA_VERSION, 5);
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(user_version(&store.lock()), i64::from(SCHEMA_VERSION));
    let dir = TempDir::new();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(user_version(&rusqlite::Connection::open(&path).unwrap()), i64::from(SCHEMA_VERSION));
    // Opening again applies nothing twice (it would fail on CREATE TABLE).
    drop(SqliteStore::open(&path).unwrap());
}

#[test]
fn a_version_1_database_is_upgraded_keeping_its_data() {
    let dir = TempDir::new();
    let path = dir.path().join("store.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../../../schemas/sql/0001_init.sql")).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute("INSERT INTO users (name, secret, seq) VALUES ('bob', 'x', 2)", []).unwrap();
        conn.execute_batch(
            "INSERT INTO items (user_id, guid, datastore, content_type, data, seq) VALUES (1, '1', 'notes', 't', x'00', 2);
             INSERT INTO changes (user_id, seq, datastore, guid, kind) VALUES (1, 1, 'notes', '1', 'add'), (1, 2, 'notes', '1', 'replace');",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&store.lock()), 5);
    let bob = store.user_by_name("bob").unwrap().expect("bob survives the upgrade").id;
    assert_eq!(store.stage_append(bob, "phone", "k", 0, b"v").unwrap(), 1);
    // A Replace logged before deltas existed changed the whole item.
    let changes = store.changes_since(bob, "notes", 1).unwrap();
    assert_eq!(changes.iter().map(|c| c.delta).collect::<Vec<_>>(), vec![crate::store::Delta::WHOLE]);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    match SqliteStore::open(&path) {
        Err(StoreError::Backend(message)) => assert!(message.contains("newer"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_unusable_path_is_an_error() {
    let dir = TempDir::new();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a directory").unwrap();
    assert!(matches!(SqliteStore::open(&file.join("store.db")), Err(StoreError::Backend(_))));
    std::fs::write(dir.path().join("junk.db"), vec![b'x'; 4096]).unwrap();
    assert!(matches!(SqliteStore::open(&dir.path().join("junk.db")), Err(StoreError::Backend(_))));
}

#[test]
fn bad_rows_are_errors_not_panics() {
    let store = SqliteStore::open_in_memory().unwrap();
    let user = store.create_user("bob", "x").unwrap().id;
    let add = Mutation::Add { parent: None, content_type: "text/plain".into(), data: b"x".to_vec() };
    let guid = store.apply(user, "notes", &Origin::Service, &[add]).unwrap()[0].guid().unwrap().to_owned();
    store.put_device(user, &DeviceRecord { device_id: "d".into(), ..DeviceRecord::default() }).unwrap();
    store.set_anchor(user, "d", "notes", &SyncAnchor::default()).unwrap();
    {
        let conn = store.lock();
        conn.pragma_update(None, "ignore_check_constraints", true).unwrap();
        conn.execute_batch(
            "UPDATE items SET seq = -3;
             UPDATE changes SET kind = 'bogus';
             UPDATE users SET seq = -1;
             UPDATE devices SET nonce = 42;
             UPDATE anchors SET synced_seq = 'soon';",
        )
        .unwrap();
    }
    assert!(matches!(store.item(user, "notes", &guid), Err(StoreError::Backend(_))));
    assert!(matches!(store.items(user, "notes"), Err(StoreError::Backend(_))));
    assert!(matches!(store.changes_since(user, "notes", 0), Err(StoreError::Backend(_))));
    assert!(matches!(store.current_seq(user), Err(StoreError::Backend(_))));
    assert!(matches!(store.device(user, "d"), Err(StoreError::Backend(_))));
    assert!(matches!(store.list_devices(user), Err(StoreError::Backend(_))));
    assert!(matches!(store.anchor(user, "d", "notes"), Err(StoreError::Backend(_))));
}

#[test]
fn synced_seq_beyond_sqlite_integers_is_an_error() {
    let store = SqliteStore::open_in_memory().unwrap();
    let user = store.create_user("bob", "x").unwrap().id;
    let anchor = SyncAnchor { synced_seq: u64::MAX, ..SyncAnchor::default() };
    assert!(matches!(store.set_anchor(user, "d", "notes", &anchor), Err(StoreError::Backend(_))));
    assert_eq!(store.anchor(user, "d", "notes").unwrap(), None);
}

fn user_version(conn: &rusqlite::Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap()
}

/// A store on a file in a fresh temporary directory, removed afterwards.
struct TempDb {
    store: SqliteStore,
    // Declared after `store`, so the database is closed before its directory goes.
    _dir: TempDir,
}

impl TempDb {
    fn new() -> TempDb {
        let dir = TempDir::new();
        TempDb { store: SqliteStore::open(&dir.path().join("store.db")).unwrap(), _dir: dir }
    }
}

impl Deref for TempDb {
    type Target = SqliteStore;

    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("syncgate-store-test-{}-{n}", std::process::id()));
        // Left over by an earlier run that had the same process id.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
