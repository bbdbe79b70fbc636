//! Conflict resolution with the real SyncEvolution client: devices A and B of one user both hold
//! contact X; A changes its TEL and syncs, then B (which has not seen A's change) adds an EMAIL
//! and syncs, which collides on the server with A's change. After A and B sync once more, both
//! devices and the server (a fresh probe device that slow-syncs) must hold what the `contacts`
//! datastore's `conflict_policy` says (src/engine/conflict.rs). One gateway per test.

use super::harness::{Device, DeviceOpts, Gateway, SyncMode};
use super::items::{vcard, vcard_with_email, Store};
use super::report::SyncResult;

const USER: &str = "alice";
const PASSWORD: &str = "secret";
const NAME: &str = "Xavier Example";

fn original() -> String {
    vcard(NAME, "+1 555 0100")
}

/// A's change: a new TEL.
fn a_version() -> String {
    vcard(NAME, "+1 555 0111")
}

/// B's change: the old TEL plus an EMAIL.
fn b_version() -> String {
    vcard_with_email(NAME, "+1 555 0100", Some("xavier@example.com"))
}

#[test]
fn server_wins_keeps_the_first_change_and_overwrites_the_second_device() {
    let scenario = conflict("server-wins");
    scenario.assert_resolved(419);
    scenario.assert_everywhere(&[a_version()]);
}

#[test]
fn client_wins_keeps_the_later_change_everywhere() {
    let scenario = conflict("client-wins");
    scenario.assert_resolved(208);
    scenario.assert_everywhere(&[b_version()]);
}

#[test]
fn duplicate_keeps_both_versions_as_two_contacts_everywhere() {
    let scenario = conflict("duplicate");
    scenario.assert_resolved(209);
    scenario.assert_everywhere(&[a_version(), b_version()]);
}

#[test]
fn merge_combines_the_first_devices_tel_with_the_second_devices_email() {
    let scenario = conflict("merge");
    scenario.assert_resolved(207);
    scenario.assert_everywhere(&[vcard_with_email(NAME, "+1 555 0111", Some("xavier@example.com"))]);
}

/// newer-wins compares `REV`s (conflict.rs `newer`). Our vCard files have none, and then the
/// client's outgoing script (/usr/share/syncevolution/xml/scripting/07vcard-addrev.xml) sets a
/// constant `REV:20100328T103410Z` on every vCard it sends. The server stores A's vCard with that
/// REV and B's arrives with the same one: equal times are undecidable, so the conflict falls back
/// to `duplicate` (209) and both versions are kept everywhere.
#[test]
fn newer_wins_without_rev_in_the_items_is_undecidable_and_duplicates() {
    let scenario = conflict("newer-wins");
    scenario.assert_resolved(209);
    scenario.assert_everywhere(&[a_version(), b_version()]);
}

/// With `REV`s of their own in the vCards (the client keeps a non-empty one), the later one wins:
/// B's change carries the later REV, so B's version wins (208) as under client-wins.
#[test]
fn newer_wins_with_rev_in_the_items_keeps_the_later_change() {
    let scenario = conflict_between(
        "newer-wins",
        &with_rev(&a_version(), "20260102T100000Z"),
        &with_rev(&b_version(), "20260102T110000Z"),
    );
    scenario.assert_resolved(208);
    scenario.assert_everywhere(&[b_version()]);
}

fn with_rev(card: &str, rev: &str) -> String {
    card.replace("END:VCARD", &format!("REV:{rev}\r\nEND:VCARD"))
}

/// The devices of one conflict scenario, after it has settled.
struct Scenario {
    gw: Gateway,
    a: Device,
    b: Device,
}

impl Scenario {
    /// The gateway logged exactly one conflict, resolved with `status` (syncgate only).
    fn assert_resolved(&self, status: u16) {
        if self.gw.data_dir().is_none() {
            return; // the reference server has no conflict policies
        }
        let log = self.gw.log();
        let conflicts: Vec<&str> = log.lines().filter(|l| l.contains("conflict: both sides changed")).collect();
        assert!(
            conflicts.len() == 1 && conflicts[0].contains(&format!("status={status}")),
            "expected one conflict resolved with {status}, the gateway logged:\n{}",
            conflicts.join("\n")
        );
    }

    /// A, B and a fresh probe device (the server's content) hold exactly `expected`.
    fn assert_everywhere(&self, expected: &[String]) {
        let probe = device(&self.gw, "probe");
        probe.sync(SyncMode::Slow).assert_ok();
        for dev in [&self.a, &self.b, &probe] {
            dev.assert_items(Store::Contacts, expected);
        }
    }
}

/// Runs the scenario of the module docs against a gateway whose `contacts` datastore has
/// `policy`, and syncs A and B until nothing moves any more.
fn conflict(policy: &str) -> Scenario {
    conflict_between(policy, &a_version(), &b_version())
}

/// [`conflict`] with the versions A and B write.
fn conflict_between(policy: &str, a_version: &str, b_version: &str) -> Scenario {
    let gw = Gateway::start(Some(&config(policy)));
    gw.add_user(USER, PASSWORD);
    let a = device(&gw, "a");
    let b = device(&gw, "b");
    a.add_item(Store::Contacts, "1", &original());
    a.sync(SyncMode::Slow).assert_ok();
    b.sync(SyncMode::Slow).assert_ok();
    b.assert_items(Store::Contacts, &[original()]);

    let x_on_b = b.find(Store::Contacts, &original()).expect("B has X");
    a.modify_item(Store::Contacts, "1", a_version);
    a.sync(SyncMode::TwoWay).assert_ok();
    b.modify_item(Store::Contacts, &x_on_b, b_version);
    b.sync(SyncMode::TwoWay).assert_ok();

    a.sync(SyncMode::TwoWay).assert_ok();
    b.sync(SyncMode::TwoWay).assert_ok();
    for dev in [&a, &b] {
        assert_nothing_moved(&dev.sync(SyncMode::TwoWay), policy);
    }
    Scenario { gw, a, b }
}

/// The gateway configuration: the default datastores of testdata/config/example.toml, with
/// `policy` for contacts.
fn config(policy: &str) -> String {
    format!(
        r#"[[engine.datastores]]
name = "contacts"
content_types = ["text/vcard;3.0", "text/x-vcard;2.1"]
conflict_policy = "{policy}"

[[engine.datastores]]
name = "calendar"
content_types = ["text/calendar;2.0", "text/x-vcalendar;1.0"]

[[engine.datastores]]
name = "tasks"
content_types = ["text/calendar;2.0", "text/x-vcalendar;1.0"]

[[engine.datastores]]
name = "notes"
content_types = ["text/plain;1.0"]
"#
    )
}

fn device(gw: &Gateway, name: &str) -> Device {
    Device::new(name, &gw.url(), USER, PASSWORD, DeviceOpts::default().stores(&[Store::Contacts]))
}

fn assert_nothing_moved(result: &SyncResult, policy: &str) {
    result.assert_ok();
    let s = result.store(Store::Contacts);
    let moved = (s.local_added(), s.local_updated(), s.local_removed(), s.remote_added(), s.remote_updated());
    assert_eq!(moved, (0, 0, 0, 0, 0), "{}", result.failure_report(&format!("{policy}: contacts still moving")));
}
