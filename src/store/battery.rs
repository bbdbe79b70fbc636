//! The test battery every [`Store`] backend must pass.
//!
//! Each check is a function over `&dyn Store` starting from an empty store; [`store_battery!`]
//! turns the whole list into one `#[test]` per check inside the calling module, so a failure
//! names the check and the backend's module:
//!
//! ```ignore
//! store_battery!(|| Box::new(MemoryStore::new()));
//! ```
//!
//! The argument is an expression callable with no arguments that returns something
//! dereferencing to a store (a `Box`, or a fixture that also owns a temporary directory).
//! Owns no store code; only exercises the trait.

use crate::store::{
    Applied, Change, ChangeKind, Commit, Delta, DeviceRecord, ItemRecord, MapUpdate, Mutation, Origin, Store,
    StoreError, SyncAnchor, User, UserId,
};

/// Generates one `#[test]` per battery check, each on a fresh store from `$make`.
macro_rules! store_battery {
    ($make:expr) => {
        $crate::store::battery::store_battery!(@each $make;
            users_create_and_look_up,
            users_duplicate_name_is_rejected,
            users_set_secret,
            users_delete,
            devices_put_get_list,
            devices_delete_removes_anchors_and_maps,
            devices_need_a_user,
            apply_add_assigns_short_unique_guids,
            apply_replace_and_delete,
            apply_not_found_takes_no_seq,
            apply_needs_a_user,
            items_are_in_guid_order,
            data_round_trips_byte_for_byte,
            seq_grows_across_datastores_and_is_per_user,
            guids_are_never_reused,
            concurrent_writers_get_distinct_seqs,
            changes_add_then_replace_is_add,
            changes_add_then_delete_is_nothing,
            changes_replace_then_delete_is_delete,
            changes_of_old_items,
            changes_origin_and_seq_are_the_latest,
            changes_since_excludes_since_and_orders_by_seq,
            commit_applies_as_the_device,
            commit_maps_new_items_and_pairs,
            commit_failing_halfway_changes_nothing,
            commit_reports_not_found_and_keeps_the_rest,
            maps_replace_by_luid_and_by_guid,
            unmaps_then_maps,
            maps_are_per_device_and_datastore,
            anchors_set_get_clear,
            delete_user_cascades,
            users_are_isolated,
            datastores_are_isolated,
        );
        $crate::store::battery::store_battery!(@staging $make;
            guids_list_live_items_in_order,
            parents_list_the_folder_tree,
            replace_deltas_are_logged_and_merged,
            item_info_and_pieces_without_the_whole,
            staged_objects_append_read_clear,
            large_staged_object_round_trips,
            suspended_sessions_set_get_clear,
        );
        $crate::store::battery::store_battery!(@alerts $make;
            device_prefs_and_schedules,
            alert_queue_lifecycle,
        );
    };
    (@each $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let fixture = ($make)();
                $crate::store::battery::$check(&*fixture);
            }
        )*
    };
    (@alerts $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let fixture = ($make)();
                $crate::store::battery_alerts::$check(&*fixture);
            }
        )*
    };
    (@staging $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let fixture = ($make)();
                $crate::store::battery_staging::$check(&*fixture);
            }
        )*
    };
}
pub(crate) use store_battery;

const CONTACTS: &str = "addressbook";
const EVENTS: &str = "calendar";
const VCARD: &str = "text/x-vcard";
const PHONE: &str = "IMEI:356938035643809";
const TABLET: &str = "sc-pim-4a8c1e2f";

// ---------------------------------------------------------------------------------------------
// Users.

pub(crate) fn users_create_and_look_up(s: &dyn Store) {
    assert_eq!(s.list_users().unwrap(), vec![]);
    assert_eq!(s.user_by_name("bob").unwrap(), None);
    let bob = s.create_user("bob", "c2VjcmV0").unwrap();
    assert_eq!((bob.name.as_str(), bob.secret.as_str()), ("bob", "c2VjcmV0"));
    let alice = s.create_user("alice", "YWxpY2U=").unwrap();
    assert_ne!(alice.id, bob.id);
    assert_eq!(s.user_by_name("bob").unwrap(), Some(bob.clone()));
    assert_eq!(s.user_by_name("Bob").unwrap(), None, "names are case-sensitive");
    assert_eq!(s.list_users().unwrap(), vec![alice, bob], "in name order");
}

pub(crate) fn users_duplicate_name_is_rejected(s: &dyn Store) {
    let bob = s.create_user("bob", "one").unwrap();
    assert!(matches!(s.create_user("bob", "two"), Err(StoreError::AlreadyExists(_))));
    assert_eq!(s.user_by_name("bob").unwrap(), Some(bob.clone()));
    assert_eq!(s.list_users().unwrap(), vec![bob]);
}

pub(crate) fn users_set_secret(s: &dyn Store) {
    let bob = s.create_user("bob", "one").unwrap();
    s.set_user_secret("bob", "two").unwrap();
    assert_eq!(s.user_by_name("bob").unwrap(), Some(User { secret: "two".into(), ..bob }));
    assert!(matches!(s.set_user_secret("carol", "x"), Err(StoreError::NotFound(_))));
    assert!(s.user_by_name("carol").unwrap().is_none(), "no user created by accident");
}

