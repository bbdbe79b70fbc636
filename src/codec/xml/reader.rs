//! XML bytes → [`Token`]s: [`XmlReader`], a thin layer over quick-xml's borrowing [`Reader`]
//! that resolves namespaces, classifies elements into the catalogue ([`Tag`]) and reads
//! character data.
//!
//! quick-xml parses the markup only. Namespaces are resolved here rather than by its `NsReader`:
//! this only looks at `xmlns` attributes and keeps one `Option<Namespace>` per open element,
//! while on the 2,000-vCard benchmark `NsReader` alone took more than twice the time of `Reader`.
//! Character data is scanned here too, so that a vCard with `&#13;` on every line is one token
//! instead of two quick-xml events per line.
//!
//! Owns: namespace classification and the lenient fallbacks of PROTOCOL.md §1.2 (missing or
//! upper/lower-case namespaces, MetInf children without `xmlns`), reference resolution, the
//! prolog/epilog rules and the mapping of quick-xml errors to [`DecodeError`]. Must not know
//! anything about the typed model (that is `codec::model`) or enforce limits (also the model's).

use std::borrow::Cow;
use std::io::BufRead;

use quick_xml::errors::{Error as QuickXmlError, SyntaxError};
use quick_xml::events::{BytesDecl, BytesRef, BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use quick_xml::Reader;

use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::{Token, TokenSource};
use crate::codec::{DecodeError, DecodeErrorKind};

/// Reads one SyncML or DevInf document from XML bytes, borrowing from the input.
///
/// Leniency (PROTOCOL.md §11.4 point 1):
/// - an element without a namespace, or in a namespace outside the SyncML family, is looked up
///   in its parent's namespace; a name not found there is tried in SyncML, MetInf and DevInf
///   (in that order), so `<Meta><Type>` without `xmlns="syncml:metinf"` is `MetType`;
/// - namespace URIs are compared case-insensitively;
/// - a reference that cannot be resolved (`&EQ;` from a filter, `&#0;`) and a lone `&` are kept
///   literally;
/// - whitespace, NUL bytes, comments and processing instructions after the root element are
///   ignored; anything else there (elements, other text) is an error;
/// - a declaration naming ISO-8859-1 (`latin1`) makes text be transcoded to UTF-8; any other
///   encoding name is read as UTF-8. A UTF-8 byte order mark is skipped.
///
/// Text is byte-exact: no trimming and no line-end normalisation (`&#13;` gives a CR byte).
/// Character data up to the next markup is **one** [`Token::Text`] with its references resolved,
/// borrowing the input unless a reference was resolved or Latin-1 transcoded; a CDATA section is
/// a `Text` of its own, and a comment ends a run, so `a<![CDATA[b]]>c<!---->d` gives four `Text`
/// tokens in a row, which the model layer concatenates. White space between elements comes as
/// `Text` too. Attributes other than `xmlns` and `xmlns:prefix` are ignored unchecked.
pub struct XmlReader<'a> {
    xml: Reader<&'a [u8]>,
    input: &'a [u8],
    /// One entry per open element.
    scopes: Vec<Scope>,
    /// Length of the UTF-8 byte order mark quick-xml skipped (its positions start after it).
    bom: usize,
    /// `xmlns:prefix` declarations in scope, innermost last; their prefixes are in `prefixes`.
    bindings: Vec<Binding>,
    prefixes: Vec<u8>,
    /// An empty element was started; its end comes next.
    pending_end: bool,
    phase: Phase,
    document: Option<(Namespace, u8)>,
    latin1: bool,
    /// Once an error is returned, every later call returns it again.
    failure: Option<DecodeError>,
}

impl<'a> XmlReader<'a> {
    /// A reader over a complete XML document.
    pub fn new(input: &'a [u8]) -> XmlReader<'a> {
        let mut xml = Reader::from_reader(input);
        let config = xml.config_mut();
        config.allow_dangling_amp = true;
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        XmlReader {
            xml,
            input,
            scopes: Vec::with_capacity(16),
            bom: if input.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 },
            bindings: Vec::new(),
            prefixes: Vec::new(),
            pending_end: false,
            phase: Phase::Prolog,
            document: None,
            latin1: false,
            failure: None,
        }
    }
}

impl<'a> TokenSource<'a> for XmlReader<'a> {
    fn next_token(&mut self) -> Result<Token<'a>, DecodeError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        let token = self.advance();
        if let Err(e) = &token {
            self.failure = Some(e.clone());
        }
        token
    }

    fn offset(&self) -> usize {
        self.absolute(self.xml.buffer_position())
    }

    fn document(&self) -> Option<(Namespace, u8)> {
        self.document
    }
}

