//! Dead-letter queue redrive: StartMessageMoveTask, ListMessageMoveTasks,
//! CancelMessageMoveTask.
//!
//! Owns: the move tasks of this node, persisted in the catalog (kind `sqs-move-task`) when
//! they start, after each step and when they end, so a restart resumes running tasks and
//! still lists finished ones. A task moves, in receive order, the messages visible in the
//! dead-letter queue when it started, back to a source queue (or the given destination),
//! pacing itself when `MaxNumberOfMessagesPerSecond` is set. Each step is one atomic store
//! move; the task's count is saved after it, so a task resumed after a crash between the
//! two may move up to one step (100 messages, or its rate) more than it counted. Never:
//! decides which messages move (the store's `move_messages` does, atomically).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use weir_store::{CatalogOp, CatalogStore, Expect, QueueId, QueueStore};
use weir_wire::AwsError;
use weir_wire::sqs::{
    CancelMessageMoveTaskRequest, CancelMessageMoveTaskResult, ListMessageMoveTasksRequest, ListMessageMoveTasksResult,
    MessageMoveTaskEntry, StartMessageMoveTaskRequest, StartMessageMoveTaskResult, errors, queue_name_from_arn,
};

use super::http::{parse, to_json};
use super::message_api::queue_error;
use crate::Node;

/// Messages per store step when the task is not rate-limited.
const UNPACED_BATCH: u32 = 100;
/// Finished tasks remembered (for ListMessageMoveTasks).
const REMEMBERED_TASKS: usize = 1000;
/// Catalog kind of persisted tasks (key: the task id).
const CATALOG_KIND: &str = "sqs-move-task";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Running,
    Cancelling,
    Cancelled,
    Completed,
    Failed(String),
}

impl Status {
    fn name(&self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Cancelling => "CANCELLING",
            Status::Cancelled => "CANCELLED",
            Status::Completed => "COMPLETED",
            Status::Failed(_) => "FAILED",
        }
    }

    fn from_record(name: &str, failure_reason: Option<String>) -> Status {
        match name {
            "RUNNING" => Status::Running,
            "CANCELLING" => Status::Cancelling,
            "CANCELLED" => Status::Cancelled,
            "COMPLETED" => Status::Completed,
            _ => Status::Failed(failure_reason.unwrap_or_default()),
        }
    }
}

/// What a task is: fixed when it starts.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TaskInfo {
    id: String,
    handle: String,
    source_arn: String,
    destination_arn: Option<String>,
    /// The queue the messages go to (`destination_arn` or the source's one source queue).
    target_arn: String,
    rate_per_second: Option<i64>,
    started_ms: u64,
    to_move: u64,
}

/// A task as persisted: what it is and how far it got.
#[derive(Debug, Serialize, Deserialize)]
struct TaskRecord {
    #[serde(flatten)]
    info: TaskInfo,
    moved: u64,
    status: String,
    failure_reason: Option<String>,
}

struct MoveTask {
    info: TaskInfo,
    moved: AtomicU64,
    cancel: AtomicBool,
    status: Mutex<Status>,
}

impl MoveTask {
    fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_status(&self, status: Status) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    fn record(&self) -> TaskRecord {
        let status = self.status();
        TaskRecord {
            info: self.info.clone(),
            moved: self.moved.load(Ordering::Relaxed),
            status: status.name().to_owned(),
            failure_reason: match status {
                Status::Failed(reason) => Some(reason),
                _ => None,
            },
        }
    }

    fn from_record(record: TaskRecord) -> MoveTask {
        MoveTask {
            status: Mutex::new(Status::from_record(&record.status, record.failure_reason)),
            info: record.info,
            moved: AtomicU64::new(record.moved),
            cancel: AtomicBool::new(false),
        }
    }

    /// Saves the task's current state.
    async fn persist(&self, node: &Node) -> Result<(), AwsError> {
        let value = Bytes::from(serde_json::to_vec(&self.record()).expect("task records serialise"));
        let op = CatalogOp::Put { kind: CATALOG_KIND.into(), key: self.info.id.clone(), value, expect: Expect::Any };
        node.control.store.catalog_apply(vec![op]).await.map_err(|e| errors::internal(e.to_string()))?;
        Ok(())
    }

