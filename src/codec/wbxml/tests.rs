//! Tests of the WBXML reader and writer: the worked example of PROTOCOL.md §6.4 byte by byte,
//! header forms, string table, entities, attributes, code pages, nested DevInf, malformed input
//! and writer → reader round trips. No external tools are used.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;
use crate::codec::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::{Token, TokenSink, TokenSource};

// ---- helpers ---------------------------------------------------------------------------------

/// `STR_I` with its NUL.
fn s(text: &str) -> Vec<u8> {
    let mut v = vec![STR_I];
    v.extend_from_slice(text.as_bytes());
    v.push(0);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Every token of a document as owned values, or the first error. Fails the test if the reader
/// does not reach `Eof` within a bound that any terminating reader meets.
fn drain(bytes: &[u8]) -> Result<Vec<Token<'static>>, DecodeError> {
    let mut r = WbxmlReader::new(bytes)?;
    let mut out = Vec::new();
    for _ in 0..=2 * bytes.len() + 2 {
        let t = r.next_token()?;
        if t == Token::Eof {
            assert_eq!(r.next_token()?, Token::Eof, "Eof is sticky");
            return Ok(out);
        }
        out.push(owned(t));
    }
    panic!("reader did not terminate on {bytes:02X?}");
}

fn owned(t: Token<'_>) -> Token<'static> {
    match t {
        Token::Start(tag) => Token::Start(tag),
        Token::Unknown => Token::Unknown,
        Token::End => Token::End,
        Token::Text(c) => Token::Text(Cow::Owned(c.into_owned())),
        Token::Opaque(c) => Token::Opaque(Cow::Owned(c.into_owned())),
        Token::Eof => Token::Eof,
    }
}

fn text(t: &str) -> Token<'static> {
    Token::Text(Cow::Owned(t.as_bytes().to_vec()))
}

fn leaf(tag: Tag, t: &str) -> Vec<Token<'static>> {
    vec![Token::Start(tag), text(t), Token::End]
}

/// The pkg1-like message of PROTOCOL.md §6.4, built from the listing (the Item's elided
/// Target and Source filled in with `contacts` and `addressbook`).
fn worked_example() -> Vec<u8> {
    cat(&[
        &[0x02, 0xA4, 0x01, 0x6A, 0x00],
        &[0x6D, 0x6C],
        &[0x71],
        &s("1.2"),
        &[0x01, 0x72],
        &s("SyncML/1.2"),
        &[0x01, 0x65],
        &s("1"),
        &[0x01, 0x5B],
        &s("1"),
        &[0x01, 0x6E, 0x57],
        &s("http://example.com/sync"),
        &[0x01, 0x01, 0x67, 0x57],
        &s("IMEI:123"),
        &[0x01, 0x56],
        &s("user"),
        &[0x01, 0x01, 0x5A, 0x00, 0x01, 0x4C],
        &s("10000"),
        &[0x01, 0x01],
        &[0x01],
        &[0x00, 0x00, 0x6B],
        &[0x46, 0x4B],
        &s("1"),
        &[0x01, 0x4F],
        &s("200"),
        &[0x01, 0x54, 0x6E, 0x57],
        &s("contacts"),
        &[0x01, 0x01, 0x67, 0x57],
        &s("addressbook"),
        &[0x01, 0x01, 0x5A, 0x00, 0x01, 0x45, 0x4A],
        &s("1"),
        &[0x01, 0x4F],
        &s("2"),
        &[0x01, 0x01, 0x01],
        &[0x01, 0x01],
        &[0x00, 0x00, 0x12],
        &[0x01],
        &[0x01],
    ])
}

