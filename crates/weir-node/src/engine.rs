//! The engine: owns the core and executes its effects.
//!
//! Every input goes through one short critical section: take the lock, call
//! the core's `handle_*` with the clock's `now`, drain every effect into
//! [`Action`]s, release the lock, then perform the actions (start a process,
//! send an invocation, stop an environment, answer a caller). Nothing async
//! ever runs under the lock, and no Lambda rule lives here: admission,
//! timeouts, reaping and scaling are the core's decisions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use weir_core::{
    Admission, ConfigChange, ConfigError, ConfigOutcome, Controller, Effect, EnvEvent, EnvId, FunctionId, Instant,
    InvocationFailure, InvocationId, InvocationOutcome, InvokeRequest, StopReason, Version,
};
use weir_sandbox::{Environment, InitFailure, InvocationResult, KillReason, Outcome, Sandbox, SpawnError};

use crate::clock::Clock;
use crate::config::ClockMode;

/// How an admitted invocation ended.
#[derive(Debug)]
pub enum Completion {
    /// The function answered (a response or a function error).
    Finished(InvocationResult),
    /// The core ended it without a function answer.
    Failed { failure: InvocationFailure, init_failure: Option<InitFailure> },
}

/// Why an invocation was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    Throttled(weir_core::Throttle),
    HostBusy,
    NotFound,
}

/// The environment settings the engine needs to start a process.
pub trait SpecSource: Send + Sync {
    fn env_spec(
        &self,
        env: EnvId,
        function: FunctionId,
        version: Version,
        init_type: weir_core::InitType,
    ) -> Option<weir_sandbox::EnvSpec>;
}

struct Pending {
    request: Option<weir_sandbox::Invocation>,
    reply: oneshot::Sender<Completion>,
}

#[derive(Default)]
struct EnvSlot {
    env: Option<Arc<Environment>>,
    stop: Option<StopReason>,
    init_failure: Option<InitFailure>,
    timeout: Duration,
}

struct State {
    core: Controller,
    pending: HashMap<InvocationId, Pending>,
    envs: HashMap<EnvId, EnvSlot>,
    capacity: HashMap<FunctionId, Arc<Notify>>,
    armed: Option<Instant>,
}

/// Work to do after the lock is released.
enum Action {
    Spawn { env: EnvId, spec: weir_sandbox::EnvSpec },
    Run { env_id: EnvId, env: Arc<Environment>, invocation: InvocationId, request: weir_sandbox::Invocation },
    Stop { env: Arc<Environment>, reason: StopReason, timeout: Duration },
    Reply { reply: oneshot::Sender<Completion>, completion: Completion },
    Wake(Arc<Notify>),
}

pub struct Engine {
    state: Mutex<State>,
    /// Wakes the timer task when an earlier deadline is armed.
    timer: Arc<Notify>,
    clock: Arc<Clock>,
    sandbox: Sandbox,
    specs: Arc<dyn SpecSource>,
    me: Weak<Engine>,
    /// Duration, init and memory of each finished invocation (telemetry).
    pub observations: crate::telemetry::observations::Observations,
}

