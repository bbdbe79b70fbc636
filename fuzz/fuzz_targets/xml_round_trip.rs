//! Round trip into XML: whatever decodes (in either encoding: the sniffer decides, and input it
//! cannot place gets a `<` in front) is encoded as compact and as pretty XML, and each must
//! decode to the same document. `EncodeError::Unrepresentable` (bytes XML cannot carry) is
//! skipped; see `syncgate_fuzz::assert_round_trip`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use syncgate::codec::{self, Encoding};

fuzz_target!(|data: &[u8]| {
    let input = if codec::sniff(data).is_some() { data.into() } else { syncgate_fuzz::as_xml(data) };
    if let Ok((_, doc)) = codec::decode(&input, &syncgate_fuzz::limits()) {
        syncgate_fuzz::assert_round_trip(&doc, Encoding::Xml, false);
        syncgate_fuzz::assert_round_trip(&doc, Encoding::Xml, true);
    }
});
