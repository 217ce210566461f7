//! A lock-free latency histogram with fixed, log-spaced buckets.
//!
//! Owns: the bucket layout (ten boundaries per decade from 100 µs to
//! 10,000 s, so an estimate is within 25 % of the truth), recording with a
//! handful of relaxed atomic adds (no lock, no allocation), point-in-time
//! copies ([`HistogramCounts`]) and what can be computed from them: counts
//! and sums, the difference of two copies, quantile estimates, and the
//! coarser cumulative buckets exported to Prometheus.
//! Never: decides what is measured, or reads a clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Mantissas of the boundaries of one decade (in units of 100 µs × 10^k).
const MANTISSAS: [u64; 10] = [100, 125, 150, 200, 250, 300, 400, 500, 600, 750];
const DECADES: usize = 8;

/// Upper bounds of the buckets, in microseconds: 100 µs … 7,500 s, then
/// 10,000 s. A value above the last bound lands in the overflow bucket.
pub const BOUNDS_US: [u64; BUCKETS - 1] = bounds();
/// Buckets, the overflow bucket included.
pub const BUCKETS: usize = MANTISSAS.len() * DECADES + 2;

const fn bounds() -> [u64; BUCKETS - 1] {
    let mut out = [0u64; BUCKETS - 1];
    let mut scale = 1u64;
    let mut decade = 0;
    while decade < DECADES {
        let mut m = 0;
        while m < MANTISSAS.len() {
            out[decade * MANTISSAS.len() + m] = MANTISSAS[m] * scale;
            m += 1;
        }
        scale *= 10;
        decade += 1;
    }
    out[BUCKETS - 2] = 100 * scale;
    out
}

/// Exported boundaries (seconds) for function durations: Lambda's range,
/// 1 ms to its 900 s limit (16 buckets and `+Inf`).
pub const DURATION_EXPORT_BOUNDS_S: &[f64] =
    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1000.0];
/// Exported boundaries (seconds) for init durations (Lambda's init limit is 10 s on demand).
pub const INIT_EXPORT_BOUNDS_S: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 150.0];
/// Exported boundaries (seconds) for asynchronous event ages (up to 6 hours).
pub const AGE_EXPORT_BOUNDS_S: &[f64] = &[0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 1000.0, 3000.0, 10000.0];

/// Recorded values: per-bucket counts, their sum in microseconds, the largest.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

/// The bucket a value of `us` microseconds falls in.
pub fn bucket_of(us: u64) -> usize {
    BOUNDS_US.partition_point(|&bound| bound < us)
}

impl Histogram {
    /// Records one value: three relaxed atomic operations.
    pub fn record(&self, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// True if nothing was ever recorded (one load per bucket).
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.load(Ordering::Relaxed) == 0)
    }

    /// A copy of the counts now (each bucket read once; the count is the
    /// sum of the buckets read, so the copy is self-consistent).
    pub fn counts(&self) -> HistogramCounts {
        let buckets = std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
        HistogramCounts {
            buckets,
            sum_us: self.sum_us.load(Ordering::Relaxed),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }
}

/// A point-in-time copy of a [`Histogram`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramCounts {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
    /// The largest value ever recorded (not meaningful for a difference).
    pub max_us: u64,
}

impl Default for HistogramCounts {
    fn default() -> Self {
        HistogramCounts { buckets: [0; BUCKETS], sum_us: 0, max_us: 0 }
    }
}

