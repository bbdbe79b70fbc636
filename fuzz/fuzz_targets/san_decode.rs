//! DS 1.2 Server Alerted Notification: `San::decode` must not crash on any bytes, and
//! `San::peek_version` must agree with it. A decoded version-1.2 notification whose sync types
//! are all 206–210 (what `San::encode` accepts) is encoded without a secret and decoded again:
//! same `San`, all-zero digest.

#![no_main]

use libfuzzer_sys::fuzz_target;
use syncgate::notify::san::{San, SanVersion};

fuzz_target!(|data: &[u8]| {
    let Ok((san, _digest)) = San::decode(data) else { return };
    assert_eq!(San::peek_version(data), Some(san.version), "peek_version disagrees with decode");
    let encodable = san.syncs.iter().all(|s| (206..=210).contains(&s.sync_type.code()));
    if san.version != SanVersion::V1_2 || !encodable {
        return;
    }
    let bytes = match san.encode(None) {
        Ok(bytes) => bytes,
        Err(e) => panic!("encoding a decoded SAN failed: {e}\n{san:#?}"),
    };
    let (again, digest) = match San::decode(&bytes) {
        Ok(decoded) => decoded,
        Err(e) => panic!("re-decoding our own SAN failed: {e}\n{san:#?}"),
    };
    assert!(digest.is_unsigned(), "encode(None) wrote digest {digest}");
    assert_eq!(again, san, "SAN round trip changed the notification");
});
