//! A small blocking IMAP4rev1 client for the IMAP store (`store::imap`): LOGIN, LIST, STATUS,
//! SELECT, UID FETCH (with CONDSTORE's CHANGEDSINCE and QRESYNC's VANISHED), APPEND (UIDPLUS),
//! UID STORE, UID MOVE (or COPY and expunge), UID EXPUNGE, CREATE/RENAME/DELETE.
//!
//! Layout: `conn` (the connection: tags, literals, timeouts), `parse` (responses into tokens;
//! pure), `utf7` (mailbox names in modified UTF-7). Plain TCP: put the IMAP server on loopback
//! or a trusted network.

mod conn;
pub mod parse;
pub mod utf7;

pub use conn::Connection;

/// Why an IMAP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("IMAP connection: {0}")]
    Io(String),
    #[error("IMAP server said NO: {0}")]
    No(String),
    #[error("IMAP server said BAD: {0}")]
    Bad(String),
    #[error("IMAP protocol: {0}")]
    Protocol(String),
    #[error("IMAP server closed the connection: {0}")]
    Bye(String),
}

impl ImapError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ImapError::Io(_) | ImapError::Bye(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxInfo {
    pub name: String,
    pub delimiter: Option<char>,
    pub attributes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxStatus {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub messages: u32,
    pub highestmodseq: Option<u64>,
    pub mailboxid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    pub uid: u32,
    pub flags: Vec<String>,
    pub modseq: Option<u64>,
    pub size: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub exists: u32,
    pub highestmodseq: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagMode {
    Set,
    Add,
    Remove,
}
