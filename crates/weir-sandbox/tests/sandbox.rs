//! Execution environments as real processes: warm reuse, cold start figures, the Runtime API
//! as runtimes see it, errors, init failures, crashes, kills, memory limits, log floods and
//! oversized responses. Every fault is followed by a fresh environment that works.

mod common;

use std::time::Duration;

use common::*;
use weir_sandbox::{InitFailure, InvocationResult, KillReason, Outcome};

const COUNTER_APP: &str = r#"
counter = 0

def handler(event, context):
    global counter
    counter += 1
    print("invocation", counter, "for", context.aws_request_id)
    return {"counter": counter, "event": event}
"#;

/// After a fault: a brand-new environment of the Rust function answers an echo.
async fn fresh_rust_env_works(h: &Harness) {
    let env = ready(&h.sandbox, h.rust_spec()).await;
    let result = env.invoke(invocation(r#"{"after":"fault"}"#)).await;
    assert_eq!(result.outcome, Outcome::Response(r#"{"after":"fault"}"#.into()));
    env.shutdown().await;
}

fn response_json(result: &InvocationResult) -> serde_json::Value {
    match &result.outcome {
        Outcome::Response(body) => json(body),
        other => panic!("expected a response, got {other:?}; log:\n{}", result.log_tail),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_module_state_survives_across_invocations_of_one_environment() {
    within(60, async {
        let h = Harness::new();
        let env = ready(&h.sandbox, h.python_spec(COUNTER_APP)).await;
        for expected in 1..=3 {
            let inv = invocation(r#"{"n":1}"#);
            let id = inv.request_id.clone();
            let result = env.invoke(inv).await;
            let body = response_json(&result);
            assert_eq!(body["counter"], expected);
            assert_eq!(body["event"]["n"], 1);
            // The print happened before the response: it belongs to this invocation.
            assert!(result.log_tail.contains(&format!("invocation {expected} for {id}")), "{}", result.log_tail);
            let printed = h.sink.lines_for(&id);
            assert!(printed.iter().any(|l| l == &format!("invocation {expected} for {id}")));
        }
        // A second environment has its own module state.
        let other = ready(&h.sandbox, h.python_spec(COUNTER_APP)).await;
        let body = response_json(&other.invoke(invocation("{}")).await);
        assert_eq!(body["counter"], 1);
        env.shutdown().await;
        other.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_lambda_runtime_function_runs_unmodified_and_only_the_cold_start_reports_init() {
    within(60, async {
        let h = Harness::new();
        let env = h.sandbox.spawn(h.rust_spec()).await.expect("spawn");
        let init = env.wait_ready().await.expect("init");
        assert!(init > Duration::ZERO && init < Duration::from_secs(10));

        let first = invocation(r#"{"hello":"world"}"#);
        let first_id = first.request_id.clone();
        let cold = env.invoke(first).await;
        assert_eq!(cold.outcome, Outcome::Response(r#"{"hello":"world"}"#.into()));
        assert_eq!(cold.report.init_duration, Some(init));
        assert_eq!(cold.report.memory_size_mb, 128);
        assert!(cold.report.max_memory_used_mb > 0);
        assert!(cold.report.billed_duration_ms >= 1);
        let lines: Vec<&str> = cold.log_tail.lines().collect();
        assert_eq!(lines[0], format!("START RequestId: {first_id} Version: $LATEST"));
        assert_eq!(lines[lines.len() - 2], format!("END RequestId: {first_id}"));
        let report = lines[lines.len() - 1];
        assert!(report.starts_with(&format!("REPORT RequestId: {first_id}\tDuration: ")));
        assert!(report.contains("\tMemory Size: 128 MB\tMax Memory Used: "));
        assert!(report.contains("\tInit Duration: ") && report.ends_with(" ms\t"));

        let warm = env.invoke(invocation("[1,2,3]")).await;
        assert_eq!(warm.outcome, Outcome::Response("[1,2,3]".into()));
        assert_eq!(warm.report.init_duration, None);
        assert!(!warm.log_tail.contains("Init Duration"));

        let context = response_json(&env.invoke(invocation(r#"{"context":true}"#)).await);
        assert_eq!(context["function_name"], "testfn");
        assert_eq!(context["memory"], 128);
        assert_eq!(context["version"], "$LATEST");
        assert_eq!(context["log_group"], "/aws/lambda/testfn");
        assert_eq!(context["invoked_function_arn"], "arn:aws:lambda:us-east-1:000000000000:function:testfn");
        env.shutdown().await;
    })
    .await;
}

/// A `provided` bootstrap (a Python script) that records what the Runtime API shows it.
const HEADER_DUMP_BOOTSTRAP: &str = r#"#!PYTHON
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
def call(method, path, body=None, headers={}):
    conn.request(method, "/2018-06-01/runtime" + path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, dict(r.getheaders()), r.read()
status, headers, body = call("GET", "/invocation/next")
request_id = headers["Lambda-Runtime-Aws-Request-Id"]
seen = {"status": status, "headers": headers, "body": body.decode()}
seen["second_next"] = call("GET", "/invocation/next")[0]
seen["unknown_id_response"] = call("POST", "/invocation/not-a-request/response", b"{}")[0]
seen["unknown_id_error"] = call("POST", "/invocation/not-a-request/error", b"{}")[0]
seen["late_init_error"] = call("POST", "/init/error", b"{}")[0]
seen["unknown_route"] = call("GET", "/nonsense")[0]
status, headers, body = call("POST", "/invocation/%s/response" % request_id, json.dumps(seen).encode())
assert status == 202 and json.loads(body) == {"status": "OK"}, (status, body)
status, headers, body = call("POST", "/invocation/%s/response" % request_id, b"{}")
print("duplicate response status", status, flush=True)
status, headers, body = call("GET", "/invocation/next")
call("POST", "/invocation/%s/response" % headers["Lambda-Runtime-Aws-Request-Id"], json.dumps(headers).encode())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_carries_every_runtime_api_header_and_invalid_requests_get_4xx() {
    within(60, async {
        let h = Harness::new();
        let python = h.sandbox.python_executable().expect("python3").display().to_string();
        let env = ready(&h.sandbox, h.provided_spec(&HEADER_DUMP_BOOTSTRAP.replace("PYTHON", &python))).await;
        let mut inv = invocation(r#"{"k":"v"}"#);
        inv.deadline_epoch_ms = 1_542_409_706_888;
        inv.trace_id = Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into());
        inv.client_context = Some(r#"{"custom":{"a":"b"}}"#.into());
        inv.cognito_identity = Some(r#"{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}"#.into());
        let id = inv.request_id.clone();
        let result = env.invoke(inv).await;
        let seen = response_json(&result);
        let headers = &seen["headers"];
        assert_eq!(seen["status"], 200);
        assert_eq!(seen["body"], r#"{"k":"v"}"#);
        assert_eq!(headers["Content-Type"], "application/json");
        assert_eq!(headers["Lambda-Runtime-Aws-Request-Id"], id.as_str());
        assert_eq!(headers["Lambda-Runtime-Deadline-Ms"], "1542409706888");
        assert_eq!(
            headers["Lambda-Runtime-Invoked-Function-Arn"],
            "arn:aws:lambda:us-east-1:000000000000:function:testfn"
        );
        assert_eq!(
            headers["Lambda-Runtime-Trace-Id"],
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
        );
        assert_eq!(headers["Lambda-Runtime-Client-Context"], r#"{"custom":{"a":"b"}}"#);
        assert_eq!(
            headers["Lambda-Runtime-Cognito-Identity"],
            r#"{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}"#
        );
        assert_eq!(seen["second_next"], 403, "one invocation at a time");
        assert_eq!(seen["unknown_id_response"], 400);
        assert_eq!(seen["unknown_id_error"], 400);
        assert_eq!(seen["late_init_error"], 403);
        assert_eq!(seen["unknown_route"], 404);

        // Optional headers without a value are absent; the others are always there.
        let plain = response_json(&env.invoke(invocation("{}")).await);
        let mut names: Vec<&str> = plain.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "Content-Length",
                "Content-Type",
                "Date",
                "Lambda-Runtime-Aws-Request-Id",
                "Lambda-Runtime-Deadline-Ms",
                "Lambda-Runtime-Invoked-Function-Arn",
            ]
        );
        env.kill(KillReason::Stopped);
        env.exited().await;
        let duplicate = h.sink.wait_for_line("duplicate response status").await;
        assert_eq!(duplicate.line, "duplicate response status 400");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_exception_is_a_function_error_with_lambdas_shape() {
    within(60, async {
        let h = Harness::new();
        let env = ready(
            &h.sandbox,
            h.python_spec("def handler(event, context):\n    raise ValueError('boom: ' + event['why'])\n"),
        )
        .await;
        let inv = invocation(r#"{"why":"bad input"}"#);
        let id = inv.request_id.clone();
        let result = env.invoke(inv).await;
        let Outcome::FunctionError { error_type, payload } = &result.outcome else {
            panic!("expected a function error, got {:?}", result.outcome);
        };
        assert_eq!(error_type, "Unhandled");
        let error = json(payload);
        assert_eq!(error["errorMessage"], "boom: bad input");
        assert_eq!(error["errorType"], "ValueError");
        assert_eq!(error["requestId"], id.as_str());
        let trace = error["stackTrace"].as_array().expect("stackTrace list");
        assert!(trace.iter().any(|f| f.as_str().unwrap().contains("app.py")), "{trace:?}");
        assert!(result.log_tail.contains("[ERROR] ValueError: boom: bad input"));
        // The environment stays usable after a function error.
        let again = env.invoke(invocation(r#"{"why":"again"}"#)).await;
        assert!(matches!(again.outcome, Outcome::FunctionError { .. }));
        env.shutdown().await;
        fresh_rust_env_works(&h).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_err_is_a_function_error_and_the_environment_stays_warm() {
    within(60, async {
        let h = Harness::new();
        let env = ready(&h.sandbox, h.rust_spec()).await;
        let result = env.invoke(invocation(r#"{"error":"it went wrong"}"#)).await;
        let Outcome::FunctionError { error_type, payload } = &result.outcome else {
            panic!("expected a function error, got {:?}", result.outcome);
        };
        // Passed through as the runtime sent it (lambda_runtime 1.5 sends "unhandled").
        assert_eq!(error_type, "unhandled");
        let error = json(payload);
        assert_eq!(error["errorMessage"], "it went wrong");
        assert!(error["errorType"].is_string());
        let ok = env.invoke(invocation("1")).await;
        assert_eq!(ok.outcome, Outcome::Response("1".into()));
        env.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_init_errors_are_reported_like_lambda() {
    within(60, async {
        let h = Harness::new();
        let import_error = h.sandbox.spawn(h.python_spec("import module_that_does_not_exist\n")).await.unwrap();
        let failure = import_error.wait_ready().await.unwrap_err();
        assert_eq!(
            failure,
            InitFailure::InitError {
                error_type: "Runtime.ImportModuleError".into(),
                message: "Unable to import module 'app': No module named 'module_that_does_not_exist'".into(),
                stack_trace: Vec::new(),
            }
        );
        // The runtime exits after reporting; the environment is gone and cleaned up.
        assert_eq!(import_error.exited().await.code, Some(1));
        let late = import_error.invoke(invocation("{}")).await;
        assert!(matches!(late.outcome, Outcome::EnvironmentDied(_)));

        let mut spec = h.python_spec("def other(event, context):\n    return 1\n");
        spec.handler = "app.handler".into();
        let missing = h.sandbox.spawn(spec).await.unwrap();
        assert_eq!(
            missing.wait_ready().await.unwrap_err(),
            InitFailure::InitError {
                error_type: "Runtime.HandlerNotFound".into(),
                message: "Handler 'handler' missing on module 'app'".into(),
                stack_trace: Vec::new(),
            }
        );
        missing.exited().await;
        fresh_rust_env_works(&h).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_init_failure_and_a_missing_bootstrap_fail_cleanly() {
    within(60, async {
        let h = Harness::new();
        let mut spec = h.rust_spec();
        spec.user_environment.push(("WEIR_TESTFN_INIT".into(), "fail".into()));
        let env = h.sandbox.spawn(spec).await.unwrap();
        match env.wait_ready().await {
            Err(InitFailure::Exited(exit)) => assert_eq!(exit.code, Some(3)),
            other => panic!("expected an init exit, got {other:?}"),
        }
        let said = h.sink.wait_for_line("init failed on purpose").await;
        assert_eq!(said.request_id, None);

        let empty = h.code_dir("no-bootstrap");
        let spec = h.spec("provided.al2", "x", &empty);
        let error = h.sandbox.spawn(spec).await.unwrap_err();
        assert!(matches!(error, weir_sandbox::SpawnError::InvalidEntrypoint(_)), "{error}");
        let error = h.sandbox.spawn(h.spec("nodejs22.x", "x", &empty)).await.unwrap_err();
        assert!(matches!(error, weir_sandbox::SpawnError::UnsupportedRuntime(_)), "{error}");
        fresh_rust_env_works(&h).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_exiting_mid_invocation_resolves_it_as_environment_died() {
    within(60, async {
        let h = Harness::new();
        let env = ready(&h.sandbox, h.rust_spec()).await;
        let inv = invocation(r#"{"print_bytes":300,"exit":7}"#);
        let id = inv.request_id.clone();
        let result = env.invoke(inv).await;
        let Outcome::EnvironmentDied(exit) = &result.outcome else {
            panic!("expected EnvironmentDied, got {:?}", result.outcome);
        };
        assert_eq!(exit.code, Some(7));
        assert!(!exit.oom);
        // What it printed before dying is in its log, then Lambda's error line.
        assert!(result.log_tail.contains(&"x".repeat(99)));
        assert!(
            result.log_tail.contains(&format!(
                "RequestId: {id} Error: Runtime exited with error: exit status 7\nRuntime.ExitError"
            ))
        );
        assert_eq!(env.exited().await.code, Some(7));
        let after = env.invoke(invocation("{}")).await;
        assert!(matches!(after.outcome, Outcome::EnvironmentDied(_)));
        fresh_rust_env_works(&h).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_with_timeout_ends_the_invocation_and_logs_task_timed_out() {
    within(60, async {
        let h = Harness::new();
        let env = ready(&h.sandbox, h.rust_spec()).await;
        let inv = invocation(r#"{"print_bytes":20,"sleep_ms":600000}"#);
        let id = inv.request_id.clone();
        let (result, ()) = tokio::join!(env.invoke(inv), async {
            // The function printed: it is running. Time it out.
            h.sink.wait_for_line(&"x".repeat(19)).await;
            env.kill(KillReason::Timeout { after: Duration::from_secs(3) });
        });
        assert_eq!(result.outcome, Outcome::Killed(KillReason::Timeout { after: Duration::from_secs(3) }));
        let timed_out = format!(" {id} Task timed out after 3.00 seconds");
        let line =
            result.log_tail.lines().find(|l| l.ends_with(&timed_out)).unwrap_or_else(|| panic!("{}", result.log_tail));
        assert!(line.starts_with("20") && line.as_bytes()[23] == b'Z', "timestamp first: {line}");
        assert!(result.log_tail.contains(&format!("END RequestId: {id}")));
        let exit = env.exited().await;
        assert_eq!(exit.signal, Some(9));
        assert_eq!(exit.kill_reason, Some(KillReason::Timeout { after: Duration::from_secs(3) }));
        fresh_rust_env_works(&h).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_kills_a_rust_function_over_its_memory_limit() {
    within(60, async {
        let h = Harness::with(|c| c.memory_enforcement = weir_sandbox::MemoryEnforcement::Watchdog);
        let env = ready(&h.sandbox, h.rust_spec()).await;
        let result = env.invoke(invocation(r#"{"alloc_mb":2048}"#)).await;
        assert_eq!(result.outcome, Outcome::OutOfMemory);
        assert!(result.report.max_memory_used_mb > 128, "{:?}", result.report);
        assert!(result.log_tail.contains("Runtime.OutOfMemory"));
        let exit = env.exited().await;
        assert!(exit.oom);
        assert_eq!(exit.signal, Some(9));
        fresh_rust_env_works(&h).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_kills_a_python_function_over_its_memory_limit_and_reports_peak_memory() {
    within(60, async {
        let h = Harness::new();
        let app = "blocks = []\n\ndef handler(event, context):\n    import time\n    blocks.append(b'\\x01' * (event['mb'] * 1024 * 1024))\n    time.sleep(event.get('hold_s', 0))\n    return len(blocks)\n";
        let env = ready(&h.sandbox, h.python_spec(app)).await;
        // 60 MB held for a few watchdog ticks: measured, not killed.
        let fits = env.invoke(invocation(r#"{"mb":60,"hold_s":0.3}"#)).await;
        assert_eq!(fits.outcome, Outcome::Response("1".into()));
        assert!(fits.report.max_memory_used_mb >= 60, "{:?}", fits.report);
        assert!(fits.log_tail.contains(&format!("Max Memory Used: {} MB", fits.report.max_memory_used_mb)));
        let over = env.invoke(invocation(r#"{"mb":1024,"hold_s":30}"#)).await;
        assert_eq!(over.outcome, Outcome::OutOfMemory);
        assert!(env.exited().await.oom);
        fresh_rust_env_works(&h).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_runtime_api_does_not_wedge_the_sandbox() {
    within(60, async {
        let h = Harness::new();
        // Raw bytes that are not HTTP, then a valid client that never answers, then exit.
        let script = r#"#!/bin/bash
printf 'NOT HTTP\r\n\r\n\000\377garbage' | timeout 2 bash -c "cat > /dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}" 2>/dev/null
exec 3<>/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}
printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n' >&3
head -c 1 <&3 >/dev/null
echo got an invocation, exiting without answering
exit 0
"#;
        let env = ready(&h.sandbox, h.provided_spec(script)).await;
        let result = env.invoke(invocation("{}")).await;
        assert!(matches!(result.outcome, Outcome::EnvironmentDied(ref e) if e.code == Some(0)), "{:?}", result.outcome);
        fresh_rust_env_works(&h).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_graceful_then_forced_and_removes_the_private_tmpdir() {
    within(60, async {
        let h = Harness::new();
        let env = ready(&h.sandbox, h.rust_spec()).await;
        let vars = response_json(&env.invoke(invocation(r#"{"env":true}"#)).await);
        let tmp = std::path::PathBuf::from(vars["TMPDIR"].as_str().unwrap());
        assert!(tmp.is_dir());
        env.shutdown().await;
        let exit = env.try_exited().expect("exited after shutdown");
        assert_eq!(exit.signal, Some(15));
        assert_eq!(exit.kill_reason, Some(KillReason::Stopped));
        assert!(!tmp.exists(), "TMPDIR removed at exit");

        // A bootstrap that ignores SIGTERM is SIGKILLed after the grace period.
        let stubborn = ready(
            &h.sandbox,
            h.provided_spec(&format!(
                "#!{}\nimport signal, http.client, os\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nh, p = os.environ['AWS_LAMBDA_RUNTIME_API'].split(':')\nc = http.client.HTTPConnection(h, int(p))\nc.request('GET', '/2018-06-01/runtime/invocation/next')\nc.getresponse().read()\n",
                h.sandbox.python_executable().unwrap().display()
            )),
        )
        .await;
        stubborn.shutdown().await;
        assert_eq!(stubborn.try_exited().unwrap().signal, Some(9));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awslambdaric_runs_as_the_python_bootstrap() {
    within(120, async {
        let h = Harness::with(python_bootstrap_awslambdaric);
        let env = ready(&h.sandbox, h.python_spec(COUNTER_APP)).await;
        for expected in 1..=2 {
            let result = env.invoke(invocation(r#"{"n":1}"#)).await;
            assert_eq!(response_json(&result)["counter"], expected);
        }
        env.shutdown().await;
        let failing =
            ready(&h.sandbox, h.python_spec("def handler(event, context):\n    raise KeyError('nope')\n")).await;
        let result = failing.invoke(invocation("{}")).await;
        let Outcome::FunctionError { payload, error_type } = &result.outcome else {
            panic!("expected a function error, got {:?}", result.outcome);
        };
        assert_eq!(error_type, "Unhandled", "the same header as weir's own Python client");
        let error = json(payload);
        assert_eq!(error["errorType"], "KeyError");
        assert_eq!(error["errorMessage"], "'nope'");
        assert!(error["stackTrace"].is_array());
        failing.shutdown().await;

        let broken = h.sandbox.spawn(h.python_spec("import nope_not_here\n")).await.unwrap();
        match broken.wait_ready().await {
            Err(InitFailure::InitError { error_type, message, .. }) => {
                assert_eq!(error_type, "Runtime.ImportModuleError");
                assert!(message.starts_with("Unable to import module 'app'"), "{message}");
            }
            other => panic!("expected an init error, got {other:?}"),
        }
        broken.kill(KillReason::Stopped);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awslambdaric_runs_as_a_provided_bootstrap() {
    within(120, async {
        let h = Harness::new();
        let python = awslambdaric_python();
        let mut spec = h.provided_spec(&format!("#!/bin/sh\nexec {} -m awslambdaric app.handler\n", python.display()));
        std::fs::write(spec.code_dir.join("app.py"), COUNTER_APP).unwrap();
        spec.handler = "app.handler".into();
        let env = ready(&h.sandbox, spec).await;
        for expected in 1..=2 {
            let result = env.invoke(invocation("{}")).await;
            assert_eq!(response_json(&result)["counter"], expected);
        }
        env.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_start_with_default_signal_handling_and_nothing_blocked() {
    within(60, async {
        let h = Harness::new();
        // weir (a Rust program) ignores SIGPIPE and its spawner blocks signals around clone:
        // neither may be inherited by a function.
        let script = "#!/bin/sh\nexec grep -E '^(SigBlk|SigIgn):' /proc/self/status\n";
        let env = h.sandbox.spawn(h.provided_spec(script)).await.unwrap();
        let blocked = h.sink.wait_for_line("SigBlk:").await.line;
        let ignored = h.sink.wait_for_line("SigIgn:").await.line;
        assert_eq!(blocked, "SigBlk:\t0000000000000000");
        assert_eq!(ignored, "SigIgn:\t0000000000000000");
        env.exited().await;
    })
    .await;
}

/// True when `pid` no longer runs (gone, or a zombie waiting for its new parent to reap it).
fn not_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().unwrap().trim_start().starts_with('Z'),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_or_dropping_an_environment_kills_its_whole_process_group() {
    within(60, async {
        let h = Harness::new();
        let script = "#!/bin/sh\nsleep 600 &\necho background $!\nwait\n";
        let env = h.sandbox.spawn(h.provided_spec(script)).await.unwrap();
        let line = h.sink.wait_for_line("background ").await.line;
        let grandchild: u32 = line.trim_start_matches("background ").parse().unwrap();
        assert!(!not_running(grandchild));
        env.kill(KillReason::Stopped);
        let exit = env.exited().await;
        assert_eq!(exit.signal, Some(9));
        assert!(not_running(grandchild), "the background process died with its environment");
        match env.wait_ready().await {
            Err(InitFailure::Exited(e)) => assert_eq!(e.kill_reason, Some(KillReason::Stopped)),
            other => panic!("{other:?}"),
        }

        // Dropping the handle kills too (observed through the runtime process's pid).
        let env = h.sandbox.spawn(h.provided_spec("#!/bin/sh\necho started\nexec sleep 600\n")).await.unwrap();
        h.sink.wait_for_line("started").await;
        let pid = env.pid();
        let pidfd = tokio::task::spawn_blocking(move || wait_for_exit_of(pid));
        drop(env);
        pidfd.await.unwrap();
    })
    .await;
}

/// Blocks until `pid` is no longer running, using poll(2) on a pidfd (no sleeping loop).
fn wait_for_exit_of(pid: u32) {
    // SAFETY: plain syscalls on our own fd.
    unsafe {
        let fd = nix::libc::syscall(nix::libc::SYS_pidfd_open, pid as nix::libc::c_int, 0) as i32;
        if fd < 0 {
            return; // already gone
        }
        let mut poll = nix::libc::pollfd { fd, events: nix::libc::POLLIN, revents: 0 };
        nix::libc::poll(&mut poll, 1, 30_000);
        nix::libc::close(fd);
    }
}
