//! Message-level SQS operations: SendMessage(Batch), ReceiveMessage (long polling, attribute
//! selection, FIFO receive-attempt replays), DeleteMessage(Batch),
//! ChangeMessageVisibility(Batch).
//!
//! Owns: request validation (SQS's limits and FIFO rules), the MD5 digests in responses, and
//! the long-poll loop: receive, and when nothing came back wait for the queue's store signal,
//! the next visibility deadline or the end of the wait, whichever comes first (platform clock;
//! a manual clock's wait is also bounded by the same real duration, so a client never hangs
//! on a clock nobody advances). Never: decides what a receive returns (the store does,
//! atomically and durably, including redrive to the dead-letter queue).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use weir_store::{
    DeleteOutcome, NewMessage, QueueError, QueueId, QueueStore, ReceiptError, ReceiveOptions, ReceivedMessage,
    SendOutcome, VisibilityChange,
};
use weir_wire::AwsError;
use weir_wire::sqs::{
    BatchResultErrorEntry, BatchResultId, ChangeMessageVisibilityBatchRequest, ChangeMessageVisibilityRequest,
    DeleteMessageBatchRequest, DeleteMessageRequest, IdBatchResult, MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES, MessageOut,
    OutgoingMessage, ReceiveMessageRequest, ReceiveMessageResult, SendMessageBatchRequest, SendMessageBatchResult,
    SendMessageRequest, SentMessage, StoredAttributes, errors, md5_hex, md5_of_attributes, valid_batch_entry_id,
    valid_fifo_token, valid_message_contents, validate_message_attributes, validate_system_attributes,
};

use super::http::{EMPTY, parse, to_json};
use super::{QueueCounters, QueueState, store_error};
use crate::Node;

/// How long a FIFO `ReceiveRequestAttemptId` replays its receive.
pub const ATTEMPT_WINDOW_MS: u64 = 5 * 60 * 1000;
const MAX_VISIBILITY_TIMEOUT_S: i64 = 43_200;
const MAX_WAIT_TIME_S: i64 = 20;
const MAX_DELAY_S: i64 = 900;

