//! Message queues: one engine for SQS-compatible queues and weir's internal async-invoke queues.
//!
//! Owns: the queue types, the [`QueueStore`] trait, the receipt-handle format and the time
//! arithmetic every engine shares. Never: reads a clock (every decision takes `now_ms`, epoch
//! milliseconds, from the caller), parses bodies or attributes (opaque bytes the node owns).
//!
//! # Message states at time `now`
//! - *visible*: `visible_at_ms <= now`; a receive may return it.
//! - *in flight*: returned by a receive, not deleted, and `visible_at_ms > now`.
//! - *delayed*: `visible_at_ms > now` but not in flight (sent with a delay, or requeued).
//!
//! # Delivery order
//! - Standard queues: visible messages by (`visible_at_ms`, `seq`): the message that has been
//!   receivable the longest first.
//! - FIFO queues: messages of one group in `seq` order. A group is *available* at
//!   `max(head.visible_at_ms, visible_at_ms of every message of the group returned by a receive
//!   and not requeued since)`; a group with a message in flight is therefore skipped entirely.
//!   Available groups are served by (available-at, head seq); each contributes its longest
//!   visible prefix, so one batch may hold several groups, each in order.
//!
//! # Receipt handles
//! A handle names one receive of one message (`queue`, `seq`, `receive_count`). It is
//! *current* while the message exists and has not been received again since. Only a current
//! handle deletes, requeues or changes visibility. A stale handle's delete succeeds without
//! deleting (SQS documents exactly that: "the request succeeds, but the message will not be
//! deleted"), so a consumer whose visibility timeout expired cannot delete the message from under
//! the consumer that received it next.
//!
//! # Waiting without polling
//! [`QueueStore::watch`] returns a [`QueueWatch`] that fires after every
//! committed change to a queue that may make a message receivable sooner (send, delete of a FIFO
//! message, visibility change, requeue, move or redrive into it). A dispatcher marks the watch
//! seen, receives, and when nothing came back sleeps until
//! [`QueueStore::next_visible_at`] or the watch, whichever is first.

use std::fmt;
use std::future::Future;

use bytes::Bytes;

use crate::error::{QueueError, ReceiptError, StoreError};
use crate::signal::QueueWatch;

/// The FIFO deduplication window: a send whose deduplication id was first sent less than this
/// long ago is accepted but not enqueued.
pub const FIFO_DEDUPLICATION_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Whether a FIFO deduplication record first sent at `first_sent_at_ms` still deduplicates
/// at `now_ms`.
pub fn dedup_record_live(first_sent_at_ms: u64, now_ms: u64) -> bool {
    now_ms < first_sent_at_ms.saturating_add(FIFO_DEDUPLICATION_WINDOW_MS)
}

/// Whether a message sent at `sent_at_ms` has outlived `retention_ms` at `now_ms`
/// (`sent_at_ms + retention_ms <= now_ms`).
pub fn retention_expired(sent_at_ms: u64, retention_ms: u64, now_ms: u64) -> bool {
    now_ms >= retention_ms && sent_at_ms <= now_ms - retention_ms
}

/// The largest time any engine stores (SQL engines store signed 64-bit integers).
/// Deadlines computed past it saturate to it.
pub const MAX_TIME_MS: u64 = i64::MAX as u64;

/// `now_ms + duration_ms`, saturating at [`MAX_TIME_MS`].
pub fn deadline_ms(now_ms: u64, duration_ms: u64) -> u64 {
    now_ms.saturating_add(duration_ms).min(MAX_TIME_MS)
}

/// A time as stored: clamped to [`MAX_TIME_MS`].
pub fn stored_time_ms(time_ms: u64) -> u64 {
    time_ms.min(MAX_TIME_MS)
}

/// A queue's stable identity. Never reused, even after the queue is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    Standard,
    Fifo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub id: QueueId,
    pub name: String,
    pub kind: QueueKind,
    pub created_at_ms: u64,
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Chosen by the caller (an SQS MessageId, an invocation's request id).
    pub message_id: String,
    pub body: Bytes,
    /// Opaque to the store: the node serialises message and system attributes here.
    pub attributes: Bytes,
    /// The message becomes visible `delay_ms` after the send.
    pub delay_ms: u64,
    /// Required by FIFO queues; stored and returned (but not used for ordering) by standard ones.
    pub group_id: Option<String>,
    /// Required by FIFO queues; stored and returned by standard ones.
    pub dedup_id: Option<String>,
}

/// The outcome of sending one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Enqueued with this store-assigned sequence number (unique across the store, never reused).
    Sent { seq: u64 },
    /// FIFO: the deduplication id was first sent less than
    /// [`FIFO_DEDUPLICATION_WINDOW_MS`] ago; accepted, not enqueued.
    Duplicate { original_message_id: String },
}

