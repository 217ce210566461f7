//! The in-memory engine: the simplest obviously-correct implementation of the store traits.
//!
//! Owns: [`MemoryStore`], the reference the other engines are compared with in model-based
//! tests, and an engine for tests and the simulator. Its state IS the committed state, so a
//! "crash" loses nothing by definition. Never: optimised data structures (every receive scans
//! the queue; clarity beats speed here), persistence.

use std::collections::{BTreeMap, HashMap};
use std::future::{Future, ready};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::catalog::{CatalogEntry, CatalogOp, CatalogStore};
use crate::error::{CatalogError, QueueError, ReceiptError, StoreError};
use crate::queue::{
    DeleteOutcome, Message, NewMessage, QueueId, QueueInfo, QueueKind, QueueStats, QueueStore, ReceiptHandle,
    ReceiveOptions, Received, ReceivedMessage, SendOutcome, VisibilityChange, deadline_ms, dedup_record_live,
    retention_expired, stored_time_ms,
};
use crate::signal::{QueueSignals, QueueWatch};

/// The in-memory engine. Cheap to clone; clones share one state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    signals: QueueSignals,
}

/// (kind, key) of a catalog entry.
type Slot = (String, String);

#[derive(Debug, Default)]
struct State {
    /// (kind, key) -> (value, revision)
    catalog: BTreeMap<Slot, (Bytes, u64)>,
    catalog_revision: u64,
    queues: BTreeMap<QueueId, MemQueue>,
    last_queue_id: u64,
    last_seq: u64,
}

#[derive(Debug)]
struct MemQueue {
    info: QueueInfo,
    messages: BTreeMap<u64, StoredMessage>,
    /// FIFO deduplication id -> (original message id, first sent at).
    dedup: HashMap<String, (String, u64)>,
}

#[derive(Debug, Clone)]
struct StoredMessage {
    message_id: String,
    body: Bytes,
    attributes: Bytes,
    sent_at_ms: u64,
    visible_at_ms: u64,
    receive_count: u32,
    first_receive_at_ms: Option<u64>,
    /// True from a receive until a requeue: with `visible_at_ms > now` it means "in flight".
    leased: bool,
    group_id: Option<String>,
    dedup_id: Option<String>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().expect("memory store state poisoned")
    }
}

impl MemQueue {
    fn is_fifo(&self) -> bool {
        self.info.kind == QueueKind::Fifo
    }

    /// The messages a receive at `now` may take, in delivery order (see the `queue` module).
    fn candidates(&self, now_ms: u64) -> Vec<u64> {
        if !self.is_fifo() {
            let mut visible: Vec<(u64, u64)> = self
                .messages
                .iter()
                .filter(|(_, m)| m.visible_at_ms <= now_ms)
                .map(|(seq, m)| (m.visible_at_ms, *seq))
                .collect();
            visible.sort_unstable();
            return visible.into_iter().map(|(_, seq)| seq).collect();
        }
        let mut groups: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (seq, message) in &self.messages {
            groups.entry(fifo_group_key(message)).or_default().push(*seq);
        }
        let mut available: Vec<(u64, u64, &Vec<u64>)> = groups
            .values()
            .filter_map(|seqs| {
                let head = seqs[0];
                let available_at = self.group_available_at(seqs);
                (available_at <= now_ms).then_some((available_at, head, seqs))
            })
            .collect();
        available.sort_unstable_by_key(|(available_at, head, _)| (*available_at, *head));
        let mut order = Vec::new();
        for (_, _, seqs) in available {
            order.extend(seqs.iter().copied().take_while(|seq| self.messages[seq].visible_at_ms <= now_ms));
        }
        order
    }

    /// `max(head.visible_at, visible_at of every leased message)` of one group (seqs ascending).
    fn group_available_at(&self, seqs: &[u64]) -> u64 {
        let head = self.messages[&seqs[0]].visible_at_ms;
        seqs.iter().map(|seq| &self.messages[seq]).filter(|m| m.leased).map(|m| m.visible_at_ms).fold(head, u64::max)
    }

    /// The current message named by `handle`, if the handle is current.
    fn current(&mut self, handle: &ReceiptHandle) -> Option<&mut StoredMessage> {
        self.messages.get_mut(&handle.seq).filter(|m| m.receive_count == handle.receive_count)
    }
}

