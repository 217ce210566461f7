//! The per-function scaling rate (spec §2.1).
//!
//! Lambda lets each function add at most 1,000 execution environments every
//! 10 seconds, refilled continuously, with unused rate never banked. weir
//! models that as a sliding window: a new environment is allowed when fewer
//! than `environments` were started in the trailing `window`. Each grant
//! returns to the budget exactly one window after it was used, so the budget
//! refills continuously, never exceeds the rate, and any window of that
//! length contains at most `environments` new environments (a token bucket
//! would allow up to twice that right after a burst).

use std::collections::VecDeque;
use std::time::Duration;

use crate::config::ScalingRate;
use crate::time::Instant;

/// Start times of the environments created in the trailing window.
/// Grows only as far as the function actually scales (at most `environments`).
#[derive(Debug, Default)]
pub(crate) struct ScalingWindow {
    grants: VecDeque<Instant>,
}

impl ScalingWindow {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some(&oldest) = self.grants.front() {
            if oldest + window <= now {
                self.grants.pop_front();
            } else {
                break;
            }
        }
    }

    /// Says whether a grant is available now, or how long until one returns.
    pub(crate) fn check(&mut self, now: Instant, rate: ScalingRate) -> Result<(), Duration> {
        self.expire(now, rate.window);
        if (self.grants.len() as u64) < u64::from(rate.environments) {
            return Ok(());
        }
        let oldest = self.grants.front().copied().unwrap_or(now);
        Err((oldest + rate.window).saturating_since(now))
    }

    /// Takes one grant, or says how long until one returns.
    pub(crate) fn try_acquire(&mut self, now: Instant, rate: ScalingRate) -> Result<(), Duration> {
        self.check(now, rate)?;
        self.grants.push_back(now);
        Ok(())
    }

    /// Grants still inside the window ending at `now`.
    #[cfg(test)]
    pub(crate) fn used(&self, now: Instant, window: Duration) -> usize {
        self.grants.iter().filter(|&&t| t + window > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(environments: u32, secs: u64) -> ScalingRate {
        ScalingRate { environments, window: Duration::from_secs(secs) }
    }

    #[test]
    fn a_full_burst_then_grants_return_one_window_after_use() {
        let mut window = ScalingWindow::default();
        let rate = rate(3, 10);
        let t0 = Instant::from_secs(100);
        for _ in 0..3 {
            window.try_acquire(t0, rate).unwrap();
        }
        assert_eq!(window.try_acquire(t0, rate), Err(Duration::from_secs(10)));
        assert_eq!(window.try_acquire(t0 + Duration::from_secs(4), rate), Err(Duration::from_secs(6)));
        assert!(window.try_acquire(t0 + Duration::from_secs(10), rate).is_ok());
    }

    #[test]
    fn unused_rate_is_not_banked() {
        let mut window = ScalingWindow::default();
        let rate = rate(2, 10);
        // A long quiet period does not let the function start more than the rate.
        let later = Instant::from_secs(3_600);
        assert!(window.try_acquire(later, rate).is_ok());
        assert!(window.try_acquire(later, rate).is_ok());
        assert!(window.try_acquire(later, rate).is_err());
        assert_eq!(window.used(later, rate.window), 2);
    }

    #[test]
    fn continuous_refill_follows_the_order_of_use() {
        let mut window = ScalingWindow::default();
        let rate = rate(2, 10);
        window.try_acquire(Instant::from_secs(0), rate).unwrap();
        window.try_acquire(Instant::from_secs(5), rate).unwrap();
        assert!(window.try_acquire(Instant::from_secs(9), rate).is_err());
        assert!(window.try_acquire(Instant::from_secs(10), rate).is_ok(), "the first grant returned at 10 s");
        assert_eq!(window.try_acquire(Instant::from_secs(12), rate), Err(Duration::from_secs(3)));
    }
}
