//! The DS 1.2 Server Alerted Notification (package #0, PROTOCOL.md §8.1–8.3): the typed
//! notification, its binary encoder and decoder, the MD5 digest that authenticates it, and the
//! WSP content-type codes its sync entries carry.
//!
//! Wire layout, every field MSB first and big-endian:
//!
//! ```text
//! digest (16 bytes) | version (10 bits) ui-mode (2) initiator (1) future (27) | session-id (16)
//! | server-id length (8) server-id | num-syncs (4) future (4)
//! | num-syncs × [ sync-type − 200 (4) future (4) content-type (24) URI length (8) URI ]
//! | vendor-specific bytes
//! ```
//!
//! Decoding keeps whatever the format can express: any 10-bit version (it decodes and is
//! reported in [`San::version`]; the caller decides whether to act on a version other than
//! 1.2), every sync-type nibble (200–215), every 24-bit content type; future-use bits are
//! ignored. Encoding is strict and only writes what a DS 1.2 client is specified to receive
//! (see [`San::encode`]).
//!
//! Must not touch: the SyncML model and codec (the 1.0/1.1 notification of §8.4 is a SyncML
//! message and is built elsewhere), transports, clocks, stores.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::proto::AlertCode;

/// Length of the MD5 digest that opens every notification.
pub const DIGEST_LEN: usize = 16;
/// The most sync entries num-syncs (4 bits) can announce.
pub const MAX_SYNCS: usize = 15;
/// The largest content-type code (24 bits).
pub const MAX_CONTENT_TYPE: u32 = 0x00FF_FFFF;

/// A DS 1.2 Server Alerted Notification: "please start a session with me for these datastores".
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct San {
    /// The 10-bit version field; [`SanVersion::V1_2`] for this format.
    pub version: SanVersion,
    pub ui_mode: UiMode,
    pub initiator: Initiator,
    /// Chosen by the server. Clients generally do not echo it as the SyncML SessionID (§8.5).
    pub session_id: u16,
    /// The server identifier the client knows the server by (libsynthesis requires it to be a
    /// substring of the configured server URL).
    pub server_id: String,
    /// The datastores to sync; empty means "all datastores" (num-syncs 0).
    pub syncs: Vec<SanSync>,
    /// Vendor-specific bytes after the last sync entry, kept as received.
    #[serde(serialize_with = "serialize_hex")]
    pub vendor: Vec<u8>,
}

/// The 10-bit version number, `10 × major + minor` (12 for DS 1.2). Cannot hold more than 10 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SanVersion(u16);

/// How the client should involve its user (2 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UiMode {
    /// 0: the client decides.
    #[default]
    NotSpecified,
    /// 1: sync without telling the user.
    Background,
    /// 2: tell the user, do not ask.
    Informative,
    /// 3: ask the user before syncing.
    UserInteraction,
}

/// Who asked for the sync (1 bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Initiator {
    /// 0: a user action on the server side.
    User,
    /// 1: the server on its own.
    #[default]
    Server,
}

/// One datastore the client is asked to sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SanSync {
    /// 206–210 when encoding; on the wire as `code − 200` in 4 bits.
    pub sync_type: AlertCode,
    /// OMNA WSP content-type code (24 bits), 0 = unspecified; see [`content_type_code`].
    pub content_type: u32,
    /// The server-side datastore URI the client must alert (`card`, `./contacts`).
    pub server_uri: String,
}

/// The 16 bytes that open a notification. Compare digests with [`SanDigest::matches`]
/// (constant time); there is deliberately no `PartialEq`.
#[derive(Clone, Copy, Default)]
pub struct SanDigest(pub [u8; DIGEST_LEN]);

/// What the digest is keyed with (§8.2). Implementations disagree on all three parts, so each is
/// the caller's choice per device profile.
#[derive(Clone, Copy)]
pub struct SanSecret<'a> {
    /// Hashed with the password: normally the server identifier written in the notification;
    /// SyncEvolution as a server uses the sync user name instead.
    pub identity: &'a str,
    pub password: &'a str,
    /// Raw nonce bytes (already base64-decoded), normally the last nonce the client sent.
    pub nonce: &'a [u8],
}

