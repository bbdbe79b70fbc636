//! Schema migrations: the SQL files of `schemas/sql/`, compiled in, applied in order.
//!
//! The database records how many have been applied in `PRAGMA user_version`. Opening applies
//! the missing ones in one transaction (all or none) and refuses a database whose version is
//! higher than this build knows, rather than guess at a schema it has never seen.
//!
//! To change the schema, add `schemas/sql/NNNN_what.sql` and append it to [`MIGRATIONS`]; never
//! edit one that has shipped.

use rusqlite::{Connection, TransactionBehavior};

use super::Context;
use crate::store::{StoreError, StoreResult};

/// The migrations, in order; the schema version is the number applied.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../../../schemas/sql/0001_init.sql")),
    ("0002_staging_and_suspend", include_str!("../../../schemas/sql/0002_staging_and_suspend.sql")),
    ("0003_change_delta", include_str!("../../../schemas/sql/0003_change_delta.sql")),
    ("0004_notify", include_str!("../../../schemas/sql/0004_notify.sql")),
    ("0005_anchor_filter", include_str!("../../../schemas/sql/0005_anchor_filter.sql")),
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the schema of `conn` to [`SCHEMA_VERSION`]; returns the version found before.
pub(super) fn run(conn: &mut Connection) -> StoreResult<u32> {
    // IMMEDIATE: two processes opening a fresh file at once migrate one after the other, and
    // the second sees the first's version.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).context("starting the migration")?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).context("reading user_version")?;
    let found = u32::try_from(found)
        .map_err(|_| StoreError::Backend(format!("database has an invalid schema version {found}")))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "database schema version {found} is newer than this syncgate understands ({SCHEMA_VERSION}); \
             run a newer syncgate or restore a backup"
        )));
    }
    // `found` ≤ the number of migrations, checked just above.
    for (name, sql) in MIGRATIONS.iter().skip(found as usize) {
        tx.execute_batch(sql).context(&format!("applying migration {name}"))?;
        tracing::info!(migration = name, "applied store migration");
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION).context("recording the schema version")?;
    }
    tx.commit().context("committing the migration")?;
    Ok(found)
}
