//! Lambda's concurrency limits against real processes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Sleeps for `event["sleep"]` seconds and reports when it ran.
const SLEEPER: &str = r#"
import time

def handler(event, context):
    start = time.time()
    time.sleep(event.get("sleep", 1))
    return {"start": start, "end": time.time()}
"#;

/// The largest number of handler runs that overlapped in time.
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

async fn burst(weir: &Weir, function: &str, n: usize, payload: Value) -> Vec<Response> {
    futures_util::future::join_all((0..n).map(|_| weir.invoke(function, payload.clone()))).await
}

#[tokio::test]
async fn reserved_concurrency_5_runs_exactly_5_of_30_and_throttles_25() {
    let weir = Weir::start(&[]);
    weir.create_function(python_function("worker", SLEEPER)).await;
    weir.put_reserved("worker", 5).await;
    let responses = burst(&weir, "worker", 30, json!({"sleep": 1})).await;
    let ok: Vec<&Response> = responses.iter().filter(|r| r.status == 200).collect();
    let throttled: Vec<&Response> = responses.iter().filter(|r| r.status == 429).collect();
    assert_eq!((ok.len(), throttled.len()), (5, 25));
    for t in &throttled {
        assert_eq!(t.header("x-amzn-errortype"), Some("TooManyRequestsException"));
        assert_eq!(t.json()["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
        assert!(t.header("retry-after").is_some());
    }
    let runs: Vec<(f64, f64)> =
        ok.iter().map(|r| (r.json()["start"].as_f64().unwrap(), r.json()["end"].as_f64().unwrap())).collect();
    assert_eq!(max_overlap(&runs), 5, "the five ran at the same time: {runs:?}");
}

#[tokio::test]
async fn reserved_concurrency_0_throttles_every_call() {
    let weir = Weir::start(&[]);
    weir.create_function(python_function("braked", SLEEPER)).await;
    weir.put_reserved("braked", 0).await;
    for r in burst(&weir, "braked", 5, json!({"sleep": 0})).await {
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
    }
}

#[tokio::test]
async fn the_11th_concurrent_call_over_an_account_limit_of_10_is_throttled() {
    let weir = Weir::start(&["--account-concurrency", "10", "--minimum-unreserved", "0"]);
    weir.create_function(python_function("busy", SLEEPER)).await;
    let responses = burst(&weir, "busy", 11, json!({"sleep": 2})).await;
    let throttled: Vec<&Response> = responses.iter().filter(|r| r.status == 429).collect();
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0].json()["Reason"], "ConcurrentInvocationLimitExceeded");
    assert_eq!(responses.iter().filter(|r| r.status == 200).count(), 10);
}

#[tokio::test]
async fn provisioned_concurrency_3_on_an_alias_serves_3_concurrent_calls_without_init() {
    let weir = Weir::start(&[]);
    weir.create_function(python_function("pc", SLEEPER)).await;
    weir.json("POST", "/2015-03-31/functions/pc/versions", json!({})).await;
    weir.json("POST", "/2015-03-31/functions/pc/aliases", json!({"Name": "live", "FunctionVersion": "1"})).await;
    let put = weir
        .json(
            "PUT",
            "/2019-09-30/functions/pc/provisioned-concurrency?Qualifier=live",
            json!({"ProvisionedConcurrentExecutions": 3}),
        )
        .await;
    assert_eq!(put.status, 202, "{}", put.text());
    assert_eq!(put.json()["Status"], "IN_PROGRESS");
    let ready = eventually(Duration::from_secs(20), async || {
        let r = weir.call("GET", "/2019-09-30/functions/pc/provisioned-concurrency?Qualifier=live", &[], "").await;
        r.json()["Status"] == "READY"
    })
    .await;
    assert!(ready, "provisioned concurrency became READY");
    let responses = burst(&weir, "pc:live", 3, json!({"sleep": 0.5})).await;
    for r in &responses {
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(!has_init_duration(&r.log()), "provisioned environment, no init:\n{}", r.log());
    }
    // A fourth concurrent call spills over to on-demand and pays a cold start.
    let responses = burst(&weir, "pc:live", 4, json!({"sleep": 0.5})).await;
    assert_eq!(responses.iter().filter(|r| has_init_duration(&r.log())).count(), 1);
    let rejected = weir
        .json(
            "PUT",
            "/2019-09-30/functions/pc/provisioned-concurrency?Qualifier=$LATEST",
            json!({"ProvisionedConcurrentExecutions": 1}),
        )
        .await;
    assert_eq!(rejected.status, 400);
    assert!(rejected.text().contains("cannot be applied to unpublished function versions"));
}
