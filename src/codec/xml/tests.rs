//! Tests of the XML codec as a whole: the reader on whole documents (namespaces, text,
//! prolog/epilog), writer → reader round trips, and the reader's behaviour on truncated,
//! malformed and hostile input (errors with offsets, never a panic).

use std::borrow::Cow;

use super::*;
use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::{Token, TokenSink, TokenSource};
use crate::codec::{DecodeError, DecodeErrorKind};

// ---- The reader on whole documents ----

/// All tokens up to and including `Eof`, or the first error.
fn tokens(xml: &[u8]) -> Result<Vec<Token<'_>>, DecodeError> {
    let mut reader = XmlReader::new(xml);
    let mut out = Vec::new();
    loop {
        let t = reader.next_token()?;
        let end = t == Token::Eof;
        out.push(t);
        if end {
            return Ok(out);
        }
        if out.len() > 10_000 {
            panic!("reader does not terminate");
        }
    }
}

/// Tokens without white-space-only text, as a compact string for assertions.
fn shape(xml: &[u8]) -> String {
    let toks = tokens(xml).unwrap_or_else(|e| panic!("{e}"));
    let mut s = Vec::new();
    for t in toks {
        match t {
            Token::Start(tag) => s.push(format!("<{tag:?}>")),
            Token::Unknown => s.push("<?>".into()),
            Token::End => s.push("</>".into()),
            Token::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
            Token::Text(t) => s.push(format!("{:?}", String::from_utf8_lossy(&t))),
            Token::Opaque(_) => s.push("opaque".into()),
            Token::Eof => s.push("eof".into()),
        }
    }
    s.join(" ")
}

fn text_of(xml: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tokens(xml).unwrap_or_else(|e| panic!("{e}")) {
        if let Token::Text(t) = t {
            out.extend_from_slice(&t);
        }
    }
    out
}