/// Why a notification could not be encoded or decoded.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SanError {
    #[error("SAN truncated at byte {offset}: {field} needs {needed} byte(s), {available} left")]
    Truncated { field: &'static str, offset: usize, needed: usize, available: usize },
    #[error("SAN {field} at byte {offset} is not UTF-8")]
    NotUtf8 { field: &'static str, offset: usize },
    #[error("server identifier is {len} bytes long; a SAN allows at most 255")]
    ServerIdTooLong { len: usize },
    #[error("server URI of sync {index} is {len} bytes long; a SAN allows at most 255")]
    ServerUriTooLong { index: usize, len: usize },
    #[error("{count} syncs; a SAN carries at most 15 (none means all datastores)")]
    TooManySyncs { count: usize },
    #[error("content type {code:#x} of sync {index} does not fit in 24 bits")]
    ContentTypeTooLarge { index: usize, code: u32 },
    #[error("sync type {code} of sync {index} is not a server-alerted sync type (206-210)")]
    SyncType { index: usize, code: u16 },
}

impl San {
    /// Writes the notification. With a secret the digest is computed over every byte after it
    /// (§8.2); without one it is all zeros, as libsynthesis does when no secret is configured.
    ///
    /// Fails for a server identifier or URI longer than 255 bytes, more than 15 syncs, a content
    /// type wider than 24 bits, or a sync type outside 206–210. The 4-bit field could carry
    /// 200–215, but only 206–210 are defined for a SAN, so anything else is a bug in the caller
    /// rather than something to put on the air (decoding still accepts all 16 values).
    pub fn encode(&self, secret: Option<&SanSecret<'_>>) -> Result<Vec<u8>, SanError> {
        let id = self.server_id.as_bytes();
        let id_len = u8::try_from(id.len()).map_err(|_| SanError::ServerIdTooLong { len: id.len() })?;
        let count = self.syncs.len();
        let num_syncs = u8::try_from(count)
            .ok()
            .filter(|n| usize::from(*n) <= MAX_SYNCS)
            .ok_or(SanError::TooManySyncs { count })?;
        let mut out = Vec::with_capacity(
            DIGEST_LEN
                + 9
                + id.len()
                + self.syncs.iter().map(|s| 5 + s.server_uri.len()).sum::<usize>()
                + self.vendor.len(),
        );
        out.extend_from_slice(&[0; DIGEST_LEN]);
        let flags = (u64::from(self.version.0) << 30)
            | (u64::from(self.ui_mode.bits()) << 28)
            | (u64::from(self.initiator.bit()) << 27);
        out.extend_from_slice(&flags.to_be_bytes()[3..]);
        out.extend_from_slice(&self.session_id.to_be_bytes());
        out.push(id_len);
        out.extend_from_slice(id);
        out.push(num_syncs << 4);
        for (index, sync) in self.syncs.iter().enumerate() {
            sync.encode_into(index, &mut out)?;
        }
        out.extend_from_slice(&self.vendor);
        if let Some(secret) = secret {
            // `out` starts with the DIGEST_LEN placeholder bytes written above.
            let (head, notification) = out.split_at_mut(DIGEST_LEN);
            head.copy_from_slice(&secret.digest(notification).0);
        }
        Ok(out)
    }

    /// [`San::encode`] signed with `B64(H(identity ":" password))` given already hashed (see
    /// [`digest_hashed`]).
    pub fn encode_hashed(&self, credentials: &str, nonce: &[u8]) -> Result<Vec<u8>, SanError> {
        let mut out = self.encode(None)?;
        let (head, notification) = out.split_at_mut(DIGEST_LEN);
        head.copy_from_slice(&digest_hashed(credentials, nonce, notification));
        Ok(out)
    }

    /// Reads a notification and the digest it carries (unchecked; see [`verify`]). Never
    /// panics; a short or malformed input is an error naming the field and byte offset.
    pub fn decode(bytes: &[u8]) -> Result<(San, SanDigest), SanError> {
        let mut reader = Reader { bytes, pos: 0 };
        let digest = SanDigest(reader.array("digest")?);
        let [a, b, c, d, e] = reader.array("version/ui-mode/initiator")?;
        let flags = u64::from_be_bytes([0, 0, 0, a, b, c, d, e]);
        let version = SanVersion(((flags >> 30) & 0x3FF) as u16);
        let ui_mode = UiMode::from_bits((flags >> 28) as u8);
        let initiator = if (flags >> 27) & 1 == 1 { Initiator::Server } else { Initiator::User };
        let session_id = u16::from_be_bytes(reader.array("session id")?);
        let id_len = reader.byte("server identifier length")?;
        let server_id = reader.string(usize::from(id_len), "server identifier")?;
        let count = reader.byte("num-syncs")? >> 4;
        let syncs = (0..count).map(|_| SanSync::decode(&mut reader)).collect::<Result<Vec<_>, _>>()?;
        let vendor = reader.rest().to_vec();
        Ok((San { version, ui_mode, initiator, session_id, server_id, syncs, vendor }, digest))
    }

    /// The version field of a would-be notification, without decoding the rest: receivers tell
    /// a 1.2 binary SAN from a 1.0/1.1 SyncML one by it (§8.4). `None` when too short.
    pub fn peek_version(bytes: &[u8]) -> Option<SanVersion> {
        let [high, low] = *bytes.get(DIGEST_LEN..DIGEST_LEN + 2)?.first_chunk::<2>()?;
        Some(SanVersion((u16::from(high) << 2) | u16::from(low >> 6)))
    }
}

impl SanVersion {
    /// DS 1.1 (only meaningful in the 1.1 form's detection; the binary format is 1.2's).
    pub const V1_1: SanVersion = SanVersion(11);
    /// DS 1.2, the version of this format.
    pub const V1_2: SanVersion = SanVersion(12);

    /// A version number, if it fits in 10 bits.
    pub fn new(number: u16) -> Option<SanVersion> {
        (number <= 0x3FF).then_some(SanVersion(number))
    }

    /// The number as on the wire (12 for 1.2).
    pub fn number(self) -> u16 {
        self.0
    }
}

impl Default for SanVersion {
    fn default() -> Self {
        SanVersion::V1_2
    }
}

impl fmt::Display for SanVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}

