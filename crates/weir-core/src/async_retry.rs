//! Lambda's retry rules for asynchronous invocations (spec §7), as pure
//! decisions: what to do with an event after each attempt.
//!
//! - A function error (including a timeout) is retried up to
//!   `MaximumRetryAttempts` (0–2, default 2) times, waiting 1 minute before
//!   the first retry and 2 minutes before the second.
//! - A throttle or a system error is retried with a backoff that doubles
//!   from 1 second up to 5 minutes, for as long as the event is younger than
//!   `MaximumEventAgeInSeconds` (60–21,600, default 6 hours).
//! - With reserved concurrency 0 the event fails at once, without retries.

use std::time::Duration;

/// `MaximumRetryAttempts` and `MaximumEventAgeInSeconds` of an
/// `EventInvokeConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncRetryPolicy {
    pub max_retry_attempts: u32,
    pub max_event_age: Duration,
}

impl Default for AsyncRetryPolicy {
    fn default() -> Self {
        AsyncRetryPolicy { max_retry_attempts: 2, max_event_age: Duration::from_secs(6 * 3600) }
    }
}

impl AsyncRetryPolicy {
    pub const MAX_RETRY_ATTEMPTS: u32 = 2;
    pub const MIN_EVENT_AGE: Duration = Duration::from_secs(60);
    pub const MAX_EVENT_AGE: Duration = Duration::from_secs(21_600);
}

/// Waits before the first and second retry of a function error.
pub const FUNCTION_ERROR_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];
/// First wait after a throttle or system error; doubles after each one.
pub const THROTTLE_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait after a throttle or system error.
pub const THROTTLE_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What the platform remembers about one event between attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsyncEventState {
    /// Times the function ran with this event (`approximateInvokeCount`).
    pub invocations: u32,
    /// Attempts that were throttled or failed before reaching the function.
    pub throttles: u32,
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncAttempt {
    Succeeded,
    /// The function ran and failed (error, timeout, crash, out of memory).
    FunctionError,
    /// Throttled (429) or a platform error before the function ran.
    Throttled,
    /// The function's reserved concurrency is 0.
    ZeroReservedConcurrency,
}

/// Why an event is given up on; the `condition` of its failure record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureCondition {
    RetriesExhausted,
    EventAgeExceeded,
    ZeroReservedConcurrency,
}

impl FailureCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCondition::RetriesExhausted => "RetriesExhausted",
            FailureCondition::EventAgeExceeded => "EventAgeExceeded",
            FailureCondition::ZeroReservedConcurrency => "ZeroReservedConcurrency",
        }
    }
}

/// The next step for an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncDecision {
    /// Succeeded: deliver to the on-success destination, if any.
    Done,
    /// Try again after this wait.
    RetryAfter(Duration),
    /// Give up: DLQ or on-failure destination, then drop.
    Fail(FailureCondition),
}

/// Whether an event of this age may still be attempted.
pub fn too_old(policy: &AsyncRetryPolicy, age: Duration) -> bool {
    age > policy.max_event_age
}