/// The token sequence of [`worked_example`].
fn worked_example_tokens() -> Vec<Token<'static>> {
    use Token::{End, Start};
    let mut t = vec![Start(Tag::SyncML), Start(Tag::SyncHdr)];
    t.extend(leaf(Tag::VerDTD, "1.2"));
    t.extend(leaf(Tag::VerProto, "SyncML/1.2"));
    t.extend(leaf(Tag::SessionID, "1"));
    t.extend(leaf(Tag::MsgID, "1"));
    t.push(Start(Tag::Target));
    t.extend(leaf(Tag::LocURI, "http://example.com/sync"));
    t.extend([End, Start(Tag::Source)]);
    t.extend(leaf(Tag::LocURI, "IMEI:123"));
    t.extend(leaf(Tag::LocName, "user"));
    t.extend([End, Start(Tag::Meta)]);
    t.extend(leaf(Tag::MetMaxMsgSize, "10000"));
    t.extend([End, End, Start(Tag::SyncBody), Start(Tag::Alert)]);
    t.extend(leaf(Tag::CmdID, "1"));
    t.extend(leaf(Tag::Data, "200"));
    t.extend([Start(Tag::Item), Start(Tag::Target)]);
    t.extend(leaf(Tag::LocURI, "contacts"));
    t.extend([End, Start(Tag::Source)]);
    t.extend(leaf(Tag::LocURI, "addressbook"));
    t.extend([End, Start(Tag::Meta), Start(Tag::MetAnchor)]);
    t.extend(leaf(Tag::MetLast, "1"));
    t.extend(leaf(Tag::MetNext, "2"));
    t.extend([End, End, End, End, Start(Tag::Final), End, End, End]);
    t
}