impl UiMode {
    fn bits(self) -> u8 {
        match self {
            UiMode::NotSpecified => 0,
            UiMode::Background => 1,
            UiMode::Informative => 2,
            UiMode::UserInteraction => 3,
        }
    }

    /// The mode in the low two bits of `bits`.
    fn from_bits(bits: u8) -> UiMode {
        match bits & 3 {
            0 => UiMode::NotSpecified,
            1 => UiMode::Background,
            2 => UiMode::Informative,
            _ => UiMode::UserInteraction,
        }
    }
}

impl Initiator {
    fn bit(self) -> u8 {
        match self {
            Initiator::User => 0,
            Initiator::Server => 1,
        }
    }
}

impl SanSync {
    fn encode_into(&self, index: usize, out: &mut Vec<u8>) -> Result<(), SanError> {
        let code = self.sync_type.code();
        if !(206..=210).contains(&code) {
            return Err(SanError::SyncType { index, code });
        }
        if self.content_type > MAX_CONTENT_TYPE {
            return Err(SanError::ContentTypeTooLarge { index, code: self.content_type });
        }
        let uri = self.server_uri.as_bytes();
        let uri_len = u8::try_from(uri.len()).map_err(|_| SanError::ServerUriTooLong { index, len: uri.len() })?;
        // code is 206–210, checked above, so code − 200 fits in the 4-bit nibble.
        out.push(((code - 200) as u8) << 4);
        out.extend_from_slice(&self.content_type.to_be_bytes()[1..]);
        out.push(uri_len);
        out.extend_from_slice(uri);
        Ok(())
    }

