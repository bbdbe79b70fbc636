//! WBXML bytes → [`Token`]s: the header, global tokens, code pages and the string table.
//!
//! The reader borrows the input and allocates only for text it has to transcode (entities,
//! ISO-8859-1 strings). It keeps no per-element state: nesting is a counter, the code page is
//! one byte of global state (an encoder may switch back lazily, after any number of `END`s).
//! Every length and offset read from the input is checked against what is left before use;
//! every loop consumes at least one byte; so no input can make it panic, loop or allocate
//! beyond its own size. It does not decode nested DevInf documents: they come out as
//! [`Token::Opaque`] and the model layer reads them with a new `WbxmlReader`.

use std::borrow::Cow;

use crate::codec::error::{DecodeError, DecodeErrorKind};
use crate::codec::tag::{self, Namespace, Tag};
use crate::codec::token::{Token, TokenSource};

use super::{
    page_namespace, CHARSET_LATIN1, CHARSET_UNKNOWN, CHARSET_US_ASCII, CHARSET_UTF8, END, ENTITY, EXT_0, EXT_2,
    EXT_I_0, EXT_I_2, EXT_T_0, EXT_T_2, HAS_ATTRIBUTES, HAS_CONTENT, LITERAL, LITERAL_A, LITERAL_AC, LITERAL_C, OPAQUE,
    PI, PUBLIC_ID_UNKNOWN, STR_I, STR_T, SWITCH_PAGE, TOKEN_MASK,
};

/// The root tokens that decide the document kind when the public id does not.
const SYNCML_ROOT_TOKEN: u8 = 0x2D;
const DEVINF_ROOT_TOKEN: u8 = 0x0A;

/// A WBXML document being read, token by token.
pub struct WbxmlReader<'a> {
    input: &'a [u8],
    /// Offset of the next unread byte.
    pos: usize,
    /// The string table (a slice of `input`).
    strtbl: &'a [u8],
    version: u8,
    charset: Charset,
    /// From the public id, or from the root tag when the public id names nothing known.
    doc: Option<(Namespace, u8)>,
    /// The current tag code page, its namespace (`None`: a page this document lacks) and its
    /// token table.
    page: u8,
    page_ns: Option<Namespace>,
    page_table: &'static [Option<Tag>; 64],
    /// Elements open (with content) right now.
    depth: usize,
    /// The last tag had no content: its `End` is due before anything else is read.
    pending_end: bool,
    /// The root element has ended.
    done: bool,
}

/// How strings in the document are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Charset {
    /// UTF-8, US-ASCII or unknown: strings are passed through unchanged.
    Utf8,
    /// ISO-8859-1: strings are transcoded to UTF-8.
    Latin1,
}

/// How a tag was named: by token in the current page, or by a string-table literal.
#[derive(Clone, Copy)]
enum TagName<'a> {
    Token(u8),
    Literal(&'a [u8]),
}

impl<'a> WbxmlReader<'a> {
    /// Reads the header (version, public id, charset, string table); the body is read by
    /// [`TokenSource::next_token`].
    pub fn new(input: &'a [u8]) -> Result<WbxmlReader<'a>, DecodeError> {
        if input.is_empty() {
            return Err(DecodeError::new(DecodeErrorKind::Empty, 0));
        }
        let mut r = WbxmlReader {
            input,
            pos: 0,
            strtbl: &[],
            version: 0,
            charset: Charset::Utf8,
            doc: None,
            page: 0,
            page_ns: None,
            page_table: &NO_TAGS,
            depth: 0,
            pending_end: false,
            done: false,
        };
        r.version = r.byte()?;
        if !(0x01..=0x03).contains(&r.version) {
            return Err(wbxml_error(0, format!("unsupported WBXML version byte 0x{:02X}", r.version)));
        }
        // publicid = mb_u_int32 | zero index: a zero id means an FPI in the string table.
        let public_at = r.pos;
        let public_id = r.mb_u32()?;
        let fpi_index = if public_id == 0 { Some((r.pos, r.mb_u32()?)) } else { None };
        let charset_at = r.pos;
        r.charset = match r.mb_u32()? {
            CHARSET_UTF8 | CHARSET_US_ASCII | CHARSET_UNKNOWN => Charset::Utf8,
            CHARSET_LATIN1 => Charset::Latin1,
            other => return Err(wbxml_error(charset_at, format!("unsupported charset (MIBenum {other})"))),
        };
        let table_at = r.pos;
        let len = r.mb_len()?;
        r.strtbl = r.take(len, table_at, "string table")?;
        r.doc = match fpi_index {
            Some((at, index)) => tag::public_id_fpi(r.table_str(index, at)?),
            None if public_id == PUBLIC_ID_UNKNOWN => None,
            None => tag::public_id(public_id),
        };
        if r.doc.is_none() && fpi_index.is_none() && public_id != PUBLIC_ID_UNKNOWN {
            tracing::debug!(public_id, offset = public_at, "unregistered WBXML public id; kind taken from the root");
        }
        r.switch_page(0);
        Ok(r)
    }

    /// The WBXML version byte (0x01–0x03 for WBXML 1.1–1.3).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The string table (empty when the document has none).
    pub fn string_table(&self) -> &'a [u8] {
        self.strtbl
    }

