//! weir's embedded storage engine: SQLite (WAL) behind one group-commit writer thread.
//!
//! Owns: [`SqliteStore`], which implements weir-store's [`CatalogStore`] and [`QueueStore`] on
//! one database file. Every write (including a receive, which changes visibility and receive
//! counts) is a job sent to the writer thread, which runs all pending jobs in ONE transaction
//! and commits once, so concurrent writers share one fsync; each caller is answered only after
//! that commit. Reads (catalog get/list, queue lookups, stats, `next_visible_at`) run on a small
//! pool of read-only connections through `spawn_blocking`, so they never wait for a commit.
//! After a failed statement, commit or fsync the engine is poisoned and refuses every later
//! write. Never: reads a clock, parses document or message contents, lets a second engine (in
//! this or another process) open the same database (a lock file guards it).
//!
//! Module map: `writer` (thread, group commit, poisoning), `checkpoint` (WAL checkpoints off the
//! commit path), `migrate` (schema versions), `catalog` and `queues` (the SQL), the reader pool
//! here. Streams will add their own module and
//! migration.

mod catalog;
mod checkpoint;
mod migrate;
mod queues;
mod writer;

use std::fs::{File, OpenOptions, TryLockError};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};
use weir_store::{
    CatalogEntry, CatalogError, CatalogOp, CatalogStore, DeleteOutcome, NewMessage, QueueError, QueueId, QueueInfo,
    QueueKind, QueueSignals, QueueStats, QueueStore, QueueWatch, ReceiptError, ReceiveOptions, Received, SendOutcome,
    StoreError, VisibilityChange,
};

pub use migrate::SCHEMA_VERSION;
use writer::{Job, JobOutput, Request, Writer};

/// How much a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every group commit fsyncs the WAL before any caller is answered.
    /// An acknowledged write survives a process crash AND a power loss or kernel crash.
    #[default]
    Full,
    /// `synchronous=NORMAL`: commits reach the OS but the WAL is fsynced only at checkpoints.
    /// An acknowledged write survives a process crash (SIGKILL), but the last commits may be
    /// lost on power loss or a kernel crash. The database is never corrupted.
    Relaxed,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// At most this many jobs share one transaction (bounds a group's latency).
    pub max_group_size: usize,
    /// Requests waiting for the writer before senders wait (back-pressure).
    pub queue_capacity: usize,
    /// Read-only connections kept open for reads.
    pub reader_connections: usize,
    /// A background thread checkpoints each time the WAL grows by a quarter of this many pages;
    /// the writer checkpoints itself (between groups) once the WAL holds this many, so the WAL
    /// restarts instead of growing without bound. See the `checkpoint` module.
    pub wal_checkpoint_pages: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Full,
            max_group_size: 1024,
            queue_capacity: 16 * 1024,
            reader_connections: 4,
            wal_checkpoint_pages: 4000,
        }
    }
}

/// Counters of the writer thread since open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Transactions committed (each one group of jobs).
    pub groups: u64,
    /// Committed groups that changed the database: each costs one WAL fsync with
    /// [`Durability::Full`] (a group of empty receives writes nothing and syncs nothing).
    pub durable_commits: u64,
    /// Jobs committed; `commands / groups` is the mean group size.
    pub commands: u64,
    /// Checkpoints run by the background thread.
    pub background_checkpoints: u64,
    /// Checkpoints run by the writer thread between groups (WAL at its size limit).
    pub writer_checkpoints: u64,
    /// Time spent running and committing the groups counted in `durable_commits`
    /// (fsync included); divided by `durable_commits` it is the mean commit latency.
    pub commit_time: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct WriterCounters {
    pub groups: AtomicU64,
    pub durable_commits: AtomicU64,
    pub commands: AtomicU64,
    pub background_checkpoints: AtomicU64,
    pub writer_checkpoints: AtomicU64,
    pub commit_nanos: AtomicU64,
}