/// A store refusal as an SQS error.
pub fn queue_error(err: QueueError) -> AwsError {
    match err {
        QueueError::QueueDoesNotExist(_) => errors::queue_does_not_exist(),
        QueueError::FifoMessageWithoutGroupId { .. } => errors::missing_parameter("MessageGroupId"),
        QueueError::FifoMessageWithoutDeduplicationId { .. } => errors::invalid_parameter_value(
            "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        ),
        other => store_error(other),
    }
}

pub fn too_large(maximum: usize) -> AwsError {
    errors::invalid_parameter_value(format!(
        "One or more parameters are invalid. Reason: Message must be shorter than {maximum} bytes."
    ))
}

fn not_for_this_queue_type(parameter: &str) -> AwsError {
    errors::invalid_parameter_value(format!(
        "The request includes the parameter {parameter}, which is not valid for this queue type."
    ))
}

/// Separates the group from the deduplication id in stored ids of `messageGroup`-scoped queues.
const GROUP_SCOPE_SEPARATOR: char = '\u{1}';

/// The deduplication id the client gave (or SQS derived), without a group scope prefix.
fn client_dedup_id(stored: &str) -> &str {
    stored.rsplit(GROUP_SCOPE_SEPARATOR).next().unwrap_or(stored)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A validated message ready for the store, with the digests its result reports.
struct Prepared {
    message: NewMessage,
    sent: SentMessage,
}

fn prepare(node: &Node, queue: &QueueState, message: OutgoingMessage) -> Result<Prepared, AwsError> {
    let body =
        message.message_body.filter(|b| !b.is_empty()).ok_or_else(|| errors::missing_parameter("MessageBody"))?;
    if !valid_message_contents(&body) {
        return Err(errors::invalid_message_contents());
    }
    let size = body.len()
        + validate_message_attributes(&message.message_attributes)?
        + validate_system_attributes(&message.message_system_attributes)?;
    let maximum = queue.meta.maximum_message_size;
    if size > maximum {
        return Err(too_large(maximum));
    }
    let delay_s = match message.delay_seconds {
        None => i64::from(queue.settings.delay_s),
        Some(d) if !(0..=MAX_DELAY_S).contains(&d) => {
            return Err(errors::invalid_parameter_value(format!(
                "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
            )));
        }
        Some(d) if queue.meta.fifo && d != 0 => return Err(not_for_this_queue_type("DelaySeconds")),
        Some(d) => d,
    };
    for (parameter, token) in
        [("MessageGroupId", &message.message_group_id), ("MessageDeduplicationId", &message.message_deduplication_id)]
    {
        if let Some(token) = token
            && !valid_fifo_token(token)
        {
            return Err(errors::invalid_parameter_value(format!(
                "Value {token} for parameter {parameter} is invalid. Reason: it must be 1 to 128 alphanumeric or punctuation characters."
            )));
        }
    }
    let (group_id, dedup_id) = if queue.meta.fifo {
        let group = message.message_group_id.ok_or_else(|| errors::missing_parameter("MessageGroupId"))?;
        let dedup = match message.message_deduplication_id {
            Some(id) => id,
            None if queue.meta.content_based_deduplication => hex(&Sha256::digest(body.as_bytes())),
            None => {
                return Err(errors::invalid_parameter_value(
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                ));
            }
        };
        // DeduplicationScope=messageGroup: the store deduplicates queue-wide, so the group is
        // folded into the stored id (behind a separator no valid token contains).
        let dedup = if queue.doc.value("DeduplicationScope") == Some("messageGroup") {
            format!("{group}{GROUP_SCOPE_SEPARATOR}{dedup}")
        } else {
            dedup
        };
        (Some(group), Some(dedup))
    } else {
        if message.message_deduplication_id.is_some() {
            return Err(not_for_this_queue_type("MessageDeduplicationId"));
        }
        // Standard queues take a MessageGroupId (fair queues) and keep it.
        (message.message_group_id, None)
    };
    let sent = SentMessage {
        id: None,
        message_id: node.sqs.next_message_id(),
        md5_of_message_body: md5_hex(body.as_bytes()),
        md5_of_message_attributes: md5_of_attributes(message.message_attributes.iter().map(|(k, v)| (k.as_str(), v))),
        md5_of_message_system_attributes: md5_of_attributes(
            message.message_system_attributes.iter().map(|(k, v)| (k.as_str(), v)),
        ),
        sequence_number: None,
    };
    let attributes = StoredAttributes {
        message_attributes: message.message_attributes,
        system_attributes: message.message_system_attributes,
        sender_id: None,
    };
    let message = NewMessage {
        message_id: sent.message_id.clone(),
        body: Bytes::from(body.into_bytes()),
        attributes: Bytes::from(attributes.to_stored_bytes()),
        delay_ms: delay_s as u64 * 1000,
        group_id,
        dedup_id,
    };
    Ok(Prepared { message, sent })
}

/// The result of one accepted message: a duplicate reports the original's id.
fn finish(queue: &QueueState, mut sent: SentMessage, outcome: SendOutcome) -> SentMessage {
    match outcome {
        SendOutcome::Sent { seq } => {
            if queue.meta.fifo {
                sent.sequence_number = Some(format!("{seq:020}"));
            }
            QueueCounters::add(&queue.counters.sent, 1);
        }
        SendOutcome::Duplicate { original_message_id } => sent.message_id = original_message_id,
    }
    sent
}

pub async fn send_message(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: SendMessageRequest = parse(body)?;
    let queue = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let prepared = prepare(node, &queue, request.message)?;
    let outcomes = node
        .control
        .store
        .send(queue.meta.id, vec![prepared.message], node.clock.epoch_ms())
        .await
        .map_err(queue_error)?;
    let outcome = outcomes.into_iter().next().ok_or_else(|| store_error("the store returned no outcome"))?;
    to_json(&finish(&queue, prepared.sent, outcome))
}

/// Checks a batch's entry count and ids (SQS's order: too many, empty, malformed, repeated).
fn check_batch_ids<'a>(ids: impl ExactSizeIterator<Item = Option<&'a str>>, entry_shape: &str) -> Result<(), AwsError> {
    if ids.len() > MAX_BATCH_ENTRIES {
        return Err(errors::too_many_entries(ids.len()));
    }
    if ids.len() == 0 {
        return Err(errors::empty_batch(entry_shape));
    }
    let mut seen = HashSet::new();
    for id in ids {
        let id = id.ok_or_else(|| errors::missing_parameter("Id"))?;
        if !valid_batch_entry_id(id) {
            return Err(errors::invalid_batch_entry_id());
        }
        if !seen.insert(id) {
            return Err(errors::batch_ids_not_distinct(id));
        }
    }
    Ok(())
}

pub async fn send_message_batch(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: SendMessageBatchRequest = parse(body)?;
    let queue = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let entries = request.entries.unwrap_or_default();
    check_batch_ids(entries.iter().map(|e| e.id.as_deref()), "SendMessageBatchRequestEntry")?;
    let total: usize = entries
        .iter()
        .map(|e| {
            e.message_body.as_ref().map_or(0, String::len)
                + e.message_attributes
                    .iter()
                    .map(|(k, v)| k.len() + v.data_type.len() + attribute_len(v))
                    .sum::<usize>()
        })
        .sum();
    if total > MAX_MESSAGE_BYTES {
        return Err(errors::batch_request_too_long(total));
    }
    let mut result = SendMessageBatchResult::default();
    let mut ready = Vec::with_capacity(entries.len());
    for entry in entries {
        let (id, message) = entry.into_message();
        let id = id.unwrap_or_default();
        match prepare(node, &queue, message) {
            Ok(prepared) => ready.push((id, prepared)),
            Err(err) => result.failed.push(BatchResultErrorEntry::from_error(id, &err)),
        }
    }
    if !ready.is_empty() {
        let (results, messages): (Vec<(String, SentMessage)>, Vec<NewMessage>) =
            ready.into_iter().map(|(id, p)| ((id, p.sent), p.message)).unzip();
        let outcomes =
            node.control.store.send(queue.meta.id, messages, node.clock.epoch_ms()).await.map_err(queue_error)?;
        for ((id, sent), outcome) in results.into_iter().zip(outcomes) {
            let mut sent = finish(&queue, sent, outcome);
            sent.id = Some(id);
            result.successful.push(sent);
        }
    }
    to_json(&result)
}

fn attribute_len(value: &weir_wire::sqs::MessageAttributeValue) -> usize {
    value.string_value.as_ref().map_or(0, String::len) + value.binary_value.as_ref().map_or(0, |b| b.len() * 3 / 4)
}

/// Which attributes a receive returns.
struct Selection {
    all_system: bool,
    system: Vec<String>,
    all_user: bool,
    user_exact: Vec<String>,
    /// `prefix.*` selects names starting with `prefix.`.
    user_prefixes: Vec<String>,
}

impl Selection {
    fn of(request: &ReceiveMessageRequest) -> Selection {
        let system: Vec<String> =
            request.attribute_names.iter().chain(&request.message_system_attribute_names).cloned().collect();
        let mut selection = Selection {
            all_system: system.iter().any(|n| n == "All"),
            system,
            all_user: false,
            user_exact: Vec::new(),
            user_prefixes: Vec::new(),
        };
        for name in &request.message_attribute_names {
            if name == "All" || name == ".*" {
                selection.all_user = true;
            } else if let Some(prefix) = name.strip_suffix(".*") {
                selection.user_prefixes.push(format!("{prefix}."));
            } else {
                selection.user_exact.push(name.clone());
            }
        }
        selection
    }

    fn system_wanted(&self, name: &str) -> bool {
        self.all_system || self.system.iter().any(|n| n == name)
    }

    fn user_wanted(&self, name: &str) -> bool {
        self.all_user
            || self.user_exact.iter().any(|n| n == name)
            || self.user_prefixes.iter().any(|prefix| name.starts_with(prefix.as_str()))
    }

    fn needs_stored(&self) -> bool {
        self.all_user
            || !self.user_exact.is_empty()
            || !self.user_prefixes.is_empty()
            || self.system_wanted("AWSTraceHeader")
            || self.system_wanted("SenderId")
    }
}

fn render_messages(
    node: &Node,
    queue: &QueueState,
    messages: &[ReceivedMessage],
    selection: &Selection,
) -> Result<Vec<u8>, AwsError> {
    let now = node.clock.epoch_ms();
    let stored: Vec<StoredAttributes> = messages
        .iter()
        .map(|m| {
            if selection.needs_stored() {
                StoredAttributes::from_bytes(&m.message.attributes)
            } else {
                StoredAttributes::default()
            }
        })
        .collect();
    let mut out = ReceiveMessageResult { messages: Vec::with_capacity(messages.len()) };
    for (received, stored) in messages.iter().zip(&stored) {
        let message = &received.message;
        let body = std::str::from_utf8(&message.body).unwrap_or("");
        let mut attributes = BTreeMap::new();
        let mut put = |name: &'static str, value: Option<String>| {
            if let Some(value) = value
                && selection.system_wanted(name)
            {
                attributes.insert(name, value);
            }
        };
        put("SenderId", Some(stored.sender_id.clone().unwrap_or_else(|| node.ctx.account_id.clone())));
        put("SentTimestamp", Some(message.sent_at_ms.to_string()));
        put("ApproximateReceiveCount", Some(message.receive_count.to_string()));
        put("ApproximateFirstReceiveTimestamp", Some(message.first_receive_at_ms.unwrap_or(now).to_string()));
        if queue.meta.fifo {
            put("SequenceNumber", Some(format!("{:020}", message.seq)));
            put("MessageDeduplicationId", message.dedup_id.as_deref().map(client_dedup_id).map(str::to_string));
        }
        put("MessageGroupId", message.group_id.clone());
        put("AWSTraceHeader", stored.system_attributes.get("AWSTraceHeader").and_then(|v| v.string_value.clone()));
        let message_attributes: BTreeMap<&str, _> = stored
            .message_attributes
            .iter()
            .filter(|(name, _)| selection.user_wanted(name))
            .map(|(name, value)| (name.as_str(), value))
            .collect();
        out.messages.push(MessageOut {
            message_id: &message.message_id,
            receipt_handle: &received.receipt_handle,
            md5_of_body: md5_hex(&message.body),
            body,
            attributes,
            md5_of_message_attributes: md5_of_attributes(message_attributes.iter().map(|(k, v)| (*k, *v))),
            message_attributes,
        });
    }
    to_json(&out)
}

