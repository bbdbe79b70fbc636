//! The local index of the IMAP datastore: what the local store keeps per item instead of the
//! item (JSON in its data), the objects devices get built from it, the mailbox path of a
//! folder (its names up the parent chain, joined by the server's delimiter), and the flags that
//! carry a message's states.

use serde::{Deserialize, Serialize};

use crate::cpm::objects::{Email, Folder, EMAIL_TYPE, FOLDER_TYPE};
use crate::store::{Store, StoreError, StoreResult, UserId};

/// The flags of the e-mail object's states (PROTOCOL.md §10.4).
pub(crate) const STATE_FLAGS: [(&str, &str); 5] = [
    ("read", "\\Seen"),
    ("replied", "\\Answered"),
    ("flagged", "\\Flagged"),
    ("deleted", "\\Deleted"),
    ("forwarded", "$Forwarded"),
];

/// An index entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "lowercase")]
pub(crate) enum Entry {
    /// A mailbox: its own name (the last part of its path).
    Folder {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
    },
    /// A message of its parent folder's mailbox.
    Message { uidvalidity: u32, uid: u32, flags: Vec<String> },
}

impl Entry {
    pub(crate) fn parse(data: &[u8]) -> StoreResult<Entry> {
        serde_json::from_slice(data).map_err(|e| StoreError::Backend(format!("IMAP index entry unreadable: {e}")))
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn content_type(&self) -> &'static str {
        match self {
            Entry::Folder { .. } => FOLDER_TYPE,
            Entry::Message { .. } => EMAIL_TYPE,
        }
    }

    pub(crate) fn folder_object(&self) -> Vec<u8> {
        match self {
            Entry::Folder { name, role } => {
                Folder { name: name.clone(), role: role.clone(), ..Default::default() }.to_xml()
            }
            Entry::Message { .. } => Vec::new(),
        }
    }

    /// The e-mail object of a message entry with its text.
    pub(crate) fn email_object(&self, body: Vec<u8>) -> Vec<u8> {
        let mut e = Email { emailitem: body, ..Default::default() };
        if let Entry::Message { flags, .. } = self {
            for (state, flag) in STATE_FLAGS {
                e.set_state(state, flags.iter().any(|f| f.eq_ignore_ascii_case(flag)));
            }
        }
        e.to_xml()
    }
}

/// The role of a mailbox from its name and SPECIAL-USE attributes.
pub(crate) fn role_of(path: &str, attributes: &[String]) -> Option<String> {
    if path.eq_ignore_ascii_case("INBOX") {
        return Some("inbox".into());
    }
    let has = |a: &str| attributes.iter().any(|x| x.eq_ignore_ascii_case(a));
    [("\\Sent", "sent"), ("\\Drafts", "drafts"), ("\\Trash", "trash"), ("\\Junk", "junk"), ("\\Archive", "archive")]
        .into_iter()
        .find(|(a, _)| has(a))
        .map(|(_, r)| r.to_string())
}

/// The flags for an e-mail object's states.
pub(crate) fn flags_of(e: &Email) -> Vec<&'static str> {
    STATE_FLAGS.iter().filter(|(s, _)| e.state(s)).map(|(_, f)| *f).collect()
}

/// Whether two flag lists give the same states.
pub(crate) fn same_states(a: &[String], b: &[String]) -> bool {
    STATE_FLAGS
        .iter()
        .all(|(_, f)| a.iter().any(|x| x.eq_ignore_ascii_case(f)) == b.iter().any(|x| x.eq_ignore_ascii_case(f)))
}

/// The mailbox path of folder `folder` (`None`: INBOX, where messages without a folder go).
pub(crate) fn mailbox_of(
    store: &dyn Store,
    user: UserId,
    datastore: &str,
    folder: Option<&str>,
    delimiter: char,
) -> StoreResult<String> {
    let Some(mut guid) = folder.map(str::to_string) else { return Ok("INBOX".into()) };
    let mut parts: Vec<String> = Vec::new();
    for _ in 0..256 {
        let rec = store
            .item(user, datastore, &guid)?
            .ok_or_else(|| StoreError::Invalid(format!("folder {guid} is not in the index")))?;
        match Entry::parse(&rec.data)? {
            Entry::Folder { name, .. } => parts.push(name),
            Entry::Message { .. } => return Err(StoreError::Invalid(format!("{guid} is a message, not a folder"))),
        }
        match rec.parent {
            Some(p) => guid = p,
            None => {
                parts.reverse();
                return Ok(parts.join(&delimiter.to_string()));
            }
        }
    }
    Err(StoreError::Invalid("folder chain deeper than 256 (a cycle?)".into()))
}

/// The last part of a mailbox path.
pub(crate) fn leaf(path: &str, delimiter: char) -> &str {
    path.rsplit(delimiter).next().unwrap_or(path)
}

/// The parent path of a mailbox path (`None` at the top).
pub(crate) fn parent_path(path: &str, delimiter: char) -> Option<&str> {
    path.rfind(delimiter).map(|i| &path[..i])
}