/// State shared by the handles and the writer thread.
pub(crate) struct Shared {
    pub poisoned: AtomicBool,
    pub stats: WriterCounters,
    pub signals: QueueSignals,
    readers: ReaderPool,
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl ReaderPool {
    fn take(&self) -> rusqlite::Result<Connection> {
        if let Some(conn) = self.idle.lock().expect("reader pool poisoned").pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("reader pool poisoned");
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }
}

pub(crate) fn engine_error(error: rusqlite::Error) -> StoreError {
    StoreError::Engine(Arc::new(error))
}

/// The SQLite engine. Cheap to clone; clones share one writer thread. The writer stops when
/// the last clone is dropped (after finishing the requests already sent) or on [`SqliteStore::close`].
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, recovers it after a crash (SQLite
    /// replays the WAL), migrates the schema, and starts the writer thread. Blocking: call it
    /// at start-up or from `spawn_blocking`. Fails with [`StoreError::Locked`] if another engine
    /// has it open, and [`StoreError::SchemaTooNew`] if a newer binary wrote it.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let lock = lock_database(&path)?;
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(engine_error)?;
        configure_writer(&conn, &options).map_err(engine_error)?;
        migrate::migrate(&mut conn)?;
        let shared = Arc::new(Shared {
            poisoned: AtomicBool::new(false),
            stats: WriterCounters::default(),
            signals: QueueSignals::new(),
            readers: ReaderPool {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
                max_idle: options.reader_connections,
            },
        });
        let checkpointer = checkpoint::Checkpointer::start(&path, shared.clone())?;
        let writer = Writer::load(conn, lock, checkpointer, options.wal_checkpoint_pages).map_err(engine_error)?;
        let (requests, receiver) = mpsc::channel(options.queue_capacity.max(1));
        let thread_shared = shared.clone();
        let max_group = options.max_group_size.max(1);
        std::thread::Builder::new()
            .name("weir-store-writer".into())
            .spawn(move || writer::run(writer, receiver, thread_shared, max_group))?;
        Ok(SqliteStore { inner: Arc::new(Inner { requests, shared, path }) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether an earlier commit failed (every write now fails with [`StoreError::Poisoned`]).
    pub fn is_poisoned(&self) -> bool {
        self.inner.shared.poisoned.load(Ordering::Acquire)
    }

    pub fn writer_stats(&self) -> WriterStats {
        let stats = &self.inner.shared.stats;
        WriterStats {
            groups: stats.groups.load(Ordering::Relaxed),
            durable_commits: stats.durable_commits.load(Ordering::Relaxed),
            commit_time: Duration::from_nanos(stats.commit_nanos.load(Ordering::Relaxed)),
            commands: stats.commands.load(Ordering::Relaxed),
            background_checkpoints: stats.background_checkpoints.load(Ordering::Relaxed),
            writer_checkpoints: stats.writer_checkpoints.load(Ordering::Relaxed),
        }
    }

    /// Finishes the requests already sent, closes the database (checkpointing the WAL) and
    /// stops the writer. Other clones get [`StoreError::Closed`] afterwards.
    pub async fn close(self) {
        let (reply, done) = oneshot::channel();
        if self.inner.requests.send(Request::Close { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Runs `job` on the writer thread inside the current group's transaction; resolves after
    /// the group committed.
    async fn write<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Writer) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        if self.is_poisoned() {
            return Err(StoreError::Poisoned);
        }
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |writer| job(writer).map(|output| Box::new(output) as JobOutput));
        self.inner.requests.send(Request::Job { job, reply }).await.map_err(|_| StoreError::Closed)?;
        let output = answer.await.map_err(|_| StoreError::Closed)??;
        Ok(*output.downcast::<T>().expect("the writer returns the job's own output"))
    }

    /// Runs `query` on a read-only connection on tokio's blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = self.inner.shared.clone();
        let task = tokio::task::spawn_blocking(move || {
            let conn = shared.readers.take()?;
            let result = query(&conn);
            if result.is_ok() {
                shared.readers.put_back(conn);
            }
            result
        });
        match task.await {
            Ok(result) => result.map_err(engine_error),
            Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
        }
    }
}

fn lock_database(path: &Path) -> Result<File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push("-lock");
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked(path.to_path_buf())),
        Err(TryLockError::Error(error)) => Err(error.into()),
    }
}

fn configure_writer(conn: &Connection, options: &SqliteOptions) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!("journal_mode stayed {mode}")));
    }
    let synchronous = match options.durability {
        Durability::Full => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous};
         PRAGMA foreign_keys = OFF;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536;"
    ))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn flatten<T, E: From<StoreError>>(result: Result<Result<T, E>, StoreError>) -> Result<T, E> {
    result.map_err(E::from).and_then(|inner| inner)
}