/// Replays tokens into a sink (`Text` as `text`; the document begun and ended around them).
fn write_tokens(kind: Namespace, minor: u8, tokens: &[Token<'_>]) -> Result<Vec<u8>, EncodeError> {
    let mut w = WbxmlWriter::new();
    w.begin_document(kind, minor);
    for t in tokens {
        match t {
            Token::Start(tag) => w.start(*tag),
            Token::End => w.end(),
            Token::Text(b) | Token::Opaque(b) => w.text(b),
            Token::Unknown | Token::Eof => unreachable!("not written by these tests"),
        }
    }
    w.end_document();
    w.finish()
}

// ---- reader ----------------------------------------------------------------------------------

#[test]
fn worked_example_decodes_token_by_token() {
    let bytes = worked_example();
    let mut r = WbxmlReader::new(&bytes).unwrap();
    assert_eq!(r.document(), Some((Namespace::SyncMl, 2)));
    assert_eq!(r.version(), 0x02);
    for (i, want) in worked_example_tokens().into_iter().enumerate() {
        assert_eq!(r.next_token().unwrap(), want, "token {i}");
    }
    assert_eq!(r.next_token().unwrap(), Token::Eof);
    assert_eq!(r.offset(), bytes.len());
    // Strings borrow from the input.
    let mut r = WbxmlReader::new(&bytes).unwrap();
    let _ = (r.next_token(), r.next_token(), r.next_token());
    assert!(matches!(r.next_token().unwrap(), Token::Text(Cow::Borrowed(b"1.2"))));
}

#[test]
fn syncml_1_0_fpi_in_the_string_table() {
    let fpi = b"-//SYNCML//DTD SyncML 1.0//EN";
    assert_eq!(fpi.len(), 0x1D);
    let bytes = cat(&[&[0x02, 0x00, 0x00, 0x6A, 0x1D], fpi, &[0x6D, 0x6C, 0x01, 0x01]]);
    let r = WbxmlReader::new(&bytes).unwrap();
    assert_eq!(r.document(), Some((Namespace::SyncMl, 0)));
    assert_eq!(drain(&bytes).unwrap(), [Token::Start(Tag::SyncML), Token::Start(Tag::SyncHdr), Token::End, Token::End]);
    // The FPI may also sit after other strings, NUL-terminated, in any case.
    let bytes = cat(&[&[0x03, 0x00, 0x04, 0x6A, 0x22], b"abc\0-//syncml//dtd devinf 1.1//en\0", &[0x0A]]);
    assert_eq!(WbxmlReader::new(&bytes).unwrap().document(), Some((Namespace::DevInf, 1)));
    // The writer puts it there as libsynthesis does.
    let out = write_tokens(Namespace::SyncMl, 0, &[Token::Start(Tag::SyncML), Token::End]).unwrap();
    assert_eq!(out, cat(&[&[0x02, 0x00, 0x00, 0x6A, 0x1D], fpi, &[0x2D]]));
}

#[test]
fn str_t_and_literal_tags() {
    // Table: "text/vcard\0Bogus\0Property\0PropName\0".
    let table = b"text/vcard\0Bogus\0Property\0PropName\0";
    let bytes = cat(&[
        &[0x02, 0xA4, 0x03, 0x6A, table.len() as u8],
        table,
        &[0x4A, 0x46, 0x83, 0x00, 0x01], // <DevInf><CTType>STR_T 0</CTType>
        &[0x44, 0x0B, 0x83, 0x03, 0x01], // LITERAL_C "Bogus", STR_T 3 ("t/vcard")
        &[0x44, 0x11, 0x04, 0x1A, 0x01], // <Property><PropName/></Property> by literals
        &[0x01],
    ]);
    assert_eq!(
        drain(&bytes).unwrap(),
        [
            Token::Start(Tag::DevDevInf),
            Token::Start(Tag::DevCtType),
            text("text/vcard"),
            Token::End,
            Token::Unknown,
            text("t/vcard"),
            Token::End,
            Token::Start(Tag::DevProperty),
            Token::Start(Tag::DevPropName),
            Token::End,
            Token::End,
            Token::End,
        ]
    );
    // A literal names a DevInf element inside a SyncML document (libwbxml's output for
    // `<Data><Property xmlns="syncml:devinf">`).
    let table = b"Property\0PropName\0";
    let bytes = cat(&[
        &[0x02, 0xA4, 0x01, 0x6A, table.len() as u8],
        table,
        &[0x6D, 0x4F, 0x44, 0x00, 0x44, 0x09],
        &s("BDAY"),
        &[0x01, 0x01, 0x01, 0x01],
    ]);
    assert_eq!(
        drain(&bytes).unwrap(),
        [
            Token::Start(Tag::SyncML),
            Token::Start(Tag::Data),
            Token::Start(Tag::DevProperty),
            Token::Start(Tag::DevPropName),
            text("BDAY"),
            Token::End,
            Token::End,
            Token::End,
            Token::End,
        ]
    );
}

#[test]
fn entities_become_utf8_text() {
    let bytes = [0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x4F, 0x02, 0x26, 0x02, 0xC1, 0x2C, 0x01, 0x01];
    assert_eq!(
        drain(&bytes).unwrap(),
        [Token::Start(Tag::SyncML), Token::Start(Tag::Data), text("&"), text("€"), Token::End, Token::End]
    );
    // A surrogate is not a character.
    let bytes = [0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x02, 0x83, 0xB0, 0x00, 0x01];
    assert!(matches!(drain(&bytes).unwrap_err().kind, DecodeErrorKind::Wbxml(_)));
}

#[test]
fn latin1_strings_are_transcoded() {
    let bytes = [0x02, 0xA4, 0x01, 0x04, 0x00, 0x6D, 0x4F, 0x03, b'K', 0xF6, b'r', 0x00, 0xC3, 0x01, 0xF6, 0x01, 0x01];
    assert_eq!(
        drain(&bytes).unwrap(),
        [
            Token::Start(Tag::SyncML),
            Token::Start(Tag::Data),
            text("Kör"),
            Token::Opaque(Cow::Owned(vec![0xF6])),
            Token::End,
            Token::End
        ]
    );
    // UTF-16 cannot be read with NUL-terminated strings.
    let err = WbxmlReader::new(&[0x02, 0xA4, 0x01, 0x87, 0x77, 0x00]).err().unwrap();
    assert!(matches!(err.kind, DecodeErrorKind::Wbxml(_)) && err.offset == 3);
}

#[test]
fn attributes_pis_and_extensions_are_skipped() {
    let bytes = cat(&[
        &[0x02, 0xA4, 0x01, 0x6A, 0x04],
        b"abc\0",
        &[0x43, 0x05, 0x03, b'x', 0x00, 0x01], // PI before the root
        &[0xED],                               // SyncML with content and attributes:
        &[0x05, 0x00, 0x07, 0x03, b'v', 0x00, 0x83, 0x00, 0x85, 0x02, 0x20, 0xC3, 0x02, 0x01, 0x01, 0x04, 0x00, 0x01],
        &[0x4F, 0x40, b'e', 0x00, 0x80, 0x00, 0xC0], // Data, EXT_I_0, EXT_T_0, EXT_0
        &s("ok"),
        &[0x01, 0x01],
        &[0x43, 0x06, 0x01, 0xFF, 0xFF], // a PI and junk after the root: ignored
    ]);
    assert_eq!(
        drain(&bytes).unwrap(),
        [Token::Start(Tag::SyncML), Token::Start(Tag::Data), text("ok"), Token::End, Token::End]
    );
}

#[test]
fn code_page_stays_switched_across_end() {
    // <SyncML><Meta>SWITCH 1 <Type/></Meta><Type>…</Type>: the second tag is still page 1.
    let bytes = cat(&[&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x5A, 0x00, 0x01, 0x13, 0x01, 0x53], &s("x"), &[0x01]]);
    let bytes = cat(&[&bytes, &[0x00, 0x00, 0x12, 0x01]]);
    assert_eq!(
        drain(&bytes).unwrap(),
        [
            Token::Start(Tag::SyncML),
            Token::Start(Tag::Meta),
            Token::Start(Tag::MetType),
            Token::End,
            Token::End,
            Token::Start(Tag::MetType),
            text("x"),
            Token::End,
            Token::Start(Tag::Final),
            Token::End,
            Token::End,
        ]
    );
    // Unknown tokens and pages give Unknown, still matched by End.
    let bytes = [0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x30, 0x00, 0x07, 0x45, 0x01, 0x01];
    assert_eq!(
        drain(&bytes).unwrap(),
        [Token::Start(Tag::SyncML), Token::Unknown, Token::End, Token::Unknown, Token::End, Token::End]
    );
}

