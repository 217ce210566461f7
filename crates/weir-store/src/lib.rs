//! weir's storage boundary: the traits every storage engine implements, the in-memory reference
//! engine, and the conformance suite every engine must pass.
//!
//! Owns: the catalog of durable documents ([`CatalogStore`]), queues of messages
//! ([`QueueStore`]: SQS-compatible queues and weir's internal async-invoke queues), their types
//! and errors, and the per-queue change signals ([`QueueWatch`]). Never: HTTP, processes, document
//! schemas (the node serialises its own documents and message attributes into opaque bytes), or
//! reading a clock: every time that decides visibility, leases or retention is a parameter
//! (epoch milliseconds), so the simulator and a manual clock rule it.
//!
//! The contract every engine keeps:
//! - a write is durable before its future resolves (an acknowledged send survives a crash);
//! - each trait method is one atomic step with database-authoritative semantics: the store,
//!   not the caller, decides what a receive returns, so several nodes may share one database;
//! - after a failed commit an engine is poisoned and refuses every later write
//!   ([`StoreError::Poisoned`]).
//!
//! Engines: [`MemoryStore`] here; `weir-store-sqlite` (embedded default); later Postgres. The
//! traits use `impl Future + Send` in trait position, so the node holds one concrete engine (a
//! generic parameter or an enum over engines), not a trait object.
//!
//! Room left for later work: streams (sharded ordered records, checkpoints, leases) will be a
//! third trait and module (`stream`) next to `catalog` and `queue`.

pub mod catalog;
pub mod error;
pub mod memory;
pub mod queue;
pub mod signal;

pub mod conformance;

pub use catalog::{CatalogEntry, CatalogOp, CatalogStore, Expect};
pub use error::{CatalogError, QueueError, ReceiptError, StoreError};
pub use memory::MemoryStore;
pub use queue::{
    DeleteOutcome, FIFO_DEDUPLICATION_WINDOW_MS, MAX_TIME_MS, Message, NewMessage, QueueId, QueueInfo, QueueKind,
    QueueStats, QueueStore, ReceiptHandle, ReceiveOptions, Received, ReceivedMessage, Redrive, SendOutcome,
    VisibilityChange,
};
pub use signal::{QueueSignals, QueueWatch};

/// Everything an engine offers; implemented for every cheap-to-clone type that has both halves.
pub trait Store: CatalogStore + QueueStore + Clone + 'static {}

impl<T: CatalogStore + QueueStore + Clone + 'static> Store for T {}