fn fifo_group_key(message: &StoredMessage) -> &str {
    message.group_id.as_deref().unwrap_or("")
}

impl State {
    fn queue(&mut self, queue: QueueId) -> Result<&mut MemQueue, QueueError> {
        self.queues.get_mut(&queue).ok_or(QueueError::QueueDoesNotExist(queue))
    }

    fn check_destination(&self, source: QueueId, destination: QueueId) -> Result<(), QueueError> {
        if !self.queues.contains_key(&source) {
            return Err(QueueError::QueueDoesNotExist(source));
        }
        if source == destination {
            return Err(QueueError::DestinationIsSource);
        }
        if !self.queues.contains_key(&destination) {
            return Err(QueueError::DestinationQueueDoesNotExist(destination));
        }
        Ok(())
    }

    /// Moves one message to `destination` as a fresh, visible message with a new seq.
    fn move_message(&mut self, source: QueueId, seq: u64, destination: QueueId, now_ms: u64) {
        let mut message =
            self.queues.get_mut(&source).expect("source exists").messages.remove(&seq).expect("seq exists");
        message.visible_at_ms = now_ms;
        message.receive_count = 0;
        message.first_receive_at_ms = None;
        message.leased = false;
        self.last_seq += 1;
        let new_seq = self.last_seq;
        self.queues.get_mut(&destination).expect("destination exists").messages.insert(new_seq, message);
    }

    fn apply_catalog(&mut self, ops: Vec<CatalogOp>) -> Result<u64, CatalogError> {
        let revision = self.catalog_revision + 1;
        let mut undo: Vec<(Slot, Option<(Bytes, u64)>)> = Vec::new();
        for (op_index, op) in ops.into_iter().enumerate() {
            let conflict = match op {
                CatalogOp::Put { kind, key, value, expect } => {
                    let slot = (kind, key);
                    let actual = self.catalog.get(&slot).map(|(_, revision)| *revision);
                    if expect.holds_for(actual) {
                        let previous = self.catalog.insert(slot.clone(), (value, revision));
                        undo.push((slot, previous));
                        None
                    } else {
                        Some((slot, expect, actual))
                    }
                }
                CatalogOp::Delete { kind, key, expect } => {
                    let slot = (kind, key);
                    let actual = self.catalog.get(&slot).map(|(_, revision)| *revision);
                    if expect.holds_for(actual) {
                        let previous = self.catalog.remove(&slot);
                        undo.push((slot, previous));
                        None
                    } else {
                        Some((slot, expect, actual))
                    }
                }
                CatalogOp::DeleteByPrefix { kind, prefix } => {
                    let doomed: Vec<Slot> = self
                        .catalog
                        .range((kind.clone(), prefix.clone())..)
                        .map(|(slot, _)| slot)
                        .take_while(|(k, key)| *k == kind && key.starts_with(&prefix))
                        .cloned()
                        .collect();
                    for slot in doomed {
                        let previous = self.catalog.remove(&slot);
                        undo.push((slot, previous));
                    }
                    None
                }
            };
            if let Some(((kind, key), expected, actual)) = conflict {
                for (slot, previous) in undo.into_iter().rev() {
                    match previous {
                        Some(entry) => self.catalog.insert(slot, entry),
                        None => self.catalog.remove(&slot),
                    };
                }
                return Err(CatalogError::Conflict { op_index, kind, key, expected, actual });
            }
        }
        self.catalog_revision = revision;
        Ok(revision)
    }
}

