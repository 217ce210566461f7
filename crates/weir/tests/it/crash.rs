//! Nothing acknowledged is lost: thousands of `Event` invokes, weir killed
//! with SIGKILL at a random moment, restarted on the same data: every event
//! that was answered 202 is delivered at least once.
//!
//! `WEIR_CRASH_SEED` picks the moment (CI uses a fixed seed; see
//! `bench/crash-seeds.sh` to run many).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::*;

const RECORDER: &str = r#"
import json, os

def handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(json.dumps({"id": event["id"]}) + "\n")
    return None
"#;

/// A small deterministic generator (no dependency needed for one number).
fn lcg(seed: u64) -> u64 {
    seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 17
}

#[tokio::test]
async fn every_acknowledged_event_survives_a_sigkill() {
    let seed: u64 = std::env::var("WEIR_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(42);
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("seen.jsonl");
    let weir = Weir::start(&[]);
    let mut spec = python_function("sink", RECORDER);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;
    weir.put_reserved("sink", 4).await;

    const CLIENTS: usize = 4;
    const PER_CLIENT: usize = 1_250;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let weir = Arc::new(weir);
    let mut senders = Vec::new();
    for client in 0..CLIENTS {
        let (weir, acked) = (weir.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for n in 0..PER_CLIENT {
                let id = format!("{client}-{n}");
                let sent = tokio::time::timeout(
                    Duration::from_secs(5),
                    weir.try_call(
                        "POST",
                        "/2015-03-31/functions/sink/invocations",
                        &[("x-amz-invocation-type", "Event")],
                        json!({"id": id}).to_string(),
                    ),
                )
                .await;
                match sent {
                    Ok(Some(r)) if r.status == 202 => {
                        acked.lock().unwrap().insert(id);
                    }
                    _ => return, // the server is gone
                }
            }
        }));
    }
    // Kill between 0.3 s and 2.3 s into the run, as the seed says.
    let delay = Duration::from_millis(300 + lcg(seed) % 2_000);
    tokio::time::sleep(delay).await;
    weir.sigkill();
    for sender in senders {
        sender.await.unwrap();
    }
    let mut weir = Arc::try_unwrap(weir).unwrap_or_else(|_| unreachable!("every sender has ended"));
    let acked: HashSet<String> = acked.lock().unwrap().clone();
    assert!(!acked.is_empty(), "some events were acknowledged before the kill");

    weir = weir.restart(&[]);
    let delivered_all = eventually(Duration::from_secs(120), async || {
        let seen = seen_ids(&record_file);
        acked.iter().all(|id| seen.contains_key(id))
    })
    .await;
    let seen = seen_ids(&record_file);
    let missing: Vec<&String> = acked.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        delivered_all,
        "{} acknowledged events were lost (seed {seed}), e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let duplicates: usize = seen.values().filter(|&&n| n > 1).map(|n| n - 1).sum();
    eprintln!(
        "crash test seed {seed}: killed after {delay:?}; {} acknowledged, {} delivered, {duplicates} duplicate deliveries",
        acked.len(),
        seen.len()
    );
    drop(weir);
}

fn seen_ids(file: &std::path::Path) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(id) = value["id"].as_str()
        {
            *seen.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    seen
}
