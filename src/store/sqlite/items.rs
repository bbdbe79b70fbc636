//! Items and the change log in SQL (tables `items`, `changes`, and `users.seq`).
//!
//! Every successful mutation takes the user's next sequence number and writes one `changes`
//! row; `changes_since` folds those rows into one net change per item with window functions.
//! Each function runs inside the caller's transaction.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::Context;
use crate::store::memory::guid_from_seq;
use crate::store::{
    Applied, Change, ChangeKind, Delta, ItemInfo, ItemRecord, Mutation, Origin, StoreError, StoreResult, UserId,
};

pub(super) fn item(tx: &Transaction<'_>, user: UserId, datastore: &str, guid: &str) -> StoreResult<Option<ItemRecord>> {
    tx.prepare_cached(
        "SELECT guid, parent_guid, content_type, data, seq FROM items
         WHERE user_id = ?1 AND datastore = ?2 AND guid = ?3",
    )
    .and_then(|mut stmt| stmt.query_row(params![user.0, datastore, guid], item_row).optional())
    .context("reading an item")
}

pub(super) fn item_info(
    tx: &Transaction<'_>,
    user: UserId,
    datastore: &str,
    guid: &str,
) -> StoreResult<Option<ItemInfo>> {
    // length() of a BLOB comes from the record header: the content is not read.
    tx.prepare_cached(
        "SELECT guid, parent_guid, content_type, length(data), seq FROM items
         WHERE user_id = ?1 AND datastore = ?2 AND guid = ?3",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![user.0, datastore, guid], |row| {
            Ok(ItemInfo {
                guid: row.get(0)?,
                parent: row.get(1)?,
                content_type: row.get(2)?,
                size: row.get(3)?,
                seq: row.get(4)?,
            })
        })
        .optional()
    })
    .context("reading an item's details")
}

/// A piece of an item's content through SQLite's incremental BLOB I/O (only the pages the piece
/// lies on are read).
pub(super) fn item_bytes(
    tx: &Transaction<'_>,
    user: UserId,
    datastore: &str,
    guid: &str,
    offset: u64,
    len: usize,
) -> StoreResult<Option<(u64, Vec<u8>)>> {
    let found: Option<(i64, u64)> = tx
        .prepare_cached("SELECT rowid, seq FROM items WHERE user_id = ?1 AND datastore = ?2 AND guid = ?3")
        .and_then(|mut stmt| {
            stmt.query_row(params![user.0, datastore, guid], |r| Ok((r.get(0)?, r.get(1)?))).optional()
        })
        .context("finding an item")?;
    let Some((rowid, seq)) = found else { return Ok(None) };
    let blob = tx.blob_open(rusqlite::MAIN_DB, "items", "data", rowid, true).context("opening an item's content")?;
    let size = blob.len() as u64;
    let start = offset.min(size);
    let n = usize::try_from((size - start).min(len as u64)).unwrap_or(len);
    let mut buf = vec![0u8; n];
    // `start` ≤ size, which is an i32-sized BLOB length.
    blob.read_at_exact(&mut buf, start as usize).context("reading an item's content")?;
    Ok(Some((seq, buf)))
}

pub(super) fn items(tx: &Transaction<'_>, user: UserId, datastore: &str) -> StoreResult<Vec<ItemRecord>> {
    tx.prepare_cached(
        "SELECT guid, parent_guid, content_type, data, seq FROM items
         WHERE user_id = ?1 AND datastore = ?2 ORDER BY guid",
    )
    .and_then(|mut stmt| stmt.query_map(params![user.0, datastore], item_row)?.collect())
    .context("listing items")
}

pub(super) fn guids(tx: &Transaction<'_>, user: UserId, datastore: &str) -> StoreResult<Vec<String>> {
    tx.prepare_cached("SELECT guid FROM items WHERE user_id = ?1 AND datastore = ?2 ORDER BY guid")
        .and_then(|mut stmt| stmt.query_map(params![user.0, datastore], |row| row.get(0))?.collect())
        .context("listing item GUIDs")
}

