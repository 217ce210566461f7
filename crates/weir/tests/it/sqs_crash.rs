//! Durability of the queue service under a crash: senders record every message id a
//! SendMessageBatch acknowledged, a receiver holds messages in flight, weir is SIGKILLed at a
//! seeded moment and restarted on the same data directory; every acknowledged message must
//! be received again (in-flight ones once their visibility timeout ends).
//!
//! Other seeds: `WEIR_SQS_CRASH_SEED=<n> cargo test -p weir --test it sqs::crash`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::support::*;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One SQS call; any transport error or non-200 answer is an `Err` (the server may be dead).
async fn sqs_call(client: &HttpClient, endpoint: &str, operation: &str, body: Value) -> Result<Value, String> {
    let request = Request::post(format!("{endpoint}/"))
        .header("x-amz-target", format!("AmazonSQS.{operation}"))
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// SplitMix64: the kill moment from a seed.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const SENDERS: usize = 8;

#[tokio::test]
async fn every_acknowledged_message_survives_a_sigkill() {
    let seed: u64 = std::env::var("WEIR_SQS_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    let mut rng = seed;
    let kill_after_acks = 300 + splitmix64(&mut rng) % 1700;

    let weir = Weir::start(&[]);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let created = sqs_call(&client, &weir.endpoint, "CreateQueue", json!({"QueueName": "crash"})).await.unwrap();
    let url = created["QueueUrl"].as_str().unwrap().to_string();

    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let ack_count = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for sender in 0..SENDERS {
        let (client, endpoint, url) = (client.clone(), weir.endpoint.clone(), url.clone());
        let (acked, ack_count, enough) = (acked.clone(), ack_count.clone(), enough.clone());
        tasks.push(tokio::spawn(async move {
            for batch in 0.. {
                let entries: Vec<Value> = (0..10)
                    .map(|k| json!({"Id": format!("m{k}"), "MessageBody": format!("s{sender}-b{batch}-m{k}")}))
                    .collect();
                let bodies: HashMap<String, String> = entries
                    .iter()
                    .map(|e| (e["Id"].as_str().unwrap().to_string(), e["MessageBody"].as_str().unwrap().to_string()))
                    .collect();
                let Ok(result) =
                    sqs_call(&client, &endpoint, "SendMessageBatch", json!({"QueueUrl": url, "Entries": entries}))
                        .await
                else {
                    return; // the server is gone
                };
                let successful = result["Successful"].as_array().cloned().unwrap_or_default();
                let mut acked = acked.lock().unwrap();
                for entry in &successful {
                    let id = entry["MessageId"].as_str().unwrap().to_string();
                    acked.insert(id, bodies[entry["Id"].as_str().unwrap()].clone());
                }
                drop(acked);
                if ack_count.fetch_add(successful.len() as u64, Ordering::SeqCst) + successful.len() as u64
                    >= kill_after_acks
                {
                    enough.notify_one();
                }
            }
        }));
    }
    // A consumer that receives and never deletes: its messages are in flight at the crash.
    let held = Arc::new(AtomicU64::new(0));
    {
        let (client, endpoint, url, held) = (client.clone(), weir.endpoint.clone(), url.clone(), held.clone());
        tasks.push(tokio::spawn(async move {
            let request = json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 2});
            while let Ok(result) = sqs_call(&client, &endpoint, "ReceiveMessage", request.clone()).await {
                let n = result["Messages"].as_array().map_or(0, Vec::len);
                held.fetch_add(n as u64, Ordering::SeqCst);
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), enough.notified()).await.expect("senders made progress");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(weir.pid() as i32), nix::sys::signal::Signal::SIGKILL)
        .expect("kill weir");
    for task in tasks {
        task.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let held_before_crash = held.load(Ordering::SeqCst);
    assert!(acked.len() as u64 >= kill_after_acks);

    let weir = weir.restart(&[]);
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut bodies_ok = true;
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.keys().any(|id| !seen.contains_key(id)) && Instant::now() < deadline {
        let request = json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1});
        let result = sqs_call(&client, &weir.endpoint, "ReceiveMessage", request).await.expect("receive after restart");
        let messages = result["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            continue;
        }
        let mut entries = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let id = message["MessageId"].as_str().unwrap().to_string();
            if let Some(body) = acked.get(&id) {
                bodies_ok &= message["Body"].as_str() == Some(body.as_str());
            }
            *seen.entry(id).or_default() += 1;
            entries.push(json!({"Id": format!("d{i}"), "ReceiptHandle": message["ReceiptHandle"]}));
        }
        let deleted =
            sqs_call(&client, &weir.endpoint, "DeleteMessageBatch", json!({"QueueUrl": url, "Entries": entries}))
                .await
                .expect("delete after restart");
        assert_eq!(deleted["Failed"].as_array().map_or(0, Vec::len), 0, "{deleted}");
    }
    let missing = acked.keys().filter(|id| !seen.contains_key(*id)).count();
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    let unacknowledged = seen.keys().filter(|id| !acked.contains_key(*id)).count();
    eprintln!(
        "sqs crash (seed {seed}): killed after {} acks (target {kill_after_acks}); {held_before_crash} receives in flight \
         at the crash; after restart {} distinct messages, {missing} acknowledged missing, {duplicates} duplicates, \
         {unacknowledged} committed but unacknowledged",
        acked.len(),
        seen.len()
    );
    assert_eq!(missing, 0, "every acknowledged message is received after the crash");
    assert!(bodies_ok, "bodies survive intact");
    assert_eq!(duplicates, 0, "deleted messages never come back");
}
