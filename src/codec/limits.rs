//! Decoding limits: the bounds that keep memory and time finite whatever the input.

use serde::Deserialize;

/// Bounds enforced while decoding. Breaking one is a [`crate::codec::error::DecodeErrorKind`]
/// that names the limit, with the byte offset and element path where it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest document accepted, in bytes; also the most text one document may decode to
    /// (WBXML string-table references can repeat a string).
    pub max_input_bytes: usize,
    /// Deepest element nesting (nested WBXML DevInf documents count on top of their parent).
    pub max_depth: usize,
    /// Most elements in one document.
    pub max_elements: usize,
    /// Longest text or opaque value of one element, in bytes.
    pub max_string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_input_bytes: 16 << 20, max_depth: 40, max_elements: 1 << 20, max_string_bytes: 8 << 20 }
    }
}