pub(crate) fn users_delete(s: &dyn Store) {
    let bob = s.create_user("bob", "one").unwrap();
    let alice = s.create_user("alice", "a").unwrap();
    assert!(matches!(s.delete_user("carol"), Err(StoreError::NotFound(_))));
    s.delete_user("bob").unwrap();
    assert_eq!(s.user_by_name("bob").unwrap(), None);
    assert_eq!(s.list_users().unwrap(), vec![alice.clone()]);
    assert!(matches!(s.delete_user("bob"), Err(StoreError::NotFound(_))));
    let again = s.create_user("bob", "two").unwrap();
    assert_ne!(again.id, bob.id, "user ids are not reused");
    assert_ne!(again.id, alice.id);
}

// ---------------------------------------------------------------------------------------------
// Devices.

pub(crate) fn devices_put_get_list(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    assert_eq!(s.device(u, PHONE).unwrap(), None);
    let phone = DeviceRecord {
        device_id: PHONE.into(),
        nonce: Some(vec![0, 1, 2, 255]),
        devinf: Some(b"<DevInf/>".to_vec()),
        last_sync: Some(1_700_000_000),
    };
    s.put_device(u, &phone).unwrap();
    assert_eq!(s.device(u, PHONE).unwrap(), Some(phone.clone()));
    // An update sets every field as given, including back to None.
    let updated = DeviceRecord { device_id: PHONE.into(), nonce: None, devinf: None, last_sync: Some(-5) };
    s.put_device(u, &updated).unwrap();
    assert_eq!(s.device(u, PHONE).unwrap(), Some(updated.clone()));
    let tablet = DeviceRecord { device_id: TABLET.into(), ..DeviceRecord::default() };
    s.put_device(u, &tablet).unwrap();
    let first = DeviceRecord { device_id: "AAA".into(), nonce: Some(vec![]), ..DeviceRecord::default() };
    s.put_device(u, &first).unwrap();
    assert_eq!(s.device(u, "AAA").unwrap(), Some(first.clone()), "an empty nonce is not None");
    assert_eq!(s.list_devices(u).unwrap(), vec![first, updated, tablet], "in device-id order");
}

pub(crate) fn devices_delete_removes_anchors_and_maps(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    s.put_device(u, &device(PHONE)).unwrap();
    s.put_device(u, &device(TABLET)).unwrap();
    for dev in [PHONE, TABLET] {
        s.set_anchor(u, dev, CONTACTS, &anchor("1", "2", 0)).unwrap();
        let commit = Commit { maps: vec![pair("L1", "g1")], ..Commit::default() };
        s.commit(u, dev, CONTACTS, &commit).unwrap();
    }
    s.delete_device(u, PHONE).unwrap();
    assert_eq!(s.device(u, PHONE).unwrap(), None);
    assert_eq!(s.anchor(u, PHONE, CONTACTS).unwrap(), None);
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), vec![]);
    assert_eq!(s.list_devices(u).unwrap(), vec![device(TABLET)]);
    // The other device keeps its state, with the filter its set was built with.
    assert_eq!(s.anchor(u, TABLET, CONTACTS).unwrap(), Some(anchor("1", "2", 0)));
    let filtered = SyncAnchor { filter: Some("{\"record\":\"READ&EQ;false\"}".into()), ..anchor("3", "4", 0) };
    s.set_anchor(u, TABLET, CONTACTS, &filtered).unwrap();
    assert_eq!(s.anchor(u, TABLET, CONTACTS).unwrap(), Some(filtered));
    s.set_anchor(u, TABLET, CONTACTS, &anchor("1", "2", 0)).unwrap();
    assert_eq!(s.anchor(u, TABLET, CONTACTS).unwrap(), Some(anchor("1", "2", 0)), "a filter can go again");
    assert_eq!(s.id_map(u, TABLET, CONTACTS).unwrap(), vec![("L1".into(), "g1".into())]);
    // Forgetting an unknown device is not an error; a device seen again starts from scratch.
    s.delete_device(u, PHONE).unwrap();
    s.put_device(u, &device(PHONE)).unwrap();
    assert_eq!(s.anchor(u, PHONE, CONTACTS).unwrap(), None);
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), vec![]);
}

