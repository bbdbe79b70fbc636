//! Changes made directly in IMAP (another mail client, a delivery agent), recorded in the
//! change log with `Origin::Backend` so that devices get them and the notifier alerts.
//!
//! Mailboxes: LIST against the index's folders; a new mailbox is a folder Add (parents first),
//! a mailbox gone is a Delete of its folder and of everything the index holds in it. (A mailbox
//! renamed by another client shows as one gone and one new.) Messages, per mailbox: with
//! CONDSTORE, nothing when HIGHESTMODSEQ is what was seen last; else the messages changed since
//! (and with QRESYNC the UIDs expunged since); without CONDSTORE, or the first time after a
//! start, every UID and its flags against the index. New UIDs are Adds, other states are
//! fields-only Replaces, missing UIDs Deletes. A changed UIDVALIDITY drops the mailbox's
//! entries and adds its messages again, and every device of the user slow-syncs the datastore
//! (PROTOCOL.md §3.3), so nothing is lost or doubled on the devices.

use std::collections::{BTreeMap, HashMap};

use crate::imap::MessageMeta;
use crate::store::imap::index::{self, same_states, Entry};
use crate::store::imap::mail::Lease;

use crate::store::imap::ImapStore;
use crate::store::{Applied, BackendSink, Mutation, StoreError, StoreResult, UserId};

/// What was seen of a user's mailboxes: path → (UIDVALIDITY, HIGHESTMODSEQ).
pub(crate) type Seen = HashMap<String, (u32, Option<u64>)>;

/// What the index holds of one mailbox: UID → (GUID, UIDVALIDITY, flags).
type Held = HashMap<u32, (String, u32, Vec<String>)>;

/// The index's view of one user's datastore.
struct Indexed {
    /// Folder path → GUID.
    folders: BTreeMap<String, String>,
    /// Folder GUID → messages: UID → (GUID, UIDVALIDITY, flags).
    messages: HashMap<String, Held>,
    /// Messages whose folder is not in the index (left behind by a deleted folder).
    orphans: Vec<String>,
}

impl ImapStore {
    pub(super) fn pull(&self, user: UserId, record: &mut BackendSink<'_>) -> StoreResult<usize> {
        let mut lease = self.lease(user)?;
        let boxes = lease.list()?;
        let d = lease.delimiter()?;
        let mut idx = self.indexed(user, d)?;
        let mut count = 0;
        let mut apply = |muts: Vec<Mutation>, count: &mut usize| -> StoreResult<Vec<Applied>> {
            if muts.is_empty() {
                return Ok(Vec::new());
            }
            *count += muts.len();
            record(&self.datastore, &muts)
        };
        if !idx.orphans.is_empty() {
            let gone = idx.orphans.drain(..).map(|guid| Mutation::Delete { guid }).collect();
            apply(gone, &mut count)?;
        }

        let listed: HashMap<&str, &crate::imap::MailboxInfo> = boxes.iter().map(|b| (b.name.as_str(), b)).collect();
        self.pull_renames(&mut lease, &boxes, &listed, d, &mut idx, &mut |m: Vec<Mutation>| apply(m, &mut count))?;

        // Mailboxes gone: their contents, deepest folders first, then the folders.
        let gone: Vec<String> = idx.folders.keys().filter(|p| !listed.contains_key(p.as_str())).cloned().collect();
        for path in gone.iter().rev() {
            let Some(guid) = idx.folders.remove(path) else { continue };
            let mut muts: Vec<Mutation> = idx
                .messages
                .remove(&guid)
                .unwrap_or_default()
                .into_values()
                .map(|(g, _, _)| Mutation::Delete { guid: g })
                .collect();
            muts.push(Mutation::Delete { guid });
            tracing::info!(mailbox = %path, "mailbox gone from IMAP");
            apply(muts, &mut count)?;
        }

        // New mailboxes, parents first.
        let mut new: Vec<&crate::imap::MailboxInfo> =
            boxes.iter().filter(|b| !idx.folders.contains_key(&b.name)).collect();
        new.sort_by_key(|b| (b.name.matches(d).count(), b.name.clone()));
        for b in new {
            let parent = index::parent_path(&b.name, d).and_then(|p| idx.folders.get(p).cloned());
            let entry = Entry::Folder {
                name: index::leaf(&b.name, d).to_string(),
                role: index::role_of(&b.name, &b.attributes),
            };
            let add = Mutation::Add { parent, content_type: entry.content_type().into(), data: entry.to_json() };
            let applied = apply(vec![add], &mut count)?;
            if let Some(guid) = applied.first().and_then(Applied::guid) {
                idx.folders.insert(b.name.clone(), guid.to_string());
            }
        }

        // Messages of every selectable mailbox.
        let mut seen = self.seen.lock().map_err(super::poisoned)?.remove(&user).unwrap_or_default();
        let result = (|| -> StoreResult<()> {
            for b in &boxes {
                if b.attributes.iter().any(|a| a.eq_ignore_ascii_case("\\Noselect")) {
                    continue;
                }
                let Some(folder) = idx.folders.get(&b.name).cloned() else { continue };
                let held = idx.messages.remove(&folder).unwrap_or_default();
                let muts = self.pull_mailbox(user, &mut lease, &b.name, &folder, held, &mut seen)?;
                apply(muts, &mut count)?;
            }
            Ok(())
        })();
        self.seen.lock().map_err(super::poisoned)?.insert(user, seen);
        result?;
        Ok(count)
    }

