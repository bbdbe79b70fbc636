//! What the service (the messaging service, a web client, an operator) does to a user's message
//! storage, as operations on the [`Store`]: folders (create, rename, move, delete), content
//! files (upload, download), messages (deposit, change states, fetch), moves and deletes of any
//! item. Every change goes through the store's change log with origin `Service`, so devices get
//! it at their next sync like any other change.
//!
//! Sans-IO: no sockets, no clock (the caller passes timestamps); `server::api` maps HTTP onto it.

use serde::Serialize;

use crate::cpm::objects::{Email, File, Folder, EMAIL_TYPE, FILE_TYPE, FOLDER_TYPE};
use crate::store::{descendants, ItemRecord, Mutation, Origin, Store, StoreError, UserId};

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("folder {0} is not empty")]
    NotEmpty(String),
    #[error("cannot move {0} into itself or one of its own folders")]
    Cycle(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One item of a tree listing: its details, never its body.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Node {
    pub guid: String,
    pub parent: Option<String>,
    /// `folder`, `file` or `message`.
    pub kind: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub states: Option<States>,
}

/// The states of a message.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct States {
    #[serde(default)]
    pub seen: bool,
    #[serde(default)]
    pub flagged: bool,
    #[serde(default)]
    pub answered: bool,
    #[serde(default)]
    pub forwarded: bool,
    #[serde(default)]
    pub deleted: bool,
}

impl States {
    fn of(e: &Email) -> States {
        States { seen: e.read, flagged: e.flagged, answered: e.replied, forwarded: e.forwarded, deleted: e.deleted }
    }

    fn apply(self, e: &mut Email) {
        (e.read, e.flagged, e.replied, e.forwarded, e.deleted) =
            (self.seen, self.flagged, self.answered, self.forwarded, self.deleted);
    }
}

/// A user's storage in one datastore (messages or content).
pub struct Storage<'a> {
    pub store: &'a dyn Store,
    pub user: UserId,
    pub datastore: &'a str,
}

