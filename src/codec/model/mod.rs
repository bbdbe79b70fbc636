//! Token stream ⇄ typed model, written once for both encodings.
//!
//! Decoding is recursive descent over a [`TokenSource`] ([`read::Decoder`]), which also enforces
//! the [`Limits`] and knows the element path for error messages. Reading is lenient where real
//! clients disagree (child order, unknown elements skipped, missing optional parts); writing
//! ([`write::Encoder`]) always uses the canonical order of PROTOCOL.md §1.3.
//!
//! Owns: the mapping between elements and model fields. Must not touch bytes (that is `xml` and
//! `wbxml`) or anything beyond the codec.

mod devinf;
mod item;
mod message;
mod read;
mod write;

pub(crate) use read::Decoder;
pub(crate) use write::Encoder;

use crate::codec::tag::{Namespace, Tag};
use crate::codec::token::{Token, TokenSink, TokenSource};
use crate::codec::{DecodeError, DecodeErrorKind, Document, Limits};
use crate::proto::{DevInf, Version};

/// Decodes one top-level document (SyncML message or DevInf) from a token source. `depth` is the
/// nesting depth already used by enclosing documents (0 at top level).
pub fn decode_document<'a, S: TokenSource<'a>>(src: S, limits: &Limits, depth: usize) -> Result<Document, DecodeError> {
    let mut d = Decoder::new(src, *limits, depth);
    let doc = match d.next()? {
        Token::Start(Tag::SyncML) => {
            let minor = match d.source().document() {
                Some((Namespace::SyncMl, minor)) => minor,
                _ => 2,
            };
            Document::Message(message::decode_message(&mut d, Version::from_minor(minor).unwrap_or_default())?)
        }
        Token::Start(Tag::DevDevInf) => Document::DevInf(devinf::decode_devinf(&mut d)?),
        Token::Start(tag) => return Err(d.error(DecodeErrorKind::UnexpectedRoot(tag.name().to_string()))),
        Token::Unknown => return Err(d.error(DecodeErrorKind::UnexpectedRoot("(unknown element)".into()))),
        Token::Eof => return Err(d.error(DecodeErrorKind::UnexpectedEof)),
        Token::End | Token::Text(_) | Token::Opaque(_) => {
            return Err(d.error(DecodeErrorKind::UnexpectedRoot("(no element)".into())))
        }
    };
    d.expect_eof()?;
    Ok(doc)
}

/// Decodes a DevInf document nested as WBXML bytes (OPAQUE inside `Data`).
pub(crate) fn decode_nested_devinf(bytes: &[u8], limits: &Limits, depth: usize) -> Result<DevInf, DecodeError> {
    let reader = crate::codec::wbxml::WbxmlReader::new(bytes)?;
    match decode_document(reader, limits, depth)? {
        Document::DevInf(d) => Ok(d),
        Document::Message(_) => Err(DecodeError::new(DecodeErrorKind::UnexpectedRoot("SyncML".into()), 0)),
    }
}

/// Encodes a message into a token sink.
pub fn encode_message(msg: &crate::proto::Message, sink: &mut dyn TokenSink) {
    message::encode_message(&mut Encoder::new(sink), msg);
}

/// Encodes a document into a token sink.
pub fn encode_document(doc: &Document, sink: &mut dyn TokenSink) {
    let mut e = Encoder::new(sink);
    match doc {
        Document::Message(m) => message::encode_message(&mut e, m),
        Document::DevInf(d) => devinf::encode_devinf_document(&mut e, d),
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::{self, DecodeErrorKind, Limits};

    /// Nested Atomics down to the depth limit, as XML and as WBXML.
    fn nested(depth: usize) -> (Vec<u8>, Vec<u8>) {
        let mut xml = String::from(
            "<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto>\
             <SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>s</LocURI></Target><Source><LocURI>c</LocURI></Source></SyncHdr><SyncBody>",
        );
        for _ in 0..depth {
            xml.push_str("<Atomic><CmdID>1</CmdID>");
        }
        for _ in 0..depth {
            xml.push_str("</Atomic>");
        }
        xml.push_str("</SyncBody></SyncML>");
        let mut wbxml =
            vec![0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x6C, 0x71, 0x03, b'1', b'.', b'2', 0, 0x01, 0x01, 0x6B];
        for _ in 0..depth {
            wbxml.extend_from_slice(&[0x48, 0x4B, 0x03, b'1', 0, 0x01]);
        }
        wbxml.extend(std::iter::repeat_n(0x01, depth + 2));
        (xml.into_bytes(), wbxml)
    }

    #[test]
    fn nesting_is_bounded_and_fits_a_small_stack() {
        // A tokio worker's 2 MiB stack decodes right up to the depth limit and rejects anything
        // deeper with a typed error, even in a debug build (release frames are far smaller:
        // 512 KiB suffice there).
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let limits = Limits::default();
                for bytes in [nested(limits.max_depth - 3).0, nested(limits.max_depth - 3).1] {
                    codec::decode_message(&bytes, &limits).expect("decodes at the limit");
                }
                for bytes in [nested(10_000).0, nested(10_000).1] {
                    let err = codec::decode_message(&bytes, &limits).unwrap_err();
                    assert_eq!(err.kind, DecodeErrorKind::TooDeep { limit: limits.max_depth }, "{err}");
                    assert!(err.path.starts_with("SyncML/SyncBody/Atomic/Atomic"), "{}", err.path);
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
