//! Lifecycles: environments (initialising → ready ⇄ busy → shutting down →
//! gone) and invocations (waiting for host → cold-starting → running →
//! finished or failed), plus everything their deadlines trigger.

use std::time::Duration;

use super::Controller;
use crate::api::{Effect, EnvEvent, InitType, InvocationFailure, InvocationOutcome, StopReason};
use crate::ids::{EnvId, FunctionId, InvocationId};
use crate::model::{Env, EnvPlace, EnvState, Invocation, InvocationState};
use crate::slab::Slab;
use crate::time::Instant;
use crate::timers::Timer;

/// Whether a timer still applies to the state it was set for.
pub(super) fn timer_applies(envs: &Slab<Env>, invocations: &Slab<Invocation>, timer: &Timer) -> bool {
    match *timer {
        Timer::InvocationTimeout(env) => envs.get(env.0).is_some_and(|e| e.timeout_timer.is_some()),
        Timer::HostWait(id) => invocations.get(id.0).is_some_and(|i| i.state == InvocationState::WaitingForHost),
        Timer::InitDeadline(env) => envs.get(env.0).is_some_and(|e| e.state == EnvState::Initializing),
        Timer::HostRetry => true,
        Timer::Idle(env) => envs.get(env.0).is_some_and(|e| e.idle_timer.is_some()),
    }
}

impl Controller {
    /// Reports what happened to an environment.
    pub fn handle_env_event(&mut self, now: Instant, env: EnvId, event: EnvEvent) {
        match event {
            EnvEvent::Ready => self.env_ready(now, env),
            EnvEvent::InitFailed => self.env_init_failed(env, InvocationFailure::InitFailed, StopReason::Failed),
            EnvEvent::InvocationFinished { invocation, outcome, reusable } => {
                self.invocation_finished(now, env, invocation, outcome, reusable)
            }
            EnvEvent::Exited => self.env_exited(env),
        }
        self.after_input(now);
    }

    pub(crate) fn timer_applies(&self, timer: &Timer) -> bool {
        timer_applies(&self.envs, &self.invocations, timer)
    }

    pub(super) fn fire_timer(&mut self, now: Instant, timer: Timer) {
        if !self.timer_applies(&timer) {
            return;
        }
        match timer {
            Timer::InvocationTimeout(env) => self.timeouts_due(now, env),
            Timer::InitDeadline(env) => self.init_deadline(now, env),
            Timer::Idle(env) => self.idle_due(now, env),
            Timer::HostWait(invocation) => self.host_wait_expired(invocation),
            Timer::HostRetry => self.pump_host(now),
        }
    }

    // ---- environments ----------------------------------------------------

    pub(super) fn spawn_env(
        &mut self,
        now: Instant,
        function_id: FunctionId,
        pool_index: usize,
        init_type: InitType,
    ) -> EnvId {
        let function = &mut self.functions[function_id.index()];
        let pool = &mut function.pools[pool_index];
        let settings = pool.settings;
        let (version, generation) = (pool.version, pool.generation);
        if init_type == InitType::ProvisionedConcurrency {
            pool.provisioned_alive += 1;
        }
        function.environments += 1;
        function.counters.environments_started += 1;
        let env = EnvId(self.envs.insert_with(|_| Env {
            function: function_id,
            version,
            generation,
            init_type,
            state: EnvState::Initializing,
            capacity: settings.per_environment_concurrency.max(1),
            running: Vec::new(),
            bound: None,
            spawned_at: now,
            idle_since: now,
            idle_timer: None,
            timeout_timer: None,
            listed: false,
            timeout: settings.timeout,
            init_extended_until: None,
        }));
        let limit = match init_type {
            InitType::OnDemand => self.config.init_timeout_on_demand,
            InitType::ProvisionedConcurrency => self.config.init_timeout_provisioned.max(settings.timeout),
        };
        self.timers.push(now + limit, Timer::InitDeadline(env));
        self.effects.push_back(Effect::SpawnEnv { env, function: function_id, version, init_type });
        env
    }

