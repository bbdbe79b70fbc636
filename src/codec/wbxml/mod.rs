//! WBXML 1.1–1.3 (WAP-192) for the SyncML family: [`WbxmlReader`] turns bytes into
//! [`Token`](crate::codec::token::Token)s, [`WbxmlWriter`] turns
//! [`TokenSink`](crate::codec::token::TokenSink) calls into bytes (PROTOCOL.md §6).
//!
//! Owns: the WBXML header (version, public id, charset, string table), the global tokens, code
//! page switching and the nesting of DevInf documents as `OPAQUE`. Must not know the typed model
//! (that is `codec::model`) nor the element catalogue's contents (that is `codec::tag`).
//!
//! Code pages: a SyncML document (and a standalone MetInf one) has page 0 = SyncML and
//! page 1 = MetInf; a DevInf document has page 0 = DevInf. An element whose namespace has no
//! page in its document (a DevInf `Property` inside a SyncML `Data`) is written as a literal
//! tag named in the string table, which is what libwbxml does; the reader resolves literal names
//! in the current page's namespace first, then in the other namespaces of the family.
//!
//! Decisions, for the reader (details in `reader.rs`):
//! - `EXT_I_n`, `EXT_T_n`, `EXT_n` and `PI` are skipped with their payload: SyncML gives
//!   extension tokens no meaning and no known SyncML encoder emits them.
//! - Charsets: 106 (UTF-8), 3 (US-ASCII) and 0 (unknown) pass strings through as they are;
//!   4 (ISO-8859-1) strings are transcoded to UTF-8; any other charset is an error, because
//!   NUL-terminated strings cannot be parsed without knowing the encoding.
//! - Public id `01` (unknown), an unregistered id or an unknown FPI: the document kind comes
//!   from the root tag (SyncML → SyncML 1.2, DevInf → DevInf 1.2).
//! - Bytes after the root element's `END` are ignored.
//!
//! For the writer (details in `writer.rs`): WBXML 1.2, UTF-8, numeric public ids except SyncML
//! 1.0 (FPI in the string table, as libsynthesis writes it); item payload (text directly inside
//! `Item`/`Data`) as `OPAQUE`, other text as `STR_I` unless it holds a NUL or is not UTF-8.

mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::WbxmlReader;
pub use writer::WbxmlWriter;

use crate::codec::tag::Namespace;
use crate::codec::token::TokenSource;

/// Says whether opaque bytes (the content of a `Data` element) start a WBXML DevInf document:
/// a valid header whose public id names DevInf (numeric or FPI), or an unknown public id
/// followed by the DevInf root tag. Only the header and the first tag are looked at.
pub fn looks_like_wbxml_devinf(bytes: &[u8]) -> bool {
    match WbxmlReader::new(bytes) {
        Ok(reader) => match reader.document() {
            Some((kind, _)) => kind == Namespace::DevInf,
            None => reader.root_hint() == Some(Namespace::DevInf),
        },
        Err(_) => false,
    }
}

// Global tokens (WAP-192 §7.1); the same in every code page.
const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const LITERAL: u8 = 0x04;
const EXT_I_0: u8 = 0x40;
const EXT_I_2: u8 = 0x42;
const PI: u8 = 0x43;
const LITERAL_C: u8 = 0x44;
const EXT_T_0: u8 = 0x80;
const EXT_T_2: u8 = 0x82;
const STR_T: u8 = 0x83;
const LITERAL_A: u8 = 0x84;
const EXT_0: u8 = 0xC0;
const EXT_2: u8 = 0xC2;
const OPAQUE: u8 = 0xC3;
const LITERAL_AC: u8 = 0xC4;

/// Tag byte bit: the element has content (and so an `END`).
const HAS_CONTENT: u8 = 0x40;
/// Tag byte bit: the element has an attribute list.
const HAS_ATTRIBUTES: u8 = 0x80;
/// The tag token itself, without the two bits.
const TOKEN_MASK: u8 = 0x3F;

/// The version byte written: WBXML 1.2.
const WRITE_VERSION: u8 = 0x02;
/// The charset written: UTF-8 (IANA MIBenum 106).
const CHARSET_UTF8: u32 = 106;
/// The charsets read (IANA MIBenum).
const CHARSET_UNKNOWN: u32 = 0;
const CHARSET_US_ASCII: u32 = 3;
const CHARSET_LATIN1: u32 = 4;
/// The public id meaning "unknown or missing" (WAP-192 §7.2.1).
const PUBLIC_ID_UNKNOWN: u32 = 0x01;

/// The namespace of a code page in a document of kind `doc` (`None`: no such page).
fn page_namespace(doc: Namespace, page: u8) -> Option<Namespace> {
    match (doc, page) {
        (Namespace::DevInf, 0) => Some(Namespace::DevInf),
        (Namespace::DevInf, _) => None,
        (Namespace::SyncMl | Namespace::MetInf, 0) => Some(Namespace::SyncMl),
        (Namespace::SyncMl | Namespace::MetInf, 1) => Some(Namespace::MetInf),
        (Namespace::SyncMl | Namespace::MetInf, _) => None,
    }
}

/// Appends a WBXML multi-byte integer (7 bits a byte, most significant first).
fn push_mb_u32(out: &mut Vec<u8>, value: u32) {
    let mut buf = [0u8; 5];
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        // `as u8` keeps the low 7 bits only, by the mask.
        buf[i] = (v & 0x7F) as u8 | if i == buf.len() - 1 { 0 } else { 0x80 };
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}