impl Storage<'_> {
    /// Every item with its details, folders first then by GUID.
    pub fn tree(&self) -> Result<Vec<Node>, ServiceError> {
        let mut nodes: Vec<Node> = self.store.items(self.user, self.datastore)?.iter().map(node).collect();
        nodes.sort_by_key(|n| (n.kind != "folder", n.guid.clone()));
        Ok(nodes)
    }

    /// A new folder under `parent` (a folder) or at the top.
    pub fn create_folder(&self, parent: Option<&str>, name: &str, now: &str) -> Result<String, ServiceError> {
        check_name(name)?;
        self.check_folder(parent)?;
        let folder = Folder {
            name: name.to_string(),
            created: Some(now.to_string()),
            modified: Some(now.to_string()),
            role: None,
        };
        self.add(parent, FOLDER_TYPE, folder.to_xml())
    }

    /// A new file under `parent`.
    pub fn upload_file(
        &self,
        parent: Option<&str>,
        name: &str,
        content_type: &str,
        body: Vec<u8>,
        now: &str,
    ) -> Result<String, ServiceError> {
        check_name(name)?;
        self.check_folder(parent)?;
        let file = File {
            name: name.to_string(),
            created: Some(now.to_string()),
            modified: Some(now.to_string()),
            cttype: Some(content_type.to_string()),
            size: Some(body.len() as u64),
            body: Some(body),
            ext: Vec::new(),
        };
        self.add(parent, FILE_TYPE, file.to_xml())
    }

    /// A message deposited by the messaging service into `folder`.
    pub fn deposit_message(
        &self,
        folder: Option<&str>,
        rfc822: Vec<u8>,
        states: States,
        now: &str,
    ) -> Result<String, ServiceError> {
        if rfc822.is_empty() {
            return Err(ServiceError::Invalid("the message is empty".into()));
        }
        self.check_folder(folder)?;
        let mut email = Email { received: Some(now.to_string()), emailitem: rfc822, ..Default::default() };
        states.apply(&mut email);
        self.add(folder, EMAIL_TYPE, email.to_xml())
    }

    /// A file's type and bytes.
    pub fn download(&self, guid: &str) -> Result<(String, Vec<u8>), ServiceError> {
        let it = self.get(guid)?;
        if it.content_type != FILE_TYPE {
            return Err(ServiceError::Invalid(format!("{guid} is not a file")));
        }
        let f = File::parse(&it.data).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let body = f.body.ok_or_else(|| ServiceError::NotFound(format!("body of {guid}")))?;
        Ok((f.cttype.unwrap_or_else(|| "application/octet-stream".into()), body))
    }

    /// A message: its states and the RFC 5322 text.
    pub fn fetch_message(&self, guid: &str) -> Result<(States, Vec<u8>), ServiceError> {
        let e = self.email(guid)?.1;
        Ok((States::of(&e), e.emailitem))
    }

    /// Sets a message's states.
    pub fn set_states(&self, guid: &str, states: States) -> Result<(), ServiceError> {
        let (it, mut e) = self.email(guid)?;
        states.apply(&mut e);
        self.replace(&it, it.parent.clone(), e.to_xml(), true)
    }

    /// Renames a folder or file.
    pub fn rename(&self, guid: &str, name: &str) -> Result<(), ServiceError> {
        check_name(name)?;
        let it = self.get(guid)?;
        let data = match it.content_type.as_str() {
            FOLDER_TYPE => {
                let mut f = Folder::parse(&it.data).map_err(|e| ServiceError::Invalid(e.to_string()))?;
                f.name = name.to_string();
                f.to_xml()
            }
            FILE_TYPE => {
                let mut f = File::parse(&it.data).map_err(|e| ServiceError::Invalid(e.to_string()))?;
                f.name = name.to_string();
                f.to_xml()
            }
            _ => return Err(ServiceError::Invalid(format!("{guid} has no name to change"))),
        };
        self.replace(&it, it.parent.clone(), data, false)
    }

    /// Moves an item into `parent` (a folder) or to the top.
    pub fn move_to(&self, guid: &str, parent: Option<&str>) -> Result<(), ServiceError> {
        let it = self.get(guid)?;
        self.check_folder(parent)?;
        // Into itself or below itself would make a cycle.
        let mut at = parent.map(str::to_string);
        for _ in 0..256 {
            match at {
                Some(p) if p == guid => return Err(ServiceError::Cycle(guid.to_string())),
                Some(p) => at = self.store.item(self.user, self.datastore, &p)?.and_then(|i| i.parent),
                None => break,
            }
        }
        self.replace(&it, parent.map(str::to_string), it.data.clone(), false)
    }

    /// Deletes an item; a folder must be empty.
    /// With `recursive`, a folder goes with everything in it (deepest first, one transaction:
    /// devices get the Deletes in that order); without, a folder must be empty. Returns how
    /// many items were deleted.
    pub fn delete(&self, guid: &str, recursive: bool) -> Result<usize, ServiceError> {
        self.get(guid)?;
        let below = descendants(&self.store.parents(self.user, self.datastore)?, guid);
        if !below.is_empty() && !recursive {
            return Err(ServiceError::NotEmpty(guid.to_string()));
        }
        let mutations: Vec<Mutation> =
            below.into_iter().chain(std::iter::once(guid.to_string())).map(|guid| Mutation::Delete { guid }).collect();
        self.store.apply(self.user, self.datastore, &Origin::Service, &mutations)?;
        Ok(mutations.len())
    }

    fn get(&self, guid: &str) -> Result<ItemRecord, ServiceError> {
        self.store.item(self.user, self.datastore, guid)?.ok_or_else(|| ServiceError::NotFound(format!("item {guid}")))
    }

    fn email(&self, guid: &str) -> Result<(ItemRecord, Email), ServiceError> {
        let it = self.get(guid)?;
        if it.content_type != EMAIL_TYPE {
            return Err(ServiceError::Invalid(format!("{guid} is not a message")));
        }
        let e = Email::parse(&it.data).map_err(|e| ServiceError::Invalid(e.to_string()))?;
        Ok((it, e))
    }

    fn check_folder(&self, guid: Option<&str>) -> Result<(), ServiceError> {
        let Some(guid) = guid else { return Ok(()) };
        let it = self.store.item(self.user, self.datastore, guid)?;
        match it {
            Some(it) if it.content_type == FOLDER_TYPE => Ok(()),
            Some(_) => Err(ServiceError::Invalid(format!("{guid} is not a folder"))),
            None => Err(ServiceError::NotFound(format!("folder {guid}"))),
        }
    }

    fn add(&self, parent: Option<&str>, content_type: &str, data: Vec<u8>) -> Result<String, ServiceError> {
        let m = Mutation::Add { parent: parent.map(str::to_string), content_type: content_type.to_string(), data };
        let applied = self.store.apply(self.user, self.datastore, &Origin::Service, &[m])?;
        applied
            .first()
            .and_then(|a| a.guid())
            .map(str::to_string)
            .ok_or_else(|| ServiceError::Store(StoreError::Backend("an Add returned no GUID".into())))
    }

    /// `fields_only`: only a message's states changed (devices that take field-level Replaces
    /// get those alone).
    fn replace(
        &self,
        it: &ItemRecord,
        parent: Option<String>,
        data: Vec<u8>,
        fields_only: bool,
    ) -> Result<(), ServiceError> {
        let content_type = it.content_type.clone();
        let m = Mutation::Replace { guid: it.guid.clone(), parent, content_type, data, fields_only };
        self.store.apply(self.user, self.datastore, &Origin::Service, &[m])?;
        Ok(())
    }
}

