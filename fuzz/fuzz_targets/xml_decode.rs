//! Must not crash: arbitrary bytes through `codec::decode`, steered to the XML reader (a `<` is
//! put in front of anything the sniffer would not call XML; see `syncgate_fuzz::as_xml`).
//! libFuzzer itself catches panics, hangs (`-timeout`) and memory blow-ups (`-rss_limit_mb`,
//! `-malloc_limit_mb`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use syncgate::codec::{self, Encoding};

fuzz_target!(|data: &[u8]| {
    let input = syncgate_fuzz::as_xml(data);
    if let Ok((encoding, _doc)) = codec::decode(&input, &syncgate_fuzz::limits()) {
        assert_eq!(encoding, Encoding::Xml, "steered input decoded as {encoding:?}");
    }
});
