//! Fidelity: the simulator and the real server see the same workload and
//! must agree on peak concurrency and throttles within 10%.
//!
//! The workload is `examples/simulate/fidelity.toml`'s: 50 rps, evenly
//! spaced, for 20 s, of a 200 ms handler with reserved concurrency 8. The
//! server runs it with a real `lambda_runtime` function; the handler
//! durations and cold-start inits it measured (its REPORT lines) become the
//! simulator's duration and init distributions, so the comparison checks
//! the concurrency model, not this machine's speed. The server's figures
//! are the core's own counters, read from `/metrics`.

use std::path::Path;
use std::time::Duration;

use weir_sim::fidelity::{FidelityPrediction, Observed, fidelity_scenario_path, predict};

use crate::support::*;

/// The value of one sample of an exposition line with these labels.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

fn field(line: &str, name: &str) -> Option<f64> {
    line.split('\t')
        .find_map(|f| f.trim().strip_prefix(name))
        .and_then(|v| v.trim_end_matches(" ms").trim().parse().ok())
}

#[tokio::test]
async fn the_simulator_predicts_what_the_server_does() {
    let nominal = predict(&fidelity_scenario_path(), None).unwrap().into_iter().next().unwrap();

    let weir = std::sync::Arc::new(Weir::start(&[]));
    let mut spec = rust_function("sleeper");
    spec["Timeout"] = serde_json::json!(3);
    weir.create_function(spec).await;
    weir.put_reserved("sleeper", 8).await;

    // The scenario's traffic, open loop.
    let begun = tokio::time::Instant::now();
    let calls: Vec<_> = (0..nominal.requests)
        .map(|i| {
            let weir = weir.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(begun + Duration::from_millis(20 * i)).await;
                weir.invoke("sleeper", serde_json::json!({"sleep_ms": 200})).await.status
            })
        })
        .collect();
    let mut throttled_responses = 0;
    for call in calls {
        match call.await.unwrap() {
            200 => {}
            429 => throttled_responses += 1,
            other => panic!("unexpected status {other}"),
        }
    }

    // What the core counted.
    let text = weir.call("GET", "/metrics", &[], "").await.text();
    let f = "function_name=\"sleeper\"";
    let observed = Observed {
        peak_concurrency: metric(&text, "weir_peak_concurrent_executions", &[f]) as u32,
        throttles: metric(&text, "weir_throttles_total", &[f]) as u64,
    };
    assert_eq!(observed.throttles, throttled_responses, "every 429 is a counted throttle");

    // What the simulator predicts for the durations the server measured.
    let logs = weir.call("GET", "/_weir/logs/sleeper", &[], "").await.text();
    let reports: Vec<String> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["line"].as_str().map(str::to_string))
        .filter(|l| l.starts_with("REPORT"))
        .collect();
    let durations: Vec<String> =
        reports.iter().filter_map(|r| field(r, "Duration: ")).map(|d| format!("{d:.3}")).collect();
    let inits: Vec<f64> = reports.iter().filter_map(|r| field(r, "Init Duration: ")).collect();
    let init_ms = inits.iter().sum::<f64>() / inits.len().max(1) as f64;
    let scenario = std::fs::read_to_string(fidelity_scenario_path())
        .unwrap()
        .replace(
            "duration = { kind = \"fixed\", ms = 200 }",
            &format!("duration = {{ kind = \"empirical\", samples_ms = [{}] }}", durations.join(", ")),
        )
        .replace("init = { kind = \"fixed\", ms = 50 }", &format!("init = {{ kind = \"fixed\", ms = {init_ms:.3} }}"));
    let scenario = weir_sim::Scenario::parse(&scenario, Path::new(".")).unwrap();
    let report = weir_sim::simulate(&scenario, 7).unwrap();
    let f = &report.functions[0];
    let prediction = FidelityPrediction {
        function: f.name.clone(),
        requests: f.requests,
        invocations: f.invocations,
        peak_concurrency: f.peak_concurrency,
        throttles: f.throttles_total,
    };
    eprintln!("fidelity: nominal {nominal:?}; measured-duration prediction {prediction:?}; server {observed:?}");
    assert!(prediction.agrees_with(&observed, 0.10), "predicted {prediction:?}, observed {observed:?}");
}
