//! Suspend and resume (DS 1.2, PROTOCOL.md §3.7) with the real SyncEvolution client: a first
//! SIGINT asks the client to suspend its session (it sends Alert 224), its next run resumes it
//! with Alert 225. A second device pulls 300 contacts in 10 KB messages; the client is
//! interrupted in the middle of the server's package (counted in answered requests, as in
//! `crash.rs`). The resumed session must complete, and the device must end with the 300
//! contacts, none twice. The other way round: the gateway stopped (SIGTERM) in the middle of a
//! download suspends the session itself (server Alert 224) and the client resumes it after the
//! restart.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::harness::{Device, DeviceOpts, Gateway, SyncMode};
use super::items::{self, vcard_with_email, Store};
use super::report::SyncResult;

const USER: &str = "alice";
const PASSWORD: &str = "secret";
const N: usize = 300;
const CONFIG: &str = "log = \"info,syncgate::server=debug\"\n";

#[test]
fn suspended_download_resumes_without_duplicates() {
    let gw = Gateway::start(Some(CONFIG));
    gw.add_user(USER, PASSWORD);
    let opts = || DeviceOpts::default().max_msg_size(10240).stores(&[Store::Contacts]);
    let a = Device::new("a", &gw.url(), USER, PASSWORD, opts());
    let contacts: Vec<String> = (0..N)
        .map(|i| {
            vcard_with_email(
                &format!("Susp{i:04} Resume"),
                &format!("+1 555 {i:04}"),
                Some(&format!("s{i}@example.com")),
            )
        })
        .collect();
    for (i, text) in contacts.iter().enumerate() {
        a.add_item(Store::Contacts, &(i + 1).to_string(), text);
    }
    a.sync(SyncMode::Slow).assert_ok();

    // The client occasionally finishes a run in spite of the SIGINT when the machine is busy
    // (seen once in a loaded full-suite run; its output showed no sign of the signal). That is
    // the client's timing, not the gateway's: try again with a fresh device, at most 3 times.
    let mut suspended = None;
    for attempt in 1..=3 {
        let b = Device::new(&format!("b{attempt}"), &gw.url(), USER, PASSWORD, opts());
        let offset = gw.log().len();
        let first = interrupted_run(&gw, &b, offset);
        if gw.log()[offset..].contains("client suspends the session") {
            suspended = Some((b, first));
            break;
        }
        eprintln!("attempt {attempt}: no Alert 224 reached the gateway; {}", first.failure_report("interrupted run"));
    }
    let Some((b, _)) = suspended else { panic!("the client never suspended in 3 attempts (reports above)") };
    let received = b.count(Store::Contacts);
    assert!(received < N, "the suspend came too late: {received} contacts already on the device");

    let offset = gw.log().len();
    // The user runs the same command again (SyncEvolution refuses a slow sync it did not ask
    // for, and the resumed session continues the interrupted slow sync).
    let second = b.sync(SyncMode::Slow);
    second.assert_ok();
    let log = gw.log()[offset..].to_string();
    assert!(log.contains("resuming a suspended session"), "the client did not resume (Alert 225 accepted):\n{log}");
    assert_eq!(
        second.store(Store::Contacts).local_added() as usize,
        N - received,
        "the resumed session sends exactly what the device did not confirm; {}",
        second.failure_report("resumed run")
    );
    let on_device: Vec<String> = b.items(Store::Contacts).into_values().collect();
    if let Err(diff) = items::compare(Store::Contacts, &contacts, &on_device) {
        panic!("after the resume: {diff}");
    }
    // Nothing left pending.
    let idle = b.sync(SyncMode::TwoWay);
    idle.assert_ok();
    let s = idle.store(Store::Contacts);
    assert_eq!((s.remote_added(), s.local_added()), (0, 0), "{}", idle.failure_report("items still moving"));
}