impl CatalogStore for SqliteStore {
    fn catalog_get(
        &self,
        kind: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<CatalogEntry>, StoreError>> + Send {
        let (kind, key) = (kind.to_owned(), key.to_owned());
        self.read(move |conn| catalog::get(conn, &kind, &key))
    }

    fn catalog_list(
        &self,
        kind: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<CatalogEntry>, StoreError>> + Send {
        let (kind, prefix) = (kind.to_owned(), prefix.to_owned());
        self.read(move |conn| catalog::list(conn, &kind, &prefix))
    }

    fn catalog_apply(&self, ops: Vec<CatalogOp>) -> impl Future<Output = Result<u64, CatalogError>> + Send {
        let written = self.write(move |writer| catalog::apply(writer, ops));
        async move { flatten(written.await) }
    }
}

impl QueueStore for SqliteStore {
    fn create_queue(
        &self,
        name: &str,
        kind: QueueKind,
        now_ms: u64,
    ) -> impl Future<Output = Result<QueueInfo, QueueError>> + Send {
        let name = name.to_owned();
        let written = self.write(move |writer| queues::create_queue(writer, name, kind, now_ms));
        async move { flatten(written.await) }
    }

    fn delete_queue(&self, queue: QueueId) -> impl Future<Output = Result<(), QueueError>> + Send {
        let written = self.write(move |writer| queues::delete_queue(writer, queue));
        async move { flatten(written.await) }
    }

    fn get_queue(&self, name: &str) -> impl Future<Output = Result<Option<QueueInfo>, StoreError>> + Send {
        let name = name.to_owned();
        self.read(move |conn| queues::get_queue(conn, &name))
    }

    fn list_queues(&self) -> impl Future<Output = Result<Vec<QueueInfo>, StoreError>> + Send {
        self.read(queues::list_queues)
    }

    fn send(
        &self,
        queue: QueueId,
        messages: Vec<NewMessage>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SendOutcome>, QueueError>> + Send {
        let written = self.write(move |writer| queues::send(writer, queue, messages, now_ms));
        async move { flatten(written.await) }
    }

    fn receive_counted(
        &self,
        queue: QueueId,
        now_ms: u64,
        options: ReceiveOptions,
    ) -> impl Future<Output = Result<Received, QueueError>> + Send {
        let written = self.write(move |writer| queues::receive(writer, queue, now_ms, options));
        async move { flatten(written.await) }
    }

    fn delete(
        &self,
        queue: QueueId,
        receipt_handles: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Result<DeleteOutcome, ReceiptError>>, QueueError>> + Send {
        let written = self.write(move |writer| queues::delete(writer, queue, receipt_handles));
        async move { flatten(written.await) }
    }

    fn change_visibility(
        &self,
        queue: QueueId,
        changes: Vec<VisibilityChange>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<Result<(), ReceiptError>>, QueueError>> + Send {
        let written = self.write(move |writer| queues::change_visibility(writer, queue, changes, now_ms));
        async move { flatten(written.await) }
    }

    fn requeue(
        &self,
        queue: QueueId,
        receipt_handle: String,
        visible_at_ms: u64,
        attributes: Option<Bytes>,
    ) -> impl Future<Output = Result<Result<(), ReceiptError>, QueueError>> + Send {
        let written =
            self.write(move |writer| queues::requeue(writer, queue, receipt_handle, visible_at_ms, attributes));
        async move { flatten(written.await) }
    }

    fn purge(&self, queue: QueueId) -> impl Future<Output = Result<u64, QueueError>> + Send {
        let written = self.write(move |writer| queues::purge(writer, queue));
        async move { flatten(written.await) }
    }

    fn move_messages(
        &self,
        source: QueueId,
        destination: QueueId,
        max_messages: u32,
        now_ms: u64,
    ) -> impl Future<Output = Result<u64, QueueError>> + Send {
        let written =
            self.write(move |writer| queues::move_messages(writer, source, destination, max_messages, now_ms));
        async move { flatten(written.await) }
    }

    fn stats(&self, queue: QueueId, now_ms: u64) -> impl Future<Output = Result<QueueStats, QueueError>> + Send {
        let read = self.read(move |conn| queues::stats(conn, queue, now_ms));
        async move { flatten(read.await) }
    }

    fn next_visible_at(&self, queue: QueueId) -> impl Future<Output = Result<Option<u64>, QueueError>> + Send {
        let read = self.read(move |conn| queues::next_visible_at(conn, queue));
        async move { flatten(read.await) }
    }

    fn expire(
        &self,
        queue: QueueId,
        now_ms: u64,
        retention_ms: u64,
    ) -> impl Future<Output = Result<u64, QueueError>> + Send {
        let written = self.write(move |writer| queues::expire(writer, queue, now_ms, retention_ms));
        async move { flatten(written.await) }
    }

    fn watch(&self, queue: QueueId) -> QueueWatch {
        self.inner.shared.signals.watch(queue)
    }
}
