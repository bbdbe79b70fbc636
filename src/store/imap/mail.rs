//! What the IMAP store needs of a connection ([`MailSession`], implemented by
//! `crate::imap::Connection` and, in tests, by an in-memory mail server), where connections come
//! from ([`Mailer`]: logs in as the user, keeps idle connections for reuse), and [`Lease`]: one
//! connection borrowed for one store operation, which remembers the selected mailbox and the
//! hierarchy delimiter and goes back to the pool only if nothing went wrong on it.

use std::fmt;

use crate::imap::{FlagMode, ImapError, MailboxInfo, MessageMeta, Selected};

/// One logged-in IMAP connection (the calls of `crate::imap::Connection`).
pub trait MailSession: Send + std::any::Any {
    fn has(&self, capability: &str) -> bool;
    fn list(&mut self) -> Result<Vec<MailboxInfo>, ImapError>;
    fn select(&mut self, mailbox: &str) -> Result<Selected, ImapError>;
    fn status(&mut self, mailbox: &str) -> Result<crate::imap::MailboxStatus, ImapError>;
    /// Of the selected mailbox: every message's UID and flags (or those changed since a
    /// modseq), and the UIDs expunged since (QRESYNC).
    fn fetch_meta(&mut self, changed_since: Option<u64>) -> Result<(Vec<MessageMeta>, Vec<u32>), ImapError>;
    fn fetch_body(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError>;
    /// Of the selected mailbox: the sizes of the messages with UIDs `first` to `last`.
    fn fetch_sizes(&mut self, first: u32, last: u32) -> Result<Vec<(u32, u64)>, ImapError>;
    /// Of the selected mailbox: the messages with these UIDs (those that exist).
    fn fetch_bodies(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError>;
    /// The mailbox selected on this connection, if any (kept when it goes back to the pool).
    fn selected(&self) -> Option<(String, Selected)> {
        None
    }
    fn append(&mut self, mailbox: &str, flags: &[&str], message: &[u8]) -> Result<Option<u32>, ImapError>;
    fn store_flags(&mut self, uid: u32, mode: FlagMode, flags: &[&str]) -> Result<(), ImapError>;
    fn uid_move(&mut self, uid: u32, to: &str) -> Result<Option<u32>, ImapError>;
    fn delete_message(&mut self, uid: u32) -> Result<(), ImapError>;
    fn create(&mut self, mailbox: &str) -> Result<(), ImapError>;
    fn rename(&mut self, from: &str, to: &str) -> Result<(), ImapError>;
    fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), ImapError>;
}

/// Where connections come from.
pub trait Mailer: Send + Sync + fmt::Debug {
    /// A connection logged in for `user` (from the pool, or new).
    fn open(&self, user: &str) -> Result<Box<dyn MailSession>, ImapError>;
    /// A connection that is still good, for reuse.
    fn give_back(&self, user: &str, session: Box<dyn MailSession>);
}

/// One connection borrowed for one store operation.
pub(crate) struct Lease<'a> {
    mailer: &'a dyn Mailer,
    user: String,
    session: Option<Box<dyn MailSession>>,
    selected: Option<(String, Selected)>,
    delimiter: Option<char>,
    /// A failure of the connection itself: it is not given back.
    broken: bool,
}

impl<'a> Lease<'a> {
    pub(crate) fn open(mailer: &'a dyn Mailer, user: &str) -> Result<Lease<'a>, ImapError> {
        let session = mailer.open(user)?;
        Ok(Lease {
            mailer,
            user: user.to_string(),
            session: Some(session),
            selected: None,
            delimiter: None,
            broken: false,
        })
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut dyn MailSession) -> Result<T, ImapError>) -> Result<T, ImapError> {
        let Some(s) = self.session.as_mut() else { return Err(ImapError::Io("connection already lost".into())) };
        let r = f(s.as_mut());
        if let Err(e) = &r {
            if e.is_unavailable() {
                self.broken = true;
            }
        }
        r
    }