    /// An init reached its limit. Lambda retries an on-demand init that
    /// outlives 10 s within the first invocation, the retried init and the
    /// handler sharing one function timeout; weir lets the same init go on
    /// within that timeout (without paying the init twice).
    fn init_deadline(&mut self, now: Instant, env_id: EnvId) {
        let Some(env) = self.envs.get_mut(env_id.0) else { return };
        if env.init_type == InitType::OnDemand && env.bound.is_some() && env.init_extended_until.is_none() {
            let deadline = now + env.timeout;
            env.init_extended_until = Some(deadline);
            self.timers.push(deadline, Timer::InitDeadline(env_id));
            return;
        }
        let failure = if env.init_extended_until.is_some() {
            InvocationFailure::TimedOut { timeout: env.timeout }
        } else {
            InvocationFailure::InitTimedOut { limit: self.init_limit(env_id) }
        };
        self.env_init_failed(env_id, failure, StopReason::InitTimedOut)
    }

    fn init_limit(&self, env: EnvId) -> Duration {
        match self.envs.get(env.0) {
            Some(e) if e.init_type == InitType::ProvisionedConcurrency => {
                self.config.init_timeout_provisioned.max(e.timeout)
            }
            _ => self.config.init_timeout_on_demand,
        }
    }

    /// Binds a cold-start invocation to the environment initialising for it.
    pub(super) fn bind(&mut self, invocation: InvocationId, env: EnvId) {
        self.invocations.get_mut(invocation.0).expect("bound invocation exists").state =
            InvocationState::ColdStarting(env);
        self.envs.get_mut(env.0).expect("bound environment exists").bound = Some(invocation);
    }

    fn env_ready(&mut self, now: Instant, env_id: EnvId) {
        let Some(env) = self.envs.get_mut(env_id.0).filter(|e| e.state == EnvState::Initializing) else {
            return;
        };
        env.state = EnvState::Ready;
        env.idle_since = now;
        let init_duration = now.saturating_since(env.spawned_at);
        let bound = env.bound.take();
        let (function_id, version, provisioned) = (env.function, env.version, env.is_provisioned());
        let function = &mut self.functions[function_id.index()];
        function.counters.inits += 1;
        function.counters.init_duration_total += init_duration;
        if provisioned && let Some(i) = function.pool_index(version) {
            let pool = &mut function.pools[i];
            pool.provisioned_ready += 1;
            pool.provisioned_init_failures = 0;
        }
        if let Some(invocation) = bound {
            function.counters.cold_starts += 1;
            self.dispatch(now, invocation, env_id, Some(init_duration));
        }
        self.offer(now, env_id);
    }

    fn env_init_failed(&mut self, env_id: EnvId, failure: InvocationFailure, reason: StopReason) {
        let Some(env) = self.envs.get_mut(env_id.0).filter(|e| e.state == EnvState::Initializing) else {
            return;
        };
        let bound = env.bound.take();
        let (function_id, version, provisioned) = (env.function, env.version, env.is_provisioned());
        if provisioned {
            let function = &mut self.functions[function_id.index()];
            if let Some(i) = function.pool_index(version) {
                function.pools[i].provisioned_init_failures += 1;
            }
            self.provisioned_dirty = true;
        }
        if let Some(invocation) = bound {
            self.fail_invocation(invocation, failure, true);
        }
        self.stop_env(env_id, reason);
    }

    fn env_exited(&mut self, env_id: EnvId) {
        let Some(env) = self.envs.remove(env_id.0) else {
            return;
        };
        let function_id = env.function;
        if env.state == EnvState::ShuttingDown {
            self.stopping -= 1;
        } else {
            // Died on its own: undo what stop_env would have undone.
            self.unlist(env.place(), env_id);
            self.forget_provisioned(env.place());
            if env.is_provisioned() && env.state == EnvState::Initializing {
                let function = &mut self.functions[function_id.index()];
                if let Some(i) = function.pool_index(env.version) {
                    function.pools[i].provisioned_init_failures += 1;
                }
            }
        }
        if env.is_provisioned() {
            self.provisioned_dirty = true;
        }
        if let Some(invocation) = env.bound {
            self.fail_invocation(invocation, InvocationFailure::InitFailed, true);
        }
        for &invocation in &env.running {
            self.fail_invocation(invocation, InvocationFailure::EnvironmentLost, true);
        }
        let function = &mut self.functions[function_id.index()];
        function.environments -= 1;
        if function.deleted && function.environments == 0 {
            function.pools = Vec::new();
            function.scaling = Default::default();
        }
    }

