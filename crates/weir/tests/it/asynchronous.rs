//! Asynchronous invocation: durable acceptance, Lambda's retry rules on the
//! manual clock, destinations and the emergency brake.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Appends every event it gets (with its request id) to `RECORD_FILE`, then
/// fails if the event asks for it.
const RECORDER: &str = r#"
import json, os, time

def handler(event, context):
    with open(os.environ["RECORD_FILE"], "a") as f:
        f.write(json.dumps({"request_id": context.aws_request_id, "event": event, "at": time.time()}) + "\n")
    if isinstance(event, dict) and event.get("fail"):
        raise RuntimeError("failing on purpose")
    if isinstance(event, dict) and "sleep" in event:
        time.sleep(event["sleep"])
    return {"handled": event}
"#;

async fn recorder(weir: &Weir, name: &str, file: &Path) {
    let mut spec = python_function(name, RECORDER);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": file.to_str().unwrap()}});
    weir.create_function(spec).await;
}

fn records(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn wait_for_records(file: &Path, count: usize) -> Vec<Value> {
    let ok = eventually(Duration::from_secs(30), async || records(file).len() >= count).await;
    let found = records(file);
    assert!(ok, "expected {count} records in {}, found {}: {found:?}", file.display(), found.len());
    found
}

async fn event(weir: &Weir, function: &str, payload: Value) -> Response {
    let r = weir
        .call(
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            &[("x-amz-invocation-type", "Event")],
            payload.to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    r
}

/// Waits until the function's event is scheduled for a retry.
async fn until_scheduled(weir: &Weir, function: &str, count: u64) {
    let ok = eventually(Duration::from_secs(20), async || {
        weir.call("GET", &format!("/_weir/async/{function}"), &[], "").await.json()["scheduled"] == count
    })
    .await;
    assert!(ok, "{function} has {count} event(s) scheduled for a retry");
}

async fn advance(weir: &Weir, seconds: u64) {
    let r = weir.json("POST", "/_weir/clock/advance", json!({"seconds": seconds})).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

struct Files {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        Files { _dir: dir, root }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

#[tokio::test]
async fn an_event_is_accepted_with_202_and_runs_with_its_request_id() {
    let files = Files::new();
    let weir = Weir::start(&[]);
    recorder(&weir, "worker", &files.path("worker.jsonl")).await;
    let accepted = event(&weir, "worker", json!({"order": 7})).await;
    let request_id = accepted.header("x-amzn-requestid").unwrap().to_string();
    let seen = wait_for_records(&files.path("worker.jsonl"), 1).await;
    assert_eq!(seen[0]["event"], json!({"order": 7}));
    assert_eq!(seen[0]["request_id"], request_id.as_str());

    let too_big = weir
        .call(
            "POST",
            "/2015-03-31/functions/worker/invocations",
            &[("x-amz-invocation-type", "Event")],
            format!("\"{}\"", "x".repeat(1024 * 1024)),
        )
        .await;
    assert_eq!(too_big.status, 413);
    assert_eq!(too_big.header("x-amzn-errortype"), Some("RequestTooLargeException"));
}

#[tokio::test]
async fn function_errors_are_retried_twice_after_one_then_two_minutes_then_go_to_on_failure() {
    let files = Files::new();
    let weir = Weir::start(&["--clock", "manual"]);
    recorder(&weir, "flaky", &files.path("flaky.jsonl")).await;
    recorder(&weir, "failures", &files.path("failures.jsonl")).await;
    let config = weir
        .json(
            "PUT",
            "/2019-09-25/functions/flaky/event-invoke-config",
            json!({"MaximumRetryAttempts": 2, "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:failures"}}}),
        )
        .await;
    assert_eq!(config.status, 200, "{}", config.text());
    assert_eq!(config.json()["FunctionArn"], "arn:aws:lambda:us-east-1:000000000000:function:flaky:$LATEST");

    let accepted = event(&weir, "flaky", json!({"fail": true, "id": 1})).await;
    let request_id = accepted.header("x-amzn-requestid").unwrap().to_string();
    wait_for_records(&files.path("flaky.jsonl"), 1).await;
    until_scheduled(&weir, "flaky", 1).await;

    // No retry before one minute has passed on the platform clock.
    advance(&weir, 59).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(records(&files.path("flaky.jsonl")).len(), 1);
    advance(&weir, 1).await;
    wait_for_records(&files.path("flaky.jsonl"), 2).await;
    until_scheduled(&weir, "flaky", 1).await;

    // The second retry waits two minutes.
    advance(&weir, 119).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(records(&files.path("flaky.jsonl")).len(), 2);
    advance(&weir, 1).await;
    let attempts = wait_for_records(&files.path("flaky.jsonl"), 3).await;
    assert!(attempts.iter().all(|a| a["request_id"] == request_id.as_str()), "retries keep the request id");

    // Retries exhausted: the on-failure destination gets Lambda's record.
    let failure = wait_for_records(&files.path("failures.jsonl"), 1).await;
    let record = &failure[0]["event"];
    assert_eq!(record["version"], "1.0");
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(record["requestContext"]["requestId"], request_id.as_str());
    assert_eq!(record["requestContext"]["functionArn"], "arn:aws:lambda:us-east-1:000000000000:function:flaky:$LATEST");
    assert_eq!(record["requestPayload"], json!({"fail": true, "id": 1}));
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responseContext"]["statusCode"], 200);
    assert_eq!(record["responsePayload"]["errorMessage"], "failing on purpose");
    advance(&weir, 600).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(records(&files.path("flaky.jsonl")).len(), 3, "no fourth attempt");
}

#[tokio::test]
async fn a_success_goes_to_the_on_success_destination() {
    let files = Files::new();
    let weir = Weir::start(&[]);
    recorder(&weir, "ok", &files.path("ok.jsonl")).await;
    recorder(&weir, "successes", &files.path("successes.jsonl")).await;
    weir.json(
        "PUT",
        "/2019-09-25/functions/ok/event-invoke-config",
        json!({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:successes"}}}),
    )
    .await;
    event(&weir, "ok", json!({"n": 1})).await;
    let got = wait_for_records(&files.path("successes.jsonl"), 1).await;
    let record = &got[0]["event"];
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(record["responsePayload"], json!({"handled": {"n": 1}}));
    assert!(record["responseContext"].get("functionError").is_none());
}

#[tokio::test]
async fn reserved_zero_sends_events_to_on_failure_without_invoking() {
    let files = Files::new();
    let weir = Weir::start(&[]);
    recorder(&weir, "braked", &files.path("braked.jsonl")).await;
    recorder(&weir, "failures", &files.path("failures.jsonl")).await;
    weir.json(
        "PUT",
        "/2019-09-25/functions/braked/event-invoke-config",
        json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:failures"}}}),
    )
    .await;
    weir.put_reserved("braked", 0).await;
    for i in 0..3 {
        event(&weir, "braked", json!({"i": i})).await;
    }
    let failed = wait_for_records(&files.path("failures.jsonl"), 3).await;
    for f in &failed {
        assert_eq!(f["event"]["requestContext"]["condition"], "ZeroReservedConcurrency");
        assert_eq!(f["event"]["requestContext"]["approximateInvokeCount"], 0);
        assert!(f["event"].get("responseContext").is_none());
    }
    assert!(records(&files.path("braked.jsonl")).is_empty(), "the function never ran");
}

#[tokio::test]
async fn events_at_the_limit_wait_and_are_dropped_once_older_than_their_maximum_age() {
    let files = Files::new();
    let weir = Weir::start(&["--clock", "manual"]);
    recorder(&weir, "narrow", &files.path("narrow.jsonl")).await;
    recorder(&weir, "failures", &files.path("failures.jsonl")).await;
    weir.json(
        "PUT",
        "/2019-09-25/functions/narrow/event-invoke-config",
        json!({"MaximumEventAgeInSeconds": 60, "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:failures"}}}),
    )
    .await;
    weir.put_reserved("narrow", 1).await;
    // The clock moves 61 s below: a timeout above that keeps the holder's
    // slot taken throughout (a 30 s one would free it midway, and the event
    // could start before it is too old).
    let longer = weir.json("PUT", "/2015-03-31/functions/narrow/configuration", json!({"Timeout": 300})).await;
    assert_eq!(longer.status, 200, "{}", longer.text());
    // A synchronous call holds the only slot.
    let holder = tokio::spawn({
        let endpoint = weir.endpoint.clone();
        async move {
            let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
            let request = hyper::Request::post(format!("{endpoint}/2015-03-31/functions/narrow/invocations"))
                .body(http_body_util::Full::new(bytes::Bytes::from(r#"{"sleep": 3}"#)))
                .unwrap();
            client.request(request).await.unwrap().status()
        }
    });
    wait_for_records(&files.path("narrow.jsonl"), 1).await;
    event(&weir, "narrow", json!({"late": true})).await;
    // At the limit: the event waits in the queue instead of being dropped.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = weir.call("GET", "/_weir/async/narrow", &[], "").await.json();
    assert_eq!((status["waiting"].as_u64(), status["dropped"].as_u64()), (Some(1), Some(0)), "{status}");
    assert!(records(&files.path("failures.jsonl")).is_empty());
    // Older than 60 s: given up with EventAgeExceeded.
    advance(&weir, 30).await;
    advance(&weir, 31).await;
    let failed = wait_for_records(&files.path("failures.jsonl"), 1).await;
    assert_eq!(failed[0]["event"]["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(failed[0]["event"]["requestPayload"], json!({"late": true}));
    assert_eq!(holder.await.unwrap(), 200);
    assert_eq!(records(&files.path("narrow.jsonl")).len(), 1, "the throttled event never ran");
}

#[tokio::test]
async fn event_invoke_config_follows_the_lambda_api() {
    let weir = Weir::start(&[]);
    weir.create_function(python_function("f", RECORDER)).await;
    let missing = weir.call("GET", "/2019-09-25/functions/f/event-invoke-config", &[], "").await;
    assert_eq!(missing.status, 404);
    let bad = weir.json("PUT", "/2019-09-25/functions/f/event-invoke-config", json!({"MaximumRetryAttempts": 3})).await;
    assert_eq!(bad.status, 400);
    let bad_age =
        weir.json("PUT", "/2019-09-25/functions/f/event-invoke-config", json!({"MaximumEventAgeInSeconds": 59})).await;
    assert_eq!(bad_age.status, 400);
    let put = weir
        .json(
            "PUT",
            "/2019-09-25/functions/f/event-invoke-config",
            json!({"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 120}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let updated =
        weir.json("POST", "/2019-09-25/functions/f/event-invoke-config", json!({"MaximumRetryAttempts": 0})).await;
    assert_eq!(updated.json()["MaximumRetryAttempts"], 0);
    assert_eq!(updated.json()["MaximumEventAgeInSeconds"], 120, "update keeps what it does not change");
    let list = weir.call("GET", "/2019-09-25/functions/f/event-invoke-config/list", &[], "").await.json();
    assert_eq!(list["FunctionEventInvokeConfigs"].as_array().unwrap().len(), 1);
    // A bucket takes failures only.
    let bucket = "arn:aws:s3:::failed-events";
    let on_failure = weir
        .json(
            "POST",
            "/2019-09-25/functions/f/event-invoke-config",
            json!({"DestinationConfig": {"OnFailure": {"Destination": bucket}}}),
        )
        .await;
    assert_eq!(on_failure.status, 200, "{}", on_failure.text());
    assert_eq!(on_failure.json()["DestinationConfig"]["OnFailure"]["Destination"], bucket);
    let on_success = weir
        .json(
            "POST",
            "/2019-09-25/functions/f/event-invoke-config",
            json!({"DestinationConfig": {"OnSuccess": {"Destination": bucket}}}),
        )
        .await;
    assert_eq!(on_success.status, 400, "{}", on_success.text());
    assert_eq!(weir.call("DELETE", "/2019-09-25/functions/f/event-invoke-config", &[], "").await.status, 204);
    assert_eq!(weir.call("GET", "/2019-09-25/functions/f/event-invoke-config", &[], "").await.status, 404);

    // A dead-letter queue is a queue or a topic.
    for bad in ["garbage", "arn:aws:lambda:us-east-1:000000000000:function:f"] {
        let refused = weir
            .json("PUT", "/2015-03-31/functions/f/configuration", json!({"DeadLetterConfig": {"TargetArn": bad}}))
            .await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text());
        assert_eq!(refused.header("x-amzn-errortype"), Some("InvalidParameterValueException"));
    }
    let topic = "arn:aws:sns:us-east-1:000000000000:alerts";
    let accepted = weir
        .json("PUT", "/2015-03-31/functions/f/configuration", json!({"DeadLetterConfig": {"TargetArn": topic}}))
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert_eq!(accepted.json()["DeadLetterConfig"]["TargetArn"], topic);
}

#[tokio::test]
async fn failed_events_land_in_the_dead_letter_queue_with_lambdas_attributes() {
    let files = Files::new();
    let weir = Weir::start(&["--clock", "manual"]);
    let dlq = weir.sqs("CreateQueue", json!({"QueueName": "events-dlq"})).await;
    let mut spec = python_function("doomed", RECORDER);
    spec["Environment"] = json!({"Variables": {"RECORD_FILE": files.path("doomed.jsonl").to_str().unwrap()}});
    spec["DeadLetterConfig"] = json!({"TargetArn": "arn:aws:sqs:us-east-1:000000000000:events-dlq"});
    weir.create_function(spec).await;
    weir.json("PUT", "/2019-09-25/functions/doomed/event-invoke-config", json!({"MaximumRetryAttempts": 0})).await;
    let accepted = event(&weir, "doomed", json!({"fail": true, "order": 9})).await;
    let request_id = accepted.header("x-amzn-requestid").unwrap().to_string();
    let got = eventually(Duration::from_secs(20), async || {
        let r = weir
            .sqs(
                "ReceiveMessage",
                json!({"QueueUrl": dlq["QueueUrl"], "MessageAttributeNames": ["All"], "WaitTimeSeconds": 0}),
            )
            .await;
        r["Messages"].as_array().is_some_and(|m| !m.is_empty())
    })
    .await;
    assert!(got, "the failed event reached the dead-letter queue");
    // Visible again at once: the manual clock never advanced past the visibility timeout,
    // so make it visible explicitly and read it.
    let messages = weir
        .sqs(
            "ReceiveMessage",
            json!({"QueueUrl": dlq["QueueUrl"], "MessageAttributeNames": ["All"], "VisibilityTimeout": 0}),
        )
        .await;
    let message = messages["Messages"].as_array().and_then(|m| m.first()).cloned();
    let message = match message {
        Some(m) => m,
        None => {
            advance(&weir, 31).await;
            weir.sqs("ReceiveMessage", json!({"QueueUrl": dlq["QueueUrl"], "MessageAttributeNames": ["All"]})).await["Messages"][0].clone()
        }
    };
    assert_eq!(
        serde_json::from_str::<Value>(message["Body"].as_str().unwrap()).unwrap(),
        json!({"fail": true, "order": 9})
    );
    let attributes = &message["MessageAttributes"];
    assert_eq!(attributes["RequestID"]["StringValue"], request_id.as_str());
    assert_eq!(attributes["ErrorCode"]["DataType"], "Number");
    assert_eq!(attributes["ErrorMessage"]["StringValue"], "failing on purpose", "the function's errorMessage");
    assert_eq!(records(&files.path("doomed.jsonl")).len(), 1, "MaximumRetryAttempts 0: no retry");
}

#[tokio::test]
async fn advancing_the_manual_clock_never_runs_a_running_event_twice() {
    let files = Files::new();
    let weir = Weir::start(&["--clock", "manual"]);
    recorder(&weir, "slow", &files.path("slow.jsonl")).await;
    event(&weir, "slow", json!({"sleep": 2})).await;
    wait_for_records(&files.path("slow.jsonl"), 1).await;
    // Beyond the event's 10 s lease (within the function's 30 s timeout),
    // while its handler still sleeps.
    advance(&weir, 20).await;
    let settled = eventually(Duration::from_secs(20), async || {
        let status = weir.call("GET", "/_weir/async/slow", &[], "").await.json();
        status["waiting"] == 0 && status["running"] == 0 && status["scheduled"] == 0
    })
    .await;
    assert!(settled, "the event finished");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(records(&files.path("slow.jsonl")).len(), 1, "the event ran once");
}

/// A throttled event is not dropped: it waits (Lambda's backoff from 1 s)
/// and runs once capacity returns. Here the scaling rate allows one new
/// environment per 10 s and the first event holds it.
#[tokio::test]
async fn a_throttled_event_backs_off_and_runs_when_capacity_returns() {
    let files = Files::new();
    let weir = Weir::start(&["--clock", "manual", "--scaling-rate", "1", "--scaling-window", "10s"]);
    recorder(&weir, "narrow", &files.path("narrow.jsonl")).await;
    event(&weir, "narrow", json!({"n": 1, "sleep": 1})).await;
    event(&weir, "narrow", json!({"n": 2})).await;
    // The first runs; the second found no environment and no rate to start one.
    let first = wait_for_records(&files.path("narrow.jsonl"), 1).await;
    assert_eq!(first[0]["event"]["n"], 1);
    until_scheduled(&weir, "narrow", 1).await;
    let metrics = weir.call("GET", "/metrics", &[], "").await.text();
    let throttled = metrics.lines().any(|l| {
        l.starts_with("weir_throttles_total{")
            && l.contains("FunctionInvocationRateLimitExceeded")
            && l.contains("narrow")
            && !l.ends_with(" 0")
    });
    assert!(throttled, "the second event was throttled by the scaling rate:\n{metrics}");
    // Once the first is done, its 1 s backoff passes: it runs on the first
    // environment, now free.
    let first_done = eventually(Duration::from_secs(10), async || {
        weir.call("GET", "/_weir/async/narrow", &[], "").await.json()["running"] == 0
    })
    .await;
    assert!(first_done);
    advance(&weir, 2).await;
    let both = wait_for_records(&files.path("narrow.jsonl"), 2).await;
    assert_eq!(both[1]["event"]["n"], 2);
    assert_eq!(weir.call("GET", "/_weir/async/narrow", &[], "").await.json()["dropped"], 0);
}
