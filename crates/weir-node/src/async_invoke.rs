//! Asynchronous invocation (`X-Amz-Invocation-Type: Event`).
//!
//! An accepted event is committed to the function's internal queue (one
//! durable store queue per function, named `__async/<function>`) before the
//! 202. One dispatcher per function pulls due events and invokes them
//! through the core's admission, so async work obeys reserved, account and
//! host limits. After each attempt the core's `async_retry` rules decide:
//! done (on-success destination), retry later (the event is requeued with
//! its new state and a visibility delay on the platform clock), or give up
//! (dead-letter queue / on-failure destination, then drop). A throttled
//! dispatcher waits for capacity instead of spinning.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use weir_core::async_retry::{self, AsyncAttempt, AsyncDecision, AsyncEventState, FailureCondition};
use weir_core::{InvocationFailure, Version};
use weir_sandbox::Outcome;
use weir_store::{
    NewMessage, QueueError, QueueId, QueueKind, QueueStore, ReceiveOptions, ReceivedMessage, VisibilityChange,
};
use weir_wire::AwsError;

use crate::Node;
use crate::destinations::{self, RecordInput};
use crate::engine::{Completion, Rejection};
use crate::http::invoke::validate_payload;
use crate::http::{ApiError, ApiResult};
use crate::metrics::AsyncCounters;
use crate::registry::FunctionEntry;

/// Lambda's asynchronous payload limit.
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;
/// Store queue name of a function's async events (`/` never occurs in SQS names).
pub fn queue_name(function: &str) -> String {
    format!("__async/{function}")
}
/// Events a dispatcher claims at once, at most.
const BATCH: u32 = 16;
/// How long a claimed event stays invisible without a heartbeat; a crashed
/// node's events reappear after this.
const LEASE: Duration = Duration::from_secs(10);
/// How often a running event's lease is renewed.
const HEARTBEAT: Duration = Duration::from_secs(4);

/// What is stored beside each event's payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct EventState {
    request_id: String,
    qualifier: Option<String>,
    #[serde(default)]
    invocations: u32,
    #[serde(default)]
    throttles: u32,
}

pub struct AsyncInvoker {
    queues: Mutex<HashMap<String, QueueId>>,
    node: Mutex<Weak<Node>>,
    /// Events being handled now (receipt handle → queue), whose leases a
    /// manual clock advance must carry along.
    leases: Mutex<HashMap<String, QueueId>>,
    /// Held by a lease renewal, and by a clock advance across its carry.
    renewals: tokio::sync::Mutex<()>,
}

impl Default for AsyncInvoker {
    fn default() -> Self {
        AsyncInvoker {
            queues: Mutex::new(HashMap::new()),
            node: Mutex::new(Weak::new()),
            leases: Mutex::new(HashMap::new()),
            renewals: tokio::sync::Mutex::new(()),
        }
    }
}

