//! Event source mappings (Lambda's `CreateEventSourceMapping` & co.) for
//! weir's SQS queues, and the pollers that run them.
//!
//! A mapping is persisted in the catalog (kind `esm`); each enabled mapping
//! has one poller task (`poller`) that claims batches from the queue and
//! invokes the function through the core's admission, scaling its
//! concurrency with the core's `PollerScaler` and batching with its
//! `Batching` rules. `event` builds Lambda's SQS event and reads partial
//! batch responses.

pub mod event;
pub mod filter;
pub mod poller;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use weir_core::{Batching, PollerScaling};
use weir_store::{CatalogOp, CatalogStore, Expect};
use weir_wire::AwsError;
use weir_wire::lambda::parse_function_name;

use crate::Node;
use crate::control::core_error;

pub const CATALOG_KIND: &str = "esm";

/// One mapping, as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRecord {
    pub uuid: String,
    pub event_source_arn: String,
    pub function_name: String,
    pub qualifier: Option<String>,
    pub batch_size: u32,
    pub maximum_batching_window_s: u32,
    pub maximum_concurrency: Option<u32>,
    pub report_batch_item_failures: bool,
    /// `FilterCriteria` as given (`{"Filters": [{"Pattern": "…"}]}`), when
    /// it holds at least one filter.
    #[serde(default)]
    pub filter_criteria: Option<Value>,
    pub enabled: bool,
    pub last_modified_ms: u64,
}

/// What a mapping's poller has done, for metrics (`event_source_mapping` label).
#[derive(Debug, Default)]
pub struct MappingCounters {
    /// Messages received from the queue.
    pub polled: AtomicU64,
    /// Batches sent to the function.
    pub invoked: AtomicU64,
    /// Batches that failed (function error), wholly or partly.
    pub failed: AtomicU64,
    /// Batches throttled before reaching the function.
    pub throttled: AtomicU64,
    /// Messages deleted after success.
    pub deleted: AtomicU64,
    /// Messages no filter matched (deleted without invoking).
    pub filtered_out: AtomicU64,
    /// Messages moved to the queue's dead-letter queue by the poller's
    /// receives (their `maxReceiveCount` reached).
    pub dead_lettered: AtomicU64,
    /// Concurrent batches allowed now (the poller's scaling limit).
    pub concurrency_limit: AtomicU64,
    /// Batches in flight now.
    pub in_flight: AtomicU64,
}

impl MappingCounters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

struct Running {
    stop: tokio::sync::watch::Sender<bool>,
    counters: Arc<MappingCounters>,
}

/// Every mapping of the node and its poller.
#[derive(Default)]
pub struct Mappings {
    records: Mutex<HashMap<String, MappingRecord>>,
    running: Mutex<HashMap<String, Running>>,
    lock: tokio::sync::Mutex<()>,
}