/// Where the reader is in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before the root element: declaration, comments, DOCTYPE, white space.
    Prolog,
    /// Inside the root element.
    Content,
    /// After the root element closed.
    Epilog,
    /// `Eof` was returned.
    Done,
}

/// The namespace context of an open element.
#[derive(Clone, Copy, Debug)]
struct Scope {
    /// The family namespace its XML name resolved to (`None`: unbound or a foreign URI).
    resolved: Option<Namespace>,
    /// The namespace its children are looked up in first: the namespace of its tag.
    effective: Namespace,
    /// The default namespace (`xmlns="..."`) in effect inside it, classified.
    default: Option<Namespace>,
}

/// An `xmlns:prefix="uri"` declaration.
#[derive(Clone, Copy, Debug)]
struct Binding {
    /// Where the prefix is in `XmlReader::prefixes`.
    prefix: (usize, usize),
    namespace: Option<Namespace>,
    /// The SyncML minor version named by the URI (for the root element).
    minor: Option<u8>,
    /// The number of elements open outside the declaring element.
    depth: usize,
}

/// Namespaces tried, in order, for a name not found in the expected one.
const FALLBACK: [Namespace; 3] = [Namespace::SyncMl, Namespace::MetInf, Namespace::DevInf];

/// Every ASCII byte, so that a character reference to an ASCII character borrows a static slice.
static ASCII: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = i as u8;
        i += 1;
    }
    table
};