    /// Asks the driver to stop an environment; its host slot frees when it exits.
    pub(crate) fn stop_env(&mut self, env_id: EnvId, reason: StopReason) {
        let Some(place) = self.envs.get(env_id.0).filter(|e| e.state != EnvState::ShuttingDown).map(Env::place) else {
            return;
        };
        self.unlist(place, env_id);
        self.forget_provisioned(place);
        let env = self.envs.get_mut(env_id.0).expect("checked above");
        env.state = EnvState::ShuttingDown;
        env.listed = false;
        self.stopping += 1;
        self.effects.push_back(Effect::StopEnv { env: env_id, reason });
    }

    /// Removes the environment from its pool's available list.
    fn unlist(&mut self, env: EnvPlace, env_id: EnvId) {
        if !env.listed {
            return;
        }
        let function = &mut self.functions[env.function.index()];
        if let Some(i) = function.pool_index(env.version) {
            let pool = &mut function.pools[i];
            let list = if env.provisioned { &mut pool.provisioned_available } else { &mut pool.available };
            if list.last() == Some(&env_id) {
                list.pop();
            } else if let Some(at) = list.iter().position(|&e| e == env_id) {
                list.remove(at);
            }
        }
    }

    /// A provisioned environment leaving service no longer counts for its pool.
    fn forget_provisioned(&mut self, env: EnvPlace) {
        if !env.provisioned || env.state == EnvState::ShuttingDown {
            return;
        }
        let function = &mut self.functions[env.function.index()];
        if let Some(i) = function.pool_index(env.version) {
            let pool = &mut function.pools[i];
            pool.provisioned_alive -= 1;
            if env.state == EnvState::Ready {
                pool.provisioned_ready -= 1;
            }
        }
    }

    /// An environment may have spare capacity: retire it if stale, give it
    /// a waiting invocation, or list it as available (idle timer included).
    pub(super) fn offer(&mut self, now: Instant, env_id: EnvId) {
        loop {
            let Some(env) = self.envs.get(env_id.0).filter(|e| e.state == EnvState::Ready) else {
                return;
            };
            if !env.has_spare_capacity() {
                return;
            }
            let function = &self.functions[env.function.index()];
            let pool = function.pool_index(env.version).map(|i| &function.pools[i]);
            let retire = match pool {
                None => Some(StopReason::Stale),
                Some(_) if function.deleted => Some(StopReason::FunctionDeleted),
                Some(pool) if env.generation != pool.generation => Some(StopReason::Stale),
                Some(pool) if env.is_provisioned() && pool.provisioned_alive > pool.provisioned_target => {
                    Some(StopReason::ProvisionedReduced)
                }
                Some(_) => None,
            };
            if let Some(reason) = retire {
                if env.running.is_empty() {
                    self.stop_env(env_id, reason);
                } else if env.listed {
                    let env = self.envs.get(env_id.0).expect("exists");
                    self.unlist_by_id(env_id, env.function, env.version, env.is_provisioned());
                }
                return;
            }
            let pool = pool.expect("checked above");
            if !env.is_provisioned()
                && pool.host_waiters > 0
                && let Some(waiter) = self.take_host_waiter(env.function, env.version)
            {
                self.dispatch(now, waiter, env_id, None);
                continue;
            }
            break;
        }
        let env = self.envs.get_mut(env_id.0).expect("checked in loop");
        let idle = env.running.is_empty();
        if idle {
            env.idle_since = now;
        }
        let (function_id, version, provisioned, listed) = (env.function, env.version, env.is_provisioned(), env.listed);
        let arm_idle = idle && !provisioned && env.idle_timer.is_none();
        let idle_due = now + self.config.idle_timeout;
        if arm_idle {
            env.idle_timer = Some(idle_due);
        }
        env.listed = true;
        let function = &mut self.functions[function_id.index()];
        let i = function.pool_index(version).expect("checked in loop");
        let pool = &mut function.pools[i];
        let list = if provisioned { &mut pool.provisioned_available } else { &mut pool.available };
        if listed {
            // Partly busy environment used again: move it to the MRU end.
            if let Some(at) = list.iter().position(|&e| e == env_id) {
                list.remove(at);
            }
        }
        list.push(env_id);
        if arm_idle {
            self.timers.push(idle_due, Timer::Idle(env_id));
        }
    }