fn range_checked(parameter: &str, value: Option<i64>, min: i64, max: i64) -> Result<Option<i64>, AwsError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => Err(errors::invalid_parameter_value(format!(
            "Value {v} for parameter {parameter} is invalid. Reason: Must be between {min} and {max}, if provided."
        ))),
        other => Ok(other),
    }
}

/// One receive; a dead-letter queue deleted since the policy was cached is ignored.
async fn receive_once(
    node: &Node,
    queue: &QueueState,
    now: u64,
    options: ReceiveOptions,
) -> Result<Vec<ReceivedMessage>, AwsError> {
    let store = &node.control.store;
    match store.receive(queue.meta.id, now, options).await {
        Err(QueueError::DestinationQueueDoesNotExist(_)) => {
            node.sqs.invalidate();
            store.receive(queue.meta.id, now, ReceiveOptions { redrive: None, ..options }).await.map_err(queue_error)
        }
        other => other.map_err(queue_error),
    }
}

/// Receives, waiting up to `wait` for a message to arrive or become visible.
async fn receive_waiting(
    node: &Node,
    queue: &QueueState,
    options: ReceiveOptions,
    wait: Duration,
) -> Result<Vec<ReceivedMessage>, AwsError> {
    let store = &node.control.store;
    let clock = &node.clock;
    let wait_ms = wait.as_millis() as u64;
    let deadline_ms = clock.epoch_ms().saturating_add(wait_ms);
    let real_deadline = tokio::time::Instant::now() + wait;
    let mut watch = (wait_ms > 0).then(|| store.watch(queue.meta.id));
    loop {
        if let Some(watch) = watch.as_mut() {
            watch.mark_seen();
        }
        let now = clock.epoch_ms();
        let batch = receive_once(node, queue, now, options).await?;
        let Some(watch) = watch.as_mut() else { return Ok(batch) };
        if !batch.is_empty() || now >= deadline_ms || tokio::time::Instant::now() >= real_deadline {
            return Ok(batch);
        }
        let next = store.next_visible_at(queue.meta.id).await.map_err(queue_error)?;
        // Never a wake-up in the past: that would spin.
        let wake_ms = next.map_or(deadline_ms, |next| next.min(deadline_ms)).max(now + 1);
        tokio::select! {
            alive = watch.changed() => if !alive { return Ok(Vec::new()) },
            _ = clock.sleep_until_epoch_ms(wake_ms) => {}
            _ = tokio::time::sleep_until(real_deadline) => {}
        }
    }
}

