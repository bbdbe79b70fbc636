//! Device and service changes of the IMAP datastore, carried out in IMAP: each [`Mutation`]
//! of folders and messages becomes IMAP commands, and the index entry the local store keeps
//! instead of the item.
//!
//! Folders: Add → CREATE (under the parent's path), Replace with a new name or parent →
//! RENAME, Delete → DELETE. Messages: Add → APPEND (with the states as flags; into INBOX when
//! the device gave no folder), Replace → UID STORE of the flags that differ, UID MOVE for a new
//! folder, APPEND of the new message and removal of the old one when the text itself changed;
//! Delete → \Deleted and UID EXPUNGE. Other content types have no place in a mailbox: refused.

use crate::cpm::objects::{Email, Folder, EMAIL_TYPE, FOLDER_TYPE};
use crate::imap::FlagMode;
use crate::store::imap::index::{self, flags_of, Entry, STATE_FLAGS};
use crate::store::imap::mail::Lease;
use crate::store::imap::ImapStore;
use crate::store::{Mutation, StoreError, StoreResult, UserId};

impl ImapStore {
    /// Carries out `mutations` in order until one fails; returns the index mutations of those
    /// done and the failure.
    pub(super) fn write(&self, user: UserId, mutations: &[Mutation]) -> (Vec<Mutation>, Option<StoreError>) {
        let mut lease = match self.lease(user) {
            Ok(l) => l,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut done = Vec::with_capacity(mutations.len());
        // (A parent is always an item the local index has: the engine commits a folder before
        // items that name it.)
        for m in mutations {
            match self.write_one(user, &mut lease, m) {
                Ok(index_mutation) => done.push(index_mutation),
                Err(e) => {
                    tracing::warn!(error = %e, done = done.len(), of = mutations.len(), "IMAP refused a change");
                    return (done, Some(e));
                }
            }
        }
        (done, None)
    }

    fn mailbox(&self, user: UserId, lease: &mut Lease<'_>, folder: Option<&str>) -> StoreResult<String> {
        let d = lease.delimiter()?;
        index::mailbox_of(self.local.as_ref(), user, &self.datastore, folder, d)
    }

    fn write_one(&self, user: UserId, lease: &mut Lease<'_>, m: &Mutation) -> StoreResult<Mutation> {
        match m {
            Mutation::Add { parent, content_type, data } => {
                let (entry, parent) = match base(content_type).as_str() {
                    FOLDER_TYPE => {
                        let f = Folder::parse(data).map_err(|e| StoreError::Invalid(e.to_string()))?;
                        let d = lease.delimiter()?;
                        if f.name.is_empty() || f.name.contains(d) {
                            return Err(StoreError::Invalid(format!("folder name {:?} (may not hold {d:?})", f.name)));
                        }
                        let path = match parent {
                            Some(_) => format!("{}{d}{}", self.mailbox(user, lease, parent.as_deref())?, f.name),
                            None => f.name.clone(),
                        };
                        lease.create(&path)?;
                        (Entry::Folder { name: f.name, role: index::role_of(&path, &[]) }, parent.clone())
                    }
                    EMAIL_TYPE => {
                        let e = Email::parse(data).map_err(|e| StoreError::Invalid(e.to_string()))?;
                        let parent = match parent {
                            Some(p) => Some(p.clone()),
                            None => self.inbox(user)?,
                        };
                        let mailbox = self.mailbox(user, lease, parent.as_deref())?;
                        let flags = flags_of(&e);
                        let uid = lease.append(&mailbox, &flags, &e.emailitem)?.ok_or_else(no_uidplus)?;
                        let sel = lease.reselect(&mailbox)?;
                        let flags = flags.iter().map(|f| (*f).to_string()).collect();
                        (Entry::Message { uidvalidity: sel.uidvalidity, uid, flags }, parent)
                    }
                    other => return Err(StoreError::Invalid(format!("{other} has no place in a mailbox"))),
                };
                Ok(Mutation::Add { parent, content_type: entry.content_type().into(), data: entry.to_json() })
            }
            Mutation::Replace { guid, parent, content_type, data, fields_only } => {
                let Some(current) = self.local.item(user, &self.datastore, guid)? else {
                    // Not found: the local store answers for it.
                    return Ok(m.clone());
                };
                let entry = match (Entry::parse(&current.data)?, base(content_type).as_str()) {
                    (Entry::Folder { name, role }, FOLDER_TYPE) => {
                        let f = Folder::parse(data).map_err(|e| StoreError::Invalid(e.to_string()))?;
                        let old = self.mailbox(user, lease, Some(guid))?;
                        let d = lease.delimiter()?;
                        let new = match parent {
                            Some(_) => format!("{}{d}{}", self.mailbox(user, lease, parent.as_deref())?, f.name),
                            None => f.name.clone(),
                        };
                        if new != old {
                            lease.rename(&old, &new)?;
                        }
                        let role = if f.name == name { role } else { index::role_of(&new, &[]) };
                        Entry::Folder { name: f.name, role }
                    }
                    (Entry::Message { uidvalidity, uid, flags }, EMAIL_TYPE) => {
                        let e = Email::parse(data).map_err(|e| StoreError::Invalid(e.to_string()))?;
                        let from = self.mailbox(user, lease, current.parent.as_deref())?;
                        let to = self.mailbox(user, lease, parent.as_deref())?;
                        let want: Vec<&str> = flags_of(&e);
                        let text_changed =
                            !fields_only && lease.fetch_body(&from, uid)?.is_some_and(|body| body != e.emailitem);
                        let (uid, mailbox) = if text_changed {
                            let new = lease.append(&to, &want, &e.emailitem)?.ok_or_else(no_uidplus)?;
                            lease.delete_message(&from, uid)?;
                            (new, to.clone())
                        } else if from != to {
                            let new = lease.uid_move(&from, uid, &to)?.ok_or_else(no_uidplus)?;
                            (new, to.clone())
                        } else {
                            (uid, from.clone())
                        };
                        if !text_changed {
                            let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f));
                            let add: Vec<&str> = want.iter().copied().filter(|f| !has(f)).collect();
                            let remove: Vec<&str> =
                                STATE_FLAGS.iter().map(|(_, f)| *f).filter(|f| has(f) && !want.contains(f)).collect();
                            lease.store_flags(&mailbox, uid, FlagMode::Add, &add)?;
                            lease.store_flags(&mailbox, uid, FlagMode::Remove, &remove)?;
                        }
                        let sel = lease.reselect(&mailbox)?;
                        let uidvalidity = if mailbox == from && !text_changed { uidvalidity } else { sel.uidvalidity };
                        // Keywords other than the states stay as they were.
                        let mut kept: Vec<String> = flags
                            .iter()
                            .filter(|f| !STATE_FLAGS.iter().any(|(_, s)| f.eq_ignore_ascii_case(s)))
                            .cloned()
                            .collect();
                        kept.extend(want.iter().map(|f| (*f).to_string()));
                        Entry::Message { uidvalidity, uid, flags: kept }
                    }
                    (_, other) => return Err(StoreError::Invalid(format!("cannot replace this item with {other}"))),
                };
                Ok(Mutation::Replace {
                    guid: guid.clone(),
                    parent: parent.clone(),
                    content_type: entry.content_type().into(),
                    data: entry.to_json(),
                    fields_only: *fields_only,
                })
            }
            Mutation::Delete { guid } => {
                let Some(current) = self.local.item(user, &self.datastore, guid)? else { return Ok(m.clone()) };
                match Entry::parse(&current.data)? {
                    Entry::Folder { .. } => {
                        let path = self.mailbox(user, lease, Some(guid))?;
                        lease.delete_mailbox(&path)?;
                    }
                    Entry::Message { uid, .. } => {
                        let mailbox = self.mailbox(user, lease, current.parent.as_deref())?;
                        lease.delete_message(&mailbox, uid)?;
                    }
                }
                Ok(m.clone())
            }
        }
    }

    /// The INBOX folder's GUID, if the index has it.
    fn inbox(&self, user: UserId) -> StoreResult<Option<String>> {
        for rec in self.local.items(user, &self.datastore)? {
            if rec.parent.is_none() {
                if let Ok(Entry::Folder { name, .. }) = Entry::parse(&rec.data) {
                    if name.eq_ignore_ascii_case("INBOX") {
                        return Ok(Some(rec.guid));
                    }
                }
            }
        }
        Ok(None)
    }
}

fn base(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn no_uidplus() -> StoreError {
    StoreError::Backend("the IMAP server gave no UID for the message (UIDPLUS is required)".into())
}
