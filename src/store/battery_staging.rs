//! Battery checks (see `battery`) for item GUID listing, what Replaces changed (the change
//! log's deltas), staged large objects and suspended sessions. Kept apart from `battery.rs` to
//! keep files short; run by the same macro.

use crate::store::{ChangeKind, Delta, Mutation, Origin, Store, StoreError};

const CONTACTS: &str = "addressbook";
const PHONE: &str = "IMEI:356938035643809";
const TABLET: &str = "sc-pim-4a8c1e2f";

pub(crate) fn guids_list_live_items_in_order(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let add = |data: &[u8]| Mutation::Add { parent: None, content_type: "text/plain".into(), data: data.to_vec() };
    let applied = s.apply(u, CONTACTS, &Origin::Service, &[add(b"a"), add(b"b"), add(b"c")]).unwrap();
    let g: Vec<String> = applied.iter().map(|a| a.guid().unwrap().to_owned()).collect();
    s.apply(u, CONTACTS, &Origin::Service, &[Mutation::Delete { guid: g[1].clone() }]).unwrap();
    let mut expected = vec![g[0].clone(), g[2].clone()];
    expected.sort();
    assert_eq!(s.guids(u, CONTACTS).unwrap(), expected);
    let from_items: Vec<String> = s.items(u, CONTACTS).unwrap().into_iter().map(|i| i.guid).collect();
    assert_eq!(from_items, expected, "guids() and items() agree");
    assert_eq!(s.guids(u, "calendar").unwrap(), Vec::<String>::new());
}

pub(crate) fn parents_list_the_folder_tree(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let add = |parent: Option<String>| Mutation::Add { parent, content_type: "t".into(), data: b"d".to_vec() };
    let folder = s.apply(u, CONTACTS, &Origin::Service, &[add(None)]).unwrap()[0].guid().unwrap().to_owned();
    let child =
        s.apply(u, CONTACTS, &Origin::Service, &[add(Some(folder.clone()))]).unwrap()[0].guid().unwrap().to_owned();
    assert_eq!(s.parents(u, CONTACTS).unwrap(), vec![(child.clone(), folder.clone())]);
    s.apply(u, CONTACTS, &Origin::Service, &[Mutation::Delete { guid: child }]).unwrap();
    assert_eq!(s.parents(u, CONTACTS).unwrap(), vec![]);
    assert_eq!(s.parents(u, "calendar").unwrap(), vec![]);
}

pub(crate) fn replace_deltas_are_logged_and_merged(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let add = |parent: Option<String>| Mutation::Add { parent, content_type: "t".into(), data: b"v1".to_vec() };
    let applied = s.apply(u, CONTACTS, &Origin::Service, &[add(None), add(None), add(None)]).unwrap();
    let g: Vec<String> = applied.iter().map(|a| a.guid().unwrap().to_owned()).collect();
    let since = s.current_seq(u).unwrap();
    let replace = |guid: &str, parent: Option<&str>, data: &[u8], fields_only: bool| Mutation::Replace {
        guid: guid.into(),
        parent: parent.map(str::to_owned),
        content_type: "t".into(),
        data: data.to_vec(),
        fields_only,
    };
    // g0: states twice, then a move; g1: a move, then new content; g2: the same bytes again.
    let batch = [
        replace(&g[0], None, b"v1 seen", true),
        replace(&g[0], None, b"v1 seen flagged", true),
        replace(&g[0], Some(&g[2]), b"v1 seen flagged", false),
        replace(&g[1], Some(&g[2]), b"v1", false),
        replace(&g[1], Some(&g[2]), b"v2", false),
        replace(&g[2], None, b"v1", false),
    ];
    s.apply(u, CONTACTS, &Origin::Service, &batch).unwrap();
    let changes = s.changes_since(u, CONTACTS, since).unwrap();
    let delta = |guid: &str| changes.iter().find(|c| c.guid == guid).map(|c| (c.kind, c.delta));
    let d = |content, fields, parent| Delta { content, fields, parent };
    assert_eq!(delta(&g[0]), Some((ChangeKind::Replace, d(false, true, true))));
    assert_eq!(delta(&g[1]), Some((ChangeKind::Replace, d(true, false, true))));
    assert_eq!(delta(&g[2]), Some((ChangeKind::Replace, Delta::default())));
    // Only the changes after the states: a move alone.
    let later = s.changes_since(u, CONTACTS, since + 2).unwrap();
    assert_eq!(later.iter().find(|c| c.guid == g[0]).map(|c| c.delta), Some(d(false, false, true)));
    // From before the Add, it is an Add of the whole item.
    let all = s.changes_since(u, CONTACTS, 0).unwrap();
    assert!(all.iter().all(|c| c.kind == ChangeKind::Add && c.delta == Delta::WHOLE), "{all:?}");
    // A changed content type is a content change even when the maker says "fields".
    let retyped = Mutation::Replace {
        guid: g[2].clone(),
        parent: None,
        content_type: "u".into(),
        data: b"v1".to_vec(),
        fields_only: true,
    };
    let since = s.current_seq(u).unwrap();
    s.apply(u, CONTACTS, &Origin::Service, &[retyped]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, since).unwrap()[0].delta, d(true, false, false));
}