    fn decode(reader: &mut Reader<'_>) -> Result<SanSync, SanError> {
        let sync_type = AlertCode::from(200 + u16::from(reader.byte("sync type")? >> 4));
        let [a, b, c] = reader.array("content type")?;
        let content_type = u32::from_be_bytes([0, a, b, c]);
        let uri_len = reader.byte("server URI length")?;
        let server_uri = reader.string(usize::from(uri_len), "server URI")?;
        Ok(SanSync { sync_type, content_type, server_uri })
    }
}

impl Serialize for SanSync {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("SanSync", 4)?;
        out.serialize_field("sync_type", &self.sync_type.code())?;
        out.serialize_field("content_type", &self.content_type)?;
        out.serialize_field("content_type_name", &content_type_name(self.content_type))?;
        out.serialize_field("server_uri", &self.server_uri)?;
        out.end()
    }
}

impl SanDigest {
    /// The all-zero digest written when no secret is configured.
    pub const UNSIGNED: SanDigest = SanDigest([0; DIGEST_LEN]);

    /// All zeros: the sender had no secret.
    pub fn is_unsigned(&self) -> bool {
        self.matches(&SanDigest::UNSIGNED)
    }

    /// Constant-time comparison.
    pub fn matches(&self, other: &SanDigest) -> bool {
        let diff = self.0.iter().zip(other.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Display for SanDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for SanDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SanDigest({self})")
    }
}

impl Serialize for SanDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex(&self.0))
    }
}

impl SanSecret<'_> {
    /// The digest of `notification` (every byte after the digest field).
    pub fn digest(&self, notification: &[u8]) -> SanDigest {
        SanDigest(digest(self.identity, self.password, self.nonce, notification))
    }
}

impl fmt::Debug for SanSecret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SanSecret")
            .field("identity", &self.identity)
            .field("password", &"<redacted>")
            .field("nonce", &hex(self.nonce))
            .finish()
    }
}

/// `H( B64(H(identity ":" password)) ":" nonce ":" B64(H(notification)) )`, H = MD5, B64 =
/// padded standard base64 (§8.2). `notification` is every byte after the 16-byte digest.
pub fn digest(identity: &str, password: &str, nonce: &[u8], notification: &[u8]) -> [u8; DIGEST_LEN] {
    let credentials =
        BASE64.encode(Md5::new().chain_update(identity).chain_update(":").chain_update(password).finalize());
    digest_hashed(&credentials, nonce, notification)
}

/// [`digest`] from `B64(H(identity ":" password))` already computed: a server keeps exactly
/// that of its users (`auth::md5_secret`), so it can sign a notification with the user's sync
/// credentials without knowing the password.
pub fn digest_hashed(credentials: &str, nonce: &[u8], notification: &[u8]) -> [u8; DIGEST_LEN] {
    let body = BASE64.encode(Md5::digest(notification));
    Md5::new()
        .chain_update(credentials)
        .chain_update(":")
        .chain_update(nonce)
        .chain_update(":")
        .chain_update(body)
        .finalize()
        .into()
}

/// Whether `bytes` carries the digest `secret` gives (constant-time compare). False for input
/// shorter than the digest; the rest of the notification need not decode.
pub fn verify(bytes: &[u8], secret: &SanSecret<'_>) -> bool {
    let Some((received, notification)) = bytes.split_first_chunk::<DIGEST_LEN>() else {
        return false;
    };
    secret.digest(notification).matches(&SanDigest(*received))
}

/// The OMNA WSP code of a MIME type for a sync entry's content type (§8.3), 0 (unspecified)
/// when the table has none. Case and whitespace are ignored; parameters other than vCard's
/// `profile` are ignored. `text/vcard` (vCard 3.0 in DS 1.2) maps to
/// `text/directory;profile=vCard`. Whether to announce the older 0x07/0x06 codes instead, as
/// SyncEvolution does by default because most phones support them, is the caller's choice.
pub fn content_type_code(mime: &str) -> u32 {
    let normalized: String = mime.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let base = normalized.split(';').next().unwrap_or_default();
    let lookup = |wanted: &str| {
        CONTENT_TYPES.iter().chain(CONTENT_TYPE_ALIASES).find(|(_, name)| name.eq_ignore_ascii_case(wanted))
    };
    lookup(&normalized).or_else(|| lookup(base)).map_or(0, |(code, _)| *code)
}

