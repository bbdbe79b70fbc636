//! Acceptance tests for the sync modes with the real SyncEvolution client: slow, two-way,
//! refresh and one-way syncs, both encodings and both auth schemes, several devices of one
//! user, rejected credentials, and a 2,000-contact address book in 10 KB messages.
//!
//! Every test starts its own gateway (tests run in parallel) and checks both ends: the
//! devices' data folders, and what the server holds, seen through a fresh device that
//! slow-syncs with no local data (`server_view`). Items are compared semantically
//! (`items::canonical`), as multisets, so duplicates fail a test.

use super::harness::{Auth, Device, DeviceOpts, Gateway, SyncMode};
use super::items::{note, vcard, vcard_with_email, vevent, Store};
use super::report::SyncResult;

const USER: &str = "alice";
const PASSWORD: &str = "secret";

/// First slow sync uploads everything; a second device receives the same content.
#[test]
fn first_slow_sync_uploads_items_and_a_second_device_receives_them_unchanged() {
    let gw = gateway();
    let a = device(&gw, "a", DeviceOpts::default());
    let contacts = [
        vcard_with_email("John Doe", "+1 555 0100", Some("john.doe@example.com")),
        vcard("Jane Roe", "+1 555 0101"),
        vcard_with_email("Erika Mustermann", "+49 30 1234567", Some("erika@example.org")),
    ];
    let events = [
        vevent("syncgate-ev-1@example.com", "Team meeting", "20260105T090000Z"),
        vevent("syncgate-ev-2@example.com", "Weekly review", "20260106T140000Z"),
    ];
    let notes = [note("Shopping", "milk, bread, coffee"), note("Call Bob", "about the offsite")];
    fill(&a, Store::Contacts, &contacts);
    fill(&a, Store::Calendar, &events);
    fill(&a, Store::Notes, &notes);

    let up = a.sync(SyncMode::Slow);
    up.assert_ok();
    assert_sent(&up, Store::Contacts, 3, 0, 0);
    assert_sent(&up, Store::Calendar, 2, 0, 0);
    assert_sent(&up, Store::Notes, 2, 0, 0);
    assert_unchanged_locally(&up, "an empty server has nothing to send");
    a.assert_items(Store::Contacts, &contacts);

    let b = device(&gw, "b", DeviceOpts::default());
    let down = b.sync(SyncMode::Slow);
    down.assert_ok();
    assert_received(&down, Store::Contacts, 3, 0, 0);
    assert_received(&down, Store::Calendar, 2, 0, 0);
    assert_received(&down, Store::Notes, 2, 0, 0);
    b.assert_items(Store::Contacts, &contacts);
    b.assert_items(Store::Calendar, &events);
    b.assert_items(Store::Notes, &notes);
}