pub(crate) fn devices_need_a_user(s: &dyn Store) {
    let ghost = UserId(4242);
    assert!(matches!(s.put_device(ghost, &device(PHONE)), Err(StoreError::NotFound(_))));
    assert!(matches!(s.set_anchor(ghost, PHONE, CONTACTS, &anchor("1", "2", 0)), Err(StoreError::NotFound(_))));
    assert!(matches!(s.commit(ghost, PHONE, CONTACTS, &Commit::default()), Err(StoreError::NotFound(_))));
    assert!(matches!(s.clear_anchor(ghost, PHONE, CONTACTS), Err(StoreError::NotFound(_))));
    assert!(matches!(s.delete_device(ghost, PHONE), Err(StoreError::NotFound(_))));
    assert_eq!(s.device(ghost, PHONE).unwrap(), None);
    assert_eq!(s.list_devices(ghost).unwrap(), vec![]);
    assert_eq!(s.anchor(ghost, PHONE, CONTACTS).unwrap(), None);
    assert_eq!(s.id_map(ghost, PHONE, CONTACTS).unwrap(), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Items.

pub(crate) fn apply_add_assigns_short_unique_guids(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let muts = vec![
        add(b"BEGIN:VCARD\r\nFN:A\r\nEND:VCARD\r\n"),
        Mutation::Add { parent: Some("folder-1".into()), content_type: "text/vcard".into(), data: b"b".to_vec() },
        add(b""),
    ];
    let applied = s.apply(u, CONTACTS, &Origin::Service, &muts).unwrap();
    assert_eq!(applied.len(), 3);
    let guids: Vec<String> = applied.iter().map(done).collect();
    for g in &guids {
        assert!(!g.is_empty() && g.len() <= 16, "GUID {g:?} must be short");
        assert!(g.bytes().all(|b| b.is_ascii_alphanumeric()), "GUID {g:?} must be plain ASCII");
    }
    assert!(guids[0] != guids[1] && guids[1] != guids[2] && guids[0] != guids[2]);
    let second = s.item(u, CONTACTS, &guids[1]).unwrap().unwrap();
    assert_eq!(second.guid, guids[1]);
    assert_eq!(second.parent.as_deref(), Some("folder-1"));
    assert_eq!(second.content_type, "text/vcard");
    assert_eq!(second.data, b"b");
    assert_eq!(second.seq, 2);
    let first = s.item(u, CONTACTS, &guids[0]).unwrap().unwrap();
    assert_eq!((first.parent, first.content_type.as_str(), first.seq), (None, VCARD, 1));
    assert_eq!(s.item(u, CONTACTS, &guids[2]).unwrap().unwrap().data, b"");
    assert_eq!(s.item(u, CONTACTS, "no-such-guid").unwrap(), None);
}

pub(crate) fn apply_replace_and_delete(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let g = add_one(s, u, CONTACTS, b"v1");
    let replace = Mutation::Replace {
        guid: g.clone(),
        parent: Some("p".into()),
        content_type: "text/vcard".into(),
        data: b"v2".to_vec(),
        fields_only: false,
    };
    assert_eq!(s.apply(u, CONTACTS, &Origin::Service, &[replace]).unwrap(), vec![Applied::Done { guid: g.clone() }]);
    let item = s.item(u, CONTACTS, &g).unwrap().unwrap();
    let expected = ItemRecord {
        guid: g.clone(),
        parent: Some("p".into()),
        content_type: "text/vcard".into(),
        data: b"v2".to_vec(),
        seq: 2,
    };
    assert_eq!(item, expected);
    // Replace sets every field as given: the parent goes back to None.
    s.apply(u, CONTACTS, &Origin::Service, &[replace_with(&g, b"v3")]).unwrap();
    let item = s.item(u, CONTACTS, &g).unwrap().unwrap();
    assert_eq!((item.parent, item.data, item.seq), (None, b"v3".to_vec(), 3));
    let applied = s.apply(u, CONTACTS, &Origin::Service, &[delete(&g)]).unwrap();
    assert_eq!(applied, vec![Applied::Done { guid: g.clone() }]);
    assert_eq!(s.item(u, CONTACTS, &g).unwrap(), None);
    assert_eq!(s.items(u, CONTACTS).unwrap(), vec![]);
    assert_eq!(s.current_seq(u).unwrap(), 4);
}

pub(crate) fn apply_not_found_takes_no_seq(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let g = add_one(s, u, CONTACTS, b"v1");
    let muts = vec![replace_with("nope", b"x"), delete(&g), delete(&g), replace_with(&g, b"again"), add(b"new")];
    let applied = s.apply(u, CONTACTS, &Origin::Service, &muts).unwrap();
    assert_eq!(applied.len(), 5);
    assert_eq!(&applied[..4], &[Applied::NotFound, done_guid(&g), Applied::NotFound, Applied::NotFound]);
    assert_eq!(applied[0].guid(), None);
    let new = s.item(u, CONTACTS, &done(&applied[4])).unwrap().unwrap();
    assert_eq!(new.seq, 3, "only the Delete and the Add took a sequence number");
    assert_eq!(s.current_seq(u).unwrap(), 3);
    assert_eq!(s.apply(u, CONTACTS, &Origin::Service, &[]).unwrap(), vec![]);
    assert_eq!(s.current_seq(u).unwrap(), 3);
}

pub(crate) fn apply_needs_a_user(s: &dyn Store) {
    let ghost = UserId(4242);
    assert!(matches!(s.apply(ghost, CONTACTS, &Origin::Service, &[add(b"x")]), Err(StoreError::NotFound(_))));
    assert_eq!(s.current_seq(ghost).unwrap(), 0);
    assert_eq!(s.items(ghost, CONTACTS).unwrap(), vec![]);
    assert_eq!(s.item(ghost, CONTACTS, "1").unwrap(), None);
    assert_eq!(s.changes_since(ghost, CONTACTS, 0).unwrap(), vec![]);
}

pub(crate) fn items_are_in_guid_order(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    // Enough items that GUIDs differ in length, whatever the backend's scheme.
    let muts: Vec<Mutation> = (0..80).map(|i| add(format!("item {i}").as_bytes())).collect();
    let guids: Vec<String> = s.apply(u, CONTACTS, &Origin::Service, &muts).unwrap().iter().map(done).collect();
    let deletes: Vec<Mutation> = guids.iter().step_by(3).map(|g| delete(g)).collect();
    s.apply(u, CONTACTS, &Origin::Service, &deletes).unwrap();
    let mut live: Vec<String> =
        guids.iter().skip(1).step_by(3).chain(guids.iter().skip(2).step_by(3)).cloned().collect();
    live.sort();
    let items = s.items(u, CONTACTS).unwrap();
    assert_eq!(items.iter().map(|i| i.guid.clone()).collect::<Vec<_>>(), live);
    for item in &items {
        assert_eq!(Some(item), s.item(u, CONTACTS, &item.guid).unwrap().as_ref());
    }
}

pub(crate) fn data_round_trips_byte_for_byte(s: &dyn Store) {
    let u = s.create_user("bøb ☃", "x").unwrap().id;
    let data: Vec<u8> = (0..=255u8).chain([0, 0, 0xff, 0xfe]).collect();
    let g = add_one(s, u, "./Contacts/ütf", &data);
    assert_eq!(s.item(u, "./Contacts/ütf", &g).unwrap().unwrap().data, data);
    assert!(s.user_by_name("bøb ☃").unwrap().is_some());
    let big = vec![b'x'; 1 << 20];
    let g = add_one(s, u, CONTACTS, &big);
    assert_eq!(s.item(u, CONTACTS, &g).unwrap().unwrap().data, big);
}

pub(crate) fn seq_grows_across_datastores_and_is_per_user(s: &dyn Store) {
    let bob = s.create_user("bob", "x").unwrap().id;
    let alice = s.create_user("alice", "x").unwrap().id;
    assert_eq!(s.current_seq(bob).unwrap(), 0);
    let mut seqs = vec![];
    for ds in [CONTACTS, EVENTS, CONTACTS, "memo", EVENTS] {
        let g = add_one(s, bob, ds, b"x");
        seqs.push(s.item(bob, ds, &g).unwrap().unwrap().seq);
        s.apply(bob, ds, &Origin::Device(PHONE.into()), &[replace_with(&g, b"y")]).unwrap();
        seqs.push(s.item(bob, ds, &g).unwrap().unwrap().seq);
        assert_eq!(s.current_seq(bob).unwrap(), *seqs.last().unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "strictly increasing: {seqs:?}");
    assert_eq!(seqs.first(), Some(&1));
    // Another user's counter is untouched and starts over.
    assert_eq!(s.current_seq(alice).unwrap(), 0);
    let g = add_one(s, alice, CONTACTS, b"a");
    assert_eq!(s.item(alice, CONTACTS, &g).unwrap().unwrap().seq, 1);
    assert_eq!(s.current_seq(alice).unwrap(), 1);
    assert_eq!(s.current_seq(bob).unwrap(), 10);
}

pub(crate) fn guids_are_never_reused(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..20 {
        let ds = if round % 2 == 0 { CONTACTS } else { EVENTS };
        let g = add_one(s, u, ds, b"x");
        assert!(seen.insert(g.clone()), "GUID {g} handed out twice");
        s.apply(u, ds, &Origin::Service, &[delete(&g)]).unwrap();
    }
}

pub(crate) fn concurrent_writers_get_distinct_seqs(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let guids: Vec<String> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let ds = if t % 2 == 0 { CONTACTS } else { EVENTS };
                scope.spawn(move || (0..25).map(|_| add_one(s, u, ds, b"x")).collect::<Vec<_>>())
            })
            .collect();
        writers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let distinct: std::collections::BTreeSet<&String> = guids.iter().collect();
    assert_eq!(distinct.len(), 100);
    assert_eq!(s.current_seq(u).unwrap(), 100);
    let mut seqs: Vec<u64> =
        [CONTACTS, EVENTS].iter().flat_map(|ds| s.changes_since(u, ds, 0).unwrap()).map(|c| c.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=100).collect::<Vec<u64>>());
}

