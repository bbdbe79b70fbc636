//! WAP Push over SMS (PROTOCOL.md §8.5): how a notification's bytes travel to a handset as one
//! or more binary SMS, and back. Owns the WSP Push PDU that wraps a SAN, the WDP-over-SMS framing
//! (the user data header with application ports and concatenation), splitting into SMS parts,
//! and the reverse for tests and a device simulator: parsing a UDH, reassembling the parts of one
//! datagram in any order, and unwrapping the push.
//!
//! Wire layout (every multi-octet number big-endian):
//!
//! ```text
//! SMS part    = UDH | 8-bit user data            at most 140 octets together
//! UDH         = UDHL | 05 04 dest(2) src(2) [ | 00 03 ref total seq ]
//!               one part: 06 05 04 0B 84 23 F0 (ports 2948 ← 9200)
//!               concatenated: 0B 05 04 0B 84 23 F0 00 03 ref total seq (seq 1-based)
//! WSP Push    = TID | 06 (Push) | headers length (uintvar) | content type | headers | data
//! our headers = CE (application/vnd.syncml.ds.notification) AF 85 (X-Wap-Application-Id:
//!               x-wap-application:push.syncml)
//! data        = the SAN bytes
//! ```
//!
//! So one SMS carries up to 133 octets of push (140 − 7) and each part of a concatenated one 128
//! (140 − 12), at most 255 parts.
//!
//! Codes, checked against two public sources each beyond PROTOCOL.md:
//! - PDU type Push = 0x06: Kannel `wap/wsp_pdu.def` (`PDU(Push, … TYPE(8, 6))`), Wireshark
//!   `packet-wsp.c` (`vals_pdu_type`: `0x06 "Push"`), AOSP `WspTypeDecoder.PDU_TYPE_PUSH = 6`.
//! - Content type `application/vnd.syncml.ds.notification` = well-known 0x4E, sent as the short
//!   integer 0xCE: Kannel `wap/wsp_strings.def` (content-type table, commented `/* 0xCE */`), AOSP
//!   telephony `Wap230WspContentTypeTest` (`WELL_KNOWN_MIME_TYPES.put(0x4E, …)`, decoded from
//!   `0x4E | 0x80`).
//! - Header X-Wap-Application-Id = field 0x2F (0xAF on the wire): Kannel `wsp_strings.def` (48th
//!   entry of the header table, after Content-Disposition 0x2E), Wireshark `packet-wsp.c`
//!   (`FN_X_WAP_APPLICATION_ID 0x2F`), AOSP (`PARAMETER_ID_X_WAP_APPLICATION_ID = 47`).
//! - Application id `x-wap-application:push.syncml` = 0x05 (0x85 on the wire): Kannel
//!   `wsp_strings.def` (`ASSIGN("push.syncml", 0x05)`), Wireshark `packet-wsp.c`
//!   (`{ 0x05, "x-wap-application:push.syncml" }`); 0x07 is `syncml.dm`, the OMA DM one.
//! - Ports: Kannel `gw/wap_push_ppg.h` (`CONNECTIONLESS_PUSH_CLIPORT = 2948`,
//!   `CONNECTIONLESS_SERVPORT = 9200`) and `gw/wapbox.c` `pack_udhdata` (`06 05 04` dest src);
//!   concatenation IE `00 03 ref total seq` appended after the port IE with the UDHL rewritten, as
//!   Kannel's `gw/sms.c` `prepend_catenation_udh` does.
//!
//! Decoding is lenient where real senders differ (any TID; the content type and application id
//! as short integer, long integer or text; extra headers; 8- or 16-bit concatenation references)
//! and strict where it matters to a handset (destination port 2948, PDU type Push, a DS
//! notification for the SyncML push application). It never panics; malformed input is a
//! [`WapError`].
//!
//! Pure bytes: no sockets, clocks or stores. Sending the parts (Kannel) lives in
//! `server::push::kannel`.

use std::collections::BTreeMap;

use thiserror::Error;