    /// Ends the task with `status`, saved.
    async fn finish(&self, node: &Node, status: Status) {
        self.set_status(status);
        if let Err(err) = self.persist(node).await {
            tracing::warn!(task = self.info.id, error = %err, "saving a finished message move task failed");
        }
    }

    fn entry(&self) -> MessageMoveTaskEntry {
        let status = self.status();
        MessageMoveTaskEntry {
            task_handle: (status == Status::Running).then(|| self.info.handle.clone()),
            status: status.name(),
            source_arn: self.info.source_arn.clone(),
            destination_arn: self.info.destination_arn.clone(),
            max_number_of_messages_per_second: self.info.rate_per_second,
            approximate_number_of_messages_moved: self.moved.load(Ordering::Relaxed),
            approximate_number_of_messages_to_move: self.info.to_move,
            failure_reason: match status {
                Status::Failed(reason) => Some(reason),
                _ => None,
            },
            started_timestamp: self.info.started_ms,
        }
    }
}

/// The node's move tasks, newest last.
#[derive(Default)]
pub struct MoveTasks {
    tasks: Mutex<Vec<Arc<MoveTask>>>,
}

impl MoveTasks {
    fn all(&self) -> Vec<Arc<MoveTask>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds a task unless one is already running for its source (checked
    /// and added under one lock); returns the id of a finished task forgotten
    /// to make room.
    fn add_if_idle(&self, task: Arc<MoveTask>) -> Result<Option<String>, AwsError> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if tasks.iter().any(|t| t.info.source_arn == task.info.source_arn && t.status() == Status::Running) {
            return Err(errors::invalid_parameter_value(
                "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
            ));
        }
        Ok(Self::push(&mut tasks, task))
    }

    /// Adds a task; returns the id of a finished task forgotten to make room.
    fn add(&self, task: Arc<MoveTask>) -> Option<String> {
        Self::push(&mut self.tasks.lock().unwrap_or_else(|p| p.into_inner()), task)
    }

    fn push(tasks: &mut Vec<Arc<MoveTask>>, task: Arc<MoveTask>) -> Option<String> {
        tasks.push(task);
        if tasks.len() > REMEMBERED_TASKS {
            let finished = tasks.iter().position(|t| !matches!(t.status(), Status::Running | Status::Cancelling));
            if let Some(at) = finished {
                return Some(tasks.remove(at).info.id.clone());
            }
        }
        None
    }

    fn remove(&self, id: &str) {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).retain(|t| t.info.id != id);
    }
}

/// Deletes a forgotten task's document.
async fn forget(node: &Node, forgotten: Option<String>) {
    let Some(key) = forgotten else { return };
    let op = CatalogOp::Delete { kind: CATALOG_KIND.into(), key, expect: Expect::Any };
    if let Err(err) = node.control.store.catalog_apply(vec![op]).await {
        tracing::warn!(error = %err, "forgetting an old message move task failed");
    }
}

/// Loads the persisted tasks: finished ones are listed again, running ones
/// carry on (a task whose queues are gone fails), and a task that was being
/// cancelled is cancelled.
pub async fn resume(node: &Arc<Node>) {
    let entries = match node.control.store.catalog_list(CATALOG_KIND, "").await {
        Ok(entries) => entries,
        Err(err) => {
            tracing::error!(error = %err, "message move tasks could not be read");
            return;
        }
    };
    let mut tasks: Vec<MoveTask> = entries
        .iter()
        .filter_map(|entry| match serde_json::from_slice::<TaskRecord>(&entry.value) {
            Ok(record) => Some(MoveTask::from_record(record)),
            Err(err) => {
                tracing::error!(key = entry.key, error = %err, "unreadable message move task skipped");
                None
            }
        })
        .collect();
    tasks.sort_by_key(|task| task.info.started_ms);
    for task in tasks {
        let task = Arc::new(task);
        let forgotten = node.sqs.move_tasks.add(task.clone());
        forget(node, forgotten).await;
        match task.status() {
            Status::Running => {
                let source = queue_id(node, &task.info.source_arn).await;
                let target = queue_id(node, &task.info.target_arn).await;
                match (source, target) {
                    (Some(source), Some(target)) => {
                        tokio::spawn(run(node.clone(), task, source, target));
                    }
                    _ => {
                        let reason = "A queue of the task no longer exists.".to_owned();
                        task.finish(node, Status::Failed(reason)).await;
                    }
                }
            }
            Status::Cancelling => task.finish(node, Status::Cancelled).await,
            _ => {}
        }
    }
}

