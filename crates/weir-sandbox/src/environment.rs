//! One execution environment: its state machine (initialising → ready → exited), the
//! invocation slots shared by [`Environment::invoke`] and the Runtime API handlers, kill and
//! graceful shutdown, and the supervisor task that notices the process ending and cleans up
//! (process group, listener, TMPDIR, cgroup, watchdog registration).
//! Never: decides when to invoke, kill or stop (the caller does), or enforces timeouts.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;

use crate::SandboxInner;
use crate::lock;
use crate::logs::{LogPump, format_rfc3339_ms};
use crate::memory::{EnvCgroup, MemoryTracker};
use crate::process::{ChildProcess, signal_group};
use crate::types::{ExitInfo, InitFailure, Invocation, InvocationResult, KillReason, Outcome, Report};

/// How long to wait, after the process exited, for its output pipe to reach end of file
/// (a grandchild that escaped the process group could hold it open forever).
const EXIT_LOG_DRAIN_TIMEOUT: Duration = Duration::from_millis(250);

/// Readiness as seen by [`Environment::wait_ready`].
#[derive(Clone, Debug)]
pub(crate) enum Readiness {
    Initializing,
    Ready(Duration),
    Failed(InitFailure),
}

/// An invocation handed to the environment and not yet finished.
struct Slot {
    request_id: String,
    /// The runtime received it through `/next`.
    fetched: bool,
    done: oneshot::Sender<Outcome>,
}

pub(crate) struct EnvState {
    readiness: Readiness,
    /// Init duration not yet reported in a REPORT line.
    init_duration_unreported: Option<Duration>,
    /// Invocations the runtime may hold at once (Lambda: 1; `AWS_LAMBDA_MAX_CONCURRENCY` on
    /// Managed Instances).
    max_concurrency: usize,
    slots: Vec<Slot>,
    /// Invocations not yet fetched, oldest first.
    queued: VecDeque<Invocation>,
    /// `/next` requests waiting for an invocation.
    parked_next: VecDeque<oneshot::Sender<Invocation>>,
    kill_reason: Option<KillReason>,
    exit: Option<ExitInfo>,
}

/// What a Runtime API handler gets back from the state machine.
pub(crate) enum NextDecision {
    Deliver(Invocation),
    Wait(oneshot::Receiver<Invocation>),
    InvalidState(&'static str),
}

pub(crate) enum CompleteError {
    UnknownRequest,
    NotFetched,
}

pub(crate) enum InitErrorDecision {
    Accepted,
    InvalidState,
}

/// State shared by the handle, the Runtime API handlers and the supervisor.
pub(crate) struct EnvShared {
    pub(crate) env_id: u64,
    pub(crate) function_version: Box<str>,
    /// On-demand environments report their init on the first invocation's
    /// REPORT line; provisioned ones initialised before any traffic and do
    /// not (as on Lambda).
    reports_init: bool,
    pub(crate) memory_size_mb: u32,
    pub(crate) pid: u32,
    pub(crate) pgid: i32,
    spawned_at: Instant,
    state: Mutex<EnvState>,
    pub(crate) log: Arc<LogPump>,
    pub(crate) memory: Arc<MemoryTracker>,
    readiness: watch::Sender<Readiness>,
    exited: watch::Sender<Option<ExitInfo>>,
}

impl EnvShared {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        env_id: u64,
        function_version: &str,
        reports_init: bool,
        memory_size_mb: u32,
        pid: u32,
        spawned_at: Instant,
        log: Arc<LogPump>,
        memory: Arc<MemoryTracker>,
    ) -> EnvShared {
        EnvShared {
            env_id,
            function_version: function_version.into(),
            reports_init,
            memory_size_mb,
            pid,
            pgid: pid as i32,
            spawned_at,
            state: Mutex::new(EnvState {
                readiness: Readiness::Initializing,
                init_duration_unreported: None,
                max_concurrency: 1,
                slots: Vec::with_capacity(1),
                queued: VecDeque::new(),
                parked_next: VecDeque::new(),
                kill_reason: None,
                exit: None,
            }),
            log,
            memory,
            readiness: watch::channel(Readiness::Initializing).0,
            exited: watch::channel(None).0,
        }
    }

