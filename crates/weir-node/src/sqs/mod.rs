//! The SQS-compatible queue service (JSON 1.0 protocol) on weir's port.
//!
//! Owns: queue metadata (documents in the catalog, kind [`settings::CATALOG_KIND`], cached
//! here), the SQS operations ([`http`] dispatches to [`queue_api`], [`message_api`],
//! [`move_tasks`]), per-queue counters, the retention sweeper, and [`send_internal`] for
//! weir's own producers. Messages themselves live in the store (`weir_store::QueueStore`),
//! which decides visibility, ordering, deduplication and redrive; every time passed to it is
//! the platform clock's. Never: reads the system clock for queue logic, or exposes weir's
//! internal queues (`__async/...`: their names are not valid SQS names and they have no
//! catalog document).

pub mod http;
pub mod message_api;
pub mod move_tasks;
pub mod queue_api;
pub mod settings;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use weir_store::{CatalogStore, NewMessage, QueueId, QueueStore, Redrive, SendOutcome};
use weir_wire::AwsError;
use weir_wire::sqs::{StoredAttributes, errors, queue_name_from_arn, valid_message_contents, valid_queue_name};

use crate::Node;
use settings::{CATALOG_KIND, QueueDoc, QueueSettings};

/// A queue as the rest of weir sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueMeta {
    pub id: QueueId,
    pub name: String,
    pub arn: String,
    pub url: String,
    pub fifo: bool,
    pub visibility_timeout: Duration,
    pub delay: Duration,
    pub retention: Duration,
    pub maximum_message_size: usize,
    pub receive_wait: Duration,
    pub content_based_deduplication: bool,
    /// The redrive policy with its dead-letter queue resolved (`None` if unset or the
    /// dead-letter queue does not exist).
    pub redrive: Option<Redrive>,
}

/// Per-queue counters (CloudWatch's `NumberOfMessagesSent`, `…Received`, `…Deleted`,
/// `NumberOfEmptyReceives`), bumped by the API and by weir's own pollers.
#[derive(Debug, Default)]
pub struct QueueCounters {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub deleted: AtomicU64,
    pub empty_receives: AtomicU64,
}

impl QueueCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One queue's cached state: its document, effective settings, metadata and counters.
#[derive(Debug)]
pub struct QueueState {
    pub meta: QueueMeta,
    pub doc: QueueDoc,
    pub settings: QueueSettings,
    /// The document's catalog revision (for compare-and-set updates).
    pub revision: u64,
    pub counters: Arc<QueueCounters>,
}

/// The queue service's shared state.
pub struct SqsService {
    /// Queue name → cached state. Cleared on every queue-level change.
    cache: RwLock<HashMap<String, Arc<QueueState>>>,
    /// Bumped on every queue-level change, so a lookup racing a change never caches stale state.
    generation: AtomicU64,
    counters: Mutex<HashMap<String, Arc<QueueCounters>>>,
    /// Serialises queue-level changes (create, delete, set attributes, tags).
    admin: tokio::sync::Mutex<()>,
    /// Queue id → time (platform epoch ms) of its last PurgeQueue.
    purges: Mutex<HashMap<QueueId, u64>>,
    pub(crate) attempts: message_api::ReceiveAttempts,
    pub(crate) move_tasks: move_tasks::MoveTasks,
    ids: MessageIds,
    sweeper_started: std::sync::atomic::AtomicBool,
}

