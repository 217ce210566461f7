//! The schema migration runner.
//!
//! Owns: the ordered list of migrations embedded in the binary, the `schema_version` table,
//! applying each missing step in its own transaction, and refusing a database written by a
//! newer binary. Never: down-migrations, or editing a released migration (add a new one).

use rusqlite::{Connection, TransactionBehavior};
use weir_store::StoreError;

use crate::engine_error;

/// Every migration, in order: (version, SQL). Versions start at 1 and increase by one.
pub(crate) const MIGRATIONS: &[(u32, &str)] = &[(1, include_str!("../migrations/0001_catalog_and_queues.sql"))];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the database to [`SCHEMA_VERSION`]; returns the version it found.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
        .map_err(engine_error)?;
    let found: u32 = conn
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |row| row.get(0))
        .map_err(engine_error)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > found) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(engine_error)?;
        tx.execute_batch(sql).map_err(engine_error)?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [version]).map_err(engine_error)?;
        tx.commit().map_err(engine_error)?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_one_by_one_from_one() {
        for (index, (version, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version as usize, index + 1);
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op_and_a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [SCHEMA_VERSION + 1]).unwrap();
        match migrate(&mut conn) {
            Err(StoreError::SchemaTooNew { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }

    #[test]
    fn a_failing_step_leaves_the_previous_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        // Simulate a broken later step by running one by hand the way the runner does.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        assert!(tx.execute_batch("CREATE TABLE t (x); SELECT * FROM no_such_table;").is_err());
        drop(tx); // rolled back
        assert!(conn.prepare("SELECT * FROM t").is_err(), "the failed step left nothing behind");
        let version: u32 = conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}
