//! The simulator's side of the fidelity check: run a small scenario (see
//! `examples/simulate/fidelity.toml`: 50 rps for 20 s of a 200 ms handler
//! with reserved concurrency 8) and state what the real server should show.
//! The server side, `crates/weir/tests/it/fidelity.rs`, drives `weir serve`
//! with the same traffic, reads its metrics and compares them with a
//! [`FidelityPrediction`] via [`FidelityPrediction::agrees_with`].

use std::path::{Path, PathBuf};

use crate::{Scenario, simulate};

/// What the simulator predicts for one function.
#[derive(Clone, Debug, PartialEq)]
pub struct FidelityPrediction {
    pub function: String,
    pub requests: u64,
    pub invocations: u64,
    pub peak_concurrency: u32,
    pub throttles: u64,
}

/// What the real server showed for one function.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub peak_concurrency: u32,
    pub throttles: u64,
}

impl FidelityPrediction {
    /// True when peak concurrency and throttles agree within `tolerance`
    /// (0.10 for 10%) of the prediction, with one unit of slack for small
    /// counts.
    pub fn agrees_with(&self, observed: &Observed, tolerance: f64) -> bool {
        within(u64::from(self.peak_concurrency), u64::from(observed.peak_concurrency), tolerance)
            && within(self.throttles, observed.throttles, tolerance)
    }
}

fn within(predicted: u64, observed: u64, tolerance: f64) -> bool {
    let allowed = (predicted as f64 * tolerance).max(1.0);
    (predicted as f64 - observed as f64).abs() <= allowed
}

/// `examples/simulate/fidelity.toml` in this repository.
pub fn fidelity_scenario_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/simulate/fidelity.toml")
}

/// Simulates a scenario file and returns the prediction for each function.
pub fn predict(scenario_path: &Path, seed: Option<u64>) -> anyhow::Result<Vec<FidelityPrediction>> {
    let scenario = Scenario::load(scenario_path)?;
    let report = simulate(&scenario, seed.unwrap_or(scenario.seed))?;
    Ok(report
        .functions
        .iter()
        .map(|f| FidelityPrediction {
            function: f.name.clone(),
            requests: f.requests,
            invocations: f.invocations,
            peak_concurrency: f.peak_concurrency,
            throttles: f.throttles_total,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_allows_ten_percent_and_one_unit() {
        let p = FidelityPrediction {
            function: "f".into(),
            requests: 1_000,
            invocations: 800,
            peak_concurrency: 8,
            throttles: 200,
        };
        assert!(p.agrees_with(&Observed { peak_concurrency: 8, throttles: 219 }, 0.10));
        assert!(p.agrees_with(&Observed { peak_concurrency: 9, throttles: 181 }, 0.10));
        assert!(!p.agrees_with(&Observed { peak_concurrency: 8, throttles: 230 }, 0.10));
        assert!(!p.agrees_with(&Observed { peak_concurrency: 10, throttles: 200 }, 0.10));
    }
}
