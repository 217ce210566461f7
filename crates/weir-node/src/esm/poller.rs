//! The poller of one SQS event source mapping: Lambda's SQS-to-function
//! path.
//!
//! It runs up to `PollerScaler::limit` batches at once (5 at first, growing
//! while messages wait, shrinking when the queue is idle, backing off on
//! failures and throttles), and before claiming messages it asks the core
//! whether the function could run them at all, so reserved concurrency and
//! account limits hold without churning the queue. Batches follow the
//! core's `Batching` rules (batch size, batching window). A throttled or
//! failed batch is left in flight and reappears after the queue's
//! visibility timeout (redrive to the dead-letter queue happens in the
//! store's receive); with `ReportBatchItemFailures` only the listed
//! messages stay. Messages no filter of the mapping's `FilterCriteria`
//! matches are deleted without reaching the function, as Lambda does.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};
use weir_core::{BatchDecision, BatchOutcome, Batching, PollerScaler, PollerScaling, Version};
use weir_sandbox::Outcome;
use weir_store::{
    DeleteOutcome, QueueId, QueueStore, QueueWatch, ReceiveOptions, Received, ReceivedMessage, VisibilityChange,
};

use super::event::{BatchResponse, MAX_EVENT_BYTES, event_bytes, parse_batch_response, sqs_event, sqs_record};
use super::filter::Filters;
use super::{MappingCounters, MappingRecord};
use crate::Node;
use crate::engine::Completion;
use crate::registry::FunctionEntry;
use crate::sqs::QueueMeta;

/// How long the poller waits before looking again at a missing queue or
/// function.
const RETRY: Duration = Duration::from_secs(1);

struct Shared {
    record: MappingRecord,
    filters: Filters,
    scaler: Mutex<PollerScaler>,
    counters: Arc<MappingCounters>,
    batch_done: Notify,
}

pub async fn run(
    node: Weak<Node>,
    record: MappingRecord,
    mut stopped: watch::Receiver<bool>,
    counters: Arc<MappingCounters>,
) {
    let Some(start) = node.upgrade().map(|n| n.clock.now()) else { return };
    let scaling = PollerScaling::with_maximum_concurrency(record.maximum_concurrency).unwrap_or_default();
    let batching = Batching::sqs(record.batch_size, Duration::from_secs(u64::from(record.maximum_batching_window_s)))
        .unwrap_or_default();
    // Criteria were validated when the mapping was created or updated.
    let filters = match record.filter_criteria.as_ref().map(Filters::compile).transpose() {
        Ok(filters) => filters.unwrap_or_default(),
        Err(err) => {
            tracing::error!(mapping = record.uuid, error = %err, "unreadable FilterCriteria: the mapping does not poll");
            return;
        }
    };
    let shared = Arc::new(Shared {
        record,
        filters,
        scaler: Mutex::new(PollerScaler::new(scaling, start)),
        counters,
        batch_done: Notify::new(),
    });
    let mut queue_watch: Option<(QueueId, QueueWatch)> = None;
    let mut carried = Carried::default();
    // `return` below ends this loop; carried messages are released after it.
    async {
        loop {
            if *stopped.borrow() {
                return;
            }
            let Some(strong) = node.upgrade() else { return };
            let Some((queue, entry, version)) = target(&strong, &shared.record).await else {
                drop(strong);
                if wait_or_stop(&mut stopped, tokio::time::sleep(RETRY)).await {
                    return;
                }
                continue;
            };
            let watch = match &mut queue_watch {
                Some((id, watch)) if *id == queue.id => watch,
                slot => &mut slot.insert((queue.id, strong.control.store.watch(queue.id))).1,
            };

            // Room for another batch under the mapping's concurrency?
            let now = strong.clock.now();
            let limit = shared.scaler.lock().expect("scaler").limit_at(now);
            shared.counters.concurrency_limit.store(u64::from(limit), Ordering::Relaxed);
            let in_flight = shared.counters.in_flight.load(Ordering::Acquire);
            if in_flight >= u64::from(limit) {
                let growth = shared.scaler.lock().expect("scaler").next_growth();
                let clock = strong.clock.clone();
                drop(strong);
                let done = shared.batch_done.notified();
                let grow = async move {
                    match growth {
                        Some(at) => clock.sleep(at.saturating_since(clock.now())).await,
                        None => std::future::pending().await,
                    }
                };
                if wait_or_stop(&mut stopped, async {
                    tokio::select! { _ = done => {}, _ = grow => {} }
                })
                .await
                {
                    return;
                }
                continue;
            }

            // Would the function run a batch at all? Ask before claiming messages.
            if strong.engine.read(|core| core.headroom(entry.id, version)) == 0 {
                let engine = strong.engine.clone();
                drop(strong);
                if wait_or_stop(&mut stopped, engine.wait_for_headroom(entry.id, version, RETRY)).await {
                    return;
                }
                continue;
            }

            watch.mark_seen();
            let batch =
                gather(&strong, &shared, &queue, &entry, version, &batching, watch, &mut carried, &mut stopped).await;
            let Some(batch) = batch else { return };
            let now = strong.clock.now();
            if batch.messages.is_empty() {
                shared.scaler.lock().expect("scaler").observe(now, false);
                let next = strong.control.store.next_visible_at(queue.id).await.ok().flatten();
                let clock = strong.clock.clone();
                drop(strong);
                let due = async move {
                    match next {
                        Some(at) => clock.sleep_until_epoch_ms(at).await,
                        None => std::future::pending().await,
                    }
                };
                if wait_or_stop(&mut stopped, async {
                    tokio::select! { _ = watch.changed() => {}, _ = due => {} }
                })
                .await
                {
                    return;
                }
                continue;
            }
            shared.scaler.lock().expect("scaler").observe(now, true);
            shared.counters.in_flight.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(process(strong.clone(), shared.clone(), queue, entry, version, batch));
        }
    }
    .await;
    if let Some(node) = node.upgrade() {
        release(&node, carried.queue, carried.items.into_iter().map(|(m, _)| m.receipt_handle).collect()).await;
    }
}

