//! The values that cross the core's boundary: inputs, decisions, effects,
//! and observations.
//!
//! Inputs are `handle_*` arguments ([`InvokeRequest`], [`EnvEvent`],
//! [`ConfigChange`]); decisions come back as [`Admission`] values and
//! [`Effect`]s that the driver executes; [`FunctionStats`] and
//! [`AccountStats`] expose exact counters for metrics.

use std::time::Duration;

use crate::config::{AccountLimits, RuntimeSettings};
use crate::ids::{EnvId, FunctionId, InvocationId, Version};
use crate::throttle::{Throttle, ThrottleReason};
use crate::time::Instant;

/// A request to run one invocation of `function` at `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvokeRequest {
    pub function: FunctionId,
    pub version: Version,
}

/// The one answer an invocation request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Admitted: a [`Effect::Dispatch`] follows (now on a warm environment,
    /// or after a cold start, or once a host slot frees).
    Admitted(InvocationId),
    /// Refused by one of Lambda's limits.
    Throttled(Throttle),
    /// Lambda's limits allow it, but this machine runs its maximum number of
    /// environments and its wait line is full. Not a Lambda throttle.
    HostBusy,
    /// The function or version does not exist (any more).
    NotFound,
}

/// How an environment was initialised (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InitType {
    OnDemand,
    ProvisionedConcurrency,
}

impl InitType {
    pub fn as_str(self) -> &'static str {
        match self {
            InitType::OnDemand => "on-demand",
            InitType::ProvisionedConcurrency => "provisioned-concurrency",
        }
    }
}

/// Why the core asks the driver to stop an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Idle longer than the idle timeout.
    Idle,
    /// Its code or configuration was replaced, or its version deleted.
    Stale,
    /// Provisioned concurrency was lowered or removed.
    ProvisionedReduced,
    /// Its function was deleted.
    FunctionDeleted,
    /// Idle, and its host slot is needed by another function.
    Evicted,
    /// Its invocation exceeded the function timeout: kill it now.
    InvocationTimedOut,
    /// Init did not finish within the init limit: kill it now.
    InitTimedOut,
    /// Init failed or the runtime reported an unrecoverable error.
    Failed,
}

impl StopReason {
    /// True when the driver must kill at once rather than shut down gracefully.
    pub fn is_kill(self) -> bool {
        matches!(self, StopReason::InvocationTimedOut | StopReason::InitTimedOut | StopReason::Failed)
    }
}

/// Why an admitted invocation failed without a response from the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationFailure {
    /// It ran longer than the function timeout (`Task timed out after …`).
    TimedOut { timeout: Duration },
    /// Its environment failed to initialise.
    InitFailed,
    /// Its environment did not finish init within the limit.
    InitTimedOut { limit: Duration },
    /// Its environment disappeared without reporting an outcome.
    EnvironmentLost,
    /// It waited for a host slot longer than the host's wait limit.
    HostWaitExpired,
}

/// Work for the driver, drained with [`crate::Controller::poll_effect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Start a new execution environment for `function` at `version`, with
    /// the settings the core reports for it. Answer with [`EnvEvent::Ready`]
    /// (first `/next`), [`EnvEvent::InitFailed`], and eventually
    /// [`EnvEvent::Exited`].
    SpawnEnv { env: EnvId, function: FunctionId, version: Version, init_type: InitType },
    /// Send the invocation to the environment. `init_duration` is set on the
    /// first invocation after a cold start.
    /// `deadline`: when the invocation times out (the function timeout from
    /// now, or less after an init that ran past its limit).
    Dispatch { invocation: InvocationId, env: EnvId, init_duration: Option<Duration>, deadline: Instant },
    /// Stop the environment ([`StopReason::is_kill`]: at once; otherwise
    /// gracefully) and report [`EnvEvent::Exited`] when it is gone.
    StopEnv { env: EnvId, reason: StopReason },
    /// The invocation ended without a function response; answer its caller.
    /// `env` is the environment it was bound to or ran on, if any.
    InvocationFailed { invocation: InvocationId, failure: InvocationFailure, env: Option<EnvId> },
    /// Concurrency for `function` may be available again (see
    /// [`crate::Controller::watch_capacity`]).
    CapacityAvailable { function: FunctionId },
}