impl Engine {
    pub fn new(core: Controller, clock: Arc<Clock>, sandbox: Sandbox, specs: Arc<dyn SpecSource>) -> Arc<Engine> {
        let engine = Arc::new_cyclic(|me| Engine {
            state: Mutex::new(State {
                core,
                pending: HashMap::new(),
                envs: HashMap::new(),
                capacity: HashMap::new(),
                armed: None,
            }),
            timer: Arc::new(Notify::new()),
            clock,
            sandbox,
            specs,
            me: me.clone(),
            observations: Default::default(),
        });
        tokio::spawn(run_timers(Arc::downgrade(&engine), engine.timer.clone()));
        engine
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the core under the lock, then performs what it decided.
    fn with_core<R>(&self, f: impl FnOnce(&mut Controller, Instant) -> R) -> R {
        let mut actions = Vec::new();
        let result = {
            let mut state = self.lock();
            let now = self.clock.now();
            let result = f(&mut state.core, now);
            self.drain(&mut state, &mut actions);
            result
        };
        self.perform(actions);
        result
    }

    /// Reads the core without changing it.
    pub fn read<R>(&self, f: impl FnOnce(&Controller) -> R) -> R {
        f(&self.lock().core)
    }

    /// Like [`Engine::read`], for the metrics sampler's calls that start a
    /// new window (`take_concurrency_peak`): they change no state a rule
    /// reads and produce no effects, so nothing is drained after them.
    pub fn sample<R>(&self, f: impl FnOnce(&mut Controller) -> R) -> R {
        f(&mut self.lock().core)
    }

    pub fn apply_config(&self, change: ConfigChange) -> Result<ConfigOutcome, ConfigError> {
        self.with_core(|core, now| core.handle_config(now, change))
    }

    /// Admits and runs one invocation; resolves when it ends.
    pub async fn invoke(
        &self,
        function: FunctionId,
        version: Version,
        request: weir_sandbox::Invocation,
    ) -> Result<Completion, Rejection> {
        let answer = self.start_invocation(function, version, request)?;
        Ok(answer
            .await
            .unwrap_or(Completion::Failed { failure: InvocationFailure::EnvironmentLost, init_failure: None }))
    }

    /// Admits one invocation now (or refuses it) and returns where its
    /// completion will arrive. Callers that must know at once whether an
    /// invocation was admitted (the asynchronous dispatcher) use this.
    pub fn start_invocation(
        &self,
        function: FunctionId,
        version: Version,
        request: weir_sandbox::Invocation,
    ) -> Result<oneshot::Receiver<Completion>, Rejection> {
        let (reply, answer) = oneshot::channel();
        let mut actions = Vec::new();
        let admission = {
            let mut state = self.lock();
            let now = self.clock.now();
            let admission = state.core.handle_invoke(now, InvokeRequest { function, version });
            if let Admission::Admitted(id) = admission {
                state.pending.insert(id, Pending { request: Some(request), reply });
            }
            self.drain(&mut state, &mut actions);
            admission
        };
        self.perform(actions);
        match admission {
            Admission::Admitted(_) => Ok(answer),
            Admission::Throttled(throttle) => Err(Rejection::Throttled(throttle)),
            Admission::HostBusy => Err(Rejection::HostBusy),
            Admission::NotFound => Err(Rejection::NotFound),
        }
    }

    /// Resolves the next time concurrency `function` could use frees up.
    pub async fn capacity_available(&self, function: FunctionId) {
        let notify = {
            let mut state = self.lock();
            state.core.watch_capacity(function);
            state.capacity.entry(function).or_insert_with(|| Arc::new(Notify::new())).clone()
        };
        notify.notified().await;
    }

    /// Waits until the core would admit at least one invocation of
    /// `function` at `version` and returns how many (see
    /// [`Controller::headroom`]). The check and the registration for a
    /// wake-up happen under one lock, so no freed slot goes unnoticed;
    /// `recheck` bounds the wait for limits the headroom does not see.
    pub async fn wait_for_headroom(&self, function: FunctionId, version: Version, recheck: Duration) -> u32 {
        loop {
            let notify = {
                let mut state = self.lock();
                let headroom = state.core.headroom(function, version);
                if headroom > 0 {
                    return headroom;
                }
                state.core.watch_capacity(function);
                state.capacity.entry(function).or_insert_with(|| Arc::new(Notify::new())).clone()
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // A wake-up between releasing the lock and enabling is caught by
            // re-reading the headroom right away.
            if self.read(|core| core.headroom(function, version)) > 0 {
                continue;
            }
            let _ = tokio::time::timeout(recheck, notified).await;
        }
    }

    /// Fires every deadline due now (the timer task and the manual clock call it).
    pub fn tick(&self) {
        self.with_core(|core, now| core.handle_timeout(now));
    }

    /// Moves a manual clock forward and fires what became due.
    pub fn advance_clock(&self, by: Duration) -> bool {
        if !self.clock.advance(by) {
            return false;
        }
        self.tick();
        true
    }

    fn env_event(&self, env: EnvId, event: EnvEvent) {
        self.with_core(|core, now| core.handle_env_event(now, env, event));
    }

    /// Turns effects into actions. Runs under the lock; never blocks.
    fn drain(&self, state: &mut State, actions: &mut Vec<Action>) {
        while let Some(effect) = state.core.poll_effect() {
            match effect {
                Effect::SpawnEnv { env, function, version, init_type } => {
                    match self.specs.env_spec(env, function, version, init_type) {
                        Some(spec) => {
                            state.envs.insert(env, EnvSlot { timeout: spec.timeout, ..EnvSlot::default() });
                            actions.push(Action::Spawn { env, spec });
                        }
                        None => {
                            // The function vanished between decision and start.
                            state.envs.insert(env, EnvSlot::default());
                            let now = self.clock.now();
                            state.core.handle_env_event(now, env, EnvEvent::InitFailed);
                            state.core.handle_env_event(now, env, EnvEvent::Exited);
                            state.envs.remove(&env);
                        }
                    }
                }
                Effect::Dispatch { invocation, env: env_id, deadline, .. } => {
                    let env = state.envs.get(&env_id).and_then(|slot| slot.env.clone());
                    let request = state.pending.get_mut(&invocation).and_then(|p| p.request.take());
                    match (env, request) {
                        (Some(env), Some(mut request)) => {
                            // The runtime's deadline (`Lambda-Runtime-Deadline-Ms`,
                            // wall time) is the core's: the function's time starts
                            // at dispatch, after any cold start.
                            let left = deadline.saturating_since(self.clock.now());
                            request.deadline_epoch_ms = crate::clock::wall_epoch_ms() + left.as_millis() as u64;
                            actions.push(Action::Run { env_id, env, invocation, request })
                        }
                        _ => {
                            tracing::error!(?invocation, %env_id, "dispatch without environment or request");
                            let now = self.clock.now();
                            state.core.handle_env_event(
                                now,
                                env_id,
                                EnvEvent::InvocationFinished {
                                    invocation,
                                    outcome: InvocationOutcome::FunctionError,
                                    reusable: false,
                                },
                            );
                        }
                    }
                }
                Effect::StopEnv { env, reason } => {
                    if let Some(slot) = state.envs.get_mut(&env) {
                        slot.stop = Some(reason);
                        if let Some(environment) = slot.env.clone() {
                            actions.push(Action::Stop { env: environment, reason, timeout: slot.timeout });
                        }
                    }
                }
                Effect::InvocationFailed { invocation, failure, env } => {
                    if let Some(pending) = state.pending.remove(&invocation) {
                        let init_failure =
                            env.and_then(|e| state.envs.get(&e)).and_then(|slot| slot.init_failure.clone());
                        actions.push(Action::Reply {
                            reply: pending.reply,
                            completion: Completion::Failed { failure, init_failure },
                        });
                    }
                }
                Effect::CapacityAvailable { function } => {
                    if let Some(notify) = state.capacity.get(&function) {
                        actions.push(Action::Wake(notify.clone()));
                    }
                }
            }
        }
        let next = state.core.poll_timeout();
        if next != state.armed {
            let earlier = match (next, state.armed) {
                (Some(n), Some(a)) => n < a,
                (Some(_), None) => true,
                _ => false,
            };
            state.armed = next;
            if earlier {
                self.timer.notify_one();
            }
        }
    }

    fn perform(&self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Spawn { env, spec } => {
                    let engine = self.me.upgrade().expect("engine alive while it acts");
                    tokio::spawn(async move { engine.run_environment(env, spec).await });
                }
                Action::Run { env_id, env, invocation, request } => {
                    let engine = self.me.upgrade().expect("engine alive while it acts");
                    tokio::spawn(async move {
                        let result = env.invoke(request).await;
                        engine.invocation_done(env_id, invocation, result);
                    });
                }
                Action::Stop { env, reason, timeout } => stop(env, reason, timeout),
                Action::Reply { reply, completion } => {
                    let _ = reply.send(completion);
                }
                Action::Wake(notify) => notify.notify_waiters(),
            }
        }
    }