/// Adds, modifies and deletes made on one device reach the other after both sync, in both
/// directions.
#[test]
fn two_way_syncs_carry_adds_modifies_and_deletes_in_both_directions() {
    let gw = gateway();
    let a = device(&gw, "a", DeviceOpts::default());
    let b = device(&gw, "b", DeviceOpts::default());
    fill(
        &a,
        Store::Contacts,
        &[vcard("John Doe", "+1 555 0100"), vcard("Jane Roe", "+1 555 0101"), vcard("Erika Mustermann", "+49 30 1")],
    );
    fill(
        &a,
        Store::Calendar,
        &[
            vevent("ev-1@example.com", "Team meeting", "20260105T090000Z"),
            vevent("ev-2@example.com", "Review", "20260106T140000Z"),
        ],
    );
    fill(&a, Store::Notes, &[note("Shopping", "milk")]);
    a.sync(SyncMode::Slow).assert_ok();
    b.sync(SyncMode::Slow).assert_ok();

    // A: add, modify, delete in every store.
    a.add_contact("4", "Alex Smith", "+44 20 7946 0000");
    a.modify_contact("2", "Jane Roe", "+1 555 0199");
    a.delete(Store::Contacts, "3");
    a.modify_item(Store::Calendar, "1", &vevent("ev-1@example.com", "Team meeting (moved)", "20260105T130000Z"));
    a.delete(Store::Calendar, "2");
    a.modify_item(Store::Notes, "1", &note("Shopping", "milk, tea"));
    a.add_item(Store::Notes, "2", &note("Call Bob", "about the offsite"));
    let sent = a.sync(SyncMode::TwoWay);
    sent.assert_ok();
    assert_sent(&sent, Store::Contacts, 1, 1, 1);
    assert_sent(&sent, Store::Calendar, 0, 1, 1);
    assert_sent(&sent, Store::Notes, 1, 1, 0);
    assert_unchanged_locally(&sent, "B has not changed anything");

    let got = b.sync(SyncMode::TwoWay);
    got.assert_ok();
    assert_received(&got, Store::Contacts, 1, 1, 1);
    assert_received(&got, Store::Calendar, 0, 1, 1);
    assert_received(&got, Store::Notes, 1, 1, 0);
    let contacts =
        [vcard("John Doe", "+1 555 0100"), vcard("Jane Roe", "+1 555 0199"), vcard("Alex Smith", "+44 20 7946 0000")];
    let events = [vevent("ev-1@example.com", "Team meeting (moved)", "20260105T130000Z")];
    let notes = [note("Shopping", "milk, tea"), note("Call Bob", "about the offsite")];
    b.assert_items(Store::Contacts, &contacts);
    b.assert_items(Store::Calendar, &events);
    b.assert_items(Store::Notes, &notes);

    // B: add, modify, delete (on items B got from the server, found by content).
    let john = luid_of(&b, Store::Contacts, &contacts[0]);
    b.modify_contact(&john, "John Doe", "+1 555 0111");
    let alex = luid_of(&b, Store::Contacts, &contacts[2]);
    b.delete(Store::Contacts, &alex);
    b.add_contact("100", "Maria Garcia", "+34 91 123 4567");
    let meeting = luid_of(&b, Store::Calendar, &events[0]);
    b.delete(Store::Calendar, &meeting);
    b.add_item(Store::Calendar, "100", &vevent("ev-3@example.com", "Lunch", "20260107T120000Z"));
    let bob = luid_of(&b, Store::Notes, &notes[1]);
    b.modify_item(Store::Notes, &bob, &note("Call Bob", "about the offsite, before Friday"));
    let sent = b.sync(SyncMode::TwoWay);
    sent.assert_ok();
    assert_sent(&sent, Store::Contacts, 1, 1, 1);
    assert_sent(&sent, Store::Calendar, 1, 0, 1);
    assert_sent(&sent, Store::Notes, 0, 1, 0);

    let got = a.sync(SyncMode::TwoWay);
    got.assert_ok();
    assert_received(&got, Store::Contacts, 1, 1, 1);
    assert_received(&got, Store::Calendar, 1, 0, 1);
    assert_received(&got, Store::Notes, 0, 1, 0);
    let contacts =
        [vcard("John Doe", "+1 555 0111"), vcard("Jane Roe", "+1 555 0199"), vcard("Maria Garcia", "+34 91 123 4567")];
    let events = [vevent("ev-3@example.com", "Lunch", "20260107T120000Z")];
    let notes = [note("Shopping", "milk, tea"), note("Call Bob", "about the offsite, before Friday")];
    for dev in [&a, &b] {
        dev.assert_items(Store::Contacts, &contacts);
        dev.assert_items(Store::Calendar, &events);
        dev.assert_items(Store::Notes, &notes);
    }
    // Nothing is pending any more: another round moves nothing either way.
    for dev in [&a, &b] {
        let idle = dev.sync(SyncMode::TwoWay);
        idle.assert_ok();
        assert_nothing_moved(&idle);
    }
}

