//! The SQLite side of [`AlertStore`]: tables `device_prefs` and `alerts` (schema v4).

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::Context;
use crate::store::alerts::{AlertRecord, AlertState, NewAlert, PrefsRecord};
use crate::store::{StoreError, StoreResult, UserId};

const PREFS_COLUMNS: &str = "p.user_id, u.name, p.device_id, p.prefs, p.next_run";
const ALERT_COLUMNS: &str =
    "a.id, a.user_id, u.name, a.device_id, a.datastores, a.reason, a.created, a.due, a.state, a.attempts, a.sent, a.error";

fn prefs_row(row: &Row<'_>) -> rusqlite::Result<PrefsRecord> {
    Ok(PrefsRecord {
        user: UserId(row.get(0)?),
        user_name: row.get(1)?,
        device_id: row.get(2)?,
        prefs: row.get(3)?,
        next_run: row.get(4)?,
    })
}

fn alert_row(row: &Row<'_>) -> rusqlite::Result<AlertRecord> {
    let datastores: String = row.get(4)?;
    let state: String = row.get(8)?;
    let bad =
        |i: usize, what: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, what.into());
    Ok(AlertRecord {
        id: row.get(0)?,
        user: UserId(row.get(1)?),
        user_name: row.get(2)?,
        device_id: row.get(3)?,
        datastores: serde_json::from_str(&datastores).map_err(|e| bad(4, format!("datastores: {e}")))?,
        reason: row.get(5)?,
        created: row.get(6)?,
        due: row.get(7)?,
        state: AlertState::parse(&state).ok_or_else(|| bad(8, format!("unknown alert state {state:?}")))?,
        attempts: row.get(9)?,
        sent: row.get(10)?,
        error: row.get(11)?,
    })
}

fn json_list(list: &[String]) -> StoreResult<String> {
    serde_json::to_string(list).map_err(|e| StoreError::Backend(format!("encoding datastores: {e}")))
}

pub(super) fn device_prefs(tx: &Transaction<'_>, user: UserId, device: &str) -> StoreResult<Option<PrefsRecord>> {
    tx.prepare_cached(&format!(
        "SELECT {PREFS_COLUMNS} FROM device_prefs p JOIN users u ON u.id = p.user_id
         WHERE p.user_id = ?1 AND p.device_id = ?2"
    ))
    .and_then(|mut stmt| stmt.query_row(params![user.0, device], prefs_row).optional())
    .context("reading device preferences")
}

pub(super) fn set_device_prefs(
    tx: &Transaction<'_>,
    user: UserId,
    device: &str,
    prefs: Option<&str>,
    next_run: Option<i64>,
) -> StoreResult<()> {
    match prefs {
        Some(prefs) => {
            tx.execute("INSERT OR IGNORE INTO devices (user_id, device_id) VALUES (?1, ?2)", params![user.0, device])
                .context("registering the device")?;
            tx.execute(
                "INSERT OR REPLACE INTO device_prefs (user_id, device_id, prefs, next_run) VALUES (?1, ?2, ?3, ?4)",
                params![user.0, device, prefs, next_run],
            )
            .context("writing device preferences")?;
        }
        None => {
            tx.execute("DELETE FROM device_prefs WHERE user_id = ?1 AND device_id = ?2", params![user.0, device])
                .context("removing device preferences")?;
        }
    }
    Ok(())
}

pub(super) fn user_device_prefs(tx: &Transaction<'_>, user: UserId) -> StoreResult<Vec<PrefsRecord>> {
    tx.prepare_cached(&format!(
        "SELECT {PREFS_COLUMNS} FROM device_prefs p JOIN users u ON u.id = p.user_id
         WHERE p.user_id = ?1 ORDER BY p.device_id"
    ))
    .and_then(|mut stmt| stmt.query_map(params![user.0], prefs_row)?.collect())
    .context("listing device preferences")
}

pub(super) fn set_next_run(tx: &Transaction<'_>, user: UserId, device: &str, next_run: Option<i64>) -> StoreResult<()> {
    tx.execute(
        "UPDATE device_prefs SET next_run = ?3 WHERE user_id = ?1 AND device_id = ?2",
        params![user.0, device, next_run],
    )
    .context("moving a schedule")?;
    Ok(())
}