impl AsyncInvoker {
    /// Moves a manual clock forward by `by`, first extending the lease of
    /// every event being handled by as much: a lease is weir's own
    /// bookkeeping, renewed in real time, and an event must not reappear
    /// (and run twice) because a test jumped the platform clock. Heartbeats
    /// wait meanwhile, so none shortens a lease just carried.
    pub async fn advance_clock_carrying_leases(&self, node: &Node, by: Duration) -> bool {
        let _renewals = self.renewals.lock().await;
        let mut by_queue: HashMap<QueueId, Vec<VisibilityChange>> = HashMap::new();
        for (receipt_handle, queue) in self.leases.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            by_queue.entry(*queue).or_default().push(VisibilityChange {
                receipt_handle: receipt_handle.clone(),
                visibility_timeout_ms: (LEASE + by).as_millis() as u64,
            });
        }
        for (queue, changes) in by_queue {
            let _ = node.control.store.change_visibility(queue, changes, node.clock.epoch_ms()).await;
        }
        node.engine.advance_clock(by)
    }

    /// Connects the invoker to its node and restarts dispatchers for every
    /// function with pending events (after a restart or a crash).
    pub async fn start(node: &Arc<Node>) {
        *node.async_invoker.node.lock().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(node);
        let queues = node.control.store.list_queues().await.unwrap_or_default();
        for queue in queues {
            if let Some(function) = queue.name.strip_prefix("__async/") {
                if node.control.registry.get(function).is_some() {
                    node.async_invoker.remember(function, queue.id);
                    node.async_invoker.spawn_dispatcher(function.to_string(), queue.id);
                } else {
                    let _ = node.control.store.delete_queue(queue.id).await;
                }
            }
        }
    }

    fn remember(&self, function: &str, queue: QueueId) {
        self.queues.lock().unwrap_or_else(|p| p.into_inner()).insert(function.to_string(), queue);
    }

    fn spawn_dispatcher(&self, function: String, queue: QueueId) {
        let node = self.node.lock().unwrap_or_else(|p| p.into_inner()).clone();
        tokio::spawn(dispatch_loop(node, function, queue));
    }

    /// The function's async queue, created (with its dispatcher) on first use.
    async fn queue_for(&self, node: &Node, function: &str) -> Result<QueueId, AwsError> {
        if let Some(&queue) = self.queues.lock().unwrap_or_else(|p| p.into_inner()).get(function) {
            return Ok(queue);
        }
        let store = &node.control.store;
        let name = queue_name(function);
        let info = match store.create_queue(&name, QueueKind::Standard, node.clock.epoch_ms()).await {
            Ok(info) => info,
            Err(QueueError::QueueAlreadyExists(_)) => store
                .get_queue(&name)
                .await
                .map_err(|e| AwsError::service(e.to_string()))?
                .ok_or_else(|| AwsError::service("async queue vanished"))?,
            Err(err) => return Err(AwsError::service(format!("creating the async queue: {err}"))),
        };
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if queues.insert(function.to_string(), info.id).is_none() {
            drop(queues);
            self.spawn_dispatcher(function.to_string(), info.id);
        }
        Ok(info.id)
    }

    /// Commits one event for `function`; returns its request id.
    pub async fn enqueue(
        &self,
        node: &Node,
        function: &str,
        qualifier: Option<&str>,
        payload: Bytes,
    ) -> Result<String, AwsError> {
        if node.control.registry.get(function).is_none() {
            return Err(AwsError::not_found(format!("Function not found: {}", node.ctx.function_arn(function))));
        }
        let queue = self.queue_for(node, function).await?;
        let request_id = uuid::Uuid::new_v4().to_string();
        let state = EventState {
            request_id: request_id.clone(),
            qualifier: qualifier.map(str::to_string),
            ..EventState::default()
        };
        let message = NewMessage {
            message_id: request_id.clone(),
            body: payload,
            attributes: Bytes::from(serde_json::to_vec(&state).expect("state serialises")),
            delay_ms: 0,
            group_id: None,
            dedup_id: None,
        };
        node.control
            .store
            .send(queue, vec![message], node.clock.epoch_ms())
            .await
            .map_err(|e| AwsError::service(format!("storing the event: {e}")))?;
        AsyncCounters::bump(&node.metrics.asynchronous(function).events_received);
        Ok(request_id)
    }

    /// Forgets a deleted function's queue (its events are dropped, as on Lambda).
    pub async fn function_deleted(&self, node: &Node, function: &str) {
        let queue = self.queues.lock().unwrap_or_else(|p| p.into_inner()).remove(function);
        if let Some(queue) = queue {
            let _ = node.control.store.delete_queue(queue).await;
        }
    }
}

/// `Invoke` with `InvocationType: Event`: 202 once the event is committed.
pub async fn accept(
    node: &Node,
    entry: &FunctionEntry,
    qualifier: Option<&str>,
    _version: Version,
    body: &Bytes,
) -> ApiResult<Response> {
    if body.len() > MAX_ASYNC_PAYLOAD {
        return Err(ApiError(AwsError::request_too_large(format!(
            "Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeFunction operation"
        ))));
    }
    let payload = validate_payload(body.clone())?;
    let request_id = node.async_invoker.enqueue(node, &entry.record.name, qualifier, payload).await?;
    let mut response = StatusCode::ACCEPTED.into_response();
    response.headers_mut().insert("x-amzn-requestid", HeaderValue::from_str(&request_id).expect("uuid"));
    Ok(response)
}

