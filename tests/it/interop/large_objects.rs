//! Large objects (PROTOCOL.md §1.7) with the real SyncEvolution client: with `maxMsgSize=10240`
//! on both devices a ~12 KB vCard with a base64 PHOTO goes up from device A in chunks and down
//! to a fresh device B in chunks (the gateway splits it by B's MaxMsgSize), and arrives intact.

use std::fs;

use super::harness::{Device, DeviceOpts, Gateway, SyncMode};
use super::items::{self, photo, same_vcard, Store};
use super::report::SyncResult;

const USER: &str = "alice";
const PASSWORD: &str = "secret";

/// A vCard of about 12 KB: 8,700 bytes of "JPEG" as folded base64.
fn vcard_with_photo() -> (String, String) {
    items::vcard_with_photo("Paula Picture", 8_700, 1)
}

/// How many of the client's dumped messages in `incoming` direction carry a `MoreData` chunk.
fn chunked_messages(result: &SyncResult, incoming: bool) -> usize {
    result
        .message_dumps()
        .into_iter()
        .filter(|(_, _, inc)| *inc == incoming)
        .filter(|(path, _, _)| fs::read(path).is_ok_and(|b| String::from_utf8_lossy(&b).contains("MoreData")))
        .count()
}

fn device(gw: &Gateway, name: &str) -> Device {
    let opts = DeviceOpts::default().max_msg_size(10240).wbxml(false).stores(&[Store::Contacts]);
    Device::new(name, &gw.url(), USER, PASSWORD, opts)
}

#[test]
fn twelve_kb_vcard_goes_up_and_down_as_a_large_object() {
    let gw = Gateway::start(None);
    gw.add_user(USER, PASSWORD);
    let (card, photo_b64) = vcard_with_photo();
    assert!((11_500..13_500).contains(&card.len()), "{} bytes", card.len());

    let a = device(&gw, "a");
    a.add_item(Store::Contacts, "1", &card);
    let up = a.sync_with(SyncMode::Slow, &[("loglevel", "5")]);
    up.assert_ok();
    assert_eq!(up.store(Store::Contacts).remote_added(), 1, "{}", up.failure_report("upload"));
    assert!(chunked_messages(&up, false) >= 1, "{}", up.failure_report("device A did not send the vCard in chunks"));

    let b = device(&gw, "b");
    let down = b.sync_with(SyncMode::Slow, &[("loglevel", "5")]);
    down.assert_ok();
    assert_eq!(down.store(Store::Contacts).local_added(), 1, "{}", down.failure_report("download"));
    assert!(
        chunked_messages(&down, true) >= 1,
        "{}",
        down.failure_report("the gateway did not send the vCard in chunks")
    );

    for dev in [&a, &b] {
        let items = dev.items(Store::Contacts);
        assert_eq!(items.len(), 1, "{}: {items:?}", dev.name());
        let got = items.values().next().expect("one item");
        assert!(same_vcard(got, &card), "{}: {got}", dev.name());
        assert_eq!(photo(got).as_deref(), Some(photo_b64.as_str()), "{}: PHOTO differs", dev.name());
    }
}