    /// The document kind the root tag announces, looked at without consuming anything (an
    /// optional `SWITCH_PAGE 0`, then a SyncML or DevInf tag token in page 0).
    pub(super) fn root_hint(&self) -> Option<Namespace> {
        let body = self.input.get(self.pos..).unwrap_or(&[]);
        let body = body.strip_prefix(&[SWITCH_PAGE, 0]).unwrap_or(body);
        match body.first().map(|b| b & TOKEN_MASK) {
            Some(SYNCML_ROOT_TOKEN) => Some(Namespace::SyncMl),
            Some(DEVINF_ROOT_TOKEN) => Some(Namespace::DevInf),
            _ => None,
        }
    }

    /// The kind whose code pages are used: declared, or SyncML until the root says otherwise.
    fn kind(&self) -> Namespace {
        self.doc.map_or(Namespace::SyncMl, |d| d.0)
    }

    fn switch_page(&mut self, page: u8) {
        self.page = page;
        self.page_ns = page_namespace(self.kind(), page);
        self.page_table = match self.page_ns {
            Some(Namespace::SyncMl) => &SYNCML_TAGS,
            Some(Namespace::MetInf) => &METINF_TAGS,
            Some(Namespace::DevInf) => &DEVINF_TAGS,
            None => &NO_TAGS,
        };
    }

