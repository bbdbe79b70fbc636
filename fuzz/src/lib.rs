//! Helpers shared by the fuzz targets in `fuzz_targets/`: steering raw fuzzer bytes towards one
//! reader, and the encode → decode round-trip assertion.
//!
//! Owns nothing of the gateway; it only calls the public codec API (`syncgate::codec`), so the
//! targets exercise exactly what the server exercises.

use std::borrow::Cow;

use syncgate::codec::{self, Document, EncodeError, Encoding, Limits};

/// The SyncML 1.2 WBXML header without its string-table length: version 1.2 (`02`), public id
/// 0x1201 `-//SYNCML//DTD SyncML 1.2//EN` (`A4 01`), charset UTF-8 (`6A`). The first fuzzer byte
/// after it is read as the string-table length.
pub const WBXML_SYNCML_12_HEADER: [u8; 4] = [0x02, 0xA4, 0x01, 0x6A];

/// The limits the server uses by default.
pub fn limits() -> Limits {
    Limits::default()
}

/// The input as the XML reader should see it: unchanged if the sniffer already picks XML
/// (optional BOM and white space, then `<`), else with `<` in front, so every input reaches the
/// XML reader and none is spent on the WBXML one or on `UnknownEncoding`.
pub fn as_xml(data: &[u8]) -> Cow<'_, [u8]> {
    if codec::sniff(data) == Some(Encoding::Xml) {
        Cow::Borrowed(data)
    } else {
        let mut v = Vec::with_capacity(data.len() + 1);
        v.push(b'<');
        v.extend_from_slice(data);
        Cow::Owned(v)
    }
}

/// The input as the WBXML reader should see it: unchanged if it starts with a WBXML version
/// byte (0x01–0x03, so the fuzzer can still vary the whole header), else behind
/// [`WBXML_SYNCML_12_HEADER`], so the rest is a string-table length, a string table and a body.
pub fn as_wbxml(data: &[u8]) -> Cow<'_, [u8]> {
    if matches!(data.first(), Some(0x01..=0x03)) {
        Cow::Borrowed(data)
    } else {
        let mut v = Vec::with_capacity(data.len() + WBXML_SYNCML_12_HEADER.len());
        v.extend_from_slice(&WBXML_SYNCML_12_HEADER);
        v.extend_from_slice(data);
        Cow::Owned(v)
    }
}

/// Encodes `doc` in `to` (`pretty` only matters for XML), decodes the result and panics unless
/// it is the same document in the same encoding.
///
/// The one tolerated failure is [`EncodeError::Unrepresentable`] when writing XML: bytes that
/// XML 1.0 cannot carry (not UTF-8, C0 controls, U+FFFE/U+FFFF), which a WBXML `OPAQUE` or the
/// lenient XML reader may have let into the model. Everything else — an `Invalid` encode error,
/// a decode error, a different encoding or a different model — is a bug.
pub fn assert_round_trip(doc: &Document, to: Encoding, pretty: bool) {
    let bytes = match codec::encode(doc, to, pretty) {
        Ok(bytes) => bytes,
        Err(EncodeError::Unrepresentable { .. }) if to == Encoding::Xml => return,
        Err(e) => panic!("encode to {to:?} (pretty {pretty}) failed: {e:?}\nmodel: {doc:#?}"),
    };
    let (encoding, again) = match codec::decode(&bytes, &limits()) {
        Ok(decoded) => decoded,
        Err(e) => panic!(
            "re-decoding our own {to:?} (pretty {pretty}) failed: {e}\nencoded: {}\nmodel: {doc:#?}",
            show(&bytes)
        ),
    };
    assert_eq!(encoding, to, "our own {to:?} output sniffs as {encoding:?}");
    if &again != doc {
        panic!(
            "{to:?} (pretty {pretty}) round trip changed the model\nencoded: {}\nbefore: {doc:#?}\nafter: {again:#?}",
            show(&bytes)
        );
    }
}

/// Encoded bytes for a panic message: text for XML, hex for WBXML.
fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !bytes.first().is_some_and(|b| (0x01..=0x03).contains(b)) => s.to_string(),
        _ => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}
