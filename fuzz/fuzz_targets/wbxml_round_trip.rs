//! Round trip into WBXML: whatever decodes (in either encoding: the sniffer decides, and input
//! it cannot place gets the SyncML 1.2 WBXML header in front) is encoded as WBXML, which must
//! decode to the same document. WBXML can carry any bytes, so every encode error is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use syncgate::codec::{self, Encoding};

fuzz_target!(|data: &[u8]| {
    let input = if codec::sniff(data).is_some() { data.into() } else { syncgate_fuzz::as_wbxml(data) };
    if let Ok((_, doc)) = codec::decode(&input, &syncgate_fuzz::limits()) {
        syncgate_fuzz::assert_round_trip(&doc, Encoding::Wbxml, false);
    }
});