    fn unlist_by_id(&mut self, env_id: EnvId, function: FunctionId, version: crate::ids::Version, provisioned: bool) {
        let f = &mut self.functions[function.index()];
        if let Some(i) = f.pool_index(version) {
            let pool = &mut f.pools[i];
            let list = if provisioned { &mut pool.provisioned_available } else { &mut pool.available };
            list.retain(|&e| e != env_id);
        }
        if let Some(env) = self.envs.get_mut(env_id.0) {
            env.listed = false;
        }
    }

    // ---- invocations -----------------------------------------------------

    /// Sends an invocation to an environment with spare capacity.
    pub(super) fn dispatch(
        &mut self,
        now: Instant,
        invocation: InvocationId,
        env_id: EnvId,
        init_duration: Option<Duration>,
    ) {
        let env = self.envs.get_mut(env_id.0).expect("dispatch to a live environment");
        env.running.push(invocation);
        // After an init past its limit, the handler gets what is left of the
        // timeout it shares with that init.
        let deadline = env.init_extended_until.take().filter(|&d| d > now).unwrap_or(now + env.timeout);
        let arm_timeout = env.timeout_timer.is_none();
        if arm_timeout {
            env.timeout_timer = Some(deadline);
        }
        if env.listed && !env.has_spare_capacity() {
            let (function, version, provisioned) = (env.function, env.version, env.is_provisioned());
            env.listed = false;
            let f = &mut self.functions[function.index()];
            let i = f.pool_index(version).expect("listed environments have a pool");
            let list = if provisioned { &mut f.pools[i].provisioned_available } else { &mut f.pools[i].available };
            if list.last() == Some(&env_id) {
                list.pop();
            } else {
                list.retain(|&e| e != env_id);
            }
        }
        let inv = self.invocations.get_mut(invocation.0).expect("dispatched invocation exists");
        inv.state = InvocationState::Running(env_id);
        inv.deadline = deadline;
        if arm_timeout {
            self.timers.push(deadline, Timer::InvocationTimeout(env_id));
        }
        self.effects.push_back(Effect::Dispatch { invocation, env: env_id, init_duration, deadline });
    }

    fn invocation_finished(
        &mut self,
        now: Instant,
        env_id: EnvId,
        invocation: InvocationId,
        outcome: InvocationOutcome,
        reusable: bool,
    ) {
        match self.invocations.get(invocation.0) {
            Some(i) if i.state == InvocationState::Running(env_id) => {}
            _ => return, // already timed out or failed: the core decided first
        }
        let inv = self.invocations.remove(invocation.0).expect("checked above");
        let counters = &mut self.functions[inv.function.index()].counters;
        counters.invocations += 1;
        if outcome == InvocationOutcome::FunctionError {
            counters.errors += 1;
        }
        self.release_slot(&inv);
        let env = self.envs.get_mut(env_id.0).expect("a running invocation's environment exists");
        remove_running(env, invocation);
        if reusable {
            self.offer(now, env_id);
        } else {
            self.stop_env(env_id, StopReason::Failed);
        }
    }

