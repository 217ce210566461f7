//! The writer thread: the only owner of the write connection, and group commit.
//!
//! Owns: draining the request channel, running every pending job inside ONE `BEGIN IMMEDIATE`
//! transaction, committing once (one fsync for the whole group with `synchronous=FULL`),
//! answering each caller only after the commit, waking queue watches after the commit, and
//! poisoning the engine when a statement, a commit or its fsync fails. Also the writer's
//! in-memory mirror of small metadata (queue names and kinds, the catalog revision counter),
//! loaded at open. Never: answers before the commit; continues after a failed commit.
//!
//! A job returns `Err(rusqlite::Error)` only for failures of the database itself; refusals
//! (unknown queue, failed precondition) are `Ok` values the job decides before writing, so one
//! refused request never spoils the group it shares a transaction with.

use std::any::Any;
use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use weir_store::{QueueId, StoreError};

use crate::checkpoint::{self, Checkpointer};
use crate::{Shared, engine_error};

pub(crate) type JobOutput = Box<dyn Any + Send>;
pub(crate) type Job = Box<dyn FnOnce(&mut Writer) -> rusqlite::Result<JobOutput> + Send>;

pub(crate) enum Request {
    Job {
        job: Job,
        reply: oneshot::Sender<Result<JobOutput, StoreError>>,
    },
    /// Stop after the requests before it; answered once the connection is closed.
    Close {
        reply: oneshot::Sender<()>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct QueueMeta {
    pub name: String,
    pub fifo: bool,
}

/// State owned by the writer thread; jobs get `&mut` access inside the open transaction.
/// (Fields drop in order: the checkpointer's connection closes before the writer's.)
pub(crate) struct Writer {
    checkpointer: Checkpointer,
    pub conn: Connection,
    pub queues: HashMap<QueueId, QueueMeta>,
    pub catalog_revision: u64,
    /// Queues whose watches fire after this group commits.
    pub changed_queues: Vec<QueueId>,
    /// Queues deleted in this group: their watches close after the commit.
    pub deleted_queues: Vec<QueueId>,
    /// Frames in the WAL after the last commit (set by SQLite's WAL hook).
    wal_pages: Arc<AtomicU64>,
    /// `wal_pages` when the background checkpointer was last asked to run.
    wal_pages_at_last_tick: u64,
    wal_checkpoint_pages: u64,
    /// Held for the writer's whole life: the database belongs to this engine alone.
    _lock: File,
}

impl Writer {
    pub(crate) fn load(
        mut conn: Connection,
        lock: File,
        checkpointer: Checkpointer,
        wal_checkpoint_pages: u32,
    ) -> rusqlite::Result<Writer> {
        // The hook replaces SQLite's auto-checkpoint: commits never checkpoint inline.
        let wal_pages = Arc::new(AtomicU64::new(0));
        let hook_pages = wal_pages.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: std::ffi::c_int| {
            hook_pages.store(pages.max(0) as u64, Ordering::Relaxed);
            Ok(())
        }))?;
        let mut queues = HashMap::new();
        {
            let mut stmt = conn.prepare("SELECT queue_id, name, fifo FROM queues")?;
            let rows = stmt.query_map([], |row| {
                Ok((QueueId(row.get::<_, i64>(0)? as u64), QueueMeta { name: row.get(1)?, fifo: row.get(2)? }))
            })?;
            for row in rows {
                let (id, meta) = row?;
                queues.insert(id, meta);
            }
        }
        let catalog_revision: i64 =
            conn.query_row("SELECT value FROM store_meta WHERE name = 'catalog_revision'", [], |row| row.get(0))?;
        Ok(Writer {
            checkpointer,
            conn,
            queues,
            catalog_revision: catalog_revision as u64,
            changed_queues: Vec::new(),
            deleted_queues: Vec::new(),
            wal_pages,
            wal_pages_at_last_tick: 0,
            wal_checkpoint_pages: u64::from(wal_checkpoint_pages.max(4)),
            _lock: lock,
        })
    }

