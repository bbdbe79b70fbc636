//! Crash safety with the real SyncEvolution client: the gateway is killed with SIGKILL in the
//! middle of a session, restarted on the same port and data directory, and the device syncs
//! again. No item the gateway acknowledged may be lost, none may be duplicated, and the device
//! and the server must end with the same items.
//!
//! Kill points are counted in answered requests: the gateway logs one `request done` line per
//! request (`syncgate::server=debug`), and the gateway is killed once `after` of them are
//! written plus `delay_ms` (0 ms lands while the next request is being handled or just before
//! it arrives, a few ms lands inside its handling). With 300 contacts in 10 KB messages a
//! session has ~15 requests: message 1 (alerts), the client's package (many messages for an
//! upload), the server's package (many messages for a download), the map message.
//!
//! After the restart the interrupted session is gone (its token is unknown: HTTP 404), so the
//! client's run fails unless the kill came after its last request. The client's next sync asks
//! to resume the interrupted session (Alert 225); the gateway refuses (509) and continues with a
//! two-way sync, or a slow one (508) where the anchors do not match: after an interrupted first
//! sync (no anchors yet), or when the gateway had stored the session's anchors but the client
//! never got the last reply. SyncEvolution refuses a slow sync it did not ask for ("unexpected
//! slow sync", status 20017/22000); the test then runs the slow sync a user would run. What the server holds is read from its
//! SQLite file directly (cheaper than a probe device per kill point).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use syncgate::store::sqlite::SqliteStore;
use syncgate::store::Store as _;

use super::harness::{Device, DeviceOpts, Gateway, SyncMode};
use super::items::{self, vcard_with_email, Store};
use super::report::SyncResult;

const USER: &str = "alice";
const PASSWORD: &str = "secret";
/// Contacts per scenario.
const N: usize = 300;
/// One `request done` line per answered request.
const CONFIG: &str = "log = \"info,syncgate::server=debug\"\n";

/// Where to kill: after `after` answered requests and another `delay_ms`.
#[derive(Clone, Copy, Debug)]
struct KillPoint {
    after: usize,
    delay_ms: u64,
}

const fn kp(after: usize, delay_ms: u64) -> KillPoint {
    KillPoint { after, delay_ms }
}

/// A first slow sync uploading 300 contacts (the client's package is ~12 messages).
#[test]
fn killed_during_a_first_slow_sync_upload_loses_and_duplicates_nothing() {
    // 10 requests: 401 challenge, alerts, 7 client messages, map; the last point is after it.
    let points = [kp(1, 3), kp(2, 0), kp(3, 1), kp(5, 2), kp(7, 0), kp(8, 1), kp(9, 0), kp(9, 2), kp(10, 0)];
    for point in points {
        let mut gw = gateway();
        let a = device(&gw, "a");
        let contacts = contacts("Up", N);
        fill(&a, &contacts);
        let (seen, first) = sync_and_kill(&mut gw, &a, SyncMode::Slow, point);
        converge(&a, &first, point, seen);
        assert_both_hold(&gw, &a, &contacts, point, seen);
    }
}

/// A second device slow-syncing with no data pulls 300 contacts (the server's package is ~12
/// messages, then the map).
#[test]
fn killed_during_a_slow_sync_download_loses_and_duplicates_nothing() {
    // 16 requests: challenge, alerts, the empty client package, 12 server messages, map.
    let points = [kp(2, 0), kp(3, 2), kp(5, 0), kp(8, 1), kp(11, 0), kp(14, 2), kp(15, 0)];
    for point in points {
        let mut gw = gateway();
        let a = device(&gw, "a");
        let contacts = contacts("Down", N);
        fill(&a, &contacts);
        a.sync(SyncMode::Slow).assert_ok();
        let b = device(&gw, "b");
        let (seen, first) = sync_and_kill(&mut gw, &b, SyncMode::Slow, point);
        converge(&b, &first, point, seen);
        assert_both_hold(&gw, &b, &contacts, point, seen);
    }
}

/// A device that synced before pulls 300 new contacts in a two-way sync: an interrupted server
/// package leaves items on the device that the server has no map for.
#[test]
fn killed_during_a_two_way_download_loses_and_duplicates_nothing() {
    let points = [kp(2, 0), kp(4, 1), kp(7, 0), kp(10, 2), kp(13, 0), kp(14, 1)];
    for point in points {
        let mut gw = gateway();
        let a = device(&gw, "a");
        let b = device(&gw, "b");
        let mut contacts = contacts("Old", 5);
        fill(&a, &contacts);
        a.sync(SyncMode::Slow).assert_ok();
        b.sync(SyncMode::Slow).assert_ok();
        let new = self::contacts("New", N);
        for (i, text) in new.iter().enumerate() {
            a.add_item(Store::Contacts, &(100 + i).to_string(), text);
        }
        a.sync(SyncMode::TwoWay).assert_ok();
        contacts.extend(new);
        let (seen, first) = sync_and_kill(&mut gw, &b, SyncMode::TwoWay, point);
        converge(&b, &first, point, seen);
        assert_both_hold(&gw, &b, &contacts, point, seen);
        a.sync(SyncMode::TwoWay).assert_ok();
        a.assert_items(Store::Contacts, &contacts);
    }
}

