//! weir-core: Lambda's concurrency and scaling model as a deterministic,
//! sans-IO state machine. It contains no networking, no processes, no
//! threads, and never reads a clock: time comes in as a parameter and
//! decisions go out as values. The node (`weir serve`) and the simulator
//! (`weir simulate`) drive the same [`Controller`].
//!
//! The model (each rule links to the AWS behaviour it follows in the README):
//! an account pool with a minimum that stays unreserved; reserved
//! concurrency per function as both guarantee and cap (0 throttles
//! everything); provisioned concurrency on versions and aliases that spills
//! over to on-demand; a per-function scaling rate; execution environments
//! that are reused warm (most recently used first), reaped when idle, and
//! replaced when provisioned ones die; and a host limit on environments that
//! is weir's own and never reported as a Lambda throttle.
//!
//! See [`Controller`] for the driving contract.

mod api;
pub mod async_retry;
mod batching;
mod config;
mod controller;
mod downstream;
mod error;
mod ids;
mod model;
mod poller;
mod scaling;
mod slab;
mod throttle;
mod time;
mod timers;

pub use api::{
    AccountStats, Admission, ConfigChange, ConfigOutcome, Effect, EnvEvent, FunctionStats, InitType, InvocationFailure,
    InvocationOutcome, InvokeRequest, ProvisionedState, ProvisionedStatus, StopReason,
};
pub use batching::{BatchDecision, Batching, MAX_BATCHING_WINDOW, SQS_MAX_BATCH_SIZE, validate_sqs_visibility};
pub use config::{AccountLimits, ControllerConfig, HostLimits, RuntimeSettings, ScalingRate};
pub use controller::{Controller, InvariantViolation};
pub use downstream::{ConnectionRefused, Downstream, DownstreamConfig};
pub use error::{ConfigError, ConfigErrorKind};
pub use ids::{EnvId, FunctionId, InvocationId, Version};
pub use poller::{BatchOutcome, PollerScaler, PollerScaling, SQS_MAX_CONCURRENT_BATCHES};
pub use throttle::{Throttle, ThrottleReason};
pub use time::Instant;