impl<'a> XmlReader<'a> {
    fn advance(&mut self) -> Result<Token<'a>, DecodeError> {
        loop {
            let token = match self.phase {
                Phase::Prolog => self.prolog()?,
                Phase::Content => self.content()?,
                Phase::Epilog => self.epilog()?,
                Phase::Done => return Ok(Token::Eof),
            };
            if let Some(token) = token {
                return Ok(token);
            }
        }
    }

    /// One event before the root element; `None` when it produced no token.
    fn prolog(&mut self) -> Result<Option<Token<'a>>, DecodeError> {
        match self.read()? {
            Event::Start(e) => Ok(Some(self.open(&e))),
            Event::Empty(e) => Ok(Some(self.open_empty(&e))),
            Event::Decl(d) => {
                self.declaration(&d);
                Ok(None)
            }
            Event::Comment(_) | Event::PI(_) | Event::DocType(_) => Ok(None),
            Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => Ok(None),
            Event::Eof => Err(self.error(DecodeErrorKind::UnexpectedEof)),
            Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                Err(self.malformed("character data before the root element"))
            }
            Event::End(_) => Err(self.malformed("end tag before the root element")),
        }
    }

    /// One step inside the root element: character data up to the next markup (read here, not
    /// by quick-xml, which would make an event of every reference), else one markup event.
    /// `None` when it produced no token.
    fn content(&mut self) -> Result<Option<Token<'a>>, DecodeError> {
        if self.pending_end {
            self.pending_end = false;
            return self.close().map(Some);
        }
        if let Some(text) = self.text_run() {
            return Ok(Some(Token::Text(text)));
        }
        match self.read()? {
            Event::Start(e) => Ok(Some(self.open(&e))),
            Event::Empty(e) => Ok(Some(self.open_empty(&e))),
            Event::End(_) => self.close().map(Some),
            Event::CData(c) => Ok(non_empty(self.charset(c.into_inner()))),
            // Not produced while `text_run` takes all text; handled for completeness.
            Event::Text(t) => Ok(non_empty(unescape(self.charset(t.into_inner())))),
            Event::GeneralRef(r) => Ok(non_empty(resolve(&r).unwrap_or_else(|| self.charset(literal(&r))))),
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => Ok(None),
            Event::Eof => Err(self.error(DecodeErrorKind::UnexpectedEof)),
        }
    }

    /// One event after the root element; `None` when it produced no token.
    fn epilog(&mut self) -> Result<Option<Token<'a>>, DecodeError> {
        match self.read()? {
            Event::Eof => {
                self.phase = Phase::Done;
                Ok(Some(Token::Eof))
            }
            Event::Text(t) if t.iter().all(|b| b.is_ascii_whitespace() || *b == 0) => Ok(None),
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => Ok(None),
            _ => Err(self.malformed("content after the root element")),
        }
    }

    /// The next event from quick-xml, errors mapped.
    #[inline(always)]
    fn read(&mut self) -> Result<Event<'a>, DecodeError> {
        match self.xml.read_event() {
            Ok(event) => Ok(event),
            Err(e) => Err(self.quick_xml_error(e)),
        }
    }

    /// Takes the character data at quick-xml's position (it is between two pieces of markup)
    /// up to the next `<`, references resolved, and moves quick-xml past it. `None` if there
    /// is none.
    fn text_run(&mut self) -> Option<Cow<'a, [u8]>> {
        let rest: &'a [u8] = self.xml.get_mut();
        let first = find_either(rest, b'<', b'&').unwrap_or(rest.len());
        let has_reference = rest.get(first) == Some(&b'&');
        let len = match rest.get(first..) {
            Some(tail) if has_reference => first + find_either(tail, b'<', b'<').unwrap_or(tail.len()),
            _ => first,
        };
        if len == 0 {
            return None;
        }
        let run = rest.get(..len).unwrap_or_default();
        self.xml.stream().consume(len);
        let run = self.charset(Cow::Borrowed(run));
        Some(if has_reference { unescape(run) } else { run })
    }

    /// An element starts: classify it and open its scope.
    fn open(&mut self, start: &BytesStart<'_>) -> Token<'a> {
        let depth = self.scopes.len();
        let (default, default_minor) = self.declarations(start, depth);
        let (local, prefix) = start.name().decompose();
        let (ns, minor) = match prefix {
            None => (default, default_minor),
            Some(prefix) => self.prefix_namespace(prefix.as_ref()),
        };
        let local = local.into_inner();
        let expected = match self.scopes.last() {
            // A namespace declared on this element (or a prefix bound to a different one) wins;
            // otherwise the element inherits its parent's context.
            Some(parent) => match ns {
                Some(ns) if Some(ns) != parent.resolved => ns,
                _ => parent.effective,
            },
            None => {
                let root =
                    if local == b"DevInf" { (Namespace::DevInf, 2) } else { (Namespace::SyncMl, minor.unwrap_or(2)) };
                self.document = Some(root);
                self.phase = Phase::Content;
                ns.unwrap_or(root.0)
            }
        };
        let tag = lookup(expected, local);
        let effective = tag.map_or(expected, Tag::namespace);
        self.scopes.push(Scope { resolved: ns, effective, default });
        match tag {
            Some(tag) => Token::Start(tag),
            None => Token::Unknown,
        }
    }

    /// Records the element's `xmlns:prefix` declarations and returns the default namespace in
    /// effect inside it, with the SyncML minor version when it declares one itself.
    fn declarations(&mut self, start: &BytesStart<'_>, depth: usize) -> (Option<Namespace>, Option<u8>) {
        let mut default = (self.scopes.last().and_then(|s| s.default), None);
        if start.attributes_raw().is_empty() {
            return default;
        }
        for attribute in start.attributes().with_checks(false).flatten() {
            let uri = &*attribute.value;
            let classified = (Namespace::from_uri(uri), Namespace::syncml_minor(uri));
            match attribute.key.as_namespace_binding() {
                Some(PrefixDeclaration::Default) => default = classified,
                Some(PrefixDeclaration::Named(prefix)) => {
                    let from = self.prefixes.len();
                    self.prefixes.extend_from_slice(prefix);
                    let prefix = (from, self.prefixes.len());
                    self.bindings.push(Binding { prefix, namespace: classified.0, minor: classified.1, depth });
                }
                None => {}
            }
        }
        default
    }

    /// The namespace bound to a prefix (`None`: not declared, or a foreign URI).
    fn prefix_namespace(&self, prefix: &[u8]) -> (Option<Namespace>, Option<u8>) {
        self.bindings
            .iter()
            .rev()
            .find(|b| self.prefixes.get(b.prefix.0..b.prefix.1) == Some(prefix))
            .map_or((None, None), |b| (b.namespace, b.minor))
    }

    /// An empty element `<Final/>`: its start now, its end on the next call.
    fn open_empty(&mut self, start: &BytesStart<'a>) -> Token<'a> {
        let token = self.open(start);
        self.pending_end = true;
        token
    }

    /// The current element ends.
    fn close(&mut self) -> Result<Token<'a>, DecodeError> {
        if self.scopes.pop().is_none() {
            return Err(self.malformed("end tag without a start tag"));
        }
        let depth = self.scopes.len();
        while let Some(b) = self.bindings.last() {
            if b.depth < depth {
                break;
            }
            self.prefixes.truncate(b.prefix.0);
            self.bindings.pop();
        }
        if self.scopes.is_empty() {
            self.phase = Phase::Epilog;
        }
        Ok(Token::End)
    }

    /// Text in the document's encoding → UTF-8 (only ISO-8859-1 needs work).
    #[inline]
    fn charset(&self, bytes: Cow<'a, [u8]>) -> Cow<'a, [u8]> {
        if !self.latin1 || bytes.is_ascii() {
            return bytes;
        }
        let mut utf8 = Vec::with_capacity(bytes.len() + bytes.len() / 2);
        for &b in bytes.iter() {
            let mut buf = [0u8; 4];
            utf8.extend_from_slice(char::from(b).encode_utf8(&mut buf).as_bytes());
        }
        Cow::Owned(utf8)
    }

    /// Notes the declared encoding.
    fn declaration(&mut self, decl: &BytesDecl<'_>) {
        if let Some(Ok(encoding)) = decl.encoding() {
            self.latin1 = is_latin1(&encoding);
        }
    }

    /// Turns a position of quick-xml into an offset in the input.
    fn absolute(&self, position: u64) -> usize {
        usize::try_from(position).unwrap_or(usize::MAX).saturating_add(self.bom)
    }

    fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.offset())
    }

    fn malformed(&self, reason: &str) -> DecodeError {
        self.error(DecodeErrorKind::Xml(reason.to_string()))
    }

    /// quick-xml's syntax errors all mean the input ended inside markup, except `<!x`.
    #[cold]
    fn quick_xml_error(&self, e: QuickXmlError) -> DecodeError {
        let offset = self.absolute(self.xml.error_position());
        let kind = match e {
            QuickXmlError::Syntax(SyntaxError::InvalidBangMarkup) if self.input.get(offset..) != Some(b"<!") => {
                DecodeErrorKind::Xml(SyntaxError::InvalidBangMarkup.to_string())
            }
            QuickXmlError::Syntax(_) => DecodeErrorKind::UnexpectedEof,
            other => DecodeErrorKind::Xml(other.to_string()),
        };
        DecodeError::new(kind, offset)
    }
}