#[test]
fn unknown_public_id_is_decided_by_the_root() {
    let bytes = [0x02, 0x01, 0x6A, 0x00, 0x4A, 0x06, 0x01];
    let mut r = WbxmlReader::new(&bytes).unwrap();
    assert_eq!(r.document(), None);
    assert_eq!(r.next_token().unwrap(), Token::Start(Tag::DevDevInf));
    assert_eq!(r.document(), Some((Namespace::DevInf, 2)));
    assert_eq!(r.next_token().unwrap(), Token::Start(Tag::DevCtType));
    let bytes = [0x03, 0x8F, 0x7F, 0x00, 0x00, 0x2D];
    let mut r = WbxmlReader::new(&bytes).unwrap();
    assert_eq!(r.next_token().unwrap(), Token::Start(Tag::SyncML));
    assert_eq!(r.document(), Some((Namespace::SyncMl, 2)));
    assert_eq!((r.next_token().unwrap(), r.next_token().unwrap()), (Token::End, Token::Eof));
}

#[test]
fn nested_devinf_is_recognised() {
    assert!(looks_like_wbxml_devinf(&[0x02, 0xA4, 0x03, 0x6A, 0x00, 0x4A]));
    assert!(looks_like_wbxml_devinf(&[0x01, 0x9F, 0x54, 0x6A, 0x00]));
    assert!(looks_like_wbxml_devinf(&cat(&[&[0x02, 0x00, 0x00, 0x6A, 0x1D], b"-//SYNCML//DTD DevInf 1.2//EN"])));
    assert!(looks_like_wbxml_devinf(&[0x02, 0x01, 0x6A, 0x00, 0x00, 0x00, 0x4A]));
    assert!(!looks_like_wbxml_devinf(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D]));
    assert!(!looks_like_wbxml_devinf(&[0x02, 0x01, 0x6A, 0x00, 0x6D]));
    assert!(!looks_like_wbxml_devinf(b"BEGIN:VCARD\r\n"));
    assert!(!looks_like_wbxml_devinf(&[0x02, 0xA4, 0x03]));
    assert!(!looks_like_wbxml_devinf(&[]));
    // As the writer nests it inside Data.
    let mut w = WbxmlWriter::new();
    w.begin_document(Namespace::SyncMl, 2);
    w.start(Tag::SyncML);
    w.start(Tag::Item);
    w.start(Tag::Data);
    w.begin_document(Namespace::DevInf, 2);
    w.start(Tag::DevDevInf);
    w.start(Tag::DevVerDtd);
    w.text(b"1.2");
    w.end();
    w.end();
    w.end_document();
    w.end();
    w.end();
    w.end();
    w.end_document();
    let out = w.finish().unwrap();
    let inner = cat(&[&[0x02, 0xA4, 0x03, 0x6A, 0x00, 0x4A, 0x65], &s("1.2"), &[0x01, 0x01]]);
    assert_eq!(
        out,
        cat(&[&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x54, 0x4F, 0xC3, inner.len() as u8], &inner, &[1, 1, 1]])
    );
    let tokens = drain(&out).unwrap();
    let Token::Opaque(nested) = &tokens[3] else { panic!("{tokens:?}") };
    assert!(looks_like_wbxml_devinf(nested));
    let mut want = vec![Token::Start(Tag::DevDevInf)];
    want.extend(leaf(Tag::DevVerDtd, "1.2"));
    want.push(Token::End);
    assert_eq!(drain(nested).unwrap(), want);
}