/// Refresh from client (Alert 203): the server ends with exactly the client's items, and
/// another device follows on its next two-way sync.
#[test]
fn refresh_from_local_leaves_the_server_with_exactly_the_client_items() {
    let gw = gateway();
    let a = device(&gw, "a", DeviceOpts::default());
    let b = device(&gw, "b", DeviceOpts::default());
    fill(&a, Store::Contacts, &[vcard("Ann Able", "+1 555 0001"), vcard("Bob Baker", "+1 555 0002")]);
    fill(&a, Store::Notes, &[note("From A", "a")]);
    b.add_contact("1", "Carl Clark", "+1 555 0003");
    b.add_item(Store::Notes, "1", &note("From B", "b"));
    a.sync(SyncMode::Slow).assert_ok();
    b.sync(SyncMode::Slow).assert_ok();
    server_view(&gw, "probe-1").assert_items(
        Store::Contacts,
        &[vcard("Ann Able", "+1 555 0001"), vcard("Bob Baker", "+1 555 0002"), vcard("Carl Clark", "+1 555 0003")],
    );

    // A changes locally, then overwrites the server with its data.
    a.delete(Store::Contacts, "2");
    a.add_contact("3", "Dora Dale", "+1 555 0004");
    let refresh = a.sync(SyncMode::RefreshFromLocal);
    refresh.assert_ok();
    assert_unchanged_locally(&refresh, "refresh-from-local never changes the client");
    let contacts = [vcard("Ann Able", "+1 555 0001"), vcard("Dora Dale", "+1 555 0004")];
    let notes = [note("From A", "a")];
    a.assert_items(Store::Contacts, &contacts);
    a.assert_items(Store::Notes, &notes);
    let server = server_view(&gw, "probe-2");
    server.assert_items(Store::Contacts, &contacts);
    server.assert_items(Store::Notes, &notes);
    server.assert_items(Store::Calendar, &[]);

    b.sync(SyncMode::TwoWay).assert_ok();
    b.assert_items(Store::Contacts, &contacts);
    b.assert_items(Store::Notes, &notes);
}

/// Refresh from server as SyncEvolution does it by default: wipe local data, then slow sync
/// (Alert 201).
#[test]
fn refresh_from_remote_by_slow_sync_leaves_the_client_with_exactly_the_server_items() {
    refresh_from_remote(&[]);
}

/// Refresh from server with `enableRefreshSync=1`: Alert 205.
#[test]
fn refresh_from_remote_by_alert_205_leaves_the_client_with_exactly_the_server_items() {
    refresh_from_remote(&[("enableRefreshSync", "1")]);
}

/// One-way from client (Alert 202): the client's changes reach the server, the server's do
/// not reach the client.
#[test]
fn one_way_from_local_sends_changes_and_receives_none() {
    let gw = gateway();
    let a = device(&gw, "a", DeviceOpts::default());
    let b = device(&gw, "b", DeviceOpts::default());
    a.add_contact("1", "Ann Able", "+1 555 0001");
    a.sync(SyncMode::Slow).assert_ok();
    b.sync(SyncMode::Slow).assert_ok();
    b.add_contact("100", "Bob Baker", "+1 555 0002");
    b.add_item(Store::Notes, "100", &note("From B", "b"));
    b.sync(SyncMode::TwoWay).assert_ok();

    a.modify_contact("1", "Ann Able", "+1 555 0011");
    a.add_contact("2", "Carl Clark", "+1 555 0003");
    let one_way = a.sync(SyncMode::OneWayFromLocal);
    one_way.assert_ok();
    assert_sent(&one_way, Store::Contacts, 1, 1, 0);
    assert_unchanged_locally(&one_way, "one-way-from-local must not send server changes to the client");
    a.assert_items(Store::Contacts, &[vcard("Ann Able", "+1 555 0011"), vcard("Carl Clark", "+1 555 0003")]);
    a.assert_items(Store::Notes, &[]);

    let server = server_view(&gw, "probe");
    server.assert_items(
        Store::Contacts,
        &[vcard("Ann Able", "+1 555 0011"), vcard("Bob Baker", "+1 555 0002"), vcard("Carl Clark", "+1 555 0003")],
    );
    server.assert_items(Store::Notes, &[note("From B", "b")]);
}

