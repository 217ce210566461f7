//! Per-queue "changed" signals, so dispatchers wait for work instead of polling.
//!
//! Owns: [`QueueSignals`] (the engine side: bump after a commit, close on queue deletion) and
//! [`QueueWatch`] (the dispatcher side). Never: carries data; a signal only says "look again".
//! Engines bump only after the change is durable, so a woken dispatcher always finds it.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::queue::QueueId;

/// The engine side of the signals: one `watch` channel per watched queue.
#[derive(Debug, Default)]
pub struct QueueSignals {
    senders: Mutex<HashMap<QueueId, watch::Sender<u64>>>,
}

impl QueueSignals {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new watch on `queue`.
    pub fn watch(&self, queue: QueueId) -> QueueWatch {
        let mut senders = self.senders.lock().expect("queue signal map poisoned");
        let sender = senders.entry(queue).or_insert_with(|| watch::channel(0).0);
        QueueWatch { receiver: sender.subscribe() }
    }

    /// Wakes every watch of `queue` (call after the change is committed).
    pub fn notify(&self, queue: QueueId) {
        let senders = self.senders.lock().expect("queue signal map poisoned");
        if let Some(sender) = senders.get(&queue) {
            sender.send_modify(|version| *version = version.wrapping_add(1));
        }
    }

    /// Closes every watch of a deleted queue.
    pub fn close(&self, queue: QueueId) {
        self.senders.lock().expect("queue signal map poisoned").remove(&queue);
    }
}

/// Fires after committed changes to one queue that may make a message receivable sooner.
///
/// The loop that never misses a change:
/// ```ignore
/// let mut watch = store.watch(queue);
/// loop {
///     watch.mark_seen();
///     let batch = store.receive(queue, clock.now_ms(), options).await?;
///     if !batch.is_empty() { dispatch(batch); continue; }
///     let next = store.next_visible_at(queue).await?;
///     tokio::select! {
///         _ = sleep_until_ms(next) => {}      // `None`: sleep forever
///         alive = watch.changed() => if !alive { break } // queue deleted
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct QueueWatch {
    receiver: watch::Receiver<u64>,
}

impl QueueWatch {
    /// Forgets changes signalled so far; [`QueueWatch::changed`] waits for the next one.
    pub fn mark_seen(&mut self) {
        self.receiver.borrow_and_update();
    }

    /// Resolves when a change was signalled since the last [`QueueWatch::mark_seen`] (at once
    /// if one already was). Returns `false` when the queue was deleted (or the engine dropped).
    pub async fn changed(&mut self) -> bool {
        self.receiver.changed().await.is_ok()
    }

    /// Whether a change was signalled since the last [`QueueWatch::mark_seen`].
    pub fn has_changed(&self) -> bool {
        self.receiver.has_changed().unwrap_or(true)
    }
}