// ---------------------------------------------------------------------------------------------
// The change log.

pub(crate) fn changes_add_then_replace_is_add(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let g = add_one(s, u, CONTACTS, b"v1");
    s.apply(u, CONTACTS, &Origin::Service, &[replace_with(&g, b"v2"), replace_with(&g, b"v3")]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, 0).unwrap(), vec![change(&g, ChangeKind::Add, Origin::Service, 3)]);
    // From a point after the Add, the same history is a Replace.
    assert_eq!(s.changes_since(u, CONTACTS, 1).unwrap(), vec![change(&g, ChangeKind::Replace, Origin::Service, 3)]);
    assert_eq!(s.changes_since(u, CONTACTS, 3).unwrap(), vec![]);
}

pub(crate) fn changes_add_then_delete_is_nothing(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let g = add_one(s, u, CONTACTS, b"v1");
    s.apply(u, CONTACTS, &Origin::Service, &[replace_with(&g, b"v2")]).unwrap();
    s.apply(u, CONTACTS, &Origin::Device(PHONE.into()), &[delete(&g)]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, 0).unwrap(), vec![]);
    assert_eq!(s.changes_since(u, CONTACTS, 1).unwrap(), vec![change(&g, ChangeKind::Delete, dev(PHONE), 3)]);
}

pub(crate) fn changes_replace_then_delete_is_delete(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let g = add_one(s, u, CONTACTS, b"v1");
    let since = s.current_seq(u).unwrap();
    s.apply(u, CONTACTS, &dev(PHONE), &[replace_with(&g, b"v2")]).unwrap();
    s.apply(u, CONTACTS, &Origin::Service, &[delete(&g)]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, since).unwrap(), vec![change(&g, ChangeKind::Delete, Origin::Service, 3)]);
}