/// A stored message as a receive returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub seq: u64,
    pub message_id: String,
    pub body: Bytes,
    pub attributes: Bytes,
    pub sent_at_ms: u64,
    /// Including the receive that returned it.
    pub receive_count: u32,
    /// The first receive's time (set by the receive that returned it, if it was the first).
    pub first_receive_at_ms: Option<u64>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message: Message,
    /// Identifies this receive; see [`ReceiptHandle`].
    pub receipt_handle: String,
}

/// A source queue's dead-letter policy, applied during a receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redrive {
    pub dead_letter_queue: QueueId,
    /// A message already received this many times is moved to the dead-letter queue instead
    /// of being returned.
    pub max_receive_count: u32,
}

/// What a receive claimed, and how many candidates it moved to the
/// dead-letter queue instead (their `maxReceiveCount` reached).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    pub messages: Vec<ReceivedMessage>,
    pub redriven: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveOptions {
    /// At most this many messages (SQS allows 1..=10; internal pollers may ask for more).
    /// Zero returns nothing.
    pub max_messages: u32,
    /// Returned messages stay in flight until `now_ms + visibility_timeout_ms`.
    pub visibility_timeout_ms: u64,
    pub redrive: Option<Redrive>,
}

/// The outcome of deleting by one current-or-not receipt handle. All three are a success at
/// the SQS level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    /// The message was already deleted, expired, purged or moved.
    AlreadyGone,
    /// The message was received again since this handle was issued; it was not deleted.
    StaleReceipt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibilityChange {
    pub receipt_handle: String,
    /// The message becomes visible at `now_ms + visibility_timeout_ms` (0: immediately).
    pub visibility_timeout_ms: u64,
}

/// Counts at one instant (see the module documentation for the states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// `sent_at_ms` of the oldest message still in the queue.
    pub oldest_sent_at_ms: Option<u64>,
}

/// The decoded form of a receipt handle: `r1.<queue hex>.<seq hex>.<receive count hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptHandle {
    pub queue: QueueId,
    pub seq: u64,
    pub receive_count: u32,
}

impl ReceiptHandle {
    /// Parses a handle issued for `queue`; a malformed handle, or one from another queue, is
    /// [`ReceiptError::ReceiptHandleInvalid`].
    pub fn parse_for(handle: &str, queue: QueueId) -> Result<ReceiptHandle, ReceiptError> {
        let parsed = Self::parse(handle).ok_or(ReceiptError::ReceiptHandleInvalid)?;
        if parsed.queue != queue {
            return Err(ReceiptError::ReceiptHandleInvalid);
        }
        Ok(parsed)
    }

    fn parse(handle: &str) -> Option<ReceiptHandle> {
        let mut parts = handle.strip_prefix("r1.")?.split('.');
        let hex = |part: Option<&str>| -> Option<u64> {
            let part = part?;
            if part.is_empty() || part.len() > 16 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(part, 16).ok()
        };
        let queue = QueueId(hex(parts.next())?);
        let seq = hex(parts.next())?;
        let receive_count = u32::try_from(hex(parts.next())?).ok()?;
        // A receive count of zero is never issued (the first receive makes it 1).
        if receive_count == 0 || parts.next().is_some() {
            return None;
        }
        Some(ReceiptHandle { queue, seq, receive_count })
    }
}

impl fmt::Display for ReceiptHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r1.{:x}.{:x}.{:x}", self.queue.0, self.seq, self.receive_count)
    }
}

/// Queues of messages. Every method is one atomic step; every write is durable before its
/// future resolves (including a receive's new visibility and receive count: a receive followed
/// by a crash makes the message visible again only when its visibility timeout ends).
pub trait QueueStore: Send + Sync {
    /// Creates a queue; its name is unique among existing queues.
    fn create_queue(
        &self,
        name: &str,
        kind: QueueKind,
        now_ms: u64,
    ) -> impl Future<Output = Result<QueueInfo, QueueError>> + Send;

    /// Deletes a queue and all its messages; its watches close.
    fn delete_queue(&self, queue: QueueId) -> impl Future<Output = Result<(), QueueError>> + Send;

    fn get_queue(&self, name: &str) -> impl Future<Output = Result<Option<QueueInfo>, StoreError>> + Send;

    /// Every queue, ordered by name.
    fn list_queues(&self) -> impl Future<Output = Result<Vec<QueueInfo>, StoreError>> + Send;

