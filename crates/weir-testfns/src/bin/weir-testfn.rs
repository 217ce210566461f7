//! `weir-testfn`: an unmodified Lambda function built with the real `lambda_runtime` crate,
//! whose behaviour is chosen by its JSON payload. It owns nothing but test behaviour and never
//! talks to anything but the Runtime API named by `AWS_LAMBDA_RUNTIME_API`.
//!
//! Payload keys (combinable; applied in this order):
//! - `{"alloc_mb": N}`: allocate and touch N MiB, and keep it (a leak, so memory stays used)
//! - `{"print_bytes": N}`: print N bytes to stdout as 100-byte lines
//! - `{"sleep_ms": N}`: sleep N milliseconds
//! - `{"exit": code}`: exit the process mid-invocation with `code`
//! - `{"error": "msg"}`: return a function error with message `msg`
//! - `{"respond_bytes": N}`: respond with a JSON string of N `x` characters
//! - `{"env": true}`: respond with the process environment as a JSON object
//! - `{"context": true}`: respond with the invocation context the runtime received
//! - `{"fds": true}`: respond with the open file descriptors (`{"3": "socket:[..]", ...}`)
//! - `{"Records": [...]}` (an SQS batch): process nothing, answer `{"batchItemFailures": []}`
//! - otherwise: echo the payload.
//!
//! Environment: `WEIR_TESTFN_INIT=fail` makes init fail (the process exits with status 3 before
//! its first `/next`); `WEIR_TESTFN_INIT_SLEEP_MS=N` sleeps N ms during init.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Map, Value, json};

/// Memory allocated by `alloc_mb`, kept alive for the lifetime of the process.
static LEAKED: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

const MIB: usize = 1024 * 1024;

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let number = |key: &str| payload.get(key).and_then(Value::as_u64);

    if let Some(megabytes) = number("alloc_mb") {
        for _ in 0..megabytes {
            // A non-zero fill value forces every page to be written (calloc would not).
            let block = vec![0xA5u8; MIB];
            LEAKED.lock().unwrap_or_else(|e| e.into_inner()).push(block);
        }
    }
    if let Some(total_bytes) = number("print_bytes") {
        let line = [b'x'; 99];
        let mut stdout = std::io::stdout().lock();
        let mut remaining = total_bytes as usize;
        while remaining > 0 {
            let body_len = remaining.saturating_sub(1).min(line.len());
            stdout.write_all(&line[..body_len])?;
            stdout.write_all(b"\n")?;
            remaining = remaining.saturating_sub(body_len + 1);
        }
        stdout.flush()?;
    }
    if let Some(sleep_ms) = number("sleep_ms") {
        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    }
    if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
        std::process::exit(code as i32);
    }
    if let Some(message) = payload.get("error").and_then(Value::as_str) {
        return Err(message.into());
    }
    if let Some(size) = number("respond_bytes") {
        return Ok(Value::String("x".repeat(size as usize)));
    }
    if payload.get("env").and_then(Value::as_bool) == Some(true) {
        let vars: Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::String(v))).collect();
        return Ok(Value::Object(vars));
    }
    if payload.get("fds").and_then(Value::as_bool) == Some(true) {
        let fds: Map<String, Value> = std::fs::read_dir("/proc/self/fd")?
            .flatten()
            .map(|entry| {
                let target = std::fs::read_link(entry.path()).map(|t| t.display().to_string()).unwrap_or_default();
                (entry.file_name().to_string_lossy().into_owned(), Value::String(target))
            })
            .collect();
        return Ok(Value::Object(fds));
    }
    if payload.get("context").and_then(Value::as_bool) == Some(true) {
        return Ok(json!({
            "request_id": context.request_id,
            "deadline": context.deadline,
            "invoked_function_arn": context.invoked_function_arn,
            "xray_trace_id": context.xray_trace_id,
            "client_context": context.client_context.as_ref().map(|c| &c.custom),
            "identity": context.identity.is_some(),
            "function_name": context.env_config.function_name,
            "memory": context.env_config.memory,
            "version": context.env_config.version,
            "log_stream": context.env_config.log_stream,
            "log_group": context.env_config.log_group,
        }));
    }
    if payload.get("Records").is_some_and(Value::is_array) {
        return Ok(json!({ "batchItemFailures": [] }));
    }
    Ok(payload)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    if let Some(sleep_ms) = std::env::var("WEIR_TESTFN_INIT_SLEEP_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    }
    if std::env::var("WEIR_TESTFN_INIT").as_deref() == Ok("fail") {
        eprintln!("weir-testfn: init failed on purpose (WEIR_TESTFN_INIT=fail)");
        std::process::exit(3);
    }
    lambda_runtime::run(service_fn(handle)).await
}