/// FIFO `ReceiveRequestAttemptId`s: a retried receive with the same id within five minutes
/// returns the same messages and receipt handles (and restarts their visibility timeout), as
/// long as none of them was deleted or received again.
#[derive(Default)]
pub struct ReceiveAttempts {
    attempts: Mutex<HashMap<(QueueId, String), Attempt>>,
}

struct Attempt {
    at_ms: u64,
    receipt_handles: Vec<String>,
    response: Bytes,
}

impl ReceiveAttempts {
    fn lookup(&self, queue: QueueId, attempt: &str, now: u64) -> Option<(Vec<String>, Bytes)> {
        let attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let found = attempts.get(&(queue, attempt.to_string()))?;
        (now.saturating_sub(found.at_ms) < ATTEMPT_WINDOW_MS)
            .then(|| (found.receipt_handles.clone(), found.response.clone()))
    }

    fn record(&self, queue: QueueId, attempt: String, at_ms: u64, receipt_handles: Vec<String>, response: Bytes) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts.insert((queue, attempt), Attempt { at_ms, receipt_handles, response });
    }

    fn forget(&self, queue: QueueId, attempt: &str) {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner()).remove(&(queue, attempt.to_string()));
    }

    /// Drops records made before `before_ms`.
    pub fn forget_before(&self, before_ms: u64) {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, a| a.at_ms >= before_ms);
    }
}