impl CatalogStore for MemoryStore {
    fn catalog_get(
        &self,
        kind: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<CatalogEntry>, StoreError>> + Send {
        let state = self.state();
        let entry = state.catalog.get(&(kind.to_owned(), key.to_owned())).map(|(value, revision)| CatalogEntry {
            kind: kind.to_owned(),
            key: key.to_owned(),
            value: value.clone(),
            revision: *revision,
        });
        ready(Ok(entry))
    }

    fn catalog_list(
        &self,
        kind: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<CatalogEntry>, StoreError>> + Send {
        let state = self.state();
        let entries = state
            .catalog
            .range((kind.to_owned(), prefix.to_owned())..)
            .take_while(|((k, key), _)| k == kind && key.starts_with(prefix))
            .map(|((kind, key), (value, revision))| CatalogEntry {
                kind: kind.clone(),
                key: key.clone(),
                value: value.clone(),
                revision: *revision,
            })
            .collect();
        ready(Ok(entries))
    }

    fn catalog_apply(&self, ops: Vec<CatalogOp>) -> impl Future<Output = Result<u64, CatalogError>> + Send {
        ready(self.state().apply_catalog(ops))
    }
}

impl QueueStore for MemoryStore {
    fn create_queue(
        &self,
        name: &str,
        kind: QueueKind,
        now_ms: u64,
    ) -> impl Future<Output = Result<QueueInfo, QueueError>> + Send {
        let mut state = self.state();
        let result = if state.queues.values().any(|q| q.info.name == name) {
            Err(QueueError::QueueAlreadyExists(name.to_owned()))
        } else {
            state.last_queue_id += 1;
            let info = QueueInfo {
                id: QueueId(state.last_queue_id),
                name: name.to_owned(),
                kind,
                created_at_ms: stored_time_ms(now_ms),
            };
            state
                .queues
                .insert(info.id, MemQueue { info: info.clone(), messages: BTreeMap::new(), dedup: HashMap::new() });
            Ok(info)
        };
        ready(result)
    }

    fn delete_queue(&self, queue: QueueId) -> impl Future<Output = Result<(), QueueError>> + Send {
        let removed = self.state().queues.remove(&queue);
        let result = match removed {
            Some(_) => {
                self.inner.signals.close(queue);
                Ok(())
            }
            None => Err(QueueError::QueueDoesNotExist(queue)),
        };
        ready(result)
    }

    fn get_queue(&self, name: &str) -> impl Future<Output = Result<Option<QueueInfo>, StoreError>> + Send {
        let state = self.state();
        ready(Ok(state.queues.values().find(|q| q.info.name == name).map(|q| q.info.clone())))
    }

    fn list_queues(&self) -> impl Future<Output = Result<Vec<QueueInfo>, StoreError>> + Send {
        let state = self.state();
        let mut queues: Vec<QueueInfo> = state.queues.values().map(|q| q.info.clone()).collect();
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        ready(Ok(queues))
    }

    fn send(
        &self,
        queue: QueueId,
        messages: Vec<NewMessage>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<SendOutcome>, QueueError>> + Send {
        let now_ms = stored_time_ms(now_ms);
        let result = (|| {
            let mut state = self.state();
            let state = &mut *state;
            let q = state.queues.get_mut(&queue).ok_or(QueueError::QueueDoesNotExist(queue))?;
            if q.is_fifo() {
                for (index, message) in messages.iter().enumerate() {
                    if message.group_id.is_none() {
                        return Err(QueueError::FifoMessageWithoutGroupId { index });
                    }
                    if message.dedup_id.is_none() {
                        return Err(QueueError::FifoMessageWithoutDeduplicationId { index });
                    }
                }
            }
            let fifo = q.is_fifo();
            let mut outcomes = Vec::with_capacity(messages.len());
            for message in messages {
                if fifo {
                    let dedup_id = message.dedup_id.clone().expect("validated");
                    match q.dedup.get(&dedup_id) {
                        Some((original, first_sent_at_ms)) if dedup_record_live(*first_sent_at_ms, now_ms) => {
                            outcomes.push(SendOutcome::Duplicate { original_message_id: original.clone() });
                            continue;
                        }
                        _ => {
                            q.dedup.insert(dedup_id, (message.message_id.clone(), now_ms));
                        }
                    }
                }
                state.last_seq += 1;
                let seq = state.last_seq;
                q.messages.insert(
                    seq,
                    StoredMessage {
                        message_id: message.message_id,
                        body: message.body,
                        attributes: message.attributes,
                        sent_at_ms: now_ms,
                        visible_at_ms: deadline_ms(now_ms, message.delay_ms),
                        receive_count: 0,
                        first_receive_at_ms: None,
                        leased: false,
                        group_id: message.group_id,
                        dedup_id: message.dedup_id,
                    },
                );
                outcomes.push(SendOutcome::Sent { seq });
            }
            Ok(outcomes)
        })();
        if matches!(&result, Ok(outcomes) if outcomes.iter().any(|o| matches!(o, SendOutcome::Sent { .. }))) {
            self.inner.signals.notify(queue);
        }
        ready(result)
    }

    fn receive_counted(
        &self,
        queue: QueueId,
        now_ms: u64,
        options: ReceiveOptions,
    ) -> impl Future<Output = Result<Received, QueueError>> + Send {
        let now_ms = stored_time_ms(now_ms);
        let mut redriven_to = None;
        let mut redriven = 0;
        let result = (|| {
            let mut state = self.state();
            if let Some(redrive) = options.redrive {
                state.check_destination(queue, redrive.dead_letter_queue)?;
            }
            let candidates = state.queue(queue)?.candidates(now_ms);
            let mut received = Vec::new();
            for seq in candidates {
                if received.len() >= options.max_messages as usize {
                    break;
                }
                let receive_count = state.queue(queue)?.messages[&seq].receive_count;
                if let Some(redrive) = options.redrive
                    && receive_count >= redrive.max_receive_count
                {
                    state.move_message(queue, seq, redrive.dead_letter_queue, now_ms);
                    redriven_to = Some(redrive.dead_letter_queue);
                    redriven += 1;
                    continue;
                }
                let message = state.queue(queue)?.messages.get_mut(&seq).expect("candidate exists");
                message.visible_at_ms = deadline_ms(now_ms, options.visibility_timeout_ms);
                message.receive_count += 1;
                message.first_receive_at_ms.get_or_insert(now_ms);
                message.leased = true;
                received.push(ReceivedMessage {
                    receipt_handle: ReceiptHandle { queue, seq, receive_count: message.receive_count }.to_string(),
                    message: Message {
                        seq,
                        message_id: message.message_id.clone(),
                        body: message.body.clone(),
                        attributes: message.attributes.clone(),
                        sent_at_ms: message.sent_at_ms,
                        receive_count: message.receive_count,
                        first_receive_at_ms: message.first_receive_at_ms,
                        group_id: message.group_id.clone(),
                        dedup_id: message.dedup_id.clone(),
                    },
                });
            }
            Ok(Received { messages: received, redriven })
        })();
        if let Some(dead_letter_queue) = redriven_to {
            self.inner.signals.notify(dead_letter_queue);
        }
        ready(result)
    }

    fn delete(
        &self,
        queue: QueueId,
        receipt_handles: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Result<DeleteOutcome, ReceiptError>>, QueueError>> + Send {
        let result = (|| {
            let mut state = self.state();
            let q = state.queue(queue)?;
            let outcomes: Vec<_> = receipt_handles
                .iter()
                .map(|text| {
                    let handle = ReceiptHandle::parse_for(text, queue)?;
                    Ok(match q.messages.get(&handle.seq) {
                        None => DeleteOutcome::AlreadyGone,
                        Some(m) if m.receive_count != handle.receive_count => DeleteOutcome::StaleReceipt,
                        Some(_) => {
                            q.messages.remove(&handle.seq);
                            DeleteOutcome::Deleted
                        }
                    })
                })
                .collect();
            let fifo_deleted = q.is_fifo() && outcomes.contains(&Ok(DeleteOutcome::Deleted));
            Ok((outcomes, fifo_deleted))
        })();
        ready(result.map(|(outcomes, fifo_deleted)| {
            if fifo_deleted {
                self.inner.signals.notify(queue);
            }
            outcomes
        }))
    }

    fn change_visibility(
        &self,
        queue: QueueId,
        changes: Vec<VisibilityChange>,
        now_ms: u64,
    ) -> impl Future<Output = Result<Vec<Result<(), ReceiptError>>, QueueError>> + Send {
        let now_ms = stored_time_ms(now_ms);
        let result = (|| {
            let mut state = self.state();
            let q = state.queue(queue)?;
            let outcomes: Vec<Result<(), ReceiptError>> = changes
                .iter()
                .map(|change| {
                    let handle = ReceiptHandle::parse_for(&change.receipt_handle, queue)?;
                    match q.current(&handle) {
                        Some(m) if m.leased && m.visible_at_ms > now_ms => {
                            m.visible_at_ms = deadline_ms(now_ms, change.visibility_timeout_ms);
                            Ok(())
                        }
                        _ => Err(ReceiptError::MessageNotInflight),
                    }
                })
                .collect();
            Ok(outcomes)
        })();
        if matches!(&result, Ok(outcomes) if outcomes.iter().any(Result::is_ok)) {
            self.inner.signals.notify(queue);
        }
        ready(result)
    }

    fn requeue(
        &self,
        queue: QueueId,
        receipt_handle: String,
        visible_at_ms: u64,
        attributes: Option<Bytes>,
    ) -> impl Future<Output = Result<Result<(), ReceiptError>, QueueError>> + Send {
        let result = (|| {
            let mut state = self.state();
            let q = state.queue(queue)?;
            let handle = match ReceiptHandle::parse_for(&receipt_handle, queue) {
                Ok(handle) => handle,
                Err(error) => return Ok(Err(error)),
            };
            let Some(message) = q.current(&handle) else {
                return Ok(Err(ReceiptError::MessageNotInflight));
            };
            message.visible_at_ms = stored_time_ms(visible_at_ms);
            message.leased = false;
            if let Some(attributes) = attributes {
                message.attributes = attributes;
            }
            Ok(Ok(()))
        })();
        if matches!(result, Ok(Ok(()))) {
            self.inner.signals.notify(queue);
        }
        ready(result)
    }

    fn purge(&self, queue: QueueId) -> impl Future<Output = Result<u64, QueueError>> + Send {
        let result = self.state().queue(queue).map(|q| {
            let purged = q.messages.len() as u64;
            q.messages.clear();
            purged
        });
        ready(result)
    }

    fn move_messages(
        &self,
        source: QueueId,
        destination: QueueId,
        max_messages: u32,
        now_ms: u64,
    ) -> impl Future<Output = Result<u64, QueueError>> + Send {
        let now_ms = stored_time_ms(now_ms);
        let result = (|| {
            let mut state = self.state();
            state.check_destination(source, destination)?;
            let candidates = state.queue(source)?.candidates(now_ms);
            let mut moved = 0;
            for seq in candidates.into_iter().take(max_messages as usize) {
                state.move_message(source, seq, destination, now_ms);
                moved += 1;
            }
            Ok(moved)
        })();
        if matches!(result, Ok(moved) if moved > 0) {
            self.inner.signals.notify(destination);
        }
        ready(result)
    }

    fn stats(&self, queue: QueueId, now_ms: u64) -> impl Future<Output = Result<QueueStats, QueueError>> + Send {
        let now_ms = stored_time_ms(now_ms);
        let result = self.state().queue(queue).map(|q| {
            let mut stats = QueueStats::default();
            for message in q.messages.values() {
                if message.visible_at_ms <= now_ms {
                    stats.visible += 1;
                } else if message.leased {
                    stats.in_flight += 1;
                } else {
                    stats.delayed += 1;
                }
                stats.oldest_sent_at_ms =
                    Some(stats.oldest_sent_at_ms.map_or(message.sent_at_ms, |oldest| oldest.min(message.sent_at_ms)));
            }
            stats
        });
        ready(result)
    }

    fn next_visible_at(&self, queue: QueueId) -> impl Future<Output = Result<Option<u64>, QueueError>> + Send {
        let result = self.state().queue(queue).map(|q| {
            if !q.is_fifo() {
                return q.messages.values().map(|m| m.visible_at_ms).min();
            }
            let mut groups: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
            for (seq, message) in &q.messages {
                groups.entry(fifo_group_key(message)).or_default().push(*seq);
            }
            groups.values().map(|seqs| q.group_available_at(seqs)).min()
        });
        ready(result)
    }

    fn expire(
        &self,
        queue: QueueId,
        now_ms: u64,
        retention_ms: u64,
    ) -> impl Future<Output = Result<u64, QueueError>> + Send {
        let now_ms = stored_time_ms(now_ms);
        let result = self.state().queue(queue).map(|q| {
            let before = q.messages.len();
            q.messages.retain(|_, m| !retention_expired(m.sent_at_ms, retention_ms, now_ms));
            q.dedup.retain(|_, (_, first_sent_at_ms)| dedup_record_live(*first_sent_at_ms, now_ms));
            ((before - q.messages.len()) as u64, q.is_fifo())
        });
        ready(result.map(|(expired, fifo)| {
            if fifo && expired > 0 {
                self.inner.signals.notify(queue);
            }
            expired
        }))
    }

    fn watch(&self, queue: QueueId) -> QueueWatch {
        self.inner.signals.watch(queue)
    }
}
