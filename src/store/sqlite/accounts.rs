//! Users and devices in SQL (tables `users`, `devices`).
//!
//! Each function runs inside the caller's transaction. Deleting a user or a device relies on
//! the schema's `ON DELETE CASCADE` to take everything that hangs off it.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::Context;
use crate::store::{DeviceRecord, StoreError, StoreResult, User, UserId};

pub(super) fn create_user(tx: &Transaction<'_>, name: &str, secret: &str) -> StoreResult<User> {
    if user_by_name(tx, name)?.is_some() {
        return Err(StoreError::AlreadyExists(format!("user {name}")));
    }
    let id: i64 = tx
        .prepare_cached("INSERT INTO users (name, secret) VALUES (?1, ?2) RETURNING id")
        .and_then(|mut stmt| stmt.query_row(params![name, secret], |row| row.get(0)))
        .context("creating a user")?;
    Ok(User { id: UserId(id), name: name.to_owned(), secret: secret.to_owned() })
}

pub(super) fn user_by_name(tx: &Transaction<'_>, name: &str) -> StoreResult<Option<User>> {
    tx.prepare_cached("SELECT id, name, secret FROM users WHERE name = ?1")
        .and_then(|mut stmt| stmt.query_row(params![name], user_row).optional())
        .context("looking up a user")
}

pub(super) fn list_users(tx: &Transaction<'_>) -> StoreResult<Vec<User>> {
    tx.prepare_cached("SELECT id, name, secret FROM users ORDER BY name")
        .and_then(|mut stmt| stmt.query_map([], user_row)?.collect())
        .context("listing users")
}

pub(super) fn set_user_secret(tx: &Transaction<'_>, name: &str, secret: &str) -> StoreResult<()> {
    let changed = tx
        .prepare_cached("UPDATE users SET secret = ?2 WHERE name = ?1")
        .and_then(|mut stmt| stmt.execute(params![name, secret]))
        .context("setting a user's secret")?;
    match changed {
        0 => Err(StoreError::NotFound(format!("user {name}"))),
        _ => Ok(()),
    }
}

pub(super) fn delete_user(tx: &Transaction<'_>, name: &str) -> StoreResult<()> {
    let deleted = tx
        .prepare_cached("DELETE FROM users WHERE name = ?1")
        .and_then(|mut stmt| stmt.execute(params![name]))
        .context("deleting a user")?;
    match deleted {
        0 => Err(StoreError::NotFound(format!("user {name}"))),
        _ => Ok(()),
    }
}

/// Fails with `NotFound` unless the user exists (writes call this first).
pub(super) fn require_user(tx: &Transaction<'_>, user: UserId) -> StoreResult<()> {
    let exists: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)")
        .and_then(|mut stmt| stmt.query_row(params![user.0], |row| row.get(0)))
        .context("looking up a user")?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("user {}", user.0)))
    }
}

pub(super) fn device(tx: &Transaction<'_>, user: UserId, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
    tx.prepare_cached("SELECT device_id, nonce, devinf, last_sync FROM devices WHERE user_id = ?1 AND device_id = ?2")
        .and_then(|mut stmt| stmt.query_row(params![user.0, device_id], device_row).optional())
        .context("reading a device")
}

pub(super) fn put_device(tx: &Transaction<'_>, user: UserId, device: &DeviceRecord) -> StoreResult<()> {
    require_user(tx, user)?;
    // An upsert, not INSERT OR REPLACE: replacing the row would cascade to anchors and maps.
    tx.prepare_cached(
        "INSERT INTO devices (user_id, device_id, nonce, devinf, last_sync) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (user_id, device_id) DO UPDATE
         SET nonce = excluded.nonce, devinf = excluded.devinf, last_sync = excluded.last_sync",
    )
    .and_then(|mut stmt| stmt.execute(params![user.0, device.device_id, device.nonce, device.devinf, device.last_sync]))
    .context("writing a device")?;
    Ok(())
}

/// Creates an empty record for the device unless it has one.
pub(super) fn ensure_device(tx: &Transaction<'_>, user: UserId, device_id: &str) -> StoreResult<()> {
    tx.prepare_cached("INSERT INTO devices (user_id, device_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
        .and_then(|mut stmt| stmt.execute(params![user.0, device_id]))
        .context("recording a device")?;
    Ok(())
}

pub(super) fn list_devices(tx: &Transaction<'_>, user: UserId) -> StoreResult<Vec<DeviceRecord>> {
    tx.prepare_cached("SELECT device_id, nonce, devinf, last_sync FROM devices WHERE user_id = ?1 ORDER BY device_id")
        .and_then(|mut stmt| stmt.query_map(params![user.0], device_row)?.collect())
        .context("listing devices")
}

pub(super) fn delete_device(tx: &Transaction<'_>, user: UserId, device_id: &str) -> StoreResult<()> {
    require_user(tx, user)?;
    tx.prepare_cached("DELETE FROM devices WHERE user_id = ?1 AND device_id = ?2")
        .and_then(|mut stmt| stmt.execute(params![user.0, device_id]))
        .context("deleting a device")?;
    Ok(())
}

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User { id: UserId(row.get(0)?), name: row.get(1)?, secret: row.get(2)? })
}

fn device_row(row: &Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord { device_id: row.get(0)?, nonce: row.get(1)?, devinf: row.get(2)?, last_sync: row.get(3)? })
}
