//! The token stream between the two wire encodings and the typed model.
//!
//! Both readers (`xml::XmlReader`, `wbxml::WbxmlReader`) turn bytes into [`Token`]s through
//! [`TokenSource`]; both writers (`xml::XmlWriter`, `wbxml::WbxmlWriter`) turn [`TokenSink`]
//! calls into bytes. The model layer (`codec::model`) is written once against these two traits,
//! so every element is mapped to and from the model in exactly one place.
//!
//! This module owns only the interface: no bytes, no model types.

use std::borrow::Cow;

use crate::codec::error::DecodeError;
use crate::codec::tag::{Namespace, Tag};

/// One event read from a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// A known element starts. It is always matched by one [`Token::End`] (an empty element is
    /// `Start` immediately followed by `End`).
    Start(Tag),
    /// An element outside the catalogue starts (a vendor extension, a typo); matched by one
    /// [`Token::End`]. The model layer skips it with everything inside.
    Unknown,
    /// The current element ends.
    End,
    /// Character data, entities already resolved. Consecutive `Text` tokens belong together.
    Text(Cow<'a, [u8]>),
    /// Opaque bytes (WBXML `OPAQUE`; never produced by the XML reader). In a `Data` element this
    /// may hold a complete nested WBXML document (DevInf).
    Opaque(Cow<'a, [u8]>),
    /// The document is complete.
    Eof,
}

/// A reader that yields the tokens of one document.
pub trait TokenSource<'a> {
    /// The next token. After `Eof` every call returns `Eof` again.
    fn next_token(&mut self) -> Result<Token<'a>, DecodeError>;

    /// The byte offset reached in the input, for error messages.
    fn offset(&self) -> usize;

    /// The document kind and minor version (0, 1, 2 for 1.0, 1.1, 1.2) as declared by the
    /// document itself (XML root namespace, WBXML public id), once known.
    fn document(&self) -> Option<(Namespace, u8)>;
}

/// A writer that produces one document from element calls.
///
/// Calls are infallible; a writer that meets something it cannot represent records the first
/// error and reports it when it is finished.
pub trait TokenSink {
    /// Opens a document of `kind` (SyncML or DevInf) in `minor` version. The first call opens the
    /// top-level document; a call inside an open element embeds a document there (WBXML: a
    /// complete nested document as `OPAQUE`; XML: the elements inline with their namespace).
    fn begin_document(&mut self, kind: Namespace, minor: u8);
    /// Closes the document opened by the matching [`TokenSink::begin_document`].
    fn end_document(&mut self);
    /// Opens an element. An element closed with no text and no children is written empty.
    fn start(&mut self, tag: Tag);
    /// Character data inside the current element (bytes as they must arrive at the peer).
    fn text(&mut self, data: &[u8]);
    /// Closes the current element.
    fn end(&mut self);
}