    fn invocation_done(&self, env: EnvId, invocation: InvocationId, result: InvocationResult) {
        let (outcome, reusable) = match &result.outcome {
            Outcome::Response(_) => (InvocationOutcome::Success, true),
            Outcome::FunctionError { .. } | Outcome::ResponseTooLarge { .. } => {
                (InvocationOutcome::FunctionError, true)
            }
            Outcome::EnvironmentDied(_) | Outcome::OutOfMemory | Outcome::Killed(_) => {
                (InvocationOutcome::FunctionError, false)
            }
        };
        let report = (result.report.duration, result.report.max_memory_used_mb, result.report.init_duration);
        let mut actions = Vec::new();
        let target = {
            let mut state = self.lock();
            let now = self.clock.now();
            let target = state.core.env_target(env);
            state.core.handle_env_event(now, env, EnvEvent::InvocationFinished { invocation, outcome, reusable });
            if let Some(pending) = state.pending.remove(&invocation) {
                actions.push(Action::Reply { reply: pending.reply, completion: Completion::Finished(result) });
            }
            self.drain(&mut state, &mut actions);
            target
        };
        // Recorded before the caller is answered, so a scrape after the answer sees it.
        if let Some((function, _)) = target {
            self.observations.record(function, report.0, report.1, report.2);
        }
        self.perform(actions);
    }