pub async fn receive_message(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: ReceiveMessageRequest = parse(body)?;
    let queue = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let max_messages = range_checked("MaxNumberOfMessages", request.max_number_of_messages, 1, 10)?.unwrap_or(1);
    let visibility_s = range_checked("VisibilityTimeout", request.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT_S)?
        .unwrap_or(i64::from(queue.settings.visibility_timeout_s));
    let wait_s = range_checked("WaitTimeSeconds", request.wait_time_seconds, 0, MAX_WAIT_TIME_S)?
        .unwrap_or(i64::from(queue.settings.receive_wait_s));
    let visibility_timeout_ms = visibility_s as u64 * 1000;
    let attempt = match request.receive_request_attempt_id.as_deref() {
        Some(id) if !valid_fifo_token(id) => {
            return Err(errors::invalid_parameter_value(format!(
                "Value {id} for parameter ReceiveRequestAttemptId is invalid."
            )));
        }
        Some(id) if queue.meta.fifo => Some(id.to_string()),
        _ => None,
    };
    if let Some(attempt) = &attempt {
        let now = node.clock.epoch_ms();
        if let Some((handles, response)) = node.sqs.attempts.lookup(queue.meta.id, attempt, now) {
            let changes = handles
                .into_iter()
                .map(|receipt_handle| VisibilityChange { receipt_handle, visibility_timeout_ms })
                .collect();
            let results =
                node.control.store.change_visibility(queue.meta.id, changes, now).await.map_err(queue_error)?;
            if results.iter().all(Result::is_ok) {
                return Ok(response.to_vec());
            }
            node.sqs.attempts.forget(queue.meta.id, attempt);
        }
    }
    let selection = Selection::of(&request);
    let options =
        ReceiveOptions { max_messages: max_messages as u32, visibility_timeout_ms, redrive: queue.meta.redrive };
    let messages = receive_waiting(node, &queue, options, Duration::from_secs(wait_s as u64)).await?;
    if messages.is_empty() {
        QueueCounters::add(&queue.counters.empty_receives, 1);
        return Ok(EMPTY.to_vec());
    }
    QueueCounters::add(&queue.counters.received, messages.len() as u64);
    let response = render_messages(node, &queue, &messages, &selection)?;
    if let Some(attempt) = attempt {
        let handles = messages.iter().map(|m| m.receipt_handle.clone()).collect();
        node.sqs.attempts.record(queue.meta.id, attempt, node.clock.epoch_ms(), handles, Bytes::from(response.clone()));
    }
    Ok(response)
}