/// The store id of the queue with this ARN, if it exists.
async fn queue_id(node: &Node, arn: &str) -> Option<QueueId> {
    let name = queue_name_from_arn(arn)?;
    node.sqs.state(node, name).await.ok().filter(|s| s.meta.arn == arn).map(|s| s.meta.id)
}

fn not_found(parameter: &str) -> AwsError {
    errors::resource_not_found(format!("The resource that you specified for the {parameter} parameter doesn't exist."))
}

pub async fn start_message_move_task(node: &Arc<Node>, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: StartMessageMoveTaskRequest = parse(body)?;
    let source_arn = request.source_arn.ok_or_else(|| errors::missing_parameter("SourceArn"))?;
    let source = match queue_name_from_arn(&source_arn) {
        Some(name) => node.sqs.state(node, name).await.ok().filter(|s| s.meta.arn == source_arn),
        None => None,
    }
    .ok_or_else(|| not_found("SourceArn"))?;
    let rate = match request.max_number_of_messages_per_second {
        Some(rate) if !(1..=500).contains(&rate) => {
            return Err(errors::invalid_parameter_value(format!(
                "Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: must be between 1 and 500."
            )));
        }
        other => other,
    };
    // The queues that use the source as their dead-letter queue.
    let mut redriven_from = Vec::new();
    for name in node.sqs.names(node, "").await? {
        if let Ok(state) = node.sqs.state(node, &name).await
            && state.settings.redrive_policy.as_ref().is_some_and(|p| p.dead_letter_target_arn == source_arn)
        {
            redriven_from.push(state);
        }
    }
    if redriven_from.is_empty() {
        return Err(errors::invalid_parameter_value("Source queue must be configured as a Dead Letter Queue."));
    }
    let destination = match &request.destination_arn {
        Some(arn) => match queue_name_from_arn(arn) {
            Some(name) => node.sqs.state(node, name).await.ok().filter(|s| &s.meta.arn == arn),
            None => None,
        }
        .ok_or_else(|| not_found("DestinationArn"))?,
        None if redriven_from.len() == 1 => redriven_from.remove(0),
        None => {
            return Err(errors::invalid_parameter_value(
                "Several queues use this dead-letter queue; weir does not record each message's source queue, so \
                 give DestinationArn.",
            ));
        }
    };
    if destination.meta.id == source.meta.id {
        return Err(errors::invalid_parameter_value("The destination cannot be the source queue."));
    }
    if destination.meta.fifo != source.meta.fifo {
        return Err(errors::invalid_parameter_value("Source and destination queues must be of the same type."));
    }
    let now = node.clock.epoch_ms();
    let stats = node.control.store.stats(source.meta.id, now).await.map_err(queue_error)?;
    let task_id = uuid::Uuid::new_v4().to_string();
    let handle = base64::engine::general_purpose::STANDARD
        .encode(serde_json::json!({ "taskId": task_id, "sourceArn": source_arn }).to_string());
    let task = Arc::new(MoveTask {
        info: TaskInfo {
            id: task_id,
            handle: handle.clone(),
            source_arn,
            destination_arn: request.destination_arn,
            target_arn: destination.meta.arn.clone(),
            rate_per_second: rate,
            started_ms: now,
            to_move: stats.visible,
        },
        moved: AtomicU64::new(0),
        cancel: AtomicBool::new(false),
        status: Mutex::new(Status::Running),
    });
    let forgotten = node.sqs.move_tasks.add_if_idle(task.clone())?;
    // Saved before the answer: an acknowledged task survives a restart.
    if let Err(err) = task.persist(node).await {
        node.sqs.move_tasks.remove(&task.info.id);
        return Err(err);
    }
    forget(node, forgotten).await;
    tokio::spawn(run(node.clone(), task, source.meta.id, destination.meta.id));
    to_json(&StartMessageMoveTaskResult { task_handle: handle })
}

