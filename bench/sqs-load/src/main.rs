//! sqs-load: a load generator for weir's SQS-compatible queue service.
//!
//! Each worker loops over one full, durable cycle: SendMessageBatch (10 messages),
//! ReceiveMessage (up to 10), DeleteMessageBatch (what it received), over a pool of
//! keep-alive HTTP/1.1 connections (one per worker). After the measured window the queues are
//! drained and every acknowledged message must have been deleted exactly once.
//!
//! ```sh
//! sqs-load --endpoint http://127.0.0.1:9700 --workers 64 --seconds 10 --body-size 100 \
//!          [--queues 1] [--warmup-seconds 2] [--pid <weir pid, to report its CPU>]
//! ```
//! Prints a summary and one `RESULT {json}` line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Args {
    endpoint: String,
    workers: usize,
    seconds: f64,
    warmup_seconds: f64,
    body_size: usize,
    queues: usize,
    pid: Option<u32>,
}

fn parse_args() -> Args {
    let mut args = Args {
        endpoint: "http://127.0.0.1:9700".into(),
        workers: 64,
        seconds: 10.0,
        warmup_seconds: 2.0,
        body_size: 100,
        queues: 1,
        pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--endpoint" => args.endpoint = value(),
            "--workers" => args.workers = value().parse().expect("--workers N"),
            "--seconds" => args.seconds = value().parse().expect("--seconds S"),
            "--warmup-seconds" => args.warmup_seconds = value().parse().expect("--warmup-seconds S"),
            "--body-size" => args.body_size = value().parse().expect("--body-size BYTES"),
            "--queues" => args.queues = value().parse().expect("--queues N"),
            "--pid" => args.pid = Some(value().parse().expect("--pid PID")),
            other => panic!("unknown flag {other}; see the module documentation"),
        }
    }
    args
}

/// One SQS call over JSON 1.0; panics on any failure (a benchmark that fails is not a figure).
async fn call(client: &HttpClient, endpoint: &str, target: &'static str, body: Bytes) -> Bytes {
    let request = Request::post(endpoint)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(body))
        .expect("request");
    let response = client.request(request).await.unwrap_or_else(|e| panic!("{target}: {e}"));
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("response body").to_bytes();
    assert!(status.is_success(), "{target}: {status} {}", String::from_utf8_lossy(&bytes));
    bytes
}

#[derive(Default)]
struct Totals {
    sent: AtomicU64,
    received: AtomicU64,
    deleted: AtomicU64,
    cycles: AtomicU64,
}

/// Per-operation latencies of one worker, in microseconds.
#[derive(Default)]
struct Latencies {
    send: Vec<u32>,
    receive: Vec<u32>,
    delete: Vec<u32>,
}

fn percentile(samples: &mut [u32], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let at = ((samples.len() - 1) as f64 * p).round() as usize;
    f64::from(samples[at]) / 1000.0
}

fn send_body(queue_url: &str, worker: usize, cycle: u64, pad: &str) -> Bytes {
    let mut body = format!(r#"{{"QueueUrl":"{queue_url}","Entries":["#);
    for k in 0..10 {
        if k > 0 {
            body.push(',');
        }
        body.push_str(&format!(r#"{{"Id":"m{k}","MessageBody":"{worker}:{cycle}:{k}:{pad}"}}"#));
    }
    body.push_str("]}");
    Bytes::from(body)
}

#[derive(serde::Deserialize)]
struct Sent<'a> {
    #[serde(rename = "Successful", borrow, default)]
    successful: Vec<Id<'a>>,
}

#[derive(serde::Deserialize)]
struct Id<'a> {
    #[serde(rename = "Id")]
    #[allow(dead_code)]
    id: &'a str,
}

#[derive(serde::Deserialize)]
struct Received<'a> {
    #[serde(rename = "Messages", borrow, default)]
    messages: Vec<Handle<'a>>,
}

#[derive(serde::Deserialize)]
struct Handle<'a> {
    #[serde(rename = "ReceiptHandle")]
    receipt_handle: &'a str,
}

#[derive(serde::Deserialize)]
struct Deleted<'a> {
    #[serde(rename = "Successful", borrow, default)]
    successful: Vec<Id<'a>>,
    #[serde(rename = "Failed", default)]
    failed: Vec<serde_json::Value>,
}

