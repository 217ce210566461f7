//! The controller's internal state: functions, their per-version pools of
//! environments, environments, and in-flight invocations.
//!
//! Plain data with small helpers; the rules that change it live in
//! `controller/`.

use std::time::Duration;

use crate::api::InitType;
use crate::config::RuntimeSettings;
use crate::ids::{EnvId, FunctionId, InvocationId, Version};
use crate::scaling::ScalingWindow;
use crate::throttle::ThrottleReason;
use crate::time::Instant;

/// Environments of one function version.
#[derive(Debug)]
pub(crate) struct Pool {
    pub version: Version,
    /// Bumped when `$LATEST` changes; environments of an older generation
    /// are stale and retire as soon as they are idle.
    pub generation: u32,
    pub settings: RuntimeSettings,
    /// On-demand environments with spare capacity, least recently used
    /// first: the warm path takes the last (most recently used).
    pub available: Vec<EnvId>,
    /// Provisioned environments with spare capacity, same order.
    pub provisioned_available: Vec<EnvId>,
    /// Provisioned environments wanted for this version.
    pub provisioned_target: u32,
    /// Provisioned environments alive and not shutting down.
    pub provisioned_alive: u32,
    /// Provisioned environments that finished init and are not shutting down.
    pub provisioned_ready: u32,
    /// Provisioned inits that failed in a row; at the limit the
    /// configuration is FAILED and no more environments are started.
    pub provisioned_init_failures: u32,
    /// Invocations of this pool waiting in the host queue.
    pub host_waiters: u32,
}

impl Pool {
    pub fn new(version: Version, settings: RuntimeSettings) -> Self {
        Pool {
            version,
            generation: 0,
            settings,
            available: Vec::new(),
            provisioned_available: Vec::new(),
            provisioned_target: 0,
            provisioned_alive: 0,
            provisioned_ready: 0,
            provisioned_init_failures: 0,
            host_waiters: 0,
        }
    }

    pub fn provisioned_deficit(&self) -> u32 {
        if self.provisioned_init_failures >= PROVISIONED_INIT_FAILURE_LIMIT {
            return 0;
        }
        self.provisioned_target.saturating_sub(self.provisioned_alive)
    }
}

/// Consecutive provisioned init failures after which weir stops retrying.
pub(crate) const PROVISIONED_INIT_FAILURE_LIMIT: u32 = 3;

#[derive(Clone, Debug)]
pub(crate) struct Alias {
    pub name: String,
    pub version: Version,
}

/// A provisioned concurrency configuration, keyed by its qualifier.
#[derive(Clone, Debug)]
pub(crate) struct ProvisionedConfig {
    pub qualifier: String,
    pub version: Version,
    pub requested: u32,
}

/// Monotonic counters of one function.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub invocations: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub throttles: [u64; ThrottleReason::ALL.len()],
    pub cold_starts: u64,
    pub inits: u64,
    pub init_duration_total: Duration,
    pub provisioned_invocations: u64,
    pub spillover_invocations: u64,
    pub environments_started: u64,
    pub peak_concurrent: u32,
    /// Highest concurrency since the last
    /// [`Controller::take_concurrency_peak`](crate::Controller::take_concurrency_peak).
    pub window_peak: u32,
}

#[derive(Debug)]
pub(crate) struct Function {
    pub name: String,
    /// Deleted functions linger until their last environment exits.
    pub deleted: bool,
    pub reserved: Option<u32>,
    /// Index 0 is `$LATEST`; published versions follow in creation order.
    pub pools: Vec<Pool>,
    pub aliases: Vec<Alias>,
    pub provisioned: Vec<ProvisionedConfig>,
    /// In-flight invocations on on-demand environments (including those
    /// cold-starting or waiting for a host slot).
    pub busy_on_demand: u32,
    /// In-flight invocations on provisioned environments.
    pub busy_provisioned: u32,
    /// Environments alive (any state) of this function.
    pub environments: u32,
    pub scaling: ScalingWindow,
    pub counters: Counters,
    /// A caller waits for capacity (see `Controller::watch_capacity`).
    pub capacity_watched: bool,
}

impl Function {
    pub fn new(name: String, settings: RuntimeSettings) -> Self {
        Function {
            name,
            deleted: false,
            reserved: None,
            pools: vec![Pool::new(Version::Latest, settings)],
            aliases: Vec::new(),
            provisioned: Vec::new(),
            busy_on_demand: 0,
            busy_provisioned: 0,
            environments: 0,
            scaling: ScalingWindow::default(),
            counters: Counters::default(),
            capacity_watched: false,
        }
    }

