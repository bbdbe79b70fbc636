//! `syncgate client` (the project's simulated device, issue 5) as a real SyncML client: with
//! the real SyncEvolution client through syncgate, the two devices of one user converge; and
//! the simulated device syncs in every mode with syncgate and with SyncEvolution's reference
//! server (`syncevo-http-server`), so its behaviour is checked against an implementation that
//! is not ours.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use super::harness::{Device, DeviceOpts, Gateway, SyncMode, TempDir};
use super::items::{self, vcard, Store};
use super::reference::{self, ReferenceServer};

const USER: &str = "alice";
const PASSWORD: &str = "secret";

/// One `syncgate client` device: its state folder and id.
struct SimDevice {
    dir: TempDir,
    id: String,
}

impl SimDevice {
    fn new(name: &str) -> SimDevice {
        SimDevice { dir: TempDir::new(&format!("simdev-{name}")), id: format!("syncgate-client-{name}") }
    }

    fn data(&self) -> PathBuf {
        let d = self.dir.path().join("data").join("contacts");
        fs::create_dir_all(&d).expect("create the device's data folder");
        d
    }

    fn put(&self, luid: &str, text: &str) {
        fs::write(self.data().join(luid), text).expect("write an item");
    }

    fn items(&self) -> Vec<String> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.data()).expect("read the data folder") {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                out.push(fs::read_to_string(entry.path()).expect("read an item"));
            }
        }
        out
    }

    fn luids(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.data())
            .expect("read the data folder")
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    }

    /// Runs `syncgate client … sync contacts --mode MODE --json`; the parsed JSON.
    fn sync(&self, url: &str, mode: &str) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_syncgate"))
            .args(["client", "--url", url, "--user", USER, "--password", PASSWORD, "--device", &self.id, "--state"])
            .arg(self.dir.path())
            .arg("--dump")
            .arg(self.dir.path().join(format!("dump-{mode}")))
            .args(["sync", "contacts", "--mode", mode, "--json"])
            .output()
            .expect("run syncgate client");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "syncgate client --mode {mode} failed ({}):\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
    }
}

fn count(report: &serde_json::Value, dir: &str, what: &str) -> u64 {
    report["datastores"][0][dir][what].as_u64().unwrap_or(u64::MAX)
}

#[test]
fn syncevolution_and_syncgate_client_converge_through_syncgate() {
    let gw = Gateway::start(None);
    gw.add_user(USER, PASSWORD);
    let se = Device::new("se", &gw.url(), USER, PASSWORD, DeviceOpts::default().stores(&[Store::Contacts]));
    let sim = SimDevice::new("conv");
    let mut expected = Vec::new();
    for i in 0..5 {
        let text = vcard(&format!("Evo{i} Person"), &format!("+1 555 01{i:02}"));
        se.add_item(Store::Contacts, &format!("{i}"), &text);
        expected.push(text);
    }
    for i in 0..3 {
        let text = vcard(&format!("Sim{i} Person"), &format!("+1 555 02{i:02}"));
        sim.put(&format!("m{i}"), &text);
        expected.push(text);
    }
    se.sync(SyncMode::Slow).assert_ok();
    let r = sim.sync(&gw.url(), "two-way");
    assert_eq!((count(&r, "received", "added"), r["datastores"][0]["mode"].as_str()), (5, Some("slow")), "{r}");
    se.sync(SyncMode::TwoWay).assert_ok();
    let on_se: Vec<String> = se.items(Store::Contacts).into_values().collect();
    items::compare(Store::Contacts, &expected, &on_se).unwrap_or_else(|d| panic!("SyncEvolution: {d}"));
    items::compare(Store::Contacts, &expected, &sim.items()).unwrap_or_else(|d| panic!("syncgate client: {d}"));

    // Changes on both sides: the simulated device edits and deletes, SyncEvolution adds.
    let luids = sim.luids();
    let changed = vcard("Sim0 Renamed", "+1 555 0200");
    let victim = fs::read_to_string(sim.data().join(&luids[1])).expect("read an item");
    fs::write(sim.data().join(&luids[0]), &changed).expect("edit");
    fs::remove_file(sim.data().join(&luids[1])).expect("delete");
    let added = vcard("Evo9 Late", "+1 555 0199");
    se.add_item(Store::Contacts, "9", &added);
    let r = sim.sync(&gw.url(), "two-way");
    assert_eq!((count(&r, "sent", "replaced"), count(&r, "sent", "deleted")), (1, 1), "{r}");
    se.sync(SyncMode::TwoWay).assert_ok();
    let r = sim.sync(&gw.url(), "two-way");
    assert_eq!(count(&r, "received", "added"), 1, "{r}");

    // luids are m0, m1, m2: m0 ("Sim0 Person") was renamed, m1 deleted.
    let mut now_expected: Vec<String> =
        expected.into_iter().filter(|t| !items::same_vcard(t, &victim) && !t.contains("Sim0 Person")).collect();
    now_expected.push(changed);
    now_expected.push(added);
    let on_se: Vec<String> = se.items(Store::Contacts).into_values().collect();
    items::compare(Store::Contacts, &now_expected, &on_se).unwrap_or_else(|d| panic!("SyncEvolution: {d}"));
    items::compare(Store::Contacts, &now_expected, &sim.items()).unwrap_or_else(|d| panic!("syncgate client: {d}"));
}

