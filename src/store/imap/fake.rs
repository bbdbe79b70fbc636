//! An in-memory IMAP server for the IMAP store's tests: mailboxes with UIDVALIDITY, UIDs,
//! flags and modseqs (CONDSTORE/QRESYNC semantics), shared by every connection of a user, with
//! a switch that makes it unreachable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::imap::{FlagMode, ImapError, MailboxInfo, MessageMeta, Selected};
use crate::store::imap::mail::{MailSession, Mailer};

#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: u32,
    /// UID → (flags, body, modseq).
    pub(crate) messages: BTreeMap<u32, (Vec<String>, Vec<u8>, u64)>,
    /// UID → modseq of its expunge.
    pub(crate) vanished: BTreeMap<u32, u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Server {
    pub(crate) boxes: BTreeMap<(String, String), Mailbox>,
    pub(crate) modseq: u64,
    pub(crate) down: bool,
    pub(crate) next_validity: u32,
}

impl Server {
    fn mailbox(&mut self, user: &str, name: &str) -> Result<&mut Mailbox, ImapError> {
        self.boxes
            .get_mut(&(user.to_string(), name.to_string()))
            .ok_or_else(|| ImapError::No(format!("no mailbox {name}")))
    }

    pub(crate) fn create(&mut self, user: &str, name: &str) -> Result<(), ImapError> {
        let key = (user.to_string(), name.to_string());
        if self.boxes.contains_key(&key) {
            return Err(ImapError::No(format!("{name} exists")));
        }
        self.next_validity += 1;
        self.boxes.insert(key, Mailbox { uidvalidity: 1000 + self.next_validity, uidnext: 1, ..Default::default() });
        Ok(())
    }

    /// Appends as another client would; returns the UID.
    pub(crate) fn append(&mut self, user: &str, name: &str, flags: &[&str], body: &[u8]) -> Result<u32, ImapError> {
        self.modseq += 1;
        let m = self.modseq;
        let b = self.mailbox(user, name)?;
        let uid = b.uidnext;
        b.uidnext += 1;
        b.messages.insert(uid, (flags.iter().map(|f| (*f).to_string()).collect(), body.to_vec(), m));
        Ok(uid)
    }

    pub(crate) fn set_flags(
        &mut self,
        user: &str,
        name: &str,
        uid: u32,
        mode: FlagMode,
        flags: &[&str],
    ) -> Result<(), ImapError> {
        self.modseq += 1;
        let m = self.modseq;
        let b = self.mailbox(user, name)?;
        let Some((have, _, ms)) = b.messages.get_mut(&uid) else { return Ok(()) };
        match mode {
            FlagMode::Set => *have = flags.iter().map(|f| (*f).to_string()).collect(),
            FlagMode::Add => {
                for f in flags {
                    if !have.iter().any(|h| h.eq_ignore_ascii_case(f)) {
                        have.push((*f).to_string());
                    }
                }
            }
            FlagMode::Remove => have.retain(|h| !flags.iter().any(|f| h.eq_ignore_ascii_case(f))),
        }
        *ms = m;
        Ok(())
    }

    pub(crate) fn expunge(&mut self, user: &str, name: &str, uid: u32) -> Result<(), ImapError> {
        self.modseq += 1;
        let m = self.modseq;
        let b = self.mailbox(user, name)?;
        if b.messages.remove(&uid).is_some() {
            b.vanished.insert(uid, m);
        }
        Ok(())
    }

    /// RENAME: the mailbox and those below it (delimiter `/`) move, UIDVALIDITY and all.
    pub(crate) fn rename(&mut self, user: &str, from: &str, to: &str) -> Result<(), ImapError> {
        let prefix = format!("{from}/");
        let moving: Vec<String> = self
            .boxes
            .keys()
            .filter(|(u, n)| u == user && (n == from || n.starts_with(&prefix)))
            .map(|(_, n)| n.clone())
            .collect();
        if moving.is_empty() {
            return Err(ImapError::No(format!("no mailbox {from}")));
        }
        for n in moving {
            if let Some(b) = self.boxes.remove(&(user.to_string(), n.clone())) {
                self.boxes.insert((user.to_string(), format!("{to}{}", &n[from.len()..])), b);
            }
        }
        self.modseq += 1;
        Ok(())
    }

    /// A new UIDVALIDITY, as after a server-side rebuild: same messages, new UIDs.
    pub(crate) fn renumber(&mut self, user: &str, name: &str) -> Result<(), ImapError> {
        self.next_validity += 1;
        self.modseq += 1;
        let (v, m) = (1000 + self.next_validity, self.modseq);
        let b = self.mailbox(user, name)?;
        let old = std::mem::take(&mut b.messages);
        b.uidvalidity = v;
        b.vanished.clear();
        for (i, (_, (flags, body, _))) in old.into_iter().enumerate() {
            b.messages.insert(500 + i as u32, (flags, body, m));
        }
        b.uidnext = 10_000;
        Ok(())
    }
}

/// The mailer of the fake server.
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeMailer(pub(crate) Arc<Mutex<Server>>);

struct FakeSession {
    server: Arc<Mutex<Server>>,
    user: String,
    selected: Option<String>,
}

impl FakeMailer {
    pub(crate) fn server(&self) -> std::sync::MutexGuard<'_, Server> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Mailer for FakeMailer {
    fn open(&self, user: &str) -> Result<Box<dyn MailSession>, ImapError> {
        let mut s = self.server();
        if s.down {
            return Err(ImapError::Io("connection refused".into()));
        }
        if !s.boxes.contains_key(&(user.to_string(), "INBOX".to_string())) {
            s.create(user, "INBOX")?;
        }
        Ok(Box::new(FakeSession { server: self.0.clone(), user: user.to_string(), selected: None }))
    }

