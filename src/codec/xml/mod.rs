//! XML reader and writer (placeholder).
use crate::codec::{token::*, tag::*, DecodeError, EncodeError};
pub struct XmlReader<'a>(&'a [u8]);
impl<'a> XmlReader<'a> { pub fn new(input: &'a [u8]) -> Self { XmlReader(input) } }
impl<'a> TokenSource<'a> for XmlReader<'a> {
    fn next_token(&mut self) -> Result<Token<'a>, DecodeError> { unimplemented!() }
    fn offset(&self) -> usize { 0 }
    fn document(&self) -> Option<(Namespace, u8)> { None }
}
pub struct XmlWriter;
impl XmlWriter { pub fn new(_pretty: bool) -> Self { XmlWriter } pub fn finish(self) -> Result<Vec<u8>, EncodeError> { unimplemented!() } }
impl TokenSink for XmlWriter {
    fn begin_document(&mut self, _: Namespace, _: u8) {} fn end_document(&mut self) {}
    fn start(&mut self, _: Tag) {} fn text(&mut self, _: &[u8]) {} fn end(&mut self) {}
}
