//! The simulated device's own data: items by LUID per datastore, each with a content type, an
//! optional parent (a folder's LUID, for hierarchical datastores) and its bytes.
//!
//! [`LocalStore`] is what the client session reads and changes; [`MemoryLocal`] keeps items in
//! memory (load tests), [`FolderLocal`] in a folder per datastore with one file per item (file
//! name = LUID) and a `.meta.json` beside them for content types and parents, so a person can
//! edit items with any tool between syncs.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One item on the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalItem {
    pub luid: String,
    pub content_type: String,
    pub parent: Option<String>,
    pub data: Vec<u8>,
}

/// Why the local data could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("local data: {0}")]
pub struct LocalError(pub String);

impl From<io::Error> for LocalError {
    fn from(e: io::Error) -> LocalError {
        LocalError(e.to_string())
    }
}

/// The device's data, per datastore (named by the server-side datastore name).
pub trait LocalStore {
    /// Every item of a datastore, in LUID order.
    fn items(&self, datastore: &str) -> Result<Vec<LocalItem>, LocalError>;
    /// Adds an item the server sent; returns the LUID given to it.
    fn add(
        &mut self,
        datastore: &str,
        content_type: &str,
        parent: Option<&str>,
        data: &[u8],
    ) -> Result<String, LocalError>;
    /// Replaces an item's content (and parent, when `Some`); false when there is no such item.
    fn replace(
        &mut self,
        datastore: &str,
        luid: &str,
        content_type: &str,
        parent: Option<Option<&str>>,
        data: &[u8],
    ) -> Result<bool, LocalError>;
    /// Deletes an item; false when there was none.
    fn delete(&mut self, datastore: &str, luid: &str) -> Result<bool, LocalError>;
}

/// Items in memory.
#[derive(Clone, Debug, Default)]
pub struct MemoryLocal {
    stores: BTreeMap<String, BTreeMap<String, LocalItem>>,
    next: u64,
}

impl MemoryLocal {
    pub fn new() -> MemoryLocal {
        MemoryLocal::default()
    }

    /// Puts an item with a chosen LUID (a change made "on the device").
    pub fn put(&mut self, datastore: &str, item: LocalItem) {
        self.stores.entry(datastore.to_string()).or_default().insert(item.luid.clone(), item);
    }
}

impl LocalStore for MemoryLocal {
    fn items(&self, datastore: &str) -> Result<Vec<LocalItem>, LocalError> {
        Ok(self.stores.get(datastore).map(|m| m.values().cloned().collect()).unwrap_or_default())
    }

    fn add(
        &mut self,
        datastore: &str,
        content_type: &str,
        parent: Option<&str>,
        data: &[u8],
    ) -> Result<String, LocalError> {
        let store = self.stores.entry(datastore.to_string()).or_default();
        let luid = loop {
            self.next += 1;
            let luid = format!("s{}", self.next);
            if !store.contains_key(&luid) {
                break luid;
            }
        };
        let item = LocalItem {
            luid: luid.clone(),
            content_type: content_type.to_string(),
            parent: parent.map(str::to_string),
            data: data.to_vec(),
        };
        store.insert(luid.clone(), item);
        Ok(luid)
    }

    fn replace(
        &mut self,
        datastore: &str,
        luid: &str,
        content_type: &str,
        parent: Option<Option<&str>>,
        data: &[u8],
    ) -> Result<bool, LocalError> {
        let Some(item) = self.stores.get_mut(datastore).and_then(|m| m.get_mut(luid)) else { return Ok(false) };
        item.content_type = content_type.to_string();
        item.data = data.to_vec();
        if let Some(parent) = parent {
            item.parent = parent.map(str::to_string);
        }
        Ok(true)
    }

    fn delete(&mut self, datastore: &str, luid: &str) -> Result<bool, LocalError> {
        Ok(self.stores.get_mut(datastore).and_then(|m| m.remove(luid)).is_some())
    }
}

/// Items as files: `<root>/<datastore>/<luid>`, with `<root>/<datastore>/.meta.json` holding
/// the content type and parent of each item whose type differs from the datastore's default or
/// that has a parent.
#[derive(Clone, Debug)]
pub struct FolderLocal {
    root: PathBuf,
    /// Datastore → content type of files without an entry in `.meta.json`.
    default_types: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Meta {
    #[serde(default)]
    items: BTreeMap<String, ItemMeta>,
    #[serde(default)]
    next: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct ItemMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
}

impl FolderLocal {
    /// Data under `root`; `default_types` gives each datastore's content type.
    pub fn new(root: &Path, default_types: BTreeMap<String, String>) -> FolderLocal {
        FolderLocal { root: root.to_path_buf(), default_types }
    }