/// Moves the task's messages until all are moved, the source is empty, or it is cancelled.
async fn run(node: Arc<Node>, task: Arc<MoveTask>, source: QueueId, destination: QueueId) {
    let batch = task.info.rate_per_second.map_or(UNPACED_BATCH, |rate| rate as u32);
    loop {
        if task.cancel.load(Ordering::Acquire) {
            task.finish(&node, Status::Cancelled).await;
            return;
        }
        let moved_so_far = task.moved.load(Ordering::Relaxed);
        if moved_so_far >= task.info.to_move {
            task.finish(&node, Status::Completed).await;
            return;
        }
        let step = batch.min((task.info.to_move - moved_so_far).min(u64::from(u32::MAX)) as u32);
        let started = tokio::time::Instant::now();
        match node.control.store.move_messages(source, destination, step, node.clock.epoch_ms()).await {
            Ok(0) => {
                task.finish(&node, Status::Completed).await;
                return;
            }
            Ok(moved) => {
                task.moved.fetch_add(moved, Ordering::Relaxed);
                if let Err(err) = task.persist(&node).await {
                    // Saved if the store lets it; else the restart resumes it.
                    task.finish(&node, Status::Failed(err.to_string())).await;
                    return;
                }
            }
            Err(err) => {
                task.finish(&node, Status::Failed(err.to_string())).await;
                return;
            }
        }
        if task.info.rate_per_second.is_some() {
            // Pacing is throughput, not queue semantics: real time.
            tokio::time::sleep_until(started + Duration::from_secs(1)).await;
        }
    }
}

pub async fn list_message_move_tasks(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: ListMessageMoveTasksRequest = parse(body)?;
    let source_arn = request.source_arn.ok_or_else(|| errors::missing_parameter("SourceArn"))?;
    let exists = match queue_name_from_arn(&source_arn) {
        Some(name) => node.sqs.state(node, name).await.is_ok_and(|s| s.meta.arn == source_arn),
        None => false,
    };
    if !exists {
        return Err(not_found("SourceArn"));
    }
    let limit = match request.max_results {
        None => 1,
        Some(n) if (1..=10).contains(&n) => n as usize,
        Some(n) => {
            return Err(errors::invalid_parameter_value(format!(
                "Value {n} for parameter MaxResults is invalid. Reason: must be between 1 and 10."
            )));
        }
    };
    let results = node
        .sqs
        .move_tasks
        .all()
        .iter()
        .rev()
        .filter(|task| task.info.source_arn == source_arn)
        .take(limit)
        .map(|task| task.entry())
        .collect();
    to_json(&ListMessageMoveTasksResult { results })
}

pub async fn cancel_message_move_task(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: CancelMessageMoveTaskRequest = parse(body)?;
    let handle = request.task_handle.ok_or_else(|| errors::missing_parameter("TaskHandle"))?;
    let task = node
        .sqs
        .move_tasks
        .all()
        .into_iter()
        .find(|task| task.info.handle == handle)
        .ok_or_else(|| errors::resource_not_found("Task does not exist."))?;
    {
        let mut status = task.status.lock().unwrap_or_else(|p| p.into_inner());
        if *status != Status::Running {
            return Err(errors::invalid_parameter_value("Only active tasks can be cancelled."));
        }
        *status = Status::Cancelling;
    }
    task.cancel.store(true, Ordering::Release);
    task.persist(node).await?;
    to_json(&CancelMessageMoveTaskResult { approximate_number_of_messages_moved: task.moved.load(Ordering::Relaxed) })
}
