//! Catalog operations in SQL.
//!
//! Owns: the SQL of catalog reads and of atomic batches (a savepoint per batch, so a failed
//! precondition rolls back only its own batch, not the group commit it shares), and the
//! revision counter (`store_meta.catalog_revision`, never reused). Never: the documents'
//! schema, commits.

use rusqlite::{Connection, OptionalExtension, params};
use weir_store::{CatalogEntry, CatalogError, CatalogOp};

use crate::writer::Writer;

fn revision_of(conn: &Connection, kind: &str, key: &str) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT revision FROM catalog WHERE kind = ?1 AND key = ?2")?
        .query_row(params![kind, key], |row| row.get::<_, i64>(0))
        .optional()
        .map(|revision| revision.map(|r| r as u64))
}

/// Keys of `kind` starting with `prefix`, in order: a range scan from `prefix` that stops at
/// the first key without it (exact for any UTF-8 prefix; SQLite compares TEXT bytewise).
fn keys_with_prefix(conn: &Connection, kind: &str, prefix: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT key FROM catalog WHERE kind = ?1 AND key >= ?2 ORDER BY key")?;
    let mut rows = stmt.query(params![kind, prefix])?;
    let mut keys = Vec::new();
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if !key.starts_with(prefix) {
            break;
        }
        keys.push(key);
    }
    Ok(keys)
}

pub(crate) fn apply(writer: &mut Writer, ops: Vec<CatalogOp>) -> rusqlite::Result<Result<u64, CatalogError>> {
    let revision = writer.catalog_revision + 1;
    let conn = &writer.conn;
    conn.execute_batch("SAVEPOINT catalog_apply")?;
    for (op_index, op) in ops.into_iter().enumerate() {
        let (kind, key, expect, put) = match op {
            CatalogOp::Put { kind, key, value, expect } => (kind, key, expect, Some(value)),
            CatalogOp::Delete { kind, key, expect } => (kind, key, expect, None),
            CatalogOp::DeleteByPrefix { kind, prefix } => {
                for key in keys_with_prefix(conn, &kind, &prefix)? {
                    conn.prepare_cached("DELETE FROM catalog WHERE kind = ?1 AND key = ?2")?
                        .execute(params![kind, key])?;
                }
                continue;
            }
        };
        let actual = revision_of(conn, &kind, &key)?;
        if !expect.holds_for(actual) {
            conn.execute_batch("ROLLBACK TO catalog_apply; RELEASE catalog_apply")?;
            return Ok(Err(CatalogError::Conflict { op_index, kind, key, expected: expect, actual }));
        }
        match put {
            Some(value) => {
                conn.prepare_cached(
                    "INSERT INTO catalog (kind, key, value, revision) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, revision = excluded.revision",
                )?
                .execute(params![kind, key, &value[..], revision as i64])?;
            }
            None => {
                conn.prepare_cached("DELETE FROM catalog WHERE kind = ?1 AND key = ?2")?.execute(params![kind, key])?;
            }
        }
    }
    conn.prepare_cached("UPDATE store_meta SET value = ?1 WHERE name = 'catalog_revision'")?
        .execute([revision as i64])?;
    conn.execute_batch("RELEASE catalog_apply")?;
    writer.catalog_revision = revision;
    Ok(Ok(revision))
}

fn entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<CatalogEntry> {
    Ok(CatalogEntry {
        kind: row.get(0)?,
        key: row.get(1)?,
        value: row.get::<_, Vec<u8>>(2)?.into(),
        revision: row.get::<_, i64>(3)? as u64,
    })
}

pub(crate) fn get(conn: &Connection, kind: &str, key: &str) -> rusqlite::Result<Option<CatalogEntry>> {
    conn.prepare_cached("SELECT kind, key, value, revision FROM catalog WHERE kind = ?1 AND key = ?2")?
        .query_row(params![kind, key], entry)
        .optional()
}

pub(crate) fn list(conn: &Connection, kind: &str, prefix: &str) -> rusqlite::Result<Vec<CatalogEntry>> {
    let mut stmt = conn
        .prepare_cached("SELECT kind, key, value, revision FROM catalog WHERE kind = ?1 AND key >= ?2 ORDER BY key")?;
    let mut rows = stmt.query(params![kind, prefix])?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        let entry = entry(row)?;
        if !entry.key.starts_with(prefix) {
            break;
        }
        entries.push(entry);
    }
    Ok(entries)
}