/// `CreateEventSourceMapping` / `UpdateEventSourceMapping` body.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingRequest {
    pub event_source_arn: Option<String>,
    pub function_name: Option<String>,
    pub enabled: Option<bool>,
    pub batch_size: Option<i64>,
    pub maximum_batching_window_in_seconds: Option<i64>,
    pub scaling_config: Option<ScalingConfigShape>,
    pub function_response_types: Option<Vec<String>>,
    pub filter_criteria: Option<Value>,
    pub starting_position: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingConfigShape {
    pub maximum_concurrency: Option<i64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Mappings {
    pub fn get(&self, uuid: &str) -> Option<MappingRecord> {
        lock(&self.records).get(uuid).cloned()
    }

    pub fn all(&self) -> Vec<MappingRecord> {
        let mut all: Vec<_> = lock(&self.records).values().cloned().collect();
        all.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        all
    }

    pub fn counters(&self, uuid: &str) -> Option<Arc<MappingCounters>> {
        lock(&self.running).get(uuid).map(|r| r.counters.clone())
    }

    /// Loads persisted mappings and starts their pollers.
    pub async fn start(node: &Arc<Node>) {
        let Ok(entries) = node.control.store.catalog_list(CATALOG_KIND, "").await else { return };
        for entry in entries {
            match serde_json::from_slice::<MappingRecord>(&entry.value) {
                Ok(record) => {
                    lock(&node.mappings.records).insert(record.uuid.clone(), record.clone());
                    node.mappings.reconcile(node, &record);
                }
                Err(err) => tracing::error!(key = entry.key, error = %err, "unreadable event source mapping skipped"),
            }
        }
    }

    /// Starts or stops the poller to match the record.
    fn reconcile(&self, node: &Arc<Node>, record: &MappingRecord) {
        let mut running = lock(&self.running);
        if let Some(old) = running.remove(&record.uuid) {
            let _ = old.stop.send(true);
        }
        if record.enabled {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let counters = Arc::new(MappingCounters::default());
            tokio::spawn(poller::run(Arc::downgrade(node), record.clone(), stopped, counters.clone()));
            running.insert(record.uuid.clone(), Running { stop, counters });
        }
    }

    fn stop(&self, uuid: &str) {
        if let Some(old) = lock(&self.running).remove(uuid) {
            let _ = old.stop.send(true);
        }
    }

    async fn persist(&self, node: &Node, record: &MappingRecord) -> Result<(), AwsError> {
        let value = Bytes::from(serde_json::to_vec(record).expect("records serialise"));
        let op = CatalogOp::Put { kind: CATALOG_KIND.into(), key: record.uuid.clone(), value, expect: Expect::Any };
        node.control.store.catalog_apply(vec![op]).await.map_err(|e| AwsError::service(e.to_string()))?;
        Ok(())
    }

    /// Validates a mapping against its function and queue like Lambda.
    async fn validate(&self, node: &Node, record: &MappingRecord) -> Result<(), AwsError> {
        let entry = node.control.registry.get(&record.function_name).ok_or_else(|| {
            AwsError::not_found(format!("Function not found: {}", node.ctx.function_arn(&record.function_name)))
        })?;
        let version = node.control.resolve(&entry, record.qualifier.as_deref())?;
        let queue = node.sqs.queue_by_arn(node, &record.event_source_arn).await.ok_or_else(|| {
            AwsError::invalid_parameter(format!(
                "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue {} does not exist.",
                record.event_source_arn
            ))
        })?;
        if queue.fifo && record.batch_size > 10 {
            return Err(AwsError::invalid_parameter("Batch size must be between 1 and 10 for FIFO queues."));
        }
        Batching::sqs(record.batch_size, Duration::from_secs(u64::from(record.maximum_batching_window_s)))
            .map_err(core_error)?;
        PollerScaling::with_maximum_concurrency(record.maximum_concurrency).map_err(core_error)?;
        let timeout = entry.record.config(version).map_or(3, |c| c.timeout_s);
        weir_core::validate_sqs_visibility(Duration::from_secs(u64::from(timeout)), queue.visibility_timeout)
            .map_err(core_error)?;
        Ok(())
    }

    pub async fn create(&self, node: &Arc<Node>, req: MappingRequest) -> Result<Value, AwsError> {
        let _guard = self.lock.lock().await;
        let arn =
            req.event_source_arn.clone().ok_or_else(|| AwsError::invalid_parameter("EventSourceArn is required"))?;
        if !arn.starts_with("arn:aws:sqs:") {
            return Err(AwsError::invalid_parameter(format!(
                "weir supports SQS event sources (arn:aws:sqs:...); got {arn}"
            )));
        }
        let function = parse_function_name(req.function_name.as_deref().unwrap_or(""))?;
        let mut record = MappingRecord {
            uuid: uuid::Uuid::new_v4().to_string(),
            event_source_arn: arn,
            function_name: function.name,
            qualifier: function.qualifier,
            batch_size: 10,
            maximum_batching_window_s: 0,
            maximum_concurrency: None,
            report_batch_item_failures: false,
            filter_criteria: None,
            enabled: req.enabled.unwrap_or(true),
            last_modified_ms: node.clock.epoch_ms(),
        };
        apply_settings(&mut record, &req)?;
        if let Some(existing) = lock(&self.records)
            .values()
            .find(|m| m.event_source_arn == record.event_source_arn && m.function_name == record.function_name)
        {
            return Err(AwsError::conflict(format!(
                "An event source mapping with SQS arn (\" {} \") and function (\" {} \") already exists. Please update or delete the existing mapping with UUID {}",
                record.event_source_arn, record.function_name, existing.uuid
            )));
        }
        self.validate(node, &record).await?;
        self.persist(node, &record).await?;
        lock(&self.records).insert(record.uuid.clone(), record.clone());
        self.reconcile(node, &record);
        Ok(self.shape(node, &record, "Creating"))
    }

    pub async fn update(&self, node: &Arc<Node>, uuid: &str, req: MappingRequest) -> Result<Value, AwsError> {
        let _guard = self.lock.lock().await;
        let mut record = self.get(uuid).ok_or_else(|| not_found(uuid))?;
        if let Some(name) = &req.function_name {
            let function = parse_function_name(name)?;
            record.function_name = function.name;
            record.qualifier = function.qualifier;
        }
        // Lambda answers a switch on or off with its transition state.
        let state = match req.enabled {
            Some(true) if !record.enabled => "Enabling",
            Some(false) if record.enabled => "Disabling",
            _ => "Updating",
        };
        if let Some(enabled) = req.enabled {
            record.enabled = enabled;
        }
        apply_settings(&mut record, &req)?;
        record.last_modified_ms = node.clock.epoch_ms();
        self.validate(node, &record).await?;
        self.persist(node, &record).await?;
        lock(&self.records).insert(record.uuid.clone(), record.clone());
        self.reconcile(node, &record);
        Ok(self.shape(node, &record, state))
    }

    pub async fn delete(&self, node: &Arc<Node>, uuid: &str) -> Result<Value, AwsError> {
        let _guard = self.lock.lock().await;
        let record = self.get(uuid).ok_or_else(|| not_found(uuid))?;
        let op = CatalogOp::Delete { kind: CATALOG_KIND.into(), key: uuid.into(), expect: Expect::Any };
        node.control.store.catalog_apply(vec![op]).await.map_err(|e| AwsError::service(e.to_string()))?;
        self.stop(uuid);
        lock(&self.records).remove(uuid);
        Ok(self.shape(node, &record, "Deleting"))
    }

    /// Stops and forgets every mapping of a deleted function.
    pub async fn function_deleted(&self, node: &Arc<Node>, function: &str) {
        let uuids: Vec<String> =
            lock(&self.records).values().filter(|m| m.function_name == function).map(|m| m.uuid.clone()).collect();
        for uuid in uuids {
            let _ = self.delete(node, &uuid).await;
        }
    }

    /// `EventSourceMappingConfiguration`.
    pub fn shape(&self, node: &Node, record: &MappingRecord, state: &str) -> Value {
        let function_arn = match &record.qualifier {
            Some(q) => node.ctx.qualified_arn(&record.function_name, q),
            None => node.ctx.function_arn(&record.function_name),
        };
        let mut shape = json!({
            "UUID": record.uuid,
            "BatchSize": record.batch_size,
            "MaximumBatchingWindowInSeconds": record.maximum_batching_window_s,
            "EventSourceArn": record.event_source_arn,
            "FunctionArn": function_arn,
            "LastModified": record.last_modified_ms as f64 / 1000.0,
            "State": state,
            "StateTransitionReason": "USER_INITIATED",
            "FunctionResponseTypes": if record.report_batch_item_failures { json!(["ReportBatchItemFailures"]) } else { json!([]) },
        });
        if let Some(max) = record.maximum_concurrency {
            shape["ScalingConfig"] = json!({ "MaximumConcurrency": max });
        }
        if let Some(criteria) = &record.filter_criteria {
            shape["FilterCriteria"] = criteria.clone();
        }
        shape
    }

    pub fn current_state(record: &MappingRecord) -> &'static str {
        if record.enabled { "Enabled" } else { "Disabled" }
    }
}

