//! Inputs the fuzzers found (`fuzz/regressions/`): each must decode to a clean error or a
//! message, never panic, and the expansion bombs must hit their limit.

use syncgate::codec::{self, DecodeErrorKind, Limits};

#[test]
fn fuzz_regressions_decode_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions exists") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let result = codec::decode(&bytes, &Limits::default());
        if path.file_name().unwrap().to_string_lossy().starts_with("wbxml_decode-1") {
            // A 48 KB string-table entry referenced thousands of times: bounded, not quadratic.
            let err = result.expect_err("expansion bomb is refused");
            assert!(matches!(err.kind, DecodeErrorKind::TextTooLarge { .. }), "{err}");
        }
        seen += 1;
    }
    assert!(seen >= 1);
}

/// Round-trip findings: a 1.0/1.1 DevInf carrying 1.2-only CTCap parts (MaxOccur, FieldLevel,
/// NoTruncate) lost them when written back in the flat 1.1 form.
#[test]
fn fuzz_round_trip_regressions_survive_both_encodings() {
    use syncgate::codec::Encoding;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().contains("round_trip") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let Ok((_, doc)) = codec::decode(&bytes, &Limits::default()) else { continue };
        for enc in [Encoding::Xml, Encoding::Wbxml] {
            let Ok(out) = codec::encode(&doc, enc, false) else { continue };
            let (_, back) =
                codec::decode(&out, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(back, doc, "{} through {enc:?}", path.display());
        }
    }
}