pub(crate) fn item_info_and_pieces_without_the_whole(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let add = Mutation::Add { parent: Some("p".into()), content_type: "t".into(), data: data.clone() };
    let g = s.apply(u, CONTACTS, &Origin::Service, &[add]).unwrap()[0].guid().unwrap().to_owned();
    let info = s.item_info(u, CONTACTS, &g).unwrap().unwrap();
    assert_eq!((info.size, info.parent.as_deref(), info.content_type.as_str()), (300_000, Some("p"), "t"));
    let (seq, piece) = s.item_bytes(u, CONTACTS, &g, 100_000, 70_000).unwrap().unwrap();
    assert_eq!((seq, piece.as_slice()), (info.seq, &data[100_000..170_000]));
    assert_eq!(s.item_bytes(u, CONTACTS, &g, 299_990, 70_000).unwrap().unwrap().1, &data[299_990..]);
    assert_eq!(s.item_bytes(u, CONTACTS, &g, 400_000, 10).unwrap().unwrap().1, b"");
    assert_eq!(s.item_info(u, CONTACTS, "nope").unwrap(), None);
    assert_eq!(s.item_bytes(u, CONTACTS, "nope", 0, 1).unwrap(), None);
    assert_eq!(s.item_info(u, "calendar", &g).unwrap(), None, "datastores are apart");
}

pub(crate) fn staged_objects_append_read_clear(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    assert_eq!(s.stage_read(u, PHONE, "contacts/1").unwrap(), None);
    assert_eq!(s.stage_append(u, PHONE, "contacts/1", 0, b"hello ").unwrap(), 6);
    assert_eq!(s.stage_append(u, PHONE, "contacts/1", 6, b"").unwrap(), 6);
    assert_eq!(s.stage_append(u, PHONE, "contacts/1", 6, b"world\0\xff").unwrap(), 13);
    assert_eq!(s.stage_read(u, PHONE, "contacts/1").unwrap().as_deref(), Some(&b"hello world\0\xff"[..]));
    // A wrong offset writes nothing.
    assert!(matches!(s.stage_append(u, PHONE, "contacts/1", 5, b"x"), Err(StoreError::Invalid(_))));
    assert!(matches!(s.stage_append(u, PHONE, "contacts/2", 3, b"x"), Err(StoreError::Invalid(_))));
    assert_eq!(s.stage_read(u, PHONE, "contacts/1").unwrap().map(|b| b.len()), Some(13));
    assert_eq!(s.stage_read(u, PHONE, "contacts/2").unwrap(), None);
    // Offset 0 starts the object again.
    assert_eq!(s.stage_append(u, PHONE, "contacts/1", 0, b"new").unwrap(), 3);
    assert_eq!(s.stage_read(u, PHONE, "contacts/1").unwrap().as_deref(), Some(&b"new"[..]));
    // Objects are per device and key.
    s.stage_append(u, PHONE, "contacts/2", 0, b"two").unwrap();
    s.stage_append(u, TABLET, "contacts/1", 0, b"tablet").unwrap();
    s.stage_clear(u, PHONE, Some("contacts/1")).unwrap();
    s.stage_clear(u, PHONE, Some("never-staged")).unwrap();
    assert_eq!(s.stage_read(u, PHONE, "contacts/1").unwrap(), None);
    assert_eq!(s.stage_read(u, PHONE, "contacts/2").unwrap().as_deref(), Some(&b"two"[..]));
    s.stage_clear(u, PHONE, None).unwrap();
    assert_eq!(s.stage_read(u, PHONE, "contacts/2").unwrap(), None);
    assert_eq!(s.stage_read(u, TABLET, "contacts/1").unwrap().as_deref(), Some(&b"tablet"[..]));
    // Forgetting the device or the user forgets its staged objects.
    s.delete_device(u, TABLET).unwrap();
    assert_eq!(s.stage_read(u, TABLET, "contacts/1").unwrap(), None);
    s.stage_append(u, PHONE, "k", 0, b"v").unwrap();
    s.delete_user("bob").unwrap();
    assert_eq!(s.stage_read(u, PHONE, "k").unwrap(), None);
    assert!(matches!(s.stage_append(u, PHONE, "k", 0, b"v"), Err(StoreError::NotFound(_))));
}

pub(crate) fn large_staged_object_round_trips(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut at = 0;
    for chunk in data.chunks(700_001) {
        at = s.stage_append(u, PHONE, "big", at, chunk).unwrap();
    }
    assert_eq!(at, data.len() as u64);
    assert!(s.stage_read(u, PHONE, "big").unwrap() == Some(data), "3 MB staged in 5 chunks read back whole");
}

pub(crate) fn suspended_sessions_set_get_clear(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    assert_eq!(s.suspended(u, PHONE).unwrap(), None);
    s.set_suspended(u, PHONE, None).unwrap();
    assert_eq!(s.list_devices(u).unwrap(), vec![], "clearing nothing creates no device");
    s.set_suspended(u, PHONE, Some("{\"a\":1}")).unwrap();
    assert_eq!(s.list_devices(u).unwrap().len(), 1, "saving creates the device like set_anchor");
    s.set_suspended(u, PHONE, Some("{\"a\":2}")).unwrap();
    assert_eq!(s.suspended(u, PHONE).unwrap().as_deref(), Some("{\"a\":2}"));
    assert_eq!(s.suspended(u, TABLET).unwrap(), None);
    s.set_suspended(u, PHONE, None).unwrap();
    assert_eq!(s.suspended(u, PHONE).unwrap(), None);
    s.set_suspended(u, PHONE, Some("x")).unwrap();
    s.delete_device(u, PHONE).unwrap();
    assert_eq!(s.suspended(u, PHONE).unwrap(), None);
    assert!(matches!(s.set_suspended(u64_user(), PHONE, Some("x")), Err(StoreError::NotFound(_))));
}

fn u64_user() -> crate::store::UserId {
    crate::store::UserId(i64::MAX)
}