/// One-way from server (the client sends Alert 200 and holds its changes back): the server's
/// changes reach the client, the client's stay local.
#[test]
fn one_way_from_remote_receives_changes_and_sends_none() {
    let gw = gateway();
    let a = device(&gw, "a", DeviceOpts::default());
    let b = device(&gw, "b", DeviceOpts::default());
    a.add_contact("1", "Ann Able", "+1 555 0001");
    a.sync(SyncMode::Slow).assert_ok();
    b.sync(SyncMode::Slow).assert_ok();
    b.add_contact("100", "Bob Baker", "+1 555 0002");
    b.add_item(Store::Notes, "100", &note("From B", "b"));
    b.sync(SyncMode::TwoWay).assert_ok();

    a.add_contact("2", "Carl Clark", "+1 555 0003");
    let one_way = a.sync(SyncMode::OneWayFromRemote);
    one_way.assert_ok();
    assert_received(&one_way, Store::Contacts, 1, 0, 0);
    assert_received(&one_way, Store::Notes, 1, 0, 0);
    assert_sent(&one_way, Store::Contacts, 0, 0, 0);
    a.assert_items(
        Store::Contacts,
        &[vcard("Ann Able", "+1 555 0001"), vcard("Bob Baker", "+1 555 0002"), vcard("Carl Clark", "+1 555 0003")],
    );
    a.assert_items(Store::Notes, &[note("From B", "b")]);

    let server = server_view(&gw, "probe");
    server.assert_items(Store::Contacts, &[vcard("Ann Able", "+1 555 0001"), vcard("Bob Baker", "+1 555 0002")]);
}

#[test]
fn core_scenario_in_wbxml_with_md5_auth() {
    core_scenario(true, Auth::Md5);
}

#[test]
fn core_scenario_in_wbxml_with_basic_auth() {
    core_scenario(true, Auth::Basic);
}

#[test]
fn core_scenario_in_xml_with_md5_auth() {
    core_scenario(false, Auth::Md5);
}

#[test]
fn core_scenario_in_xml_with_basic_auth() {
    core_scenario(false, Auth::Basic);
}

/// Two devices with overlapping data converge, and repeated slow syncs (the client sends no
/// UID, so the server must match items by content) never duplicate anything.
#[test]
fn two_devices_converge_and_repeated_slow_syncs_create_no_duplicates() {
    let gw = gateway();
    let a = device(&gw, "a", DeviceOpts::default());
    let b = device(&gw, "b", DeviceOpts::default());
    let shared_contact = vcard_with_email("Sam Shared", "+1 555 0100", Some("sam@example.com"));
    let shared_event = vevent("shared-ev@example.com", "Offsite", "20260110T090000Z");
    let shared_note = note("Shared", "on both devices");
    fill(
        &a,
        Store::Contacts,
        &[vcard("Ann Able", "+1 555 0001"), vcard("Bob Baker", "+1 555 0002"), shared_contact.clone()],
    );
    fill(&a, Store::Calendar, std::slice::from_ref(&shared_event));
    fill(&a, Store::Notes, &[shared_note.clone(), note("Only A", "a")]);
    fill(&b, Store::Contacts, &[vcard("Carl Clark", "+1 555 0003"), shared_contact.clone()]);
    fill(&b, Store::Calendar, std::slice::from_ref(&shared_event));
    fill(&b, Store::Notes, std::slice::from_ref(&shared_note));

    a.sync(SyncMode::Slow).assert_ok();
    b.sync(SyncMode::Slow).assert_ok();
    a.sync(SyncMode::TwoWay).assert_ok();
    let contacts = [
        vcard("Ann Able", "+1 555 0001"),
        vcard("Bob Baker", "+1 555 0002"),
        vcard("Carl Clark", "+1 555 0003"),
        shared_contact,
    ];
    let events = [shared_event];
    let notes = [shared_note, note("Only A", "a")];
    let check = |dev: &Device| {
        dev.assert_items(Store::Contacts, &contacts);
        dev.assert_items(Store::Calendar, &events);
        dev.assert_items(Store::Notes, &notes);
    };
    check(&a);
    check(&b);

    for round in 1..=3 {
        for dev in [&a, &b] {
            let slow = dev.sync(SyncMode::Slow);
            slow.assert_ok();
            assert_eq!(slow.store(Store::Contacts).mode, "slow", "round {round}: {}", slow.failure_report("mode"));
            check(dev);
        }
    }
    check(&server_view(&gw, "probe"));
}

