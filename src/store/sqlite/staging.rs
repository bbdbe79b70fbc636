//! Large objects being received (table `staged_chunks`) and suspended sessions (table
//! `suspended_sessions`).
//!
//! A staged object is its chunks as rows in `part` order, so appending a chunk writes only that
//! chunk and reading concatenates them into one buffer of the exact size.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{accounts, Context};
use crate::store::{StoreError, StoreResult, UserId};

pub(super) fn append(
    tx: &Transaction<'_>,
    user: UserId,
    device_id: &str,
    key: &str,
    offset: u64,
    bytes: &[u8],
) -> StoreResult<u64> {
    accounts::require_user(tx, user)?;
    accounts::ensure_device(tx, user, device_id)?;
    if offset == 0 {
        clear(tx, user, device_id, Some(key))?;
    }
    let (parts, len): (i64, i64) = tx
        .prepare_cached(
            "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM staged_chunks
             WHERE user_id = ?1 AND device_id = ?2 AND key = ?3",
        )
        .and_then(|mut stmt| stmt.query_row(params![user.0, device_id, key], |row| Ok((row.get(0)?, row.get(1)?))))
        .context("measuring a staged object")?;
    if offset > 0 && parts == 0 {
        return Err(StoreError::Invalid(format!("no staged object {key}")));
    }
    if len as u64 != offset {
        return Err(StoreError::Invalid(format!("staged object {key} has {len} bytes, not {offset}")));
    }
    tx.prepare_cached("INSERT INTO staged_chunks (user_id, device_id, key, part, bytes) VALUES (?1, ?2, ?3, ?4, ?5)")
        .and_then(|mut stmt| stmt.execute(params![user.0, device_id, key, parts, bytes]))
        .context("staging a chunk")?;
    Ok(offset + bytes.len() as u64)
}

pub(super) fn read(tx: &Transaction<'_>, user: UserId, device_id: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
    let (parts, len): (i64, i64) = tx
        .prepare_cached(
            "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM staged_chunks
             WHERE user_id = ?1 AND device_id = ?2 AND key = ?3",
        )
        .and_then(|mut stmt| stmt.query_row(params![user.0, device_id, key], |row| Ok((row.get(0)?, row.get(1)?))))
        .context("measuring a staged object")?;
    if parts == 0 {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let mut stmt = tx
        .prepare_cached(
            "SELECT bytes FROM staged_chunks WHERE user_id = ?1 AND device_id = ?2 AND key = ?3 ORDER BY part",
        )
        .context("reading a staged object")?;
    let mut rows = stmt.query(params![user.0, device_id, key]).context("reading a staged object")?;
    while let Some(row) = rows.next().context("reading a staged chunk")? {
        let bytes = row.get_ref(0).and_then(|v| v.as_blob().map_err(Into::into)).context("reading a staged chunk")?;
        out.extend_from_slice(bytes);
    }
    Ok(Some(out))
}

pub(super) fn clear(tx: &Transaction<'_>, user: UserId, device_id: &str, key: Option<&str>) -> StoreResult<()> {
    accounts::require_user(tx, user)?;
    match key {
        Some(key) => tx
            .prepare_cached("DELETE FROM staged_chunks WHERE user_id = ?1 AND device_id = ?2 AND key = ?3")
            .and_then(|mut stmt| stmt.execute(params![user.0, device_id, key])),
        None => tx
            .prepare_cached("DELETE FROM staged_chunks WHERE user_id = ?1 AND device_id = ?2")
            .and_then(|mut stmt| stmt.execute(params![user.0, device_id])),
    }
    .context("dropping staged objects")?;
    Ok(())
}

pub(super) fn suspended(tx: &Transaction<'_>, user: UserId, device_id: &str) -> StoreResult<Option<String>> {
    tx.prepare_cached("SELECT state FROM suspended_sessions WHERE user_id = ?1 AND device_id = ?2")
        .and_then(|mut stmt| stmt.query_row(params![user.0, device_id], |row| row.get(0)).optional())
        .context("reading a suspended session")
}

pub(super) fn set_suspended(
    tx: &Transaction<'_>,
    user: UserId,
    device_id: &str,
    state: Option<&str>,
) -> StoreResult<()> {
    accounts::require_user(tx, user)?;
    match state {
        Some(state) => {
            accounts::ensure_device(tx, user, device_id)?;
            tx.prepare_cached(
                "INSERT INTO suspended_sessions (user_id, device_id, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id, device_id) DO UPDATE SET state = excluded.state",
            )
            .and_then(|mut stmt| stmt.execute(params![user.0, device_id, state]))
        }
        None => tx
            .prepare_cached("DELETE FROM suspended_sessions WHERE user_id = ?1 AND device_id = ?2")
            .and_then(|mut stmt| stmt.execute(params![user.0, device_id])),
    }
    .context("saving a suspended session")?;
    Ok(())
}
