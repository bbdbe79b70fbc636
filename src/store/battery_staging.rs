//! Battery checks (see `battery`) for item GUID listing, staged large objects and suspended
//! sessions. Kept apart from `battery.rs` to keep files short; run by the same macro.

use crate::store::{Mutation, Origin, Store, StoreError};

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