    pub fn pool_index(&self, version: Version) -> Option<usize> {
        self.pools.iter().position(|p| p.version == version)
    }

    pub fn provisioned_total(&self) -> u32 {
        self.provisioned.iter().map(|p| p.requested).sum()
    }

    /// Concurrency this function takes out of the account pool: its
    /// reservation, or without one, its provisioned concurrency.
    pub fn held(&self) -> u32 {
        if self.deleted {
            return 0;
        }
        self.reserved.unwrap_or_else(|| self.provisioned_total())
    }

    /// Limit on on-demand in-flight invocations from its own reservation.
    pub fn on_demand_reserved_cap(&self) -> Option<u32> {
        self.reserved.map(|r| r.saturating_sub(self.provisioned_total()))
    }

    /// On-demand invocations beyond the function's own reservation (after
    /// the reservation was lowered while they ran). Until they finish they
    /// draw on the unreserved pool, so the account limit still holds.
    pub fn excess(&self) -> u32 {
        match self.on_demand_reserved_cap() {
            Some(cap) if !self.deleted => self.busy_on_demand.saturating_sub(cap),
            _ => 0,
        }
    }

    /// In-flight invocations counted against the unreserved pool: all of a
    /// deleted function's, on-demand ones without a reservation, and any
    /// excess over a lowered reservation.
    pub fn unreserved_use(&self) -> u32 {
        if self.deleted {
            self.concurrent()
        } else if self.reserved.is_none() {
            self.busy_on_demand
        } else {
            self.excess()
        }
    }

    pub fn concurrent(&self) -> u32 {
        self.busy_on_demand + self.busy_provisioned
    }

    pub fn resolve_alias(&self, name: &str) -> Option<Version> {
        self.aliases.iter().find(|a| a.name == name).map(|a| a.version)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnvState {
    Initializing,
    Ready,
    ShuttingDown,
}

#[derive(Debug)]
pub(crate) struct Env {
    pub function: FunctionId,
    pub version: Version,
    pub generation: u32,
    pub init_type: InitType,
    pub state: EnvState,
    pub capacity: u32,
    /// Invocations running on it now.
    pub running: Vec<InvocationId>,
    /// The invocation waiting for this environment's init (cold start).
    pub bound: Option<InvocationId>,
    pub spawned_at: Instant,
    /// When it last became idle (least recently used environments are
    /// evicted first when the host is full).
    pub idle_since: Instant,
    /// Listed in its pool's available list (has spare capacity, not stale).
    pub listed: bool,
    /// The function timeout of the configuration it was started with.
    pub timeout: Duration,
    /// When its armed idle timer fires, if one is armed.
    pub idle_timer: Option<Instant>,
    /// When its armed invocation-timeout timer fires, if one is armed.
    pub timeout_timer: Option<Instant>,
    /// Its on-demand init outlived the 10 s limit and goes on within its
    /// first invocation: init and handler share one function timeout, which
    /// ends here (Lambda's retried init, spec §6.3).
    pub init_extended_until: Option<Instant>,
}

/// Where an environment sits, copied out so the controller can update its
/// pool while the environment itself is borrowed elsewhere.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EnvPlace {
    pub function: FunctionId,
    pub version: Version,
    pub provisioned: bool,
    pub listed: bool,
    pub state: EnvState,
}

impl Env {
    pub fn place(&self) -> EnvPlace {
        EnvPlace {
            function: self.function,
            version: self.version,
            provisioned: self.is_provisioned(),
            listed: self.listed,
            state: self.state,
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.running.len() as u32
    }
    pub fn has_spare_capacity(&self) -> bool {
        self.in_flight() < self.capacity
    }
    pub fn is_provisioned(&self) -> bool {
        self.init_type == InitType::ProvisionedConcurrency
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InvocationState {
    /// Admitted; waits for a host slot to start an environment.
    WaitingForHost,
    /// Bound to an environment that is initialising.
    ColdStarting(EnvId),
    Running(EnvId),
}

#[derive(Debug)]
pub(crate) struct Invocation {
    /// When it times out (set when it is dispatched).
    pub deadline: Instant,
    pub function: FunctionId,
    pub version: Version,
    pub state: InvocationState,
    /// Runs on a provisioned environment (counts against provisioned
    /// concurrency rather than on-demand capacity).
    pub provisioned: bool,
}
