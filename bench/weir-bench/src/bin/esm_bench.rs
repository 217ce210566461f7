//! Issue-5 figures for the queue-to-function path: 100,000 messages through
//! an event source mapping with batch size 100 into a Rust `lambda_runtime`
//! handler, and the latency from SendMessage to the handler with an idle
//! queue.
//!
//! `cargo build --release -p weir -p weir-bench && target/release/esm_bench [--messages N] [--filter]`
//!
//! `--filter` gives the mapping a `FilterCriteria` every message passes
//! (`{"body": {"n": [{"numeric": [">=", 0]}]}}`), to measure what matching
//! costs on the same workload.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use serde_json::{Value, json};
use weir_bench::{Http, Server, create, python_function, rust_function};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    #[arg(long, default_value_t = 100)]
    batch_size: u32,
    /// Messages for the latency measurement.
    #[arg(long, default_value_t = 100)]
    probes: usize,
    /// Give the throughput mapping a FilterCriteria every message passes.
    #[arg(long)]
    filter: bool,
}

const STAMP: &str = r#"
import json, os, time
def handler(event, context):
    now = time.time()
    with open(os.environ["STAMP_FILE"], "a") as f:
        for r in event["Records"]:
            f.write(json.dumps({"sent": float(r["body"]), "started": now}) + "\n")
"#;

fn wall() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

async fn depth(http: &Http, e: &str, url: &str) -> anyhow::Result<u64> {
    let attrs = http
        .sqs(e, "GetQueueAttributes", &json!({"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}))
        .await?;
    let n = |k: &str| attrs["Attributes"][k].as_str().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(n("ApproximateNumberOfMessages") + n("ApproximateNumberOfMessagesNotVisible"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = Http::new();
    let server = Server::start(&[]).await;
    let e = server.endpoint.clone();

    // Throughput: preload the queue, then let the mapping drain it.
    let queue =
        http.sqs(&e, "CreateQueue", &json!({"QueueName": "bulk", "Attributes": {"VisibilityTimeout": "120"}})).await?;
    let url = queue["QueueUrl"].as_str().unwrap().to_string();
    let loaded = Instant::now();
    let batches = args.messages.div_ceil(10);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, e, url, next) = (http.clone(), e.clone(), url.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b >= batches {
                    return;
                }
                let entries: Vec<Value> = (0..10)
                    .map(|i| json!({"Id": format!("m{i}"), "MessageBody": format!("{{\"n\":{}}}", b * 10 + i)}))
                    .collect();
                http.sqs(&e, "SendMessageBatch", &json!({"QueueUrl": url, "Entries": entries})).await.unwrap();
            }
        }));
    }
    for s in senders {
        s.await?;
    }
    println!("preloaded {} messages in {:.2} s", batches * 10, loaded.elapsed().as_secs_f64());
    create(&http, &e, &rust_function("drain", &weir_testfns::testfn_path(), 60)).await;
    let mut mapping = json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:bulk", "FunctionName": "drain",
                             "BatchSize": args.batch_size, "MaximumBatchingWindowInSeconds": 1});
    if args.filter {
        mapping["FilterCriteria"] = json!({"Filters": [{"Pattern": r#"{"body": {"n": [{"numeric": [">=", 0]}]}}"#}]});
    }
    let begun = Instant::now();
    let (status, mapping) = http.json("POST", &format!("{e}/2015-03-31/event-source-mappings"), &mapping).await?;
    anyhow::ensure!(status == 202, "mapping: {mapping}");
    while depth(&http, &e, &url).await? > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = begun.elapsed();
    println!(
        "queue -> function: {} messages, batch size {}{}, drained in {:.2} s: {:.0} messages/s",
        batches * 10,
        args.batch_size,
        if args.filter { ", with a filter" } else { "" },
        took.as_secs_f64(),
        (batches * 10) as f64 / took.as_secs_f64()
    );

    // Latency: SendMessage to handler start on an idle queue.
    let stamps = std::env::temp_dir().join(format!("weir-esm-bench-{}.jsonl", std::process::id()));
    let probe =
        http.sqs(&e, "CreateQueue", &json!({"QueueName": "probe", "Attributes": {"VisibilityTimeout": "30"}})).await?;
    let probe_url = probe["QueueUrl"].as_str().unwrap().to_string();
    let mut spec = python_function("stamp", STAMP, 10);
    spec["Environment"] = json!({"Variables": {"STAMP_FILE": stamps.to_str().unwrap()}});
    create(&http, &e, &spec).await;
    http.json(
        "POST",
        &format!("{e}/2015-03-31/event-source-mappings"),
        &json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:probe", "FunctionName": "stamp", "BatchSize": 1}),
    )
    .await?;
    http.sqs(&e, "SendMessage", &json!({"QueueUrl": probe_url, "MessageBody": wall().to_string()})).await?; // warm
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = std::fs::remove_file(&stamps);
    for _ in 0..args.probes {
        http.sqs(&e, "SendMessage", &json!({"QueueUrl": probe_url, "MessageBody": format!("{:.6}", wall())})).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies: Vec<f64> = std::fs::read_to_string(&stamps)?
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some((v["started"].as_f64()? - v["sent"].as_f64()?) * 1_000.0))
        .collect();
    let _ = std::fs::remove_file(&stamps);
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    println!(
        "SendMessage to handler start ({} messages, idle queue)  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms",
        latencies.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
    Ok(())
}
