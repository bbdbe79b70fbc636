//! The encoding machinery: element helpers over a [`TokenSink`].

use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::TokenSink;

/// Writes elements into a sink.
pub(crate) struct Encoder<'s> {
    pub(crate) sink: &'s mut dyn TokenSink,
}

impl<'s> Encoder<'s> {
    pub(crate) fn new(sink: &'s mut dyn TokenSink) -> Self {
        Encoder { sink }
    }

    pub(crate) fn begin_document(&mut self, kind: Namespace, minor: u8) {
        self.sink.begin_document(kind, minor);
    }

    pub(crate) fn end_document(&mut self) {
        self.sink.end_document();
    }

    pub(crate) fn start(&mut self, tag: Tag) {
        self.sink.start(tag);
    }

    pub(crate) fn end(&mut self) {
        self.sink.end();
    }

    /// `<tag>text</tag>`.
    pub(crate) fn leaf(&mut self, tag: Tag, text: &str) {
        self.leaf_bytes(tag, text.as_bytes());
    }

    pub(crate) fn leaf_bytes(&mut self, tag: Tag, bytes: &[u8]) {
        self.sink.start(tag);
        if !bytes.is_empty() {
            self.sink.text(bytes);
        }
        self.sink.end();
    }

    pub(crate) fn opt_leaf(&mut self, tag: Tag, text: Option<&String>) {
        if let Some(t) = text {
            self.leaf(tag, t);
        }
    }

    pub(crate) fn leaves(&mut self, tag: Tag, texts: &[String]) {
        for t in texts {
            self.leaf(tag, t);
        }
    }

    pub(crate) fn num(&mut self, tag: Tag, n: u64) {
        self.leaf(tag, &n.to_string());
    }

    pub(crate) fn opt_num(&mut self, tag: Tag, n: Option<u64>) {
        if let Some(n) = n {
            self.num(tag, n);
        }
    }

    /// `<tag/>` when `on`.
    pub(crate) fn flag(&mut self, tag: Tag, on: bool) {
        if on {
            self.sink.start(tag);
            self.sink.end();
        }
    }
}