/// `Some(Text)` unless the text is empty.
fn non_empty(text: Cow<'_, [u8]>) -> Option<Token<'_>> {
    if text.is_empty() {
        None
    } else {
        Some(Token::Text(text))
    }
}

/// Character data with its references resolved; borrowed when none can be. References that
/// cannot be resolved (`&EQ;`) and a lone `&` stay as written. A reference never spans a `&`.
fn unescape(raw: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    // `raw[..copied]` is in `out` already; the search for `&` continues at `at`.
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = raw.get(at..).and_then(|r| find_either(r, b'&', b'&')) {
        let amp = at + found;
        let after = raw.get(amp + 1..).unwrap_or_default();
        let resolved = if after.starts_with(b"#13;") {
            // What our writer produces for every CR.
            Some((Cow::Borrowed(&b"\r"[..]), 3))
        } else {
            let end = after.iter().position(|&b| b == b';' || b == b'&').filter(|&e| after.get(e) == Some(&b';'));
            end.and_then(|e| Some((resolve(after.get(..e)?)?, e)))
        };
        match resolved {
            Some((bytes, e)) => {
                // Every resolvable reference is at least as long as what it stands for.
                let o = out.get_or_insert_with(|| Vec::with_capacity(raw.len()));
                o.extend_from_slice(raw.get(copied..amp).unwrap_or_default());
                o.extend_from_slice(&bytes);
                copied = amp + e + 2;
                at = copied;
            }
            None => at = amp + 1,
        }
    }
    match out {
        None => raw,
        Some(mut o) => {
            o.extend_from_slice(raw.get(copied..).unwrap_or_default());
            Cow::Owned(o)
        }
    }
}

/// The replacement of a predefined entity or character reference (name without `&` and `;`).
fn resolve(name: &[u8]) -> Option<Cow<'static, [u8]>> {
    let bytes: &'static [u8] = match name {
        // What our writer and most others produce for CR, first.
        b"#13" | b"#xD" | b"#xd" | b"#x0D" | b"#x0d" => b"\r",
        b"amp" => b"&",
        b"lt" => b"<",
        b"gt" => b">",
        b"quot" => b"\"",
        b"apos" => b"'",
        [b'#', number @ ..] => return char_reference(number).map(char_bytes),
        _ => return None,
    };
    Some(Cow::Borrowed(bytes))
}

/// A reference event as written.
fn literal(r: &BytesRef<'_>) -> Cow<'static, [u8]> {
    let mut whole = Vec::with_capacity(r.len() + 2);
    whole.push(b'&');
    whole.extend_from_slice(r);
    whole.push(b';');
    Cow::Owned(whole)
}

/// The index of the first `a` or `b` in `hay`, eight bytes at a time.
fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte of `x` that is zero; exact for the lowest such byte.
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let (splat_a, splat_b) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let hits = zero_bytes(word ^ splat_a) | zero_bytes(word ^ splat_b);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&c| c == a || c == b).map(|i| at + i)
}

