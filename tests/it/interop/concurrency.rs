//! Two SyncEvolution devices of one user syncing at the same moment (each sync on its own
//! thread). The gateway runs one session per user at a time: the second session waits for the
//! first to end at its second message (`server::user_locks`), so both must succeed, and after
//! one more round each both devices and the server hold the same items, with no duplicates and
//! nothing lost. What the server holds is seen through a fresh device that slow-syncs.

use super::harness::{Device, DeviceOpts, Gateway, SyncMode};
use super::items::{note, vcard, vcard_with_email, Store};
use super::report::SyncResult;

const USER: &str = "alice";
const PASSWORD: &str = "secret";

/// Different adds, modifies and deletes on both devices (100 new contacts each, in 10 KB
/// messages, so that the sessions overlap), synced at once.
#[test]
fn two_devices_with_different_changes_syncing_at_once_both_succeed_and_converge() {
    let gw = gateway();
    let opts = DeviceOpts::default().max_msg_size(10240).stores(&[Store::Contacts, Store::Notes]);
    let a = device(&gw, "a", opts.clone());
    let b = device(&gw, "b", opts);
    let base =
        [vcard("Ann Able", "+1 555 0001"), vcard("Bob Baker", "+1 555 0002"), vcard("Carl Clark", "+1 555 0003")];
    fill(&a, Store::Contacts, &base);
    a.add_item(Store::Notes, "1", &note("Shared", "from A"));
    a.sync(SyncMode::Slow).assert_ok();
    b.sync(SyncMode::Slow).assert_ok();

    // A: adds 100, modifies Ann, adds a note. B: adds 100 others, deletes Carl.
    let from_a = people("Alpha", 100);
    let from_b = people("Bravo", 100);
    for (i, text) in from_a.iter().enumerate() {
        a.add_item(Store::Contacts, &(100 + i).to_string(), text);
    }
    a.modify_contact(&luid_of(&a, Store::Contacts, &base[0]), "Ann Able", "+1 555 0111");
    a.add_item(Store::Notes, "2", &note("Only A", "a"));
    for (i, text) in from_b.iter().enumerate() {
        b.add_item(Store::Contacts, &(1000 + i).to_string(), text);
    }
    b.delete(Store::Contacts, &luid_of(&b, Store::Contacts, &base[2]));

    let (ra, rb) = at_once(&a, &b, SyncMode::TwoWay);
    ra.assert_ok();
    rb.assert_ok();
    for dev in [&a, &b] {
        dev.sync(SyncMode::TwoWay).assert_ok();
    }

    let mut contacts = vec![vcard("Ann Able", "+1 555 0111"), base[1].clone()];
    contacts.extend(from_a);
    contacts.extend(from_b);
    let notes = [note("Shared", "from A"), note("Only A", "a")];
    for dev in [&a, &b, &server_view(&gw)] {
        dev.assert_items(Store::Contacts, &contacts);
        dev.assert_items(Store::Notes, &notes);
    }
    // Nothing pending: one more round moves nothing.
    for dev in [&a, &b] {
        assert_nothing_moved(&dev.sync(SyncMode::TwoWay));
    }
}

/// Two new devices with the same 150 contacts (and a few of their own) slow-sync at once: the
/// gateway must match the second device's copies against the first's instead of adding them
/// again, so nobody ends with duplicates.
#[test]
fn concurrent_first_slow_syncs_of_the_same_content_create_no_duplicates() {
    let gw = gateway();
    let opts = DeviceOpts::default().max_msg_size(10240).stores(&[Store::Contacts]);
    let a = device(&gw, "a", opts.clone());
    let b = device(&gw, "b", opts);
    let shared = people("Shared", 150);
    let only_a = people("OnlyA", 5);
    let only_b = people("OnlyB", 5);
    fill(&a, Store::Contacts, &[shared.clone(), only_a.clone()].concat());
    fill(&b, Store::Contacts, &[shared.clone(), only_b.clone()].concat());

    let (ra, rb) = at_once(&a, &b, SyncMode::Slow);
    ra.assert_ok();
    rb.assert_ok();
    for dev in [&a, &b] {
        dev.sync(SyncMode::TwoWay).assert_ok();
    }

    let all = [shared, only_a, only_b].concat();
    for dev in [&a, &b, &server_view(&gw)] {
        dev.assert_items(Store::Contacts, &all);
    }
    for dev in [&a, &b] {
        assert_nothing_moved(&dev.sync(SyncMode::TwoWay));
    }
}

// ---------------------------------------------------------------- helpers

fn gateway() -> Gateway {
    let gw = Gateway::start(None);
    gw.add_user(USER, PASSWORD);
    gw
}

fn device(gw: &Gateway, name: &str, opts: DeviceOpts) -> Device {
    Device::new(name, &gw.url(), USER, PASSWORD, opts)
}

/// Runs one sync of each device, both started at the same moment on their own threads.
fn at_once(a: &Device, b: &Device, mode: SyncMode) -> (SyncResult, SyncResult) {
    let start = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            start.wait();
            b.sync(mode)
        });
        start.wait();
        let ra = a.sync(mode);
        (ra, other.join().expect("the sync thread of b"))
    })
}

/// What the server holds: a fresh device with no data slow-syncs.
fn server_view(gw: &Gateway) -> Device {
    let opts = DeviceOpts::default().stores(&[Store::Contacts, Store::Notes]);
    let probe = device(gw, "probe", opts);
    probe.sync(SyncMode::Slow).assert_ok();
    probe
}

fn people(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            vcard_with_email(
                &format!("{tag}{i:03} Person"),
                &format!("+1 555 {i:04}"),
                Some(&format!("{}{i}@example.com", tag.to_lowercase())),
            )
        })
        .collect()
}

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

fn assert_nothing_moved(result: &SyncResult) {
    result.assert_ok();
    for (name, s) in &result.stores {
        let moved = (s.local_added(), s.local_updated(), s.local_removed(), s.remote_added(), s.remote_removed());
        assert_eq!(moved, (0, 0, 0, 0, 0), "{}", result.failure_report(&format!("{name} still moved items")));
    }
}