impl Default for SqsService {
    fn default() -> Self {
        SqsService {
            cache: RwLock::default(),
            generation: AtomicU64::new(0),
            counters: Mutex::default(),
            admin: tokio::sync::Mutex::new(()),
            purges: Mutex::default(),
            attempts: message_api::ReceiveAttempts::default(),
            move_tasks: move_tasks::MoveTasks::default(),
            ids: MessageIds::new(),
            sweeper_started: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// How often the retention sweeper runs (platform time).
const RETENTION_SWEEP: Duration = Duration::from_secs(60);

impl SqsService {
    /// Starts the retention sweeper: every minute of platform time, messages older than their
    /// queue's `MessageRetentionPeriod` are removed. Ends when the node is dropped. Called at
    /// node start; the first SQS request calls it too (only the first call starts it).
    pub fn start(node: &Arc<Node>) {
        if node.sqs.sweeper_started.load(Ordering::Acquire) || node.sqs.sweeper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(node);
        let clock = node.clock.clone();
        tokio::spawn(async move {
            loop {
                clock.sleep(RETENTION_SWEEP).await;
                let Some(node) = weak.upgrade() else { return };
                node.sqs.sweep(&node).await;
            }
        });
    }

    /// Expires old messages of every queue, and forgets old purge and receive-attempt records.
    pub async fn sweep(&self, node: &Node) {
        let now = node.clock.epoch_ms();
        for queue in self.list(node).await {
            let retention_ms = queue.retention.as_millis() as u64;
            match node.control.store.expire(queue.id, now, retention_ms).await {
                Ok(0) => {}
                Ok(expired) => tracing::debug!(queue = queue.name, expired, "expired messages past retention"),
                Err(err) => tracing::warn!(queue = queue.name, error = %err, "retention sweep failed"),
            }
        }
        self.purges.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, at| now.saturating_sub(*at) < 60_000);
        self.attempts.forget_before(now.saturating_sub(message_api::ATTEMPT_WINDOW_MS));
    }

    /// Metadata of a queue by ARN or name (None if absent or internal).
    pub async fn queue_by_arn(&self, node: &Node, arn: &str) -> Option<QueueMeta> {
        let name = queue_name_from_arn(arn).unwrap_or(arn);
        self.queue_by_name(node, name).await
    }

    pub async fn queue_by_name(&self, node: &Node, name: &str) -> Option<QueueMeta> {
        self.state(node, name).await.ok().map(|state| state.meta.clone())
    }

    /// Per-queue counters for metrics, also bumped by the Lambda poller.
    pub fn counters(&self, queue_name: &str) -> Arc<QueueCounters> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.entry(queue_name.to_string()).or_default().clone()
    }

    /// Every (non-internal) queue, ordered by name, for metrics and `weir top`.
    pub async fn list(&self, node: &Node) -> Vec<QueueMeta> {
        let mut queues = Vec::new();
        for name in self.names(node, "").await.unwrap_or_default() {
            if let Some(meta) = self.queue_by_name(node, &name).await {
                queues.push(meta);
            }
        }
        queues
    }

    /// Names of the queues whose name starts with `prefix`, ordered.
    async fn names(&self, node: &Node, prefix: &str) -> Result<Vec<String>, AwsError> {
        let entries = node.control.store.catalog_list(CATALOG_KIND, prefix).await.map_err(store_error)?;
        Ok(entries.into_iter().map(|entry| entry.key).filter(|name| valid_queue_name(name)).collect())
    }

    /// The cached state of queue `name`, loading it from the catalog on a miss.
    pub async fn state(&self, node: &Node, name: &str) -> Result<Arc<QueueState>, AwsError> {
        if !valid_queue_name(name) {
            return Err(errors::queue_does_not_exist());
        }
        if let Some(state) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(state.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entry = node.control.store.catalog_get(CATALOG_KIND, name).await.map_err(store_error)?;
        let entry = entry.ok_or_else(errors::queue_does_not_exist)?;
        let doc: QueueDoc = serde_json::from_slice(&entry.value)
            .map_err(|err| errors::internal(format!("queue document {name} is unreadable: {err}")))?;
        let settings = doc.settings();
        let redrive = match &settings.redrive_policy {
            Some(policy) => self.resolve_redrive(node, policy).await,
            None => None,
        };
        let meta = meta_of(node, name, &doc, &settings, redrive);
        let state =
            Arc::new(QueueState { meta, doc, settings, revision: entry.revision, counters: self.counters(name) });
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            cache.insert(name.to_string(), state.clone());
        }
        Ok(state)
    }

    async fn resolve_redrive(&self, node: &Node, policy: &settings::RedrivePolicy) -> Option<Redrive> {
        let dlq = queue_name_from_arn(&policy.dead_letter_target_arn)?;
        let entry = node.control.store.catalog_get(CATALOG_KIND, dlq).await.ok()??;
        let doc: QueueDoc = serde_json::from_slice(&entry.value).ok()?;
        Some(Redrive { dead_letter_queue: QueueId(doc.id), max_receive_count: policy.max_receive_count })
    }

    /// The queue a `QueueUrl` names (any host: the last path segment is the name).
    pub async fn state_by_url(&self, node: &Node, url: Option<&str>) -> Result<Arc<QueueState>, AwsError> {
        let url = url.ok_or_else(|| errors::missing_parameter("QueueUrl"))?;
        self.state(node, queue_name_from_url(url)).await
    }

    /// Forgets every cached queue (after any queue-level change).
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// A fresh message id (UUID-shaped, unique across restarts).
    pub fn next_message_id(&self) -> String {
        self.ids.next()
    }
}

fn meta_of(node: &Node, name: &str, doc: &QueueDoc, settings: &QueueSettings, redrive: Option<Redrive>) -> QueueMeta {
    QueueMeta {
        id: QueueId(doc.id),
        name: name.to_string(),
        arn: queue_arn(node, name),
        url: queue_url(node, name),
        fifo: doc.fifo,
        visibility_timeout: Duration::from_secs(u64::from(settings.visibility_timeout_s)),
        delay: Duration::from_secs(u64::from(settings.delay_s)),
        retention: Duration::from_secs(u64::from(settings.retention_s)),
        maximum_message_size: settings.maximum_message_size as usize,
        receive_wait: Duration::from_secs(u64::from(settings.receive_wait_s)),
        content_based_deduplication: settings.content_based_deduplication,
        redrive,
    }
}

/// `arn:aws:sqs:{region}:{account}:{name}`.
pub fn queue_arn(node: &Node, name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{name}", node.ctx.region, node.ctx.account_id)
}

/// `{endpoint}/{account}/{name}`.
pub fn queue_url(node: &Node, name: &str) -> String {
    format!("{}/{}/{name}", node.control.endpoint_url, node.ctx.account_id)
}

/// The queue name in a queue URL: its last path segment, whatever the host.
pub fn queue_name_from_url(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    path.trim_end_matches('/').rsplit('/').next().unwrap_or_default()
}

/// A store failure as an SQS error (the request was fine; weir could not serve it).
pub fn store_error(err: impl std::fmt::Display) -> AwsError {
    errors::internal(format!("the store failed: {err}"))
}

/// Message ids: a random 128-bit base per process, plus a counter, in UUID v4 layout. Unique
/// across restarts (the base is random) without a random draw per message.
struct MessageIds {
    base: u128,
    counter: AtomicU64,
}

impl MessageIds {
    fn new() -> Self {
        MessageIds { base: uuid::Uuid::new_v4().as_u128(), counter: AtomicU64::new(0) }
    }

    fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // The counter is XORed into the low 48 bits (the UUID's last group): a bijection, so ids
        // never repeat within 2^48 messages of one process.
        let value = self.base ^ u128::from(n & ((1u64 << 48) - 1));
        uuid::Builder::from_random_bytes(value.to_be_bytes()).into_uuid().hyphenated().to_string()
    }
}

/// Sends one message as SendMessage would (validation, counters), for weir's internal
/// producers (destinations, dead-letter queues). Standard queues only need a body; a FIFO
/// queue would need a group id, which internal producers never have.
pub async fn send_internal(
    node: &Node,
    queue: &QueueMeta,
    body: Bytes,
    attributes: StoredAttributes,
) -> Result<String, AwsError> {
    let text = std::str::from_utf8(&body).map_err(|_| errors::invalid_message_contents())?;
    if text.is_empty() {
        return Err(errors::missing_parameter("MessageBody"));
    }
    if !valid_message_contents(text) {
        return Err(errors::invalid_message_contents());
    }
    if queue.fifo {
        return Err(errors::missing_parameter("MessageGroupId"));
    }
    let size = body.len()
        + weir_wire::sqs::validate_message_attributes(&attributes.message_attributes)?
        + weir_wire::sqs::validate_system_attributes(&attributes.system_attributes)?;
    if size > queue.maximum_message_size {
        return Err(message_api::too_large(queue.maximum_message_size));
    }
    let message_id = node.sqs.next_message_id();
    let message = NewMessage {
        message_id: message_id.clone(),
        body,
        attributes: Bytes::from(attributes.to_stored_bytes()),
        delay_ms: queue.delay.as_millis() as u64,
        group_id: None,
        dedup_id: None,
    };
    let outcomes = node
        .control
        .store
        .send(queue.id, vec![message], node.clock.epoch_ms())
        .await
        .map_err(message_api::queue_error)?;
    if matches!(outcomes.first(), Some(SendOutcome::Sent { .. })) {
        QueueCounters::add(&node.sqs.counters(&queue.name).sent, 1);
    }
    Ok(message_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_name_their_queue_whatever_the_host() {
        assert_eq!(queue_name_from_url("http://127.0.0.1:9700/000000000000/orders"), "orders");
        assert_eq!(queue_name_from_url("http://localhost:9700/000000000000/orders.fifo/"), "orders.fifo");
        assert_eq!(queue_name_from_url("https://sqs.us-east-1.amazonaws.com/1/q?x=1"), "q");
        assert_eq!(queue_name_from_url("orders"), "orders");
    }

    #[test]
    fn message_ids_are_unique_uuids() {
        let ids = MessageIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
        assert_ne!(MessageIds::new().next(), a);
    }
}
