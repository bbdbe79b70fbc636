//! Must not crash: arbitrary bytes through `codec::decode`, steered to the WBXML reader (the
//! SyncML 1.2 header `02 A4 01 6A` is put in front unless the input starts with a WBXML version
//! byte 0x01–0x03; see `syncgate_fuzz::as_wbxml`). Nested DevInf documents (`OPAQUE` in `Data`)
//! go through a second WBXML reader and are covered too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use syncgate::codec::{self, Encoding};

fuzz_target!(|data: &[u8]| {
    let input = syncgate_fuzz::as_wbxml(data);
    if let Ok((encoding, _doc)) = codec::decode(&input, &syncgate_fuzz::limits()) {
        assert_eq!(encoding, Encoding::Wbxml, "steered input decoded as {encoding:?}");
    }
});
