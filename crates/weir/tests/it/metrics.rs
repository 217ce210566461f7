//! Metrics against the real server: a scripted workload, then every counter
//! of `GET /metrics` compared with its exact expected value, the per-second
//! history compared with the counters, and `weir top --once` on the result.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

impl Scrape {
    fn function(&self, name: &str, function: &str) -> f64 {
        self.get(name, &[("function_name", function)])
    }

    fn throttles(&self, function: &str, reason: &str) -> f64 {
        self.get("weir_throttles_total", &[("function_name", function), ("reason", reason)])
    }

    fn queue(&self, name: &str, queue: &str) -> f64 {
        self.get(name, &[("queue_name", queue)])
    }
}

async fn scrape(weir: &Weir) -> Scrape {
    let r = weir.call("GET", "/metrics", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    Scrape::parse(&r.text())
}

/// Scrapes until `check` holds (for work the server finishes on its own).
async fn scrape_until(weir: &Weir, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let ok = eventually(Duration::from_secs(30), async || check(&scrape(weir).await)).await;
    assert!(ok, "timed out waiting for {what}");
    scrape(weir).await
}

async fn advance(weir: &Weir, seconds: u64) {
    let r = weir.json("POST", "/_weir/clock/advance", json!({"seconds": seconds})).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The history index; reading it makes the server sample the current second.
async fn history_head(weir: &Weir) -> u64 {
    let r = weir.call("GET", "/_weir/metrics/history", &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["head_epoch_s"].as_u64().expect("a sample was taken")
}

/// `[(second, value)]` of one history series.
async fn history(weir: &Weir, query: &str) -> Vec<(u64, f64)> {
    let r = weir.call("GET", &format!("/_weir/metrics/history?{query}"), &[], "").await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()["points"].as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap())).collect()
}

fn nonzero(points: &[(u64, f64)]) -> Vec<(u64, f64)> {
    points.iter().copied().filter(|(_, v)| *v != 0.0).collect()
}

async fn invoke_event(weir: &Weir, function: &str, payload: Value) {
    let r = weir
        .call(
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            &[("x-amz-invocation-type", "Event")],
            payload.to_string(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
}

fn reason_of(r: &Response) -> String {
    assert_eq!(r.status, 429, "{}", r.text());
    r.json()["Reason"].as_str().unwrap().to_string()
}

const ACCOUNT: &str = "ConcurrentInvocationLimitExceeded";
const RESERVED: &str = "ReservedFunctionConcurrentInvocationLimitExceeded";
const RATE: &str = "FunctionInvocationRateLimitExceeded";

/// The story: successes, function errors and a throttle of every reason,
/// asynchronous events (one of them dropped with a failed DLQ and a failed
/// destination), and SQS traffic, each phase one second of a manual clock;
/// then every counter, the history's seconds, and `weir top`.
#[tokio::test]
async fn every_counter_says_exactly_what_the_workload_did() {
    // Account of 2 with nothing kept unreserved, one new environment per
    // function per hour: every throttle reason is one request away.
    let weir = Weir::start(&[
        "--clock",
        "manual",
        "--account-concurrency",
        "2",
        "--minimum-unreserved",
        "0",
        "--scaling-rate",
        "1",
        "--scaling-window",
        "1h",
    ]);
    let s0 = history_head(&weir).await;

    // ---- second s0: sync successes and function errors ------------------
    // One zip of the Rust test function for every function (zipping 40 MB is slow).
    let spec = rust_function("ok");
    let named = |name: &str| {
        let mut spec = spec.clone();
        spec["FunctionName"] = json!(name);
        spec
    };
    for name in ["ok", "slow", "third"] {
        weir.create_function(named(name)).await;
    }
    for _ in 0..5 {
        let r = weir.invoke("ok", json!({"echo": 1})).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for _ in 0..2 {
        let r = weir.invoke("ok", json!({"error": "boom"})).await;
        assert_eq!((r.status, r.header("x-amz-function-error")), (200, Some("Unhandled")));
    }
    advance(&weir, 1).await;
    assert_eq!(history_head(&weir).await, s0 + 1);

    // ---- second s0+1: one throttle of each reason ------------------------
    let mut capped = named("capped");
    capped["DeadLetterConfig"] = json!({"TargetArn": "arn:aws:sns:us-east-1:000000000000:alerts"});
    weir.create_function(capped).await;
    weir.put_reserved("capped", 0).await;
    let on_failure =
        json!({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sns:us-east-1:000000000000:alerts"}}});
    let r = weir.json("PUT", "/2019-09-25/functions/capped/event-invoke-config", on_failure).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let long_ok = weir.invoke("ok", json!({"sleep_ms": 4000}));
    let long_slow = async {
        scrape_until(&weir, "ok busy", |m| m.function("weir_concurrent_executions", "ok") == 1.0).await;
        // ok's only environment is busy and its one new environment per hour is spent.
        assert_eq!(reason_of(&weir.invoke("ok", json!({})).await), RATE);
        weir.invoke("slow", json!({"sleep_ms": 4000})).await
    };
    let throttles = async {
        let busy =
            scrape_until(&weir, "both functions busy", |m| m.get("weir_concurrent_executions", &[]) == 2.0).await;
        assert_eq!(busy.function("weir_concurrent_executions", "ok"), 1.0);
        assert_eq!(busy.get("weir_unreserved_concurrent_executions", &[]), 2.0);
        assert_eq!(busy.get("weir_claimed_account_concurrency", &[]), 2.0);
        // Both slots of the account are in use.
        assert_eq!(reason_of(&weir.invoke("third", json!({})).await), ACCOUNT);
        for _ in 0..3 {
            assert_eq!(reason_of(&weir.invoke("capped", json!({})).await), RESERVED);
        }
    };
    let (a, b, ()) = tokio::join!(long_ok, long_slow, throttles);
    assert_eq!((a.status, b.status), (200, 200));
    advance(&weir, 1).await;
    assert_eq!(history_head(&weir).await, s0 + 2);

    // ---- second s0+2: asynchronous events and queue traffic ---------------
    // Reserved concurrency 1 keeps ok's dispatcher to one event at a time on
    // its one environment (a second would need a new one: the rate is spent).
    weir.put_reserved("ok", 1).await;
    for i in 0..3 {
        invoke_event(&weir, "ok", json!({"event": i})).await;
    }
    invoke_event(&weir, "capped", json!({"event": "braked"})).await;
    let queue_url =
        weir.sqs("CreateQueue", json!({"QueueName": "jobs"})).await["QueueUrl"].as_str().unwrap().to_string();
    for i in 0..5 {
        weir.sqs("SendMessage", json!({"QueueUrl": queue_url, "MessageBody": format!("job {i}")})).await;
    }
    weir.sqs("SendMessage", json!({"QueueUrl": queue_url, "MessageBody": "later", "DelaySeconds": 60})).await;
    let received = weir.sqs("ReceiveMessage", json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 3})).await;
    let handles: Vec<String> =
        received["Messages"].as_array().unwrap().iter().map(|m| m["ReceiptHandle"].as_str().unwrap().into()).collect();
    assert_eq!(handles.len(), 3);
    for handle in &handles[..2] {
        weir.sqs("DeleteMessage", json!({"QueueUrl": queue_url, "ReceiptHandle": handle})).await;
    }
    scrape_until(&weir, "the asynchronous events (11 invocations of ok, 1 event of capped dropped)", |m| {
        m.function("weir_invocations_total", "ok") == 11.0
            && m.function("weir_async_events_dropped_total", "capped") == 1.0
    })
    .await;
    advance(&weir, 1).await;
    assert_eq!(history_head(&weir).await, s0 + 3);
    advance(&weir, 10).await;

    // ---- the counters --------------------------------------------------------
    let m = scrape(&weir).await;
    let f = |name: &str, function: &str| m.function(name, function);
    assert_eq!(f("weir_invocations_total", "ok"), 11.0, "5 successes, 2 errors, 1 long, 3 events");
    assert_eq!(f("weir_errors_total", "ok"), 2.0);
    assert_eq!(f("weir_invocations_total", "slow"), 1.0);
    assert_eq!(f("weir_invocations_total", "third"), 0.0, "a throttled request is not an invocation");
    assert_eq!(f("weir_invocations_total", "capped"), 0.0);
    assert_eq!(f("weir_errors_total", "capped"), 0.0);
    let throttles = [
        ("ok", [0.0, 0.0, 1.0]),
        ("slow", [0.0, 0.0, 0.0]),
        ("third", [1.0, 0.0, 0.0]),
        // Three requests, and the asynchronous event the dispatcher tried once.
        ("capped", [0.0, 4.0, 0.0]),
    ];
    for (function, [account, reserved, rate]) in throttles {
        assert_eq!(m.throttles(function, ACCOUNT), account, "{function} {ACCOUNT}");
        assert_eq!(m.throttles(function, RESERVED), reserved, "{function} {RESERVED}");
        assert_eq!(m.throttles(function, RATE), rate, "{function} {RATE}");
    }
    assert_eq!(f("weir_duration_seconds_count", "ok"), 11.0);
    assert_eq!(m.get("weir_duration_seconds_bucket", &[("function_name", "ok"), ("le", "+Inf")]), 11.0);
    assert!(m.get("weir_duration_seconds_bucket", &[("function_name", "ok"), ("le", "1")]) == 10.0, "one took 4 s");
    assert!(f("weir_duration_seconds_sum", "ok") >= 4.0);
    assert_eq!(f("weir_duration_seconds_count", "slow"), 1.0);
    assert_eq!(f("weir_cold_starts_total", "ok"), 1.0);
    assert_eq!(f("weir_cold_starts_total", "slow"), 1.0);
    assert_eq!(f("weir_init_duration_seconds_count", "ok"), 1.0);
    assert_eq!(f("weir_environments_started_total", "ok"), 1.0);
    assert_eq!(f("weir_concurrent_executions", "ok"), 0.0);
    assert_eq!(m.get("weir_concurrent_executions", &[]), 0.0);
    assert_eq!(m.get("weir_peak_concurrent_executions", &[]), 2.0);
    assert_eq!(m.get("weir_account_concurrency_limit", &[]), 2.0);
    assert_eq!(f("weir_reserved_concurrent_executions", "capped"), 0.0);
    assert_eq!(f("weir_reserved_concurrent_executions", "ok"), 1.0);
    assert!(!m.0.contains_key(&key("weir_reserved_concurrent_executions", &[("function_name", "slow")])));
    assert!(f("weir_max_memory_used_bytes", "ok") > 0.0);

    assert_eq!(f("weir_async_events_received_total", "ok"), 3.0);
    assert_eq!(f("weir_async_event_age_seconds_count", "ok"), 3.0);
    assert_eq!(f("weir_async_events_dropped_total", "ok"), 0.0);
    assert_eq!(f("weir_async_events_received_total", "capped"), 1.0);
    assert_eq!(f("weir_async_events_dropped_total", "capped"), 1.0);
    assert_eq!(f("weir_dead_letter_errors_total", "capped"), 1.0, "an SNS dead-letter target is not available");
    assert_eq!(f("weir_destination_delivery_failures_total", "capped"), 1.0);

    let q = |name: &str| m.queue(name, "jobs");
    assert_eq!(q("weir_sqs_number_of_messages_sent_total"), 6.0);
    assert_eq!(q("weir_sqs_number_of_messages_received_total"), 3.0);
    assert_eq!(q("weir_sqs_number_of_messages_deleted_total"), 2.0);
    assert_eq!(q("weir_sqs_approximate_number_of_messages_visible"), 2.0);
    assert_eq!(q("weir_sqs_approximate_number_of_messages_not_visible"), 1.0);
    assert_eq!(q("weir_sqs_approximate_number_of_messages_delayed"), 1.0);
    assert_eq!(q("weir_sqs_approximate_age_of_oldest_message_seconds"), 11.0, "sent 11 platform seconds ago");
    assert!(m.get("weir_store_durable_commits_total", &[]) > 0.0);

    // ---- the history: a point per second, consistent with the counters -------
    let head = history_head(&weir).await;
    assert_eq!(head, s0 + 13);
    let points = history(&weir, "metric=weir_invocations_total&function=ok&seconds=60").await;
    assert_eq!(points.first(), Some(&(s0 + 1, 7.0)), "ok was created in s0's second: {points:?}");
    assert_eq!(points.len(), 13, "every second from s0+1 to s0+13");
    assert_eq!(nonzero(&points), vec![(s0 + 1, 7.0), (s0 + 2, 1.0), (s0 + 3, 3.0)]);
    let errors = history(&weir, "metric=weir_errors_total&function=ok&seconds=60").await;
    assert_eq!(nonzero(&errors), vec![(s0 + 1, 2.0)]);
    let reserved = history(&weir, &format!("metric=weir_throttles_total&function=capped&reason={RESERVED}")).await;
    assert_eq!(nonzero(&reserved), vec![(s0 + 2, 3.0), (s0 + 3, 1.0)]);
    let all_reasons = history(&weir, "metric=weir_throttles_total&function=ok").await;
    assert_eq!(nonzero(&all_reasons), vec![(s0 + 2, 1.0)]);
    let sent = history(&weir, "metric=weir_sqs_number_of_messages_sent_total&queue=jobs").await;
    assert_eq!(nonzero(&sent), vec![(s0 + 3, 6.0)]);
    let visible = history(&weir, "metric=weir_sqs_approximate_number_of_messages_visible&queue=jobs").await;
    assert_eq!(visible.last(), Some(&(s0 + 13, 2.0)));
    let age = history(&weir, "metric=weir_sqs_approximate_age_of_oldest_message_seconds&queue=jobs").await;
    assert_eq!(age.last(), Some(&(s0 + 13, 11.0)));
    let p99 = history(&weir, "metric=weir_duration_seconds&stat=p99&function=ok").await;
    assert_eq!(
        p99.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![s0 + 1, s0 + 2, s0 + 3],
        "seconds with invocations"
    );
    assert!((3.0..=5.0).contains(&p99[1].1), "the 4 s invocation: {p99:?}");
    // Concurrency points are the peak since the previous sample (CloudWatch's
    // Maximum), so invocations that ran between two samples still show: the
    // sequential ones of s0, the two 4 s ones of s0+1, the events of s0+2.
    let peak = history(&weir, "metric=weir_concurrent_executions").await;
    assert_eq!(peak.len(), 14, "every second from s0 to s0+13: {peak:?}");
    assert_eq!(nonzero(&peak), vec![(s0 + 1, 1.0), (s0 + 2, 2.0), (s0 + 3, 1.0)], "account: {peak:?}");
    let peak = history(&weir, "metric=weir_concurrent_executions&function=ok").await;
    assert_eq!(nonzero(&peak), vec![(s0 + 1, 1.0), (s0 + 2, 1.0), (s0 + 3, 1.0)], "ok: {peak:?}");
    let peak = history(&weir, "metric=weir_concurrent_executions&function=slow").await;
    assert_eq!(nonzero(&peak), vec![(s0 + 2, 1.0)], "slow: {peak:?}");
    let peak = history(&weir, "metric=weir_concurrent_executions&function=third").await;
    assert_eq!(nonzero(&peak), vec![], "third was only throttled");
    // Store commit time: the per-second points sum to the counter (µs resolution).
    let commit = history(&weir, "metric=weir_store_commit_seconds_total").await;
    let committed: f64 = commit.iter().map(|(_, v)| v).sum();
    let total = m.get("weir_store_commit_seconds_total", &[]);
    assert!(total > 0.0 && (committed - total).abs() <= 1e-6 * (commit.len() + 1) as f64, "{committed} vs {total}");
    let missing = weir.call("GET", "/_weir/metrics/history?metric=weir_nothing&function=ok", &[], "").await;
    assert_eq!(missing.status, 404);

    // ---- weir top, one frame as text ---------------------------------------------
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["top", "--once", "--sort", "name", "--endpoint", &weir.endpoint])
        .output()
        .expect("run weir top");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let frame = String::from_utf8(output.stdout).unwrap();
    assert!(frame.contains("4 functions"), "{frame}");
    assert!(frame.contains("concurrency 0/2"), "{frame}");
    let row = |name: &str| -> Vec<String> {
        let line = frame
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}:\n{frame}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    let header: Vec<&str> = frame
        .lines()
        .find(|l| l.starts_with("FUNCTION"))
        .unwrap()
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(&header[..5], ["FUNCTION", "CONC", "PEAK", "RSV", "PROV"], "{frame}");
    // FUNCTION CONC PEAK RSV PROV INV/S ERR/S THR… P50 P99 COLD
    assert_eq!(row("ok")[..5], ["ok", "0", "1", "1", "-"]);
    assert_eq!(row("capped")[..4], ["capped", "0", "0", "0"]);
    assert_eq!(row("ok")[12], "1", "ok's cold starts: {frame}");
    let names: Vec<&str> = frame.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let order: Vec<&str> = names.iter().copied().filter(|n| ["capped", "ok", "slow", "third"].contains(n)).collect();
    assert_eq!(order, ["capped", "ok", "slow", "third"], "sorted by name");
    let queue = frame.lines().find(|l| l.starts_with("jobs ")).expect("a row for the queue");
    assert_eq!(queue.split_whitespace().collect::<Vec<_>>(), ["jobs", "2", "1", "1", "11.00s"]);
}

/// The `Max Memory Used` of a REPORT line, in MB.
fn max_memory_used_mb(log: &str) -> u64 {
    let report = log.lines().find(|l| l.starts_with("REPORT")).unwrap_or_else(|| panic!("no REPORT in {log}"));
    let field = report.split('\t').find_map(|f| f.trim().strip_prefix("Max Memory Used: ")).expect("Max Memory Used");
    field.trim_end_matches(" MB").parse().unwrap()
}

/// Provisioned concurrency: requested and allocated per alias (`resource`),
/// provisioned invocations, spillover, utilization, and an init time only
/// for the on-demand environment.
#[tokio::test]
async fn provisioned_concurrency_metrics_follow_the_alias() {
    let weir = Weir::start(&[]);
    weir.create_function(rust_function("pc")).await;
    weir.json("POST", "/2015-03-31/functions/pc/versions", json!({})).await;
    weir.json("POST", "/2015-03-31/functions/pc/aliases", json!({"Name": "live", "FunctionVersion": "1"})).await;
    let put = weir
        .json(
            "PUT",
            "/2019-09-30/functions/pc/provisioned-concurrency?Qualifier=live",
            json!({"ProvisionedConcurrentExecutions": 1}),
        )
        .await;
    assert_eq!(put.status, 202, "{}", put.text());
    let live = [("function_name", "pc"), ("resource", "live")];
    let m = scrape_until(&weir, "provisioned environment ready", |m| {
        m.get("weir_provisioned_concurrency_allocated", &live) == 1.0
    })
    .await;
    assert_eq!(m.get("weir_provisioned_concurrency_requested", &live), 1.0);
    assert_eq!(m.function("weir_provisioned_concurrency_utilization", "pc"), 0.0);

    let r = weir.invoke("pc:live", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let long = weir.invoke("pc:live", json!({"sleep_ms": 3000}));
    let spill = async {
        let busy = scrape_until(&weir, "the provisioned environment busy", |m| {
            m.function("weir_provisioned_concurrent_executions", "pc") == 1.0
        })
        .await;
        assert_eq!(busy.function("weir_provisioned_concurrency_utilization", "pc"), 1.0);
        // The only provisioned environment is busy: this one runs on demand.
        let r = weir.invoke("pc:live", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(has_init_duration(&r.log()), "a spillover cold start:\n{}", r.log());
    };
    let (r, ()) = tokio::join!(long, spill);
    assert_eq!(r.status, 200);

    let m = scrape(&weir).await;
    assert_eq!(m.function("weir_invocations_total", "pc"), 3.0);
    assert_eq!(m.function("weir_provisioned_concurrency_invocations_total", "pc"), 2.0);
    assert_eq!(m.function("weir_provisioned_concurrency_spillover_invocations_total", "pc"), 1.0);
    assert_eq!(m.function("weir_cold_starts_total", "pc"), 1.0);
    assert_eq!(m.function("weir_environments_started_total", "pc"), 2.0);
    assert_eq!(m.function("weir_init_duration_seconds_count", "pc"), 1.0, "provisioned inits report no Init Duration");
    assert_eq!(m.function("weir_provisioned_concurrent_executions", "pc"), 0.0);

    // The history holds requested and allocated (summed over the function's
    // aliases and versions) and the concurrency peaks of the invocations
    // above, which a sample at an instant would likely have missed.
    let gauge_now = async |metric: &str| {
        let r = weir
            .call("GET", &format!("/_weir/metrics/history?metric={metric}&function=pc&seconds=3600"), &[], "")
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).collect::<Vec<_>>()
    };
    let ok = eventually(Duration::from_secs(5), async || {
        gauge_now("weir_provisioned_concurrency_requested").await.last() == Some(&1.0)
            && gauge_now("weir_provisioned_concurrency_allocated").await.last() == Some(&1.0)
            && gauge_now("weir_concurrent_executions").await.contains(&2.0)
    })
    .await;
    assert!(ok, "history of pc: {:?}", gauge_now("weir_concurrent_executions").await);
}

/// A mapping's poller counters agree with the queue's and the function's.
#[tokio::test]
async fn event_source_mapping_counters_agree_with_the_queue_and_the_function() {
    let weir = Weir::start(&[]);
    weir.create_function(rust_function("consumer")).await;
    weir.sqs("CreateQueue", json!({"QueueName": "feed"})).await;
    let queue_url =
        weir.sqs("GetQueueUrl", json!({"QueueName": "feed"})).await["QueueUrl"].as_str().unwrap().to_string();
    let mapping = weir
        .json(
            "POST",
            "/2015-03-31/event-source-mappings",
            json!({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:feed", "FunctionName": "consumer", "BatchSize": 2}),
        )
        .await;
    assert_eq!(mapping.status, 202, "{}", mapping.text());
    let uuid = mapping.json()["UUID"].as_str().unwrap().to_string();
    for i in 0..6 {
        weir.sqs("SendMessage", json!({"QueueUrl": queue_url, "MessageBody": format!("item {i}")})).await;
    }
    let labels = [("event_source_mapping", uuid.as_str()), ("function_name", "consumer"), ("queue_name", "feed")];
    let m = scrape_until(&weir, "six messages processed", |m| {
        m.get("weir_event_source_mapping_deleted_messages_total", &labels) == 6.0
            && m.get("weir_event_source_mapping_in_flight_batches", &labels) == 0.0
    })
    .await;
    let esm = |name: &str| m.get(name, &labels);
    assert_eq!(esm("weir_event_source_mapping_polled_messages_total"), 6.0);
    assert_eq!(esm("weir_event_source_mapping_failed_batches_total"), 0.0);
    assert_eq!(esm("weir_event_source_mapping_throttled_batches_total"), 0.0);
    let batches = esm("weir_event_source_mapping_invoked_batches_total");
    assert!((3.0..=6.0).contains(&batches), "six messages in batches of at most two: {batches}");
    assert_eq!(m.function("weir_invocations_total", "consumer"), batches, "one invocation per batch");
    assert!(esm("weir_event_source_mapping_concurrency_limit") >= 1.0);
    assert_eq!(m.queue("weir_sqs_number_of_messages_sent_total", "feed"), 6.0);
    assert_eq!(m.queue("weir_sqs_number_of_messages_received_total", "feed"), 6.0);
    assert_eq!(m.queue("weir_sqs_number_of_messages_deleted_total", "feed"), 6.0);
    assert_eq!(m.queue("weir_sqs_approximate_number_of_messages_visible", "feed"), 0.0);
    assert_eq!(m.queue("weir_sqs_approximate_number_of_messages_not_visible", "feed"), 0.0);
    // On the wall clock the mapping's series starts at the next second's sample.
    let query = format!(
        "/_weir/metrics/history?metric=weir_event_source_mapping_polled_messages_total&event_source_mapping={uuid}"
    );
    let in_history = eventually(Duration::from_secs(5), async || {
        let r = weir.call("GET", &query, &[], "").await;
        r.status == 200
            && r.json()["points"].as_array().unwrap().iter().map(|p| p[1].as_f64().unwrap()).sum::<f64>() == 6.0
    })
    .await;
    assert!(in_history, "the history holds the six polled messages");
}

/// REPORT's `Max Memory Used` measures the process tree: an invocation that
/// allocates 64 MiB and is still running at the next memory sample reports
/// at least that, and so do the function's gauge and the host's.
#[tokio::test]
async fn max_memory_used_is_the_environments_real_memory() {
    let weir = Weir::start(&[]);
    let mut spec = rust_function("hog");
    spec["MemorySize"] = json!(512);
    weir.create_function(spec).await;
    let r = weir.invoke("hog", json!({"alloc_mb": 64, "sleep_ms": 300})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let reported = max_memory_used_mb(&r.log());
    assert!((64..=128).contains(&reported), "Max Memory Used {reported} MB for 64 MiB allocated");
    let m = scrape(&weir).await;
    assert_eq!(m.function("weir_max_memory_used_bytes", "hog"), (reported * 1024 * 1024) as f64);
    let m = scrape_until(&weir, "the host's memory sample", |m| {
        m.0.get("weir_environments_resident_memory_bytes").is_some_and(|&b| b >= 64.0 * 1024.0 * 1024.0)
    })
    .await;
    assert!(m.get("weir_environments_resident_memory_bytes", &[]) < 512.0 * 1024.0 * 1024.0);
}

/// An invocation that allocates and returns within one tick of the
/// sandbox's 50 ms memory sampler still reports what it took: the end of
/// an invocation reads the runtime process's memory once more.
#[tokio::test]
async fn max_memory_used_counts_memory_allocated_just_before_returning() {
    let weir = Weir::start(&[]);
    let mut spec = rust_function("burst");
    spec["MemorySize"] = json!(512);
    weir.create_function(spec).await;
    let r = weir.invoke("burst", json!({"alloc_mb": 64})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(max_memory_used_mb(&r.log()) >= 64, "{}", r.log());
}

/// The cost of a scrape with 1,000 functions, 200 of them invoked (so
/// with duration and init histograms), as the client sees it.
/// `cargo test --release -p weir --test it scrape_cost -- --ignored --nocapture`
#[tokio::test]
#[ignore = "prints a measurement; run in release"]
async fn scrape_cost_with_1000_functions() {
    let weir = Weir::start(&["--max-environments", "300"]);
    let code = base64_zip(&[("app.py", b"def handler(event, context):\n    return event\n", false)]);
    let specs: Vec<Value> = (0..1000)
        .map(|i| {
            json!({
                "FunctionName": format!("function-number-{i:04}"),
                "Runtime": "python3.12",
                "Role": "arn:aws:iam::000000000000:role/test",
                "Handler": "app.handler",
                "Code": {"ZipFile": code},
            })
        })
        .collect();
    for chunk in specs.chunks(16) {
        futures_util::future::join_all(chunk.iter().map(|spec| weir.create_function(spec.clone()))).await;
    }
    for chunk in (0..200).collect::<Vec<_>>().chunks(8) {
        let names: Vec<String> = chunk.iter().map(|i| format!("function-number-{i:04}")).collect();
        let calls = names.iter().map(|name| weir.invoke(name, json!({})));
        for r in futures_util::future::join_all(calls).await {
            assert_eq!(r.status, 200, "{}", r.text());
        }
    }
    let measure = async |path: &str| {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..21 {
            let started = std::time::Instant::now();
            let r = weir.call("GET", path, &[], "").await;
            times.push(started.elapsed());
            assert_eq!(r.status, 200);
            size = r.body.len();
        }
        times.sort();
        (times[10], times[20], size)
    };
    let (median, max, size) = measure("/metrics").await;
    let m = Scrape::parse(&String::from_utf8_lossy(&weir.call("GET", "/metrics", &[], "").await.body));
    assert_eq!(m.0.keys().filter(|k| k.starts_with("weir_invocations_total{")).count(), 1000);
    eprintln!("GET /metrics, 1,000 functions (200 invoked): median {median:?}, max {max:?}, {} KiB", size / 1024);
    let (median, max, size) =
        measure("/_weir/metrics/summary?sparklines=function-number-0001,function-number-0002").await;
    eprintln!("GET /_weir/metrics/summary, 1,000 functions: median {median:?}, max {max:?}, {} KiB", size / 1024);
    assert!(median < Duration::from_millis(50), "a scrape takes under 50 ms");
}