// ---------------------------------------------------------------- helpers

fn gateway() -> Gateway {
    let gw = Gateway::start(Some(CONFIG));
    gw.add_user(USER, PASSWORD);
    gw
}

fn device(gw: &Gateway, name: &str) -> Device {
    let opts = DeviceOpts::default().max_msg_size(10240).stores(&[Store::Contacts]);
    Device::new(name, &gw.url(), USER, PASSWORD, opts)
}

fn contacts(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            vcard_with_email(
                &format!("{tag}{i:04} Crash"),
                &format!("+1 555 {i:04}"),
                Some(&format!("{}{i}@example.com", tag.to_lowercase())),
            )
        })
        .collect()
}

fn fill(dev: &Device, items: &[String]) {
    for (i, text) in items.iter().enumerate() {
        dev.add_item(Store::Contacts, &(i + 1).to_string(), text);
    }
}

/// Runs one sync of `dev` while a second thread SIGKILLs and restarts the gateway at `point`
/// (or once the sync is over, if it ends first). Returns how many requests the gateway had
/// answered when it was killed, and the interrupted run.
fn sync_and_kill(gw: &mut Gateway, dev: &Device, mode: SyncMode, point: KillPoint) -> (usize, SyncResult) {
    let done = AtomicBool::new(false);
    let offset = gw.log().len();
    std::thread::scope(|scope| {
        let killer = scope.spawn(|| {
            let started = Instant::now();
            let seen = loop {
                let seen = answered(&gw.log()[offset..]);
                if seen >= point.after || done.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(60) {
                    break seen;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            std::thread::sleep(Duration::from_millis(point.delay_ms));
            gw.restart();
            seen
        });
        // After the restart the session is unknown (404): no point resending for long.
        let result = dev.sync_with(mode, &[("RetryInterval", "1"), ("RetryDuration", "3")]);
        done.store(true, Ordering::SeqCst);
        let seen = killer.join().expect("the killer thread");
        let ended = if result.run.exit_code == Some(0) {
            "succeeded".to_string()
        } else {
            format!("failed ({:?})", result.status)
        };
        eprintln!("crash: {} {mode} killed at {point:?}: {seen} requests answered, the run {ended}", dev.name());
        (seen, result)
    })
}

/// Number of requests answered in `log`.
fn answered(log: &str) -> usize {
    log.matches("request done").count()
}

/// Syncs `dev` again until it succeeds: two-way, and slow where SyncEvolution refuses the
/// slow sync the gateway asks for (see the module docs).
fn converge(dev: &Device, first: &SyncResult, point: KillPoint, seen: usize) {
    let interrupted = first.run.exit_code != Some(0) || first.status != Some(200);
    let again = dev.sync(SyncMode::TwoWay);
    let ok = again.run.exit_code == Some(0) && again.status == Some(200);
    if !ok {
        let unexpected_slow =
            matches!(again.status, Some(20017 | 22000)) || again.run.output().contains("unexpected slow sync");
        assert!(
            unexpected_slow,
            "kill at {point:?} (after {seen} answered requests, first run {}): {}",
            if interrupted { "failed" } else { "succeeded" },
            again.failure_report("the sync after the restart failed")
        );
        dev.sync(SyncMode::Slow).assert_ok();
    }
    // Nothing is left pending on either side.
    let idle = dev.sync(SyncMode::TwoWay);
    idle.assert_ok();
    let s = idle.store(Store::Contacts);
    let moved = (s.local_added(), s.local_updated(), s.local_removed(), s.remote_added(), s.remote_removed());
    assert_eq!(
        moved,
        (0, 0, 0, 0, 0),
        "kill at {point:?} (after {seen}): {}",
        idle.failure_report("the sync after convergence still moved items")
    );
}

/// The device and the gateway's store both hold exactly `expected` (as multisets).
fn assert_both_hold(gw: &Gateway, dev: &Device, expected: &[String], point: KillPoint, seen: usize) {
    let on_device: Vec<String> = dev.items(Store::Contacts).into_values().collect();
    if let Err(diff) = items::compare(Store::Contacts, expected, &on_device) {
        panic!("kill at {point:?} (after {seen} answered requests): device {}: {diff}", dev.name());
    }
    let on_server = server_items(gw);
    if let Err(diff) = items::compare(Store::Contacts, expected, &on_server) {
        panic!("kill at {point:?} (after {seen} answered requests): server: {diff}");
    }
}

/// The contacts of `alice` in the gateway's SQLite file (read while it runs: WAL readers).
fn server_items(gw: &Gateway) -> Vec<String> {
    let dir = gw.data_dir().expect("crash tests run against syncgate");
    let store = SqliteStore::open(&dir.join(syncgate::config::DATABASE_FILE)).expect("open the gateway's store");
    let user = store.user_by_name(USER).expect("read users").expect("alice exists");
    let items = store.items(user.id, Store::Contacts.uri()).expect("read the contacts");
    items.into_iter().map(|it| String::from_utf8_lossy(&it.data).into_owned()).collect()
}