// ---- malformed input -------------------------------------------------------------------------

#[test]
fn every_truncation_is_an_error_or_a_clean_end() {
    let table = b"text/vcard\0Bogus\0";
    let rich = cat(&[
        &[0x02, 0xA4, 0x03, 0x6A, table.len() as u8],
        table,
        &[0x43, 0x05, 0x01, 0xCA, 0x05, 0x83, 0x00, 0x01, 0x46, 0x83, 0x00, 0x02, 0x81, 0x20, 0x01],
        &[0x44, 0x0B, 0xC3, 0x03, 1, 2, 3, 0x40, b'e', 0x00, 0x80, 0x01, 0x01, 0x00, 0x00, 0x0B, 0x01],
    ]);
    assert!(drain(&rich).is_ok());
    for doc in [worked_example(), rich] {
        for n in 0..doc.len() {
            match drain(&doc[..n]) {
                Err(e) => assert!(e.offset <= n, "offset {} past the input of {n}", e.offset),
                Ok(tokens) => panic!("a prefix of {n} bytes decoded cleanly: {tokens:?}"),
            }
        }
    }
}

#[test]
fn malformed_inputs_are_errors() {
    let wbxml = |b: &[u8]| matches!(drain(b).map_err(|e| e.kind), Err(DecodeErrorKind::Wbxml(_)));
    // Lengths far beyond the input.
    assert!(wbxml(&[0x02, 0xA4, 0x01, 0x6A, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F]));
    assert!(wbxml(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x00]));
    assert!(wbxml(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0xC3, 0x05, 0x00, 0x01]));
    // Multi-byte integers: 33 bits, and six bytes.
    assert!(wbxml(&[0x02, 0x90, 0x80, 0x80, 0x80, 0x00, 0x6A, 0x00]));
    assert!(wbxml(&[0x02, 0x80, 0x80, 0x80, 0x80, 0x81, 0x01, 0x6A, 0x00]));
    assert_eq!(WbxmlReader::new(&[0x02, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x6A, 0x00]).unwrap().document(), None);
    // Version, string-table offsets, structure.
    assert!(wbxml(&[0x00, 0xA4, 0x01, 0x6A, 0x00]));
    assert!(wbxml(&[0x04, 0xA4, 0x01, 0x6A, 0x00]));
    assert!(wbxml(&[0x02, 0x00, 0x05, 0x6A, 0x02, b'a', 0x00]));
    assert!(wbxml(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x83, 0x00, 0x01]));
    assert!(wbxml(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x44, 0x00, 0x01]));
    assert!(wbxml(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x01]));
    assert!(wbxml(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x03, b'x', 0x00, 0x6D, 0x01]));
    assert!(wbxml(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0xED, 0x05, 0x43, 0x01, 0x01]));
    // Empty input and a body that never starts.
    assert_eq!(WbxmlReader::new(&[]).err().map(|e| e.kind), Some(DecodeErrorKind::Empty));
    assert_eq!(drain(&[0x02, 0xA4, 0x01, 0x6A, 0x00]).map_err(|e| e.kind), Err(DecodeErrorKind::UnexpectedEof));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256), header in 0usize..4) {
        let headers: [&[u8]; 4] = [
            &[0x02, 0xA4, 0x01, 0x6A, 0x00],
            &[0x02, 0xA4, 0x03, 0x04, 0x04, b'a', 0x00, b'b', 0x00],
            &[0x03, 0x01, 0x00, 0x00],
            &[],
        ];
        let _ = drain(&cat(&[headers[header], &body]));
        let _ = looks_like_wbxml_devinf(&body);
    }
}

