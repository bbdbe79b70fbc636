//! WBXML reader and writer (placeholder).
use crate::codec::{token::*, tag::*, DecodeError, EncodeError};
pub struct WbxmlReader<'a>(&'a [u8]);
impl<'a> WbxmlReader<'a> { pub fn new(input: &'a [u8]) -> Result<Self, DecodeError> { Ok(WbxmlReader(input)) } }
impl<'a> TokenSource<'a> for WbxmlReader<'a> {
    fn next_token(&mut self) -> Result<Token<'a>, DecodeError> { unimplemented!() }
    fn offset(&self) -> usize { 0 }
    fn document(&self) -> Option<(Namespace, u8)> { None }
}
pub struct WbxmlWriter;
impl WbxmlWriter { pub fn new() -> Self { WbxmlWriter } pub fn finish(self) -> Result<Vec<u8>, EncodeError> { unimplemented!() } }
impl TokenSink for WbxmlWriter {
    fn begin_document(&mut self, _: Namespace, _: u8) {} fn end_document(&mut self) {}
    fn start(&mut self, _: Tag) {} fn text(&mut self, _: &[u8]) {} fn end(&mut self) {}
}
