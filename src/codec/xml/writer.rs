//! [`TokenSink`] calls → XML bytes: [`XmlWriter`], written straight into a `Vec<u8>`.
//!
//! Owns: the XML declaration, `xmlns` placement, escaping (with CR kept as `&#13;`), the check
//! that text is XML-representable, and indentation. Must not know anything about the typed model
//! or decide what is written (that is `codec::model`).

use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::TokenSink;
use crate::codec::EncodeError;

/// The declaration written before the root element.
const DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

/// Writes one SyncML or DevInf document as UTF-8 XML.
///
/// - Every document starts with `<?xml version="1.0" encoding="UTF-8"?>` (compact and pretty).
/// - The root element carries `xmlns`; so does every element whose namespace differs from its
///   parent's (`<Type xmlns="syncml:metinf">`, `<DevInf xmlns="syncml:devinf">` inside `Data`).
///   SyncML elements use the URI of the top-level document's minor version.
/// - Text escapes `&`, `<`, `>`, and writes CR as `&#13;` so that parsers which normalise line
///   ends (expat) still deliver it. Text that is not UTF-8 or holds characters XML 1.0 cannot
///   carry (C0 controls other than TAB, LF, CR; U+FFFE, U+FFFF) is not written and makes
///   [`XmlWriter::finish`] fail with [`EncodeError::Unrepresentable`].
/// - An element with nothing inside is written empty (`<Final/>`).
/// - Pretty output indents by two spaces, one element per line; an element holding text keeps
///   it on the element's line and untouched. Compact output has no white space between tags.
pub struct XmlWriter {
    out: Vec<u8>,
    pretty: bool,
    /// The open elements, innermost last.
    open: Vec<Open>,
    /// The innermost start tag still lacks its `>` (so it can become `/>`).
    tag_unclosed: bool,
    /// The minor version of the top-level SyncML document (for the SyncML namespace URI).
    syncml_minor: u8,
    root_closed: bool,
    error: Option<EncodeError>,
}

impl XmlWriter {
    /// An empty writer; `pretty` indents the output.
    pub fn new(pretty: bool) -> XmlWriter {
        XmlWriter {
            out: Vec::with_capacity(4096),
            pretty,
            open: Vec::with_capacity(16),
            tag_unclosed: false,
            syncml_minor: 2,
            root_closed: false,
            error: None,
        }
    }

    /// The document, or the first thing that could not be written.
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if let Some(o) = self.open.last() {
            return Err(EncodeError::Invalid(format!("element {} is not closed", o.tag.name())));
        }
        if !self.root_closed {
            return Err(EncodeError::Invalid("no element was written".into()));
        }
        Ok(self.out)
    }
}

impl TokenSink for XmlWriter {
    fn begin_document(&mut self, kind: Namespace, minor: u8) {
        if self.open.is_empty() && !self.root_closed && kind == Namespace::SyncMl {
            self.syncml_minor = minor;
        }
    }

    fn end_document(&mut self) {}

    fn start(&mut self, tag: Tag) {
        if self.open.is_empty() {
            if self.root_closed {
                self.fail(EncodeError::Invalid(format!("element {} after the root element", tag.name())));
                return;
            }
            self.out.extend_from_slice(DECLARATION);
        }
        let ns = tag.namespace();
        let parent_ns = match self.open.last_mut() {
            Some(parent) => {
                parent.children = true;
                Some((parent.tag.namespace(), parent.text))
            }
            None => None,
        };
        self.close_start_tag();
        if self.pretty && !matches!(parent_ns, Some((_, true))) {
            self.newline(self.open.len());
        }
        self.out.push(b'<');
        self.out.extend_from_slice(tag.name().as_bytes());
        if parent_ns.map(|(p, _)| p) != Some(ns) {
            self.out.extend_from_slice(b" xmlns=\"");
            self.out.extend_from_slice(ns.uri(self.syncml_minor).as_bytes());
            self.out.push(b'"');
        }
        self.open.push(Open { tag, children: false, text: false });
        self.tag_unclosed = true;
    }

    fn text(&mut self, data: &[u8]) {
        let Some(top) = self.open.last_mut() else {
            self.fail(EncodeError::Invalid("text outside an element".into()));
            return;
        };
        if data.is_empty() {
            return;
        }
        top.text = true;
        let element = top.tag.name();
        self.close_start_tag();
        let mark = self.out.len();
        if let Err(reason) = escape_into(&mut self.out, data) {
            self.out.truncate(mark);
            self.fail(EncodeError::Unrepresentable { element, reason });
        }
    }

    fn end(&mut self) {
        let Some(o) = self.open.pop() else {
            self.fail(EncodeError::Invalid("end of an element that is not open".into()));
            return;
        };
        if self.tag_unclosed {
            self.tag_unclosed = false;
            self.out.extend_from_slice(b"/>");
        } else {
            if self.pretty && o.children && !o.text {
                self.newline(self.open.len());
            }
            self.out.extend_from_slice(b"</");
            self.out.extend_from_slice(o.tag.name().as_bytes());
            self.out.push(b'>');
        }
        if self.open.is_empty() {
            self.root_closed = true;
            if self.pretty {
                self.out.push(b'\n');
            }
        }
    }
}

