//! `weir simulate` as the binary runs it, through `cli::execute`: real
//! scenario files on disk, real output files in a temporary directory.

use std::path::Path;

use weir_sim::cli::{SimulateArgs, execute};
use weir_sim::fidelity::{FidelityPrediction, Observed, fidelity_scenario_path, predict};

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/simulate").join(name)
}

#[test]
fn out_writes_json_csv_summary_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("short.toml");
    let text = std::fs::read_to_string(example("queue-and-database.toml")).unwrap();
    std::fs::write(&scenario, text.replace("duration_s = 1500", "duration_s = 20")).unwrap();
    let out = dir.path().join("out");
    let args = SimulateArgs { scenario, seed: Some(5), json: true, out: Some(out.clone()) };
    let report = execute(&args).unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    for key in ["functions", "queues", "downstreams", "account"] {
        assert!(json.get(key).is_some(), "top-level key {key}");
    }
    let checkout = &json["functions"][0];
    assert_eq!(checkout["name"], "checkout");
    for key in ["peak_concurrency", "throttles", "cold_starts", "invocations", "latency_ms"] {
        assert!(checkout.get(key).is_some(), "function key {key}");
    }
    for reason in [
        "ConcurrentInvocationLimitExceeded",
        "ReservedFunctionConcurrentInvocationLimitExceeded",
        "FunctionInvocationRateLimitExceeded",
    ] {
        assert!(checkout["throttles"].get(reason).is_some(), "throttle reason {reason}");
    }
    assert_eq!(json["seed"], 5);
    assert_eq!(report.seed, 5);

    let csv = std::fs::read_to_string(out.join("per-second.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("second,account.concurrency,checkout.concurrency"));
    assert!(header.contains("orders.oldest_age_s") && header.contains("orders-db.connections"));
    assert_eq!(lines.count(), report.series.rows());
    assert!(report.series.rows() >= 20);

    for plot in ["concurrency.svg", "throttles.svg", "queue-age.svg", "queue-depth.svg", "connections.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{plot}");
    }
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(summary.contains("checkout") && summary.contains("orders-db"));
}

#[test]
fn the_seed_flag_overrides_the_file_and_replays_byte_for_byte() {
    let run = |seed| {
        let args = SimulateArgs { scenario: example("fidelity.toml"), seed, json: true, out: None };
        execute(&args).unwrap().to_json()
    };
    assert_eq!(run(Some(9)), run(Some(9)));
    assert!(run(None).contains("\"seed\": 7"), "the file's seed by default");
}

#[test]
fn a_broken_scenario_is_an_error_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("broken.toml");
    std::fs::write(&scenario, "duration_s = 10\n[[functions]]\nname = \"f\"\n").unwrap();
    let err = execute(&SimulateArgs { scenario, seed: None, json: false, out: None }).unwrap_err().to_string();
    assert!(err.contains("broken.toml") && err.contains("duration"), "{err}");
}

/// The simulator's half of the fidelity check (the server's half compares
/// `weir serve` against this prediction).
#[test]
fn the_fidelity_scenario_predicts_eight_concurrent_and_one_in_five_throttled() {
    let predictions = predict(&fidelity_scenario_path(), None).unwrap();
    let FidelityPrediction { function, requests, peak_concurrency, throttles, .. } = &predictions[0];
    assert_eq!(function, "sleeper");
    assert_eq!(*requests, 1_000);
    assert_eq!(*peak_concurrency, 8);
    // 10 needed, 8 allowed: 2 of every 10 throttled.
    assert!((195..=205).contains(throttles), "throttles {throttles}");
    assert!(predictions[0].agrees_with(&Observed { peak_concurrency: 8, throttles: *throttles }, 0.10));
}
