//! [`TokenSink`] calls → WBXML 1.2 bytes, the way libsynthesis and SyncEvolution write them.
//!
//! - Header: version 0x02, the numeric public id (SyncML 1.0: the FPI in the string table,
//!   `02 00 00 6A 1D` + 29 bytes, PROTOCOL.md §6.1), charset UTF-8, a string table only when
//!   needed.
//! - Code pages are switched lazily, just before a tag of another page (like libwbxml).
//! - An element closed with nothing inside loses its content bit and gets no `END`.
//! - Item payload (text directly inside an `Item`'s `Data`) is written as `OPAQUE`; other text
//!   as `STR_I`, or as `OPAQUE` when it holds a NUL or is not UTF-8.
//! - A document begun inside an open element (DevInf inside `Data`) is written as a complete
//!   WBXML document of its own and lands in the outer one as `OPAQUE`.
//! - An element whose namespace has no code page in the document is a literal tag named in the
//!   string table.
//!
//! Misuse of the call sequence (an `end` with nothing open, text outside the root, ...) is
//! recorded and reported by [`WbxmlWriter::finish`]; the first error wins.

use crate::codec::error::EncodeError;
use crate::codec::tag::{self, Namespace, Tag};
use crate::codec::token::TokenSink;

use super::{
    page_namespace, push_mb_u32, CHARSET_UTF8, END, HAS_CONTENT, LITERAL_C, OPAQUE, STR_I, SWITCH_PAGE, WRITE_VERSION,
};

/// A WBXML encoder; see the module documentation for what it writes.
#[derive(Debug, Default)]
pub struct WbxmlWriter {
    /// The documents being written: the top-level one first, nested ones above it.
    docs: Vec<DocWriter>,
    /// The first misuse met.
    error: Option<EncodeError>,
}

/// One WBXML document under construction.
#[derive(Debug)]
struct DocWriter {
    kind: Namespace,
    out: Vec<u8>,
    /// Where the string table (its length, then its bytes) starts in `out`, and how many bytes
    /// of `out` it takes now. The table is spliced in again by `into_bytes` if it grew.
    strtbl_at: usize,
    strtbl_len_written: usize,
    strtbl: Vec<u8>,
    /// Literal tag names already in the table, with their offsets.
    literals: Vec<(Tag, u32)>,
    page: u8,
    open: Vec<Tag>,
    /// Offset of the tag byte of the element started last, while nothing follows it.
    empty_start: Option<usize>,
    /// The root element has been closed.
    complete: bool,
}

impl WbxmlWriter {
    /// A writer with nothing written yet.
    pub fn new() -> WbxmlWriter {
        WbxmlWriter { docs: Vec::new(), error: None }
    }

    /// The encoded document, or the first error met while writing it.
    pub fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.docs.len() > 1 {
            return Err(EncodeError::Invalid("a nested document was never ended".into()));
        }
        match self.docs.pop() {
            Some(doc) if doc.complete => Ok(doc.into_bytes()),
            Some(_) => Err(EncodeError::Invalid("the root element was never closed".into())),
            None => Err(EncodeError::Invalid("no document was written".into())),
        }
    }

    fn fail(&mut self, reason: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(EncodeError::Invalid(reason.into()));
        }
    }

    /// The innermost document, open for an element call, or `None` (error recorded).
    fn doc_for(&mut self, call: &str) -> Option<&mut DocWriter> {
        let reason = match self.docs.last() {
            None => format!("{call} before begin_document"),
            Some(doc) if doc.complete => format!("{call} after the root element was closed"),
            Some(_) => return self.docs.last_mut(),
        };
        self.fail(reason);
        None
    }
}

impl TokenSink for WbxmlWriter {
    fn begin_document(&mut self, kind: Namespace, minor: u8) {
        let nested = match self.docs.last() {
            None => false,
            Some(doc) if !doc.open.is_empty() => true,
            Some(_) => return self.fail("begin_document outside any element of the open document"),
        };
        match DocWriter::new(kind, minor) {
            Ok(doc) => self.docs.push(doc),
            Err(reason) => return self.fail(reason),
        }
        tracing::trace!(?kind, minor, nested, "WBXML document begins");
    }

    fn end_document(&mut self) {
        match self.docs.len() {
            0 => self.fail("end_document without begin_document"),
            1 if !self.docs[0].complete => self.fail("end_document with the root element still open"),
            1 => {}
            _ => {
                // Invariant: len >= 2, so both pops and the last_mut succeed.
                let Some(inner) = self.docs.pop() else { return };
                if !inner.complete {
                    return self.fail("end_document with the nested root element still open");
                }
                let bytes = inner.into_bytes();
                let Ok(len) = u32::try_from(bytes.len()) else {
                    return self.fail("nested document longer than 4 GiB");
                };
                let Some(outer) = self.docs.last_mut() else { return };
                outer.out.push(OPAQUE);
                push_mb_u32(&mut outer.out, len);
                outer.out.extend_from_slice(&bytes);
                outer.empty_start = None;
            }
        }
    }

    fn start(&mut self, tag: Tag) {
        if let Some(doc) = self.doc_for("start") {
            doc.start(tag);
        }
    }

