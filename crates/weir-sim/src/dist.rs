//! Seeded randomness and the distributions workloads are drawn from.
//!
//! Every random draw in a simulation comes from a [`SimRng`]: ChaCha8
//! seeded from the scenario seed and a stream number, so one seed replays a
//! run exactly and each traffic source and function has its own stream
//! (changing one function does not reshuffle another's arrivals). The
//! samplers (normal via Box–Muller, lognormal, exponential, empirical) are
//! written here so their values never change under a dependency upgrade.
//! This module owns no simulation state and never reads a clock.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A deterministic random stream.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
    /// The second value of the last Box–Muller pair.
    spare_normal: Option<f64>,
}

impl SimRng {
    /// Stream `stream` of the run seeded with `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        SimRng { inner, spare_normal: None }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    pub fn unit_open(&mut self) -> f64 {
        1.0 - self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Exponential with mean 1.
    pub fn exponential(&mut self) -> f64 {
        -self.unit_open().ln()
    }

    /// Standard normal (Box–Muller; the pair's second value is kept).
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let radius = (-2.0 * self.unit_open().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.unit();
        self.spare_normal = Some(radius * angle.sin());
        radius * angle.cos()
    }

    /// Uniform index below `len` (`len` > 0).
    pub fn index(&mut self, len: usize) -> usize {
        ((self.inner.next_u64() as u128 * len as u128) >> 64) as usize
    }
}

/// A distribution of durations, sampled in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    Fixed {
        nanos: u64,
    },
    /// Normal, truncated at zero.
    Normal {
        mean_nanos: f64,
        stddev_nanos: f64,
    },
    /// `exp(mu + sigma·Z)` nanoseconds.
    Lognormal {
        mu: f64,
        sigma: f64,
    },
    Exponential {
        mean_nanos: f64,
    },
    /// One of the samples, uniformly.
    Empirical {
        samples_nanos: Vec<u64>,
    },
}

/// z-score of the 99th percentile of the standard normal.
pub const Z_P99: f64 = 2.326_347_874_040_841;

impl Sampler {
    pub fn fixed_millis(ms: f64) -> Sampler {
        Sampler::Fixed { nanos: millis_to_nanos(ms) }
    }

    /// A lognormal with the given median and either `sigma` or the 99th
    /// percentile.
    pub fn lognormal(median_ms: f64, sigma: f64) -> Sampler {
        Sampler::Lognormal { mu: (median_ms * 1e6).ln(), sigma }
    }

    /// `sigma` such that the 99th percentile is `p99_ms` for `median_ms`.
    pub fn sigma_for_p99(median_ms: f64, p99_ms: f64) -> f64 {
        (p99_ms / median_ms).ln() / Z_P99
    }

    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        match self {
            Sampler::Fixed { nanos } => *nanos,
            Sampler::Normal { mean_nanos, stddev_nanos } => to_nanos(mean_nanos + stddev_nanos * rng.standard_normal()),
            Sampler::Lognormal { mu, sigma } => to_nanos((mu + sigma * rng.standard_normal()).exp()),
            Sampler::Exponential { mean_nanos } => to_nanos(mean_nanos * rng.exponential()),
            Sampler::Empirical { samples_nanos } => samples_nanos[rng.index(samples_nanos.len())],
        }
    }

    /// The mean, for reports and arithmetic checks.
    pub fn mean_nanos(&self) -> f64 {
        match self {
            Sampler::Fixed { nanos } => *nanos as f64,
            Sampler::Normal { mean_nanos, .. } => mean_nanos.max(0.0),
            Sampler::Lognormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Sampler::Exponential { mean_nanos } => *mean_nanos,
            Sampler::Empirical { samples_nanos } => {
                samples_nanos.iter().map(|&n| n as f64).sum::<f64>() / samples_nanos.len() as f64
            }
        }
    }
}

pub fn millis_to_nanos(ms: f64) -> u64 {
    to_nanos(ms * 1e6)
}

fn to_nanos(value: f64) -> u64 {
    if value.is_nan() || value <= 0.0 {
        0
    } else if value >= u64::MAX as f64 {
        u64::MAX
    } else {
        (value + 0.5) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of(sampler: &Sampler, n: usize) -> f64 {
        let mut rng = SimRng::new(7, 0);
        (0..n).map(|_| sampler.sample(&mut rng) as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn the_same_seed_and_stream_replay_and_streams_differ() {
        let (mut a, mut b, mut c) = (SimRng::new(1, 0), SimRng::new(1, 0), SimRng::new(1, 1));
        let xs: Vec<f64> = (0..5).map(|_| a.unit()).collect();
        let ys: Vec<f64> = (0..5).map(|_| b.unit()).collect();
        let zs: Vec<f64> = (0..5).map(|_| c.unit()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn samplers_have_the_means_they_promise() {
        let n = 200_000;
        let close = |got: f64, want: f64| (got - want).abs() / want < 0.02;
        let normal = Sampler::Normal { mean_nanos: 100e6, stddev_nanos: 10e6 };
        assert!(close(mean_of(&normal, n), 100e6));
        let exp = Sampler::Exponential { mean_nanos: 50e6 };
        assert!(close(mean_of(&exp, n), 50e6));
        let logn = Sampler::lognormal(80.0, 0.5);
        assert!(close(mean_of(&logn, n), logn.mean_nanos()));
        let emp = Sampler::Empirical { samples_nanos: vec![10, 20, 30] };
        assert!(close(mean_of(&emp, n), 20.0));
        assert_eq!(mean_of(&Sampler::fixed_millis(200.0), 10), 200e6);
    }

    #[test]
    fn the_lognormal_p99_parameterisation_hits_its_percentile() {
        let sampler = Sampler::lognormal(100.0, Sampler::sigma_for_p99(100.0, 400.0));
        let mut rng = SimRng::new(3, 0);
        let mut xs: Vec<u64> = (0..100_000).map(|_| sampler.sample(&mut rng)).collect();
        xs.sort_unstable();
        let p50 = xs[50_000] as f64 / 1e6;
        let p99 = xs[99_000] as f64 / 1e6;
        assert!((p50 - 100.0).abs() < 3.0, "p50 {p50}");
        assert!((p99 - 400.0).abs() < 25.0, "p99 {p99}");
    }

    #[test]
    fn a_truncated_normal_never_goes_negative() {
        let sampler = Sampler::Normal { mean_nanos: 1.0, stddev_nanos: 1e9 };
        let mut rng = SimRng::new(9, 0);
        assert!((0..10_000).all(|_| sampler.sample(&mut rng) < u64::MAX));
    }
}