fn not_found(uuid: &str) -> AwsError {
    AwsError::not_found(format!(
        "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {uuid})"
    ))
}

fn apply_settings(record: &mut MappingRecord, req: &MappingRequest) -> Result<(), AwsError> {
    if let Some(size) = req.batch_size {
        record.batch_size = u32::try_from(size).map_err(|_| {
            AwsError::invalid_parameter(format!(
                "1 validation error detected: Value '{size}' at 'batchSize' failed to satisfy constraint: Member must have value greater than or equal to 1"
            ))
        })?;
    }
    if let Some(window) = req.maximum_batching_window_in_seconds {
        record.maximum_batching_window_s = u32::try_from(window).map_err(|_| {
            AwsError::invalid_parameter(format!(
                "1 validation error detected: Value '{window}' at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 0"
            ))
        })?;
    }
    if let Some(scaling) = &req.scaling_config {
        record.maximum_concurrency = match scaling.maximum_concurrency {
            None => None,
            Some(max) => Some(u32::try_from(max).map_err(|_| {
                AwsError::invalid_parameter(format!(
                    "1 validation error detected: Value '{max}' at 'scalingConfig.maximumConcurrency' failed to satisfy constraint: Member must have value greater than or equal to 2"
                ))
            })?),
        };
    }
    if let Some(types) = &req.function_response_types {
        if let Some(bad) = types.iter().find(|t| t.as_str() != "ReportBatchItemFailures") {
            return Err(AwsError::invalid_parameter(format!(
                "1 validation error detected: Value '[{bad}]' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy enum value set: [ReportBatchItemFailures]"
            )));
        }
        record.report_batch_item_failures = !types.is_empty();
    }
    if let Some(criteria) = &req.filter_criteria {
        record.filter_criteria = filter::normalise(criteria)?;
    }
    Ok(())
}