/// The WDP port of the connectionless push client on the handset.
pub const PUSH_PORT: u16 = 2948;
/// The WDP port of the connectionless WSP server (the source port we announce).
pub const WSP_PORT: u16 = 9200;
/// Most octets in one SMS's user data, header included (8-bit data).
pub const MAX_SMS_OCTETS: usize = 140;
/// Most parts a concatenated SMS can have (the total is one octet).
pub const MAX_PARTS: usize = 255;
/// WSP PDU type Push.
pub const PDU_TYPE_PUSH: u8 = 0x06;
/// Well-known content type `application/vnd.syncml.ds.notification` (0xCE on the wire).
pub const CONTENT_TYPE_DS_NOTIFICATION: u8 = 0x4E;
/// Well-known header field X-Wap-Application-Id (0xAF on the wire).
pub const HEADER_X_WAP_APPLICATION_ID: u8 = 0x2F;
/// Push application id `x-wap-application:push.syncml` (0x85 on the wire).
pub const APP_ID_PUSH_SYNCML: u8 = 0x05;
/// The MIME type a DS 1.2 notification travels as.
pub const DS_NOTIFICATION_MIME: &str = "application/vnd.syncml.ds.notification";
/// The push application id as a URI.
pub const PUSH_SYNCML_APP_URI: &str = "x-wap-application:push.syncml";

/// Most datagrams a [`Reassembler`] waits on at once.
pub const MAX_PENDING: usize = 64;

/// The UDH of a push that fits one SMS: 16-bit ports, destination 2948, source 9200.
const SINGLE_UDH: [u8; 7] = [0x06, IEI_PORTS_16, 0x04, 0x0B, 0x84, 0x23, 0xF0];
/// Concatenated short message, 8-bit reference.
const IEI_CONCAT_8: u8 = 0x00;
/// Application port addressing, 8-bit ports.
const IEI_PORTS_8: u8 = 0x04;
/// Application port addressing, 16-bit ports.
const IEI_PORTS_16: u8 = 0x05;
/// Concatenated short message, 16-bit reference.
const IEI_CONCAT_16: u8 = 0x08;
/// Octets the concatenation IE adds (IEI, length, reference, total, sequence).
const CONCAT_IE_LEN: usize = 5;

/// One SMS: its user data header and its 8-bit user data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsPart {
    /// The whole UDH, its length octet (UDHL) first.
    pub udh: Vec<u8>,
    pub data: Vec<u8>,
}

/// What a user data header says, as far as WAP push cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Udh {
    pub ports: Option<Ports>,
    pub concat: Option<Concat>,
}

/// Application port addressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub destination: u16,
    pub source: u16,
}

/// Where a part sits in a concatenated message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concat {
    /// The message's reference (8 or 16 bits on the wire).
    pub reference: u16,
    /// How many parts the message has (1–255).
    pub total: u8,
    /// This part's number, 1-based.
    pub sequence: u8,
}

/// Why a push could not be framed, or SMS parts could not be read as one.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum WapError {
    #[error("push of {len} octets needs more than {MAX_PARTS} SMS (at most {max} octets)")]
    TooLong { len: usize, max: usize },
    #[error("no SMS parts")]
    NoParts,
    #[error("SMS part of {len} octets is longer than {MAX_SMS_OCTETS}")]
    PartTooLong { len: usize },
    #[error("SMS part has no user data header")]
    NoUdh,
    #[error("UDH length octet says {declared} octets, {actual} follow")]
    UdhLength { declared: usize, actual: usize },
    #[error("UDH information element {iei:#04x} at octet {offset} runs past the header")]
    UdhElementTruncated { iei: u8, offset: usize },
    #[error("UDH information element {iei:#04x} has length {len}, expected {expected}")]
    UdhElementLength { iei: u8, len: usize, expected: usize },
    #[error("SMS part has no 16-bit application port addressing")]
    NoPorts,
    #[error("SMS part is for port {port}, not the WAP push port {PUSH_PORT}")]
    WrongPort { port: u16 },
    #[error("concatenation part {sequence} of {total} is out of range")]
    BadSequence { sequence: u8, total: u8 },
    #[error("part {sequence} of message {reference} came twice with different content")]
    DuplicatePart { reference: u16, sequence: u8 },
    #[error("more than {MAX_PENDING} concatenated messages pending")]
    TooManyPending,
    #[error("message {reference} is incomplete: {missing} of {total} part(s) missing")]
    Incomplete { reference: u16, missing: usize, total: u8 },
    #[error("the parts hold {count} messages, expected one")]
    SeveralMessages { count: usize },
    #[error("WSP PDU truncated at octet {offset}: {field}")]
    Truncated { field: &'static str, offset: usize },
    #[error("WSP PDU type {pdu_type:#04x} is not Push (0x06)")]
    NotPush { pdu_type: u8 },
    #[error("WSP uintvar at octet {offset} is longer than 5 octets")]
    BadUintvar { offset: usize },
    #[error("WSP headers claim {declared} octets, {available} left")]
    HeadersOverrun { declared: usize, available: usize },
    #[error("WSP content type is {found}, not {DS_NOTIFICATION_MIME}")]
    WrongContentType { found: String },
    #[error("WSP push has no X-Wap-Application-Id header")]
    NoApplicationId,
    #[error("WSP push is for application {found}, not {PUSH_SYNCML_APP_URI}")]
    WrongApplicationId { found: String },
}

