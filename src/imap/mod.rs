//! A small blocking IMAP4rev1 client for the IMAP store (`store::imap`) and the IDLE watcher
//! (`server::imap_watch`): LOGIN, LIST, STATUS, SELECT, UID FETCH (with CONDSTORE's
//! CHANGEDSINCE and QRESYNC's VANISHED), APPEND (UIDPLUS), UID STORE, UID MOVE (or COPY and
//! expunge), UID EXPUNGE, CREATE/RENAME/DELETE, NOOP, IDLE.
//!
//! Layout: `conn` (the connection: tags, literals, timeouts, size limits), `parse` (responses
//! into tokens and what they say; pure), `utf7` (mailbox names in modified UTF-7; pure).
//! Mailbox names in this API are UTF-8 full paths with the server's delimiter. Plain TCP: put
//! the IMAP server on loopback or a trusted network. This module knows nothing of the store.

mod conn;
pub mod parse;
pub mod tls;
pub mod utf7;

pub use conn::Connection;
pub use tls::{Security, TlsClient};

/// Why an IMAP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// Connecting, reading or writing failed or timed out (the server is down or slow).
    #[error("IMAP connection: {0}")]
    Io(String),
    /// A tagged NO, with the server's text (wrong password, no such mailbox, ...).
    #[error("IMAP server said NO: {0}")]
    No(String),
    /// A tagged BAD: the server did not understand the command.
    #[error("IMAP server said BAD: {0}")]
    Bad(String),
    /// A response that does not parse or breaks a limit.
    #[error("IMAP protocol: {0}")]
    Protocol(String),
    /// The server closed the connection (an untagged BYE, or end of stream).
    #[error("IMAP server closed the connection: {0}")]
    Bye(String),
}

impl ImapError {
    /// Whether the server is unreachable or gone (try again later), as opposed to refusing.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ImapError::Io(_) | ImapError::Bye(_))
    }
}

/// A mailbox as LIST names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxInfo {
    /// The full path, decoded to UTF-8.
    pub name: String,
    /// The hierarchy delimiter; `None` for a flat name space.
    pub delimiter: Option<char>,
    /// `\Noselect`, `\HasChildren`, `\Sent`, ... as sent.
    pub attributes: Vec<String>,
}

/// What STATUS says of a mailbox (0 for what the server did not say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxStatus {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub messages: u32,
    /// With CONDSTORE.
    pub highestmodseq: Option<u64>,
    /// With OBJECTID (RFC 8474).
    pub mailboxid: Option<String>,
}

/// A message's metadata from UID FETCH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: u32,
    /// Its flags as sent, without the per-session `\Recent`.
    pub flags: Vec<String>,
    /// With CONDSTORE.
    pub modseq: Option<u64>,
    /// RFC822.SIZE.
    pub size: Option<u64>,
}

/// What SELECT says of the selected mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub exists: u32,
    /// `None` without CONDSTORE or with NOMODSEQ.
    pub highestmodseq: Option<u64>,
}

/// How UID STORE changes flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagMode {
    /// Replace them (`FLAGS.SILENT`).
    Set,
    /// Add these (`+FLAGS.SILENT`).
    Add,
    /// Remove these (`-FLAGS.SILENT`).
    Remove,
}
