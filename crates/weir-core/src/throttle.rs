//! Why an invocation was not admitted.
//!
//! [`ThrottleReason`] carries Lambda's exact `Reason` strings (botocore
//! `ThrottleReason` enum). Host capacity is deliberately *not* here: running
//! out of local machine capacity is weir's own condition, not a Lambda
//! throttle (see [`crate::Admission::HostBusy`]).

use std::time::Duration;

/// Lambda's `TooManyRequestsException.Reason` values that weir produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ThrottleReason {
    /// The account's unreserved pool is fully in use.
    ConcurrentInvocationLimitExceeded,
    /// The function's reserved concurrency is fully in use (or is 0).
    ReservedFunctionConcurrentInvocationLimitExceeded,
    /// The function's scaling rate (new environments per window) is used up.
    /// AWS does not document which reason its scaling-rate throttles carry;
    /// this is the closest documented one (see the README).
    FunctionInvocationRateLimitExceeded,
}

impl ThrottleReason {
    pub const ALL: [ThrottleReason; 3] = [
        ThrottleReason::ConcurrentInvocationLimitExceeded,
        ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded,
        ThrottleReason::FunctionInvocationRateLimitExceeded,
    ];

    /// The wire name, as in `{"Reason": "..."}`.
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleReason::ConcurrentInvocationLimitExceeded => "ConcurrentInvocationLimitExceeded",
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
            ThrottleReason::FunctionInvocationRateLimitExceeded => "FunctionInvocationRateLimitExceeded",
        }
    }

    /// The message Lambda puts next to the reason.
    pub fn message(self) -> &'static str {
        match self {
            ThrottleReason::ConcurrentInvocationLimitExceeded => "Rate Exceeded.",
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded => "Rate Exceeded.",
            ThrottleReason::FunctionInvocationRateLimitExceeded => "Rate Exceeded.",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A throttling decision: the reason and a hint for `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    pub reason: ThrottleReason,
    pub retry_after: Duration,
    /// True when the function's reserved concurrency is 0 (the emergency
    /// brake): asynchronous callers send the event straight to the
    /// dead-letter queue / on-failure destination without retries.
    pub zero_reserved: bool,
}