    pub(crate) fn has(&self, capability: &str) -> bool {
        self.session.as_ref().is_some_and(|s| s.has(capability))
    }

    pub(crate) fn list(&mut self) -> Result<Vec<MailboxInfo>, ImapError> {
        let boxes = self.run(|s| s.list())?;
        if let Some(d) = boxes.iter().find_map(|b| b.delimiter) {
            self.delimiter = Some(d);
        }
        Ok(boxes)
    }

    /// The hierarchy delimiter (`/` when the server has no hierarchy).
    pub(crate) fn delimiter(&mut self) -> Result<char, ImapError> {
        if self.delimiter.is_none() {
            self.list()?;
        }
        Ok(self.delimiter.unwrap_or('/'))
    }

    pub(crate) fn status(&mut self, mailbox: &str) -> Result<crate::imap::MailboxStatus, ImapError> {
        self.run(|s| s.status(mailbox))
    }

    /// Selects `mailbox` unless it is selected already.
    pub(crate) fn select(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        if let Some((m, sel)) = &self.selected {
            if m == mailbox {
                return Ok(sel.clone());
            }
        }
        let sel = self.run(|s| s.select(mailbox))?;
        self.selected = Some((mailbox.to_string(), sel.clone()));
        Ok(sel)
    }

    /// Selects `mailbox` again (to see what changed since it was selected).
    pub(crate) fn reselect(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        self.selected = None;
        self.select(mailbox)
    }

    pub(crate) fn fetch_meta(&mut self, changed_since: Option<u64>) -> Result<(Vec<MessageMeta>, Vec<u32>), ImapError> {
        self.run(|s| s.fetch_meta(changed_since))
    }

    pub(crate) fn fetch_body(&mut self, mailbox: &str, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        self.select(mailbox)?;
        self.run(|s| s.fetch_body(uid))
    }

    pub(crate) fn fetch_sizes(&mut self, mailbox: &str, first: u32, last: u32) -> Result<Vec<(u32, u64)>, ImapError> {
        self.select(mailbox)?;
        self.run(|s| s.fetch_sizes(first, last))
    }

    pub(crate) fn fetch_bodies(&mut self, mailbox: &str, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        self.select(mailbox)?;
        self.run(|s| s.fetch_bodies(uids))
    }

    pub(crate) fn append(&mut self, mailbox: &str, flags: &[&str], message: &[u8]) -> Result<Option<u32>, ImapError> {
        self.run(|s| s.append(mailbox, flags, message))
    }

    pub(crate) fn store_flags(
        &mut self,
        mailbox: &str,
        uid: u32,
        mode: FlagMode,
        flags: &[&str],
    ) -> Result<(), ImapError> {
        if flags.is_empty() {
            return Ok(());
        }
        self.select(mailbox)?;
        self.run(|s| s.store_flags(uid, mode, flags))
    }

    pub(crate) fn uid_move(&mut self, mailbox: &str, uid: u32, to: &str) -> Result<Option<u32>, ImapError> {
        self.select(mailbox)?;
        self.run(|s| s.uid_move(uid, to))
    }

    pub(crate) fn delete_message(&mut self, mailbox: &str, uid: u32) -> Result<(), ImapError> {
        self.select(mailbox)?;
        self.run(|s| s.delete_message(uid))
    }

    pub(crate) fn create(&mut self, mailbox: &str) -> Result<(), ImapError> {
        self.run(|s| s.create(mailbox))
    }

    pub(crate) fn rename(&mut self, from: &str, to: &str) -> Result<(), ImapError> {
        // A selected mailbox being renamed is selected no more under its old name.
        self.selected = None;
        self.run(|s| s.rename(from, to))
    }

    pub(crate) fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), ImapError> {
        self.selected = None;
        self.run(|s| s.delete_mailbox(mailbox))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            if !self.broken {
                self.mailer.give_back(&self.user, s);
            }
        }
    }
}
