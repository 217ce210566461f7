//! What the engine observes of each finished invocation, per function.
//!
//! Owns: a table indexed by [`FunctionId`] (function ids are dense and never
//! reused) of duration and init-duration histograms and the largest
//! `Max Memory Used` reported. The engine calls [`Observations::record`]
//! once per finished invocation: a few relaxed atomic operations, no lock,
//! and no allocation except the first time a block of 256 functions is
//! touched. Never: counts invocations, errors or throttles (the core's
//! exact counters do), or reads a clock.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use weir_core::FunctionId;

use super::histogram::Histogram;

/// Functions per lazily allocated block.
const BLOCK: usize = 256;
/// Blocks: room for a million functions.
const BLOCKS: usize = 4096;

/// One function's observations.
#[derive(Debug, Default)]
pub struct FunctionObservations {
    /// REPORT `Duration` of every invocation that ran in an environment.
    pub duration: Histogram,
    /// REPORT `Init Duration` (on-demand cold starts).
    pub init_duration: Histogram,
    /// The largest REPORT `Max Memory Used`, in MiB.
    pub max_memory_used_mb: AtomicU32,
}

/// Observations of every function, indexed by [`FunctionId`].
pub struct Observations {
    blocks: Box<[OnceLock<Box<[FunctionObservations]>>]>,
}

impl Default for Observations {
    fn default() -> Self {
        Observations { blocks: (0..BLOCKS).map(|_| OnceLock::new()).collect() }
    }
}

impl std::fmt::Debug for Observations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let allocated = self.blocks.iter().filter(|b| b.get().is_some()).count();
        f.debug_struct("Observations").field("allocated_blocks", &allocated).finish()
    }
}

fn position(function: FunctionId) -> (usize, usize) {
    let index = function.as_u32() as usize;
    (index / BLOCK, index % BLOCK)
}

impl Observations {
    /// Records one finished invocation of `function`: its duration, the
    /// environment's peak memory so far, and its init time on a cold start.
    pub fn record(&self, function: FunctionId, duration: Duration, max_memory_used_mb: u32, init: Option<Duration>) {
        let Some(observed) = self.get_or_create(function) else { return };
        observed.duration.record(duration);
        observed.max_memory_used_mb.fetch_max(max_memory_used_mb, Ordering::Relaxed);
        if let Some(init) = init {
            observed.init_duration.record(init);
        }
    }

    /// The observations of `function`, if it was ever observed.
    pub fn get(&self, function: FunctionId) -> Option<&FunctionObservations> {
        let (block, slot) = position(function);
        self.blocks.get(block)?.get().map(|b| &b[slot])
    }

    fn get_or_create(&self, function: FunctionId) -> Option<&FunctionObservations> {
        let (block, slot) = position(function);
        let block =
            self.blocks.get(block)?.get_or_init(|| (0..BLOCK).map(|_| FunctionObservations::default()).collect());
        Some(&block[slot])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> FunctionId {
        // Function ids are only made by the core; build real ones.
        let mut core = weir_core::Controller::new(weir_core::ControllerConfig::default());
        let now = weir_core::Instant::from_nanos(0);
        let mut last = None;
        for i in 0..=n {
            last = Some(core.create_function(now, &format!("f{i}"), weir_core::RuntimeSettings::default()).unwrap());
        }
        last.unwrap()
    }

    #[test]
    fn records_land_on_their_function_and_nowhere_else() {
        let observations = Observations::default();
        let (a, b) = (id(0), id(300));
        assert!(observations.get(a).is_none());
        observations.record(a, Duration::from_millis(12), 40, Some(Duration::from_millis(80)));
        observations.record(a, Duration::from_millis(3), 25, None);
        let seen = observations.get(a).unwrap();
        assert_eq!(seen.duration.counts().count(), 2);
        assert_eq!(seen.duration.counts().sum_us, 15_000);
        assert_eq!(seen.init_duration.counts().count(), 1);
        assert_eq!(seen.max_memory_used_mb.load(Ordering::Relaxed), 40);
        assert!(observations.get(b).is_none(), "another block is not allocated by a record elsewhere");
        observations.record(b, Duration::from_millis(1), 1, None);
        assert_eq!(observations.get(b).unwrap().duration.counts().count(), 1);
        assert_eq!(observations.get(a).unwrap().duration.counts().count(), 2);
    }

    /// `cargo test -p weir-node --release --lib record_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "prints a measurement; run in release"]
    fn record_cost() {
        let observations = Observations::default();
        let function = id(3);
        observations.record(function, Duration::from_millis(1), 1, None);
        let n = 10_000_000u64;
        let started = std::time::Instant::now();
        for i in 0..n {
            let duration = Duration::from_micros(std::hint::black_box(50 + i % 5_000));
            observations.record(std::hint::black_box(function), duration, 30, None);
        }
        let per = started.elapsed() / n as u32;
        assert_eq!(observations.get(function).unwrap().duration.counts().count(), n + 1);
        eprintln!("Observations::record: {per:?} per finished invocation");
    }
}
