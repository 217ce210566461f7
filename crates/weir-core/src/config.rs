//! Validated configuration of the controller and of functions.
//!
//! Defaults follow AWS (spec §1–3, §6.3); every value that makes a test slow
//! in real life (limits, windows, idle time) is configurable so tests and the
//! simulator can use small numbers.

use std::time::Duration;

/// The per-function scaling rate: at most `environments` new execution
/// environments in any window of length `window` (spec §2.1: 1,000 per 10 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalingRate {
    pub environments: u32,
    pub window: Duration,
}

impl Default for ScalingRate {
    fn default() -> Self {
        ScalingRate { environments: 1_000, window: Duration::from_secs(10) }
    }
}

/// Account-level Lambda limits (spec §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountLimits {
    /// `ConcurrentExecutions`: default 1,000.
    pub concurrency_limit: u32,
    /// Concurrency that must stay unreserved: AWS's default is 100.
    pub minimum_unreserved: u32,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits { concurrency_limit: 1_000, minimum_unreserved: 100 }
    }
}

/// Limits of the machine running the environments. These are weir's own:
/// hitting them is never reported as a Lambda throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostLimits {
    /// How many execution environments (processes) may exist at once.
    pub max_environments: u32,
    /// How many admitted invocations may wait for a host slot.
    pub max_waiting: u32,
    /// How long an invocation may wait for a host slot before it fails.
    pub max_wait: Duration,
}

impl Default for HostLimits {
    fn default() -> Self {
        HostLimits { max_environments: 1_024, max_waiting: 10_000, max_wait: Duration::from_secs(30) }
    }
}

/// Everything the [`crate::Controller`] needs at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerConfig {
    pub account: AccountLimits,
    pub host: HostLimits,
    pub scaling_rate: ScalingRate,
    /// An on-demand environment idle this long is stopped. AWS documents no
    /// number; weir's default is 5 minutes.
    pub idle_timeout: Duration,
    /// Init limit for on-demand environments (spec §6.3: 10 s).
    pub init_timeout_on_demand: Duration,
    /// Floor of the init limit for provisioned environments: the limit is
    /// this or the function timeout, whichever is higher (spec §6.3: 130 s).
    pub init_timeout_provisioned: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            account: AccountLimits::default(),
            host: HostLimits::default(),
            scaling_rate: ScalingRate::default(),
            idle_timeout: Duration::from_secs(300),
            init_timeout_on_demand: Duration::from_secs(10),
            init_timeout_provisioned: Duration::from_secs(130),
        }
    }
}

/// The concurrency-relevant part of a function version's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeSettings {
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Invocations one environment runs at once: 1 on Lambda; more in a
    /// Lambda Managed Instances style mode (`AWS_LAMBDA_MAX_CONCURRENCY`).
    pub per_environment_concurrency: u32,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings { memory_mb: 128, timeout: Duration::from_secs(3), per_environment_concurrency: 1 }
    }
}