#[test]
fn syncml_skeleton_with_namespaces() {
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<SyncML xmlns="SYNCML:SYNCML1.1"><SyncHdr><VerDTD>1.1</VerDTD></SyncHdr>
<SyncBody><Final/></SyncBody></SyncML>
"#;
    assert_eq!(shape(xml), r#"<SyncML> <SyncHdr> <VerDTD> "1.1" </> </> <SyncBody> <Final> </> </> </> eof"#);
    let mut r = XmlReader::new(xml);
    assert_eq!(r.document(), None);
    assert_eq!(r.next_token(), Ok(Token::Start(Tag::SyncML)));
    assert_eq!(r.document(), Some((Namespace::SyncMl, 1)));
}

#[test]
fn root_namespace_case_missing_and_devinf() {
    fn doc(xml: &[u8]) -> (Result<Token<'_>, DecodeError>, Option<(Namespace, u8)>) {
        let mut r = XmlReader::new(xml);
        let first = r.next_token();
        (first, r.document())
    }
    assert_eq!(
        doc(b"<SyncML xmlns='syncml:syncml1.0'/>"),
        (Ok(Token::Start(Tag::SyncML)), Some((Namespace::SyncMl, 0)))
    );
    assert_eq!(doc(b"<SyncML><SyncHdr/></SyncML>"), (Ok(Token::Start(Tag::SyncML)), Some((Namespace::SyncMl, 2))));
    assert_eq!(
        doc(b"<DevInf xmlns='syncml:devinf'/>"),
        (Ok(Token::Start(Tag::DevDevInf)), Some((Namespace::DevInf, 2)))
    );
    assert_eq!(
        doc(b"<DevInf><VerDTD>1.1</VerDTD></DevInf>"),
        (Ok(Token::Start(Tag::DevDevInf)), Some((Namespace::DevInf, 2)))
    );
    assert_eq!(shape(b"<DevInf><VerDTD>1.1</VerDTD></DevInf>"), r#"<DevDevInf> <DevVerDtd> "1.1" </> </> eof"#);
}

#[test]
fn metinf_with_and_without_namespace() {
    let xml = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncBody><Meta>
<Type xmlns="syncml:metinf">text/x-vcard</Type><Format>b64</Format>
<Anchor><Last>1</Last><Next>2</Next></Anchor><m:Size xmlns:m="SYNCML:METINF">3</m:Size>
</Meta></SyncBody></SyncML>"#;
    assert_eq!(
        shape(xml),
        "<SyncML> <SyncBody> <Meta> <MetType> \"text/x-vcard\" </> <MetFormat> \"b64\" </> \
             <MetAnchor> <MetLast> \"1\" </> <MetNext> \"2\" </> </> <MetSize> \"3\" </> </> </> </> eof"
    );
}

#[test]
fn nested_devinf_with_and_without_xmlns() {
    let with = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><Item><Data><DevInf xmlns="syncml:devinf"><VerDTD>1.2</VerDTD><DataStore><SourceRef>./c</SourceRef><MaxGUIDSize>32</MaxGUIDSize></DataStore></DevInf></Data><Source><LocURI>./devinf12</LocURI></Source></Item></SyncML>"#;
    let expected =
        "<SyncML> <Item> <Data> <DevDevInf> <DevVerDtd> \"1.2\" </> <DevDataStore> <DevSourceRef> \"./c\" </> \
                        <DevMaxGuidSize> \"32\" </> </> </> </> <Source> <LocURI> \"./devinf12\" </> </> </> </> eof";
    assert_eq!(shape(with), expected);
    let without = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><Item><Data><DevInf><VerDTD>1.2</VerDTD><DataStore><SourceRef>./c</SourceRef><MaxGUIDSize>32</MaxGUIDSize></DataStore></DevInf></Data><Source><LocURI>./devinf12</LocURI></Source></Item></SyncML>"#;
    assert_eq!(shape(without), expected);
}

#[test]
fn foreign_namespace_inherits_and_unknown_elements() {
    let xml = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><x:Foo xmlns:x="http://example.com/x"><Bar/>t</x:Foo><CmdID xmlns="urn:other">1</CmdID><y:Final/></SyncML>"#;
    assert_eq!(shape(xml), r#"<SyncML> <?> <?> </> "t" </> <CmdID> "1" </> <Final> </> </> eof"#);
}

#[test]
fn namespace_declarations_are_scoped() {
    let xml = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><Item xmlns:d="syncml:devinf"><d:SourceRef/></Item><d:SourceRef/><Data><DevInf xmlns="syncml:devinf"><VerDTD/></DevInf></Data><VerDTD/><Meta xmlns:m="syncml:metinf" xmlns:m2="syncml:metinf"><m2:Size/><m:MaxMsgSize/></Meta></SyncML>"#;
    assert_eq!(
        shape(xml),
        "<SyncML> <Item> <DevSourceRef> </> </> <SourceRef> </> <Data> <DevDevInf> <DevVerDtd> </> </> </> \
         <VerDTD> </> <Meta> <MetSize> </> <MetMaxMsgSize> </> </> </> eof"
    );
    let prefixed_root = br#"<s:SyncML xmlns:s="SYNCML:SYNCML1.1"><s:SyncHdr/></s:SyncML>"#;
    let mut r = XmlReader::new(prefixed_root);
    assert_eq!(r.next_token(), Ok(Token::Start(Tag::SyncML)));
    assert_eq!(r.document(), Some((Namespace::SyncMl, 1)));
    assert_eq!(shape(prefixed_root), "<SyncML> <SyncHdr> </> </> eof");
}

#[test]
fn text_is_byte_exact() {
    let xml = b"<SyncML><Data>  BEGIN:VCARD\r\nN:a\r\n\nEND:VCARD \t</Data></SyncML>";
    assert_eq!(text_of(xml), b"  BEGIN:VCARD\r\nN:a\r\n\nEND:VCARD \t");
    let lone_cr = b"<SyncML><Data>a\rb</Data></SyncML>";
    assert_eq!(text_of(lone_cr), b"a\rb");
}

#[test]
fn plain_text_borrows_the_input() {
    let xml = b"<SyncML><Data>plain</Data></SyncML>";
    let toks = tokens(xml).unwrap();
    assert!(matches!(&toks[2], Token::Text(Cow::Borrowed(b"plain"))), "{toks:?}");
}

#[test]
fn references_cdata_and_joining() {
    let xml = b"<SyncML><Data>a&amp;b&lt;&gt;&quot;&apos;&#13;&#x0D;&#x0a;&#233;&#x1F600;</Data></SyncML>";
    let toks = tokens(xml).unwrap();
    assert_eq!(toks.len(), 6, "one joined text token: {toks:?}");
    assert_eq!(text_of(xml), "a&b<>\"'\r\r\né😀".as_bytes());
    let cdata = b"<SyncML><Data><![CDATA[<b>&amp;\r\n]]>x<!-- c -->y</Data></SyncML>";
    assert_eq!(text_of(cdata), b"<b>&amp;\r\nxy");
}

#[test]
fn unresolvable_references_are_kept() {
    let xml = b"<SyncML><Data>x&EQ;1&AND;y&#0;&#xZZ;&;a & b &c</Data></SyncML>";
    assert_eq!(text_of(xml), b"x&EQ;1&AND;y&#0;&#xZZ;&;a & b &c");
    let toks = tokens(b"<SyncML><Data>&EQ;</Data></SyncML>").unwrap();
    assert!(matches!(&toks[2], Token::Text(Cow::Borrowed(b"&EQ;"))), "{toks:?}");
}

#[test]
fn prolog_and_epilog_are_skipped() {
    let xml = b"\xEF\xBB\xBF<?xml version='1.0'?><!-- hi --><!DOCTYPE SyncML PUBLIC \"-//SYNCML//DTD SyncML 1.2//EN\" \"http://www.syncml.org/docs/syncml_represent_v12_20040601.dtd\">\n<?pi x?><SyncML><Final/></SyncML>\n<!-- bye -->\r\n\0\0";
    assert_eq!(shape(xml), "<SyncML> <Final> </> </> eof");
    let mut r = XmlReader::new(b"<SyncML/>");
    assert_eq!(r.next_token(), Ok(Token::Start(Tag::SyncML)));
    assert_eq!(r.next_token(), Ok(Token::End));
    assert_eq!(r.next_token(), Ok(Token::Eof));
    assert_eq!(r.next_token(), Ok(Token::Eof));
}

#[test]
fn latin1_declaration_transcodes_text() {
    let xml = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><SyncML><Data>M\xfcller&#233;</Data></SyncML>";
    assert_eq!(text_of(xml), "Mülleré".as_bytes());
    let utf8 = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML><Data>M\xc3\xbcller</Data></SyncML>";
    assert_eq!(text_of(utf8), "Müller".as_bytes());
}

// ---- Writer → reader round trips ----

/// One call to a sink, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Start(Tag),
    Text(Vec<u8>),
    End,
}

fn write(calls: &[Call], pretty: bool) -> Vec<u8> {
    let mut w = XmlWriter::new(pretty);
    w.begin_document(Namespace::SyncMl, 2);
    for c in calls {
        match c {
            Call::Start(Tag::DevDevInf) => {
                w.begin_document(Namespace::DevInf, 2);
                w.start(Tag::DevDevInf);
            }
            Call::Start(t) => w.start(*t),
            Call::Text(t) => w.text(t),
            Call::End => w.end(),
        }
    }
    w.end_document();
    match w.finish() {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

/// The calls that would reproduce what the reader yields; white-space-only text next to
/// element children (indentation) is dropped, as the model layer does.
fn read(xml: &[u8]) -> Vec<Call> {
    let mut r = XmlReader::new(xml);
    let mut calls: Vec<Call> = Vec::new();
    loop {
        match r.next_token() {
            Ok(Token::Start(t)) => calls.push(Call::Start(t)),
            Ok(Token::End) => calls.push(Call::End),
            Ok(Token::Text(t)) => match calls.last_mut() {
                Some(Call::Text(prev)) => prev.extend_from_slice(&t),
                _ => calls.push(Call::Text(t.into_owned())),
            },
            Ok(Token::Eof) => break,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => panic!("{e} in {}", String::from_utf8_lossy(xml)),
        }
    }
    let mut out: Vec<Call> = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        if let Call::Text(t) = c {
            let beside_element =
                matches!(calls.get(i + 1), Some(Call::Start(_))) || matches!(out.last(), Some(Call::End));
            if beside_element && t.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
        }
        out.push(c.clone());
    }
    out
}

fn text(s: &[u8]) -> Call {
    Call::Text(s.to_vec())
}

fn sample() -> Vec<Call> {
    use Call::{End, Start};
    vec![
        Start(Tag::SyncML),
        Start(Tag::SyncHdr),
        Start(Tag::VerDTD),
        text(b"1.2"),
        End,
        Start(Tag::Meta),
        Start(Tag::MetMaxMsgSize),
        text(b"20000"),
        End,
        End,
        End,
        Start(Tag::SyncBody),
        Start(Tag::Add),
        Start(Tag::Item),
        Start(Tag::Data),
        text(b"BEGIN:VCARD\r\nN:M\xc3\xbcller;&<>]]>\"'\r\nNOTE:a\rb\nc\tTAB \r\nEND:VCARD\r\n"),
        End,
        Start(Tag::MoreData),
        End,
        End,
        Start(Tag::Item),
        Start(Tag::Data),
        Start(Tag::DevDevInf),
        Start(Tag::DevVerDtd),
        text(b"1.2"),
        End,
        Start(Tag::DevDataStore),
        Start(Tag::DevSourceRef),
        text(b"./contacts?x&EQ;1"),
        End,
        Start(Tag::DevMaxGuidSize),
        text(b"  32  "),
        End,
        End,
        End,
        End,
        End,
        Start(Tag::Data),
        Start(Tag::MetAnchor),
        Start(Tag::MetNext),
        text(b"\n"),
        End,
        End,
        End,
        End,
        Start(Tag::Final),
        End,
        End,
        End,
    ]
}

#[test]
fn writer_then_reader_gives_the_calls_back() {
    let calls = sample();
    for pretty in [false, true] {
        let xml = write(&calls, pretty);
        assert_eq!(read(&xml), calls, "pretty={pretty}:\n{}", String::from_utf8_lossy(&xml));
    }
}

#[test]
fn cr_survives_as_a_character_reference() {
    let xml = write(&[Call::Start(Tag::SyncML), text(b"a\r\nb\r"), Call::End], false);
    assert!(xml.ends_with(b"a&#13;\nb&#13;</SyncML>"));
    let mut r = XmlReader::new(&xml);
    assert_eq!(r.next_token(), Ok(Token::Start(Tag::SyncML)));
    assert_eq!(r.next_token(), Ok(Token::Text(Cow::Owned(b"a\r\nb\r".to_vec()))));
    assert_eq!(r.next_token(), Ok(Token::End));
    assert_eq!(r.next_token(), Ok(Token::Eof));
    assert_eq!(r.document(), Some((Namespace::SyncMl, 2)));
}

#[test]
fn every_tag_round_trips_by_name() {
    for &tag in Tag::ALL {
        let calls = vec![Call::Start(Tag::SyncML), Call::Start(tag), text(b"x"), Call::End, Call::End];
        let xml = write(&calls, false);
        assert_eq!(read(&xml), calls, "{}", String::from_utf8_lossy(&xml));
    }
}

#[test]
fn arbitrary_text_round_trips() {
    // Every representable single character class next to the ones that need escaping.
    let mut all = Vec::new();
    for c in (0u32..0x3000).chain(0xE000..0xFFFE).chain([0x1F600, 0x10FFFF]).filter_map(char::from_u32) {
        if c >= ' ' || matches!(c, '\t' | '\n' | '\r') {
            let mut buf = [0u8; 4];
            all.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    let calls = vec![Call::Start(Tag::SyncML), Call::Start(Tag::Data), Call::Text(all), Call::End, Call::End];
    assert_eq!(read(&write(&calls, false)), calls);
    assert_eq!(read(&write(&calls, true)), calls);
}

// ---- Truncated, malformed and hostile input ----

fn error_of(xml: &[u8]) -> DecodeError {
    match tokens(xml) {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e,
    }
}

#[test]
fn truncated_input_is_unexpected_eof() {
    let xml = b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><!-- c --><![CDATA[x]]></SyncHdr><Final/></SyncML>";
    for cut in 0..xml.len() {
        let e = error_of(&xml[..cut]);
        assert_eq!(e.kind, DecodeErrorKind::UnexpectedEof, "cut at {cut}: {e}");
        assert!(e.offset <= cut, "cut at {cut}: offset {}", e.offset);
    }
}

#[test]
fn malformed_input_gives_errors_with_offsets() {
    let e = error_of(b"<SyncML><A></B></SyncML>");
    assert!(matches!(e.kind, DecodeErrorKind::Xml(_)), "{e}");
    assert_eq!(e.offset, 11);
    let e = error_of(b"<SyncML><A>text&#13;</B></SyncML>");
    assert!(matches!(e.kind, DecodeErrorKind::Xml(_)), "{e}");
    assert_eq!(e.offset, 20);
    let e = error_of(b"\xEF\xBB\xBF<SyncML><A></B></SyncML>");
    assert_eq!(e.offset, 14, "offsets count the byte order mark");
    let e = error_of(b"<SyncML></SyncML><SyncML/>");
    assert_eq!(e.kind, DecodeErrorKind::Xml("content after the root element".into()));
    assert_eq!(e.offset, 26);
    let e = error_of(b"<SyncML></SyncML>junk");
    assert!(matches!(e.kind, DecodeErrorKind::Xml(_)), "{e}");
    let e = error_of(b"junk<SyncML/>");
    assert!(matches!(e.kind, DecodeErrorKind::Xml(_)), "{e}");
    let e = error_of(b"<SyncML><!x></SyncML>");
    assert!(matches!(e.kind, DecodeErrorKind::Xml(_)), "{e}");
    let e = error_of(b"</SyncML>");
    assert!(matches!(e.kind, DecodeErrorKind::Xml(_)), "{e}");
    // The error sticks.
    let mut r = XmlReader::new(b"<SyncML><A></B>");
    let first = loop {
        match r.next_token() {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(r.next_token(), Err(first));
}

#[test]
fn never_panics_on_odd_input() {
    let samples: [&[u8]; 16] = [
        b"",
        b"<",
        b"<>",
        b"</>",
        b"<SyncML",
        b"<SyncML a=>",
        b"<SyncML \xff\xfe/>",
        b"<\xff/>",
        b"<SyncML>&",
        b"<SyncML>&#",
        b"<SyncML>&#x110000;&#xD800;&#99999999999;</SyncML>",
        b"<SyncML><![CDATA[",
        b"<SyncML><!DOCTYPE x></SyncML>",
        b"<?xml?><SyncML/>",
        b"<a:b:c xmlns:a:b='x'/>",
        b"<SyncML xmlns:=''><:x/></SyncML>",
    ];
    for s in samples {
        let _ = tokens(s);
    }
    // Every prefix and every single-byte corruption of a realistic document.
    let doc = br#"<?xml version="1.0"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncBody><Sync><Add><Meta><Type xmlns="syncml:metinf">text/x-vcard</Type></Meta><Item><Data><![CDATA[BEGIN:VCARD]]>&#13;&EQ;</Data></Item></Add></Sync><Final/></SyncBody></SyncML>"#;
    for i in 0..doc.len() {
        let _ = tokens(&doc[..i]);
        for b in [b'<', b'>', b'&', b'/', b'"', 0xFF, b':', b'!'] {
            let mut bad = doc.to_vec();
            bad[i] = b;
            let _ = tokens(&bad);
        }
    }
}

proptest::proptest! {
    #[test]
    fn reader_never_panics_on_random_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let _ = tokens(&bytes);
    }

    #[test]
    fn reader_never_panics_inside_a_document(
        inner in proptest::collection::vec(proptest::sample::select(b"<>/&;#x!?-[]CDATA:=\"' a\r\n\xff".to_vec()), 0..120),
    ) {
        let mut xml = b"<SyncML xmlns='SYNCML:SYNCML1.2'><Data>".to_vec();
        xml.extend_from_slice(&inner);
        xml.extend_from_slice(b"</Data></SyncML>");
        let _ = tokens(&xml);
    }

    #[test]
    fn representable_text_round_trips(text in "[\t\n\r -\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]{0,64}", pretty: bool) {
        let calls = vec![Call::Start(Tag::SyncML), Call::Start(Tag::Data), Call::Text(text.clone().into_bytes()), Call::End, Call::End];
        let expected = if text.is_empty() {
            vec![Call::Start(Tag::SyncML), Call::Start(Tag::Data), Call::End, Call::End]
        } else {
            calls.clone()
        };
        proptest::prop_assert_eq!(read(&write(&calls, pretty)), expected);
    }
}
