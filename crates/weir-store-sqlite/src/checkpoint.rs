//! WAL checkpoints off the commit path.
//!
//! Owns: a background thread with its own connection that copies committed WAL frames into
//! the database file (`wal_checkpoint(PASSIVE)`, which never blocks the writer) whenever the
//! writer says the WAL grew by a quarter of [`SqliteOptions::wal_checkpoint_pages`]. SQLite's
//! own auto-checkpoint would do that work inside a commit, stalling every caller of the group
//! for a database write and fsync. The writer still checkpoints itself once the WAL reaches the
//! full threshold (cheap, since the background thread already copied most frames) so the WAL
//! restarts from its beginning instead of growing while writes never pause. Never: acknowledges
//! anything; a checkpoint failure poisons the engine (an fsync error may have dropped pages).
//!
//! [`SqliteOptions::wal_checkpoint_pages`]: crate::SqliteOptions::wal_checkpoint_pages

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::Shared;

pub(crate) struct Checkpointer {
    ticks: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path, shared: Arc<Shared>) -> std::io::Result<Checkpointer> {
        let (ticks, received) = sync_channel(1);
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("weir-store-checkpoint".into())
            .spawn(move || run(&path, received, &shared))?;
        Ok(Checkpointer { ticks: Some(ticks), thread: Some(thread) })
    }

    /// Asks for a checkpoint soon; never blocks (a pending request already covers this one).
    pub(crate) fn tick(&self) {
        if let Some(ticks) = &self.ticks {
            match ticks.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
            }
        }
    }
}

impl Drop for Checkpointer {
    /// Stops the thread and waits for it, so its connection closes before the writer's.
    fn drop(&mut self) {
        self.ticks.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(path: &Path, ticks: Receiver<()>, shared: &Shared) {
    let opened = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .and_then(|conn| conn.busy_timeout(Duration::from_secs(5)).map(|()| conn));
    let Ok(conn) = opened else {
        // Without a background checkpointer the writer's own checkpoints still bound the WAL.
        return;
    };
    while ticks.recv().is_ok() {
        match checkpoint_passive(&conn) {
            Ok(true) => {
                shared.stats.background_checkpoints.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(error) if error.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {}
            Err(_) => {
                shared.poisoned.store(true, Ordering::Release);
                return;
            }
        }
    }
}

/// Copies every WAL frame no reader still needs into the database file (and fsyncs it).
/// Returns false when another connection was checkpointing (nothing done).
pub(crate) fn checkpoint_passive(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get::<_, i64>(0)).map(|busy| busy == 0)
}