/// Resolves the mapping's queue, function and version (None while missing).
async fn target(node: &Arc<Node>, record: &MappingRecord) -> Option<(QueueMeta, Arc<FunctionEntry>, Version)> {
    let queue = node.sqs.queue_by_arn(node, &record.event_source_arn).await?;
    let entry = node.control.registry.get(&record.function_name)?;
    let version = node.control.resolve(&entry, record.qualifier.as_deref()).ok()?;
    Some((queue, entry, version))
}

/// Runs `f` unless the mapping is stopped first; true when stopped.
async fn wait_or_stop<T>(stopped: &mut watch::Receiver<bool>, f: impl std::future::Future<Output = T>) -> bool {
    tokio::select! {
        _ = f => *stopped.borrow(),
        changed = stopped.changed() => changed.is_err() || *stopped.borrow(),
    }
}

/// One batch for the function: the messages that passed the mapping's
/// filters, with their serialised records.
#[derive(Default)]
struct Batch {
    messages: Vec<ReceivedMessage>,
    records: Vec<String>,
    /// Bytes of the records so far.
    record_bytes: usize,
    /// A message did not fit: the event is as large as it gets.
    full: bool,
}

impl Batch {
    /// Whether a record of `len` bytes still fits in the 6 MB event (a
    /// first record always does).
    fn fits(&self, len: usize) -> bool {
        self.records.is_empty() || event_bytes(self.records.len() + 1, self.record_bytes + len) <= MAX_EVENT_BYTES
    }

    fn push(&mut self, message: ReceivedMessage, record: String) {
        self.record_bytes += record.len();
        self.messages.push(message);
        self.records.push(record);
    }
}

/// Messages of a standard queue claimed that did not fit in the last
/// batch's 6 MB, with their records, waiting (still in flight) for the next.
#[derive(Default)]
struct Carried {
    queue: Option<QueueId>,
    items: VecDeque<(ReceivedMessage, String)>,
}