/// The tag named `name` in `expected`, else in the first family namespace that has it.
fn lookup(expected: Namespace, name: &[u8]) -> Option<Tag> {
    Tag::from_name(expected, name)
        .or_else(|| FALLBACK.iter().filter(|&&ns| ns != expected).find_map(|&ns| Tag::from_name(ns, name)))
}

/// The character named by the digits of `&#...;` (`x`/`X` prefix: hexadecimal). NUL, surrogates
/// and values beyond Unicode give `None`.
fn char_reference(number: &[u8]) -> Option<char> {
    let (digits, radix) = match number {
        [b'x' | b'X', hex @ ..] => (hex, 16),
        decimal => (decimal, 10),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u32 = 0;
    for &d in digits {
        let digit = char::from(d).to_digit(radix)?;
        value = value.checked_mul(radix)?.checked_add(digit)?;
    }
    if value == 0 {
        return None;
    }
    char::from_u32(value)
}

/// The UTF-8 bytes of a character; ASCII borrows a static table.
fn char_bytes(c: char) -> Cow<'static, [u8]> {
    let i = c as usize;
    match ASCII.get(i..i + 1) {
        Some(byte) if c.is_ascii() => Cow::Borrowed(byte),
        _ => {
            let mut buf = [0u8; 4];
            Cow::Owned(c.encode_utf8(&mut buf).as_bytes().to_vec())
        }
    }
}

/// Whether an encoding name means ISO-8859-1.
fn is_latin1(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 6] = [b"iso-8859-1", b"iso8859-1", b"iso_8859-1", b"latin1", b"latin-1", b"l1"];
    let name = name.trim_ascii();
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(char_reference(b"13"), Some('\r'));
        assert_eq!(char_reference(b"x0D"), Some('\r'));
        assert_eq!(char_reference(b"X41"), Some('A'));
        assert_eq!(char_reference(b"x"), None);
        assert_eq!(char_reference(b"0"), None);
        assert_eq!(char_reference(b"-1"), None);
        assert_eq!(char_reference(b"4294967296"), None);
        assert_eq!(&*char_bytes('\u{7f}'), b"\x7f");
        assert_eq!(&*char_bytes('é'), "é".as_bytes());
        assert!(is_latin1(b"Latin1") && is_latin1(b"ISO-8859-1") && !is_latin1(b"utf-8"));
        assert_eq!(lookup(Namespace::SyncMl, b"Type"), Some(Tag::MetType));
        assert_eq!(lookup(Namespace::DevInf, b"SourceRef"), Some(Tag::DevSourceRef));
        assert_eq!(lookup(Namespace::SyncMl, b"SourceRef"), Some(Tag::SourceRef));
        assert_eq!(lookup(Namespace::MetInf, b"Data"), Some(Tag::Data));
        assert_eq!(lookup(Namespace::SyncMl, b"Nope"), None);
    }

    #[test]
    fn find_either_matches_a_plain_search() {
        let hay: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for len in 0..hay.len() {
            for at in 0..=len {
                let mut h = hay[..len].to_vec();
                if at < len {
                    h[at] = b'<';
                }
                let expected = h.iter().position(|&b| b == b'<' || b == b'&');
                assert_eq!(find_either(&h, b'<', b'&'), expected, "{h:?}");
                assert_eq!(find_either(&h, b'&', b'<'), expected, "{h:?}");
            }
        }
        assert_eq!(find_either(b"\x80\xff\x3d\x00<", b'<', b'<'), Some(4));
        assert_eq!(find_either(b"\xa6\xa6\xa6\xa6\xa6\xa6\xa6\xa6&", b'&', b'&'), Some(8));
    }

    #[test]
    fn unescape_resolves_what_it_can() {
        let un = |s: &'static [u8]| unescape(Cow::Borrowed(s));
        assert!(matches!(un(b"plain"), Cow::Borrowed(b"plain")));
        assert!(matches!(un(b"a&EQ;b&;&"), Cow::Borrowed(b"a&EQ;b&;&")));
        assert_eq!(&*un(b"&amp;&amp;"), b"&&");
        assert_eq!(&*un(b"x&&amp;y&#13"), b"x&&y&#13");
        assert_eq!(&*un(b"&amp&lt;&#x4E2D;&#20013;"), "&amp<中中".as_bytes());
        assert_eq!(&*un(b"a & b; &lt;"), b"a & b; <");
    }
}
