//! Memory with large objects (issue 4): the real SyncEvolution client uploads 50 MB of vCards
//! (25 items of about 2 MB, each a large object split by the gateway's MaxMsgSize) and a
//! second device downloads them all. The gateway's peak resident set size (`VmHWM`) is measured
//! for each phase and printed; each must stay under 64 MiB, and every PHOTO arrives intact.

use super::harness::{Device, DeviceOpts, Gateway, SyncMode};
use super::items::{self, photo, Store};

const USER: &str = "alice";
const PASSWORD: &str = "secret";
/// 25 items × 1.5 MB raw photo ≈ 2 MB of base64 each: 50 MB of vCards.
const ITEMS: u32 = 25;
const RAW_PHOTO: usize = 1_500_000;
const LIMIT_KIB: u64 = 64 * 1024;

fn device(gw: &Gateway, name: &str) -> Device {
    // The download side accepts 1 MB messages, so the gateway chunks each item in two or three.
    let opts = DeviceOpts::default().max_msg_size(1_000_000).wbxml(true).stores(&[Store::Contacts]);
    Device::new(name, &gw.url(), USER, PASSWORD, opts)
}

#[test]
fn fifty_megabytes_of_large_objects_keep_the_gateway_under_64_mib() {
    let gw = Gateway::start(None);
    gw.add_user(USER, PASSWORD);
    let a = device(&gw, "a");
    let mut photos = Vec::new();
    let mut total = 0usize;
    for i in 0..ITEMS {
        let (card, b64) = items::vcard_with_photo(&format!("Big{i} Photo"), RAW_PHOTO, i);
        total += card.len();
        a.add_item(Store::Contacts, &i.to_string(), &card);
        photos.push(b64);
    }
    assert!(total >= 50_000_000, "only {total} bytes of vCards");

    gw.reset_peak_rss();
    let base = gw.peak_rss_kib().expect("the gateway's VmHWM");
    let up = a.sync(SyncMode::Slow);
    up.assert_ok();
    assert_eq!(up.store(Store::Contacts).remote_added(), u64::from(ITEMS), "{}", up.failure_report("upload"));
    let up_peak = gw.peak_rss_kib().expect("the gateway's VmHWM");

    gw.reset_peak_rss();
    let b = device(&gw, "b");
    let down = b.sync(SyncMode::Slow);
    down.assert_ok();
    assert_eq!(down.store(Store::Contacts).local_added(), u64::from(ITEMS), "{}", down.failure_report("download"));
    let down_peak = gw.peak_rss_kib().expect("the gateway's VmHWM");

    println!(
        "large-object memory: {total} bytes of vCards in {ITEMS} items; gateway RSS before {base} KiB, \
         peak during upload {up_peak} KiB, during download {down_peak} KiB (limit {LIMIT_KIB} KiB)"
    );
    let mut got: Vec<String> = b.items(Store::Contacts).values().filter_map(|v| photo(v)).collect();
    got.sort();
    photos.sort();
    assert!(got == photos, "the downloaded PHOTOs differ from the uploaded ones");
    assert!(up_peak < LIMIT_KIB, "peak RSS during the upload: {up_peak} KiB");
    assert!(down_peak < LIMIT_KIB, "peak RSS during the download: {down_peak} KiB");
}