/// The gateway is stopped (SIGTERM) in the middle of a device's download: it suspends the
/// session from its side (server Alert 224) before exiting; after the restart the client's next
/// run resumes (Alert 225) and the device ends with every contact once.
#[test]
fn gateway_stop_suspends_the_session_and_the_client_resumes() {
    let mut gw = Gateway::start(Some(CONFIG));
    gw.add_user(USER, PASSWORD);
    let opts = || DeviceOpts::default().max_msg_size(10240).stores(&[Store::Contacts]);
    let a = Device::new("a", &gw.url(), USER, PASSWORD, opts());
    let contacts: Vec<String> =
        (0..N).map(|i| vcard_with_email(&format!("Stop{i:04} Resume"), &format!("+1 555 {i:04}"), None)).collect();
    for (i, text) in contacts.iter().enumerate() {
        a.add_item(Store::Contacts, &(i + 1).to_string(), text);
    }
    a.sync(SyncMode::Slow).assert_ok();

    let b = Device::new("b", &gw.url(), USER, PASSWORD, opts());
    let offset = gw.log().len();
    let done = AtomicBool::new(false);
    let first = std::thread::scope(|scope| {
        let stopper = scope.spawn(|| {
            let started = Instant::now();
            while gw.log()[offset..].matches("request done").count() < 6 {
                if done.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(60) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            gw.send_term();
            Some(())
        });
        let result = b.sync(SyncMode::Slow);
        done.store(true, Ordering::SeqCst);
        let stopped = stopper.join().expect("the stopper thread");
        assert!(stopped.is_some(), "the gateway was not stopped: {}", result.failure_report("first run"));
        result
    });
    // The client saw the server's Alert 224 as a suspend (SyncEvolution status 20032,
    // "explicitly suspended"), not as a transport failure.
    assert!(first.status == Some(20032), "the client did not suspend; {}", first.failure_report("the interrupted run"));
    let status = gw.wait_stopped();
    assert!(status.success(), "the gateway exited with {status} after SIGTERM");
    let log = gw.log()[offset..].to_string();
    assert!(
        log.contains("the session is suspended (server Alert 224)"),
        "the gateway did not suspend the session; {}",
        first.failure_report("the interrupted run")
    );
    let received = b.count(Store::Contacts);
    assert!(received < N, "the stop came too late: {received} contacts already on the device");

    gw.start_again();
    let offset = gw.log().len();
    let second = b.sync(SyncMode::Slow);
    second.assert_ok();
    let log = gw.log()[offset..].to_string();
    assert!(log.contains("resuming a suspended session"), "the client did not resume after the restart:\n{log}");
    let on_device: Vec<String> = b.items(Store::Contacts).into_values().collect();
    if let Err(diff) = items::compare(Store::Contacts, &contacts, &on_device) {
        panic!("after the resume: {diff}");
    }
}

/// Runs `b`'s slow sync and sends the client SIGINT once the gateway has answered six requests
/// since `offset` of its log (challenge, alerts, empty client package, then server messages).
fn interrupted_run(gw: &Gateway, b: &Device, offset: usize) -> SyncResult {
    let done = AtomicBool::new(false);
    let after = 6;
    std::thread::scope(|scope| {
        let interrupter = scope.spawn(|| {
            let started = Instant::now();
            while gw.log()[offset..].matches("request done").count() < after {
                if done.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(60) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            client_pid(b.home()).is_some_and(|pid| {
                std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().is_ok_and(|s| s.success())
            })
        });
        let result = b.sync(SyncMode::Slow);
        done.store(true, Ordering::SeqCst);
        let interrupted = interrupter.join().expect("the interrupter thread");
        assert!(interrupted, "the client was not interrupted: {}", result.failure_report("first run"));
        result
    })
}

/// The pid of the `syncevolution` process running with `HOME=home` (the one this test started).
fn client_pid(home: &Path) -> Option<u32> {
    let want = format!("HOME={}", home.display());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        for entry in fs::read_dir("/proc").ok()?.filter_map(Result::ok) {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let comm = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if !comm.trim().starts_with("syncevolution") {
                continue;
            }
            let environ = fs::read(entry.path().join("environ")).unwrap_or_default();
            if environ.split(|b| *b == 0).any(|v| v == want.as_bytes()) {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}