pub(super) fn due_schedules(tx: &Transaction<'_>, now: i64) -> StoreResult<Vec<PrefsRecord>> {
    tx.prepare_cached(&format!(
        "SELECT {PREFS_COLUMNS} FROM device_prefs p JOIN users u ON u.id = p.user_id
         WHERE p.next_run IS NOT NULL AND p.next_run <= ?1 ORDER BY p.next_run"
    ))
    .and_then(|mut stmt| stmt.query_map(params![now], prefs_row)?.collect())
    .context("reading due schedules")
}

pub(super) fn next_schedule(tx: &Transaction<'_>) -> StoreResult<Option<i64>> {
    tx.query_row("SELECT min(next_run) FROM device_prefs", [], |r| r.get(0)).context("reading the next schedule")
}

pub(super) fn enqueue_alert(tx: &Transaction<'_>, a: &NewAlert) -> StoreResult<i64> {
    tx.execute("INSERT OR IGNORE INTO devices (user_id, device_id) VALUES (?1, ?2)", params![a.user.0, a.device_id])
        .context("registering the device")?;
    tx.prepare_cached(
        "INSERT INTO alerts (user_id, device_id, datastores, reason, created, due, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending') RETURNING id",
    )
    .and_then(|mut stmt| {
        stmt.query_row(
            params![a.user.0, a.device_id, json_list(&a.datastores).unwrap_or_default(), a.reason, a.created, a.due],
            |r| r.get(0),
        )
    })
    .context("queueing an alert")
}

pub(super) fn pending_alert(tx: &Transaction<'_>, user: UserId, device: &str) -> StoreResult<Option<AlertRecord>> {
    tx.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a JOIN users u ON u.id = a.user_id
         WHERE a.user_id = ?1 AND a.device_id = ?2 AND a.state = 'pending' ORDER BY a.id LIMIT 1"
    ))
    .and_then(|mut stmt| stmt.query_row(params![user.0, device], alert_row).optional())
    .context("reading a pending alert")
}

pub(super) fn update_alert(tx: &Transaction<'_>, a: &AlertRecord) -> StoreResult<()> {
    let changed = tx
        .prepare_cached(
            "UPDATE alerts SET datastores = ?2, due = ?3, state = ?4, attempts = ?5, sent = ?6, error = ?7
             WHERE id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                a.id,
                json_list(&a.datastores).unwrap_or_default(),
                a.due,
                a.state.as_str(),
                a.attempts,
                a.sent,
                a.error
            ])
        })
        .context("updating an alert")?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("alert {}", a.id)));
    }
    Ok(())
}

pub(super) fn due_alerts(tx: &Transaction<'_>, now: i64, limit: usize) -> StoreResult<Vec<AlertRecord>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    tx.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a JOIN users u ON u.id = a.user_id
         WHERE a.state = 'pending' AND a.due <= ?1 ORDER BY a.due, a.id LIMIT ?2"
    ))
    .and_then(|mut stmt| stmt.query_map(params![now, limit], alert_row)?.collect())
    .context("reading due alerts")
}

pub(super) fn next_alert_due(tx: &Transaction<'_>) -> StoreResult<Option<i64>> {
    tx.query_row("SELECT min(due) FROM alerts WHERE state = 'pending'", [], |r| r.get(0))
        .context("reading the next alert")
}

pub(super) fn device_alerts(
    tx: &Transaction<'_>,
    user: UserId,
    device: &str,
    since: i64,
) -> StoreResult<Vec<AlertRecord>> {
    tx.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a JOIN users u ON u.id = a.user_id
         WHERE a.user_id = ?1 AND a.device_id = ?2 AND a.created >= ?3 ORDER BY a.id"
    ))
    .and_then(|mut stmt| stmt.query_map(params![user.0, device, since], alert_row)?.collect())
    .context("listing a device's alerts")
}

pub(super) fn settle_inflight_alerts(tx: &Transaction<'_>) -> StoreResult<usize> {
    tx.execute(
        "UPDATE alerts SET state = 'unknown', error = 'the gateway stopped while it was being sent' WHERE state = 'sending'",
        [],
    )
    .context("settling alerts in flight")
}
