//! A server Add/Replace sent as a large object (PROTOCOL.md §1.7): one chunk per message, the
//! total size in the first chunk's Meta, MoreData on all but the last.
//!
//! An item larger than the client's messages is not read into memory: each chunk is read from
//! the store when its message is packed ([`Store::item_bytes`]), so sending a 100 MB video holds
//! one chunk. Should the item change while it is being sent (its seq moves), the object is
//! abandoned rather than sent mixed; it stays unacknowledged and goes again next session.

use crate::codec::estimate;
use crate::engine::server_sync::OutRef;
use crate::proto::{CmdName, Command, Data, Meta};
use crate::store::{ItemInfo, Store, StoreError, UserId};

/// The smallest chunk of data worth a message.
pub(crate) const MIN_CHUNK: usize = 512;

/// Where the content of an object being sent comes from: in hand, or the store.
#[derive(Debug)]
enum Body {
    Held(Vec<u8>),
    Stored(StoredBody),
}

/// An item's content left in the store, read a chunk at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredBody {
    pub(crate) datastore: String,
    pub(crate) guid: String,
    /// The item's seq when its sending started.
    pub(crate) seq: u64,
    pub(crate) size: u64,
}

impl StoredBody {
    pub(crate) fn of(datastore: &str, info: &ItemInfo) -> StoredBody {
        StoredBody { datastore: datastore.into(), guid: info.guid.clone(), seq: info.seq, size: info.size }
    }
}

/// A server Add/Replace being sent as a large object.
#[derive(Debug)]
pub(crate) struct OutChunk {
    /// Index of the datastore in the session.
    pub(crate) ds: usize,
    pub(crate) cmd: CmdName,
    /// The command without data (its Meta, the Item's Source/Target), repeated for each chunk.
    template: Command,
    /// The item's LocURI (GUID for an Add, LUID for a Replace).
    pub(crate) uri: String,
    /// The change it sends (saved on suspend).
    oref: OutRef,
    body: Body,
    total: u64,
    /// Bytes sent so far.
    pub(crate) sent: u64,
    /// (MsgID, CmdID) of the last non-final chunk until the client answers it.
    pub(crate) awaiting: Option<(u32, u32)>,
}

impl OutChunk {
    /// A large object from a command; its data is taken from the command unless `stored` says
    /// it stays in the store (the command then has none).
    pub(crate) fn new(ds: usize, oref: OutRef, mut template: Command, stored: Option<StoredBody>) -> Option<OutChunk> {
        let (cmd, item) = match &mut template {
            Command::Add(a) if a.items.len() == 1 => (CmdName::Add, &mut a.items[0]),
            Command::Replace(a) if a.items.len() == 1 => (CmdName::Replace, &mut a.items[0]),
            other => {
                tracing::warn!(
                    cmd = other.name().as_str(),
                    "command too large for the client's MaxMsgSize cannot be chunked: not sent"
                );
                return None;
            }
        };
        let (body, total) = match (stored, item.data.take()) {
            (Some(st), _) => {
                let total = st.size;
                (Body::Stored(st), total)
            }
            (None, Some(Data::Bytes(data))) => {
                let total = data.len() as u64;
                (Body::Held(data), total)
            }
            (None, _) => return None,
        };
        let uri = item
            .source
            .as_ref()
            .map(|x| x.loc_uri.clone())
            .or_else(|| item.target.as_ref().map(|x| x.loc_uri.clone()))
            .unwrap_or_default();
        Some(OutChunk { ds, cmd, template, uri, oref, body, total, sent: 0, awaiting: None })
    }

    /// The change it sends (the datastore's index with it), to be sent anew after a resume.
    pub(crate) fn into_whole(self) -> (usize, OutRef) {
        (self.ds, self.oref)
    }

    pub(crate) fn done(&self) -> bool {
        self.sent >= self.total
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The next chunk, its encoded size at most about `room` bytes (XML escaping counted);
    /// `None` when the stored item changed or went away since the first chunk.
    pub(crate) fn next_chunk(
        &mut self,
        room: usize,
        store: &dyn Store,
        user: UserId,
    ) -> Result<Option<Command>, StoreError> {
        let first = self.sent == 0;
        let budget = room.saturating_sub(estimate(&self.template) + 200).max(MIN_CHUNK);
        // At most `budget` bytes fit (each costs at least one).
        let window: std::borrow::Cow<'_, [u8]> = match &self.body {
            Body::Held(data) => {
                let start = usize::try_from(self.sent).unwrap_or(data.len()).min(data.len());
                let end = start.saturating_add(budget).min(data.len());
                std::borrow::Cow::Borrowed(&data[start..end])
            }
            Body::Stored(st) => match store.item_bytes(user, &st.datastore, &st.guid, self.sent, budget)? {
                Some((seq, bytes)) if seq == st.seq => std::borrow::Cow::Owned(bytes),
                _ => {
                    tracing::warn!(uri = %self.uri, sent = self.sent, total = self.total, "item changed while it was being sent: large object abandoned");
                    return Ok(None);
                }
            },
        };
        let mut n = 0;
        let mut cost = 0;
        while n < window.len() {
            let c = if matches!(window[n], b'\r' | b'&' | b'<' | b'>') { 6 } else { 1 };
            if cost + c > budget {
                break;
            }
            cost += c;
            n += 1;
        }
        // Never split a UTF-8 sequence of text (the XML encoding needs valid text in each
        // chunk): a piece that is text up to an incomplete last character stops before it.
        if self.sent + (n as u64) < self.total {
            if let Err(e) = std::str::from_utf8(&window[..n]) {
                if e.error_len().is_none() && e.valid_up_to() > 0 {
                    n = e.valid_up_to();
                }
            }
        }
        let piece = window[..n].to_vec();
        self.sent += n as u64;
        let more = !self.done();
        let mut cmd = self.template.clone();
        let item = match &mut cmd {
            Command::Add(a) => &mut a.items[0],
            Command::Replace(a) => &mut a.items[0],
            // Invariant: `new` only accepts Add and Replace.
            _ => unreachable!("chunked command is an Add or Replace"),
        };
        item.data = Some(Data::Bytes(piece));
        item.more_data = more;
        if first {
            item.meta.get_or_insert_with(Meta::default).size = Some(self.total);
        }
        Ok(Some(cmd))
    }
}
