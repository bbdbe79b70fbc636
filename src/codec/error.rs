//! Errors of the codec: what went wrong, where (byte offset and element path), never a panic.
//!
//! Decoding errors are all "malformed input" in the sense of the gateway's error split; the
//! server maps them to HTTP 400 (or 413 for [`DecodeErrorKind::InputTooLarge`]).

use std::fmt;

/// Why a document could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("empty input")]
    Empty,
    #[error("input of {size} bytes exceeds the limit of {limit} bytes")]
    InputTooLarge { size: usize, limit: usize },
    #[error("elements nested deeper than the limit of {limit}")]
    TooDeep { limit: usize },
    #[error("more elements than the limit of {limit}")]
    TooManyElements { limit: usize },
    #[error("a string of {len} bytes exceeds the limit of {limit} bytes")]
    StringTooLong { len: usize, limit: usize },
    #[error("more than {limit} bytes of text in one document (string-table references expand)")]
    TextTooLarge { limit: usize },
    #[error("neither XML nor WBXML of the SyncML family")]
    UnknownEncoding,
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("malformed WBXML: {0}")]
    Wbxml(String),
    #[error("unexpected end of document")]
    UnexpectedEof,
    #[error("unexpected root element {0} (expected SyncML or DevInf)")]
    UnexpectedRoot(String),
    #[error("missing required element {0}")]
    Missing(&'static str),
    #[error("invalid value {value:?} in {element}")]
    Invalid { element: &'static str, value: String },
}

/// A decoding failure with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Byte offset in the input where it was noticed.
    pub offset: usize,
    /// Element path from the root, e.g. `SyncML/SyncBody/Sync/Add/Item` (empty when unknown).
    pub path: String,
}

impl DecodeError {
    /// An error at `offset` with no path yet (the model layer adds it).
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError { kind, offset, path: String::new() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)?;
        if !self.path.is_empty() {
            write!(f, " in {}", self.path)?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// Why a model could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The bytes cannot be carried by the chosen encoding (binary data in XML must be base64
    /// with Meta Format `b64`).
    #[error("{element}: {reason}")]
    Unrepresentable { element: &'static str, reason: String },
    /// A string that WBXML cannot carry inline and no `OPAQUE` form is allowed for.
    #[error("{0}")]
    Invalid(String),
}
