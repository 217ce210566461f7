//! The catalog: durable documents addressed by `kind` + `key`, changed in atomic batches.
//!
//! Owns: the catalog types ([`CatalogEntry`], [`CatalogOp`], [`Expect`]) and the
//! [`CatalogStore`] trait. Never: the documents' schema (the node serialises functions,
//! versions, aliases, mappings, queue definitions… into opaque bytes).
//!
//! Revisions come from ONE counter per store: every successful [`CatalogStore::catalog_apply`]
//! takes the next value and stamps it on every entry it puts. An entry deleted and put again
//! therefore never gets back an old revision, so a compare-and-set cannot be fooled (no ABA).

use std::future::Future;

use bytes::Bytes;

use crate::error::{CatalogError, StoreError};

/// One stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub kind: String,
    pub key: String,
    pub value: Bytes,
    /// The revision of the batch that last put this entry (positive).
    pub revision: u64,
}

/// A precondition on one entry, checked when its operation is reached in the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No precondition.
    Any,
    /// The entry must not exist.
    Absent,
    /// The entry must exist with exactly this revision.
    Revision(u64),
}

impl Expect {
    /// Whether an entry whose current revision is `actual` (`None`: absent) satisfies this.
    pub fn holds_for(self, actual: Option<u64>) -> bool {
        match self {
            Expect::Any => true,
            Expect::Absent => actual.is_none(),
            Expect::Revision(expected) => actual == Some(expected),
        }
    }
}

/// One operation of an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogOp {
    /// Create or replace an entry.
    Put { kind: String, key: String, value: Bytes, expect: Expect },
    /// Remove an entry; removing an absent entry (with [`Expect::Any`]) is not an error.
    Delete { kind: String, key: String, expect: Expect },
    /// Remove every entry of `kind` whose key starts with `prefix` (`""`: the whole kind).
    DeleteByPrefix { kind: String, prefix: String },
}

/// Durable documents. Every method is one atomic step, durable before its future resolves.
pub trait CatalogStore: Send + Sync {
    /// One entry, or `None`.
    fn catalog_get(
        &self,
        kind: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<CatalogEntry>, StoreError>> + Send;

    /// Every entry of `kind` whose key starts with `prefix` (`""`: all), ordered by key
    /// (byte order of the UTF-8 key).
    fn catalog_list(
        &self,
        kind: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<CatalogEntry>, StoreError>> + Send;

    /// Applies `ops` in order, all or nothing. Each precondition is checked against the state
    /// left by the operations before it in the same batch. On success returns the batch's
    /// revision (stamped on every entry it put); on a failed precondition returns
    /// [`CatalogError::Conflict`] and changes nothing. Durable before it returns.
    fn catalog_apply(&self, ops: Vec<CatalogOp>) -> impl Future<Output = Result<u64, CatalogError>> + Send;
}