/// An open element.
#[derive(Clone, Copy, Debug)]
struct Open {
    tag: Tag,
    /// It has element children.
    children: bool,
    /// It has text.
    text: bool,
}

impl XmlWriter {
    /// Finishes the innermost start tag with `>` if it is still open.
    fn close_start_tag(&mut self) {
        if self.tag_unclosed {
            self.tag_unclosed = false;
            self.out.push(b'>');
        }
    }

    /// A line break and `depth` levels of indentation (pretty output only).
    fn newline(&mut self, depth: usize) {
        self.out.push(b'\n');
        for _ in 0..depth {
            self.out.extend_from_slice(b"  ");
        }
    }

    /// Keeps the first error.
    fn fail(&mut self, e: EncodeError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

/// What a text byte needs.
const PLAIN: u8 = 0;
const ESCAPE: u8 = 1;
const FORBIDDEN: u8 = 2;
/// 0xEF may start U+FFFE or U+FFFF, which XML 1.0 excludes.
const CHECK: u8 = 3;

static CLASS: [u8; 256] = {
    let mut table = [PLAIN; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = FORBIDDEN;
        b += 1;
    }
    table[b'\t' as usize] = PLAIN;
    table[b'\n' as usize] = PLAIN;
    table[b'\r' as usize] = ESCAPE;
    table[b'&' as usize] = ESCAPE;
    table[b'<' as usize] = ESCAPE;
    table[b'>' as usize] = ESCAPE;
    table[0xEF] = CHECK;
    table
};

/// Appends `data` escaped as XML character data, or says why it cannot be (then `out` holds a
/// partial write the caller discards).
fn escape_into(out: &mut Vec<u8>, data: &[u8]) -> Result<(), String> {
    if let Err(e) = std::str::from_utf8(data) {
        return Err(format!(
            "bytes are not UTF-8 (at byte {}); binary data must travel base64-encoded in XML",
            e.valid_up_to()
        ));
    }
    out.reserve(data.len());
    let mut run = 0;
    for (i, &b) in data.iter().enumerate() {
        match CLASS[usize::from(b)] {
            PLAIN => continue,
            ESCAPE => {
                // `run <= i`: `run` only ever moves to just past an earlier index.
                out.extend_from_slice(&data[run..i]);
                out.extend_from_slice(match b {
                    b'&' => b"&amp;",
                    b'<' => b"&lt;",
                    b'>' => b"&gt;",
                    _ => b"&#13;",
                });
                run = i + 1;
            }
            FORBIDDEN => {
                return Err(format!(
                    "control character U+{b:04X} cannot be carried by XML 1.0; binary data must travel base64-encoded"
                ))
            }
            _ => {
                if let Some(tail @ ([0xBF, 0xBE] | [0xBF, 0xBF])) = data.get(i + 1..i + 3) {
                    let c = 0xFFF0 | u32::from(tail[1] & 0x0F);
                    return Err(format!("character U+{c:04X} cannot be carried by XML 1.0"));
                }
            }
        }
    }
    out.extend_from_slice(&data[run..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(pretty: bool, f: impl FnOnce(&mut XmlWriter)) -> Result<String, EncodeError> {
        let mut w = XmlWriter::new(pretty);
        f(&mut w);
        w.finish().map(|b| String::from_utf8(b).expect("writer output is UTF-8"))
    }

    fn leaf(w: &mut XmlWriter, tag: Tag, text: &str) {
        w.start(tag);
        w.text(text.as_bytes());
        w.end();
    }

    /// A header, a Meta with MetInf children and a nested DevInf in Data.
    fn sample(w: &mut XmlWriter) {
        w.begin_document(Namespace::SyncMl, 1);
        w.start(Tag::SyncML);
        w.start(Tag::SyncHdr);
        leaf(w, Tag::VerDTD, "1.1");
        w.end();
        w.start(Tag::SyncBody);
        w.start(Tag::Put);
        w.start(Tag::Meta);
        leaf(w, Tag::MetType, "application/vnd.syncml-devinf+xml");
        w.end();
        w.start(Tag::Item);
        w.start(Tag::Data);
        w.begin_document(Namespace::DevInf, 1);
        w.start(Tag::DevDevInf);
        leaf(w, Tag::DevVerDtd, "1.1");
        w.start(Tag::DevUtc);
        w.end();
        w.end();
        w.end_document();
        w.end();
        w.end();
        w.end();
        w.start(Tag::Final);
        w.end();
        w.end();
        w.end();
        w.end_document();
    }

    #[test]
    fn compact_output_and_namespaces() {
        let xml = write(false, sample).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.1\"><SyncHdr><VerDTD>1.1</VerDTD>\
             </SyncHdr><SyncBody><Put><Meta><Type xmlns=\"syncml:metinf\">application/vnd.syncml-devinf+xml</Type>\
             </Meta><Item><Data><DevInf xmlns=\"syncml:devinf\"><VerDTD>1.1</VerDTD><UTC/></DevInf></Data></Item>\
             </Put><Final/></SyncBody></SyncML>"
        );
    }

    #[test]
    fn pretty_output() {
        let xml = write(true, sample).unwrap();
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<SyncML xmlns="SYNCML:SYNCML1.1">
  <SyncHdr>
    <VerDTD>1.1</VerDTD>
  </SyncHdr>
  <SyncBody>
    <Put>
      <Meta>
        <Type xmlns="syncml:metinf">application/vnd.syncml-devinf+xml</Type>
      </Meta>
      <Item>
        <Data>
          <DevInf xmlns="syncml:devinf">
            <VerDTD>1.1</VerDTD>
            <UTC/>
          </DevInf>
        </Data>
      </Item>
    </Put>
    <Final/>
  </SyncBody>
</SyncML>
"#;
        assert_eq!(xml, expected);
    }

    #[test]
    fn devinf_document_and_metinf_runs() {
        let xml = write(false, |w| {
            w.begin_document(Namespace::DevInf, 2);
            w.start(Tag::DevDevInf);
            leaf(w, Tag::DevMan, "x");
            w.end();
            w.end_document();
        })
        .unwrap();
        assert_eq!(xml, r#"<?xml version="1.0" encoding="UTF-8"?><DevInf xmlns="syncml:devinf"><Man>x</Man></DevInf>"#);
        // Only the first MetInf element under a SyncML parent declares; its MetInf children and
        // siblings inside a MetInf parent do not.
        let xml = write(false, |w| {
            w.start(Tag::Meta);
            w.start(Tag::MetAnchor);
            leaf(w, Tag::MetNext, "2");
            w.end();
            leaf(w, Tag::MetSize, "3");
            w.end();
        })
        .unwrap();
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Meta xmlns="SYNCML:SYNCML1.2"><Anchor xmlns="syncml:metinf"><Next>2</Next></Anchor><Size xmlns="syncml:metinf">3</Size></Meta>"#
        );
    }

    #[test]
    fn escaping_and_cr() {
        let xml = write(false, |w| {
            w.start(Tag::SyncML);
            leaf(w, Tag::Data, "a&b<c>d]]>e\"f'g\r\nh\ti\rj");
            w.end();
        })
        .unwrap();
        assert!(xml.ends_with("<Data>a&amp;b&lt;c&gt;d]]&gt;e\"f'g&#13;\nh\ti&#13;j</Data></SyncML>"), "{xml}");
    }

    #[test]
    fn pretty_never_touches_text() {
        let xml = write(true, |w| {
            w.start(Tag::SyncML);
            leaf(w, Tag::Data, "\n  x  \n");
            w.start(Tag::Data);
            w.end();
            w.end();
        })
        .unwrap();
        assert!(xml.contains("\n  <Data>\n  x  \n</Data>\n  <Data/>\n</SyncML>\n"), "{xml}");
    }

    #[test]
    fn unrepresentable_text_is_reported() {
        for (bytes, what) in [
            (&b"\xff\xfe"[..], "UTF-8"),
            (b"a\x00b", "U+0000"),
            (b"\x1b", "U+001B"),
            (b"x\x0c", "U+000C"),
            ("\u{FFFE}".as_bytes(), "U+FFFE"),
            ("a\u{FFFF}".as_bytes(), "U+FFFF"),
        ] {
            let e = write(false, |w| {
                w.start(Tag::SyncML);
                leaf(w, Tag::Data, "ok");
                w.start(Tag::Data);
                w.text(bytes);
                w.end();
                w.start(Tag::Data);
                w.text(b"\x01");
                w.end();
                w.end();
            })
            .unwrap_err();
            match e {
                EncodeError::Unrepresentable { element: "Data", reason } => {
                    assert!(reason.contains(what), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        // Characters XML does allow.
        let xml = write(false, |w| leaf(w, Tag::Data, "\u{EFFF}\u{FFFD}\u{85}\u{10FFFF}")).unwrap();
        assert!(xml.contains("\u{EFFF}\u{FFFD}\u{85}\u{10FFFF}"));
    }

    #[test]
    fn misuse_is_reported_not_panicked() {
        assert!(write(false, |_| {}).is_err());
        assert!(write(false, |w| w.start(Tag::SyncML)).is_err());
        assert!(write(false, |w| w.end()).is_err());
        assert!(write(false, |w| w.text(b"x")).is_err());
        assert!(write(false, |w| {
            leaf(w, Tag::SyncML, "");
            leaf(w, Tag::SyncML, "");
        })
        .is_err());
        assert_eq!(
            write(false, |w| leaf(w, Tag::Final, "")).unwrap(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Final xmlns="SYNCML:SYNCML1.2"/>"#
        );
    }
}