impl HistogramCounts {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_us as f64 / 1e6
    }

    /// What was recorded after `earlier` (a copy of the same histogram). A
    /// histogram that started over (its function was recreated) is taken
    /// whole.
    pub fn since(&self, earlier: &HistogramCounts) -> HistogramCounts {
        if self.buckets.iter().zip(&earlier.buckets).any(|(now, then)| now < then) {
            return self.clone();
        }
        HistogramCounts {
            buckets: std::array::from_fn(|i| self.buckets[i] - earlier.buckets[i]),
            sum_us: self.sum_us.saturating_sub(earlier.sum_us),
            max_us: self.max_us,
        }
    }

    /// The mean in microseconds, if anything was recorded.
    pub fn mean_us(&self) -> Option<u64> {
        let count = self.count();
        (count > 0).then(|| self.sum_us / count)
    }

    /// An estimate of quantile `q` (0..=1) in microseconds: linear within
    /// the bucket that holds it, so never off by more than that bucket's
    /// width (25 %). `None` if nothing was recorded.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if seen + n >= rank {
                let lower = if i == 0 { 0 } else { BOUNDS_US[i - 1] };
                let Some(&upper) = BOUNDS_US.get(i) else { return Some(lower) };
                let within = (rank - seen) as f64 / n as f64;
                return Some(lower + ((upper - lower) as f64 * within) as u64);
            }
            seen += n;
        }
        None
    }

    /// Per-bucket counts at the exported `bounds` (seconds), each bound
    /// being one of [`BOUNDS_US`], plus a final `+Inf` bucket: the shape
    /// prometheus-client's encoder takes (it accumulates them).
    pub fn export(&self, bounds_s: &[f64]) -> Vec<(f64, u64)> {
        let mut out = Vec::with_capacity(bounds_s.len() + 1);
        let mut next = 0usize;
        for &bound in bounds_s {
            let bound_us = (bound * 1e6).round() as u64;
            let last = bucket_of(bound_us);
            debug_assert_eq!(BOUNDS_US[last], bound_us, "exported bound {bound} s is an internal bound");
            let n: u64 = self.buckets[next..=last].iter().sum();
            out.push((bound, n));
            next = last + 1;
        }
        out.push((f64::INFINITY, self.buckets[next..].iter().sum()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_increasing_and_span_100us_to_10000s() {
        assert!(BOUNDS_US.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(BOUNDS_US[0], 100);
        assert_eq!(*BOUNDS_US.last().unwrap(), 10_000_000_000);
        for &bound in DURATION_EXPORT_BOUNDS_S.iter().chain(INIT_EXPORT_BOUNDS_S).chain(AGE_EXPORT_BOUNDS_S) {
            let us = (bound * 1e6).round() as u64;
            assert!(BOUNDS_US.contains(&us), "{bound} s must be an internal bound");
        }
    }

    #[test]
    fn a_value_lands_in_the_first_bucket_whose_bound_is_not_below_it() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(100), 0);
        assert_eq!(bucket_of(101), 1);
        assert_eq!(bucket_of(1_000), 10);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn counts_sum_and_export_match_what_was_recorded() {
        let h = Histogram::default();
        for ms in [1u64, 2, 3, 40, 900, 2_000_000] {
            h.record(Duration::from_millis(ms));
        }
        let c = h.counts();
        assert_eq!(c.count(), 6);
        assert_eq!(c.sum_us, (1 + 2 + 3 + 40 + 900 + 2_000_000) * 1000);
        assert_eq!(c.max_us, 2_000_000_000);
        let exported = c.export(DURATION_EXPORT_BOUNDS_S);
        let at = |bound: f64| exported.iter().find(|(b, _)| *b == bound).unwrap().1;
        assert_eq!(at(0.001), 1, "1 ms is within le=0.001");
        assert_eq!(at(0.005), 2);
        assert_eq!(at(0.05), 1);
        assert_eq!(at(1.0), 1);
        assert_eq!(at(f64::INFINITY), 1, "2,000 s is above 1,000 s");
        assert_eq!(exported.iter().map(|(_, n)| n).sum::<u64>(), 6);
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let h = Histogram::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let c = h.counts();
        let p50 = c.quantile_us(0.5).unwrap() as f64;
        let p99 = c.quantile_us(0.99).unwrap() as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.25, "p50 {p50}");
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.25, "p99 {p99}");
        assert_eq!(HistogramCounts::default().quantile_us(0.5), None);
    }

    #[test]
    fn a_difference_holds_only_what_came_after() {
        let h = Histogram::default();
        h.record(Duration::from_millis(5));
        let before = h.counts();
        h.record(Duration::from_secs(2));
        h.record(Duration::from_secs(2));
        let delta = h.counts().since(&before);
        assert_eq!(delta.count(), 2);
        assert_eq!(delta.sum_us, 4_000_000);
        assert_eq!(delta.mean_us(), Some(2_000_000));
        // A histogram that started over is taken whole.
        let fresh = Histogram::default();
        fresh.record(Duration::from_millis(1));
        assert_eq!(fresh.counts().since(&h.counts()).count(), 1);
    }
}