    /// `GET /next`: the first call ends init; then deliver a queued invocation or park.
    pub(crate) fn next(&self) -> NextDecision {
        let mut state = lock(&self.state);
        match state.readiness {
            Readiness::Initializing => {
                let init = self.spawned_at.elapsed();
                state.readiness = Readiness::Ready(init);
                if self.reports_init {
                    state.init_duration_unreported = Some(init);
                }
                self.readiness.send_replace(Readiness::Ready(init));
                self.memory.sample_leader();
            }
            Readiness::Ready(_) => {}
            Readiness::Failed(_) => return NextDecision::InvalidState("init failed"),
        }
        if state.exit.is_some() || state.kill_reason.is_some() {
            return NextDecision::InvalidState("environment is stopping");
        }
        if let Some(invocation) = state.queued.pop_front() {
            mark_fetched(&mut state.slots, &invocation.request_id);
            return NextDecision::Deliver(invocation);
        }
        // A `/next` whose connection went away no longer counts.
        state.parked_next.retain(|waiter| !waiter.is_closed());
        let fetched = state.slots.iter().filter(|s| s.fetched).count();
        if fetched + state.parked_next.len() >= state.max_concurrency {
            return NextDecision::InvalidState("next requested while an invocation is in progress");
        }
        let (tx, rx) = oneshot::channel();
        state.parked_next.push_back(tx);
        NextDecision::Wait(rx)
    }

    /// `/response` or `/error` for `request_id`.
    pub(crate) fn complete(&self, request_id: &str, outcome: Outcome) -> Result<(), CompleteError> {
        let slot = {
            let mut state = lock(&self.state);
            let index =
                state.slots.iter().position(|s| s.request_id == request_id).ok_or(CompleteError::UnknownRequest)?;
            if !state.slots[index].fetched {
                return Err(CompleteError::NotFetched);
            }
            state.slots.swap_remove(index)
        };
        let _ = slot.done.send(outcome);
        Ok(())
    }

    /// `/init/error`.
    pub(crate) fn init_error(
        &self,
        error_type: String,
        message: String,
        stack_trace: Vec<String>,
    ) -> InitErrorDecision {
        // What the runtime printed before reporting (its traceback) is
        // logged before anyone hears of the failure.
        self.log.drain_pending();
        let mut state = lock(&self.state);
        if !matches!(state.readiness, Readiness::Initializing) {
            return InitErrorDecision::InvalidState;
        }
        let failure = Readiness::Failed(InitFailure::InitError { error_type, message, stack_trace });
        state.readiness = failure.clone();
        self.readiness.send_replace(failure);
        InitErrorDecision::Accepted
    }

    /// Hands an invocation to the runtime (or queues it until its next `/next`). Returns the
    /// outcome right away when the environment can no longer run it.
    fn dispatch(&self, invocation: Invocation, done: oneshot::Sender<Outcome>) -> Option<Outcome> {
        let mut state = lock(&self.state);
        if let Some(reason) = state.kill_reason {
            return Some(Outcome::Killed(reason));
        }
        if let Some(exit) = &state.exit {
            return Some(if exit.oom { Outcome::OutOfMemory } else { Outcome::EnvironmentDied(exit.clone()) });
        }
        state.slots.push(Slot { request_id: invocation.request_id.clone(), fetched: false, done });
        let mut invocation = invocation;
        while let Some(waiter) = state.parked_next.pop_front() {
            match waiter.send(invocation) {
                Ok(()) => {
                    // The slot just pushed is the delivered one.
                    if let Some(slot) = state.slots.last_mut() {
                        slot.fetched = true;
                    }
                    return None;
                }
                // That `/next` connection went away; try the next waiter.
                Err(returned) => invocation = returned,
            }
        }
        state.queued.push_back(invocation);
        None
    }

    /// Records the kill reason (first one wins) and fails every pending invocation with it.
    fn kill(&self, reason: KillReason, signal: Signal) {
        let slots = {
            let mut state = lock(&self.state);
            if state.exit.is_some() {
                return;
            }
            let reason = *state.kill_reason.get_or_insert(reason);
            state.queued.clear();
            state.parked_next.clear();
            std::mem::take(&mut state.slots).into_iter().map(move |slot| (slot, reason)).collect::<Vec<_>>()
        };
        signal_group(self.pgid, signal);
        for (slot, reason) in slots {
            let _ = slot.done.send(Outcome::Killed(reason));
        }
    }

    fn mark_stopping(&self) -> bool {
        let mut state = lock(&self.state);
        if state.exit.is_some() {
            return false;
        }
        state.kill_reason.get_or_insert(KillReason::Stopped);
        true
    }