/// Claims one batch: up to the batch size of messages that pass the
/// mapping's filters and fit in a 6 MB event, waiting up to the batching
/// window for more. As on Lambda, each message is filtered as it arrives
/// (filtered-out messages are deleted then and do not count toward the
/// batch size). Messages that did not fit are `carried` to the next batch,
/// still claimed. `None` when the mapping was stopped meanwhile.
#[allow(clippy::too_many_arguments)]
async fn gather(
    node: &Arc<Node>,
    shared: &Shared,
    queue: &QueueMeta,
    entry: &FunctionEntry,
    version: Version,
    batching: &Batching,
    watch: &mut QueueWatch,
    carried: &mut Carried,
    stopped: &mut watch::Receiver<bool>,
) -> Option<Batch> {
    let timeout = Duration::from_secs(u64::from(entry.record.config(version).map_or(3, |c| c.timeout_s)));
    // Lambda: with a window, the messages must stay hidden for the window
    // plus the function timeout (plus 30 s) at least.
    let visibility = if batching.window().is_zero() {
        queue.visibility_timeout
    } else {
        queue.visibility_timeout.max(batching.window() + timeout + Duration::from_secs(30))
    };
    let mut batch = Batch::default();
    let mut since = None;
    renew_carried(node, queue.id, visibility, carried).await;
    take_carried(carried, &mut batch, batching.batch_size() as usize);
    loop {
        let want = batching.batch_size().saturating_sub(batch.messages.len() as u32);
        // Filters dropped some of a full receive: the queue likely holds
        // more, so receive again now rather than wait for new messages.
        let mut receive_again = false;
        if want > 0 && carried.items.is_empty() {
            watch.mark_seen();
            let options = ReceiveOptions {
                max_messages: want,
                visibility_timeout_ms: visibility.as_millis() as u64,
                redrive: queue.redrive,
            };
            match node.control.store.receive_counted(queue.id, node.clock.epoch_ms(), options).await {
                Ok(Received { messages: received, redriven }) => {
                    shared.counters.dead_lettered.fetch_add(redriven, Ordering::Relaxed);
                    let count = received.len() as u64;
                    shared.counters.polled.fetch_add(count, Ordering::Relaxed);
                    node.sqs.counters(&queue.name).received.fetch_add(count, Ordering::Relaxed);
                    let Admitted { filtered_out, released } =
                        admit(&shared.filters, received, &mut batch, carried, queue, &node.ctx.region);
                    receive_again = !filtered_out.is_empty() && count == u64::from(want);
                    if !filtered_out.is_empty() {
                        shared.counters.filtered_out.fetch_add(filtered_out.len() as u64, Ordering::Relaxed);
                        delete(node, queue, filtered_out).await;
                    }
                    release(node, Some(queue.id), released).await;
                }
                Err(err) => {
                    tracing::warn!(queue = queue.name, error = %err, "event source mapping cannot receive");
                    return Some(batch);
                }
            }
        }
        // The event is full: send what fits, the rest waits for the next batch.
        if !carried.items.is_empty() || batch.full {
            return Some(batch);
        }
        let now = node.clock.now();
        if !batch.messages.is_empty() && since.is_none() {
            since = Some(now);
        }
        match batching.decide(now, batch.messages.len() as u64, since) {
            BatchDecision::Empty | BatchDecision::WaitUntil(_) if receive_again => continue,
            BatchDecision::Empty | BatchDecision::Send(_) => return Some(batch),
            BatchDecision::WaitUntil(deadline) => {
                let clock = node.clock.clone();
                let wait = deadline.saturating_since(now);
                if wait_or_stop(stopped, async {
                    tokio::select! { _ = watch.changed() => {}, _ = clock.sleep(wait) => {} }
                })
                .await
                {
                    return None;
                }
            }
        }
    }
}

/// Moves carried messages into the batch while they fit.
fn take_carried(carried: &mut Carried, batch: &mut Batch, batch_size: usize) {
    while let Some((_, record)) = carried.items.front() {
        if batch.messages.len() >= batch_size || !batch.fits(record.len()) {
            return;
        }
        let (message, record) = carried.items.pop_front().expect("front exists");
        batch.push(message, record);
    }
}

/// Keeps carried messages hidden for another batch's visibility; those
/// whose claim has lapsed (visible again, maybe received elsewhere) are
/// dropped from the carry.
async fn renew_carried(node: &Node, queue: QueueId, visibility: Duration, carried: &mut Carried) {
    if carried.items.is_empty() {
        return;
    }
    if carried.queue != Some(queue) {
        carried.items.clear();
        return;
    }
    let changes = carried
        .items
        .iter()
        .map(|(m, _)| VisibilityChange {
            receipt_handle: m.receipt_handle.clone(),
            visibility_timeout_ms: visibility.as_millis() as u64,
        })
        .collect();
    match node.control.store.change_visibility(queue, changes, node.clock.epoch_ms()).await {
        Ok(outcomes) => {
            let mut renewed = outcomes.iter().map(Result::is_ok);
            carried.items.retain(|_| renewed.next().unwrap_or(false));
        }
        Err(_) => carried.items.clear(),
    }
}

/// Makes claimed messages visible again at once.
async fn release(node: &Node, queue: Option<QueueId>, receipts: Vec<String>) {
    let Some(queue) = queue.filter(|_| !receipts.is_empty()) else { return };
    let changes = receipts
        .into_iter()
        .map(|receipt_handle| VisibilityChange { receipt_handle, visibility_timeout_ms: 0 })
        .collect();
    let _ = node.control.store.change_visibility(queue, changes, node.clock.epoch_ms()).await;
}

/// What [`admit`] set aside.
struct Admitted {
    /// Receipt handles of messages no filter matched.
    filtered_out: Vec<String>,
    /// Receipt handles of FIFO messages that did not fit: released at once,
    /// so their group's order holds (a carried message would overtake the
    /// batch before it).
    released: Vec<String>,
}

