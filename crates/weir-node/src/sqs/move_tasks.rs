//! Dead-letter queue redrive: StartMessageMoveTask, ListMessageMoveTasks,
//! CancelMessageMoveTask.
//!
//! Owns: the move tasks of this node (in memory: a restart forgets finished tasks and stops
//! running ones; the messages already moved stay moved, each move being one atomic store
//! step). A task moves, in receive order, the messages visible in the dead-letter queue
//! when it started, back to a source queue (or the given destination), pacing itself when
//! `MaxNumberOfMessagesPerSecond` is set. Never: decides which messages move (the store's
//! `move_messages` does, atomically).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use weir_store::{QueueId, QueueStore};
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
}

struct MoveTask {
    handle: String,
    source_arn: String,
    destination_arn: Option<String>,
    rate_per_second: Option<i64>,
    started_ms: u64,
    to_move: u64,
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

    fn entry(&self) -> MessageMoveTaskEntry {
        let status = self.status();
        MessageMoveTaskEntry {
            task_handle: (status == Status::Running).then(|| self.handle.clone()),
            status: status.name(),
            source_arn: self.source_arn.clone(),
            destination_arn: self.destination_arn.clone(),
            max_number_of_messages_per_second: self.rate_per_second,
            approximate_number_of_messages_moved: self.moved.load(Ordering::Relaxed),
            approximate_number_of_messages_to_move: self.to_move,
            failure_reason: match status {
                Status::Failed(reason) => Some(reason),
                _ => None,
            },
            started_timestamp: self.started_ms,
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

    fn add(&self, task: Arc<MoveTask>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.push(task);
        if tasks.len() > REMEMBERED_TASKS {
            let finished = tasks.iter().position(|t| !matches!(t.status(), Status::Running | Status::Cancelling));
            if let Some(at) = finished {
                tasks.remove(at);
            }
        }
    }
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
    let running =
        node.sqs.move_tasks.all().into_iter().any(|t| t.source_arn == source_arn && t.status() == Status::Running);
    if running {
        return Err(errors::invalid_parameter_value(
            "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
        ));
    }
    let now = node.clock.epoch_ms();
    let stats = node.control.store.stats(source.meta.id, now).await.map_err(queue_error)?;
    let task_id = uuid::Uuid::new_v4().to_string();
    let handle = base64::engine::general_purpose::STANDARD
        .encode(serde_json::json!({ "taskId": task_id, "sourceArn": source_arn }).to_string());
    let task = Arc::new(MoveTask {
        handle: handle.clone(),
        source_arn,
        destination_arn: request.destination_arn,
        rate_per_second: rate,
        started_ms: now,
        to_move: stats.visible,
        moved: AtomicU64::new(0),
        cancel: AtomicBool::new(false),
        status: Mutex::new(Status::Running),
    });
    node.sqs.move_tasks.add(task.clone());
    tokio::spawn(run(node.clone(), task, source.meta.id, destination.meta.id));
    to_json(&StartMessageMoveTaskResult { task_handle: handle })
}

/// Moves the task's messages until all are moved, the source is empty, or it is cancelled.
async fn run(node: Arc<Node>, task: Arc<MoveTask>, source: QueueId, destination: QueueId) {
    let batch = task.rate_per_second.map_or(UNPACED_BATCH, |rate| rate as u32);
    loop {
        if task.cancel.load(Ordering::Acquire) {
            task.set_status(Status::Cancelled);
            return;
        }
        let moved_so_far = task.moved.load(Ordering::Relaxed);
        if moved_so_far >= task.to_move {
            task.set_status(Status::Completed);
            return;
        }
        let step = batch.min((task.to_move - moved_so_far).min(u64::from(u32::MAX)) as u32);
        let started = tokio::time::Instant::now();
        match node.control.store.move_messages(source, destination, step, node.clock.epoch_ms()).await {
            Ok(0) => {
                task.set_status(Status::Completed);
                return;
            }
            Ok(moved) => {
                task.moved.fetch_add(moved, Ordering::Relaxed);
            }
            Err(err) => {
                task.set_status(Status::Failed(err.to_string()));
                return;
            }
        }
        if task.rate_per_second.is_some() {
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
        .filter(|task| task.source_arn == source_arn)
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
        .find(|task| task.handle == handle)
        .ok_or_else(|| errors::resource_not_found("Task does not exist."))?;
    {
        let mut status = task.status.lock().unwrap_or_else(|p| p.into_inner());
        if *status != Status::Running {
            return Err(errors::invalid_parameter_value("Only active tasks can be cancelled."));
        }
        *status = Status::Cancelling;
    }
    task.cancel.store(true, Ordering::Release);
    to_json(&CancelMessageMoveTaskResult { approximate_number_of_messages_moved: task.moved.load(Ordering::Relaxed) })
}