/// Receives up to 10 and deletes them; returns (received, deleted).
async fn receive_and_delete(
    client: &HttpClient,
    endpoint: &str,
    queue_url: &str,
    latencies: Option<&mut Latencies>,
) -> (u64, u64) {
    let receive =
        Bytes::from(json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 60}).to_string());
    let started = Instant::now();
    let received = call(client, endpoint, "AmazonSQS.ReceiveMessage", receive).await;
    let receive_us = started.elapsed().as_micros() as u32;
    let received: Received = serde_json::from_slice(&received).expect("receive JSON");
    if received.messages.is_empty() {
        if let Some(l) = latencies {
            l.receive.push(receive_us);
        }
        return (0, 0);
    }
    let mut delete = format!(r#"{{"QueueUrl":"{queue_url}","Entries":["#);
    for (i, m) in received.messages.iter().enumerate() {
        if i > 0 {
            delete.push(',');
        }
        let handle = serde_json::to_string(m.receipt_handle).expect("handle");
        delete.push_str(&format!(r#"{{"Id":"d{i}","ReceiptHandle":{handle}}}"#));
    }
    delete.push_str("]}");
    let started = Instant::now();
    let deleted = call(client, endpoint, "AmazonSQS.DeleteMessageBatch", Bytes::from(delete)).await;
    let delete_us = started.elapsed().as_micros() as u32;
    let deleted: Deleted = serde_json::from_slice(&deleted).expect("delete JSON");
    assert!(deleted.failed.is_empty(), "failed deletes: {:?}", deleted.failed);
    if let Some(l) = latencies {
        l.receive.push(receive_us);
        l.delete.push(delete_us);
    }
    (received.messages.len() as u64, deleted.successful.len() as u64)
}

fn process_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let endpoint = format!("{}/", args.endpoint.trim_end_matches('/'));
    let client: HttpClient =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(args.workers + 8).build_http();
    let run_id = std::process::id();
    let mut queue_urls = Vec::new();
    for q in 0..args.queues {
        let body = json!({"QueueName": format!("load-{run_id}-{q}"), "Attributes": {"VisibilityTimeout": "60"}});
        let created = call(&client, &endpoint, "AmazonSQS.CreateQueue", Bytes::from(body.to_string())).await;
        let created: Value = serde_json::from_slice(&created).unwrap();
        queue_urls.push(created["QueueUrl"].as_str().unwrap().to_string());
    }
    let pad = "x".repeat(args.body_size.saturating_sub(16));
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Totals::default());
    let sent_total = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for worker in 0..args.workers {
        let (client, endpoint, queue_url, pad) =
            (client.clone(), endpoint.clone(), queue_urls[worker % queue_urls.len()].clone(), pad.clone());
        let (stop, measuring, totals, sent_total) =
            (stop.clone(), measuring.clone(), totals.clone(), sent_total.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut deleted_all = 0u64;
            let mut cycle = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let measured = measuring.load(Ordering::Relaxed);
                let started = Instant::now();
                let sent =
                    call(&client, &endpoint, "AmazonSQS.SendMessageBatch", send_body(&queue_url, worker, cycle, &pad))
                        .await;
                let send_us = started.elapsed().as_micros() as u32;
                let parsed: Sent = serde_json::from_slice(&sent).expect("send JSON");
                let ok = parsed.successful.len() as u64;
                assert_eq!(ok, 10, "{}", String::from_utf8_lossy(&sent));
                sent_total.fetch_add(ok, Ordering::Relaxed);
                let (received, deleted) =
                    receive_and_delete(&client, &endpoint, &queue_url, measured.then_some(&mut latencies)).await;
                deleted_all += deleted;
                if measured {
                    latencies.send.push(send_us);
                    totals.sent.fetch_add(ok, Ordering::Relaxed);
                    totals.received.fetch_add(received, Ordering::Relaxed);
                    totals.deleted.fetch_add(deleted, Ordering::Relaxed);
                    totals.cycles.fetch_add(1, Ordering::Relaxed);
                }
                cycle += 1;
            }
            (latencies, deleted_all)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup_seconds)).await;
    let cpu_before = args.pid.and_then(process_cpu_ticks);
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = args.pid.and_then(process_cpu_ticks);
    stop.store(true, Ordering::Relaxed);
    let mut all = Latencies::default();
    let mut deleted_by_workers = 0;
    for worker in workers {
        let (latencies, deleted) = worker.await.expect("worker");
        all.send.extend(latencies.send);
        all.receive.extend(latencies.receive);
        all.delete.extend(latencies.delete);
        deleted_by_workers += deleted;
    }
    // Drain: every acknowledged message is deleted exactly once.
    let mut drained = 0;
    for queue_url in &queue_urls {
        loop {
            let (received, deleted) = receive_and_delete(&client, &endpoint, queue_url, None).await;
            drained += deleted;
            if received == 0 {
                break;
            }
        }
        call(&client, &endpoint, "AmazonSQS.DeleteQueue", Bytes::from(json!({"QueueUrl": queue_url}).to_string()))
            .await;
    }
    let sent_all = sent_total.load(Ordering::Relaxed);
    let deleted_all = deleted_by_workers + drained;
    let deleted = totals.deleted.load(Ordering::Relaxed);
    let cycle_rate = deleted as f64 / elapsed;
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let weir_cpu = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => Some((after - before) as f64 / ticks_per_second / elapsed * 100.0),
        _ => None,
    };
    println!(
        "workers {} queues {} body {} B, {elapsed:.1} s: {cycle_rate:.0} msg/s through send+receive+delete \
         ({:.0} sends/s, {:.0} receives/s); calls p50/p99 ms: send {:.2}/{:.2}, receive {:.2}/{:.2}, delete {:.2}/{:.2}{}",
        args.workers,
        args.queues,
        args.body_size,
        totals.sent.load(Ordering::Relaxed) as f64 / elapsed,
        totals.received.load(Ordering::Relaxed) as f64 / elapsed,
        percentile(&mut all.send, 0.5),
        percentile(&mut all.send, 0.99),
        percentile(&mut all.receive, 0.5),
        percentile(&mut all.receive, 0.99),
        percentile(&mut all.delete, 0.5),
        percentile(&mut all.delete, 0.99),
        weir_cpu.map_or(String::new(), |cpu| format!("; weir CPU {cpu:.0} %")),
    );
    println!(
        "check: {sent_all} acknowledged, {deleted_all} deleted ({} lost or duplicated)",
        sent_all.abs_diff(deleted_all)
    );
    let result = json!({
        "workers": args.workers, "queues": args.queues, "body_size": args.body_size, "seconds": elapsed,
        "msgs_per_s": cycle_rate.round(), "cycles": totals.cycles.load(Ordering::Relaxed),
        "p99_ms": {"send": percentile(&mut all.send, 0.99), "receive": percentile(&mut all.receive, 0.99),
                   "delete": percentile(&mut all.delete, 0.99)},
        "weir_cpu_percent": weir_cpu, "acknowledged": sent_all, "deleted": deleted_all, "ok": sent_all == deleted_all,
    });
    println!("RESULT {result}");
    if sent_all != deleted_all {
        std::process::exit(1);
    }
}