/// Records an attempt in `state` and decides what happens next. `age` is
/// the event's age now; a retry that would only happen after the event's
/// maximum age fails it at once.
pub fn decide(
    policy: &AsyncRetryPolicy,
    state: &mut AsyncEventState,
    attempt: AsyncAttempt,
    age: Duration,
) -> AsyncDecision {
    let retry = |wait: Duration| {
        if too_old(policy, age + wait) {
            AsyncDecision::Fail(FailureCondition::EventAgeExceeded)
        } else {
            AsyncDecision::RetryAfter(wait)
        }
    };
    match attempt {
        AsyncAttempt::Succeeded => {
            state.invocations += 1;
            AsyncDecision::Done
        }
        AsyncAttempt::ZeroReservedConcurrency => AsyncDecision::Fail(FailureCondition::ZeroReservedConcurrency),
        AsyncAttempt::FunctionError => {
            state.invocations += 1;
            let retries_done = state.invocations - 1;
            if retries_done >= policy.max_retry_attempts.min(AsyncRetryPolicy::MAX_RETRY_ATTEMPTS) {
                AsyncDecision::Fail(FailureCondition::RetriesExhausted)
            } else {
                retry(FUNCTION_ERROR_RETRY_DELAYS[retries_done as usize])
            }
        }
        AsyncAttempt::Throttled => {
            state.throttles += 1;
            let doublings = (state.throttles - 1).min(16);
            retry((THROTTLE_BACKOFF_INITIAL * 2u32.pow(doublings)).min(THROTTLE_BACKOFF_MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn function_errors_are_retried_twice_after_one_then_two_minutes() {
        let policy = AsyncRetryPolicy::default();
        let mut state = AsyncEventState::default();
        let mut age = secs(0);
        assert_eq!(decide(&policy, &mut state, AsyncAttempt::FunctionError, age), AsyncDecision::RetryAfter(secs(60)));
        age += secs(60);
        assert_eq!(decide(&policy, &mut state, AsyncAttempt::FunctionError, age), AsyncDecision::RetryAfter(secs(120)));
        age += secs(120);
        assert_eq!(
            decide(&policy, &mut state, AsyncAttempt::FunctionError, age),
            AsyncDecision::Fail(FailureCondition::RetriesExhausted)
        );
        assert_eq!(state.invocations, 3, "approximateInvokeCount");
    }

    #[test]
    fn zero_retries_fail_on_the_first_error() {
        let policy = AsyncRetryPolicy { max_retry_attempts: 0, ..AsyncRetryPolicy::default() };
        let mut state = AsyncEventState::default();
        assert_eq!(
            decide(&policy, &mut state, AsyncAttempt::FunctionError, secs(0)),
            AsyncDecision::Fail(FailureCondition::RetriesExhausted)
        );
    }

    #[test]
    fn throttles_back_off_exponentially_to_five_minutes_until_the_maximum_age() {
        let policy = AsyncRetryPolicy { max_event_age: secs(3_600), ..AsyncRetryPolicy::default() };
        let mut state = AsyncEventState::default();
        let mut age = secs(0);
        let mut waits = Vec::new();
        loop {
            match decide(&policy, &mut state, AsyncAttempt::Throttled, age) {
                AsyncDecision::RetryAfter(wait) => {
                    waits.push(wait.as_secs());
                    age += wait;
                }
                AsyncDecision::Fail(condition) => {
                    assert_eq!(condition, FailureCondition::EventAgeExceeded);
                    break;
                }
                AsyncDecision::Done => unreachable!(),
            }
        }
        assert_eq!(&waits[..10], &[1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert!(waits[10..].iter().all(|&w| w == 300));
        assert!(age <= secs(3_600));
        assert_eq!(state.invocations, 0, "throttled attempts never reached the function");
    }

    #[test]
    fn reserved_zero_fails_without_retries() {
        let mut state = AsyncEventState::default();
        assert_eq!(
            decide(&AsyncRetryPolicy::default(), &mut state, AsyncAttempt::ZeroReservedConcurrency, secs(0)),
            AsyncDecision::Fail(FailureCondition::ZeroReservedConcurrency)
        );
    }

    #[test]
    fn a_retry_past_the_maximum_age_fails_with_event_age_exceeded() {
        let policy = AsyncRetryPolicy { max_event_age: secs(90), ..AsyncRetryPolicy::default() };
        let mut state = AsyncEventState::default();
        assert_eq!(
            decide(&policy, &mut state, AsyncAttempt::FunctionError, secs(10)),
            AsyncDecision::RetryAfter(secs(60))
        );
        assert_eq!(
            decide(&policy, &mut state, AsyncAttempt::FunctionError, secs(70)),
            AsyncDecision::Fail(FailureCondition::EventAgeExceeded)
        );
        assert!(too_old(&policy, secs(91)));
    }
}