/// Adds the received messages that pass `filters` to the batch, or, once
/// the event is full, to `carried` (standard queues) or `released` (FIFO).
fn admit(
    filters: &Filters,
    received: Vec<ReceivedMessage>,
    batch: &mut Batch,
    carried: &mut Carried,
    queue: &QueueMeta,
    region: &str,
) -> Admitted {
    let mut admitted = Admitted { filtered_out: Vec::new(), released: Vec::new() };
    for message in received {
        let mut record = sqs_record(&message, &queue.arn, region, queue.fifo);
        if !filters.admits(&mut record) {
            admitted.filtered_out.push(message.receipt_handle);
            continue;
        }
        let record = record.to_string();
        if !batch.full && batch.fits(record.len()) {
            batch.push(message, record);
        } else if queue.fifo {
            batch.full = true;
            admitted.released.push(message.receipt_handle);
        } else {
            batch.full = true;
            carried.queue = Some(queue.id);
            carried.items.push_back((message, record));
        }
    }
    admitted
}

/// Invokes the function with one batch and settles the messages.
async fn process(
    node: Arc<Node>,
    shared: Arc<Shared>,
    queue: QueueMeta,
    entry: Arc<FunctionEntry>,
    version: Version,
    batch: Batch,
) {
    let record = &shared.record;
    let counters = &shared.counters;
    let Batch { messages: batch, records, .. } = batch;
    let payload = Bytes::from(sqs_event(&records));
    let invoked_function_arn = match &record.qualifier {
        Some(q) => node.ctx.qualified_arn(&record.function_name, q),
        None => node.ctx.function_arn(&record.function_name),
    };
    let request = weir_sandbox::Invocation {
        request_id: uuid::Uuid::new_v4().to_string(),
        payload,
        deadline_epoch_ms: 0, // set at dispatch, after any cold start
        invoked_function_arn,
        client_context: None,
        cognito_identity: None,
        trace_id: None,
    };
    let ids: HashSet<&str> = batch.iter().map(|m| m.message.message_id.as_str()).collect();
    // What the batch became, and which messages to delete.
    let (outcome, processed) = match node.engine.start_invocation(entry.id, version, request) {
        Err(_) => {
            // Throttled before reaching the function: the messages reappear
            // after the visibility timeout.
            counters.throttled.fetch_add(1, Ordering::Relaxed);
            (BatchOutcome::Throttled, Vec::new())
        }
        Ok(answer) => {
            counters.invoked.fetch_add(1, Ordering::Relaxed);
            let response = match answer.await {
                Ok(Completion::Finished(result)) => match result.outcome {
                    Outcome::Response(body) => Some(body),
                    _ => None,
                },
                _ => None,
            };
            match response {
                Some(body) => {
                    let verdict = if record.report_batch_item_failures {
                        parse_batch_response(&body, &ids)
                    } else {
                        BatchResponse::AllSucceeded
                    };
                    let succeeded: Vec<String> = match &verdict {
                        BatchResponse::AllSucceeded => batch.iter().map(|m| m.receipt_handle.clone()).collect(),
                        BatchResponse::Failed(failed) => batch
                            .iter()
                            .filter(|m| !failed.contains(&m.message.message_id))
                            .map(|m| m.receipt_handle.clone())
                            .collect(),
                        BatchResponse::WholeBatchFailed => Vec::new(),
                    };
                    if verdict != BatchResponse::AllSucceeded {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    (BatchOutcome::Success, succeeded)
                }
                None => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    // With ReportBatchItemFailures Lambda does not scale down on errors.
                    let outcome = if record.report_batch_item_failures {
                        BatchOutcome::Success
                    } else {
                        BatchOutcome::FunctionError
                    };
                    (outcome, Vec::new())
                }
            }
        }
    };
    // The batch's slot frees once the function is done; deleting what it
    // processed (still hidden by the visibility timeout) need not hold it.
    shared.scaler.lock().expect("scaler").record(node.clock.now(), outcome);
    counters.in_flight.fetch_sub(1, Ordering::AcqRel);
    shared.batch_done.notify_waiters();
    let deleted = delete(&node, &queue, processed).await;
    counters.deleted.fetch_add(deleted, Ordering::Relaxed);
}

/// Deletes settled messages; returns how many were deleted.
async fn delete(node: &Node, queue: &QueueMeta, receipts: Vec<String>) -> u64 {
    if receipts.is_empty() {
        return 0;
    }
    match node.control.store.delete(queue.id, receipts).await {
        Ok(outcomes) => {
            let deleted = outcomes.iter().filter(|o| matches!(o, Ok(DeleteOutcome::Deleted))).count() as u64;
            node.sqs.counters(&queue.name).deleted.fetch_add(deleted, Ordering::Relaxed);
            deleted
        }
        Err(err) => {
            tracing::warn!(queue = queue.name, error = %err, "deleting settled messages failed");
            0
        }
    }
}