    /// After a commit: ask the background thread to checkpoint every quarter threshold of WAL
    /// growth; at the full threshold checkpoint here (between groups, after the callers were
    /// answered) so the next transaction can restart the WAL from its beginning.
    fn maintain_wal(&mut self, shared: &Shared) {
        let pages = self.wal_pages.load(Ordering::Relaxed);
        if pages < self.wal_pages_at_last_tick {
            self.wal_pages_at_last_tick = 0; // the WAL restarted
        }
        if pages >= self.wal_checkpoint_pages {
            match checkpoint::checkpoint_passive(&self.conn) {
                Ok(true) => {
                    shared.stats.writer_checkpoints.fetch_add(1, Ordering::Relaxed);
                }
                // The background thread is checkpointing: retry after the next commit.
                Ok(false) => {}
                Err(error) if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
                Err(_) => shared.poisoned.store(true, Ordering::Release),
            }
            self.wal_pages_at_last_tick = 0;
        } else if pages - self.wal_pages_at_last_tick >= self.wal_checkpoint_pages / 4 {
            self.checkpointer.tick();
            self.wal_pages_at_last_tick = pages;
        }
    }
}

type Pending = (Job, oneshot::Sender<Result<JobOutput, StoreError>>);

/// The writer thread's body: runs until every sender is gone or a `Close` arrives.
pub(crate) fn run(mut writer: Writer, mut requests: mpsc::Receiver<Request>, shared: Arc<Shared>, max_group: usize) {
    let mut group: Vec<Pending> = Vec::with_capacity(max_group);
    let mut close_reply = None;
    while close_reply.is_none() {
        let Some(first) = requests.blocking_recv() else { break };
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match request {
                Request::Job { job, reply } => group.push((job, reply)),
                Request::Close { reply } => {
                    close_reply = Some(reply);
                    break;
                }
            }
            if group.len() < max_group {
                next = requests.try_recv().ok();
            }
        }
        if group.is_empty() {
            continue;
        }
        if shared.poisoned.load(Ordering::Acquire) {
            for (_, reply) in group.drain(..) {
                let _ = reply.send(Err(StoreError::Poisoned));
            }
            continue;
        }
        commit_group(&mut writer, &mut group, &shared);
    }
    drop(writer); // closes the connection (a clean close checkpoints the WAL) and the lock
    if let Some(reply) = close_reply {
        let _ = reply.send(());
    }
}

fn commit_group(writer: &mut Writer, group: &mut Vec<Pending>, shared: &Shared) {
    let group_size = group.len() as u64;
    let began = std::time::Instant::now();
    if let Err(error) = writer.conn.execute_batch("BEGIN IMMEDIATE") {
        fail_group(writer, group.drain(..).map(|(_, reply)| reply), engine_error(error), shared);
        return;
    }
    let changes_before = writer.conn.total_changes();
    let mut done = Vec::with_capacity(group.len());
    let mut jobs = group.drain(..);
    for (job, reply) in jobs.by_ref() {
        match job(writer) {
            Ok(output) => done.push((reply, output)),
            Err(error) => {
                let error = engine_error(error);
                let _ = writer.conn.execute_batch("ROLLBACK");
                let replies =
                    done.into_iter().map(|(reply, _)| reply).chain([reply]).chain(jobs.map(|(_, reply)| reply));
                fail_group(writer, replies, error, shared);
                return;
            }
        }
    }
    drop(jobs);
    let wrote = writer.conn.total_changes() != changes_before;
    if let Err(error) = writer.conn.execute_batch("COMMIT") {
        // SQLite rolls back on most commit failures; make sure nothing stays open.
        let _ = writer.conn.execute_batch("ROLLBACK");
        fail_group(writer, done.into_iter().map(|(reply, _)| reply), engine_error(error), shared);
        return;
    }
    shared.stats.groups.fetch_add(1, Ordering::Relaxed);
    shared.stats.commands.fetch_add(group_size, Ordering::Relaxed);
    if wrote {
        shared.stats.durable_commits.fetch_add(1, Ordering::Relaxed);
        // The group's whole transaction, fsync included: what callers wait for.
        shared.stats.commit_nanos.fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    for queue in writer.changed_queues.drain(..) {
        shared.signals.notify(queue);
    }
    for queue in writer.deleted_queues.drain(..) {
        shared.signals.close(queue);
    }
    for (reply, output) in done {
        let _ = reply.send(Ok(output));
    }
    if wrote {
        writer.maintain_wal(shared);
    }
}

/// Answers every request of a failed group with the cause and poisons the engine: the
/// writer's mirror and the database may now disagree, and an fsync failure may have lost
/// pages, so nothing more is written until the database is reopened.
fn fail_group(
    writer: &mut Writer,
    replies: impl Iterator<Item = oneshot::Sender<Result<JobOutput, StoreError>>>,
    error: StoreError,
    shared: &Shared,
) {
    shared.poisoned.store(true, Ordering::Release);
    writer.changed_queues.clear();
    writer.deleted_queues.clear();
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}