    /// An environment's timeout timer fired: time out what is overdue and
    /// re-arm for the next deadline of what still runs.
    fn timeouts_due(&mut self, now: Instant, env_id: EnvId) {
        let Some(env) = self.envs.get_mut(env_id.0) else { return };
        env.timeout_timer = None;
        let mut overdue = None;
        let mut next: Option<Instant> = None;
        for &invocation in &env.running {
            let deadline = self.invocations.get(invocation.0).map_or(now, |i| i.deadline);
            if deadline <= now {
                overdue.get_or_insert(invocation);
            } else {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        match overdue {
            Some(invocation) => self.invocation_timed_out(invocation),
            None => {
                if let Some(at) = next {
                    env.timeout_timer = Some(at);
                    self.timers.push(at, Timer::InvocationTimeout(env_id));
                }
            }
        }
    }

    /// An environment's idle timer fired: stop it if it really has been
    /// idle that long, otherwise re-arm for when it will have been.
    fn idle_due(&mut self, now: Instant, env_id: EnvId) {
        let idle_timeout = self.config.idle_timeout;
        let Some(env) = self.envs.get_mut(env_id.0) else { return };
        env.idle_timer = None;
        if env.state != EnvState::Ready || !env.running.is_empty() || env.is_provisioned() {
            return; // armed again when it next becomes idle
        }
        let due = env.idle_since + idle_timeout;
        if due <= now {
            self.stop_env(env_id, StopReason::Idle);
        } else {
            env.idle_timer = Some(due);
            self.timers.push(due, Timer::Idle(env_id));
        }
    }

    fn invocation_timed_out(&mut self, invocation: InvocationId) {
        let Some(inv) = self.invocations.get(invocation.0) else { return };
        let InvocationState::Running(env_id) = inv.state else { return };
        let timeout = self.envs.get(env_id.0).map(|e| e.timeout).unwrap_or_default();
        self.functions[inv.function.index()].counters.timeouts += 1;
        self.fail_invocation(invocation, InvocationFailure::TimedOut { timeout }, true);
        self.stop_env(env_id, StopReason::InvocationTimedOut);
    }

    fn host_wait_expired(&mut self, invocation: InvocationId) {
        self.host_wait_expirations += 1;
        self.fail_invocation(invocation, InvocationFailure::HostWaitExpired, false);
    }

    /// Ends an invocation the function did not answer. `ran` says whether
    /// it counts as an invocation (with an error) in Lambda's metrics.
    fn fail_invocation(&mut self, invocation: InvocationId, failure: InvocationFailure, ran: bool) {
        let Some(inv) = self.invocations.remove(invocation.0) else { return };
        let env = match inv.state {
            InvocationState::WaitingForHost => None,
            InvocationState::ColdStarting(env) | InvocationState::Running(env) => Some(env),
        };
        match inv.state {
            InvocationState::WaitingForHost => {
                self.host_waiting -= 1;
                let f = &mut self.functions[inv.function.index()];
                if let Some(i) = f.pool_index(inv.version) {
                    f.pools[i].host_waiters -= 1;
                }
            }
            InvocationState::ColdStarting(env) => {
                if let Some(e) = self.envs.get_mut(env.0) {
                    e.bound = None;
                }
            }
            InvocationState::Running(env) => {
                if let Some(e) = self.envs.get_mut(env.0) {
                    remove_running(e, invocation);
                }
            }
        }
        if ran {
            let counters = &mut self.functions[inv.function.index()].counters;
            counters.invocations += 1;
            counters.errors += 1;
        }
        self.release_slot(&inv);
        self.effects.push_back(Effect::InvocationFailed { invocation, failure, env });
    }

    /// Gives back the concurrency an invocation held and wakes waiters.
    fn release_slot(&mut self, inv: &Invocation) {
        let function = &mut self.functions[inv.function.index()];
        let unreserved_before = function.unreserved_use();
        if inv.provisioned {
            function.busy_provisioned -= 1;
        } else {
            function.busy_on_demand -= 1;
        }
        let uses_unreserved = function.unreserved_use() < unreserved_before;
        if uses_unreserved {
            self.unreserved_busy -= 1;
        }
        self.total_busy -= 1;
        if !self.watchers.is_empty() {
            self.wake_watchers(Some(inv.function), uses_unreserved);
        }
    }

    /// Emits `CapacityAvailable` for watchers that may now be admitted:
    /// `function` itself, and with `unreserved_freed` every watcher without
    /// a reservation. `None` with `true` wakes everyone (limits changed).
    pub(crate) fn wake_watchers(&mut self, function: Option<FunctionId>, unreserved_freed: bool) {
        let functions = &mut self.functions;
        let effects = &mut self.effects;
        self.watchers.retain(|&w| {
            let f = &mut functions[w.index()];
            let wake = Some(w) == function || (unreserved_freed && (f.reserved.is_none() || function.is_none()));
            if wake {
                f.capacity_watched = false;
                effects.push_back(Effect::CapacityAvailable { function: w });
            }
            !wake
        });
    }

    // ---- the host --------------------------------------------------------

    /// Takes the oldest host waiter of one pool out of the host queue.
    fn take_host_waiter(&mut self, function: FunctionId, version: crate::ids::Version) -> Option<InvocationId> {
        let at = self.host_queue.iter().position(|&id| {
            self.invocations.get(id.0).is_some_and(|i| {
                i.state == InvocationState::WaitingForHost && i.function == function && i.version == version
            })
        })?;
        let invocation = self.host_queue.remove(at)?;
        self.host_waiting -= 1;
        let f = &mut self.functions[function.index()];
        let i = f.pool_index(version).expect("waiter's pool exists");
        f.pools[i].host_waiters -= 1;
        Some(invocation)
    }

    /// Uses free host slots: first for waiting invocations (oldest first,
    /// each as soon as its function's scaling rate allows), then for
    /// provisioned environments that are missing.
    pub(super) fn pump_host(&mut self, now: Instant) {
        let rate = self.config.scaling_rate;
        let mut earliest_retry: Option<Duration> = None;
        let mut index = 0;
        while self.host_waiting > 0 && self.host_has_room() && index < self.host_queue.len() {
            let invocation = self.host_queue[index];
            let Some(inv) = self.invocations.get(invocation.0).filter(|i| i.state == InvocationState::WaitingForHost)
            else {
                self.host_queue.remove(index);
                continue;
            };
            let (function_id, version) = (inv.function, inv.version);
            let function = &mut self.functions[function_id.index()];
            let Some(pool_index) = function.pool_index(version) else {
                // Its version was deleted while it waited.
                self.host_queue.remove(index);
                self.host_waiting -= 1;
                self.fail_waiting_without_pool(invocation);
                continue;
            };
            if let Err(retry) = function.scaling.try_acquire(now, rate) {
                earliest_retry = Some(earliest_retry.map_or(retry, |e| e.min(retry)));
                index += 1;
                continue;
            }
            self.host_queue.remove(index);
            self.host_waiting -= 1;
            self.functions[function_id.index()].pools[pool_index].host_waiters -= 1;
            let env = self.spawn_env(now, function_id, pool_index, InitType::OnDemand);
            self.bind(invocation, env);
        }
        self.host_retry_at = None;
        if let Some(retry) = earliest_retry
            && self.host_has_room()
        {
            self.host_retry_at = Some(now + retry);
            self.timers.push(now + retry, Timer::HostRetry);
        }
        if self.provisioned_dirty {
            self.top_up_provisioned(now);
        }
        if self.host_waiting > 0 && !self.host_has_room() {
            self.evict_for_waiters();
        }
    }

    fn fail_waiting_without_pool(&mut self, invocation: InvocationId) {
        let Some(inv) = self.invocations.remove(invocation.0) else { return };
        self.release_slot(&inv);
        self.effects.push_back(Effect::InvocationFailed {
            invocation,
            failure: InvocationFailure::EnvironmentLost,
            env: None,
        });
    }

    /// Starts provisioned environments wherever a pool has fewer than its
    /// target, as far as host slots allow.
    fn top_up_provisioned(&mut self, now: Instant) {
        self.provisioned_dirty = false;
        for index in 0..self.functions.len() {
            if self.functions[index].deleted {
                continue;
            }
            for pool_index in 0..self.functions[index].pools.len() {
                let deficit = self.functions[index].pools[pool_index].provisioned_deficit();
                for _ in 0..deficit {
                    if !self.host_has_room() {
                        self.provisioned_dirty = true;
                        self.evict_for_waiters();
                        return;
                    }
                    self.spawn_env(now, FunctionId(index as u32), pool_index, InitType::ProvisionedConcurrency);
                }
            }
        }
    }
}

fn remove_running(env: &mut Env, invocation: InvocationId) {
    if let Some(at) = env.running.iter().position(|&i| i == invocation) {
        env.running.swap_remove(at);
    }
}
