//! Bytes ⇄ typed model: SyncML and DevInf documents in XML and WBXML.
//!
//! ```text
//!  XML bytes  ─ xml::XmlReader ──┐                       ┌── xml::XmlWriter ──▶ XML bytes
//!                                ├─ Token ─ model ─ proto ┤
//!  WBXML bytes ─ wbxml::WbxmlReader┘                     └── wbxml::WbxmlWriter ─▶ WBXML bytes
//! ```
//!
//! The element catalogue (`tag`) is generated from `schemas/wbxml/`. Limits (`limits`) are
//! enforced in the model layer for both encodings. Nothing here touches sockets, files or the
//! clock, and nothing panics on any input.

pub mod error;
pub mod limits;
pub mod model;
pub mod tag;
pub mod token;
pub mod wbxml;
pub mod xml;

pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use limits::Limits;

use crate::proto::{Command, Data, DevInf, Item, Message, Meta};

/// The two wire encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Xml,
    Wbxml,
}

impl Encoding {
    /// The HTTP content type of a SyncML message in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Xml => "application/vnd.syncml+xml",
            Encoding::Wbxml => "application/vnd.syncml+wbxml",
        }
    }

    /// The Meta Type of a DevInf object inside a message in this encoding.
    pub fn devinf_type(self) -> &'static str {
        match self {
            Encoding::Xml => "application/vnd.syncml-devinf+xml",
            Encoding::Wbxml => "application/vnd.syncml-devinf+wbxml",
        }
    }

    /// The encoding named by an HTTP content type (parameters such as `; charset=UTF-8` ignored).
    pub fn from_content_type(ct: &str) -> Option<Encoding> {
        let base = ct.split(';').next().unwrap_or("").trim();
        if base.eq_ignore_ascii_case("application/vnd.syncml+xml") {
            Some(Encoding::Xml)
        } else if base.eq_ignore_ascii_case("application/vnd.syncml+wbxml") {
            Some(Encoding::Wbxml)
        } else {
            None
        }
    }
}

/// Tells the encoding from the first bytes (PROTOCOL.md §1.1): WBXML starts with version byte
/// 0x01–0x03 and a public id; XML with `<` after optional BOM and white space.
pub fn sniff(bytes: &[u8]) -> Option<Encoding> {
    match bytes {
        [0x01..=0x03, ..] => Some(Encoding::Wbxml),
        _ => {
            let rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            match rest.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'<') => Some(Encoding::Xml),
                _ => None,
            }
        }
    }
}

/// A decoded top-level document: a SyncML message or a standalone DevInf.
// One top-level value per decode: boxing the larger variant would gain nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Document {
    Message(Message),
    DevInf(DevInf),
}

/// Decodes a SyncML message or DevInf document in either encoding (sniffed).
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<(Encoding, Document), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::new(DecodeErrorKind::Empty, 0));
    }
    if bytes.len() > limits.max_input_bytes {
        return Err(DecodeError::new(
            DecodeErrorKind::InputTooLarge { size: bytes.len(), limit: limits.max_input_bytes },
            0,
        ));
    }
    match sniff(bytes) {
        Some(Encoding::Xml) => {
            model::decode_document(xml::XmlReader::new(bytes), limits, 0).map(|d| (Encoding::Xml, d))
        }
        Some(Encoding::Wbxml) => {
            model::decode_document(wbxml::WbxmlReader::new(bytes)?, limits, 0).map(|d| (Encoding::Wbxml, d))
        }
        None => Err(DecodeError::new(DecodeErrorKind::UnknownEncoding, 0)),
    }
}

/// Decodes a SyncML message in either encoding (sniffed); a DevInf document is an error.
pub fn decode_message(bytes: &[u8], limits: &Limits) -> Result<(Encoding, Message), DecodeError> {
    match decode(bytes, limits)? {
        (enc, Document::Message(m)) => Ok((enc, m)),
        (_, Document::DevInf(_)) => Err(DecodeError::new(DecodeErrorKind::UnexpectedRoot("DevInf".into()), 0)),
    }
}

/// Encodes a message in the given encoding (compact XML without indentation).
pub fn encode_message(msg: &Message, encoding: Encoding) -> Result<Vec<u8>, EncodeError> {
    write_with(encoding, false, |sink| model::encode_message(msg, sink))
}

/// Encodes a document; `pretty` indents XML (ignored for WBXML).
pub fn encode(doc: &Document, encoding: Encoding, pretty: bool) -> Result<Vec<u8>, EncodeError> {
    write_with(encoding, pretty, |sink| model::encode_document(doc, sink))
}

fn write_with(
    encoding: Encoding,
    pretty: bool,
    f: impl FnOnce(&mut dyn token::TokenSink),
) -> Result<Vec<u8>, EncodeError> {
    match encoding {
        Encoding::Xml => {
            let mut w = xml::XmlWriter::new(pretty);
            f(&mut w);
            w.finish()
        }
        Encoding::Wbxml => {
            let mut w = wbxml::WbxmlWriter::new();
            f(&mut w);
            w.finish()
        }
    }
}

/// An upper estimate of a command's encoded size in bytes (XML, the larger encoding), for
/// deciding what fits a peer's MaxMsgSize without encoding.
pub fn estimate(cmd: &Command) -> usize {
    fn item(i: &Item) -> usize {
        let data = match &i.data {
            Some(Data::Bytes(b)) => {
                b.len() + b.iter().filter(|&&c| matches!(c, b'\r' | b'&' | b'<' | b'>')).count() * 5
            }
            Some(_) => 4096,
            None => 0,
        };
        data + 200
            + i.target.as_ref().map_or(0, |t| t.loc_uri.len())
            + i.source.as_ref().map_or(0, |s| s.loc_uri.len())
            + i.meta.as_ref().map_or(0, meta)
    }
    fn meta(m: &Meta) -> usize {
        120 + m.type_.as_ref().map_or(0, String::len) + m.anchor.as_ref().map_or(0, |_| 120)
    }
    match cmd {
        Command::Add(c) => 120 + c.items.iter().map(item).sum::<usize>(),
        Command::Replace(c) => 120 + c.items.iter().map(item).sum::<usize>(),
        Command::Delete(c) => 120 + c.items.iter().map(item).sum::<usize>(),
        Command::Status(s) => {
            200 + s.target_refs.iter().chain(&s.source_refs).map(|r| r.len() + 30).sum::<usize>()
                + s.items.iter().map(item).sum::<usize>()
                + if s.chal.is_some() { 200 } else { 0 }
        }
        Command::Sync(s) => 300 + s.commands.iter().map(estimate).sum::<usize>(),
        Command::Results(r) => 200 + r.items.iter().map(item).sum::<usize>(),
        _ => 400,
    }
}