pub async fn delete_message(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: DeleteMessageRequest = parse(body)?;
    let queue = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let handle = request.receipt_handle.ok_or_else(|| errors::missing_parameter("ReceiptHandle"))?;
    let outcomes = node.control.store.delete(queue.meta.id, vec![handle.clone()]).await.map_err(queue_error)?;
    match outcomes.into_iter().next() {
        Some(Ok(DeleteOutcome::Deleted)) => QueueCounters::add(&queue.counters.deleted, 1),
        Some(Ok(_)) => {}
        Some(Err(ReceiptError::ReceiptHandleInvalid)) | None => return Err(errors::receipt_handle_invalid(&handle)),
        Some(Err(ReceiptError::MessageNotInflight)) => {}
    }
    Ok(EMPTY.to_vec())
}

pub async fn delete_message_batch(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: DeleteMessageBatchRequest = parse(body)?;
    let queue = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let entries = request.entries.unwrap_or_default();
    check_batch_ids(entries.iter().map(|e| e.id.as_deref()), "DeleteMessageBatchRequestEntry")?;
    let mut result = IdBatchResult::default();
    let mut ids = Vec::with_capacity(entries.len());
    let mut handles = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = entry.id.unwrap_or_default();
        match entry.receipt_handle {
            Some(handle) => {
                ids.push(id);
                handles.push(handle);
            }
            None => {
                result.failed.push(BatchResultErrorEntry::from_error(id, &errors::missing_parameter("ReceiptHandle")))
            }
        }
    }
    let outcomes = node.control.store.delete(queue.meta.id, handles.clone()).await.map_err(queue_error)?;
    let mut deleted = 0;
    for ((id, handle), outcome) in ids.into_iter().zip(handles).zip(outcomes) {
        match outcome {
            Ok(outcome) => {
                deleted += u64::from(outcome == DeleteOutcome::Deleted);
                result.successful.push(BatchResultId { id });
            }
            Err(_) => {
                result.failed.push(BatchResultErrorEntry::from_error(id, &errors::receipt_handle_invalid(&handle)))
            }
        }
    }
    QueueCounters::add(&queue.counters.deleted, deleted);
    to_json(&result)
}

fn visibility_error(error: ReceiptError, handle: &str) -> AwsError {
    match error {
        ReceiptError::ReceiptHandleInvalid => errors::receipt_handle_invalid(handle),
        ReceiptError::MessageNotInflight => errors::message_not_inflight(),
    }
}

pub async fn change_message_visibility(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: ChangeMessageVisibilityRequest = parse(body)?;
    let queue = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let handle = request.receipt_handle.ok_or_else(|| errors::missing_parameter("ReceiptHandle"))?;
    let timeout_s = range_checked("VisibilityTimeout", request.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT_S)?
        .ok_or_else(|| errors::missing_parameter("VisibilityTimeout"))?;
    let change = VisibilityChange { receipt_handle: handle.clone(), visibility_timeout_ms: timeout_s as u64 * 1000 };
    let results = node
        .control
        .store
        .change_visibility(queue.meta.id, vec![change], node.clock.epoch_ms())
        .await
        .map_err(queue_error)?;
    match results.into_iter().next() {
        Some(Ok(())) => Ok(EMPTY.to_vec()),
        Some(Err(error)) => Err(visibility_error(error, &handle)),
        None => Err(errors::receipt_handle_invalid(&handle)),
    }
}