pub(super) fn parents(tx: &Transaction<'_>, user: UserId, datastore: &str) -> StoreResult<Vec<(String, String)>> {
    tx.prepare_cached(
        "SELECT guid, parent_guid FROM items
         WHERE user_id = ?1 AND datastore = ?2 AND parent_guid IS NOT NULL ORDER BY guid",
    )
    .and_then(|mut stmt| stmt.query_map(params![user.0, datastore], |row| Ok((row.get(0)?, row.get(1)?)))?.collect())
    .context("listing item parents")
}

pub(super) fn current_seq(tx: &Transaction<'_>, user: UserId) -> StoreResult<u64> {
    let seq: Option<u64> = tx
        .prepare_cached("SELECT seq FROM users WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row(params![user.0], |row| row.get(0)).optional())
        .context("reading the sequence number")?;
    Ok(seq.unwrap_or(0))
}

/// The net change per item: whether the item existed at `since` is told by its first logged
/// change after it (anything but an Add means it did), whether it exists now by its latest.
pub(super) fn changes_since(
    tx: &Transaction<'_>,
    user: UserId,
    datastore: &str,
    since: u64,
) -> StoreResult<Vec<Change>> {
    // No sequence number is above i64::MAX, so a larger `since` asks for nothing.
    let Ok(since) = i64::try_from(since) else { return Ok(Vec::new()) };
    let rows: Vec<Option<Change>> = tx
        .prepare_cached(
            "SELECT guid, first_kind, kind, origin, seq, delta
             FROM (SELECT guid, kind, origin, seq,
                          first_value(kind) OVER (PARTITION BY guid ORDER BY seq) AS first_kind,
                          row_number() OVER (PARTITION BY guid ORDER BY seq DESC) AS newest,
                          max(delta & 1) OVER (PARTITION BY guid) | max(delta & 2) OVER (PARTITION BY guid)
                            | max(delta & 4) OVER (PARTITION BY guid) AS delta
                   FROM changes
                   WHERE user_id = ?1 AND datastore = ?2 AND seq > ?3)
             WHERE newest = 1
             ORDER BY seq",
        )
        .and_then(|mut stmt| stmt.query_map(params![user.0, datastore, since], net_change_row)?.collect())
        .context("reading the change log")?;
    Ok(rows.into_iter().flatten().collect())
}

/// Applies mutations for an existing user, one change-log row each; results in order.
pub(super) fn apply(
    tx: &Transaction<'_>,
    user: UserId,
    datastore: &str,
    origin: &Origin,
    mutations: &[Mutation],
) -> StoreResult<Vec<Applied>> {
    let origin = match origin {
        Origin::Device(id) => Some(id.as_str()),
        Origin::Service | Origin::Backend => None,
    };
    mutations.iter().map(|m| apply_one(tx, user, datastore, origin, m)).collect()
}

fn apply_one(
    tx: &Transaction<'_>,
    user: UserId,
    datastore: &str,
    origin: Option<&str>,
    mutation: &Mutation,
) -> StoreResult<Applied> {
    let (guid, kind, seq, delta) = match mutation {
        Mutation::Add { parent, content_type, data } => {
            let seq = next_seq(tx, user)?;
            let guid = guid_from_seq(seq);
            tx.prepare_cached(
                "INSERT INTO items (user_id, guid, datastore, parent_guid, content_type, data, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut stmt| stmt.execute(params![user.0, guid, datastore, parent, content_type, data, seq]))
            .context("adding an item")?;
            (guid, ChangeKind::Add, seq, Delta::WHOLE)
        }
        Mutation::Replace { guid, parent, content_type, data, fields_only } => {
            // Compared in SQL: the old content is not read into memory.
            let same: Option<(bool, bool, bool)> = tx
                .prepare_cached(
                    "SELECT parent_guid IS ?4, content_type = ?5, data = ?6 FROM items
                     WHERE user_id = ?1 AND datastore = ?2 AND guid = ?3",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![user.0, datastore, guid, parent, content_type, data], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()
                })
                .context("comparing an item")?;
            if let Some((same_parent, same_type, same_data)) = same {
                let delta = Delta::compared(same_parent, same_type, same_data, *fields_only);
                let seq = next_seq(tx, user)?;
                tx.prepare_cached(
                    "UPDATE items SET parent_guid = ?4, content_type = ?5, data = ?6, seq = ?7
                     WHERE user_id = ?1 AND datastore = ?2 AND guid = ?3",
                )
                .and_then(|mut stmt| stmt.execute(params![user.0, datastore, guid, parent, content_type, data, seq]))
                .context("replacing an item")?;
                (guid.clone(), ChangeKind::Replace, seq, delta)
            } else {
                return Ok(Applied::NotFound);
            }
        }
        Mutation::Delete { guid } => {
            let deleted = tx
                .prepare_cached("DELETE FROM items WHERE user_id = ?1 AND datastore = ?2 AND guid = ?3")
                .and_then(|mut stmt| stmt.execute(params![user.0, datastore, guid]))
                .context("deleting an item")?;
            if deleted == 0 {
                return Ok(Applied::NotFound);
            }
            (guid.clone(), ChangeKind::Delete, next_seq(tx, user)?, Delta::default())
        }
    };
    tx.prepare_cached(
        "INSERT INTO changes (user_id, seq, datastore, guid, kind, origin, delta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut stmt| stmt.execute(params![user.0, seq, datastore, guid, kind_to_sql(kind), origin, delta.bits()]))
    .context("logging a change")?;
    Ok(Applied::Done { guid })
}

/// Takes the user's next sequence number.
fn next_seq(tx: &Transaction<'_>, user: UserId) -> StoreResult<u64> {
    let seq: Option<u64> = tx
        .prepare_cached("UPDATE users SET seq = seq + 1 WHERE id = ?1 RETURNING seq")
        .and_then(|mut stmt| stmt.query_row(params![user.0], |row| row.get(0)).optional())
        .context("taking a sequence number")?;
    seq.ok_or_else(|| StoreError::NotFound(format!("user {}", user.0)))
}

fn item_row(row: &Row<'_>) -> rusqlite::Result<ItemRecord> {
    Ok(ItemRecord {
        guid: row.get(0)?,
        parent: row.get(1)?,
        content_type: row.get(2)?,
        data: row.get(3)?,
        seq: row.get(4)?,
    })
}

/// A row of (guid, first kind, latest kind, latest origin, latest seq) as a net change, `None`
/// when the item was added and deleted again.
fn net_change_row(row: &Row<'_>) -> rusqlite::Result<Option<Change>> {
    let existed_before = kind_column(row, 1)? != ChangeKind::Add;
    let exists_now = kind_column(row, 2)? != ChangeKind::Delete;
    let kind = match (existed_before, exists_now) {
        (false, true) => ChangeKind::Add,
        (true, true) => ChangeKind::Replace,
        (true, false) => ChangeKind::Delete,
        (false, false) => return Ok(None),
    };
    let origin: Option<String> = row.get(3)?;
    let origin = origin.map_or(Origin::Service, Origin::Device);
    let delta = match kind {
        ChangeKind::Add => Delta::WHOLE,
        ChangeKind::Replace => Delta::from_bits(row.get(5)?),
        ChangeKind::Delete => Delta::default(),
    };
    Ok(Some(Change { guid: row.get(0)?, kind, origin, seq: row.get(4)?, delta }))
}

fn kind_column(row: &Row<'_>, index: usize) -> rusqlite::Result<ChangeKind> {
    let kind: String = row.get(index)?;
    kind_from_sql(&kind).ok_or_else(|| {
        let message = format!("unknown change kind {kind:?}");
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
    })
}

fn kind_to_sql(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Add => "add",
        ChangeKind::Replace => "replace",
        ChangeKind::Delete => "delete",
    }
}

fn kind_from_sql(kind: &str) -> Option<ChangeKind> {
    match kind {
        "add" => Some(ChangeKind::Add),
        "replace" => Some(ChangeKind::Replace),
        "delete" => Some(ChangeKind::Delete),
        _ => None,
    }
}
