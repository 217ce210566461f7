//! The [`Controller`]: Lambda's concurrency and scaling rules as one
//! deterministic state machine.
//!
//! Submodules hold one concern each: `admission` answers invocation
//! requests, `lifecycle` moves environments and invocations through their
//! states, `configure` validates and applies configuration changes, and
//! `invariants` states what must always hold.

mod admission;
mod configure;
mod invariants;
mod lifecycle;

use std::collections::{HashMap, VecDeque};

use crate::api::{AccountStats, Effect, FunctionStats, ProvisionedState, ProvisionedStatus};
use crate::config::{ControllerConfig, RuntimeSettings};
use crate::ids::{EnvId, FunctionId, Version};
use crate::model::{Env, Function, Invocation, PROVISIONED_INIT_FAILURE_LIMIT};
use crate::slab::Slab;
use crate::time::Instant;
use crate::timers::TimerQueue;

pub use invariants::InvariantViolation;

/// Lambda's concurrency model for one account on one host.
///
/// Drive it like this (the whole contract):
///
/// 1. Feed every input through a `handle_*` method with the current time.
/// 2. After **every** `handle_*` call, drain [`Controller::poll_effect`]
///    until it returns `None` and execute each effect.
/// 3. Sleep until [`Controller::poll_timeout`], then call
///    [`Controller::handle_timeout`] (and drain again).
///
/// The controller never reads a clock, never blocks, and never allocates on
/// the warm path (admit on a warm environment, then finish) once its
/// internal queues have grown to their working size.
#[derive(Debug)]
pub struct Controller {
    pub(crate) config: ControllerConfig,
    pub(crate) functions: Vec<Function>,
    pub(crate) names: HashMap<String, FunctionId>,
    pub(crate) envs: Slab<Env>,
    pub(crate) invocations: Slab<Invocation>,
    pub(crate) timers: TimerQueue,
    pub(crate) effects: VecDeque<Effect>,
    /// Admitted invocations waiting for a host slot, oldest first. Entries
    /// whose invocation left the waiting state are skipped lazily.
    pub(crate) host_queue: VecDeque<crate::ids::InvocationId>,
    pub(crate) host_waiting: u32,
    /// Every host waiter is held back by its scaling rate until then.
    pub(crate) host_retry_at: Option<Instant>,
    /// Environments shutting down (their host slot frees at exit).
    pub(crate) stopping: u32,
    /// Σ of what live functions hold out of the account pool.
    pub(crate) held: u32,
    /// In-flight invocations drawing on the unreserved pool (including those
    /// of deleted functions, which no longer hold a reservation).
    pub(crate) unreserved_busy: u32,
    pub(crate) total_busy: u32,
    pub(crate) peak_busy: u32,
    /// Highest `total_busy` since the last
    /// [`Controller::take_account_concurrency_peak`] (see `Counters::window_peak`).
    pub(crate) window_peak_busy: u32,
    /// Functions whose callers wait for capacity.
    pub(crate) watchers: Vec<FunctionId>,
    /// Some pool may lack provisioned environments.
    pub(crate) provisioned_dirty: bool,
    pub(crate) host_waits: u64,
    pub(crate) host_rejections: u64,
    pub(crate) host_wait_expirations: u64,
    pub(crate) host_evictions: u64,
}

