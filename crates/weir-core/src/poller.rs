//! How many batches an SQS event source mapping processes at once
//! (spec §8.2–8.4): the poller scaling policy, shared by the node's SQS
//! poller and the simulator.
//!
//! Lambda starts an SQS mapping with 5 concurrent batches, adds up to 300
//! a minute while messages wait, never exceeds `MaximumConcurrency`
//! (2–1,000) nor 1,000 concurrent batches, scales back down when the queue
//! is empty, and backs off when invocations fail or are throttled. AWS
//! documents no numbers for the last two; weir's are in
//! [`PollerScaling::default`] and documented there.
//!
//! [`PollerScaler`] owns only the number of concurrent batches allowed. It
//! never receives messages, never invokes, and never reads a clock: the
//! driver reports what it saw, with the time, and asks for the limit.

use std::time::Duration;

use crate::error::ConfigError;
use crate::time::Instant;

/// The most batches one SQS event source mapping processes at once (spec
/// §8.2, current docs: 1,000).
pub const SQS_MAX_CONCURRENT_BATCHES: u32 = 1_000;

const NANOS_PER_MINUTE: u128 = 60_000_000_000;

/// The numbers of the scaling policy. Defaults follow Lambda where AWS
/// documents them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollerScaling {
    /// Concurrent batches a mapping starts with, and the floor it returns
    /// to when the queue is idle (AWS: 5).
    pub initial_concurrency: u32,
    /// Concurrent batches added per minute while messages wait (AWS: up to
    /// 300). Refilled continuously, never banked.
    pub scale_up_per_minute: u32,
    /// Concurrent batches removed per minute while the queue is empty. AWS
    /// documents no number; weir uses the scale-up rate.
    pub scale_down_per_minute: u32,
    /// `ScalingConfig.MaximumConcurrency` (2–1,000); `None` means only the
    /// 1,000-batch ceiling applies.
    pub maximum_concurrency: Option<u32>,
    /// Each failed or throttled batch lowers the limit by one, down to this
    /// floor ("gradually backs off"; AWS documents no number; weir uses 2,
    /// the fewest concurrent batches AWS mentions).
    pub backoff_floor: u32,
    /// After a failed or throttled batch, the limit does not grow again for
    /// this long (weir's choice: 1 s, so sustained failures hold the limit
    /// down while an occasional one barely slows scaling).
    pub backoff_pause: Duration,
}

impl Default for PollerScaling {
    fn default() -> Self {
        PollerScaling {
            initial_concurrency: 5,
            scale_up_per_minute: 300,
            scale_down_per_minute: 300,
            maximum_concurrency: None,
            backoff_floor: 2,
            backoff_pause: Duration::from_secs(1),
        }
    }
}

impl PollerScaling {
    /// Lambda's defaults with `MaximumConcurrency`, validated like
    /// `CreateEventSourceMapping`.
    pub fn with_maximum_concurrency(maximum_concurrency: Option<u32>) -> Result<Self, ConfigError> {
        let scaling = PollerScaling { maximum_concurrency, ..PollerScaling::default() };
        scaling.validate()?;
        Ok(scaling)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(max) = self.maximum_concurrency
            && !(2..=SQS_MAX_CONCURRENT_BATCHES).contains(&max)
        {
            return Err(ConfigError::invalid(format!(
                "1 validation error detected: Value '{max}' at 'scalingConfig.maximumConcurrency' failed to satisfy constraint: Member must have value between 2 and 1000"
            )));
        }
        if self.initial_concurrency == 0 || self.backoff_floor == 0 {
            return Err(ConfigError::invalid("Poller concurrency floors must be at least 1"));
        }
        Ok(())
    }

    /// The highest the limit may go.
    pub fn ceiling(&self) -> u32 {
        self.maximum_concurrency.unwrap_or(SQS_MAX_CONCURRENT_BATCHES).min(SQS_MAX_CONCURRENT_BATCHES)
    }
}

/// What became of one batch, as the scaler needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// The function processed the batch.
    Success,
    /// The function returned an error or timed out (the whole batch
    /// returns to the queue). With `ReportBatchItemFailures` Lambda does not
    /// back off: report [`BatchOutcome::Success`] then.
    FunctionError,
    /// The invocation was throttled.
    Throttled,
}

/// The concurrent-batch limit of one SQS event source mapping over time.
#[derive(Clone, Debug)]
pub struct PollerScaler {
    scaling: PollerScaling,
    /// Concurrent batches allowed now.
    limit: u32,
    /// Fraction of a batch slot accrued (in minute-nanoseconds × rate),
    /// carried between observations so slow rates still add up.
    accrued: u128,
    /// Time of the last observation.
    observed_at: Instant,
    /// Whether messages were waiting at the last observation: decides
    /// whether the interval since then grows or shrinks the limit.
    messages_waiting: bool,
    /// No growth before this time (backoff after failures).
    paused_until: Option<Instant>,
}