    fn text(&mut self, data: &[u8]) {
        let result = match self.doc_for("text") {
            Some(doc) => doc.text(data),
            None => return,
        };
        if let Err(reason) = result {
            self.fail(reason);
        }
    }

    fn end(&mut self) {
        let result = match self.doc_for("end") {
            Some(doc) => doc.end(),
            None => return,
        };
        if let Err(reason) = result {
            self.fail(reason);
        }
    }
}

impl DocWriter {
    /// A document with its header written (the string table possibly rewritten later).
    fn new(kind: Namespace, minor: u8) -> Result<DocWriter, String> {
        let mut out = Vec::with_capacity(if kind == Namespace::DevInf { 1024 } else { 16 * 1024 });
        let mut strtbl = Vec::new();
        out.push(WRITE_VERSION);
        if kind == Namespace::SyncMl && minor == 0 {
            // libsynthesis names SyncML 1.0 by its FPI at string-table offset 0, without a NUL.
            let fpi = tag::fpi_of(kind, minor).ok_or("no FPI for SyncML 1.0")?;
            out.extend_from_slice(&[0x00, 0x00]);
            strtbl.extend_from_slice(fpi.as_bytes());
        } else {
            let id =
                tag::public_id_of(kind, minor).ok_or_else(|| format!("no WBXML public id for {kind:?} 1.{minor}"))?;
            push_mb_u32(&mut out, id);
        }
        push_mb_u32(&mut out, CHARSET_UTF8);
        let strtbl_at = out.len();
        push_table(&mut out, &strtbl);
        let strtbl_len_written = out.len() - strtbl_at;
        Ok(DocWriter {
            kind,
            out,
            strtbl_at,
            strtbl_len_written,
            strtbl,
            literals: Vec::new(),
            page: 0,
            open: Vec::with_capacity(16),
            empty_start: None,
            complete: false,
        })
    }

    fn start(&mut self, tag: Tag) {
        let at;
        if page_namespace(self.kind, tag.page()) == Some(tag.namespace()) {
            if tag.page() != self.page {
                self.out.extend_from_slice(&[SWITCH_PAGE, tag.page()]);
                self.page = tag.page();
            }
            at = self.out.len();
            self.out.push(tag.token() | HAS_CONTENT);
        } else {
            let index = self.literal_index(tag);
            at = self.out.len();
            self.out.push(LITERAL_C);
            push_mb_u32(&mut self.out, index);
        }
        self.open.push(tag);
        self.empty_start = Some(at);
    }

    /// The string-table offset of a tag's name, added on first use.
    fn literal_index(&mut self, tag: Tag) -> u32 {
        if let Some(&(_, index)) = self.literals.iter().find(|(t, _)| *t == tag) {
            return index;
        }
        // A table that ends without a NUL (the 1.0 FPI) gets one before the next string.
        if self.strtbl.last().is_some_and(|&b| b != 0) {
            self.strtbl.push(0);
        }
        // The table holds one FPI and tag names only, far below 4 GiB.
        let index = u32::try_from(self.strtbl.len()).unwrap_or(u32::MAX);
        self.strtbl.extend_from_slice(tag.name().as_bytes());
        self.strtbl.push(0);
        self.literals.push((tag, index));
        index
    }

    fn text(&mut self, data: &[u8]) -> Result<(), &'static str> {
        let n = self.open.len();
        if n == 0 {
            return Err("text outside the root element");
        }
        if data.is_empty() {
            return Ok(());
        }
        let item_data = n >= 2 && self.open[n - 1] == Tag::Data && self.open[n - 2] == Tag::Item;
        if item_data || data.contains(&0) || std::str::from_utf8(data).is_err() {
            let len = u32::try_from(data.len()).map_err(|_| "text longer than 4 GiB")?;
            self.out.push(OPAQUE);
            push_mb_u32(&mut self.out, len);
            self.out.extend_from_slice(data);
        } else {
            self.out.push(STR_I);
            self.out.extend_from_slice(data);
            self.out.push(0);
        }
        self.empty_start = None;
        Ok(())
    }

    fn end(&mut self) -> Result<(), &'static str> {
        if self.open.pop().is_none() {
            return Err("end without an open element");
        }
        match self.empty_start.take() {
            // Nothing was written since this element's tag byte: make it an empty element.
            Some(at) => self.out[at] &= !HAS_CONTENT,
            None => self.out.push(END),
        }
        self.complete = self.open.is_empty();
        Ok(())
    }

    /// The finished bytes, the string table spliced in if it grew after the header.
    fn into_bytes(mut self) -> Vec<u8> {
        if !self.literals.is_empty() {
            let mut table = Vec::with_capacity(self.strtbl.len() + 5);
            push_table(&mut table, &self.strtbl);
            self.out.splice(self.strtbl_at..self.strtbl_at + self.strtbl_len_written, table);
        }
        self.out
    }
}

/// Appends a string table: its length, then its bytes.
fn push_table(out: &mut Vec<u8>, table: &[u8]) {
    // The table is built from tag names and one FPI only, far below 4 GiB.
    push_mb_u32(out, u32::try_from(table.len()).unwrap_or(0));
    out.extend_from_slice(table);
}