/// How an invocation that reached the function ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationOutcome {
    Success,
    /// A function error (`X-Amz-Function-Error`), including runtime errors
    /// such as a crash or out-of-memory reported by the driver.
    FunctionError,
}

/// What the driver observed about an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvEvent {
    /// The runtime finished init (its first `/next`).
    Ready,
    /// Init failed (`/init/error`, or the process died during init).
    InitFailed,
    /// An invocation finished. `reusable` is false when the environment
    /// cannot take another invocation (it crashed, ran out of memory…).
    InvocationFinished { invocation: InvocationId, outcome: InvocationOutcome, reusable: bool },
    /// The process is gone.
    Exited,
}

/// A configuration change, validated like Lambda's control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigChange {
    CreateFunction {
        name: String,
        settings: RuntimeSettings,
    },
    /// `$LATEST`'s code or configuration changed: new environments use it,
    /// existing ones are retired.
    UpdateFunction {
        function: FunctionId,
        settings: RuntimeSettings,
    },
    DeleteFunction {
        function: FunctionId,
    },
    /// Snapshot `$LATEST` as published version `version` (numbered by the
    /// driver, which persists them; must be new).
    PublishVersion {
        function: FunctionId,
        version: u32,
    },
    DeleteVersion {
        function: FunctionId,
        version: u32,
    },
    /// Create or retarget an alias.
    PutAlias {
        function: FunctionId,
        name: String,
        version: Version,
    },
    DeleteAlias {
        function: FunctionId,
        name: String,
    },
    PutReservedConcurrency {
        function: FunctionId,
        reserved: u32,
    },
    DeleteReservedConcurrency {
        function: FunctionId,
    },
    /// Provisioned concurrency on a published version or an alias.
    PutProvisionedConcurrency {
        function: FunctionId,
        qualifier: String,
        count: u32,
    },
    DeleteProvisionedConcurrency {
        function: FunctionId,
        qualifier: String,
    },
    SetAccountLimits(AccountLimits),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigOutcome {
    Done,
    Created(FunctionId),
}

/// `Status` of a provisioned concurrency configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvisionedState {
    InProgress,
    Ready,
    Failed,
}

impl ProvisionedState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionedState::InProgress => "IN_PROGRESS",
            ProvisionedState::Ready => "READY",
            ProvisionedState::Failed => "FAILED",
        }
    }
}

/// What `GetProvisionedConcurrencyConfig` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionedStatus {
    pub version: Version,
    pub requested: u32,
    /// Environments initialised and serving (AWS's Allocated/Available).
    pub allocated: u32,
    pub state: ProvisionedState,
}

/// Exact counters and gauges of one function, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionStats {
    // gauges
    pub concurrent_executions: u32,
    pub provisioned_concurrent_executions: u32,
    pub reserved_concurrency: Option<u32>,
    pub provisioned_concurrency: u32,
    pub provisioned_ready: u32,
    pub environments: u32,
    pub idle_environments: u32,
    pub peak_concurrent_executions: u32,
    // counters
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
}

impl FunctionStats {
    pub fn throttles_for(&self, reason: ThrottleReason) -> u64 {
        self.throttles[reason.index()]
    }
    pub fn throttles_total(&self) -> u64 {
        self.throttles.iter().sum()
    }
}

/// Exact account-wide gauges and counters, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountStats {
    pub concurrency_limit: u32,
    /// `AccountLimit.UnreservedConcurrentExecutions`: limit minus what
    /// functions hold (reserved, or provisioned without a reservation).
    pub unreserved_limit: u32,
    pub concurrent_executions: u32,
    /// In-flight invocations using the unreserved pool.
    pub unreserved_concurrent_executions: u32,
    /// `ClaimedAccountConcurrency`: unreserved in use + held by functions.
    pub claimed_account_concurrency: u32,
    pub peak_concurrent_executions: u32,
    pub environments: u32,
    pub host_environment_limit: u32,
    pub host_waiting: u32,
    pub host_waits: u64,
    pub host_rejections: u64,
    pub host_wait_expirations: u64,
    pub host_evictions: u64,
}