    /// The process is gone: fail what is pending and publish the exit.
    fn on_exit(&self, info: &ExitInfo) {
        let (slots, outcome) = {
            let mut state = lock(&self.state);
            state.exit = Some(info.clone());
            state.queued.clear();
            state.parked_next.clear();
            if matches!(state.readiness, Readiness::Initializing) {
                let failed = Readiness::Failed(InitFailure::Exited(info.clone()));
                state.readiness = failed.clone();
                self.readiness.send_replace(failed);
            }
            let outcome = match (state.kill_reason, info.oom) {
                (_, true) => Outcome::OutOfMemory,
                (Some(reason), false) => Outcome::Killed(reason),
                (None, false) => Outcome::EnvironmentDied(info.clone()),
            };
            (std::mem::take(&mut state.slots), outcome)
        };
        for slot in slots {
            let _ = slot.done.send(outcome.clone());
        }
    }

    fn take_init_duration(&self) -> Option<Duration> {
        lock(&self.state).init_duration_unreported.take()
    }
}

fn mark_fetched(slots: &mut [Slot], request_id: &str) {
    if let Some(slot) = slots.iter_mut().find(|s| s.request_id == request_id) {
        slot.fetched = true;
    }
}

/// A running execution environment. Dropping the handle kills the environment's process
/// group (nothing outlives its handle); call [`Environment::shutdown`] for a graceful stop.
pub struct Environment {
    pub(crate) shared: Arc<EnvShared>,
    pub(crate) runtime_api_addr: std::net::SocketAddr,
    pub(crate) sandbox: Arc<SandboxInner>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("env_id", &self.shared.env_id)
            .field("pid", &self.shared.pid)
            .field("runtime_api", &self.runtime_api_addr)
            .finish()
    }
}

impl Environment {
    /// The environment's id (from its [`crate::EnvSpec`]).
    pub fn env_id(&self) -> u64 {
        self.shared.env_id
    }

    /// Process id of the runtime process (also its process group id).
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// Address of this environment's own Runtime API listener (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api_addr(&self) -> std::net::SocketAddr {
        self.runtime_api_addr
    }

    /// Resolves when the runtime first asks for an invocation (`GET /next`), with the init
    /// duration (spawn to first `/next`), or with why init failed.
    pub async fn wait_ready(&self) -> Result<Duration, InitFailure> {
        let mut readiness = self.shared.readiness.subscribe();
        // Clone out of the watch guard: it must not be held across an await
        // (it is not Send, and callers spawn this future).
        let result = readiness.wait_for(|r| !matches!(r, Readiness::Initializing)).await.map(|r| r.clone());
        match result {
            Ok(Readiness::Ready(init)) => Ok(init),
            Ok(Readiness::Failed(failure)) => Err(failure),
            Ok(Readiness::Initializing) | Err(_) => Err(InitFailure::Exited(self.exited().await)),
        }
    }

    /// Runs one invocation and returns its outcome, log tail and REPORT figures.
    ///
    /// Call it once at a time per environment (Lambda semantics). Dropping the future does not
    /// stop the function: kill the environment for that.
    pub async fn invoke(&self, invocation: Invocation) -> InvocationResult {
        let shared = &self.shared;
        let started = Instant::now();
        let request_id = invocation.request_id.clone();
        shared.log.start_invocation(&request_id, &shared.function_version);
        let (done, result) = oneshot::channel();
        let outcome = match shared.dispatch(invocation, done) {
            Some(outcome) => outcome,
            None => match result.await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::EnvironmentDied(self.exited().await),
            },
        };
        let duration = started.elapsed();
        // One more sample now: memory the function took since the watchdog's
        // last tick must show in this invocation's REPORT (Max Memory Used).
        shared.memory.sample_leader();
        let report = Report {
            duration,
            billed_duration_ms: billed_ms(duration),
            memory_size_mb: shared.memory_size_mb,
            max_memory_used_mb: shared.memory.peak_mb(),
            init_duration: shared.take_init_duration(),
        };
        let extra_lines = outcome_log_lines(&request_id, &outcome);
        let log_tail = shared.log.finish_invocation(&request_id, &report, &extra_lines);
        InvocationResult { outcome, log_tail, report }
    }

    /// Immediately SIGKILLs the process group. A pending invocation resolves with
    /// [`Outcome::Killed`]; later invocations too.
    pub fn kill(&self, reason: KillReason) {
        self.shared.kill(reason, Signal::SIGKILL);
    }

    /// Graceful stop: SIGTERM to the process group, then SIGKILL after the sandbox's shutdown
    /// grace. Returns once the process is gone and cleaned up.
    pub async fn shutdown(&self) {
        if self.shared.mark_stopping() {
            signal_group(self.shared.pgid, Signal::SIGTERM);
            let grace = self.sandbox.config.shutdown_grace;
            if tokio::time::timeout(grace, self.exited()).await.is_err() {
                signal_group(self.shared.pgid, Signal::SIGKILL);
            }
        }
        self.exited().await;
    }

    /// Resolves when the process is gone and the environment's resources are released.
    pub async fn exited(&self) -> ExitInfo {
        let mut exited = self.shared.exited.subscribe();
        let info = exited.wait_for(Option::is_some).await;
        match info.as_deref() {
            Ok(Some(info)) => info.clone(),
            _ => ExitInfo::default(),
        }
    }

    /// The exit information if the process is already gone.
    pub fn try_exited(&self) -> Option<ExitInfo> {
        self.shared.exited.borrow().clone()
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        self.shared.kill(KillReason::Stopped, Signal::SIGKILL);
    }
}