/// The WSP Push PDU carrying `san`: TID, type Push, 3 octets of headers (content type and
/// application id), then the notification.
pub fn push_pdu(san: &[u8], tid: u8) -> Vec<u8> {
    let headers = [CONTENT_TYPE_DS_NOTIFICATION | 0x80, HEADER_X_WAP_APPLICATION_ID | 0x80, APP_ID_PUSH_SYNCML | 0x80];
    let mut out = Vec::with_capacity(3 + headers.len() + san.len());
    out.extend_from_slice(&[tid, PDU_TYPE_PUSH, headers.len() as u8]);
    out.extend_from_slice(&headers);
    out.extend_from_slice(san);
    out
}

/// Splits a WSP PDU (a WDP datagram) into SMS parts addressed to port 2948: one part with the
/// 7-octet port UDH when it fits, otherwise up to 255 concatenated parts of 128 octets tagged
/// with `reference`. Fails only when 255 parts are not enough.
pub fn sms_parts(push_pdu: &[u8], reference: u8) -> Result<Vec<SmsPart>, WapError> {
    let single_room = MAX_SMS_OCTETS - SINGLE_UDH.len();
    if push_pdu.len() <= single_room {
        return Ok(vec![SmsPart { udh: SINGLE_UDH.to_vec(), data: push_pdu.to_vec() }]);
    }
    let room = single_room - CONCAT_IE_LEN;
    let chunks: Vec<&[u8]> = push_pdu.chunks(room).collect();
    let total =
        u8::try_from(chunks.len()).map_err(|_| WapError::TooLong { len: push_pdu.len(), max: room * MAX_PARTS })?;
    let parts = chunks
        .into_iter()
        .zip(1..=total)
        .map(|(chunk, sequence)| {
            let mut udh = SINGLE_UDH.to_vec();
            udh.extend_from_slice(&[IEI_CONCAT_8, 3, reference, total, sequence]);
            udh[0] = (udh.len() - 1) as u8;
            SmsPart { udh, data: chunk.to_vec() }
        })
        .collect();
    Ok(parts)
}

/// A SAN as the SMS parts of a WAP push; the WSP TID is `reference` too.
pub fn encode(san: &[u8], reference: u8) -> Result<Vec<SmsPart>, WapError> {
    sms_parts(&push_pdu(san, reference), reference)
}

/// The SAN bytes in the SMS parts of one WAP push, in any order.
pub fn decode(parts: &[SmsPart]) -> Result<Vec<u8>, WapError> {
    let pdu = reassemble(parts)?;
    decode_push(&pdu).map(<[u8]>::to_vec)
}

/// Reads a user data header (length octet first): the port and concatenation elements; other
/// elements are skipped.
pub fn parse_udh(udh: &[u8]) -> Result<Udh, WapError> {
    let (&declared, elements) = udh.split_first().ok_or(WapError::NoUdh)?;
    if usize::from(declared) != elements.len() {
        return Err(WapError::UdhLength { declared: declared.into(), actual: elements.len() });
    }
    let mut out = Udh::default();
    let mut pos = 0;
    while let Some(&iei) = elements.get(pos) {
        let truncated = WapError::UdhElementTruncated { iei, offset: pos + 1 };
        let len = usize::from(*elements.get(pos + 1).ok_or(truncated.clone())?);
        let value = elements.get(pos + 2..pos + 2 + len).ok_or(truncated)?;
        let expect = |expected: usize| {
            if len == expected {
                Ok(())
            } else {
                Err(WapError::UdhElementLength { iei, len, expected })
            }
        };
        // Each arm indexes `value` only after `expect` checked it holds exactly that many octets.
        match iei {
            IEI_PORTS_16 => {
                expect(4)?;
                out.ports = Some(Ports {
                    destination: u16::from_be_bytes([value[0], value[1]]),
                    source: u16::from_be_bytes([value[2], value[3]]),
                });
            }
            IEI_PORTS_8 => {
                expect(2)?;
                out.ports = Some(Ports { destination: value[0].into(), source: value[1].into() });
            }
            IEI_CONCAT_8 => {
                expect(3)?;
                out.concat = Some(Concat { reference: value[0].into(), total: value[1], sequence: value[2] });
            }
            IEI_CONCAT_16 => {
                expect(4)?;
                let reference = u16::from_be_bytes([value[0], value[1]]);
                out.concat = Some(Concat { reference, total: value[2], sequence: value[3] });
            }
            _ => {}
        }
        pos += 2 + len;
    }
    Ok(out)
}