/// The details of a stored item.
fn node(it: &ItemRecord) -> Node {
    let mut n = Node {
        guid: it.guid.clone(),
        parent: it.parent.clone(),
        kind: "file",
        name: String::new(),
        content_type: None,
        size: None,
        states: None,
    };
    match it.content_type.as_str() {
        FOLDER_TYPE => {
            n.kind = "folder";
            n.name = Folder::parse(&it.data).map(|f| f.name).unwrap_or_default();
        }
        FILE_TYPE => {
            if let Ok(f) = File::parse(&it.data) {
                n.name = f.name;
                n.size = f.size.or(f.body.map(|b| b.len() as u64));
                n.content_type = f.cttype;
            }
        }
        EMAIL_TYPE => {
            n.kind = "message";
            if let Ok(e) = Email::parse(&it.data) {
                n.name = e.header("Subject").unwrap_or_default();
                n.size = Some(e.emailitem.len() as u64);
                n.states = Some(States::of(&e));
            }
        }
        other => {
            n.content_type = Some(other.to_string());
            n.size = Some(it.data.len() as u64);
        }
    }
    n
}

fn check_name(name: &str) -> Result<(), ServiceError> {
    if name.trim().is_empty() || name.contains(['/', '\0']) || name.len() > 255 {
        return Err(ServiceError::Invalid(format!("{name:?} is not a usable name")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn folders_files_messages_and_their_errors() {
        let store = MemoryStore::new();
        let user = store.create_user("alice", "x").unwrap().id;
        let content = Storage { store: &store, user, datastore: "content" };
        let t = "20261122T100000Z";
        let music = content.create_folder(None, "Music", t).unwrap();
        let song = content.upload_file(Some(&music), "a.mp3", "audio/mpeg", b"ID3...".to_vec(), t).unwrap();
        let fav = content.create_folder(Some(&music), "favourite song", t).unwrap();
        content.move_to(&song, Some(&fav)).unwrap();
        assert_eq!(content.download(&song).unwrap(), ("audio/mpeg".to_string(), b"ID3...".to_vec()));
        let tree = content.tree().unwrap();
        assert_eq!(tree.iter().filter(|n| n.kind == "folder").count(), 2);
        let song_node = tree.iter().find(|n| n.guid == song).unwrap();
        assert_eq!((song_node.parent.as_deref(), song_node.size), (Some(fav.as_str()), Some(6)));
        assert!(matches!(content.move_to(&music, Some(&fav)), Err(ServiceError::Cycle(_))));
        assert!(matches!(content.move_to(&music, Some(&music)), Err(ServiceError::Cycle(_))));
        assert!(matches!(content.delete(&music, false), Err(ServiceError::NotEmpty(_))));
        assert!(matches!(content.upload_file(Some(&song), "x", "t", vec![], t), Err(ServiceError::Invalid(_))));
        assert!(matches!(content.create_folder(Some("zzz"), "x", t), Err(ServiceError::NotFound(_))));
        assert!(matches!(content.create_folder(None, "a/b", t), Err(ServiceError::Invalid(_))));
        content.rename(&fav, "favourites").unwrap();
        assert!(content.tree().unwrap().iter().any(|n| n.name == "favourites"));
        let other = content.create_folder(None, "Other", t).unwrap();
        assert_eq!(content.delete(&other, false).unwrap(), 1, "an empty folder");
        // Recursively: the song, its folder, then Music, deepest first.
        let since = store.current_seq(user).unwrap();
        assert_eq!(content.delete(&music, true).unwrap(), 3);
        assert!(content.tree().unwrap().is_empty());
        let order: Vec<String> =
            store.changes_since(user, "content", since).unwrap().into_iter().map(|c| c.guid).collect();
        assert_eq!(order, [song.clone(), fav.clone(), music.clone()]);

        let messages = Storage { store: &store, user, datastore: "messages" };
        let inbox = messages.create_folder(None, "Inbox", t).unwrap();
        let m =
            messages.deposit_message(Some(&inbox), b"Subject: Hi\r\n\r\nbody".to_vec(), States::default(), t).unwrap();
        messages.set_states(&m, States { seen: true, ..Default::default() }).unwrap();
        let (states, text) = messages.fetch_message(&m).unwrap();
        assert!(states.seen && !states.flagged);
        assert_eq!(text, b"Subject: Hi\r\n\r\nbody");
        let node = messages.tree().unwrap().into_iter().find(|n| n.guid == m).unwrap();
        assert_eq!((node.kind, node.name.as_str()), ("message", "Hi"));
        assert!(matches!(messages.set_states(&inbox, States::default()), Err(ServiceError::Invalid(_))));
        // Every change is the service's in the change log.
        let changes = store.changes_since(user, "messages", 0).unwrap();
        assert!(changes.iter().all(|c| c.origin == Origin::Service));
    }
}