/// A wrong password gets 401 and leaves the server's data alone.
#[test]
fn wrong_password_is_rejected_with_401_and_changes_nothing() {
    rejected_credentials(USER, "not-the-password");
}

/// An unknown user gets 401 and leaves the server's data alone.
#[test]
fn unknown_user_is_rejected_with_401_and_changes_nothing() {
    rejected_credentials("mallory", PASSWORD);
}

/// 2,000 contacts with the client's `maxMsgSize=10240`: the slow sync and the following
/// two-way sync without changes both succeed, and the server hands all of them to a second
/// device in 10 KB messages too.
#[test]
fn two_thousand_vcards_in_10k_messages() {
    const N: usize = 2000;
    let gw = gateway();
    let opts = DeviceOpts::default().max_msg_size(10240).stores(&[Store::Contacts]);
    let a = device(&gw, "a", opts.clone());
    let contacts: Vec<String> = (0..N)
        .map(|i| {
            vcard_with_email(
                &format!("Person{i:04} Bulk"),
                &format!("+1 555 {i:04}"),
                Some(&format!("p{i}@example.com")),
            )
        })
        .collect();
    fill(&a, Store::Contacts, &contacts);

    let slow = a.sync(SyncMode::Slow);
    slow.assert_ok();
    assert_sent(&slow, Store::Contacts, N as u64, 0, 0);
    assert!(
        slow.store(Store::Contacts).bytes_sent() > 10 * 10240,
        "{} item bytes cannot have fit in one 10 KB message",
        slow.store(Store::Contacts).bytes_sent()
    );
    assert_unchanged_locally(&slow, "the server was empty");

    let idle = a.sync(SyncMode::TwoWay);
    idle.assert_ok();
    assert_nothing_moved(&idle);
    assert_eq!(a.count(Store::Contacts), N);

    // The receiving device dumps every message (loglevel 5) to check the server's side of
    // the limit: several messages, none larger than the 10240 bytes the client announced.
    let b = device(&gw, "b", opts);
    let down = b.sync_with(SyncMode::Slow, &[("loglevel", "5")]);
    down.assert_ok();
    assert_received(&down, Store::Contacts, N as u64, 0, 0);
    b.assert_items(Store::Contacts, &contacts);
    let from_server: Vec<_> = down.message_dumps().into_iter().filter(|(_, _, incoming)| *incoming).collect();
    assert!(from_server.len() >= 10, "{} server messages for {N} vCards: {from_server:?}", from_server.len());
    for (path, size, _) in &from_server {
        assert!(*size <= 10240, "server message {} has {size} bytes > maxMsgSize 10240", path.display());
    }
}