pub(crate) fn changes_of_old_items(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let kept = add_one(s, u, CONTACTS, b"k");
    let gone = add_one(s, u, CONTACTS, b"g");
    let untouched = add_one(s, u, CONTACTS, b"u");
    let since = s.current_seq(u).unwrap();
    s.apply(u, CONTACTS, &dev(PHONE), &[delete(&gone), replace_with(&kept, b"k2")]).unwrap();
    let expected =
        vec![change(&gone, ChangeKind::Delete, dev(PHONE), 4), change(&kept, ChangeKind::Replace, dev(PHONE), 5)];
    assert_eq!(s.changes_since(u, CONTACTS, since).unwrap(), expected);
    let all = s.changes_since(u, CONTACTS, 0).unwrap();
    assert_eq!(
        all,
        vec![change(&untouched, ChangeKind::Add, Origin::Service, 3), change(&kept, ChangeKind::Add, dev(PHONE), 5)]
    );
}

pub(crate) fn changes_origin_and_seq_are_the_latest(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let g = add_one(s, u, CONTACTS, b"v1");
    let since = s.current_seq(u).unwrap();
    s.apply(u, CONTACTS, &dev(PHONE), &[replace_with(&g, b"v2")]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, since).unwrap(), vec![change(&g, ChangeKind::Replace, dev(PHONE), 2)]);
    s.apply(u, CONTACTS, &dev(TABLET), &[replace_with(&g, b"v3")]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, since).unwrap(), vec![change(&g, ChangeKind::Replace, dev(TABLET), 3)]);
    s.apply(u, CONTACTS, &Origin::Service, &[replace_with(&g, b"v4")]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, since).unwrap(), vec![change(&g, ChangeKind::Replace, Origin::Service, 4)]);
    s.apply(u, CONTACTS, &dev(PHONE), &[replace_with(&g, b"v5")]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, since).unwrap(), vec![change(&g, ChangeKind::Replace, dev(PHONE), 5)]);
    // A device's Add changed by the service afterwards is reported with the service as origin.
    let h = add_as(s, u, CONTACTS, &dev(TABLET), b"t");
    s.apply(u, CONTACTS, &Origin::Service, &[replace_with(&h, b"t2")]).unwrap();
    assert_eq!(s.changes_since(u, CONTACTS, 5).unwrap(), vec![change(&h, ChangeKind::Add, Origin::Service, 7)]);
}

