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

    // The mapping's own count of what its receives sent to the DLQ.
    let metrics = weir.call("GET", "/metrics", &[], "").await.text();
    let labels = [("event_source_mapping", uuid.as_str()), ("function_name", "worker"), ("queue_name", "jobs")];
    let dead_lettered =
        Some(Scrape::parse(&metrics).get("weir_event_source_mapping_dead_lettered_messages_total", &labels));
    assert_eq!(dead_lettered, Some(20.0), "{metrics}");

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
    let labels = [("event_source_mapping", uuid.as_str()), ("function_name", "picky"), ("queue_name", "orders")];
    let filtered_out =
        Some(Scrape::parse(&metrics).get("weir_event_source_mapping_filtered_out_messages_total", &labels));
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

/// Sends ten 1 MB messages (one FIFO group when `fifo`) through a mapping
/// and returns what each invocation got: its event's size and bodies' first
/// characters (the message numbers).
async fn ten_megabytes_through_a_mapping(fifo: bool) -> Vec<Value> {
    const SIZER: &str = r#"
import json, os

def handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(json.dumps({"bytes": len(json.dumps(event, separators=(",", ":"))),
                            "ids": [r["messageId"] for r in event["Records"]],
                            "ns": [r["body"][0] for r in event["Records"]]}) + "\n")
"#;
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("sizes.jsonl");
    let weir = Weir::start(&[]);
    let name = if fifo { "big.fifo" } else { "big" };
    let mut attributes = json!({"VisibilityTimeout": "30"});
    if fifo {
        attributes["FifoQueue"] = json!("true");
        attributes["ContentBasedDeduplication"] = json!("true");
    }
    let queue = weir.sqs("CreateQueue", json!({"QueueName": name, "Attributes": attributes})).await;
    for n in 0..10 {
        let mut send = json!({"QueueUrl": queue["QueueUrl"], "MessageBody": format!("{n}{}", "x".repeat(1_000_000))});
        if fifo {
            send["MessageGroupId"] = json!("one-group");
        }
        weir.sqs("SendMessage", send).await;
    }
    let mut spec = python_function("sizer", SIZER);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;
    let arn = format!("arn:aws:sqs:us-east-1:000000000000:{name}");
    let mapping = weir
        .json(
            "POST",
            "/2015-03-31/event-source-mappings",
            json!({"EventSourceArn": arn, "FunctionName": "sizer", "BatchSize": 10}),
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
    batches
}

/// Lambda's event from a mapping stays within the 6 MB invocation limit:
/// ten 1 MB messages arrive in two batches, each message once.
#[tokio::test]
async fn a_batch_never_exceeds_six_megabytes() {
    ten_megabytes_through_a_mapping(false).await;
}

/// On a FIFO queue, what did not fit goes back to its group, behind the
/// batch before it: the group's order holds across the 6 MB split.
#[tokio::test]
async fn a_fifo_group_keeps_its_order_across_six_megabyte_batches() {
    let batches = ten_megabytes_through_a_mapping(true).await;
    let order: Vec<&str> =
        batches.iter().flat_map(|b| b["ns"].as_array().unwrap()).map(|n| n.as_str().unwrap()).collect();
    assert_eq!(order, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
}

/// The queue's ARN, as GetQueueAttributes reports it.
async fn queue_arn(weir: &Weir, queue_url: &str) -> String {
    weir.sqs("GetQueueAttributes", json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]})).await["Attributes"]
        ["QueueArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `(ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible)`.
async fn queue_counts(weir: &Weir, queue_url: &str) -> (u64, u64) {
    let attributes = weir
        .sqs(
            "GetQueueAttributes",
            json!({"QueueUrl": queue_url,
                   "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
        )
        .await["Attributes"]
        .clone();
    let count = |name: &str| attributes[name].as_str().unwrap().parse::<u64>().unwrap();
    (count("ApproximateNumberOfMessages"), count("ApproximateNumberOfMessagesNotVisible"))
}

/// Creates a mapping (202) and returns its UUID.
async fn create_mapping(weir: &Weir, request: Value) -> String {
    let mapping = weir.json("POST", "/2015-03-31/event-source-mappings", request).await;
    assert_eq!(mapping.status, 202, "{}", mapping.text());
    mapping.json()["UUID"].as_str().unwrap().to_string()
}

async fn get_mapping(weir: &Weir, uuid: &str) -> Value {
    let got = weir.call("GET", &format!("/2015-03-31/event-source-mappings/{uuid}"), &[], "").await;
    assert_eq!(got.status, 200, "{}", got.text());
    got.json()
}

/// One of the mapping's `weir_event_source_mapping_*` counters.
async fn mapping_metric(weir: &Weir, name: &str, uuid: &str) -> Option<f64> {
    let metrics = weir.call("GET", "/metrics", &[], "").await.text();
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(uuid))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
}

async fn advance_clock(weir: &Weir, seconds: u64) {
    let r = weir.json("POST", "/_weir/clock/advance", json!({"seconds": seconds})).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

fn epoch_ms_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The SQS record a function receives (spec §8.6): every field, all
/// attribute values strings, message attributes in Lambda's shape, and
/// both MD5s right (computed by the handler with hashlib, the attributes'
/// one with SQS's algorithm).
#[tokio::test]
async fn a_function_receives_lambdas_sqs_record_format() {
    const RECORDER: &str = r#"
import base64, hashlib, json, os

def md5_of_attributes(attributes):
    digest = hashlib.md5()
    def length_prefixed(data):
        digest.update(len(data).to_bytes(4, "big"))
        digest.update(data)
    for name in sorted(attributes):
        value = attributes[name]
        length_prefixed(name.encode())
        length_prefixed(value["dataType"].encode())
        if value.get("binaryValue") is not None:
            digest.update(b"\x02")
            length_prefixed(base64.b64decode(value["binaryValue"]))
        else:
            digest.update(b"\x01")
            length_prefixed(value["stringValue"].encode())
    return digest.hexdigest()

def handler(event, context):
    checks = [{"md5_of_body": hashlib.md5(r["body"].encode()).hexdigest(),
               "md5_of_attributes": md5_of_attributes(r["messageAttributes"])} for r in event["Records"]]
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(json.dumps({"event": event, "checks": checks}) + "\n")
"#;
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("events.jsonl");
    let weir = Weir::start(&[]);
    let queue =
        weir.sqs("CreateQueue", json!({"QueueName": "formats", "Attributes": {"VisibilityTimeout": "30"}})).await;
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let arn = queue_arn(&weir, &queue_url).await;
    let mut spec = python_function("recorder", RECORDER);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;

    let body = "héllo wörld ✓ {\"not\": \"parsed\"}";
    let before_send = epoch_ms_now();
    let sent = weir
        .sqs(
            "SendMessage",
            json!({"QueueUrl": queue_url, "MessageBody": body, "MessageAttributes": {
                "Colour": {"DataType": "String", "StringValue": "blue"},
                "Weight": {"DataType": "Number", "StringValue": "42.5"},
            }}),
        )
        .await;
    create_mapping(&weir, json!({"EventSourceArn": arn, "FunctionName": "recorder", "BatchSize": 1})).await;
    assert!(eventually(Duration::from_secs(15), async || !lines(&record_file).is_empty()).await, "no event arrived");
    let after_receive = epoch_ms_now();

    let seen = lines(&record_file);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let records = seen[0]["event"]["Records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{}", seen[0]["event"]);
    let record = &records[0];
    let mut keys: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "attributes",
            "awsRegion",
            "body",
            "eventSource",
            "eventSourceARN",
            "md5OfBody",
            "md5OfMessageAttributes",
            "messageAttributes",
            "messageId",
            "receiptHandle"
        ],
        "{record}"
    );
    assert_eq!(record["messageId"], sent["MessageId"]);
    assert!(!record["receiptHandle"].as_str().unwrap().is_empty(), "{record}");
    assert_eq!(record["body"], body);
    assert_eq!(record["eventSource"], "aws:sqs");
    assert_eq!(record["eventSourceARN"], arn.as_str());
    assert_eq!(record["awsRegion"], "us-east-1");

    // System attributes: exactly Lambda's four, every value a string.
    let attributes = record["attributes"].as_object().unwrap();
    let mut names: Vec<&str> = attributes.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["ApproximateFirstReceiveTimestamp", "ApproximateReceiveCount", "SenderId", "SentTimestamp"]);
    assert!(attributes.values().all(Value::is_string), "{record}");
    assert_eq!(attributes["ApproximateReceiveCount"], "1");
    assert_eq!(attributes["SenderId"], "000000000000", "as ReceiveMessage reports an unknown sender");
    let millis = |name: &str| -> u64 {
        attributes[name].as_str().unwrap().parse().unwrap_or_else(|_| panic!("{name} is epoch milliseconds"))
    };
    let (sent_at, first_received_at) = (millis("SentTimestamp"), millis("ApproximateFirstReceiveTimestamp"));
    assert!(
        (before_send..=after_receive).contains(&sent_at),
        "SentTimestamp {sent_at} not in [{before_send}, {after_receive}]"
    );
    assert!(
        (sent_at..=after_receive).contains(&first_received_at),
        "ApproximateFirstReceiveTimestamp {first_received_at} not in [{sent_at}, {after_receive}]"
    );

    // Message attributes in the Go events shape.
    assert_eq!(
        record["messageAttributes"],
        json!({
            "Colour": {"stringValue": "blue", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "Weight": {"stringValue": "42.5", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
        })
    );

    // MD5s: the body's over its UTF-8 bytes, the attributes' by SQS's rules,
    // both as SendMessage reported them.
    let checks = &seen[0]["checks"][0];
    assert_eq!(record["md5OfBody"], checks["md5_of_body"]);
    assert_eq!(record["md5OfBody"], sent["MD5OfMessageBody"]);
    assert_eq!(record["md5OfMessageAttributes"], checks["md5_of_attributes"]);
    assert_eq!(record["md5OfMessageAttributes"], sent["MD5OfMessageAttributes"]);

    // The function succeeded, so the message was deleted.
    assert!(eventually(Duration::from_secs(10), async || queue_counts(&weir, &queue_url).await == (0, 0)).await);
}

/// Without `ReportBatchItemFailures`, a function error fails the whole
/// batch: nothing is deleted, nothing reappears before the queue's
/// visibility timeout, then every message comes back (receive count 2).
/// A successful invocation then settles the whole batch, even if its
/// response lists failed items (only read with `ReportBatchItemFailures`).
#[tokio::test]
async fn a_function_error_returns_the_whole_batch_after_the_visibility_timeout() {
    const FAILS_FIRST: &str = r#"
import json, os

def handler(event, context):
    records = event["Records"]
    counts = [r["attributes"]["ApproximateReceiveCount"] for r in records]
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(json.dumps({"ids": [r["messageId"] for r in records], "bodies": [r["body"] for r in records],
                            "counts": counts}) + "\n")
    if "1" in counts:
        raise RuntimeError("the first delivery fails")
    # Ignored: the mapping does not report batch item failures.
    return {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
"#;
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("deliveries.jsonl");
    let weir = Weir::start(&["--clock", "manual"]);
    let queue =
        weir.sqs("CreateQueue", json!({"QueueName": "retried", "Attributes": {"VisibilityTimeout": "30"}})).await;
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let arn = queue_arn(&weir, &queue_url).await;
    let mut spec = python_function("fails-first", FAILS_FIRST);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;
    let entries: Vec<Value> =
        (0..3).map(|i| json!({"Id": format!("m{i}"), "MessageBody": format!("job-{i}")})).collect();
    let sent = weir.sqs("SendMessageBatch", json!({"QueueUrl": queue_url, "Entries": entries})).await;
    let mut sent_ids: Vec<String> =
        sent["Successful"].as_array().unwrap().iter().map(|e| e["MessageId"].as_str().unwrap().to_string()).collect();
    sent_ids.sort();
    assert_eq!(sent_ids.len(), 3, "{sent}");
    let uuid =
        create_mapping(&weir, json!({"EventSourceArn": arn, "FunctionName": "fails-first", "BatchSize": 10})).await;

    // Delivered ids, sorted, of the invocations whose records all had `count`.
    let delivered = |count: &str| -> Vec<String> {
        let mut ids: Vec<String> = lines(&record_file)
            .iter()
            .filter(|l| l["counts"].as_array().unwrap().iter().all(|c| c == count))
            .flat_map(|l| {
                l["ids"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_string()).collect::<Vec<_>>()
            })
            .collect();
        ids.sort();
        ids
    };
    let failed = eventually(Duration::from_secs(15), async || {
        delivered("1").len() >= 3
            && mapping_metric(&weir, "weir_event_source_mapping_failed_batches_total", &uuid).await
                >= Some(lines(&record_file).len() as f64)
    })
    .await;
    assert!(failed, "first deliveries failed: {:?}", lines(&record_file));
    assert_eq!(delivered("1"), sent_ids, "each message once in the first delivery");

    // The platform clock stands still: the failed batch stays in flight.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(queue_counts(&weir, &queue_url).await, (0, 3), "nothing deleted, nothing visible yet");
    assert!(delivered("2").is_empty(), "redelivered before the visibility timeout: {:?}", lines(&record_file));

    advance_clock(&weir, 31).await;
    let redelivered = eventually(Duration::from_secs(15), async || {
        delivered("2").len() >= 3 && queue_counts(&weir, &queue_url).await == (0, 0)
    })
    .await;
    assert!(redelivered, "the batch came back and was settled: {:?}", lines(&record_file));
    assert_eq!(delivered("2"), sent_ids, "each message once more, receive count 2");
    assert_eq!(lines(&record_file).iter().map(|l| l["ids"].as_array().unwrap().len()).sum::<usize>(), 6);
}

/// `ScalingConfig.MaximumConcurrency` caps the batches in flight: 20
/// one-message batches of 0.3 s never overlap more than 2 at a time, and
/// do reach 2.
#[tokio::test]
async fn maximum_concurrency_caps_the_batches_in_flight() {
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("capped.jsonl");
    let weir = Weir::start(&[]);
    let queue =
        weir.sqs("CreateQueue", json!({"QueueName": "capped", "Attributes": {"VisibilityTimeout": "30"}})).await;
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let arn = queue_arn(&weir, &queue_url).await;
    let mut spec = python_function("capped", &WORKER.replace("time.sleep(0.05)", "time.sleep(0.3)"));
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;
    for batch in 0..2 {
        let entries: Vec<Value> =
            (0..10).map(|i| json!({"Id": format!("m{i}"), "MessageBody": format!("job-{}", batch * 10 + i)})).collect();
        weir.sqs("SendMessageBatch", json!({"QueueUrl": queue_url, "Entries": entries})).await;
    }
    let uuid = create_mapping(
        &weir,
        json!({"EventSourceArn": arn, "FunctionName": "capped", "BatchSize": 1,
               "ScalingConfig": {"MaximumConcurrency": 2}}),
    )
    .await;
    assert_eq!(get_mapping(&weir, &uuid).await["ScalingConfig"], json!({"MaximumConcurrency": 2}));
    let done = eventually(Duration::from_secs(30), async || {
        lines(&record_file).len() >= 20 && queue_counts(&weir, &queue_url).await == (0, 0)
    })
    .await;
    assert!(done, "processed {} of 20", lines(&record_file).len());
    let seen = lines(&record_file);
    let mut bodies: Vec<&str> = seen.iter().map(|l| l["body"].as_str().unwrap()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!((seen.len(), bodies.len()), (20, 20), "each message once");
    let runs: Vec<(f64, f64)> =
        seen.iter().map(|l| (l["start"].as_f64().unwrap(), l["end"].as_f64().unwrap())).collect();
    assert_eq!(max_overlap(&runs), 2, "MaximumConcurrency 2 is reached and never exceeded");
}

/// A disabled mapping leaves the queue alone; enabling it processes what
/// waited; disabling it again stops it. GetEventSourceMapping and
/// ListEventSourceMappings report the state.
#[tokio::test]
async fn a_disabled_mapping_leaves_messages_in_the_queue_until_enabled() {
    let files = tempfile::tempdir().unwrap();
    let record_file = files.path().join("toggled.jsonl");
    let weir = Weir::start(&[]);
    let queue =
        weir.sqs("CreateQueue", json!({"QueueName": "toggled", "Attributes": {"VisibilityTimeout": "30"}})).await;
    let queue_url = queue["QueueUrl"].as_str().unwrap().to_string();
    let arn = queue_arn(&weir, &queue_url).await;
    let mut spec = python_function("toggled", WORKER);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": record_file.to_str().unwrap()}});
    weir.create_function(spec).await;
    for n in 0..3 {
        weir.sqs("SendMessage", json!({"QueueUrl": queue_url, "MessageBody": format!("job-{n}")})).await;
    }
    let uuid = create_mapping(&weir, json!({"EventSourceArn": arn, "FunctionName": "toggled", "Enabled": false})).await;
    let state = async |uuid: &str| get_mapping(&weir, uuid).await["State"].as_str().unwrap().to_string();
    assert!(eventually(Duration::from_secs(5), async || state(&uuid).await == "Disabled").await);
    let listed = weir.call("GET", "/2015-03-31/event-source-mappings?FunctionName=toggled", &[], "").await.json();
    assert_eq!(listed["EventSourceMappings"][0]["State"], "Disabled", "{listed}");

    // An enabled mapping would have claimed them within a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(queue_counts(&weir, &queue_url).await, (3, 0), "a disabled mapping receives nothing");
    assert!(lines(&record_file).is_empty());

    let path = format!("/2015-03-31/event-source-mappings/{uuid}");
    let enabled = weir.json("PUT", &path, json!({"Enabled": true})).await;
    assert_eq!(enabled.status, 202, "{}", enabled.text());
    assert_eq!(enabled.json()["State"], "Enabling");
    assert!(eventually(Duration::from_secs(5), async || state(&uuid).await == "Enabled").await);
    let processed = eventually(Duration::from_secs(15), async || {
        lines(&record_file).len() >= 3 && queue_counts(&weir, &queue_url).await == (0, 0)
    })
    .await;
    assert!(processed, "enabling processes what waited: {:?}", lines(&record_file));

    let disabled = weir.json("PUT", &path, json!({"Enabled": false})).await;
    assert_eq!(disabled.status, 202, "{}", disabled.text());
    assert_eq!(disabled.json()["State"], "Disabling");
    assert!(eventually(Duration::from_secs(5), async || state(&uuid).await == "Disabled").await);
    weir.sqs("SendMessage", json!({"QueueUrl": queue_url, "MessageBody": "after-disabling"})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(queue_counts(&weir, &queue_url).await, (1, 0), "disabled again, the mapping stopped polling");
    assert_eq!(lines(&record_file).len(), 3);
}