pub async fn change_message_visibility_batch(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: ChangeMessageVisibilityBatchRequest = parse(body)?;
    let queue = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let entries = request.entries.unwrap_or_default();
    check_batch_ids(entries.iter().map(|e| e.id.as_deref()), "ChangeMessageVisibilityBatchRequestEntry")?;
    let mut result = IdBatchResult::default();
    let mut accepted = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = entry.id.unwrap_or_default();
        let checked =
            entry.receipt_handle.ok_or_else(|| errors::missing_parameter("ReceiptHandle")).and_then(|handle| {
                let timeout =
                    range_checked("VisibilityTimeout", entry.visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT_S)?
                        .ok_or_else(|| errors::missing_parameter("VisibilityTimeout"))?;
                Ok(VisibilityChange { receipt_handle: handle, visibility_timeout_ms: timeout as u64 * 1000 })
            });
        match checked {
            Ok(change) => accepted.push((id, change)),
            Err(err) => result.failed.push(BatchResultErrorEntry::from_error(id, &err)),
        }
    }
    let (ids, changes): (Vec<String>, Vec<VisibilityChange>) = accepted.into_iter().unzip();
    let handles: Vec<String> = changes.iter().map(|c| c.receipt_handle.clone()).collect();
    let results = node
        .control
        .store
        .change_visibility(queue.meta.id, changes, node.clock.epoch_ms())
        .await
        .map_err(queue_error)?;
    for ((id, handle), outcome) in ids.into_iter().zip(handles).zip(results) {
        match outcome {
            Ok(()) => result.successful.push(BatchResultId { id }),
            Err(error) => result.failed.push(BatchResultErrorEntry::from_error(id, &visibility_error(error, &handle))),
        }
    }
    to_json(&result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_are_checked_in_sqs_order() {
        let ids = |list: &[Option<&'static str>]| check_batch_ids(list.iter().copied(), "Entry").map_err(|e| e.code);
        assert_eq!(ids(&[]), Err("EmptyBatchRequest"));
        assert_eq!(ids(&[Some("a"); 11]), Err("TooManyEntriesInBatchRequest"));
        assert_eq!(ids(&[Some("a"), Some("a")]), Err("BatchEntryIdsNotDistinct"));
        assert_eq!(ids(&[Some("a b")]), Err("InvalidBatchEntryId"));
        assert_eq!(ids(&[Some("a"), Some("b-1_c")]), Ok(()));
    }

    #[test]
    fn attribute_selection_follows_names_all_and_prefixes() {
        let request = ReceiveMessageRequest {
            attribute_names: vec!["SentTimestamp".into()],
            message_system_attribute_names: vec!["ApproximateReceiveCount".into()],
            message_attribute_names: vec!["exact".into(), "ns.*".into()],
            ..Default::default()
        };
        let selection = Selection::of(&request);
        assert!(selection.system_wanted("SentTimestamp") && selection.system_wanted("ApproximateReceiveCount"));
        assert!(!selection.system_wanted("SenderId"));
        assert!(selection.user_wanted("exact") && selection.user_wanted("ns.a") && !selection.user_wanted("nsx"));
        assert!(!selection.user_wanted("other"));
        let all = Selection::of(&ReceiveMessageRequest {
            message_attribute_names: vec![".*".into()],
            attribute_names: vec!["All".into()],
            ..Default::default()
        });
        assert!(all.user_wanted("anything") && all.system_wanted("SequenceNumber"));
    }

    #[test]
    fn ranges_name_the_parameter() {
        let err = range_checked("MaxNumberOfMessages", Some(11), 1, 10).unwrap_err();
        assert!(err.message.contains("Value 11 for parameter MaxNumberOfMessages is invalid"), "{}", err.message);
        assert_eq!(range_checked("WaitTimeSeconds", None, 0, 20).unwrap(), None);
    }
}
