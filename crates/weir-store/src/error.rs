//! Error types of the store, one enum per operation family.
//!
//! Owns: [`StoreError`] (the engine itself failed or refuses to work), [`CatalogError`],
//! [`QueueError`] and [`ReceiptError`] (the request was understood and refused).
//! Never: catch-all string errors; an engine-specific failure is carried as its source error.

use std::path::PathBuf;
use std::sync::Arc;

use crate::catalog::Expect;
use crate::queue::QueueId;

/// The engine failed, or refuses to work. Never a refusal of one request's content.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// An earlier commit (or its fsync) failed. The engine no longer knows what is on disk,
    /// so it refuses every later write. Reopen the database to recover.
    #[error("the store is poisoned by an earlier failed commit; reopen it to recover")]
    Poisoned,
    /// The engine was closed (or its writer thread ended).
    #[error("the store is closed")]
    Closed,
    /// Another process (or another open engine in this process) holds the database.
    #[error("the database {0} is already open elsewhere")]
    Locked(PathBuf),
    /// The database was written by a newer binary; this one refuses to open it.
    #[error("the database schema version {found} is newer than this binary supports ({supported})")]
    SchemaTooNew { found: u32, supported: u32 },
    /// A file-system error outside the database engine (opening, locking).
    #[error("i/o error: {0}")]
    Io(Arc<std::io::Error>),
    /// The database engine reported an error (for SQLite: an I/O error, a full disk, corruption).
    #[error("database engine error: {0}")]
    Engine(Arc<dyn std::error::Error + Send + Sync>),
}

impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        StoreError::Io(Arc::new(error))
    }
}

/// Why a catalog batch was refused. A refused batch changed nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// The precondition of operation `op_index` did not hold (compare-and-set failed).
    #[error(
        "catalog precondition failed on {kind}/{key} (operation {op_index}): expected {expected:?}, found revision {actual:?}"
    )]
    Conflict {
        op_index: usize,
        kind: String,
        key: String,
        expected: Expect,
        /// The entry's revision at that point of the batch; `None` if absent.
        actual: Option<u64>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a queue operation was refused. A refused operation changed nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    #[error("queue {0:?} does not exist")]
    QueueDoesNotExist(QueueId),
    #[error("a queue named {0:?} already exists")]
    QueueAlreadyExists(String),
    /// The redrive target (dead-letter queue) or move destination does not exist.
    #[error("destination queue {0:?} does not exist")]
    DestinationQueueDoesNotExist(QueueId),
    /// A redrive or move whose destination is its own source.
    #[error("a queue cannot redrive or move messages to itself")]
    DestinationIsSource,
    /// A message sent to a FIFO queue has no group id (`index` in the batch).
    #[error("message {index} of the batch has no group id, which a FIFO queue requires")]
    FifoMessageWithoutGroupId { index: usize },
    /// A message sent to a FIFO queue has no deduplication id (`index` in the batch).
    /// Content-based deduplication is the caller's job: it passes the body's hash as the id.
    #[error("message {index} of the batch has no deduplication id, which a FIFO queue requires")]
    FifoMessageWithoutDeduplicationId { index: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why one receipt-handle operation (delete, change visibility, requeue) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The handle is malformed, or was issued by another queue.
    #[error("the receipt handle is invalid")]
    ReceiptHandleInvalid,
    /// The message is gone, was received again since this handle was issued, or (for a
    /// visibility change) is not in flight.
    #[error("the message is not in flight for this receipt handle")]
    MessageNotInflight,
}
