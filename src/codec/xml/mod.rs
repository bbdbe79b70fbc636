//! The XML encoding of SyncML and DevInf documents (`application/vnd.syncml+xml`).
//!
//! - [`XmlReader`] (`reader.rs`): bytes → [`Token`](crate::codec::token::Token)s; quick-xml
//!   parses the markup, namespaces and character data are handled there; lenient as
//!   PROTOCOL.md §1.2 and §11.4 ask (namespace case, MetInf children without their namespace,
//!   CDATA or escaped data, filter pseudo-entities such as `&EQ;` kept literally).
//! - [`XmlWriter`] (`writer.rs`): [`TokenSink`](crate::codec::token::TokenSink) calls → bytes,
//!   `xmlns` written only where the namespace changes, CR kept as `&#13;`.
//!
//! Owns: XML syntax only. Must not know the typed model (`codec::model`) or enforce limits.
//! Text is carried byte-exactly both ways: the writer escapes what XML needs and the reader
//! undoes exactly that, so `writer → reader` gives back the bytes given to the writer.
//! `tests.rs` holds the tests of the reader on whole documents, the round trips and the
//! robustness tests; `reader.rs` and `writer.rs` test their own helpers and output.

mod reader;
mod writer;

pub use reader::XmlReader;
pub use writer::XmlWriter;

#[cfg(test)]
mod tests;