fn billed_ms(duration: Duration) -> u64 {
    (duration.as_nanos().div_ceil(1_000_000) as u64).max(1)
}

/// Lines Lambda writes before END for invocations that did not end normally.
fn outcome_log_lines(request_id: &str, outcome: &Outcome) -> Vec<String> {
    let now = || format_rfc3339_ms(crate::logs::epoch_ms_now());
    match outcome {
        // The hot path: no allocation.
        Outcome::Response(_) | Outcome::FunctionError { .. } => Vec::new(),
        Outcome::Killed(KillReason::Timeout { after }) => {
            vec![format!("{} {request_id} Task timed out after {:.2} seconds", now(), after.as_secs_f64())]
        }
        Outcome::Killed(_) => Vec::new(),
        Outcome::ResponseTooLarge { size } => vec![format!(
            "{} {request_id} Response payload size ({size} bytes) exceeded maximum allowed payload size ({} bytes).",
            now(),
            crate::MAX_RESPONSE_BYTES
        )],
        Outcome::OutOfMemory => vec![format!(
            "RequestId: {request_id} Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory"
        )],
        Outcome::EnvironmentDied(exit) => {
            vec![format!("RequestId: {request_id} Error: Runtime exited with error: {exit}\nRuntime.ExitError")]
        }
    }
}

/// Everything the supervisor needs to clean up after the process.
pub(crate) struct Supervised {
    pub(crate) child: ChildProcess,
    pub(crate) listener_task: AbortHandle,
    pub(crate) log_task: tokio::task::JoinHandle<()>,
    pub(crate) tmp_dir: PathBuf,
    pub(crate) cgroup: Option<EnvCgroup>,
}

/// Waits for the process to end, then cleans up and publishes the exit.
pub(crate) async fn supervise(shared: Arc<EnvShared>, sandbox: Arc<SandboxInner>, mut supervised: Supervised) {
    let status = supervised.child.wait().await;
    // Orphans left in the group die with the runtime, as the whole environment does on Lambda.
    signal_group(shared.pgid, Signal::SIGKILL);
    let log_done = tokio::time::timeout(EXIT_LOG_DRAIN_TIMEOUT, shared.log.wait_eof()).await;
    if log_done.is_err() {
        supervised.log_task.abort();
    }
    let (code, signal) = match &status {
        Ok(status) => (status.code, status.signal),
        Err(_) => (None, None),
    };
    let mut oom = shared.memory.oom_killed();
    if let Some(cgroup) = &supervised.cgroup {
        oom |= cgroup.oom_killed();
        if let Some(peak) = cgroup.peak_bytes() {
            shared.memory.observe(peak);
        }
    }
    let kill_reason = lock(&shared.state).kill_reason;
    let info = ExitInfo { code, signal, oom, kill_reason, max_memory_used_mb: shared.memory.peak_mb() };
    tracing::debug!(env_id = shared.env_id, exit = %info, oom, "environment exited");
    shared.on_exit(&info);
    supervised.listener_task.abort();
    sandbox.watchdog.deregister(shared.pgid);
    let tmp_dir = std::mem::take(&mut supervised.tmp_dir);
    let cgroup = supervised.cgroup.take();
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(cgroup) = cgroup {
            cgroup.remove();
        }
        let _ = std::fs::remove_dir_all(&tmp_dir);
    })
    .await;
    shared.exited.send_replace(Some(info));
}