/// Collects SMS parts addressed to the push port and hands back each WDP datagram (a WSP PDU)
/// once all its parts are in, whatever order they came in. Messages are told apart by their
/// concatenation reference and part count (a handset also keys by sender; feed one sender's
/// parts per reassembler). At most [`MAX_PENDING`] messages wait at once.
#[derive(Debug, Default)]
pub struct Reassembler {
    pending: BTreeMap<(u16, u8), Vec<Option<Vec<u8>>>>,
}

impl Reassembler {
    pub fn new() -> Reassembler {
        Reassembler::default()
    }

    /// Takes one part; `Some(datagram)` when it completed one. A part already seen with the
    /// same content is ignored (an SMS resent after a lost acknowledgement).
    pub fn push(&mut self, part: &SmsPart) -> Result<Option<Vec<u8>>, WapError> {
        let len = part.udh.len() + part.data.len();
        if len > MAX_SMS_OCTETS {
            return Err(WapError::PartTooLong { len });
        }
        let udh = parse_udh(&part.udh)?;
        let ports = udh.ports.ok_or(WapError::NoPorts)?;
        if ports.destination != PUSH_PORT {
            return Err(WapError::WrongPort { port: ports.destination });
        }
        let Some(Concat { reference, total, sequence }) = udh.concat else {
            return Ok(Some(part.data.clone()));
        };
        if total == 0 || sequence == 0 || sequence > total {
            return Err(WapError::BadSequence { sequence, total });
        }
        if !self.pending.contains_key(&(reference, total)) && self.pending.len() >= MAX_PENDING {
            return Err(WapError::TooManyPending);
        }
        let slots = self.pending.entry((reference, total)).or_insert_with(|| vec![None; usize::from(total)]);
        // 1 <= sequence <= total == slots.len(), checked above.
        let slot = &mut slots[usize::from(sequence) - 1];
        match slot {
            Some(seen) if *seen != part.data => return Err(WapError::DuplicatePart { reference, sequence }),
            Some(_) => return Ok(None),
            None => *slot = Some(part.data.clone()),
        }
        if slots.iter().any(Option::is_none) {
            return Ok(None);
        }
        let datagram = self.pending.remove(&(reference, total)).unwrap_or_default().into_iter().flatten().flatten();
        Ok(Some(datagram.collect()))
    }

    /// Messages still waiting for parts.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The first incomplete message, as an error, if any.
    fn incomplete(&self) -> Option<WapError> {
        self.pending.iter().next().map(|(&(reference, total), slots)| WapError::Incomplete {
            reference,
            missing: slots.iter().filter(|slot| slot.is_none()).count(),
            total,
        })
    }
}

/// The one WDP datagram (WSP PDU) that `parts` make up, in any order. Fails when they hold no
/// complete datagram, more than one, or an incomplete one.
pub fn reassemble(parts: &[SmsPart]) -> Result<Vec<u8>, WapError> {
    let mut reassembler = Reassembler::new();
    let mut datagrams = Vec::new();
    for part in parts {
        datagrams.extend(reassembler.push(part)?);
    }
    if let Some(error) = reassembler.incomplete() {
        return Err(error);
    }
    match datagrams.len() {
        0 => Err(WapError::NoParts),
        1 => Ok(datagrams.swap_remove(0)),
        count => Err(WapError::SeveralMessages { count }),
    }
}

