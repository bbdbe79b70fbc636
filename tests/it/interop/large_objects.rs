//! Large objects (PROTOCOL.md §1.7) with the real SyncEvolution client: with `maxMsgSize=10240`
//! on both devices a ~12 KB vCard with a base64 PHOTO goes up from device A in chunks and down
//! to a fresh device B in chunks (the gateway splits it by B's MaxMsgSize), and arrives intact.

use std::fs;

use super::harness::{Device, DeviceOpts, Gateway, SyncMode};
use super::items::{same_vcard, Store};
use super::report::SyncResult;

const USER: &str = "alice";
const PASSWORD: &str = "secret";

/// A vCard of about 12 KB: 8,700 bytes of "JPEG" as folded base64 (76 columns).
fn vcard_with_photo() -> (String, String) {
    let raw: Vec<u8> = (0..8_700u32).map(|i| (i.wrapping_mul(31) ^ (i >> 3)) as u8).collect();
    let b64 = b64(&raw);
    let mut card = String::from(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Picture;Paula;;;\r\nFN:Paula Picture\r\nTEL:+1 555 0199\r\nPHOTO;ENCODING=b;TYPE=JPEG:",
    );
    for (i, chunk) in b64.as_bytes().chunks(74).enumerate() {
        if i > 0 {
            card.push_str("\r\n ");
        }
        card.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
    }
    card.push_str("\r\nEND:VCARD\r\n");
    (card, b64)
}

fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The PHOTO value of a vCard after unfolding (whitespace of folding removed).
fn photo(text: &str) -> Option<String> {
    let mut unfolded: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t')), unfolded.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => unfolded.push(raw.to_string()),
        }
    }
    let line = unfolded.into_iter().find(|l| l.to_ascii_uppercase().starts_with("PHOTO"))?;
    let value = &line[line.find(':')? + 1..];
    Some(value.chars().filter(|c| !c.is_whitespace()).collect())
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