pub(crate) fn changes_since_excludes_since_and_orders_by_seq(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let a = add_one(s, u, CONTACTS, b"a"); // 1
    let b = add_one(s, u, CONTACTS, b"b"); // 2
    let c = add_one(s, u, CONTACTS, b"c"); // 3
    s.apply(u, CONTACTS, &Origin::Service, &[replace_with(&a, b"a2")]).unwrap(); // 4
    s.apply(u, EVENTS, &Origin::Service, &[add(b"e")]).unwrap(); // 5, another datastore
    s.apply(u, CONTACTS, &Origin::Service, &[replace_with(&b, b"b2")]).unwrap(); // 6
    let all = s.changes_since(u, CONTACTS, 0).unwrap();
    assert_eq!(all.iter().map(|c| (c.guid.as_str(), c.seq)).collect::<Vec<_>>(), vec![(&*c, 3), (&*a, 4), (&*b, 6)]);
    let since_3 = s.changes_since(u, CONTACTS, 3).unwrap();
    assert_eq!(
        since_3,
        vec![change(&a, ChangeKind::Replace, Origin::Service, 4), change(&b, ChangeKind::Replace, Origin::Service, 6)]
    );
    assert_eq!(s.changes_since(u, CONTACTS, 6).unwrap(), vec![]);
    assert_eq!(s.changes_since(u, CONTACTS, u64::MAX).unwrap(), vec![]);
    assert_eq!(s.changes_since(u, "unknown", 0).unwrap(), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Commits and maps.

pub(crate) fn commit_applies_as_the_device(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let old = add_one(s, u, CONTACTS, b"old");
    let commit = Commit { mutations: vec![add(b"new"), replace_with(&old, b"old2")], ..Commit::default() };
    let applied = s.commit(u, PHONE, CONTACTS, &commit).unwrap();
    let new = done(&applied[0]);
    assert_eq!(applied[1], done_guid(&old));
    assert_eq!(
        s.changes_since(u, CONTACTS, 1).unwrap(),
        vec![change(&new, ChangeKind::Add, dev(PHONE), 2), change(&old, ChangeKind::Replace, dev(PHONE), 3)]
    );
    assert_eq!(s.item(u, CONTACTS, &old).unwrap().unwrap().data, b"old2");
    // Committing made the device known.
    assert_eq!(s.device(u, PHONE).unwrap(), Some(device(PHONE)));
}

pub(crate) fn commit_maps_new_items_and_pairs(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let server_side = add_one(s, u, CONTACTS, b"sent to the phone");
    let commit = Commit {
        mutations: vec![add(b"a"), delete("missing"), add(b"b")],
        maps: vec![
            MapUpdate::ToNewItem { luid: "100".into(), index: 2 },
            MapUpdate::ToNewItem { luid: "99".into(), index: 0 },
            pair("7", &server_side),
        ],
        unmaps: vec![],
    };
    let applied = s.commit(u, PHONE, CONTACTS, &commit).unwrap();
    assert_eq!(applied[1], Applied::NotFound);
    let (a, b) = (done(&applied[0]), done(&applied[2]));
    assert_eq!(
        s.id_map(u, PHONE, CONTACTS).unwrap(),
        vec![("100".into(), b), ("7".into(), server_side), ("99".into(), a)],
        "in LUID order"
    );
    // A Pair may name an item that is gone by now (deleted while its Add was on the way).
    let gone = add_one(s, u, CONTACTS, b"short-lived");
    s.apply(u, CONTACTS, &Origin::Service, &[delete(&gone)]).unwrap();
    s.commit(u, PHONE, CONTACTS, &Commit { maps: vec![pair("8", &gone)], ..Commit::default() }).unwrap();
    assert!(s.id_map(u, PHONE, CONTACTS).unwrap().contains(&("8".into(), gone)));
}

pub(crate) fn commit_failing_halfway_changes_nothing(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let g = add_one(s, u, CONTACTS, b"v1");
    s.commit(u, PHONE, CONTACTS, &Commit { maps: vec![pair("L1", &g)], ..Commit::default() }).unwrap();
    s.set_anchor(u, PHONE, CONTACTS, &anchor("c1", "s1", 1)).unwrap();
    let before = snapshot(s, u);
    let bad_maps = [
        MapUpdate::ToNewItem { luid: "L9".into(), index: 3 }, // out of range
        MapUpdate::ToNewItem { luid: "L9".into(), index: 1 }, // a Replace
        MapUpdate::ToNewItem { luid: "L9".into(), index: 2 }, // a Delete
    ];
    for bad in bad_maps {
        let commit = Commit {
            mutations: vec![add(b"new"), replace_with(&g, b"v2"), delete(&g)],
            // Good updates before the bad one, so a backend fails after doing real work.
            maps: vec![MapUpdate::ToNewItem { luid: "L2".into(), index: 0 }, pair("L3", &g), bad],
            unmaps: vec!["L1".into()],
        };
        assert!(matches!(s.commit(u, PHONE, CONTACTS, &commit), Err(StoreError::Invalid(_))));
        assert_eq!(snapshot(s, u), before);
    }
    // A failed commit for a new device does not leave the device behind either.
    let commit = Commit {
        mutations: vec![add(b"x")],
        maps: vec![MapUpdate::ToNewItem { luid: "L".into(), index: 1 }],
        ..Commit::default()
    };
    assert!(matches!(s.commit(u, TABLET, CONTACTS, &commit), Err(StoreError::Invalid(_))));
    assert_eq!(s.device(u, TABLET).unwrap(), None);
    assert_eq!(snapshot(s, u), before);
}

pub(crate) fn commit_reports_not_found_and_keeps_the_rest(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let g = add_one(s, u, CONTACTS, b"v1");
    let commit = Commit { mutations: vec![replace_with("nope", b"x"), delete(&g), delete(&g)], ..Commit::default() };
    let applied = s.commit(u, PHONE, CONTACTS, &commit).unwrap();
    assert_eq!(applied, vec![Applied::NotFound, done_guid(&g), Applied::NotFound]);
    assert_eq!(s.items(u, CONTACTS).unwrap(), vec![]);
    assert_eq!(s.current_seq(u).unwrap(), 2);
}

pub(crate) fn maps_replace_by_luid_and_by_guid(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let map = |maps: Vec<MapUpdate>| s.commit(u, PHONE, CONTACTS, &Commit { maps, ..Commit::default() }).unwrap();
    map(vec![pair("L1", "g1"), pair("L2", "g2")]);
    // Mapping a LUID again moves it.
    map(vec![pair("L1", "g3")]);
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("L1", "g3"), ("L2", "g2")]));
    // Mapping a GUID again drops the LUID that held it.
    map(vec![pair("L9", "g2")]);
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("L1", "g3"), ("L9", "g2")]));
    // Both at once: L1 takes g2, so L1→g3 and L9→g2 both go.
    map(vec![pair("L1", "g2")]);
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("L1", "g2")]));
    // Within one commit, later updates win.
    map(vec![pair("A", "x"), pair("A", "y"), pair("B", "y")]);
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("B", "y"), ("L1", "g2")]));
    // Mapping the same pair again changes nothing.
    map(vec![pair("B", "y")]);
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("B", "y"), ("L1", "g2")]));
}

pub(crate) fn unmaps_then_maps(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let commit = |c: Commit| s.commit(u, PHONE, CONTACTS, &c).unwrap();
    commit(Commit { maps: vec![pair("L1", "g1"), pair("L2", "g2"), pair("L3", "g3")], ..Commit::default() });
    commit(Commit { unmaps: vec!["L2".into(), "unknown".into()], ..Commit::default() });
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("L1", "g1"), ("L3", "g3")]));
    // A device that deleted an item and reused its LUID in one session: the unmap comes first.
    let applied = commit(Commit {
        mutations: vec![add(b"reuse")],
        maps: vec![MapUpdate::ToNewItem { luid: "L1".into(), index: 0 }],
        unmaps: vec!["L1".into()],
    });
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("L1", &done(&applied[0])), ("L3", "g3")]));
}

pub(crate) fn maps_are_per_device_and_datastore(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    s.commit(u, PHONE, CONTACTS, &Commit { maps: vec![pair("L1", "g1")], ..Commit::default() }).unwrap();
    s.commit(u, PHONE, EVENTS, &Commit { maps: vec![pair("L1", "g2")], ..Commit::default() }).unwrap();
    s.commit(u, TABLET, CONTACTS, &Commit { maps: vec![pair("L2", "g1")], ..Commit::default() }).unwrap();
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("L1", "g1")]));
    assert_eq!(s.id_map(u, PHONE, EVENTS).unwrap(), pairs(&[("L1", "g2")]));
    assert_eq!(s.id_map(u, TABLET, CONTACTS).unwrap(), pairs(&[("L2", "g1")]));
    s.commit(u, PHONE, EVENTS, &Commit { unmaps: vec!["L1".into()], ..Commit::default() }).unwrap();
    assert_eq!(s.id_map(u, PHONE, EVENTS).unwrap(), vec![]);
    assert_eq!(s.id_map(u, PHONE, CONTACTS).unwrap(), pairs(&[("L1", "g1")]));
}

