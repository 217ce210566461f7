//! Issue-4 figures: durable `Event` accepts per second with 64 concurrent
//! clients (each committed before its 202), and the latency from a 202 to
//! the handler starting when capacity is free.
//!
//! `cargo build --release -p weir -p weir-bench && target/release/async_bench [--seconds N]`

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use serde_json::json;
use weir_bench::{Http, Load, Server, closed_loop, create, python_function, rust_function};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Events for the latency measurement.
    #[arg(long, default_value_t = 200)]
    events: usize,
}

const STAMP: &str = r#"
import json, os, time
def handler(event, context):
    now = time.time()
    with open(os.environ["STAMP_FILE"], "a") as f:
        f.write(json.dumps({"id": event["id"], "started": now}) + "\n")
"#;

fn wall() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = Http::new();
    let server = Server::start(&[]).await;
    let e = server.endpoint.clone();

    // Accept throughput: the function may run one event at a time, so the
    // measurement is the durable accept path, not the handler.
    create(&http, &e, &rust_function("sink", &weir_testfns::testfn_path(), 60)).await;
    http.json(
        "PUT",
        &format!("{e}/2017-10-31/functions/sink/concurrency"),
        &json!({"ReservedConcurrentExecutions": 1}),
    )
    .await?;
    let uri = format!("{e}/2015-03-31/functions/sink/invocations");
    let load = Load {
        uri: &uri,
        headers: &[("x-amz-invocation-type", "Event")],
        body: Bytes::from_static(br#"{"sleep_ms": 60000}"#),
        expected_status: 202,
        concurrency: args.clients,
        warmup: Duration::from_secs(2),
        duration: Duration::from_secs(args.seconds),
    };
    let report = closed_loop(&http, load).await;
    println!("{}", report.line(&format!("durable Event accepts, {} clients", args.clients)));

    // 202 to handler start, with capacity free.
    let stamps = std::env::temp_dir().join(format!("weir-async-bench-{}.jsonl", std::process::id()));
    let mut spec = python_function("stamp", STAMP, 10);
    spec["Environment"] = json!({"Variables": {"STAMP_FILE": stamps.to_str().unwrap()}});
    create(&http, &e, &spec).await;
    let uri = format!("{e}/2015-03-31/functions/stamp/invocations");
    // One event warms the environment.
    http.post(&uri, &[("x-amz-invocation-type", "Event")], Bytes::from(json!({"id": "warm"}).to_string())).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut accepted = std::collections::HashMap::new();
    for i in 0..args.events {
        let id = format!("e{i}");
        let (status, _) =
            http.post(&uri, &[("x-amz-invocation-type", "Event")], Bytes::from(json!({"id": id}).to_string())).await?;
        anyhow::ensure!(status == 202);
        accepted.insert(id, wall());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies: Vec<f64> = std::fs::read_to_string(&stamps)?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let at = accepted.get(v["id"].as_str()?)?;
            Some((v["started"].as_f64()? - at) * 1_000.0)
        })
        .collect();
    let _ = std::fs::remove_file(&stamps);
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "202 to handler start ({} events, capacity free)       p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms",
        latencies.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
    Ok(())
}