    /// Mailboxes another client renamed or moved: one gone from the index's paths and one new
    /// with the same UIDVALIDITY (servers keep it across RENAME) are the same folder, renamed
    /// in place; its messages and subfolders stay (devices get one folder change, not every
    /// message again). Folders holding no message have no known UIDVALIDITY: they go and come.
    fn pull_renames(
        &self,
        lease: &mut Lease<'_>,
        boxes: &[crate::imap::MailboxInfo],
        listed: &HashMap<&str, &crate::imap::MailboxInfo>,
        d: char,
        idx: &mut Indexed,
        apply: &mut dyn FnMut(Vec<Mutation>) -> StoreResult<Vec<Applied>>,
    ) -> StoreResult<()> {
        let mut gone: HashMap<u32, String> = HashMap::new();
        for (path, guid) in &idx.folders {
            if listed.contains_key(path.as_str()) {
                continue;
            }
            if let Some((_, v, _)) = idx.messages.get(guid).and_then(|m| m.values().next()) {
                gone.insert(*v, path.clone());
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        let mut new: Vec<&crate::imap::MailboxInfo> =
            boxes.iter().filter(|b| !idx.folders.contains_key(&b.name)).collect();
        new.sort_by_key(|b| (b.name.matches(d).count(), b.name.clone()));
        for b in new {
            if gone.is_empty() {
                break;
            }
            if idx.folders.contains_key(&b.name) || b.attributes.iter().any(|a| a.eq_ignore_ascii_case("\\Noselect")) {
                continue;
            }
            let status = lease.status(&b.name)?;
            let Some(old) = gone.remove(&status.uidvalidity) else { continue };
            let Some(guid) = idx.folders.remove(&old) else { continue };
            let parent = index::parent_path(&b.name, d).and_then(|p| idx.folders.get(p).cloned());
            let entry = Entry::Folder {
                name: index::leaf(&b.name, d).to_string(),
                role: index::role_of(&b.name, &b.attributes),
            };
            let replace = Mutation::Replace {
                guid: guid.clone(),
                parent,
                content_type: entry.content_type().into(),
                data: entry.to_json(),
                fields_only: false,
            };
            tracing::info!(from = %old, to = %b.name, "mailbox renamed in IMAP");
            apply(vec![replace])?;
            // Its subfolders moved along.
            let prefix = format!("{old}{d}");
            let below: Vec<String> = idx.folders.keys().filter(|p| p.starts_with(&prefix)).cloned().collect();
            for p in below {
                if let Some(g) = idx.folders.remove(&p) {
                    idx.folders.insert(format!("{}{d}{}", b.name, &p[prefix.len()..]), g);
                }
            }
            idx.folders.insert(b.name.clone(), guid);
        }
        Ok(())
    }

    fn indexed(&self, user: UserId, d: char) -> StoreResult<Indexed> {
        let recs = self.local.items(user, &self.datastore)?;
        let mut names: HashMap<String, (Option<String>, String)> = HashMap::new();
        let mut msgs = Vec::new();
        for r in &recs {
            match Entry::parse(&r.data)? {
                Entry::Folder { name, .. } => {
                    names.insert(r.guid.clone(), (r.parent.clone(), name));
                }
                Entry::Message { uidvalidity, uid, flags } => {
                    msgs.push((r.guid.clone(), r.parent.clone(), uidvalidity, uid, flags))
                }
            }
        }
        let mut folders = BTreeMap::new();
        for guid in names.keys() {
            let mut parts = Vec::new();
            let mut at = Some(guid.clone());
            let mut depth = 0;
            while let Some(g) = at {
                let Some((parent, name)) = names.get(&g) else { break };
                parts.push(name.clone());
                at = parent.clone();
                depth += 1;
                if depth > 256 {
                    return Err(StoreError::Backend("IMAP index: folder cycle".into()));
                }
            }
            parts.reverse();
            folders.insert(parts.join(&d.to_string()), guid.clone());
        }
        let mut messages: HashMap<String, Held> = HashMap::new();
        let mut orphans = Vec::new();
        for (guid, parent, v, uid, flags) in msgs {
            match parent.filter(|p| names.contains_key(p)) {
                Some(p) => {
                    messages.entry(p).or_default().insert(uid, (guid, v, flags));
                }
                None => orphans.push(guid),
            }
        }
        Ok(Indexed { folders, messages, orphans })
    }

    /// The changes of one mailbox against what the index holds of it.
    fn pull_mailbox(
        &self,
        user: UserId,
        lease: &mut Lease<'_>,
        mailbox: &str,
        folder: &str,
        mut held: Held,
        seen: &mut Seen,
    ) -> StoreResult<Vec<Mutation>> {
        let sel = lease.reselect(mailbox)?;
        let mut muts = Vec::new();
        let stale = held.values().any(|(_, v, _)| *v != sel.uidvalidity);
        if stale {
            tracing::warn!(%mailbox, uidvalidity = sel.uidvalidity, "UIDVALIDITY changed: mailbox indexed again, devices slow-sync");
            for (guid, _, _) in held.drain().map(|(_, v)| v) {
                muts.push(Mutation::Delete { guid });
            }
            for dev in self.local.list_devices(user)? {
                self.local.clear_anchor(user, &dev.device_id, &self.datastore)?;
            }
        }
        let last = seen.get(mailbox).copied().filter(|(v, _)| *v == sel.uidvalidity && !stale);
        let incremental = match (last, sel.highestmodseq) {
            (Some((_, Some(before))), Some(now)) if before == now => {
                return Ok(muts);
            }
            // Expunges are only reported with QRESYNC (VANISHED); without it, look at all.
            (Some((_, Some(before))), Some(_)) if lease.has("QRESYNC") => Some(before),
            _ => None,
        };
        let (metas, vanished) = lease.fetch_meta(incremental)?;
        let full = incremental.is_none();
        let mut present: std::collections::HashSet<u32> = std::collections::HashSet::new();
        for MessageMeta { uid, flags, .. } in metas {
            present.insert(uid);
            let entry = Entry::Message { uidvalidity: sel.uidvalidity, uid, flags: flags.clone() };
            match held.get(&uid) {
                None => muts.push(Mutation::Add {
                    parent: Some(folder.to_string()),
                    content_type: entry.content_type().into(),
                    data: entry.to_json(),
                }),
                Some((guid, _, old)) if !same_states(old, &flags) => muts.push(Mutation::Replace {
                    guid: guid.clone(),
                    parent: Some(folder.to_string()),
                    content_type: entry.content_type().into(),
                    data: entry.to_json(),
                    fields_only: true,
                }),
                Some(_) => {}
            }
        }
        let expunged: Vec<u32> =
            if full { held.keys().copied().filter(|u| !present.contains(u)).collect() } else { vanished };
        for uid in expunged {
            if let Some((guid, _, _)) = held.remove(&uid) {
                muts.push(Mutation::Delete { guid });
            }
        }
        seen.insert(mailbox.to_string(), (sel.uidvalidity, sel.highestmodseq));
        if !muts.is_empty() {
            tracing::info!(%mailbox, changes = muts.len(), full, "changes made directly in IMAP");
        }
        Ok(muts)
    }
}