fn core_scenario(wbxml: bool, auth: Auth) {
    let gw = gateway();
    let opts = DeviceOpts::default().wbxml(wbxml).auth(auth);
    let a = device(&gw, "a", opts.clone());
    let b = device(&gw, "b", opts);
    fill(&a, Store::Contacts, &[vcard("John Doe", "+1 555 0100"), vcard("Jane Roe", "+1 555 0101")]);
    fill(&a, Store::Calendar, &[vevent("ev-1@example.com", "Team meeting", "20260105T090000Z")]);
    fill(&a, Store::Notes, &[note("Shopping", "milk")]);
    a.sync(SyncMode::Slow).assert_ok();
    let down = b.sync(SyncMode::Slow);
    down.assert_ok();
    assert_received(&down, Store::Contacts, 2, 0, 0);
    assert_received(&down, Store::Calendar, 1, 0, 0);
    assert_received(&down, Store::Notes, 1, 0, 0);

    let john = luid_of(&b, Store::Contacts, &vcard("John Doe", "+1 555 0100"));
    b.modify_contact(&john, "John Doe", "+1 555 0111");
    let jane = luid_of(&b, Store::Contacts, &vcard("Jane Roe", "+1 555 0101"));
    b.delete(Store::Contacts, &jane);
    b.add_contact("100", "Alex Smith", "+44 20 7946 0000");
    b.add_item(Store::Notes, "100", &note("Call Bob", "about the offsite"));
    b.sync(SyncMode::TwoWay).assert_ok();

    let got = a.sync(SyncMode::TwoWay);
    got.assert_ok();
    assert_received(&got, Store::Contacts, 1, 1, 1);
    assert_received(&got, Store::Notes, 1, 0, 0);
    for dev in [&a, &b] {
        dev.assert_items(Store::Contacts, &[vcard("John Doe", "+1 555 0111"), vcard("Alex Smith", "+44 20 7946 0000")]);
        dev.assert_items(Store::Calendar, &[vevent("ev-1@example.com", "Team meeting", "20260105T090000Z")]);
        dev.assert_items(Store::Notes, &[note("Shopping", "milk"), note("Call Bob", "about the offsite")]);
    }
    // A third session of A (MD5: hashed with the nonce of the second one) still authenticates.
    let idle = a.sync(SyncMode::TwoWay);
    idle.assert_ok();
    assert_nothing_moved(&idle);
}

fn refresh_from_remote(props: &[(&str, &str)]) {
    let gw = gateway();
    let a = device(&gw, "a", DeviceOpts::default());
    let b = device(&gw, "b", DeviceOpts::default());
    fill(&a, Store::Contacts, &[vcard("Ann Able", "+1 555 0001"), vcard("Bob Baker", "+1 555 0002")]);
    fill(&a, Store::Notes, &[note("From A", "a")]);
    b.add_contact("1", "Carl Clark", "+1 555 0003");
    a.sync(SyncMode::Slow).assert_ok();
    b.sync(SyncMode::Slow).assert_ok();
    a.add_contact("3", "Dora Dale", "+1 555 0004");
    a.sync(SyncMode::TwoWay).assert_ok();
    let server_items = [
        vcard("Ann Able", "+1 555 0001"),
        vcard("Bob Baker", "+1 555 0002"),
        vcard("Carl Clark", "+1 555 0003"),
        vcard("Dora Dale", "+1 555 0004"),
    ];

    // B changes locally without syncing, then takes the server's data.
    b.add_contact("100", "Eve Early", "+1 555 0005");
    b.modify_contact("1", "Carl Clark", "+1 555 0033");
    let ann = luid_of(&b, Store::Contacts, &server_items[0]);
    b.delete(Store::Contacts, &ann);
    b.add_item(Store::Notes, "100", &note("Only on B", "b"));
    let refresh = b.sync_with(SyncMode::RefreshFromRemote, props);
    refresh.assert_ok();
    assert_sent(&refresh, Store::Contacts, 0, 0, 0);
    b.assert_items(Store::Contacts, &server_items);
    b.assert_items(Store::Notes, &[note("From A", "a")]);

    let server = server_view(&gw, "probe");
    server.assert_items(Store::Contacts, &server_items);
    server.assert_items(Store::Notes, &[note("From A", "a")]);
    // Nothing of B's discarded changes is left to send.
    let idle = b.sync(SyncMode::TwoWay);
    idle.assert_ok();
    assert_nothing_moved(&idle);
}

