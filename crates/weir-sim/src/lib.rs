//! weir-sim: `weir simulate`, a capacity planner that runs weir's real
//! concurrency core ([`weir_core::Controller`]) on a virtual clock.
//!
//! A scenario file describes an account, functions (reserved and
//! provisioned concurrency, memory, timeout, duration and init-time
//! distributions), synchronous traffic over time, SQS queues feeding
//! functions, and downstream resources such as a database. The engine
//! plays it forward event by event, deterministically for a seed, and
//! reports concurrency, throttles by Lambda reason, cold starts, latency,
//! queue backlog, downstream connections and cost.
//!
//! The simulator has no rules of its own: admission, throttling, scaling,
//! environment reuse, SQS poller scaling, batching and downstream latency
//! are all weir-core's, so what it predicts is what `weir serve` does. It
//! models only what surrounds the core: traffic, durations, and the SQS
//! queue service.
//!
//! ```no_run
//! let scenario = weir_sim::Scenario::load("examples/simulate/ten-x-traffic.toml".as_ref())?;
//! let report = weir_sim::simulate(&scenario, scenario.seed)?;
//! println!("{}", report.to_table());
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod cli;
pub mod cost;
pub mod dist;
mod engine;
mod events;
pub mod fidelity;
pub mod profile;
pub mod report;
pub mod scenario;
pub mod sqs;
pub mod svg;

pub use engine::Engine;
pub use report::Report;
pub use scenario::{Scenario, ScenarioError};

/// Runs a scenario with a seed and returns its report.
pub fn simulate(scenario: &Scenario, seed: u64) -> Result<Report, ScenarioError> {
    simulate_with_progress(scenario, seed, &mut |_| {})
}

/// [`simulate`], calling `progress` with the fraction of traffic time done.
pub fn simulate_with_progress(
    scenario: &Scenario,
    seed: u64,
    progress: &mut dyn FnMut(f64),
) -> Result<Report, ScenarioError> {
    let mut scenario = scenario.clone();
    scenario.seed = seed;
    let engine = Engine::new(&scenario, seed)?;
    Ok(engine.run(progress))
}
