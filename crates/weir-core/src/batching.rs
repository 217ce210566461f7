//! When an SQS event source mapping hands a batch to the function (spec
//! §8.1, §8.4): batch size, batching window, and the validation Lambda
//! applies to them and to the queue's visibility timeout.
//!
//! A batch goes out as soon as it is full, or when the batching window
//! that began with its first message has passed, or at once when there is
//! no window. Pure decisions over counts and times: this module never
//! holds messages and never reads a clock.

use std::time::Duration;

use crate::error::ConfigError;
use crate::time::Instant;

/// `BatchSize` upper bound for standard SQS queues.
pub const SQS_MAX_BATCH_SIZE: u32 = 10_000;
/// `MaximumBatchingWindowInSeconds` upper bound.
pub const MAX_BATCHING_WINDOW: Duration = Duration::from_secs(300);

/// Validated batching settings of one event source mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    batch_size: u32,
    window: Duration,
}

impl Default for Batching {
    /// Lambda's SQS defaults: 10 records, no window.
    fn default() -> Self {
        Batching { batch_size: 10, window: Duration::ZERO }
    }
}

/// What the poller should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchDecision {
    /// Nothing to send.
    Empty,
    /// Send a batch of this many messages now.
    Send(u32),
    /// Keep gathering; decide again at this time (or when more arrive).
    WaitUntil(Instant),
}

impl Batching {
    /// Validates like `CreateEventSourceMapping` for a standard SQS queue.
    pub fn sqs(batch_size: u32, window: Duration) -> Result<Self, ConfigError> {
        if !(1..=SQS_MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(ConfigError::invalid(format!(
                "1 validation error detected: Value '{batch_size}' at 'batchSize' failed to satisfy constraint: Member must have value between 1 and 10000"
            )));
        }
        if window > MAX_BATCHING_WINDOW || window.subsec_nanos() != 0 {
            return Err(ConfigError::invalid(format!(
                "1 validation error detected: Value '{}' at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must be a whole number between 0 and 300",
                window.as_secs_f64()
            )));
        }
        if batch_size > 10 && window.is_zero() {
            return Err(ConfigError::invalid(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
            ));
        }
        Ok(Batching { batch_size, window })
    }

    pub fn batch_size(&self) -> u32 {
        self.batch_size
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Decides for a poller that sees `available` messages and began
    /// gathering its current batch at `gathering_since` (when it first saw
    /// a message for it; `None` if it has not begun).
    pub fn decide(&self, now: Instant, available: u64, gathering_since: Option<Instant>) -> BatchDecision {
        if available == 0 {
            return BatchDecision::Empty;
        }
        if available >= u64::from(self.batch_size) {
            return BatchDecision::Send(self.batch_size);
        }
        let count = available as u32; // < batch_size, fits
        if self.window.is_zero() {
            return BatchDecision::Send(count);
        }
        let deadline = gathering_since.unwrap_or(now) + self.window;
        if now >= deadline { BatchDecision::Send(count) } else { BatchDecision::WaitUntil(deadline) }
    }
}

/// Lambda's check when a mapping is created or updated: the function's
/// timeout must not exceed the queue's visibility timeout (spec §8.4).
pub fn validate_sqs_visibility(function_timeout: Duration, visibility_timeout: Duration) -> Result<(), ConfigError> {
    if function_timeout > visibility_timeout {
        return Err(ConfigError::invalid(format!(
            "Queue visibility timeout: {} seconds is less than Function timeout: {} seconds",
            visibility_timeout.as_secs(),
            function_timeout.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_batch_goes_at_once_even_inside_a_window() {
        let batching = Batching::sqs(10, Duration::from_secs(5)).unwrap();
        assert_eq!(batching.decide(Instant::from_secs(1), 25, Some(Instant::from_secs(1))), BatchDecision::Send(10));
    }

    #[test]
    fn without_a_window_whatever_is_there_goes_at_once() {
        let batching = Batching::default();
        assert_eq!(batching.decide(Instant::ZERO, 3, None), BatchDecision::Send(3));
        assert_eq!(batching.decide(Instant::ZERO, 0, None), BatchDecision::Empty);
    }

    #[test]
    fn a_partial_batch_waits_for_the_window_that_began_with_its_first_message() {
        let batching = Batching::sqs(100, Duration::from_secs(2)).unwrap();
        let start = Instant::from_secs(10);
        assert_eq!(batching.decide(start, 3, None), BatchDecision::WaitUntil(Instant::from_secs(12)));
        assert_eq!(
            batching.decide(Instant::from_secs(11), 40, Some(start)),
            BatchDecision::WaitUntil(Instant::from_secs(12))
        );
        assert_eq!(batching.decide(Instant::from_secs(12), 40, Some(start)), BatchDecision::Send(40));
    }

    #[test]
    fn settings_are_validated_like_lambda() {
        assert!(Batching::sqs(0, Duration::ZERO).is_err());
        assert!(Batching::sqs(10_001, Duration::from_secs(1)).is_err());
        assert!(Batching::sqs(11, Duration::ZERO).is_err(), "more than 10 needs a window");
        assert!(Batching::sqs(11, Duration::from_secs(1)).is_ok());
        assert!(Batching::sqs(10, Duration::from_secs(301)).is_err());
        assert!(Batching::sqs(10, Duration::from_millis(1_500)).is_err());
        let err = validate_sqs_visibility(Duration::from_secs(60), Duration::from_secs(30)).unwrap_err();
        assert_eq!(err.message, "Queue visibility timeout: 30 seconds is less than Function timeout: 60 seconds");
        assert!(validate_sqs_visibility(Duration::from_secs(30), Duration::from_secs(30)).is_ok());
    }
}
