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