    /// An element starts: attributes skipped, kind decided at the root, depth counted. The
    /// common case (a known tag without attributes inside the root) is inlined in
    /// `next_token`; this is the general one.
    #[cold]
    #[inline(never)]
    fn start_element(&mut self, at: usize, byte: u8, name: TagName<'a>) -> Result<Token<'a>, DecodeError> {
        if byte & HAS_ATTRIBUTES != 0 {
            self.skip_attributes()?;
        }
        if self.depth == 0 && self.doc.is_none() {
            self.doc = match name {
                TagName::Token(SYNCML_ROOT_TOKEN) if self.page == 0 => Some((Namespace::SyncMl, 2)),
                TagName::Token(DEVINF_ROOT_TOKEN) if self.page == 0 => Some((Namespace::DevInf, 2)),
                TagName::Literal(b"SyncML") => Some((Namespace::SyncMl, 2)),
                TagName::Literal(b"DevInf") => Some((Namespace::DevInf, 2)),
                _ => None,
            };
            self.switch_page(self.page);
        }
        let tag = match name {
            TagName::Token(token) => self.page_table[usize::from(token & TOKEN_MASK)],
            TagName::Literal(name) => self.tag_by_name(name),
        };
        if tag.is_none() {
            tracing::trace!(offset = at, page = self.page, "unknown WBXML tag");
        }
        if byte & HAS_CONTENT != 0 {
            self.depth += 1;
        } else {
            self.pending_end = true;
        }
        Ok(tag.map_or(Token::Unknown, Token::Start))
    }

    /// A literal tag name: the current page's namespace first, then the rest of the family.
    fn tag_by_name(&self, name: &[u8]) -> Option<Tag> {
        let current = self.page_ns.and_then(|ns| Tag::from_name(ns, name));
        current.or_else(|| {
            [Namespace::SyncMl, Namespace::MetInf, Namespace::DevInf]
                .into_iter()
                .filter(|&ns| Some(ns) != self.page_ns)
                .find_map(|ns| Tag::from_name(ns, name))
        })
    }

    /// Skips an attribute list (or a PI's content) up to and including its `END`. Attribute
    /// code pages are separate from tag code pages, so `SWITCH_PAGE` here changes nothing.
    fn skip_attributes(&mut self) -> Result<(), DecodeError> {
        loop {
            let at = self.pos;
            match self.byte()? {
                END => return Ok(()),
                SWITCH_PAGE => {
                    self.byte()?;
                }
                ENTITY | LITERAL | STR_T | EXT_T_0..=EXT_T_2 => {
                    self.mb_u32()?;
                }
                STR_I | EXT_I_0..=EXT_I_2 => {
                    self.inline_str()?;
                }
                OPAQUE => {
                    let len = self.mb_len()?;
                    self.take(len, at, "OPAQUE")?;
                }
                PI | LITERAL_C | LITERAL_A | LITERAL_AC => {
                    return Err(wbxml_error(at, "tag-only token inside an attribute list"));
                }
                // Attribute start and value tokens, EXT_0..2: one byte each.
                _ => {}
            }
        }
    }

    /// Character data is only allowed inside the root element.
    fn text_allowed(&self, at: usize) -> Result<(), DecodeError> {
        if self.depth == 0 {
            return Err(wbxml_error(at, "character data outside the root element"));
        }
        Ok(())
    }

    /// A string as UTF-8: borrowed unless the document is ISO-8859-1 and it is not ASCII.
    fn decode_str(&self, s: &'a [u8]) -> Cow<'a, [u8]> {
        if self.charset == Charset::Latin1 && !s.is_ascii() {
            let mut out = Vec::with_capacity(s.len() * 2);
            for &b in s {
                if b < 0x80 {
                    out.push(b);
                } else {
                    out.extend_from_slice(&[0xC0 | (b >> 6), 0x80 | (b & 0x3F)]);
                }
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(s)
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        match self.input.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(DecodeError::new(DecodeErrorKind::UnexpectedEof, self.input.len())),
        }
    }

    /// A multi-byte integer: at most 5 bytes, and its value must fit 32 bits.
    fn mb_u32(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        let mut value: u32 = 0;
        for _ in 0..5 {
            let b = self.byte()?;
            if value > u32::MAX >> 7 {
                return Err(wbxml_error(at, "multi-byte integer overflows 32 bits"));
            }
            value = (value << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(wbxml_error(at, "multi-byte integer longer than 5 bytes"))
    }

    /// A multi-byte integer used as a length.
    fn mb_len(&mut self) -> Result<usize, DecodeError> {
        let at = self.pos;
        let v = self.mb_u32()?;
        usize::try_from(v).map_err(|_| wbxml_error(at, "length does not fit this platform"))
    }

    /// The next `len` bytes; `len` is checked against the input left.
    fn take(&mut self, len: usize, at: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let left = self.input.len() - self.pos;
        if len > left {
            return Err(wbxml_error(at, format!("{what} of {len} bytes exceeds the {left} bytes left")));
        }
        let s = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(s)
    }

    /// A NUL-terminated inline string (the NUL consumed, not returned).
    fn inline_str(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = &self.input[self.pos..];
        match find_nul(rest) {
            Some(n) => {
                self.pos += n + 1;
                Ok(&rest[..n])
            }
            None => Err(DecodeError::new(DecodeErrorKind::UnexpectedEof, self.input.len())),
        }
    }

    /// The string at `offset` in the string table, up to its NUL. A missing NUL at the end of
    /// the table is tolerated: libsynthesis writes the SyncML 1.0 FPI without one.
    fn table_str(&self, offset: u32, at: usize) -> Result<&'a [u8], DecodeError> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= self.strtbl.len() {
            return Err(wbxml_error(
                at,
                format!("string table offset {offset} outside the table of {} bytes", self.strtbl.len()),
            ));
        }
        let rest = &self.strtbl[start..];
        Ok(&rest[..find_nul(rest).unwrap_or(rest.len())])
    }
}

impl<'a> TokenSource<'a> for WbxmlReader<'a> {
    fn next_token(&mut self) -> Result<Token<'a>, DecodeError> {
        if self.pending_end {
            self.pending_end = false;
            self.done = self.depth == 0;
            return Ok(Token::End);
        }
        if self.done {
            return Ok(Token::Eof);
        }
        loop {
            let at = self.pos;
            let b = self.byte()?;
            match b {
                SWITCH_PAGE => {
                    let page = self.byte()?;
                    self.switch_page(page);
                }
                END => {
                    if self.depth == 0 {
                        return Err(wbxml_error(at, "END outside any element"));
                    }
                    self.depth -= 1;
                    self.done = self.depth == 0;
                    return Ok(Token::End);
                }
                STR_I => {
                    let s = self.inline_str()?;
                    self.text_allowed(at)?;
                    return Ok(Token::Text(self.decode_str(s)));
                }
                STR_T => {
                    let offset = self.mb_u32()?;
                    let s = self.table_str(offset, at)?;
                    self.text_allowed(at)?;
                    return Ok(Token::Text(self.decode_str(s)));
                }
                OPAQUE => {
                    let len = self.mb_len()?;
                    let s = self.take(len, at, "OPAQUE")?;
                    self.text_allowed(at)?;
                    return Ok(Token::Opaque(Cow::Borrowed(s)));
                }
                ENTITY => {
                    let code = self.mb_u32()?;
                    let c = char::from_u32(code)
                        .ok_or_else(|| wbxml_error(at, format!("ENTITY {code:#X} is not a Unicode scalar value")))?;
                    self.text_allowed(at)?;
                    let mut buf = [0u8; 4];
                    return Ok(Token::Text(Cow::Owned(c.encode_utf8(&mut buf).as_bytes().to_vec())));
                }
                LITERAL | LITERAL_C | LITERAL_A | LITERAL_AC => {
                    let offset = self.mb_u32()?;
                    let name = self.table_str(offset, at)?;
                    return self.start_element(at, b, TagName::Literal(name));
                }
                // Extensions have no meaning in SyncML: skipped with their payload.
                EXT_I_0..=EXT_I_2 => {
                    self.inline_str()?;
                }
                EXT_T_0..=EXT_T_2 => {
                    self.mb_u32()?;
                }
                EXT_0..=EXT_2 => {}
                PI => self.skip_attributes()?,
                // Every byte whose low six bits are below 5 is a global token handled above.
                _ if b & HAS_ATTRIBUTES == 0 && self.depth != 0 => {
                    let tag = self.page_table[usize::from(b & TOKEN_MASK)];
                    if b & HAS_CONTENT != 0 {
                        self.depth += 1;
                    } else {
                        self.pending_end = true;
                    }
                    return Ok(tag.map_or(Token::Unknown, Token::Start));
                }
                _ => return self.start_element(at, b, TagName::Token(b & TOKEN_MASK)),
            }
        }
    }

    fn offset(&self) -> usize {
        self.pos
    }

    fn document(&self) -> Option<(Namespace, u8)> {
        self.doc
    }
}

// Tags by token (the low six bits of a tag byte), one table per code page.
static SYNCML_TAGS: [Option<Tag>; 64] = token_table(Namespace::SyncMl);
static METINF_TAGS: [Option<Tag>; 64] = token_table(Namespace::MetInf);
static DEVINF_TAGS: [Option<Tag>; 64] = token_table(Namespace::DevInf);
static NO_TAGS: [Option<Tag>; 64] = [None; 64];

/// The token table of a namespace, built at compile time from the catalogue. Where two tags
/// share a token (DevInf `MaxSize` and `Size`) the first listed wins, as in `Tag::from_token`.
const fn token_table(ns: Namespace) -> [Option<Tag>; 64] {
    let mut table = [None; 64];
    let mut i = Tag::ALL.len();
    while i > 0 {
        i -= 1;
        let tag = Tag::ALL[i];
        if tag.namespace() as u8 == ns as u8 {
            table[(tag.token() & TOKEN_MASK) as usize] = Some(tag);
        }
    }
    table
}

fn wbxml_error(at: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError::new(DecodeErrorKind::Wbxml(reason.into()), at)
}

/// The index of the first NUL byte, eight bytes at a time (item data makes strings long).
fn find_nul(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    for chunk in s.chunks_exact(8) {
        let w = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        // Non-zero exactly when some byte of `w` is zero.
        if w.wrapping_sub(ONES) & !w & HIGHS != 0 {
            break;
        }
        i += 8;
    }
    s[i..].iter().position(|&b| b == 0).map(|n| i + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_tables_agree_with_the_catalogue() {
        for (ns, table) in
            [(Namespace::SyncMl, &SYNCML_TAGS), (Namespace::MetInf, &METINF_TAGS), (Namespace::DevInf, &DEVINF_TAGS)]
        {
            for token in 0..64u8 {
                assert_eq!(table[usize::from(token)], Tag::from_token(ns, token), "{ns:?} {token:#04X}");
            }
        }
        assert_eq!(NO_TAGS, [None; 64]);
    }

    #[test]
    fn nul_search() {
        let mut v = vec![1u8; 40];
        assert_eq!(find_nul(&v), None);
        for i in 0..40 {
            v[i] = 0;
            assert_eq!(find_nul(&v), Some(i));
            v[i] = 0x80;
        }
    }
}
