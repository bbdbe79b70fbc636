//! The decoding machinery: token fetching with limits, element path, and leaf readers.

use std::borrow::Cow;
use std::str::FromStr;

use crate::codec::tag::Tag;
use crate::codec::token::{Token, TokenSource};
use crate::codec::{DecodeError, DecodeErrorKind, Limits};

/// Recursive-descent reader over a token source. Every `Start` it hands out is pushed on the
/// element stack (depth and element-count limits checked there); every `End` pops it.
pub(crate) struct Decoder<'a, S: TokenSource<'a>> {
    src: S,
    pub(crate) limits: Limits,
    stack: Vec<Option<Tag>>,
    base_depth: usize,
    elements: usize,
    /// Text and opaque bytes handed out so far: WBXML string-table references can repeat one
    /// long string many times, so this is bounded separately from the input size.
    text_total: usize,
    _input: std::marker::PhantomData<&'a [u8]>,
}

impl<'a, S: TokenSource<'a>> Decoder<'a, S> {
    pub(crate) fn new(src: S, limits: Limits, base_depth: usize) -> Self {
        Decoder {
            src,
            limits,
            stack: Vec::with_capacity(16),
            base_depth,
            text_total: 0,
            elements: 0,
            _input: std::marker::PhantomData,
        }
    }

    pub(crate) fn source(&self) -> &S {
        &self.src
    }

    /// The current nesting depth, counting enclosing documents.
    pub(crate) fn depth(&self) -> usize {
        self.base_depth + self.stack.len()
    }

    /// An error at the current position with the current element path.
    pub(crate) fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        let mut e = DecodeError::new(kind, self.src.offset());
        e.path = self.path();
        e
    }

    fn path(&self) -> String {
        let mut p = String::new();
        for (i, t) in self.stack.iter().enumerate() {
            if i > 0 {
                p.push('/');
            }
            p.push_str(t.map(Tag::name).unwrap_or("?"));
        }
        p
    }

    /// The next token, with limits enforced and the element stack maintained.
    pub(crate) fn next(&mut self) -> Result<Token<'a>, DecodeError> {
        let tok = self.src.next_token().map_err(|mut e| {
            if e.path.is_empty() {
                e.path = self.path();
            }
            e
        })?;
        match &tok {
            Token::Start(_) | Token::Unknown => {
                self.elements += 1;
                if self.elements > self.limits.max_elements {
                    return Err(self.error(DecodeErrorKind::TooManyElements { limit: self.limits.max_elements }));
                }
                if self.depth() >= self.limits.max_depth {
                    return Err(self.error(DecodeErrorKind::TooDeep { limit: self.limits.max_depth }));
                }
                self.stack.push(match tok {
                    Token::Start(t) => Some(t),
                    _ => None,
                });
            }
            Token::End => {
                if self.stack.pop().is_none() {
                    return Err(self.error(DecodeErrorKind::Xml("end of an element that was not open".into())));
                }
            }
            Token::Text(t) | Token::Opaque(t) => {
                self.check_len(t.len())?;
                self.text_total += t.len();
                if self.text_total > self.limits.max_input_bytes {
                    return Err(self.error(DecodeErrorKind::TextTooLarge { limit: self.limits.max_input_bytes }));
                }
            }
            Token::Eof => {}
        }
        Ok(tok)
    }

    pub(crate) fn check_len(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.limits.max_string_bytes {
            return Err(self.error(DecodeErrorKind::StringTooLong { len, limit: self.limits.max_string_bytes }));
        }
        Ok(())
    }

    /// After the root element: only `Eof` may follow.
    pub(crate) fn expect_eof(&mut self) -> Result<(), DecodeError> {
        loop {
            match self.next()? {
                Token::Eof => return Ok(()),
                Token::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                _ => return Err(self.error(DecodeErrorKind::Xml("content after the root element".into()))),
            }
        }
    }

    /// Calls `f` for every known child element of the element just opened, until its end.
    /// `f` must consume the child completely (its `End` included). Unknown elements are skipped
    /// with their content; text between children is ignored.
    pub(crate) fn children(
        &mut self,
        mut f: impl FnMut(&mut Self, Tag) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        loop {
            match self.next()? {
                Token::Start(tag) => f(self, tag)?,
                Token::Unknown => self.skip()?,
                Token::End => return Ok(()),
                Token::Text(_) | Token::Opaque(_) => {}
                Token::Eof => return Err(self.error(DecodeErrorKind::UnexpectedEof)),
            }
        }
    }

    /// Consumes the rest of the element just opened, whatever it holds.
    pub(crate) fn skip(&mut self) -> Result<(), DecodeError> {
        let mut depth = 1usize;
        loop {
            match self.next()? {
                Token::Start(_) | Token::Unknown => depth += 1,
                Token::End => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Token::Eof => return Err(self.error(DecodeErrorKind::UnexpectedEof)),
                Token::Text(_) | Token::Opaque(_) => {}
            }
        }
    }

    /// The character/opaque content of the element just opened, up to its end (nested
    /// elements skipped). Pieces are concatenated without any change.
    pub(crate) fn raw_text(&mut self) -> Result<Cow<'a, [u8]>, DecodeError> {
        let mut acc: Option<Cow<'a, [u8]>> = None;
        loop {
            match self.next()? {
                Token::Text(t) | Token::Opaque(t) => append(&mut acc, t),
                Token::Start(_) | Token::Unknown => self.skip()?,
                Token::End => break,
                Token::Eof => return Err(self.error(DecodeErrorKind::UnexpectedEof)),
            }
            if let Some(a) = &acc {
                self.check_len(a.len())?;
            }
        }
        Ok(acc.unwrap_or(Cow::Borrowed(&[])))
    }

    /// The element's text as a string, surrounding white space trimmed. Bytes that are not
    /// UTF-8 are replaced (lenient: old phones send Latin-1 in places).
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let raw = self.raw_text()?;
        Ok(String::from_utf8_lossy(raw.trim_ascii()).into_owned())
    }

    /// The element's text parsed as a number.
    pub(crate) fn number<T: FromStr>(&mut self, element: &'static str) -> Result<T, DecodeError> {
        let raw = self.raw_text()?;
        let text = std::str::from_utf8(raw.trim_ascii()).ok();
        match text.and_then(|t| t.parse().ok()) {
            Some(n) => Ok(n),
            None => {
                let value = truncate(&String::from_utf8_lossy(raw.trim_ascii()));
                Err(self.error(DecodeErrorKind::Invalid { element, value }))
            }
        }
    }

    /// A flag element (`<NoResp/>`): its presence is the value; any content is ignored.
    pub(crate) fn flag(&mut self) -> Result<bool, DecodeError> {
        self.skip()?;
        Ok(true)
    }
}

fn append<'a>(acc: &mut Option<Cow<'a, [u8]>>, piece: Cow<'a, [u8]>) {
    match acc {
        None => *acc = Some(piece),
        Some(a) => a.to_mut().extend_from_slice(&piece),
    }
}

/// Appends a text piece to an accumulator (used by the `Data` reader too).
pub(crate) fn append_text<'a>(acc: &mut Option<Cow<'a, [u8]>>, piece: Cow<'a, [u8]>) {
    append(acc, piece)
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