impl PollerScaler {
    pub fn new(scaling: PollerScaling, now: Instant) -> Self {
        let limit = scaling.initial_concurrency.min(scaling.ceiling());
        PollerScaler { scaling, limit, accrued: 0, observed_at: now, messages_waiting: false, paused_until: None }
    }

    pub fn scaling(&self) -> &PollerScaling {
        &self.scaling
    }

    /// Concurrent batches allowed now (as of the last observation).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Brings the limit up to `now` (growth or shrinkage since the last
    /// observation) without changing what was observed, and returns it.
    pub fn limit_at(&mut self, now: Instant) -> u32 {
        self.advance(now);
        self.limit
    }

    /// Reports whether messages are waiting in the queue now (after the
    /// driver started what batches it could). The interval since the last
    /// observation grows the limit if messages were waiting then, and
    /// shrinks it towards the initial concurrency if the queue was empty.
    pub fn observe(&mut self, now: Instant, messages_waiting: bool) {
        self.advance(now);
        if messages_waiting != self.messages_waiting {
            self.accrued = 0;
        }
        self.messages_waiting = messages_waiting;
    }

    fn advance(&mut self, now: Instant) {
        if now <= self.observed_at {
            return;
        }
        let mut from = self.observed_at;
        self.observed_at = now;
        if self.messages_waiting {
            if let Some(until) = self.paused_until {
                if now <= until {
                    return;
                }
                from = from.max(until);
                self.paused_until = None;
            }
            let ceiling = self.scaling.ceiling();
            let grown = self.accrue(now.saturating_since(from), self.scaling.scale_up_per_minute);
            self.limit = self.limit.saturating_add(grown).min(ceiling);
            if self.limit == ceiling {
                self.accrued = 0; // unused rate is never banked
            }
        } else {
            let floor = self.scaling.initial_concurrency.min(self.scaling.ceiling());
            if self.limit <= floor {
                self.accrued = 0;
                return;
            }
            let shrunk = self.accrue(now.saturating_since(from), self.scaling.scale_down_per_minute);
            self.limit = self.limit.saturating_sub(shrunk).max(floor);
        }
    }

    /// Whole slots earned over `elapsed` at `per_minute`; the remainder is carried.
    fn accrue(&mut self, elapsed: Duration, per_minute: u32) -> u32 {
        self.accrued += elapsed.as_nanos() * u128::from(per_minute);
        let whole = self.accrued / NANOS_PER_MINUTE;
        self.accrued %= NANOS_PER_MINUTE;
        u32::try_from(whole).unwrap_or(u32::MAX)
    }

    /// Reports the outcome of one batch. Failures and throttles lower the
    /// limit by one (not below the backoff floor) and pause growth.
    pub fn record(&mut self, now: Instant, outcome: BatchOutcome) {
        self.advance(now);
        match outcome {
            BatchOutcome::Success => {}
            BatchOutcome::FunctionError | BatchOutcome::Throttled => {
                let floor = self.scaling.backoff_floor.min(self.limit);
                self.limit = self.limit.saturating_sub(1).max(floor);
                self.paused_until = Some(now + self.scaling.backoff_pause);
                self.accrued = 0;
            }
        }
    }