/// The SAN inside a connectionless WSP Push PDU, after checking the PDU type, the content type
/// (`application/vnd.syncml.ds.notification`) and the X-Wap-Application-Id (push.syncml).
pub fn decode_push(pdu: &[u8]) -> Result<&[u8], WapError> {
    let mut reader = Reader { bytes: pdu, pos: 0 };
    reader.byte("TID")?;
    let pdu_type = reader.byte("PDU type")?;
    if pdu_type != PDU_TYPE_PUSH {
        return Err(WapError::NotPush { pdu_type });
    }
    let declared = reader.uintvar("headers length")?;
    let available = pdu.len() - reader.pos;
    if declared > available {
        return Err(WapError::HeadersOverrun { declared, available });
    }
    let end = reader.pos + declared;
    let mut headers = Reader { bytes: &pdu[..end], pos: reader.pos };
    let content_type = headers.value("content type")?;
    if !content_type.is_media(CONTENT_TYPE_DS_NOTIFICATION, DS_NOTIFICATION_MIME) {
        return Err(WapError::WrongContentType { found: content_type.describe() });
    }
    let app_id = application_id(&mut headers)?.ok_or(WapError::NoApplicationId)?;
    if !app_id.is(APP_ID_PUSH_SYNCML, PUSH_SYNCML_APP_URI) {
        return Err(WapError::WrongApplicationId { found: app_id.describe() });
    }
    Ok(&pdu[end..])
}

/// Walks the header fields after the content type and returns the X-Wap-Application-Id value.
fn application_id<'a>(headers: &mut Reader<'a>) -> Result<Option<Value<'a>>, WapError> {
    let mut page = 1;
    let mut found = None;
    while let Some(first) = headers.peek() {
        match first {
            0x7F => {
                headers.byte("shift")?;
                page = headers.byte("code page")?;
            }
            0x01..=0x1F => {
                headers.byte("shift")?;
                page = first;
            }
            0x80..=0xFF => {
                headers.byte("header name")?;
                let value = headers.value("header value")?;
                if page == 1 && first & 0x7F == HEADER_X_WAP_APPLICATION_ID {
                    found = found.or(Some(value));
                }
            }
            _ => {
                let name = headers.text("header name")?;
                let value = headers.value("header value")?;
                if name.eq_ignore_ascii_case(b"X-Wap-Application-Id") {
                    found = found.or(Some(value));
                }
            }
        }
    }
    Ok(found)
}

/// One WSP field value, as far as this module needs to tell values apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value<'a> {
    /// A short or long integer.
    Integer(u64),
    /// A text string, without its terminating NUL (and quote, if any).
    Text(&'a [u8]),
    /// A value-length general form: the octets inside.
    General(&'a [u8]),
}

impl Value<'_> {
    /// Whether an Integer-value or text is well-known `code` or `name`; a value-length form is
    /// read as a long integer's octets.
    fn is(&self, code: u8, name: &str) -> bool {
        match *self {
            Value::Integer(n) => n == u64::from(code),
            Value::Text(text) => text.eq_ignore_ascii_case(name.as_bytes()),
            Value::General(octets) => {
                (1..=8).contains(&octets.len())
                    && octets.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) == u64::from(code)
            }
        }
    }

    /// Whether a content type is `code` or `name`: a general form is judged by its media type
    /// (short integer, long integer or text), parameters ignored.
    fn is_media(&self, code: u8, name: &str) -> bool {
        match *self {
            Value::General(inner) => {
                Reader { bytes: inner, pos: 0 }.value("media type").is_ok_and(|media| media.is(code, name))
            }
            _ => self.is(code, name),
        }
    }

    fn describe(&self) -> String {
        match self {
            Value::Integer(n) => format!("well-known code {n:#04x}"),
            Value::Text(text) => format!("{:?}", String::from_utf8_lossy(text)),
            Value::General(inner) => format!("general form {}", hex(inner)),
        }
    }
}

