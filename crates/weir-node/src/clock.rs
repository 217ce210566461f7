//! The platform clock: the one place the node reads time.
//!
//! It maps real time (or a manual, test-advanced time) to the core's
//! [`weir_core::Instant`] and to epoch milliseconds for the wire and the
//! store. In manual mode time stands still until [`Clock::advance`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::ClockMode;

#[derive(Debug)]
pub struct Clock {
    mode: ClockMode,
    origin: std::time::Instant,
    /// Epoch milliseconds at `origin`.
    origin_epoch_ms: u64,
    /// Manual mode: nanoseconds advanced since `origin`.
    manual_nanos: AtomicU64,
    /// Bumped on every manual advance, to wake sleepers.
    advanced: tokio::sync::watch::Sender<u64>,
}

impl Clock {
    pub fn new(mode: ClockMode) -> Self {
        let origin_epoch_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Clock {
            mode,
            origin: std::time::Instant::now(),
            origin_epoch_ms,
            manual_nanos: AtomicU64::new(0),
            advanced: tokio::sync::watch::channel(0).0,
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    fn elapsed_nanos(&self) -> u64 {
        match self.mode {
            ClockMode::Wall => self.origin.elapsed().as_nanos() as u64,
            ClockMode::Manual => self.manual_nanos.load(Ordering::Acquire),
        }
    }

    /// Now, on the core's scale (nanoseconds since the node started). The
    /// scale starts one hour in, so "an hour ago" is never before zero.
    pub fn now(&self) -> weir_core::Instant {
        weir_core::Instant::from_nanos(HOUR_NANOS + self.elapsed_nanos())
    }

    /// Now, in epoch milliseconds.
    pub fn epoch_ms(&self) -> u64 {
        self.origin_epoch_ms + self.elapsed_nanos() / 1_000_000
    }

    /// The epoch milliseconds of a core instant.
    pub fn epoch_ms_of(&self, at: weir_core::Instant) -> u64 {
        self.origin_epoch_ms + at.as_nanos().saturating_sub(HOUR_NANOS) / 1_000_000
    }

    /// How long from now until `at` in real time (wall mode only).
    pub fn until(&self, at: weir_core::Instant) -> Duration {
        at.saturating_since(self.now())
    }

    /// Moves a manual clock forward. Returns false on a wall clock.
    pub fn advance(&self, by: Duration) -> bool {
        if self.mode != ClockMode::Manual {
            return false;
        }
        self.manual_nanos.fetch_add(by.as_nanos() as u64, Ordering::AcqRel);
        self.advanced.send_modify(|n| *n = n.wrapping_add(1));
        true
    }

    /// Sleeps until the clock reads `epoch_ms` (real time on a wall clock;
    /// until advanced far enough on a manual one).
    pub async fn sleep_until_epoch_ms(&self, epoch_ms: u64) {
        match self.mode {
            ClockMode::Wall => {
                let wait = epoch_ms.saturating_sub(self.epoch_ms());
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
            ClockMode::Manual => {
                let mut advanced = self.advanced.subscribe();
                while self.epoch_ms() < epoch_ms {
                    if advanced.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Sleeps for `duration` of this clock's time.
    pub async fn sleep(&self, duration: Duration) {
        self.sleep_until_epoch_ms(self.epoch_ms() + duration.as_millis() as u64).await;
    }
}

/// Wall-clock epoch milliseconds, whatever the platform clock's mode: the
/// time function runtimes and log lines read (`Lambda-Runtime-Deadline-Ms`,
/// request dates, log stream names).
pub fn wall_epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

const HOUR_NANOS: u64 = 3_600 * 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_advanced() {
        let clock = Clock::new(ClockMode::Manual);
        let (t0, e0) = (clock.now(), clock.epoch_ms());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), t0);
        assert!(clock.advance(Duration::from_secs(60)));
        assert_eq!(clock.now().saturating_since(t0), Duration::from_secs(60));
        assert_eq!(clock.epoch_ms() - e0, 60_000);
        assert_eq!(clock.epoch_ms_of(clock.now()), clock.epoch_ms());
    }

    #[test]
    fn a_wall_clock_cannot_be_advanced() {
        let clock = Clock::new(ClockMode::Wall);
        assert!(!clock.advance(Duration::from_secs(1)));
    }
}