// ---------------------------------------------------------------------------------------------
// Anchors.

pub(crate) fn anchors_set_get_clear(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    assert_eq!(s.anchor(u, PHONE, CONTACTS).unwrap(), None);
    let first = anchor("20240101T000000Z", "1", 0);
    s.set_anchor(u, PHONE, CONTACTS, &first).unwrap();
    assert_eq!(s.anchor(u, PHONE, CONTACTS).unwrap(), Some(first));
    assert_eq!(s.device(u, PHONE).unwrap(), Some(device(PHONE)), "setting an anchor makes the device known");
    let second = anchor("20240102T000000Z", "2", 17);
    s.set_anchor(u, PHONE, CONTACTS, &second).unwrap();
    s.set_anchor(u, PHONE, EVENTS, &anchor("e", "", 3)).unwrap();
    s.set_anchor(u, TABLET, CONTACTS, &anchor("t", "t", 5)).unwrap();
    assert_eq!(s.anchor(u, PHONE, CONTACTS).unwrap(), Some(second));
    s.clear_anchor(u, PHONE, CONTACTS).unwrap();
    assert_eq!(s.anchor(u, PHONE, CONTACTS).unwrap(), None);
    assert_eq!(s.anchor(u, PHONE, EVENTS).unwrap(), Some(anchor("e", "", 3)));
    assert_eq!(s.anchor(u, TABLET, CONTACTS).unwrap(), Some(anchor("t", "t", 5)));
    // Clearing what is not there is fine.
    s.clear_anchor(u, PHONE, CONTACTS).unwrap();
    s.clear_anchor(u, "never-seen", CONTACTS).unwrap();
    assert_eq!(s.device(u, "never-seen").unwrap(), None);
    // The largest sequence number a store hands out in practice survives the round trip.
    let big = anchor("c", "s", i64::MAX as u64);
    s.set_anchor(u, PHONE, CONTACTS, &big).unwrap();
    assert_eq!(s.anchor(u, PHONE, CONTACTS).unwrap(), Some(big));
}

// ---------------------------------------------------------------------------------------------
// Deletion and isolation.

pub(crate) fn delete_user_cascades(s: &dyn Store) {
    let bob = s.create_user("bob", "x").unwrap().id;
    let alice = s.create_user("alice", "x").unwrap().id;
    for u in [bob, alice] {
        let g = add_one(s, u, CONTACTS, b"v");
        s.put_device(u, &device(PHONE)).unwrap();
        s.set_anchor(u, PHONE, CONTACTS, &anchor("1", "1", 1)).unwrap();
        s.commit(u, PHONE, CONTACTS, &Commit { maps: vec![pair("L", &g)], ..Commit::default() }).unwrap();
    }
    let alice_before = snapshot(s, alice);
    s.delete_user("bob").unwrap();
    assert_eq!(s.items(bob, CONTACTS).unwrap(), vec![]);
    assert_eq!(s.changes_since(bob, CONTACTS, 0).unwrap(), vec![]);
    assert_eq!(s.current_seq(bob).unwrap(), 0);
    assert_eq!(s.list_devices(bob).unwrap(), vec![]);
    assert_eq!(s.device(bob, PHONE).unwrap(), None);
    assert_eq!(s.anchor(bob, PHONE, CONTACTS).unwrap(), None);
    assert_eq!(s.id_map(bob, PHONE, CONTACTS).unwrap(), vec![]);
    assert!(matches!(s.apply(bob, CONTACTS, &Origin::Service, &[add(b"x")]), Err(StoreError::NotFound(_))));
    assert_eq!(snapshot(s, alice), alice_before);
    // A new user of the same name starts empty.
    let again = s.create_user("bob", "y").unwrap().id;
    assert_eq!(snapshot(s, again), snapshot(s, UserId(i64::MAX)), "nothing of the old bob");
}

pub(crate) fn users_are_isolated(s: &dyn Store) {
    let bob = s.create_user("bob", "x").unwrap().id;
    let alice = s.create_user("alice", "x").unwrap().id;
    let g = add_one(s, bob, CONTACTS, b"bob's");
    assert_eq!(s.item(alice, CONTACTS, &g).unwrap(), None);
    assert_eq!(s.items(alice, CONTACTS).unwrap(), vec![]);
    assert_eq!(s.changes_since(alice, CONTACTS, 0).unwrap(), vec![]);
    assert_eq!(
        s.apply(alice, CONTACTS, &Origin::Service, &[replace_with(&g, b"x"), delete(&g)]).unwrap(),
        vec![Applied::NotFound, Applied::NotFound]
    );
    assert_eq!(s.item(bob, CONTACTS, &g).unwrap().unwrap().data, b"bob's");
    // The same device id under two users is two devices.
    s.put_device(bob, &DeviceRecord { nonce: Some(b"b".to_vec()), ..device(PHONE) }).unwrap();
    s.put_device(alice, &DeviceRecord { nonce: Some(b"a".to_vec()), ..device(PHONE) }).unwrap();
    s.set_anchor(bob, PHONE, CONTACTS, &anchor("b", "b", 1)).unwrap();
    s.commit(bob, PHONE, CONTACTS, &Commit { maps: vec![pair("L", &g)], ..Commit::default() }).unwrap();
    assert_eq!(s.device(alice, PHONE).unwrap().unwrap().nonce, Some(b"a".to_vec()));
    assert_eq!(s.anchor(alice, PHONE, CONTACTS).unwrap(), None);
    assert_eq!(s.id_map(alice, PHONE, CONTACTS).unwrap(), vec![]);
    s.delete_device(alice, PHONE).unwrap();
    assert_eq!(s.device(bob, PHONE).unwrap().unwrap().nonce, Some(b"b".to_vec()));
    assert_eq!(s.anchor(bob, PHONE, CONTACTS).unwrap(), Some(anchor("b", "b", 1)));
}