    fn give_back(&self, _user: &str, _session: Box<dyn MailSession>) {}
}

impl FakeSession {
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Server, &str, Option<&str>) -> Result<T, ImapError>,
    ) -> Result<T, ImapError> {
        let mut s = self.server.lock().unwrap_or_else(|p| p.into_inner());
        if s.down {
            return Err(ImapError::Io("connection reset".into()));
        }
        f(&mut s, &self.user, self.selected.as_deref())
    }
}

fn selected(sel: Option<&str>) -> Result<&str, ImapError> {
    sel.ok_or_else(|| ImapError::Bad("no mailbox selected".into()))
}

impl MailSession for FakeSession {
    fn has(&self, capability: &str) -> bool {
        ["CONDSTORE", "QRESYNC", "MOVE", "UIDPLUS"].iter().any(|c| c.eq_ignore_ascii_case(capability))
    }

    fn list(&mut self) -> Result<Vec<MailboxInfo>, ImapError> {
        self.with(|s, user, _| {
            Ok(s.boxes
                .keys()
                .filter(|(u, _)| u == user)
                .map(|(_, n)| MailboxInfo { name: n.clone(), delimiter: Some('/'), attributes: Vec::new() })
                .collect())
        })
    }

    fn select(&mut self, mailbox: &str) -> Result<Selected, ImapError> {
        let sel = self.with(|s, user, _| {
            let modseq = s.modseq;
            let b = s.mailbox(user, mailbox)?;
            Ok(Selected {
                uidvalidity: b.uidvalidity,
                uidnext: b.uidnext,
                exists: b.messages.len() as u32,
                highestmodseq: Some(modseq),
            })
        })?;
        self.selected = Some(mailbox.to_string());
        Ok(sel)
    }

    fn status(&mut self, mailbox: &str) -> Result<crate::imap::MailboxStatus, ImapError> {
        self.with(|s, user, _| {
            let modseq = s.modseq;
            let b = s.mailbox(user, mailbox)?;
            Ok(crate::imap::MailboxStatus {
                uidvalidity: b.uidvalidity,
                uidnext: b.uidnext,
                messages: b.messages.len() as u32,
                highestmodseq: Some(modseq),
                mailboxid: None,
            })
        })
    }

    fn fetch_meta(&mut self, changed_since: Option<u64>) -> Result<(Vec<MessageMeta>, Vec<u32>), ImapError> {
        self.with(|s, user, sel| {
            let b = s.mailbox(user, selected(sel)?)?;
            let since = changed_since.unwrap_or(0);
            let metas = b
                .messages
                .iter()
                .filter(|(_, (_, _, m))| *m > since)
                .map(|(uid, (flags, body, m))| MessageMeta {
                    uid: *uid,
                    flags: flags.clone(),
                    modseq: Some(*m),
                    size: Some(body.len() as u64),
                })
                .collect();
            let vanished = match changed_since {
                Some(since) => b.vanished.iter().filter(|(_, m)| **m > since).map(|(u, _)| *u).collect(),
                None => Vec::new(),
            };
            Ok((metas, vanished))
        })
    }

    fn fetch_body(&mut self, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
        self.with(|s, user, sel| Ok(s.mailbox(user, selected(sel)?)?.messages.get(&uid).map(|(_, b, _)| b.clone())))
    }

    fn fetch_sizes(&mut self, first: u32, last: u32) -> Result<Vec<(u32, u64)>, ImapError> {
        self.with(|s, user, sel| {
            let b = s.mailbox(user, selected(sel)?)?;
            Ok(b.messages.range(first..=last).map(|(u, (_, body, _))| (*u, body.len() as u64)).collect())
        })
    }

    fn fetch_bodies(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        self.with(|s, user, sel| {
            let b = s.mailbox(user, selected(sel)?)?;
            Ok(uids.iter().filter_map(|u| Some((*u, b.messages.get(u)?.1.clone()))).collect())
        })
    }

    fn append(&mut self, mailbox: &str, flags: &[&str], message: &[u8]) -> Result<Option<u32>, ImapError> {
        self.with(|s, user, _| s.append(user, mailbox, flags, message).map(Some))
    }

    fn store_flags(&mut self, uid: u32, mode: FlagMode, flags: &[&str]) -> Result<(), ImapError> {
        self.with(|s, user, sel| s.set_flags(user, selected(sel)?, uid, mode, flags))
    }

    fn uid_move(&mut self, uid: u32, to: &str) -> Result<Option<u32>, ImapError> {
        self.with(|s, user, sel| {
            let from = selected(sel)?.to_string();
            let Some((flags, body, _)) = s.mailbox(user, &from)?.messages.get(&uid).cloned() else { return Ok(None) };
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let new = s.append(user, to, &flags, &body)?;
            s.expunge(user, &from, uid)?;
            Ok(Some(new))
        })
    }

    fn delete_message(&mut self, uid: u32) -> Result<(), ImapError> {
        self.with(|s, user, sel| s.expunge(user, selected(sel)?, uid))
    }

    fn create(&mut self, mailbox: &str) -> Result<(), ImapError> {
        self.with(|s, user, _| s.create(user, mailbox))
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), ImapError> {
        self.with(|s, user, _| s.rename(user, from, to))
    }

    fn delete_mailbox(&mut self, mailbox: &str) -> Result<(), ImapError> {
        self.with(|s, user, _| {
            s.boxes
                .remove(&(user.to_string(), mailbox.to_string()))
                .map(|_| ())
                .ok_or_else(|| ImapError::No(format!("no mailbox {mailbox}")))
        })
    }
}
