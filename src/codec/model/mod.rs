//! Token stream ⇄ typed model (placeholder while the model layer is written).
use crate::codec::{token::{TokenSink, TokenSource}, DecodeError, Document, Limits};
pub fn decode_document<'a, S: TokenSource<'a>>(_src: S, _limits: &Limits, _depth: usize) -> Result<Document, DecodeError> { unimplemented!() }
pub fn encode_document(_doc: &Document, _sink: &mut dyn TokenSink) { unimplemented!() }