    /// Starts one environment's process and reports its life to the core.
    async fn run_environment(self: Arc<Self>, env_id: EnvId, spec: weir_sandbox::EnvSpec) {
        let environment = match self.sandbox.spawn(spec).await {
            Ok(environment) => Arc::new(environment),
            Err(err) => {
                let failure = spawn_failure(&err);
                tracing::warn!(%env_id, error = %err, "environment could not start");
                self.record_init_failure(env_id, failure);
                self.env_event(env_id, EnvEvent::InitFailed);
                self.env_exited(env_id);
                return;
            }
        };
        let stop_requested = {
            let mut state = self.lock();
            state.envs.get_mut(&env_id).and_then(|slot| {
                slot.env = Some(environment.clone());
                slot.stop.map(|reason| (reason, slot.timeout))
            })
        };
        if let Some((reason, timeout)) = stop_requested {
            stop(environment.clone(), reason, timeout);
        } else {
            match environment.wait_ready().await {
                Ok(_) => self.env_event(env_id, EnvEvent::Ready),
                Err(failure) => {
                    self.record_init_failure(env_id, failure);
                    self.env_event(env_id, EnvEvent::InitFailed);
                    environment.kill(KillReason::Stopped);
                }
            }
        }
        environment.exited().await;
        self.env_exited(env_id);
    }

    fn record_init_failure(&self, env: EnvId, failure: InitFailure) {
        if let Some(slot) = self.lock().envs.get_mut(&env) {
            slot.init_failure = Some(failure);
        }
    }

    fn env_exited(&self, env: EnvId) {
        let mut actions = Vec::new();
        {
            let mut state = self.lock();
            let now = self.clock.now();
            state.core.handle_env_event(now, env, EnvEvent::Exited);
            self.drain(&mut state, &mut actions);
            state.envs.remove(&env);
        }
        self.perform(actions);
    }

    /// Stops every environment and waits until they are gone (shutdown).
    pub async fn stop_all(&self) {
        let environments: Vec<Arc<Environment>> =
            self.lock().envs.values().filter_map(|slot| slot.env.clone()).collect();
        let stops = environments.into_iter().map(|env| async move { env.shutdown().await });
        futures_join_all(stops).await;
    }

    pub fn clock_mode(&self) -> ClockMode {
        self.clock.mode()
    }
}

fn spawn_failure(err: &SpawnError) -> InitFailure {
    let error_type = match err {
        SpawnError::UnsupportedRuntime(_) => "Runtime.InvalidRuntime",
        SpawnError::InvalidEntrypoint(_) => "Runtime.InvalidEntrypoint",
        SpawnError::Io(_) => "Runtime.Unknown",
    };
    InitFailure::InitError { error_type: error_type.into(), message: err.to_string(), stack_trace: Vec::new() }
}

fn stop(env: Arc<Environment>, reason: StopReason, timeout: Duration) {
    match reason {
        StopReason::InvocationTimedOut => env.kill(KillReason::Timeout { after: timeout }),
        StopReason::InitTimedOut | StopReason::Failed => env.kill(KillReason::Stopped),
        _ => {
            tokio::spawn(async move { env.shutdown().await });
        }
    }
}

async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(futures: impl Iterator<Item = F>) {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    for handle in handles {
        let _ = handle.await;
    }
}

/// Sleeps until the core's next deadline and fires it; wakes early when an
/// earlier deadline is armed. A manual clock fires deadlines when advanced.
/// Ends when the engine is dropped.
async fn run_timers(engine: Weak<Engine>, timer: Arc<Notify>) {
    loop {
        let sleep_for = {
            let Some(engine) = engine.upgrade() else { return };
            let deadline = engine.lock().armed;
            match deadline {
                Some(at) if engine.clock.mode() == ClockMode::Wall => Some(engine.clock.until(at)),
                _ => None,
            }
        };
        let wakeup = timer.notified();
        match sleep_for {
            Some(duration) => {
                tokio::select! {
                    _ = tokio::time::sleep(duration) => {
                        let Some(engine) = engine.upgrade() else { return };
                        engine.tick();
                    }
                    _ = wakeup => {}
                }
            }
            None => wakeup.await,
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.timer.notify_one();
    }
}