/// Every mode of the simulated device against one server at `url`.
fn every_mode(url: &str, register: impl Fn(&str)) {
    let a = SimDevice::new("modes-a");
    let b = SimDevice::new("modes-b");
    register(&a.id);
    register(&b.id);
    for i in 0..3 {
        a.put(&format!("a{i}"), &vcard(&format!("Mode{i} Person"), &format!("+1 555 03{i:02}")));
    }
    // First contact: a slow sync uploads a's three items.
    let r = a.sync(url, "slow");
    assert_eq!(count(&r, "sent", "replaced"), 3, "slow: {r}");
    // b fetches them by refresh from the server, throwing away a local item.
    b.put("junk", &vcard("Junk Local", "+1 555 0999"));
    let r = b.sync(url, "refresh-from-server");
    assert_eq!(count(&r, "received", "added"), 3, "refresh-from-server: {r}");
    assert_eq!(b.items().len(), 3, "refresh-from-server leaves exactly the server's items");
    // b adds one: two-way sends it, a gets it one-way from the server.
    b.put("b1", &vcard("Added ByB", "+1 555 0401"));
    let r = b.sync(url, "two-way");
    assert_eq!(count(&r, "sent", "added"), 1, "two-way: {r}");
    let r = a.sync(url, "one-way-from-server");
    assert_eq!((count(&r, "received", "added"), count(&r, "sent", "added")), (1, 0), "one-way-from-server: {r}");
    // a adds one one-way from the client; b receives it two-way.
    a.put("a9", &vcard("Added ByA", "+1 555 0402"));
    let r = a.sync(url, "one-way-from-client");
    assert_eq!((count(&r, "sent", "added"), count(&r, "received", "added")), (1, 0), "one-way-from-client: {r}");
    let r = b.sync(url, "two-way");
    assert_eq!(count(&r, "received", "added"), 1, "two-way: {r}");
    // Refresh from the client: the server keeps exactly b's items; a follows.
    let gone = b.luids().into_iter().next().expect("b has items");
    fs::remove_file(b.data().join(&gone)).expect("delete");
    let r = b.sync(url, "refresh-from-client");
    assert_eq!(count(&r, "sent", "replaced"), 4, "refresh-from-client: {r}");
    // syncgate matches b's items by content and deletes one item on a; the reference server
    // replaces all of them (deletes 5, adds 4). Either way a ends equal to b.
    let r = a.sync(url, "two-way");
    assert!(count(&r, "received", "deleted") >= 1, "two-way after the refresh: {r}");
    items::compare(Store::Contacts, &b.items(), &a.items()).unwrap_or_else(|d| panic!("a and b differ: {d}"));
    assert_eq!(a.items().len(), 4);
}

#[test]
fn syncgate_client_every_mode_with_syncgate() {
    let gw = Gateway::start(None);
    gw.add_user(USER, PASSWORD);
    every_mode(&gw.url(), |_| {});
}

#[test]
fn syncgate_client_every_mode_with_the_reference_server() {
    let dir = TempDir::new("reference");
    let mut server = ReferenceServer::start(dir.path());
    server.add_user(USER, PASSWORD);
    let url = format!("http://{}/sync", server.addr());
    every_mode(&url, |id| reference::register_device(&url, id, USER, PASSWORD));
    server.stop();
}
