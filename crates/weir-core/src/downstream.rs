//! A downstream resource that functions call, such as a database: a fixed
//! number of connections and a latency that grows with the connections in
//! use. It is how "the database slows down, concurrency doubles" is
//! modelled: a slower call keeps each invocation busy longer, which raises
//! concurrency, which opens more connections, which slows calls further.
//!
//! Latency with `n` of `max` connections in use (this call's included):
//! `base + (at_max − base) × (n / max)^exponent`, times a slowdown factor
//! the driver passes in (100 = normal, 300 = three times slower). A call
//! that finds every connection taken is refused, as a database refuses a
//! client beyond `max_connections`. Integer arithmetic only, no clock, no
//! IO: the node can use the same budget to protect a real resource.

use std::time::Duration;

use crate::error::ConfigError;

/// Validated settings of one downstream resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownstreamConfig {
    pub max_connections: u32,
    /// Latency of a call when it is the only one.
    pub base_latency: Duration,
    /// Latency of a call when every connection is in use.
    pub latency_at_max: Duration,
    /// Shape of the growth between the two: 1 is linear, 2 (a good default)
    /// stays flat longer and rises steeply near the limit. 1–8.
    pub curve_exponent: u32,
}

impl DownstreamConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::invalid("max_connections must be at least 1"));
        }
        if self.latency_at_max < self.base_latency {
            return Err(ConfigError::invalid("latency at max connections must not be below the base latency"));
        }
        if !(1..=8).contains(&self.curve_exponent) {
            return Err(ConfigError::invalid("curve exponent must be between 1 and 8"));
        }
        Ok(())
    }

    /// Latency of one call with `in_use` connections open (this call's
    /// included), at normal speed.
    pub fn latency_with(&self, in_use: u32) -> Duration {
        let base = self.base_latency.as_nanos();
        let extra = self.latency_at_max.as_nanos() - base;
        // (n / max)^exponent in 32.32 fixed point; ≤ 1.0 so nothing overflows.
        const ONE: u128 = 1 << 32;
        let ratio = (u128::from(in_use.min(self.max_connections)) << 32) / u128::from(self.max_connections);
        let mut power = ONE;
        for _ in 0..self.curve_exponent {
            power = power * ratio / ONE;
        }
        let scaled = extra * power / ONE;
        Duration::from_nanos(u64::try_from(base + scaled).unwrap_or(u64::MAX))
    }
}

/// A call was refused: every connection is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionRefused;

/// Connections of one downstream resource and their counters.
#[derive(Clone, Debug)]
pub struct Downstream {
    config: DownstreamConfig,
    in_use: u32,
    peak_in_use: u32,
    calls: u64,
    refused: u64,
}

impl Downstream {
    pub fn new(config: DownstreamConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Downstream { config, in_use: 0, peak_in_use: 0, calls: 0, refused: 0 })
    }

    pub fn config(&self) -> &DownstreamConfig {
        &self.config
    }

    /// Opens a connection for one caller and says how long each call on it
    /// takes; `slowdown_percent` scales that latency (100 = normal).
    /// Refused when every connection is taken.
    pub fn acquire(&mut self, slowdown_percent: u32) -> Result<Duration, ConnectionRefused> {
        if self.in_use >= self.config.max_connections {
            self.refused += 1;
            return Err(ConnectionRefused);
        }
        self.in_use += 1;
        self.calls += 1;
        self.peak_in_use = self.peak_in_use.max(self.in_use);
        let latency = self.config.latency_with(self.in_use);
        Ok(scale(latency, slowdown_percent))
    }

    /// Closes a connection opened by [`Downstream::acquire`].
    pub fn release(&mut self) {
        debug_assert!(self.in_use > 0, "release without acquire");
        self.in_use = self.in_use.saturating_sub(1);
    }

    pub fn in_use(&self) -> u32 {
        self.in_use
    }
    pub fn peak_in_use(&self) -> u32 {
        self.peak_in_use
    }
    /// Connections granted so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }
    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

fn scale(latency: Duration, percent: u32) -> Duration {
    let nanos = latency.as_nanos() * u128::from(percent) / 100;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> DownstreamConfig {
        DownstreamConfig {
            max_connections: 100,
            base_latency: Duration::from_millis(20),
            latency_at_max: Duration::from_millis(220),
            curve_exponent: 2,
        }
    }

    #[test]
    fn latency_grows_with_connections_in_use_along_the_curve() {
        let db = database();
        assert_eq!(db.latency_with(0), Duration::from_millis(20));
        assert_eq!(db.latency_with(50), Duration::from_millis(70), "20 + 200 × 0.5²");
        assert_eq!(db.latency_with(100), Duration::from_millis(220));
        assert_eq!(db.latency_with(500), Duration::from_millis(220), "capped at max");
        let linear = DownstreamConfig { curve_exponent: 1, ..db };
        assert_eq!(linear.latency_with(50), Duration::from_millis(120));
    }

    #[test]
    fn the_connection_beyond_the_maximum_is_refused_until_one_is_released() {
        let mut db = Downstream::new(DownstreamConfig { max_connections: 2, ..database() }).unwrap();
        assert!(db.acquire(100).is_ok());
        assert!(db.acquire(100).is_ok());
        assert_eq!(db.acquire(100), Err(ConnectionRefused));
        assert_eq!((db.in_use(), db.peak_in_use(), db.calls(), db.refused()), (2, 2, 2, 1));
        db.release();
        assert!(db.acquire(100).is_ok());
    }

    #[test]
    fn a_slowdown_scales_latency() {
        let mut db = Downstream::new(database()).unwrap();
        let normal = db.config().latency_with(1);
        assert_eq!(db.acquire(300).unwrap(), normal * 3);
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(Downstream::new(DownstreamConfig { max_connections: 0, ..database() }).is_err());
        assert!(Downstream::new(DownstreamConfig { latency_at_max: Duration::from_millis(1), ..database() }).is_err());
        assert!(Downstream::new(DownstreamConfig { curve_exponent: 0, ..database() }).is_err());
    }
}