/// The MIME type of a content-type code from the §8.3 table, if listed.
pub fn content_type_name(code: u32) -> Option<&'static str> {
    CONTENT_TYPES.iter().find(|(known, _)| *known == code).map(|(_, name)| *name)
}

/// §8.3: the OMNA WSP well-known content types that sync entries use.
const CONTENT_TYPES: &[(u32, &str)] = &[
    (0x03, "text/plain"),
    (0x06, "text/x-vcalendar"),
    (0x07, "text/x-vcard"),
    (0x0302, "application/vnd.syncml+xml"),
    (0x0303, "application/vnd.syncml+wbxml"),
    (0x0305, "text/calendar"),
    (0x0306, "application/vnd.omads-email+xml"),
    (0x0307, "application/vnd.omads-file+xml"),
    (0x0308, "application/vnd.omads-folder+xml"),
    (0x0309, "text/directory;profile=vCard"),
];

/// Names that map to a code but are not its canonical name.
const CONTENT_TYPE_ALIASES: &[(u32, &str)] = &[(0x0309, "text/vcard")];

/// A cursor over the input that fails instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, needed: usize, field: &'static str) -> Result<&'a [u8], SanError> {
        let end = self.pos.checked_add(needed).filter(|end| *end <= self.bytes.len());
        let Some(slice) = end.and_then(|end| self.bytes.get(self.pos..end)) else {
            let available = self.bytes.len().saturating_sub(self.pos);
            return Err(SanError::Truncated { field, offset: self.pos, needed, available });
        };
        self.pos += needed;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], SanError> {
        let offset = self.pos;
        let slice = self.take(N, field)?;
        slice.try_into().map_err(|_| SanError::Truncated { field, offset, needed: N, available: slice.len() })
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, SanError> {
        let [byte] = self.array(field)?;
        Ok(byte)
    }

    fn string(&mut self, len: usize, field: &'static str) -> Result<String, SanError> {
        let offset = self.pos;
        let slice = self.take(len, field)?;
        String::from_utf8(slice.to_vec())
            .map_err(|e| SanError::NotUtf8 { field, offset: offset + e.utf8_error().valid_up_to() })
    }

    fn rest(&mut self) -> &'a [u8] {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos = self.bytes.len();
        rest
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn serialize_hex<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_DIGEST: &str = "07f17c8288969cd50077c27ede5fc37f";
    const EXAMPLE_BODY: &str = "03180000001234086d7973657276657210600000070463617264";
    const EXAMPLE_SECRET: SanSecret<'static> =
        SanSecret { identity: "myserver", password: "secret", nonce: b"nonce123" };

    fn unhex(text: &str) -> Vec<u8> {
        let text: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        text.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    fn example() -> San {
        San {
            version: SanVersion::V1_2,
            ui_mode: UiMode::Background,
            initiator: Initiator::Server,
            session_id: 0x1234,
            server_id: "myserver".into(),
            syncs: vec![SanSync {
                sync_type: AlertCode::TwoWayByServer,
                content_type: 0x07,
                server_uri: "card".into(),
            }],
            vendor: vec![],
        }
    }

    #[test]
    fn a_stored_md5_secret_signs_like_the_password() {
        // B64(H("myserver:secret")) is what the gateway keeps for a user "myserver".
        let hashed = crate::auth::md5_secret("myserver", "secret");
        assert_eq!(hashed, "omB0yX8rPXDrRcX/DxmvPQ==");
        let bytes = example().encode_hashed(&hashed, b"nonce123").unwrap();
        assert_eq!(hex(&bytes[..DIGEST_LEN]), EXAMPLE_DIGEST);
        assert!(verify(&bytes, &EXAMPLE_SECRET));
    }

    fn sync(code: u16, content_type: u32, uri: &str) -> SanSync {
        SanSync { sync_type: AlertCode::from(code), content_type, server_uri: uri.into() }
    }

    /// xorshift64: enough randomness to shake the decoder, no extra crate.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn credential_part_matches_protocol_md() {
        let inner = Md5::new().chain_update("myserver:secret").finalize();
        assert_eq!(BASE64.encode(inner), "omB0yX8rPXDrRcX/DxmvPQ==");
    }

    #[test]
    fn worked_example_is_byte_exact() {
        let bytes = example().encode(Some(&EXAMPLE_SECRET)).unwrap();
        assert_eq!(hex(&bytes), format!("{EXAMPLE_DIGEST}{EXAMPLE_BODY}"));
        assert_eq!(hex(&digest("myserver", "secret", b"nonce123", &unhex(EXAMPLE_BODY))), EXAMPLE_DIGEST);

        let (san, received) = San::decode(&bytes).unwrap();
        assert_eq!(san, example());
        assert_eq!(received.to_string(), EXAMPLE_DIGEST);
        assert!(!received.is_unsigned());
    }

    #[test]
    fn no_secret_writes_zero_digest() {
        let bytes = example().encode(None).unwrap();
        assert_eq!(hex(&bytes), format!("{}{EXAMPLE_BODY}", "00".repeat(16)));
        assert!(San::decode(&bytes).unwrap().1.is_unsigned());
        assert!(!verify(&bytes, &EXAMPLE_SECRET));
    }

    #[test]
    fn funambol_sample_decodes() {
        let bytes = unhex(
            "d889279f9b47e368faa8992f3186ac3d 0308000000 0000 10 41545420416464726573732042 6f6f6b
             10 60 000007 04 63617264",
        );
        let (san, digest) = San::decode(&bytes).unwrap();
        assert_eq!(digest.to_string(), "d889279f9b47e368faa8992f3186ac3d");
        assert_eq!(san.version, SanVersion::V1_2);
        assert_eq!(san.version.to_string(), "1.2");
        assert_eq!(san.ui_mode, UiMode::NotSpecified);
        assert_eq!(san.initiator, Initiator::Server);
        assert_eq!(san.session_id, 0);
        assert_eq!(san.server_id, "ATT Address Book");
        assert_eq!(san.syncs, vec![sync(206, 7, "card")]);
        assert!(san.vendor.is_empty());
        assert_eq!(San::peek_version(&bytes), Some(SanVersion::V1_2));
    }

    #[test]
    fn verify_accepts_only_the_right_secret() {
        let bytes = example().encode(Some(&EXAMPLE_SECRET)).unwrap();
        assert!(verify(&bytes, &EXAMPLE_SECRET));
        assert!(!verify(&bytes, &SanSecret { password: "Secret", ..EXAMPLE_SECRET }));
        assert!(!verify(&bytes, &SanSecret { nonce: b"nonce124", ..EXAMPLE_SECRET }));
        assert!(!verify(&bytes, &SanSecret { identity: "myserver2", ..EXAMPLE_SECRET }));
        for index in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[index] ^= 0x01;
            assert!(!verify(&flipped, &EXAMPLE_SECRET), "flipped byte {index}");
        }
        assert!(!verify(&bytes[..DIGEST_LEN - 1], &EXAMPLE_SECRET));
        assert!(!verify(&[], &EXAMPLE_SECRET));
    }

    #[test]
    fn round_trips() {
        let fifteen = (0..15).map(|i| sync(206 + i % 5, u32::from(i) * 0x1111, &format!("./store{i}"))).collect();
        let cases = [
            San::default(),
            San { ui_mode: UiMode::Informative, initiator: Initiator::User, ..example() },
            San { ui_mode: UiMode::UserInteraction, session_id: u16::MAX, syncs: fifteen, ..example() },
            San { ui_mode: UiMode::NotSpecified, syncs: vec![], vendor: vec![0, 0xff, 0x10, 0x42], ..example() },
            San {
                version: SanVersion::new(1023).unwrap(),
                server_id: "é".repeat(127),
                syncs: vec![sync(210, MAX_CONTENT_TYPE, &"u".repeat(255))],
                vendor: b"vendor".to_vec(),
                ..example()
            },
        ];
        for san in cases {
            for secret in [None, Some(&EXAMPLE_SECRET)] {
                let bytes = san.encode(secret).unwrap();
                let (decoded, digest) = San::decode(&bytes).unwrap();
                assert_eq!(decoded, san);
                assert_eq!(digest.is_unsigned(), secret.is_none());
                assert_eq!(verify(&bytes, &EXAMPLE_SECRET), secret.is_some());
                assert_eq!(San::peek_version(&bytes), Some(san.version));
            }
        }
    }

    #[test]
    fn version_11_bits_and_unknown_versions_are_kept() {
        let bytes = San { version: SanVersion::V1_1, ..example() }.encode(None).unwrap();
        assert_eq!(bytes[16..18], [0x02, 0xD8]);
        assert_eq!(San::decode(&bytes).unwrap().0.version, SanVersion::V1_1);
        assert_eq!(SanVersion::new(1024), None);
    }

    #[test]
    fn future_bits_and_reserved_sync_types_decode() {
        let mut bytes = unhex(&format!("{}{EXAMPLE_BODY}", "00".repeat(16)));
        bytes[17] |= 0x07; // future-use bits after the initiator
        bytes[20] = 0xff;
        bytes[32] |= 0x0f; // future-use nibble after num-syncs
        bytes[33] = 0xf5; // sync type nibble 15 (215) and its future-use nibble
        let (san, _) = San::decode(&bytes).unwrap();
        assert_eq!(san.session_id, 0x1234);
        assert_eq!(san.syncs[0].sync_type, AlertCode::Other(215));
        assert_eq!(san.syncs[0].server_uri, "card");
        assert_eq!(san.encode(None), Err(SanError::SyncType { index: 0, code: 215 }));
    }

    #[test]
    fn encode_rejects_what_the_format_cannot_carry() {
        let long = "x".repeat(256);
        assert_eq!(
            San { server_id: long.clone(), ..example() }.encode(None),
            Err(SanError::ServerIdTooLong { len: 256 })
        );
        let syncs = vec![sync(206, 7, "card"), sync(206, 7, &long)];
        assert_eq!(San { syncs, ..example() }.encode(None), Err(SanError::ServerUriTooLong { index: 1, len: 256 }));
        let syncs = vec![sync(206, 7, "card"); 16];
        assert_eq!(San { syncs, ..example() }.encode(None), Err(SanError::TooManySyncs { count: 16 }));
        let syncs = vec![sync(206, 0x0100_0000, "card")];
        assert_eq!(
            San { syncs, ..example() }.encode(None),
            Err(SanError::ContentTypeTooLarge { index: 0, code: 0x0100_0000 })
        );
        for code in [200, 205, 211, 216] {
            let syncs = vec![sync(code, 7, "card")];
            assert_eq!(San { syncs, ..example() }.encode(None), Err(SanError::SyncType { index: 0, code }));
        }
    }

    #[test]
    fn errors_name_field_and_offset() {
        let bytes = example().encode(None).unwrap();
        assert_eq!(
            San::decode(&bytes[..40]).err(),
            Some(SanError::Truncated { field: "server URI", offset: 38, needed: 4, available: 2 })
        );
        assert_eq!(
            San::decode(&bytes[..10]).unwrap_err().to_string(),
            "SAN truncated at byte 0: digest needs 16 byte(s), 10 left"
        );
        let mut bad = bytes.clone();
        bad[25] = 0xff; // inside "myserver"
        assert_eq!(San::decode(&bad).err(), Some(SanError::NotUtf8 { field: "server identifier", offset: 25 }));
    }

    #[test]
    fn decode_never_panics() {
        let mut full = example().encode(Some(&EXAMPLE_SECRET)).unwrap();
        full.extend_from_slice(b"vendor");
        for len in 0..full.len() {
            let _ = San::decode(&full[..len]);
            let _ = San::peek_version(&full[..len]);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut decoded_syncs = 0;
        for round in 0..20_000 {
            let bytes = if round % 2 == 0 { random_bytes(&mut rng) } else { mutated_san(&mut rng) };
            if let Ok((san, _)) = San::decode(&bytes) {
                decoded_syncs += san.syncs.len();
                // Whatever decodes re-encodes, unless it carries a reserved sync type.
                if san.syncs.iter().all(|s| (206..=210).contains(&s.sync_type.code())) {
                    let again = San::decode(&san.encode(None).unwrap()).unwrap().0;
                    assert_eq!(again, san);
                }
            }
        }
        assert!(decoded_syncs > 1000, "the loop should reach the sync entries ({decoded_syncs})");
    }

    fn random_bytes(rng: &mut Rng) -> Vec<u8> {
        let len = (rng.next_u64() % 96) as usize;
        (0..len).map(|_| rng.next_u64() as u8).collect()
    }

    /// A valid notification with one to three bytes overwritten and maybe cut short.
    fn mutated_san(rng: &mut Rng) -> Vec<u8> {
        let count = (rng.next_u64() % 16) as u16;
        let syncs = (0..count)
            .map(|i| sync(206 + i % 5, rng.next_u64() as u32 & MAX_CONTENT_TYPE, &"u".repeat(i.into())))
            .collect();
        let vendor = random_bytes(rng);
        let mut bytes = San { syncs, vendor, ..example() }.encode(None).unwrap();
        for _ in 0..=rng.next_u64() % 3 {
            let index = (rng.next_u64() % bytes.len() as u64) as usize;
            bytes[index] = rng.next_u64() as u8;
        }
        if rng.next_u64() % 4 == 0 {
            bytes.truncate((rng.next_u64() % bytes.len() as u64) as usize);
        }
        bytes
    }

    #[test]
    fn content_type_table() {
        assert_eq!(content_type_code("text/x-vcard"), 0x07);
        assert_eq!(content_type_code("Text/X-vCard; charset=UTF-8"), 0x07);
        assert_eq!(content_type_code("text/x-vcalendar"), 0x06);
        assert_eq!(content_type_code("text/calendar"), 0x0305);
        assert_eq!(content_type_code("text/directory; profile=vCard"), 0x0309);
        assert_eq!(content_type_code("text/vcard"), 0x0309);
        assert_eq!(content_type_code("application/vnd.omads-folder+xml"), 0x0308);
        assert_eq!(content_type_code("application/x-unknown"), 0);
        assert_eq!(content_type_code(""), 0);
        assert_eq!(content_type_name(0x07), Some("text/x-vcard"));
        assert_eq!(content_type_name(0x0309), Some("text/directory;profile=vCard"));
        assert_eq!(content_type_name(0), None);
        for (code, name) in CONTENT_TYPES {
            assert_eq!(content_type_code(name), *code);
        }
    }

    #[test]
    fn serializes_as_readable_json() {
        let (san, digest) = San::decode(&example().encode(Some(&EXAMPLE_SECRET)).unwrap()).unwrap();
        let san = San { vendor: vec![0xab, 0x01], ..san };
        let json = serde_json::to_value(&san).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "version": 12,
                "ui_mode": "background",
                "initiator": "server",
                "session_id": 0x1234,
                "server_id": "myserver",
                "syncs": [{
                    "sync_type": 206,
                    "content_type": 7,
                    "content_type_name": "text/x-vcard",
                    "server_uri": "card"
                }],
                "vendor": "ab01"
            })
        );
        assert_eq!(serde_json::to_value(digest).unwrap(), EXAMPLE_DIGEST);
        let other = serde_json::to_value(sync(207, 0x1234, "x")).unwrap();
        assert_eq!(other["content_type_name"], serde_json::Value::Null);
        assert_eq!(serde_json::to_value(UiMode::UserInteraction).unwrap(), "user_interaction");
    }

    #[test]
    fn secret_debug_hides_password() {
        let text = format!("{EXAMPLE_SECRET:?}");
        assert!(!text.contains("secret\""), "{text}");
        assert!(text.contains("redacted"));
    }
}