impl Controller {
    pub fn new(config: ControllerConfig) -> Self {
        Controller {
            config,
            functions: Vec::new(),
            names: HashMap::new(),
            envs: Slab::default(),
            invocations: Slab::default(),
            timers: TimerQueue::default(),
            effects: VecDeque::new(),
            host_queue: VecDeque::new(),
            host_waiting: 0,
            host_retry_at: None,
            stopping: 0,
            held: 0,
            unreserved_busy: 0,
            total_busy: 0,
            peak_busy: 0,
            window_peak_busy: 0,
            watchers: Vec::new(),
            provisioned_dirty: false,
            host_waits: 0,
            host_rejections: 0,
            host_wait_expirations: 0,
            host_evictions: 0,
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// The next effect for the driver to execute.
    #[must_use]
    #[inline]
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// The earliest time at which [`Controller::handle_timeout`] has work.
    /// May be a little early (a deadline that no longer applies); never late.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|(at, _)| at)
    }

    /// Processes every deadline due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            self.fire_timer(now, timer);
        }
        self.after_input(now);
    }

    /// Asks for a [`Effect::CapacityAvailable`] for `function` the next time
    /// concurrency it could use frees up (an invocation finishes, a limit is
    /// raised). Lets a waiting caller (async dispatcher, poller) sleep
    /// instead of retrying in a loop. One notification per call.
    pub fn watch_capacity(&mut self, function: FunctionId) {
        if let Some(f) = self.functions.get_mut(function.index())
            && !f.capacity_watched
            && !f.deleted
        {
            f.capacity_watched = true;
            self.watchers.push(function);
        }
    }

    /// How many invocations of `function` at `version` would be admitted
    /// right now by Lambda's concurrency limits: idle provisioned
    /// environments plus on-demand headroom (its reservation, or the
    /// unreserved pool). The scaling rate and the host are not counted, so
    /// an admission may still be refused; 0 means one certainly would be.
    /// Pollers use it to claim only as much work as can run.
    pub fn headroom(&self, function: FunctionId, version: Version) -> u32 {
        let Some(f) = self.live_function(function) else { return 0 };
        let Some(pool) = f.pool_index(version).map(|i| &f.pools[i]) else { return 0 };
        if f.reserved == Some(0) {
            return 0;
        }
        let provisioned_idle = pool.provisioned_available.len() as u32;
        let on_demand = match f.on_demand_reserved_cap() {
            Some(cap) => cap.saturating_sub(f.busy_on_demand),
            None => self.unreserved_limit().saturating_sub(self.unreserved_busy),
        };
        provisioned_idle + on_demand
    }

    // ---- lookups -------------------------------------------------------

    pub fn function_id(&self, name: &str) -> Option<FunctionId> {
        self.names.get(name).copied()
    }

    pub fn function_name(&self, function: FunctionId) -> Option<&str> {
        self.live_function(function).map(|f| f.name.as_str())
    }

    /// Ids of all live functions, in creation order.
    pub fn function_ids(&self) -> impl Iterator<Item = FunctionId> + '_ {
        self.functions.iter().enumerate().filter(|(_, f)| !f.deleted).map(|(index, _)| FunctionId(index as u32))
    }

    /// Resolves a Lambda qualifier (`None`, `$LATEST`, a version number or
    /// an alias name) to the version it runs.
    pub fn resolve(&self, function: FunctionId, qualifier: Option<&str>) -> Option<Version> {
        let f = self.live_function(function)?;
        let version = match qualifier {
            None => Version::Latest,
            Some(q) => match Version::parse(q) {
                Some(v) => v,
                None => f.resolve_alias(q)?,
            },
        };
        f.pool_index(version).map(|_| version)
    }

    /// Settings an environment of this version runs with.
    pub fn settings(&self, function: FunctionId, version: Version) -> Option<RuntimeSettings> {
        let f = self.live_function(function)?;
        f.pool_index(version).map(|i| f.pools[i].settings)
    }

    pub fn reserved_concurrency(&self, function: FunctionId) -> Option<u32> {
        self.live_function(function).and_then(|f| f.reserved)
    }

    /// The provisioned concurrency configuration on `qualifier`, if any.
    pub fn provisioned_status(&self, function: FunctionId, qualifier: &str) -> Option<ProvisionedStatus> {
        let f = self.live_function(function)?;
        let config = f.provisioned.iter().find(|p| p.qualifier == qualifier)?;
        let pool = &f.pools[f.pool_index(config.version)?];
        let allocated = pool.provisioned_ready.min(config.requested);
        let state = if pool.provisioned_init_failures >= PROVISIONED_INIT_FAILURE_LIMIT {
            ProvisionedState::Failed
        } else if allocated >= config.requested {
            ProvisionedState::Ready
        } else {
            ProvisionedState::InProgress
        };
        Some(ProvisionedStatus { version: config.version, requested: config.requested, allocated, state })
    }

    /// Qualifiers that carry a provisioned concurrency configuration.
    pub fn provisioned_qualifiers(&self, function: FunctionId) -> Vec<String> {
        self.live_function(function)
            .map(|f| f.provisioned.iter().map(|p| p.qualifier.clone()).collect())
            .unwrap_or_default()
    }

    /// Which function and version an environment belongs to.
    pub fn env_target(&self, env: EnvId) -> Option<(FunctionId, Version)> {
        self.envs.get(env.0).map(|e| (e.function, e.version))
    }

    // ---- observations ----------------------------------------------------

    pub fn function_stats(&self, function: FunctionId) -> Option<FunctionStats> {
        let f = self.functions.get(function.index())?;
        let c = &f.counters;
        let mut provisioned_ready = 0;
        let mut idle = 0;
        for pool in &f.pools {
            provisioned_ready += pool.provisioned_ready;
            idle += pool.available.len() as u32 + pool.provisioned_available.len() as u32;
        }
        Some(FunctionStats {
            concurrent_executions: f.concurrent(),
            provisioned_concurrent_executions: f.busy_provisioned,
            reserved_concurrency: f.reserved,
            provisioned_concurrency: f.provisioned_total(),
            provisioned_ready,
            environments: f.environments,
            idle_environments: idle,
            peak_concurrent_executions: c.peak_concurrent,
            invocations: c.invocations,
            errors: c.errors,
            timeouts: c.timeouts,
            throttles: c.throttles,
            cold_starts: c.cold_starts,
            inits: c.inits,
            init_duration_total: c.init_duration_total,
            provisioned_invocations: c.provisioned_invocations,
            spillover_invocations: c.spillover_invocations,
            environments_started: c.environments_started,
        })
    }

    /// The highest concurrency of `function` since the previous call (since
    /// its creation, the first time), and starts the next window at its
    /// concurrency now. CloudWatch reports `ConcurrentExecutions` as the
    /// maximum over each period: a metrics sampler calls this once per
    /// period, so bursts between two samples are not lost.
    /// The window changes nothing any rule reads. Call it from one reader
    /// only (two would split each other's windows).
    pub fn take_concurrency_peak(&mut self, function: FunctionId) -> Option<u32> {
        let f = self.functions.get_mut(function.index())?;
        let concurrent = f.concurrent();
        Some(std::mem::replace(&mut f.counters.window_peak, concurrent))
    }

    /// [`Controller::take_concurrency_peak`] for the whole account.
    pub fn take_account_concurrency_peak(&mut self) -> u32 {
        std::mem::replace(&mut self.window_peak_busy, self.total_busy)
    }

    pub fn account_stats(&self) -> AccountStats {
        AccountStats {
            concurrency_limit: self.config.account.concurrency_limit,
            unreserved_limit: self.unreserved_limit(),
            concurrent_executions: self.total_busy,
            unreserved_concurrent_executions: self.unreserved_busy,
            claimed_account_concurrency: self.unreserved_busy + self.held,
            peak_concurrent_executions: self.peak_busy,
            environments: self.envs.len() as u32,
            host_environment_limit: self.config.host.max_environments,
            host_waiting: self.host_waiting,
            host_waits: self.host_waits,
            host_rejections: self.host_rejections,
            host_wait_expirations: self.host_wait_expirations,
            host_evictions: self.host_evictions,
        }
    }

    // ---- shared helpers ------------------------------------------------

    pub(crate) fn live_function(&self, function: FunctionId) -> Option<&Function> {
        self.functions.get(function.index()).filter(|f| !f.deleted)
    }

    /// The unreserved pool: the account limit minus what functions hold.
    pub(crate) fn unreserved_limit(&self) -> u32 {
        self.config.account.concurrency_limit.saturating_sub(self.held)
    }

    /// Housekeeping after every input: provisioned top-up, host slots, and
    /// dropping timers that no longer apply from the front of the queue.
    pub(crate) fn after_input(&mut self, now: Instant) {
        let host_ready = self.host_retry_at.is_none_or(|at| at <= now);
        if self.provisioned_dirty || (self.host_waiting > 0 && self.host_has_room() && host_ready) {
            self.pump_host(now);
        }
        while let Some((_, timer)) = self.timers.peek() {
            if self.timer_applies(&timer) {
                break;
            }
            self.timers.pop();
        }
        let live = self.invocations.len() + self.envs.len() + 64;
        if self.timers.len() > 4 * live {
            let (envs, invocations) = (&self.envs, &self.invocations);
            self.timers.retain(|timer| lifecycle::timer_applies(envs, invocations, timer));
        }
    }

    pub(crate) fn host_has_room(&self) -> bool {
        (self.envs.len() as u32) < self.config.host.max_environments
    }
}
