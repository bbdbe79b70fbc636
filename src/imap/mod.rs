//! Placeholder of the IMAP client's types (the client itself is being written); replaced by the
//! real module before this lands.

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