/// A cursor over WSP octets that fails instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, WapError> {
        let byte = self.peek().ok_or(WapError::Truncated { field, offset: self.pos })?;
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], WapError> {
        let slice = self
            .bytes
            .get(self.pos..self.pos.saturating_add(len))
            .ok_or(WapError::Truncated { field, offset: self.pos })?;
        self.pos += len;
        Ok(slice)
    }

    /// A uintvar: 7 bits per octet, high bit set on all but the last, at most 5 octets.
    fn uintvar(&mut self, field: &'static str) -> Result<usize, WapError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for _ in 0..5 {
            let byte = self.byte(field)?;
            value = (value << 7) | u64::from(byte & 0x7F);
            if byte & 0x80 == 0 {
                return usize::try_from(value).map_err(|_| WapError::BadUintvar { offset: start });
            }
        }
        Err(WapError::BadUintvar { offset: start })
    }

    /// A NUL-terminated text string (a leading quote, 127, is dropped).
    fn text(&mut self, field: &'static str) -> Result<&'a [u8], WapError> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let nul = rest.iter().position(|&b| b == 0).ok_or(WapError::Truncated { field, offset: self.pos })?;
        self.pos += nul + 1;
        Ok(rest[..nul].strip_prefix(&[0x7F]).unwrap_or(&rest[..nul]))
    }

    /// Any field value: short integer, value-length general form, or text.
    fn value(&mut self, field: &'static str) -> Result<Value<'a>, WapError> {
        let first = self.peek().ok_or(WapError::Truncated { field, offset: self.pos })?;
        match first {
            0x80..=0xFF => {
                self.pos += 1;
                Ok(Value::Integer(u64::from(first & 0x7F)))
            }
            0..=30 => {
                self.pos += 1;
                Ok(Value::General(self.take(usize::from(first), field)?))
            }
            31 => {
                self.pos += 1;
                let len = self.uintvar(field)?;
                Ok(Value::General(self.take(len, field)?))
            }
            _ => Ok(Value::Text(self.text(field)?)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::san::{San, SanSecret, SanSync};
    use crate::proto::AlertCode;

    fn unhex(text: &str) -> Vec<u8> {
        let text: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        text.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    /// PROTOCOL.md §8.1's worked example, digest included.
    const EXAMPLE_SAN: &str =
        "07f17c8288969cd50077c27ede5fc37f 03180000001234 08 6d79736572766572 10 60 000007 04 63617264";

    fn long_san() -> Vec<u8> {
        let syncs = (1..=15)
            .map(|i| SanSync {
                sync_type: AlertCode::from(206),
                content_type: 0x0309,
                server_uri: format!("./contacts-{i:02}"),
            })
            .collect();
        let san = San { server_id: "https://sync.example.org/syncgate".into(), syncs, ..San::default() };
        san.encode(Some(&SanSecret { identity: "syncgate", password: "pw", nonce: b"n" })).unwrap()
    }

    #[test]
    fn golden_single_sms() {
        let san = unhex(EXAMPLE_SAN);
        assert_eq!(san.len(), 42);
        let parts = encode(&san, 0x2A).unwrap();
        // Built by hand from the layout: UDHL 6, IEI 05 len 4, dest 0x0B84 (2948), src 0x23F0
        // (9200); TID 2A, Push 06, headers length 3, CE (0x4E | 0x80), AF (0x2F | 0x80) 85 (0x05 | 0x80).
        let expected =
            SmsPart { udh: unhex("06 05 04 0B84 23F0"), data: unhex(&format!("2A 06 03 CE AF 85 {EXAMPLE_SAN}")) };
        assert_eq!(parts, vec![expected]);
        assert_eq!(decode(&parts).unwrap(), san);
        let (decoded, _) = San::decode(&decode(&parts).unwrap()).unwrap();
        assert_eq!((decoded.server_id.as_str(), decoded.syncs[0].server_uri.as_str()), ("myserver", "card"));
    }

    #[test]
    fn fits_exactly_one_sms_then_two() {
        let pdu = vec![0x55; 133];
        let parts = sms_parts(&pdu, 1).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].udh.len() + parts[0].data.len(), 140);
        let parts = sms_parts(&[0x55; 134], 9).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].udh, unhex("0B 05 04 0B84 23F0 00 03 09 02 01"));
        assert_eq!(parts[1].udh, unhex("0B 05 04 0B84 23F0 00 03 09 02 02"));
        assert_eq!((parts[0].data.len(), parts[1].data.len()), (128, 6));
        assert_eq!(reassemble(&parts).unwrap(), vec![0x55; 134]);
    }

    #[test]
    fn long_san_takes_three_parts_in_any_order() {
        let san = long_san();
        let parts = encode(&san, 0xC3).unwrap();
        assert_eq!(parts.len(), 3, "{} octets of SAN", san.len());
        for part in &parts {
            assert!(part.udh.len() + part.data.len() <= MAX_SMS_OCTETS);
            assert_eq!(parse_udh(&part.udh).unwrap().ports, Some(Ports { destination: 2948, source: 9200 }));
        }
        // Part 1 twice (a resent SMS) before the message completes: ignored.
        let mut shuffled = vec![parts[2].clone(), parts[0].clone(), parts[0].clone(), parts[1].clone()];
        let decoded = decode(&shuffled).unwrap();
        assert_eq!(decoded, san);
        assert_eq!(San::decode(&decoded).unwrap().0.syncs.len(), 15);
        shuffled.pop();
        assert_eq!(decode(&shuffled), Err(WapError::Incomplete { reference: 0xC3, missing: 1, total: 3 }));
        // A part resent after its message completed starts a new message that never completes.
        shuffled.extend([parts[1].clone(), parts[2].clone()]);
        assert_eq!(decode(&shuffled), Err(WapError::Incomplete { reference: 0xC3, missing: 2, total: 3 }));
    }

    #[test]
    fn too_long_for_255_parts() {
        assert_eq!(sms_parts(&vec![0; 128 * 255], 1).unwrap().len(), 255);
        assert_eq!(
            sms_parts(&vec![0; 128 * 255 + 1], 1),
            Err(WapError::TooLong { len: 128 * 255 + 1, max: 128 * 255 })
        );
    }

    #[test]
    fn reassembler_keeps_messages_apart() {
        let a = encode(&long_san(), 1).unwrap();
        let b = encode(&long_san()[..200], 2).unwrap();
        let mut reassembler = Reassembler::new();
        let mut done = Vec::new();
        for part in [&a[0], &b[1], &a[2], &b[0], &a[1]] {
            done.extend(reassembler.push(part).unwrap());
        }
        assert_eq!(done.len(), 2);
        assert_eq!(decode_push(&done[0]).unwrap(), &long_san()[..200]);
        assert_eq!(decode_push(&done[1]).unwrap(), &long_san()[..]);
        assert_eq!(reassembler.pending(), 0);
        let mut changed = a[0].clone();
        changed.data[5] ^= 1;
        reassembler.push(&a[0]).unwrap();
        assert_eq!(reassembler.push(&changed), Err(WapError::DuplicatePart { reference: 1, sequence: 1 }));
        assert!(matches!(
            reassemble(&[a[0].clone(), a[1].clone(), a[2].clone(), b[0].clone(), b[1].clone()]),
            Err(WapError::SeveralMessages { count: 2 })
        ));
    }

    #[test]
    fn udh_checks() {
        assert_eq!(parse_udh(&[]), Err(WapError::NoUdh));
        assert_eq!(parse_udh(&unhex("07 05 04 0B84 23F0")), Err(WapError::UdhLength { declared: 7, actual: 6 }));
        assert_eq!(parse_udh(&unhex("04 05 04 0B84")), Err(WapError::UdhElementTruncated { iei: 5, offset: 1 }));
        assert_eq!(
            parse_udh(&unhex("05 05 03 0B84 23")),
            Err(WapError::UdhElementLength { iei: 5, len: 3, expected: 4 })
        );
        // 16-bit reference, an unknown element skipped, 8-bit ports.
        let udh = parse_udh(&unhex("0D 24 01 00 08 04 1234 03 02 04 02 FE 01")).unwrap();
        assert_eq!(udh.concat, Some(Concat { reference: 0x1234, total: 3, sequence: 2 }));
        assert_eq!(udh.ports, Some(Ports { destination: 0xFE, source: 1 }));
        let part = |udh: &str| SmsPart { udh: unhex(udh), data: vec![1] };
        assert_eq!(reassemble(&[part("05 00 03 01 01 01")]), Err(WapError::NoPorts));
        assert_eq!(reassemble(&[part("06 05 04 0B85 23F0")]), Err(WapError::WrongPort { port: 2949 }));
        assert_eq!(
            reassemble(&[part("0B 05 04 0B84 23F0 00 03 01 02 03")]),
            Err(WapError::BadSequence { sequence: 3, total: 2 })
        );
        let long = SmsPart { udh: SINGLE_UDH.to_vec(), data: vec![0; 134] };
        assert_eq!(reassemble(&[long]), Err(WapError::PartTooLong { len: 141 }));
        assert_eq!(reassemble(&[]), Err(WapError::NoParts));
    }

    #[test]
    fn wsp_variants_other_senders_use() {
        let san = b"SAN";
        // Content type as text, application id as a long integer, an extra header before it
        // (Content-Length 0x8D short integer), a code page shift and an application header.
        let mut headers = DS_NOTIFICATION_MIME.as_bytes().to_vec();
        headers.extend_from_slice(&[0x00, 0x8D, 0x83, 0xAF, 0x01, 0x05]);
        let mut pdu = vec![0x00, 0x06, headers.len() as u8];
        pdu.extend_from_slice(&headers);
        pdu.extend_from_slice(san);
        assert_eq!(decode_push(&pdu).unwrap(), san);
        // General form content type with a charset parameter, app id as URI text, 2-octet uintvar.
        let mut headers = vec![0x03, 0xCE, 0x81, 0xEA, b'X', b'-', b'A', 0, b'v', 0, 0x7F, 0x02, 0xAF];
        headers.extend_from_slice(PUSH_SYNCML_APP_URI.as_bytes());
        headers.push(0);
        let mut pdu = vec![0x00, 0x06, 0x80, headers.len() as u8];
        pdu.extend_from_slice(&headers);
        pdu.extend_from_slice(san);
        assert_eq!(decode_push(&pdu), Err(WapError::NoApplicationId), "0xAF on page 2 is another header");
        let shift = headers.iter().position(|&b| b == 0x7F).unwrap();
        headers.drain(shift..shift + 2);
        let mut pdu = vec![0x00, 0x06, 0x80, headers.len() as u8];
        pdu.extend_from_slice(&headers);
        pdu.extend_from_slice(san);
        assert_eq!(decode_push(&pdu).unwrap(), san);
    }

    #[test]
    fn wsp_rejections() {
        let good = push_pdu(b"SAN", 7);
        let with = |i: usize, b: u8| {
            let mut pdu = good.clone();
            pdu[i] = b;
            pdu
        };
        assert_eq!(decode_push(&with(1, 0x07)), Err(WapError::NotPush { pdu_type: 7 }));
        assert_eq!(decode_push(&with(2, 0x09)), Err(WapError::HeadersOverrun { declared: 9, available: 6 }));
        assert_eq!(
            decode_push(&with(3, 0xC4)),
            Err(WapError::WrongContentType { found: "well-known code 0x44".into() })
        );
        assert_eq!(
            decode_push(&with(5, 0x87)),
            Err(WapError::WrongApplicationId { found: "well-known code 0x07".into() })
        );
        assert_eq!(decode_push(&with(4, 0x8D)), Err(WapError::NoApplicationId));
        assert_eq!(
            decode_push(&[0x00, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(WapError::BadUintvar { offset: 2 })
        );
        assert_eq!(decode_push(&[0x01]), Err(WapError::Truncated { field: "PDU type", offset: 1 }));
    }

    #[test]
    fn truncations_and_flips_never_panic() {
        let parts = encode(&long_san(), 77).unwrap();
        let pdu = reassemble(&parts).unwrap();
        for len in 0..pdu.len() {
            let _ = decode_push(&pdu[..len]);
        }
        for part in &parts {
            for len in 0..part.udh.len() {
                let cut = SmsPart { udh: part.udh[..len].to_vec(), data: part.data.clone() };
                assert!(reassemble(&[cut]).is_err());
            }
        }
        for i in 0..pdu.len().min(40) {
            for bit in 0..8 {
                let mut flipped = pdu.clone();
                flipped[i] ^= 1 << bit;
                let _ = decode_push(&flipped);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn random_input_never_panics(
            udh in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..140),
        ) {
            let _ = parse_udh(&udh);
            let _ = decode(&[SmsPart { udh, data: data.clone() }]);
            let _ = decode_push(&data);
        }

        #[test]
        fn round_trip_in_any_order(
            san in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1200),
            reference in proptest::prelude::any::<u8>(),
            rotate in 0usize..16,
        ) {
            let mut parts = encode(&san, reference).unwrap();
            let len = parts.len();
            parts.rotate_left(rotate % len);
            proptest::prop_assert_eq!(decode(&parts).unwrap(), san);
        }
    }
}