    /// Enqueues a batch, one outcome per message in order. A FIFO message without a group id or
    /// deduplication id refuses the whole batch.
    fn send(
        &self,
        queue: QueueId,
        messages: Vec<NewMessage>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SendOutcome>, QueueError>> + Send;

    /// Claims up to `options.max_messages` visible messages (see the module documentation for
    /// the order), each in flight until `now_ms + visibility_timeout_ms`. With a redrive policy,
    /// a candidate already received `max_receive_count` times is moved to the dead-letter queue
    /// (keeping message id, body, attributes, sent time, group and deduplication id; receive
    /// count reset; visible at once) instead, and does not count towards the batch.
    fn receive(
        &self,
        queue: QueueId,
        now_ms: u64,
        options: ReceiveOptions,
    ) -> impl Future<Output = Result<Vec<ReceivedMessage>, QueueError>> + Send {
        let received = self.receive_counted(queue, now_ms, options);
        async move { received.await.map(|r| r.messages) }
    }

    /// [`QueueStore::receive`], also saying how many candidates were redriven.
    fn receive_counted(
        &self,
        queue: QueueId,
        now_ms: u64,
        options: ReceiveOptions,
    ) -> impl Future<Output = Result<Received, QueueError>> + Send;

    /// Deletes by receipt handle, one outcome per handle in order.
    fn delete(
        &self,
        queue: QueueId,
        receipt_handles: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Result<DeleteOutcome, ReceiptError>>, QueueError>> + Send;

    /// Changes the visibility of in-flight messages, one outcome per change in order. A handle
    /// that is not current, or whose message is not in flight at `now_ms`, is
    /// [`ReceiptError::MessageNotInflight`].
    fn change_visibility(
        &self,
        queue: QueueId,
        changes: Vec<VisibilityChange>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<Result<(), ReceiptError>>, QueueError>> + Send;

    /// The async-invoke retry path: atomically makes the message (named by a current handle,
    /// in flight or not) delayed until `visible_at_ms`, replacing its attributes when
    /// `attributes` is given. The message leaves the in-flight state; its receive count stays.
    /// A handle that is not current is [`ReceiptError::MessageNotInflight`].
    fn requeue(
        &self,
        queue: QueueId,
        receipt_handle: String,
        visible_at_ms: u64,
        attributes: Option<Bytes>,
    ) -> impl Future<Output = Result<Result<(), ReceiptError>, QueueError>> + Send;

    /// Removes every message (in flight or not). Returns how many. FIFO deduplication history
    /// is kept.
    fn purge(&self, queue: QueueId) -> impl Future<Output = Result<u64, QueueError>> + Send;

    /// Moves up to `max_messages` visible messages from `source` to `destination`, in receive
    /// order (SQS StartMessageMoveTask, a dead-letter redrive back to its source). Moved
    /// messages keep id, body, attributes, sent time, group and deduplication id; their receive
    /// count resets and they are visible at once. Returns how many moved.
    fn move_messages(
        &self,
        source: QueueId,
        destination: QueueId,
        max_messages: u32,
        now_ms: u64,
    ) -> impl Future<Output = Result<u64, QueueError>> + Send;

    fn stats(&self, queue: QueueId, now_ms: u64) -> impl Future<Output = Result<QueueStats, QueueError>> + Send;

    /// The earliest time at which a receive could return a message (ignoring redrive), or
    /// `None` if the queue is empty. At or before the caller's `now`: receive now.
    fn next_visible_at(&self, queue: QueueId) -> impl Future<Output = Result<Option<u64>, QueueError>> + Send;

    /// Removes messages whose `sent_at_ms + retention_ms <= now_ms` (in flight or not) and FIFO
    /// deduplication records older than the window. Returns how many messages were removed.
    fn expire(
        &self,
        queue: QueueId,
        now_ms: u64,
        retention_ms: u64,
    ) -> impl Future<Output = Result<u64, QueueError>> + Send;

    /// A signal that fires after committed changes to `queue` that may make a message
    /// receivable sooner; it closes when the queue is deleted. Watching a queue that does not
    /// exist yields a watch that only fires if a queue with that id is created (never).
    fn watch(&self, queue: QueueId) -> QueueWatch;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_handles_round_trip_and_reject_foreign_or_malformed_handles() {
        let handle = ReceiptHandle { queue: QueueId(7), seq: 0x1234, receive_count: 3 };
        let text = handle.to_string();
        assert_eq!(text, "r1.7.1234.3");
        assert_eq!(ReceiptHandle::parse_for(&text, QueueId(7)), Ok(handle));
        assert_eq!(ReceiptHandle::parse_for(&text, QueueId(8)), Err(ReceiptError::ReceiptHandleInvalid));
        for bad in
            ["", "r1", "r1.7.1", "r1.7.1.2.3", "r2.7.1.2", "r1.7..2", "r1.+7.1.2", "r1.7.1.100000000", "r1.7.1.0"]
        {
            assert_eq!(ReceiptHandle::parse_for(bad, QueueId(7)), Err(ReceiptError::ReceiptHandleInvalid), "{bad}");
        }
    }

    #[test]
    fn deadlines_saturate_at_the_largest_storable_time() {
        assert_eq!(deadline_ms(10, 5), 15);
        assert_eq!(deadline_ms(u64::MAX - 1, 5), MAX_TIME_MS);
        assert_eq!(stored_time_ms(u64::MAX), MAX_TIME_MS);
    }
}
