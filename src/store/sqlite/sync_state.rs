//! Per-device sync state in SQL (tables `anchors`, `id_maps`) and the session commit.
//!
//! A commit applies the device's mutations, then its unmaps, then its maps, in the caller's
//! transaction: a map that cannot be resolved fails the whole commit after work was done, and
//! the transaction's rollback undoes it.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{accounts, items, Context};
use crate::store::memory::resolve_map;
use crate::store::{Applied, Commit, Origin, StoreResult, SyncAnchor, UserId};

pub(super) fn anchor(
    tx: &Transaction<'_>,
    user: UserId,
    device_id: &str,
    datastore: &str,
) -> StoreResult<Option<SyncAnchor>> {
    tx.prepare_cached(
        "SELECT client_next, server_next, synced_seq, filter FROM anchors
         WHERE user_id = ?1 AND device_id = ?2 AND datastore = ?3",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![user.0, device_id, datastore], |row| {
            Ok(SyncAnchor {
                client_next: row.get(0)?,
                server_next: row.get(1)?,
                synced_seq: row.get(2)?,
                filter: row.get(3)?,
            })
        })
        .optional()
    })
    .context("reading an anchor")
}

pub(super) fn set_anchor(
    tx: &Transaction<'_>,
    user: UserId,
    device_id: &str,
    datastore: &str,
    anchor: &SyncAnchor,
) -> StoreResult<()> {
    accounts::require_user(tx, user)?;
    accounts::ensure_device(tx, user, device_id)?;
    tx.prepare_cached(
        "INSERT INTO anchors (user_id, device_id, datastore, client_next, server_next, synced_seq, filter)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (user_id, device_id, datastore) DO UPDATE
         SET client_next = excluded.client_next, server_next = excluded.server_next,
             synced_seq = excluded.synced_seq, filter = excluded.filter",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            user.0,
            device_id,
            datastore,
            anchor.client_next,
            anchor.server_next,
            anchor.synced_seq,
            anchor.filter
        ])
    })
    .context("writing an anchor")?;
    Ok(())
}

pub(super) fn clear_anchor(tx: &Transaction<'_>, user: UserId, device_id: &str, datastore: &str) -> StoreResult<()> {
    accounts::require_user(tx, user)?;
    tx.prepare_cached("DELETE FROM anchors WHERE user_id = ?1 AND device_id = ?2 AND datastore = ?3")
        .and_then(|mut stmt| stmt.execute(params![user.0, device_id, datastore]))
        .context("clearing an anchor")?;
    Ok(())
}

pub(super) fn id_map(
    tx: &Transaction<'_>,
    user: UserId,
    device_id: &str,
    datastore: &str,
) -> StoreResult<Vec<(String, String)>> {
    tx.prepare_cached(
        "SELECT luid, guid FROM id_maps WHERE user_id = ?1 AND device_id = ?2 AND datastore = ?3 ORDER BY luid",
    )
    .and_then(|mut stmt| {
        stmt.query_map(params![user.0, device_id, datastore], |row| Ok((row.get(0)?, row.get(1)?)))?.collect()
    })
    .context("reading an id map")
}

pub(super) fn commit(
    tx: &Transaction<'_>,
    user: UserId,
    device_id: &str,
    datastore: &str,
    commit: &Commit,
) -> StoreResult<Vec<Applied>> {
    accounts::require_user(tx, user)?;
    accounts::ensure_device(tx, user, device_id)?;
    let origin = Origin::Device(device_id.to_owned());
    let results = items::apply(tx, user, datastore, &origin, &commit.mutations)?;
    for luid in &commit.unmaps {
        tx.prepare_cached("DELETE FROM id_maps WHERE user_id = ?1 AND device_id = ?2 AND datastore = ?3 AND luid = ?4")
            .and_then(|mut stmt| stmt.execute(params![user.0, device_id, datastore, luid]))
            .context("removing a map")?;
    }
    for update in &commit.maps {
        let (luid, guid) = resolve_map(update, &commit.mutations, &results)?;
        // REPLACE drops the rows that held this LUID or this GUID (primary key and UNIQUE).
        tx.prepare_cached(
            "INSERT OR REPLACE INTO id_maps (user_id, device_id, datastore, luid, guid) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut stmt| stmt.execute(params![user.0, device_id, datastore, luid, guid]))
        .context("writing a map")?;
    }
    Ok(results)
}
