//! The pool of IMAP connections ([`ImapMailer`]) the IMAP store borrows from, logged in as
//! `[imap]` says (`config.rs`). Idle connections are kept per user (up to `pool_per_user`) and
//! closed after `idle_secs`; a connection that failed is never reused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::imap::{Connection, FlagMode, ImapError, MailboxInfo, MessageMeta, Security, Selected};
use crate::store::imap::config::ImapConfig;
use crate::store::imap::mail::{MailSession, Mailer};

/// Connections to the IMAP server, pooled per user.
#[derive(Debug)]
pub struct ImapMailer {
    config: ImapConfig,
    /// Plain or TLS, as `[imap] tls` says (an unusable CA file fails every connection).
    security: Result<Security, String>,
    idle: Mutex<HashMap<String, Vec<(Instant, Connection)>>>,
}

impl ImapMailer {
    pub fn new(config: ImapConfig) -> ImapMailer {
        let security = config.security();
        ImapMailer { config, security, idle: Mutex::default() }
    }
}

impl Mailer for ImapMailer {
    fn open(&self, user: &str) -> Result<Box<dyn MailSession>, ImapError> {
        let max_idle = Duration::from_secs(self.config.idle_secs);
        if let Ok(mut idle) = self.idle.lock() {
            if let Some(list) = idle.get_mut(user) {
                while let Some((since, mut conn)) = list.pop() {
                    // A server restarted since leaves dead connections behind: check first.
                    if since.elapsed() < max_idle && conn.noop().is_ok() {
                        return Ok(Box::new(conn));
                    }
                    conn.logout();
                }
            }
        }
        let timeout = Duration::from_secs(self.config.timeout_secs.max(1));
        let security = self.security.as_ref().map_err(|e| ImapError::Io(e.clone()))?;
        let mut conn = Connection::connect_with(&self.config.address, timeout, security)?;
        let (name, password) = self.config.credentials(user)?;
        conn.login(&name, &password)?;
        tracing::debug!(%user, address = %self.config.address, "IMAP connection opened");
        Ok(Box::new(conn))
    }

    fn give_back(&self, user: &str, session: Box<dyn MailSession>) {
        // Only our own connections come back here.
        let any: Box<dyn std::any::Any> = session;
        let Ok(conn) = any.downcast::<Connection>() else { return };
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(user.to_string()).or_default();
            if list.len() < self.config.pool_per_user {
                list.push((Instant::now(), *conn));
            }
        }
    }
}

impl MailSession for Connection {
    fn has(&self, capability: &str) -> bool {
        Connection::has(self, capability)
    }

    fn list(&mut self) -> Result<Vec<MailboxInfo>, ImapError> {
        Connection::list(self)
    }

    fn select(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        Connection::select(self, mailbox)
    }

    fn status(&mut self, mailbox: &str) -> Result<crate::imap::MailboxStatus, ImapError> {
        Connection::status(self, mailbox)
    }

    fn fetch_meta(&mut self, changed_since: Option<u64>) -> Result<(Vec<MessageMeta>, Vec<u32>), ImapError> {
        Connection::fetch_meta(self, changed_since)
    }

    fn fetch_body(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        Connection::fetch_body(self, uid)
    }

    fn fetch_sizes(&mut self, first: u32, last: u32) -> Result<Vec<(u32, u64)>, ImapError> {
        Connection::fetch_sizes(self, first, last)
    }

    fn fetch_bodies(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        Connection::fetch_bodies(self, uids)
    }

    fn selected(&self) -> Option<(String, Selected)> {
        Connection::selected(self)
    }

    fn append(&mut self, mailbox: &str, flags: &[&str], message: &[u8]) -> Result<Option<u32>, ImapError> {
        Connection::append(self, mailbox, flags, message)
    }

    fn store_flags(&mut self, uid: u32, mode: FlagMode, flags: &[&str]) -> Result<(), ImapError> {
        Connection::store_flags(self, uid, mode, flags)
    }

    fn uid_move(&mut self, uid: u32, to: &str) -> Result<Option<u32>, ImapError> {
        Connection::uid_move(self, uid, to)
    }

    fn delete_message(&mut self, uid: u32) -> Result<(), ImapError> {
        Connection::delete_message(self, uid)
    }

    fn create(&mut self, mailbox: &str) -> Result<(), ImapError> {
        Connection::create(self, mailbox)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), ImapError> {
        Connection::rename(self, from, to)
    }

    fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), ImapError> {
        Connection::delete_mailbox(self, mailbox)
    }
}