fn rejected_credentials(user: &str, password: &str) {
    let gw = gateway();
    let good = device(&gw, "good", DeviceOpts::default());
    let contacts = [vcard("Ann Able", "+1 555 0001"), vcard("Bob Baker", "+1 555 0002")];
    fill(&good, Store::Contacts, &contacts);
    fill(&good, Store::Notes, &[note("Good", "note")]);
    good.sync(SyncMode::Slow).assert_ok();

    let bad = Device::new("bad", &gw.url(), user, password, DeviceOpts::default());
    bad.add_contact("1", "Mallory Intruder", "+1 555 6666");
    bad.add_item(Store::Notes, "1", &note("Intruder", "was here"));
    bad.sync(SyncMode::Slow).assert_unauthorized();
    bad.assert_items(Store::Contacts, &[vcard("Mallory Intruder", "+1 555 6666")]);
    bad.assert_items(Store::Notes, &[note("Intruder", "was here")]);

    let server = server_view(&gw, "probe");
    server.assert_items(Store::Contacts, &contacts);
    server.assert_items(Store::Notes, &[note("Good", "note")]);
    let idle = good.sync(SyncMode::TwoWay);
    idle.assert_ok();
    assert_nothing_moved(&idle);
}

// ---------------------------------------------------------------- helpers

/// A gateway with user `alice`.
fn gateway() -> Gateway {
    let gw = Gateway::start(None);
    gw.add_user(USER, PASSWORD);
    gw
}

fn device(gw: &Gateway, name: &str, opts: DeviceOpts) -> Device {
    Device::new(name, &gw.url(), USER, PASSWORD, opts)
}

/// What the server holds for `alice`: a fresh, empty device slow-syncs and is returned.
fn server_view(gw: &Gateway, name: &str) -> Device {
    let probe = device(gw, name, DeviceOpts::default());
    probe.sync(SyncMode::Slow).assert_ok();
    probe
}

/// Writes `items` as LUIDs 1, 2, 3, ...
fn fill(dev: &Device, store: Store, items: &[String]) {
    for (i, text) in items.iter().enumerate() {
        dev.add_item(store, &(i + 1).to_string(), text);
    }
}

fn luid_of(dev: &Device, store: Store, text: &str) -> String {
    dev.find(store, text).unwrap_or_else(|| {
        panic!("device {} has no {store} item like {}", dev.name(), super::items::canonical(store, text))
    })
}

/// The client's counters of what it sent: added, updated, removed.
fn assert_sent(result: &SyncResult, store: Store, added: u64, updated: u64, removed: u64) {
    let s = result.store(store);
    let have = (s.remote_added(), s.remote_updated(), s.remote_removed());
    assert_eq!(
        have,
        (added, updated, removed),
        "{}",
        result.failure_report(&format!("{store}: (added, updated, removed) sent to the server"))
    );
}

/// The client's counters of what it received and applied: added, updated, removed.
fn assert_received(result: &SyncResult, store: Store, added: u64, updated: u64, removed: u64) {
    let s = result.store(store);
    let have = (s.local_added(), s.local_updated(), s.local_removed());
    assert_eq!(
        have,
        (added, updated, removed),
        "{}",
        result.failure_report(&format!("{store}: (added, updated, removed) received from the server"))
    );
}

fn assert_unchanged_locally(result: &SyncResult, why: &str) {
    for (name, s) in &result.stores {
        let have = (s.local_added(), s.local_updated(), s.local_removed());
        assert_eq!(have, (0, 0, 0), "{}", result.failure_report(&format!("{name} changed locally, but {why}")));
    }
}

fn assert_nothing_moved(result: &SyncResult) {
    assert_unchanged_locally(result, "nothing was pending");
    for (name, s) in &result.stores {
        let have = (s.remote_added(), s.remote_updated(), s.remote_removed());
        assert_eq!(
            have,
            (0, 0, 0),
            "{}",
            result.failure_report(&format!("{name} sent changes, but nothing was pending"))
        );
    }
}
