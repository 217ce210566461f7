//! A misbehaving function never takes the platform down: after each fault
//! the next invocation succeeds on a fresh environment.

use serde_json::json;

use crate::support::*;

const FAULTY: &str = r#"
import os, sys, time

if os.environ.get("INIT_FAIL") == "1":
    raise RuntimeError("init failed on purpose")

def handler(event, context):
    if "sleep" in event:
        time.sleep(event["sleep"])
    if "exit" in event:
        os._exit(event["exit"])
    if "alloc_mb" in event:
        hog = bytearray(event["alloc_mb"] * 1024 * 1024)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
    if "print_mb" in event:
        line = "x" * 1023
        for _ in range(event["print_mb"] * 1024):
            print(line)
    if "respond_mb" in event:
        return "y" * (event["respond_mb"] * 1024 * 1024)
    if "raise" in event:
        raise ValueError(event["raise"])
    return {"ok": True, "pid": os.getpid()}
"#;

async fn faulty(weir: &Weir, name: &str, timeout: u32, memory: u32) {
    let mut spec = python_function(name, FAULTY);
    spec["Timeout"] = json!(timeout);
    spec["MemorySize"] = json!(memory);
    weir.create_function(spec).await;
}

/// The next invocation works, on a new environment (a cold start).
async fn recovers(weir: &Weir, name: &str) {
    let r = weir.invoke(name, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ok"], true);
    assert!(has_init_duration(&r.log()), "a fresh environment after the fault:\n{}", r.log());
    assert_eq!(weir.call("GET", "/health", &[], "").await.status, 200);
}

fn error_of(r: &Response) -> (String, String) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-amz-function-error"), Some("Unhandled"), "{}", r.text());
    let body = r.json();
    (
        body["errorType"].as_str().unwrap_or_default().to_string(),
        body["errorMessage"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn a_timeout_kills_the_environment_and_answers_task_timed_out() {
    let weir = Weir::start(&[]);
    faulty(&weir, "slow", 1, 128).await;
    let r = weir.invoke("slow", json!({"sleep": 5})).await;
    let (kind, message) = error_of(&r);
    assert_eq!(kind, "Sandbox.Timedout");
    assert!(message.contains("Task timed out after 1.00 seconds"), "{message}");
    let log = r.log();
    assert!(log.contains("START RequestId:") && log.contains("Task timed out"), "the tail:\n{log}");
    recovers(&weir, "slow").await;
}

#[tokio::test]
async fn a_process_that_exits_mid_invocation_is_a_runtime_exit_error() {
    let weir = Weir::start(&[]);
    faulty(&weir, "crash", 10, 128).await;
    let (kind, message) = error_of(&weir.invoke("crash", json!({"exit": 3})).await);
    assert_eq!(kind, "Runtime.ExitError");
    assert!(message.contains("exit status 3"), "{message}");
    recovers(&weir, "crash").await;
}

#[tokio::test]
async fn a_function_over_its_memory_size_is_killed_as_out_of_memory() {
    let weir = Weir::start(&[]);
    faulty(&weir, "hog", 20, 128).await;
    let (kind, _) = error_of(&weir.invoke("hog", json!({"alloc_mb": 400})).await);
    assert_eq!(kind, "Runtime.OutOfMemory");
    recovers(&weir, "hog").await;
}

#[tokio::test]
async fn an_init_error_is_reported_and_fixing_the_configuration_recovers() {
    let weir = Weir::start(&[]);
    let mut spec = python_function("badinit", FAULTY);
    spec["Environment"] = json!({"Variables": {"INIT_FAIL": "1"}});
    weir.create_function(spec).await;
    // Like Lambda's Python runtime: an exception raised while importing the
    // handler's module is reported with its own type.
    let failed = weir.invoke("badinit", json!({})).await;
    let (kind, message) = error_of(&failed);
    assert_eq!((kind.as_str(), message.as_str()), ("RuntimeError", "init failed on purpose"));
    // The body carries the request id and the runtime's stack trace; the
    // tail carries the traceback.
    let body = failed.json();
    assert_eq!(body["requestId"].as_str(), failed.header("x-amzn-requestid"));
    let frames = body["stackTrace"].as_array().expect("a stackTrace list");
    assert!(frames.iter().any(|f| f.as_str().unwrap().contains("app.py")), "{body}");
    let all = weir.call("GET", "/_weir/logs/badinit", &[], "").await.text();
    assert!(failed.log().contains("init failed on purpose"), "the tail:\n{}\nall: {all}", failed.log());
    let fixed = weir
        .json(
            "PUT",
            "/2015-03-31/functions/badinit/configuration",
            json!({"Environment": {"Variables": {"INIT_FAIL": "0"}}}),
        )
        .await;
    assert_eq!(fixed.status, 200);
    recovers(&weir, "badinit").await;
}

#[tokio::test]
async fn megabytes_of_output_complete_with_a_4kb_tail_and_bounded_server_memory() {
    let weir = Weir::start(&[]);
    faulty(&weir, "chatty", 60, 256).await;
    let r = weir.invoke("chatty", json!({"print_mb": 20})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let log = r.log();
    assert!(log.len() <= 4096, "tail is at most 4 KB, got {}", log.len());
    assert!(log.contains("REPORT RequestId:"));
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{}/status", weir.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").parse().unwrap()))
        .unwrap();
    assert!(rss_kb < 200 * 1024, "weir's resident memory stays bounded: {rss_kb} kB");
    let again = weir.invoke("chatty", json!({})).await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn a_response_over_6_mb_is_a_function_error_and_the_environment_stays_warm() {
    let weir = Weir::start(&[]);
    faulty(&weir, "big", 30, 512).await;
    let (kind, message) = error_of(&weir.invoke("big", json!({"respond_mb": 7})).await);
    assert_eq!(kind, "Function.ResponseSizeTooLarge");
    assert!(message.contains("exceeded maximum allowed payload size"), "{message}");
    let next = weir.invoke("big", json!({})).await;
    assert_eq!(next.status, 200);
    assert_eq!(next.json()["ok"], true);
}

#[tokio::test]
async fn a_python_exception_is_returned_in_lambdas_shape() {
    let weir = Weir::start(&[]);
    faulty(&weir, "raises", 10, 128).await;
    let (kind, message) = error_of(&weir.invoke("raises", json!({"raise": "bad input"})).await);
    assert_eq!((kind.as_str(), message.as_str()), ("ValueError", "bad input"));
    let stack = weir.invoke("raises", json!({"raise": "again"})).await.json();
    assert!(stack["stackTrace"].is_array());
}

/// An idle environment is reaped after the idle timeout (5 minutes by
/// default, here on the manual clock): its process exits, and the next
/// invocation is a cold start in a new process.
#[tokio::test]
async fn an_idle_environment_is_reaped_and_its_process_stops() {
    let weir = Weir::start(&["--clock", "manual"]);
    faulty(&weir, "idler", 10, 128).await;
    let first = weir.invoke("idler", json!({})).await;
    let pid = first.json()["pid"].as_i64().unwrap() as i32;
    let warm = weir.invoke("idler", json!({})).await;
    assert_eq!(warm.json()["pid"].as_i64().unwrap() as i32, pid, "warm reuse before the idle timeout");
    let r = weir.json("POST", "/_weir/clock/advance", json!({"seconds": 301})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let alive = |pid: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(eventually(std::time::Duration::from_secs(10), async || !alive(pid)).await, "process {pid} still runs");
    let cold = weir.invoke("idler", json!({})).await;
    assert_ne!(cold.json()["pid"].as_i64().unwrap() as i32, pid);
    assert!(has_init_duration(&cold.log()), "a cold start after reaping:\n{}", cold.log());
}

/// The function's timeout starts when its handler gets the event, after
/// any cold start: a slow init takes nothing from `get_remaining_time_in_millis`.
#[tokio::test]
async fn a_slow_init_does_not_eat_into_the_function_timeout() {
    const SLOW_INIT: &str = r#"
import time
time.sleep(1.5)

def handler(event, context):
    return context.get_remaining_time_in_millis()
"#;
    let weir = Weir::start(&[]);
    let mut spec = python_function("slowinit", SLOW_INIT);
    spec["Timeout"] = json!(3);
    weir.create_function(spec).await;
    let r = weir.invoke("slowinit", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-amz-function-error"), None, "{}", r.text());
    let remaining = r.json().as_i64().unwrap();
    // Without the fix about 1,500 ms would be left; allow for a loaded machine.
    assert!(remaining > 2_100, "{remaining} ms left of 3 s after a 1.5 s init");
}

/// Lambda retries an on-demand init that outlives 10 s within the first
/// invocation, bounded by the function timeout: the invocation succeeds.
/// (Manual clock: the platform's 10 s pass while the real init takes 2 s.)
#[tokio::test]
async fn an_init_beyond_ten_seconds_still_serves_its_invocation_within_the_timeout() {
    const SLOW_INIT: &str = r#"
import time
time.sleep(2)

def handler(event, context):
    return "ready"
"#;
    let weir = std::sync::Arc::new(Weir::start(&["--clock", "manual"]));
    let mut spec = python_function("slowstart", SLOW_INIT);
    spec["Timeout"] = json!(60);
    weir.create_function(spec).await;
    let invoking = tokio::spawn({
        let weir = weir.clone();
        async move { weir.invoke("slowstart", json!({})).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let r = weir.json("POST", "/_weir/clock/advance", json!({"seconds": 11})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = invoking.await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("x-amz-function-error"), None, "{}", answer.text());
    assert_eq!(answer.json(), json!("ready"));
}