    /// When the limit will next grow by one if messages keep waiting, for a
    /// driver that wants to wake up then. `None` when it cannot grow (at the
    /// ceiling, no messages waiting, or a zero rate).
    pub fn next_growth(&self) -> Option<Instant> {
        let rate = u128::from(self.scaling.scale_up_per_minute);
        if !self.messages_waiting || self.limit >= self.scaling.ceiling() || rate == 0 {
            return None;
        }
        let start = match self.paused_until {
            Some(until) if until > self.observed_at => return Some(until + Duration::from_nanos(1)),
            _ => self.observed_at,
        };
        let missing = NANOS_PER_MINUTE - self.accrued;
        let nanos = missing.div_ceil(rate);
        Some(start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_secs(secs)
    }

    #[test]
    fn starts_with_five_batches_and_adds_three_hundred_a_minute_while_messages_wait() {
        let mut scaler = PollerScaler::new(PollerScaling::default(), at(0));
        assert_eq!(scaler.limit(), 5);
        scaler.observe(at(0), true);
        scaler.observe(at(1), true);
        assert_eq!(scaler.limit(), 10, "300 a minute is 5 a second");
        scaler.observe(at(61), true);
        assert_eq!(scaler.limit(), 310);
    }

    #[test]
    fn slow_growth_is_carried_between_frequent_observations() {
        let mut scaler = PollerScaler::new(PollerScaling::default(), at(0));
        scaler.observe(at(0), true);
        // Observed every millisecond for a second: 5 more, not 0.
        for ms in 1..=1_000 {
            scaler.observe(Instant::from_millis(ms), true);
        }
        assert_eq!(scaler.limit(), 10);
    }

    #[test]
    fn never_exceeds_maximum_concurrency_or_the_ceiling_and_never_banks() {
        let mut scaler = PollerScaler::new(PollerScaling::with_maximum_concurrency(Some(10)).unwrap(), at(0));
        scaler.observe(at(0), true);
        scaler.observe(at(3_600), true);
        assert_eq!(scaler.limit(), 10);
        assert_eq!(scaler.next_growth(), None);

        let mut unbounded = PollerScaler::new(PollerScaling::default(), at(0));
        unbounded.observe(at(0), true);
        unbounded.observe(at(3_600), true);
        assert_eq!(unbounded.limit(), SQS_MAX_CONCURRENT_BATCHES);

        // A maximum below the initial five starts there.
        let two = PollerScaler::new(PollerScaling::with_maximum_concurrency(Some(2)).unwrap(), at(0));
        assert_eq!(two.limit(), 2);
    }

    #[test]
    fn maximum_concurrency_is_validated_like_lambda() {
        assert!(PollerScaling::with_maximum_concurrency(Some(1)).is_err());
        assert!(PollerScaling::with_maximum_concurrency(Some(1_001)).is_err());
        assert!(PollerScaling::with_maximum_concurrency(Some(2)).is_ok());
        assert!(PollerScaling::with_maximum_concurrency(None).is_ok());
    }

    #[test]
    fn scales_back_down_to_the_initial_five_when_the_queue_is_empty() {
        let mut scaler = PollerScaler::new(PollerScaling::default(), at(0));
        scaler.observe(at(0), true);
        scaler.observe(at(20), true);
        assert_eq!(scaler.limit(), 105);
        scaler.observe(at(20), false);
        scaler.observe(at(30), false);
        assert_eq!(scaler.limit(), 55);
        scaler.observe(at(600), false);
        assert_eq!(scaler.limit(), 5);
    }

    #[test]
    fn failures_and_throttles_back_off_and_pause_growth() {
        let mut scaler = PollerScaler::new(PollerScaling::default(), at(0));
        scaler.observe(at(0), true);
        scaler.observe(at(10), true);
        assert_eq!(scaler.limit(), 55);
        scaler.record(at(10), BatchOutcome::Throttled);
        scaler.record(at(10), BatchOutcome::FunctionError);
        assert_eq!(scaler.limit(), 53);
        assert_eq!(scaler.next_growth(), Some(at(11) + Duration::from_nanos(1)));
        scaler.observe(Instant::from_millis(10_900), true);
        assert_eq!(scaler.limit(), 53, "no growth during the pause");
        scaler.observe(at(12), true);
        assert_eq!(scaler.limit(), 58, "growth resumes after the pause");
        scaler.record(at(12), BatchOutcome::Success);
        assert_eq!(scaler.limit(), 58);
    }

    #[test]
    fn sustained_failures_hold_the_limit_down() {
        // One failure every 100 ms outweighs growth of 5 a second.
        let mut scaler = PollerScaler::new(PollerScaling::default(), at(0));
        scaler.observe(at(0), true);
        scaler.observe(at(20), true);
        assert_eq!(scaler.limit(), 105);
        for tenth in 0..300 {
            let now = at(20) + Duration::from_millis(100 * tenth);
            scaler.observe(now, true);
            scaler.record(now, BatchOutcome::FunctionError);
        }
        assert_eq!(scaler.limit(), 2, "down to the backoff floor");
    }

    #[test]
    fn backoff_stops_at_the_floor() {
        let mut scaler = PollerScaler::new(PollerScaling::default(), at(0));
        for _ in 0..20 {
            scaler.record(at(1), BatchOutcome::FunctionError);
        }
        assert_eq!(scaler.limit(), 2);
    }

    #[test]
    fn next_growth_predicts_the_observation_that_adds_one() {
        let mut scaler = PollerScaler::new(PollerScaling::default(), at(0));
        scaler.observe(at(0), true);
        let next = scaler.next_growth().unwrap();
        assert_eq!(next, Instant::from_millis(200));
        scaler.observe(next - Duration::from_nanos(1), true);
        assert_eq!(scaler.limit(), 5);
        scaler.observe(next, true);
        assert_eq!(scaler.limit(), 6);
    }
}