/// One function's dispatcher: waits until the core would admit an
/// invocation, claims at most that many due events, and starts them; sleeps
/// until the next event is due or a new one arrives. Claiming only what can
/// run keeps throttles (and their backoff) for real races, as Lambda's
/// poller slows its reads when a function is at its limit. Ends when the
/// function's queue is deleted.
async fn dispatch_loop(weak: Weak<Node>, function: String, queue: QueueId) {
    let Some(node) = weak.upgrade() else { return };
    let mut watch = node.control.store.watch(queue);
    drop(node);
    loop {
        let Some(node) = weak.upgrade() else { return };
        let Some(entry) = node.control.registry.get(&function) else { return };
        let engine = node.engine.clone();
        let braked = engine.read(|core| core.reserved_concurrency(entry.id)) == Some(0);
        let headroom = if braked {
            // Reserved concurrency 0: every event fails at once, no need to wait.
            BATCH
        } else {
            match engine.read(|core| core.headroom(entry.id, Version::Latest)) {
                0 => {
                    // At the limit: events wait in the queue, but none may
                    // outlive its maximum age.
                    expire_old_events(&node, &entry, queue).await;
                    let clock = node.clock.clone();
                    drop(node);
                    tokio::select! {
                        _ = engine.wait_for_headroom(entry.id, Version::Latest, Duration::from_secs(1)) => {}
                        _ = clock.sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
                headroom => headroom,
            }
        };
        watch.mark_seen();
        let now = node.clock.epoch_ms();
        let options = ReceiveOptions {
            max_messages: headroom.min(BATCH),
            visibility_timeout_ms: LEASE.as_millis() as u64,
            redrive: None,
        };
        let batch = match node.control.store.receive(queue, now, options).await {
            Ok(batch) => batch,
            Err(QueueError::QueueDoesNotExist(_)) => return,
            Err(err) => {
                tracing::error!(function, error = %err, "async dispatcher cannot read its queue");
                node.clock.sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            let next = node.control.store.next_visible_at(queue).await.ok().flatten();
            let clock = node.clock.clone();
            drop(node);
            tokio::select! {
                alive = watch.changed() => if !alive { return },
                _ = async { match next { Some(at) => clock.sleep_until_epoch_ms(at).await, None => std::future::pending().await } } => {}
            }
            continue;
        }
        let mut events = batch.into_iter();
        while let Some(event) = events.next() {
            if let Paused { wait } = start_event(&node, &entry, queue, event) {
                // Hand the rest back untouched and wait for capacity.
                let release: Vec<VisibilityChange> = events
                    .map(|e| VisibilityChange { receipt_handle: e.receipt_handle, visibility_timeout_ms: 0 })
                    .collect();
                if !release.is_empty() {
                    let _ = node.control.store.change_visibility(queue, release, node.clock.epoch_ms()).await;
                }
                let clock = node.clock.clone();
                let id = entry.id;
                drop(node);
                tokio::select! {
                    _ = engine.capacity_available(id) => {}
                    _ = clock.sleep(wait) => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                break;
            }
        }
    }
}

/// While a function is at its limit, gives up the oldest events that have
/// outlived their maximum age (the queue returns the oldest first).
async fn expire_old_events(node: &Arc<Node>, entry: &Arc<FunctionEntry>, queue: QueueId) {
    let store = &node.control.store;
    loop {
        let now = node.clock.epoch_ms();
        let options =
            ReceiveOptions { max_messages: 1, visibility_timeout_ms: LEASE.as_millis() as u64, redrive: None };
        let Ok(mut batch) = store.receive(queue, now, options).await else { return };
        let Some(event) = batch.pop() else { return };
        let state: EventState = serde_json::from_slice(&event.message.attributes).unwrap_or_default();
        let policy = entry.record.event_invoke_for(state.qualifier.as_deref()).policy();
        let age = Duration::from_millis(now.saturating_sub(event.message.sent_at_ms));
        if !async_retry::too_old(&policy, age) {
            let release = VisibilityChange { receipt_handle: event.receipt_handle, visibility_timeout_ms: 0 };
            let _ = store.change_visibility(queue, vec![release], now).await;
            return;
        }
        let job = EventJob::new(node, entry, queue, event, state);
        job.give_up(FailureCondition::EventAgeExceeded, None).await;
    }
}

enum Started {
    Started,
    Paused { wait: Duration },
}
use Started::Paused;

/// Starts one event (or settles it at once); never waits for the function.
fn start_event(node: &Arc<Node>, entry: &Arc<FunctionEntry>, queue: QueueId, event: ReceivedMessage) -> Started {
    let mut state: EventState = serde_json::from_slice(&event.message.attributes).unwrap_or_default();
    if state.request_id.is_empty() {
        state.request_id = event.message.message_id.clone();
    }
    let settings = entry.record.event_invoke_for(state.qualifier.as_deref());
    let policy = settings.policy();
    let now = node.clock.epoch_ms();
    let age = Duration::from_millis(now.saturating_sub(event.message.sent_at_ms));
    let job = EventJob::new(node, entry, queue, event, state);
    if async_retry::too_old(&policy, age) {
        tokio::spawn(job.give_up(FailureCondition::EventAgeExceeded, None));
        return Started::Started;
    }
    let version = match node.engine.read(|core| core.resolve(entry.id, job.state.qualifier.as_deref())) {
        Some(version) => version,
        None => {
            // The alias or version is gone: the event cannot run anywhere.
            tokio::spawn(job.give_up(FailureCondition::RetriesExhausted, None));
            return Started::Started;
        }
    };
    let invoked_arn = match &job.state.qualifier {
        Some(q) => node.ctx.qualified_arn(&entry.record.name, q),
        None => node.ctx.function_arn(&entry.record.name),
    };
    let request = weir_sandbox::Invocation {
        request_id: job.state.request_id.clone(),
        payload: job.event.message.body.clone(),
        deadline_epoch_ms: 0, // set at dispatch, after any cold start
        invoked_function_arn: invoked_arn,
        client_context: None,
        cognito_identity: None,
        trace_id: None,
    };
    match node.engine.start_invocation(entry.id, version, request) {
        Ok(answer) => {
            node.metrics.asynchronous(&entry.record.name).observe_age(age);
            tokio::spawn(job.finish(version, answer));
            Started::Started
        }
        Err(Rejection::Throttled(throttle)) if throttle.zero_reserved => {
            tokio::spawn(job.give_up(FailureCondition::ZeroReservedConcurrency, None));
            Started::Started
        }
        Err(Rejection::Throttled(throttle)) => {
            tokio::spawn(job.settle(AsyncAttempt::Throttled, None));
            Paused { wait: throttle.retry_after.min(Duration::from_secs(1)) }
        }
        Err(Rejection::HostBusy) => {
            tokio::spawn(job.settle(AsyncAttempt::Throttled, None));
            Paused { wait: Duration::from_secs(1) }
        }
        Err(Rejection::NotFound) => {
            tokio::spawn(job.give_up(FailureCondition::RetriesExhausted, None));
            Started::Started
        }
    }
}

/// The function's answer, kept for destination records.
struct Ran {
    version: Version,
    error: Option<&'static str>,
    payload: Bytes,
    error_message: String,
}

/// Registers an event's lease with the invoker from its receipt until its
/// job is dropped (settled).
struct LeaseHeld {
    node: Arc<Node>,
    receipt_handle: String,
}

impl LeaseHeld {
    fn new(node: &Arc<Node>, receipt_handle: &str, queue: QueueId) -> Self {
        let leases = &node.async_invoker.leases;
        leases.lock().unwrap_or_else(|p| p.into_inner()).insert(receipt_handle.to_owned(), queue);
        LeaseHeld { node: node.clone(), receipt_handle: receipt_handle.to_owned() }
    }
}

impl Drop for LeaseHeld {
    fn drop(&mut self) {
        let leases = &self.node.async_invoker.leases;
        leases.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.receipt_handle);
    }
}

/// The `ErrorMessage` a dead-letter message carries: the function's
/// `errorMessage`, or its whole error payload when it has none.
fn error_message_of(payload: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|error| error.get("errorMessage").and_then(serde_json::Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned())
}

struct EventJob {
    node: Arc<Node>,
    entry: Arc<FunctionEntry>,
    queue: QueueId,
    event: ReceivedMessage,
    state: EventState,
    _lease: LeaseHeld,
}

impl EventJob {
    fn new(
        node: &Arc<Node>,
        entry: &Arc<FunctionEntry>,
        queue: QueueId,
        event: ReceivedMessage,
        state: EventState,
    ) -> Self {
        let lease = LeaseHeld::new(node, &event.receipt_handle, queue);
        EventJob { node: node.clone(), entry: entry.clone(), queue, event, state, _lease: lease }
    }

    async fn finish(self, version: Version, answer: tokio::sync::oneshot::Receiver<Completion>) {
        let completion = self.heartbeat_until(answer).await;
        let (attempt, ran) = match completion {
            Completion::Finished(result) => match result.outcome {
                Outcome::Response(body) => {
                    (AsyncAttempt::Succeeded, Ran { version, error: None, payload: body, error_message: String::new() })
                }
                Outcome::FunctionError { payload, .. } => {
                    let error_message = error_message_of(&payload);
                    (AsyncAttempt::FunctionError, Ran { version, error: Some("Unhandled"), payload, error_message })
                }
                other => {
                    let message = format!("{other:?}");
                    (
                        AsyncAttempt::FunctionError,
                        Ran {
                            version,
                            error: Some("Unhandled"),
                            payload: Bytes::from(serde_json::json!({"errorMessage": message}).to_string()),
                            error_message: message,
                        },
                    )
                }
            },
            Completion::Failed { failure: InvocationFailure::HostWaitExpired, .. } => {
                return self.settle(AsyncAttempt::Throttled, None).await;
            }
            Completion::Failed { failure, .. } => {
                let message = match failure {
                    InvocationFailure::TimedOut { timeout } => {
                        format!("Task timed out after {:.2} seconds", timeout.as_secs_f64())
                    }
                    other => format!("{other:?}"),
                };
                let payload = Bytes::from(serde_json::json!({"errorMessage": message}).to_string());
                (
                    AsyncAttempt::FunctionError,
                    Ran { version, error: Some("Unhandled"), payload, error_message: message },
                )
            }
        };
        self.settle(attempt, Some(ran)).await
    }

    /// Renews the event's lease while its invocation runs, so a live node
    /// keeps it and a crashed node's events reappear within one lease.
    async fn heartbeat_until(&self, answer: tokio::sync::oneshot::Receiver<Completion>) -> Completion {
        tokio::pin!(answer);
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.tick().await;
        loop {
            tokio::select! {
                completion = &mut answer => {
                    return completion.unwrap_or(Completion::Failed { failure: InvocationFailure::EnvironmentLost, init_failure: None });
                }
                _ = beat.tick() => {
                    let change = VisibilityChange { receipt_handle: self.event.receipt_handle.clone(), visibility_timeout_ms: LEASE.as_millis() as u64 };
                    let _renewing = self.node.async_invoker.renewals.lock().await;
                    let _ = self.node.control.store.change_visibility(self.queue, vec![change], self.node.clock.epoch_ms()).await;
                }
            }
        }
    }

    /// Applies the retry rules to an attempt's outcome.
    async fn settle(mut self, attempt: AsyncAttempt, ran: Option<Ran>) {
        let policy = self.entry.record.event_invoke_for(self.state.qualifier.as_deref()).policy();
        let now = self.node.clock.epoch_ms();
        let age = Duration::from_millis(now.saturating_sub(self.event.message.sent_at_ms));
        let mut retry_state = AsyncEventState { invocations: self.state.invocations, throttles: self.state.throttles };
        let decision = async_retry::decide(&policy, &mut retry_state, attempt, age);
        self.state.invocations = retry_state.invocations;
        self.state.throttles = retry_state.throttles;
        match decision {
            AsyncDecision::Done => {
                let settings = self.entry.record.event_invoke_for(self.state.qualifier.as_deref());
                if let Some(arn) = settings.on_success {
                    let record = self.record("Success", ran.as_ref());
                    if let Err(err) = destinations::deliver_record(&self.node, &arn, &record).await {
                        tracing::warn!(function = self.entry.record.name, error = err, "on-success destination failed");
                        AsyncCounters::bump(&self.counters().destination_delivery_failures);
                    }
                }
                self.delete().await;
            }
            AsyncDecision::RetryAfter(wait) => {
                let attributes = Bytes::from(serde_json::to_vec(&self.state).expect("state serialises"));
                let visible_at = now + wait.as_millis() as u64;
                let store = &self.node.control.store;
                if let Err(err) =
                    store.requeue(self.queue, self.event.receipt_handle.clone(), visible_at, Some(attributes)).await
                {
                    tracing::warn!(function = self.entry.record.name, error = %err, "requeueing an async event failed");
                }
            }
            AsyncDecision::Fail(condition) => self.give_up(condition, ran).await,
        }
    }

    fn counters(&self) -> Arc<AsyncCounters> {
        self.node.metrics.asynchronous(&self.entry.record.name)
    }

    fn record(&self, condition: &str, ran: Option<&Ran>) -> serde_json::Value {
        let function_arn =
            self.node.ctx.qualified_arn(&self.entry.record.name, self.state.qualifier.as_deref().unwrap_or("$LATEST"));
        destinations::invocation_record(&RecordInput {
            request_id: &self.state.request_id,
            function_arn,
            condition,
            approximate_invoke_count: self.state.invocations,
            request_payload: &self.event.message.body,
            response: ran.map(|r| (r.version.to_string(), r.error, r.payload.as_ref())),
            timestamp_ms: self.node.clock.epoch_ms(),
        })
    }

    /// Gives an event up: on-failure destination and dead-letter queue, then drop.
    async fn give_up(self, condition: FailureCondition, ran: Option<Ran>) {
        let counters = self.counters();
        let settings = self.entry.record.event_invoke_for(self.state.qualifier.as_deref());
        if let Some(arn) = &settings.on_failure {
            let record = self.record(condition.as_str(), ran.as_ref());
            if let Err(err) = destinations::deliver_record(&self.node, arn, &record).await {
                tracing::warn!(function = self.entry.record.name, error = err, "on-failure destination failed");
                AsyncCounters::bump(&counters.destination_delivery_failures);
            }
        }
        // The version that ran, or the one the event was for.
        let version = ran.as_ref().map(|r| r.version).unwrap_or_else(|| {
            self.node.control.resolve(&self.entry, self.state.qualifier.as_deref()).unwrap_or(Version::Latest)
        });
        let dead_letter = self.entry.record.config(version).and_then(|c| c.dead_letter_target_arn.clone());
        if let Some(arn) = dead_letter {
            let message = ran.as_ref().map_or_else(|| condition.as_str().to_string(), |r| r.error_message.clone());
            if let Err(err) = destinations::deliver_dead_letter(
                &self.node,
                &arn,
                &self.event.message.body,
                &self.state.request_id,
                200,
                &message,
            )
            .await
            {
                tracing::warn!(function = self.entry.record.name, error = err, "dead-letter queue delivery failed");
                AsyncCounters::bump(&counters.dead_letter_errors);
            }
        }
        AsyncCounters::bump(&counters.events_dropped);
        self.delete().await;
    }

    async fn delete(&self) {
        let _ = self.node.control.store.delete(self.queue, vec![self.event.receipt_handle.clone()]).await;
    }
}
