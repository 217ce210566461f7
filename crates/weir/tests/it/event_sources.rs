//! SQS event source mappings end to end: queue → poller → function.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Processes an SQS batch: records each message it sees with its start and
/// end time, reports "poison" messages as failed items.
const WORKER: &str = r#"
import json, os, time

def handler(event, context):
    start = time.time()
    failures = []
    time.sleep(0.05)
    end = time.time()
    with open(os.environ["RECORD_FILE"], "a") as f:
        for record in event["Records"]:
            body = record["body"]
            ok = not body.startswith("poison")
            if not ok:
                failures.append({"itemIdentifier": record["messageId"]})
            f.write(json.dumps({"body": body, "ok": ok, "start": start, "end": end,
                                "receive_count": record["attributes"]["ApproximateReceiveCount"],
                                "source": record["eventSource"], "arn": record["eventSourceARN"]}) + "\n")
    return {"batchItemFailures": failures}
"#;

fn lines(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn max_overlap(runs: &[(f64, f64)]) -> usize {
    let mut edges: Vec<(f64, i32)> = runs.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    edges.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then(a.1.cmp(&b.1)));
    let (mut now, mut max) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        max = max.max(now);
    }
    max as usize
}

#[tokio::test]
async fn the_seed_scenario_2000_messages_through_a_worker_with_reserved_concurrency_50() {
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("worker.jsonl");
    let weir = Weir::start(&[]);

    let dlq = weir.sqs("CreateQueue", json!({"QueueName": "jobs-dlq"})).await;
    let dlq_arn = weir
        .sqs("GetQueueAttributes", json!({"QueueUrl": dlq["QueueUrl"], "AttributeNames": ["QueueArn"]}))
        .await["Attributes"]["QueueArn"]
        .as_str()
        .unwrap()
        .to_string();
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}).to_string();
    let queue = weir
        .sqs(
            "CreateQueue",
            json!({"QueueName": "jobs", "Attributes": {"VisibilityTimeout": "3", "RedrivePolicy": redrive}}),
        )
        .await;
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let queue_arn = "arn:aws:sqs:us-east-1:000000000000:jobs";

    let mut spec = python_function("worker", WORKER);
    spec["Timeout"] = json!(3);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;
    weir.put_reserved("worker", 50).await;

    // Lambda's validation: a function timeout above the visibility timeout is refused.
    let mut slow = python_function("slow", WORKER);
    slow["Timeout"] = json!(10);
    weir.create_function(slow).await;
    let refused = weir
        .json("POST", "/2015-03-31/event-source-mappings", json!({"EventSourceArn": queue_arn, "FunctionName": "slow"}))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("Queue visibility timeout: 3 seconds is less than Function timeout: 10 seconds"));

    let mapping = weir
        .json(
            "POST",
            "/2015-03-31/event-source-mappings",
            json!({"EventSourceArn": queue_arn, "FunctionName": "worker", "BatchSize": 10,
                   "FunctionResponseTypes": ["ReportBatchItemFailures"]}),
        )
        .await;
    assert_eq!(mapping.status, 202, "{}", mapping.text());
    let uuid = mapping.json()["UUID"].as_str().unwrap().to_string();

    // 2,000 messages at once, 20 of them poison.
    let mut sent = 0;
    for batch in 0..200 {
        let entries: Vec<Value> = (0..10)
            .map(|i| {
                let n = batch * 10 + i;
                let body = if n % 100 == 7 { format!("poison-{n}") } else { format!("job-{n}") };
                json!({"Id": format!("m{i}"), "MessageBody": body})
            })
            .collect();
        let r = weir.sqs("SendMessageBatch", json!({"QueueUrl": queue_url, "Entries": entries})).await;
        sent += r["Successful"].as_array().unwrap().len();
    }
    assert_eq!(sent, 2_000);

    // Every good message is processed; poison ones end in the dead-letter queue.
    let done = eventually(Duration::from_secs(90), async || {
        let good = lines(&record_file).iter().filter(|l| l["ok"] == true).count();
        let dlq_count = weir
            .sqs(
                "GetQueueAttributes",
                json!({"QueueUrl": dlq["QueueUrl"], "AttributeNames": ["ApproximateNumberOfMessages"]}),
            )
            .await["Attributes"]["ApproximateNumberOfMessages"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap();
        good >= 1_980 && dlq_count == 20
    })
    .await;
    let seen = lines(&record_file);
    assert!(done, "processed {} good messages", seen.iter().filter(|l| l["ok"] == true).count());

    let mut by_body: HashMap<String, Vec<&Value>> = HashMap::new();
    for line in &seen {
        by_body.entry(line["body"].as_str().unwrap().to_string()).or_default().push(line);
    }
    // Partial batch failure: good messages sharing a batch with poison ran once.
    let good_repeats = by_body.iter().filter(|(b, v)| b.starts_with("job") && v.len() > 1).count();
    assert_eq!(good_repeats, 0, "a partial batch failure retries only the failed records");
    // Poison messages were received maxReceiveCount (2) times, then redriven.
    for (body, attempts) in by_body.iter().filter(|(b, _)| b.starts_with("poison")) {
        assert_eq!(attempts.len(), 2, "{body} was tried {} times", attempts.len());
    }
    assert_eq!(seen[0]["source"], "aws:sqs");
    assert_eq!(seen[0]["arn"], queue_arn);

    // Observed concurrency never exceeded the reservation.
    let mut runs: Vec<(f64, f64)> =
        seen.iter().map(|l| (l["start"].as_f64().unwrap(), l["end"].as_f64().unwrap())).collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs.dedup();
    assert!(max_overlap(&runs) <= 50, "concurrency {} above reserved 50", max_overlap(&runs));

    let got = weir.call("GET", &format!("/2015-03-31/event-source-mappings/{uuid}"), &[], "").await.json();
    assert_eq!(got["State"], "Enabled");
    assert_eq!(got["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    let listed = weir.call("GET", "/2015-03-31/event-source-mappings?FunctionName=worker", &[], "").await.json();
    assert_eq!(listed["EventSourceMappings"].as_array().unwrap().len(), 1);
    let deleted = weir.call("DELETE", &format!("/2015-03-31/event-source-mappings/{uuid}"), &[], "").await;
    assert_eq!(deleted.status, 202);
}

#[tokio::test]
async fn a_mapping_cannot_exceed_the_functions_reserved_concurrency() {
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("narrow.jsonl");
    let weir = Weir::start(&[]);
    let queue =
        weir.sqs("CreateQueue", json!({"QueueName": "narrow", "Attributes": {"VisibilityTimeout": "30"}})).await;
    let mut spec = python_function("narrow", &WORKER.replace("time.sleep(0.05)", "time.sleep(0.3)"));
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;
    weir.put_reserved("narrow", 2).await;
    for n in 0..40 {
        weir.sqs("SendMessage", json!({"QueueUrl": queue["QueueUrl"], "MessageBody": format!("job-{n}")})).await;
    }
    let mapping = weir
        .json(
            "POST",
            "/2015-03-31/event-source-mappings",
            json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:narrow", "FunctionName": "narrow", "BatchSize": 1}),
        )
        .await;
    assert_eq!(mapping.status, 202, "{}", mapping.text());
    assert!(eventually(Duration::from_secs(60), async || lines(&record_file).len() >= 40).await);
    let seen = lines(&record_file);
    let mut runs: Vec<(f64, f64)> =
        seen.iter().map(|l| (l["start"].as_f64().unwrap(), l["end"].as_f64().unwrap())).collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs.dedup();
    assert_eq!(max_overlap(&runs), 2, "the poller respects reserved concurrency 2");
    assert_eq!(seen.len(), 40, "no message ran twice: throttles never churned the queue");
}

#[tokio::test]
async fn filter_criteria_send_only_matching_messages_and_delete_the_rest() {
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("filtered.jsonl");
    let weir = Weir::start(&[]);
    let queue =
        weir.sqs("CreateQueue", json!({"QueueName": "orders", "Attributes": {"VisibilityTimeout": "30"}})).await;
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let queue_arn = "arn:aws:sqs:us-east-1:000000000000:orders";
    let mut spec = python_function("picky", WORKER);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;

    // Lambda refuses a pattern it cannot read.
    let bad = json!({"Filters": [{"Pattern": "{\"body\": \"order\"}"}]});
    let refused = weir
        .json(
            "POST",
            "/2015-03-31/event-source-mappings",
            json!({"EventSourceArn": queue_arn, "FunctionName": "picky", "FilterCriteria": bad}),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.header("x-amzn-errortype"), Some("InvalidParameterValueException"));
    assert!(refused.text().contains("Invalid filter pattern definition."), "{}", refused.text());

    // Two filters, ORed: JSON orders, and plain-text messages starting "urgent".
    let criteria = json!({"Filters": [
        {"Pattern": r#"{"body": {"kind": ["order"], "total": [{"numeric": [">", 0]}]}}"#},
        {"Pattern": r#"{"body": [{"prefix": "urgent"}]}"#},
    ]});
    let mapping = weir
        .json(
            "POST",
            "/2015-03-31/event-source-mappings",
            json!({"EventSourceArn": queue_arn, "FunctionName": "picky", "BatchSize": 2,
                   "MaximumBatchingWindowInSeconds": 2, "FilterCriteria": criteria}),
        )
        .await;
    assert_eq!(mapping.status, 202, "{}", mapping.text());
    assert_eq!(mapping.json()["FilterCriteria"], criteria);
    let uuid = mapping.json()["UUID"].as_str().unwrap().to_string();

    let bodies = [
        r#"{"kind": "order", "total": 12.5}"#,
        r#"{"kind": "refund", "total": 3}"#,
        r#"{"kind": "order", "total": 0}"#,
        "urgent: call back",
        "routine: nothing to do",
        r#"{"kind": "order", "total": 7}"#,
    ];
    for body in bodies {
        weir.sqs("SendMessage", json!({"QueueUrl": queue_url, "MessageBody": body})).await;
    }
    let queue_empty = async || {
        let attributes = weir
            .sqs(
                "GetQueueAttributes",
                json!({"QueueUrl": queue_url, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
            )
            .await["Attributes"]
            .clone();
        attributes["ApproximateNumberOfMessages"] == "0" && attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    };
    assert!(eventually(Duration::from_secs(30), async || lines(&record_file).len() >= 3 && queue_empty().await).await);
    let mut seen: Vec<String> = lines(&record_file).iter().map(|l| l["body"].as_str().unwrap().to_string()).collect();
    seen.sort();
    let mut wanted = vec![bodies[0].to_string(), bodies[3].to_string(), bodies[5].to_string()];
    wanted.sort();
    assert_eq!(seen, wanted, "the function saw exactly the matching messages, body text unchanged");
    // Messages are filtered as they arrive, so filtered-out ones do not take
    // room in a batch: three matches in batches of two make two invocations.
    let mut invocations: Vec<String> = lines(&record_file).iter().map(|l| l["start"].to_string()).collect();
    invocations.dedup();
    assert_eq!(invocations.len(), 2, "{:?}", lines(&record_file));

    // The three others were deleted, and counted as filtered out.
    let metrics = weir.call("GET", "/metrics", &[], "").await.text();
    let filtered_out = metrics
        .lines()
        .find(|l| l.starts_with("weir_event_source_mapping_filtered_out_messages_total{") && l.contains(&uuid))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse::<f64>().unwrap());
    assert_eq!(filtered_out, Some(3.0), "{metrics}");

    // GetEventSourceMapping reports the criteria; an empty Filters list clears them.
    let got = weir.call("GET", &format!("/2015-03-31/event-source-mappings/{uuid}"), &[], "").await.json();
    assert_eq!(got["FilterCriteria"], criteria);
    let cleared = weir
        .json("PUT", &format!("/2015-03-31/event-source-mappings/{uuid}"), json!({"FilterCriteria": {"Filters": []}}))
        .await;
    assert_eq!(cleared.status, 202, "{}", cleared.text());
    assert!(cleared.json().get("FilterCriteria").is_none(), "{}", cleared.text());
    weir.sqs("SendMessage", json!({"QueueUrl": queue_url, "MessageBody": "routine again"})).await;
    assert!(
        eventually(Duration::from_secs(30), async || {
            lines(&record_file).iter().any(|l| l["body"] == "routine again")
        })
        .await,
        "without filters every message reaches the function"
    );
}

/// Lambda's event from a mapping stays within the 6 MB invocation limit:
/// ten 1 MB messages arrive in two batches, each message once.
#[tokio::test]
async fn a_batch_never_exceeds_six_megabytes() {
    const SIZER: &str = r#"
import json, os

def handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(json.dumps({"bytes": len(json.dumps(event, separators=(",", ":"))),
                            "ids": [r["messageId"] for r in event["Records"]]}) + "\n")
"#;
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("sizes.jsonl");
    let weir = Weir::start(&[]);
    let queue = weir.sqs("CreateQueue", json!({"QueueName": "big", "Attributes": {"VisibilityTimeout": "30"}})).await;
    for n in 0..10 {
        let body = format!("{n}{}", "x".repeat(1_000_000));
        weir.sqs("SendMessage", json!({"QueueUrl": queue["QueueUrl"], "MessageBody": body})).await;
    }
    let mut spec = python_function("sizer", SIZER);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;
    let mapping = weir
        .json(
            "POST",
            "/2015-03-31/event-source-mappings",
            json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:big", "FunctionName": "sizer", "BatchSize": 10}),
        )
        .await;
    assert_eq!(mapping.status, 202, "{}", mapping.text());
    let delivered = async || lines(&record_file).iter().map(|l| l["ids"].as_array().unwrap().len()).sum::<usize>();
    assert!(eventually(Duration::from_secs(30), async || delivered().await >= 10).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let batches = lines(&record_file);
    assert!(batches.len() >= 2, "{} batches", batches.len());
    for batch in &batches {
        assert!(batch["bytes"].as_u64().unwrap() <= 6 * 1024 * 1024, "a {} byte event", batch["bytes"]);
    }
    let mut ids: Vec<&str> =
        batches.iter().flat_map(|b| b["ids"].as_array().unwrap()).map(|i| i.as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "every message once");
    assert_eq!(delivered().await, 10, "no message twice");
}