    fn dir(&self, datastore: &str) -> Result<PathBuf, LocalError> {
        check_name(datastore)?;
        let dir = self.root.join(datastore);
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn meta(&self, datastore: &str) -> Result<Meta, LocalError> {
        match fs::read(self.dir(datastore)?.join(".meta.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LocalError(format!("{datastore}/.meta.json: {e}"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Meta::default()),
            Err(e) => Err(e.into()),
        }
    }

    fn save_meta(&self, datastore: &str, meta: &Meta) -> Result<(), LocalError> {
        let text = serde_json::to_vec_pretty(meta).map_err(|e| LocalError(e.to_string()))?;
        write_atomic(&self.dir(datastore)?.join(".meta.json"), &text)
    }

    fn default_type(&self, datastore: &str) -> String {
        self.default_types.get(datastore).cloned().unwrap_or_else(|| "text/plain".into())
    }

    fn set_meta(&self, meta: &mut Meta, datastore: &str, luid: &str, content_type: &str, parent: Option<&str>) {
        let default = self.default_type(datastore);
        let entry = ItemMeta {
            content_type: (content_type != default).then(|| content_type.to_string()),
            parent: parent.map(str::to_string),
        };
        if entry.content_type.is_none() && entry.parent.is_none() {
            meta.items.remove(luid);
        } else {
            meta.items.insert(luid.to_string(), entry);
        }
    }
}

impl LocalStore for FolderLocal {
    fn items(&self, datastore: &str) -> Result<Vec<LocalItem>, LocalError> {
        let dir = self.dir(datastore)?;
        let meta = self.meta(datastore)?;
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type()?.is_file() {
                continue;
            }
            let m = meta.items.get(&name);
            out.push(LocalItem {
                content_type: m.and_then(|m| m.content_type.clone()).unwrap_or_else(|| self.default_type(datastore)),
                parent: m.and_then(|m| m.parent.clone()),
                data: fs::read(entry.path())?,
                luid: name,
            });
        }
        out.sort_by(|a, b| a.luid.cmp(&b.luid));
        Ok(out)
    }

    fn add(
        &mut self,
        datastore: &str,
        content_type: &str,
        parent: Option<&str>,
        data: &[u8],
    ) -> Result<String, LocalError> {
        let dir = self.dir(datastore)?;
        let mut meta = self.meta(datastore)?;
        let luid = loop {
            meta.next += 1;
            let luid = format!("s{}", meta.next);
            if !dir.join(&luid).exists() {
                break luid;
            }
        };
        write_atomic(&dir.join(&luid), data)?;
        self.set_meta(&mut meta, datastore, &luid, content_type, parent);
        self.save_meta(datastore, &meta)?;
        Ok(luid)
    }

    fn replace(
        &mut self,
        datastore: &str,
        luid: &str,
        content_type: &str,
        parent: Option<Option<&str>>,
        data: &[u8],
    ) -> Result<bool, LocalError> {
        check_name(luid)?;
        let path = self.dir(datastore)?.join(luid);
        if !path.is_file() {
            return Ok(false);
        }
        write_atomic(&path, data)?;
        let mut meta = self.meta(datastore)?;
        let old_parent = meta.items.get(luid).and_then(|m| m.parent.clone());
        let parent = match parent {
            Some(p) => p.map(str::to_string),
            None => old_parent,
        };
        self.set_meta(&mut meta, datastore, luid, content_type, parent.as_deref());
        self.save_meta(datastore, &meta)?;
        Ok(true)
    }

    fn delete(&mut self, datastore: &str, luid: &str) -> Result<bool, LocalError> {
        check_name(luid)?;
        let path = self.dir(datastore)?.join(luid);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let mut meta = self.meta(datastore)?;
        if meta.items.remove(luid).is_some() {
            self.save_meta(datastore, &meta)?;
        }
        Ok(true)
    }
}

/// LUIDs and datastore names become file names: no separators, no dot files.
fn check_name(name: &str) -> Result<(), LocalError> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        return Err(LocalError(format!("{name:?} cannot be a file name")));
    }
    Ok(())
}

/// Writes through a temporary file and a rename, so a crash leaves the old or the new content.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LocalError> {
    let tmp = path.with_extension("tmp~");
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(s: &mut dyn LocalStore) {
        let a = s.add("contacts", "text/vcard", None, b"A").unwrap();
        let b = s.add("contacts", "text/x-vcard", Some(&a), b"B").unwrap();
        assert_ne!(a, b);
        let items = s.items("contacts").unwrap();
        assert_eq!(items.len(), 2);
        let got_b = items.iter().find(|i| i.luid == b).unwrap();
        assert_eq!((got_b.content_type.as_str(), got_b.parent.as_deref()), ("text/x-vcard", Some(a.as_str())));
        assert!(s.replace("contacts", &b, "text/vcard", None, b"B2").unwrap());
        let got_b = s.items("contacts").unwrap().into_iter().find(|i| i.luid == b).unwrap();
        assert_eq!((got_b.data.as_slice(), got_b.parent.as_deref()), (&b"B2"[..], Some(a.as_str())), "parent kept");
        assert!(s.replace("contacts", &b, "text/vcard", Some(None), b"B3").unwrap());
        assert_eq!(s.items("contacts").unwrap().into_iter().find(|i| i.luid == b).unwrap().parent, None);
        assert!(!s.replace("contacts", "nope", "text/vcard", None, b"x").unwrap());
        assert!(s.delete("contacts", &a).unwrap());
        assert!(!s.delete("contacts", &a).unwrap());
        assert_eq!(s.items("contacts").unwrap().len(), 1);
        assert!(s.items("calendar").unwrap().is_empty());
    }

    #[test]
    fn memory_store() {
        exercise(&mut MemoryLocal::new());
    }

    #[test]
    fn folder_store() {
        let dir = std::env::temp_dir().join(format!("syncgate-local-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let types = BTreeMap::from([("contacts".to_string(), "text/vcard".to_string())]);
        let mut s = FolderLocal::new(&dir, types.clone());
        exercise(&mut s);
        // A file dropped in by hand is an item with the datastore's type.
        fs::write(dir.join("contacts").join("manual"), b"M").unwrap();
        let again = FolderLocal::new(&dir, types);
        let manual = again.items("contacts").unwrap().into_iter().find(|i| i.luid == "manual").unwrap();
        assert_eq!(manual.content_type, "text/vcard");
        assert!(s.add("../x", "t", None, b"").is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