// ---- writer ----------------------------------------------------------------------------------

#[test]
fn writer_reproduces_the_worked_example() {
    let out = write_tokens(Namespace::SyncMl, 2, &worked_example_tokens()).unwrap();
    assert_eq!(out, worked_example());
}

#[test]
fn writer_text_forms() {
    let tokens = [
        Token::Start(Tag::SyncML),
        Token::Start(Tag::Item),
        Token::Start(Tag::Data),
        text("BEGIN:VCARD"),
        Token::End,
        Token::Start(Tag::Source),
        Token::Start(Tag::LocURI),
        Token::Text(Cow::Borrowed(b"a\0b")),
        Token::Text(Cow::Borrowed(b"\xFF")),
        Token::End,
        Token::Start(Tag::LocName),
        Token::Text(Cow::Borrowed(b"")),
        Token::End,
        Token::End,
        Token::End,
        Token::End,
    ];
    let out = write_tokens(Namespace::SyncMl, 1, &tokens).unwrap();
    let want = cat(&[
        &[0x02, 0x9F, 0x53, 0x6A, 0x00, 0x6D, 0x54, 0x4F, 0xC3, 0x0B],
        b"BEGIN:VCARD",
        &[0x01, 0x67, 0x57, 0xC3, 0x03, b'a', 0, b'b', 0xC3, 0x01, 0xFF, 0x01, 0x16, 0x01, 0x01, 0x01],
    ]);
    assert_eq!(out, want);
}

#[test]
fn writer_uses_literals_for_foreign_elements() {
    let tokens = [
        Token::Start(Tag::SyncML),
        Token::Start(Tag::Data),
        Token::Start(Tag::DevProperty),
        Token::Start(Tag::DevPropName),
        text("BDAY"),
        Token::End,
        Token::End,
        Token::Start(Tag::DevProperty),
        Token::End,
        Token::End,
        Token::End,
    ];
    let out = write_tokens(Namespace::SyncMl, 2, &tokens).unwrap();
    let table = b"Property\0PropName\0";
    let want = cat(&[
        &[0x02, 0xA4, 0x01, 0x6A, table.len() as u8],
        table,
        &[0x6D, 0x4F, 0x44, 0x00, 0x44, 0x09],
        &s("BDAY"),
        &[0x01, 0x01, 0x04, 0x00, 0x01, 0x01],
    ]);
    assert_eq!(out, want);
    assert_eq!(drain(&out).unwrap(), tokens);
    // In SyncML 1.0 the FPI gets its NUL before the names follow it.
    let out = write_tokens(Namespace::SyncMl, 0, &tokens).unwrap();
    assert_eq!(&out[..5], &[0x02, 0x00, 0x00, 0x6A, 0x1D + 1 + table.len() as u8]);
    assert_eq!(WbxmlReader::new(&out).unwrap().document(), Some((Namespace::SyncMl, 0)));
    assert_eq!(drain(&out).unwrap(), tokens);
}