pub(crate) fn datastores_are_isolated(s: &dyn Store) {
    let u = s.create_user("bob", "x").unwrap().id;
    let c = add_one(s, u, CONTACTS, b"contact");
    let e = add_one(s, u, EVENTS, b"event");
    assert_eq!(s.item(u, EVENTS, &c).unwrap(), None);
    assert_eq!(s.items(u, CONTACTS).unwrap().len(), 1);
    assert_eq!(s.items(u, EVENTS).unwrap().len(), 1);
    assert_eq!(s.items(u, "memo").unwrap(), vec![]);
    let applied = s.apply(u, EVENTS, &Origin::Service, &[replace_with(&c, b"x"), delete(&c)]).unwrap();
    assert_eq!(applied, vec![Applied::NotFound, Applied::NotFound]);
    assert_eq!(s.item(u, CONTACTS, &c).unwrap().unwrap().data, b"contact");
    assert_eq!(s.changes_since(u, CONTACTS, 0).unwrap(), vec![change(&c, ChangeKind::Add, Origin::Service, 1)]);
    assert_eq!(s.changes_since(u, EVENTS, 0).unwrap(), vec![change(&e, ChangeKind::Add, Origin::Service, 2)]);
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Everything the store holds for one user, as seen through the trait.
#[derive(Debug, Default, PartialEq)]
struct Snapshot {
    seq: u64,
    items: Vec<(String, Vec<ItemRecord>)>,
    changes: Vec<(String, Vec<Change>)>,
    devices: Vec<DeviceRecord>,
    anchors: Vec<Option<SyncAnchor>>,
    maps: Vec<Vec<(String, String)>>,
}

fn snapshot(s: &dyn Store, u: UserId) -> Snapshot {
    let datastores = [CONTACTS, EVENTS];
    let devices = [PHONE, TABLET];
    let mut snap =
        Snapshot { seq: s.current_seq(u).unwrap(), devices: s.list_devices(u).unwrap(), ..Snapshot::default() };
    for ds in datastores {
        snap.items.push((ds.into(), s.items(u, ds).unwrap()));
        snap.changes.push((ds.into(), s.changes_since(u, ds, 0).unwrap()));
        for d in devices {
            snap.anchors.push(s.anchor(u, d, ds).unwrap());
            snap.maps.push(s.id_map(u, d, ds).unwrap());
        }
    }
    snap
}

fn add(data: &[u8]) -> Mutation {
    Mutation::Add { parent: None, content_type: VCARD.into(), data: data.to_vec() }
}

fn replace_with(guid: &str, data: &[u8]) -> Mutation {
    Mutation::Replace {
        guid: guid.into(),
        parent: None,
        content_type: VCARD.into(),
        data: data.to_vec(),
        fields_only: false,
    }
}

fn delete(guid: &str) -> Mutation {
    Mutation::Delete { guid: guid.into() }
}

fn add_one(s: &dyn Store, u: UserId, ds: &str, data: &[u8]) -> String {
    add_as(s, u, ds, &Origin::Service, data)
}

fn add_as(s: &dyn Store, u: UserId, ds: &str, origin: &Origin, data: &[u8]) -> String {
    let applied = s.apply(u, ds, origin, &[add(data)]).unwrap();
    assert_eq!(applied.len(), 1);
    done(&applied[0])
}

fn done(applied: &Applied) -> String {
    applied.guid().expect("mutation applied").to_owned()
}

fn done_guid(guid: &str) -> Applied {
    Applied::Done { guid: guid.into() }
}

fn dev(id: &str) -> Origin {
    Origin::Device(id.into())
}

fn change(guid: &str, kind: ChangeKind, origin: Origin, seq: u64) -> Change {
    let delta = match kind {
        ChangeKind::Add | ChangeKind::Replace => Delta::WHOLE,
        ChangeKind::Delete => Delta::default(),
    };
    Change { guid: guid.into(), kind, origin, seq, delta }
}

fn device(id: &str) -> DeviceRecord {
    DeviceRecord { device_id: id.into(), ..DeviceRecord::default() }
}

fn anchor(client: &str, server: &str, seq: u64) -> SyncAnchor {
    SyncAnchor { client_next: client.into(), server_next: server.into(), synced_seq: seq, filter: None }
}

fn pair(luid: &str, guid: &str) -> MapUpdate {
    MapUpdate::Pair { luid: luid.into(), guid: guid.into() }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(l, g)| ((*l).to_owned(), (*g).to_owned())).collect()
}