#[test]
fn writer_misuse_is_reported() {
    let mut w = WbxmlWriter::new();
    w.start(Tag::SyncML);
    assert!(w.finish().is_err());
    let mut w = WbxmlWriter::new();
    w.begin_document(Namespace::SyncMl, 2);
    w.start(Tag::SyncML);
    assert!(w.finish().is_err());
    let mut w = WbxmlWriter::new();
    w.begin_document(Namespace::SyncMl, 2);
    w.start(Tag::SyncML);
    w.end();
    w.end();
    assert!(w.finish().is_err());
    let mut w = WbxmlWriter::new();
    w.begin_document(Namespace::DevInf, 9);
    assert!(w.finish().is_err());
    assert!(WbxmlWriter::new().finish().is_err());
}

// ---- round trips -----------------------------------------------------------------------------

/// A random element tree of one document kind, as tokens (no DevInf `Size`, which decodes as
/// `MaxSize`, its token twin).
fn tree(kind: Namespace) -> impl Strategy<Value = Vec<Token<'static>>> {
    let tags: Vec<Tag> = Tag::ALL
        .iter()
        .copied()
        .filter(|t| page_namespace(kind, t.page()) == Some(t.namespace()) && *t != Tag::DevSize)
        .collect();
    let content =
        prop_oneof![proptest::collection::vec(any::<u8>(), 1..20), "[ -~]{1,20}".prop_map(String::into_bytes),];
    let leaf = (proptest::sample::select(tags.clone()), proptest::option::of(content)).prop_map(|(tag, c)| {
        let mut v = vec![Token::Start(tag)];
        v.extend(c.map(|c| Token::Text(Cow::Owned(c))));
        v.push(Token::End);
        v
    });
    leaf.prop_recursive(4, 64, 6, move |inner| {
        (proptest::sample::select(tags.clone()), proptest::collection::vec(inner, 0..6)).prop_map(|(tag, kids)| {
            let mut v = vec![Token::Start(tag)];
            v.extend(kids.into_iter().flatten());
            v.push(Token::End);
            v
        })
    })
}

/// Text and opaque pieces carry the same bytes; compare them as text.
fn as_text(tokens: Vec<Token<'static>>) -> Vec<Token<'static>> {
    tokens.into_iter().map(|t| if let Token::Opaque(b) = t { Token::Text(b) } else { t }).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn syncml_trees_round_trip(tokens in tree(Namespace::SyncMl), minor in 0u8..3) {
        let out = write_tokens(Namespace::SyncMl, minor, &tokens).unwrap();
        prop_assert_eq!(WbxmlReader::new(&out).unwrap().document(), Some((Namespace::SyncMl, minor)));
        prop_assert_eq!(as_text(drain(&out).unwrap()), tokens);
    }

    #[test]
    fn devinf_trees_round_trip(tokens in tree(Namespace::DevInf), minor in 0u8..3) {
        let out = write_tokens(Namespace::DevInf, minor, &tokens).unwrap();
        prop_assert!(looks_like_wbxml_devinf(&out));
        prop_assert_eq!(as_text(drain(&out).unwrap()), tokens);
    }
}

#[test]
fn mb_u32_encoding() {
    for (n, want) in [(0u32, &[0x00][..]), (0x7F, &[0x7F]), (0x80, &[0x81, 0x00]), (0x1201, &[0xA4, 0x01])] {
        let mut v = Vec::new();
        push_mb_u32(&mut v, n);
        assert_eq!(v, want, "{n:#X}");
    }
    let mut v = Vec::new();
    push_mb_u32(&mut v, u32::MAX);
    assert_eq!(v, [0x8F, 0xFF, 0xFF, 0xFF, 0x7F]);
    // And read back as an OPAQUE length.
    let doc = cat(&[&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0xC3, 0x81, 0x00], &[7; 128], &[0x01]]);
    assert_eq!(drain(&doc).unwrap()[1], Token::Opaque(Cow::Owned(vec![7; 128])));
}
