//! `Invoke`: `POST /2015-03-31/functions/{name}/invocations`.
//!
//! Validates the request like Lambda, hands it to the engine, and renders
//! the outcome: the function's response, a function error (HTTP 200 with
//! `X-Amz-Function-Error`), or an invocation error (429 with the throttle
//! reason, 413, 404, …).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::wall_epoch_ms;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use weir_core::{InvocationFailure, Version};
use weir_sandbox::{InitFailure, KillReason, Outcome};
use weir_wire::AwsError;

use super::functions::target;
use super::{ApiError, ApiResult, Query};
use crate::Node;
use crate::engine::{Completion, Rejection};

/// Lambda's synchronous payload limit (request and response).
pub const MAX_SYNC_PAYLOAD: usize = 6 * 1024 * 1024;
/// `X-Amz-Client-Context` limit, in bytes of base64.
const MAX_CLIENT_CONTEXT: usize = 3_583;

pub async fn invoke(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let f = target(&name, &query)?;
    let entry = node.control.registry.get(&f.name).ok_or_else(|| {
        let arn = match &f.qualifier {
            Some(q) => node.ctx.qualified_arn(&f.name, q),
            None => node.ctx.function_arn(&f.name),
        };
        AwsError::not_found(format!("Function not found: {arn}"))
    })?;
    let version = node.control.resolve(&entry, f.qualifier.as_deref())?;
    let invocation_type = header(&headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    match invocation_type {
        "RequestResponse" | "DryRun" => {}
        "Event" => return crate::async_invoke::accept(&node, &entry, f.qualifier.as_deref(), version, &body).await,
        other => {
            return Err(ApiError(AwsError::invalid_parameter(format!(
                "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            ))));
        }
    }
    if body.len() > MAX_SYNC_PAYLOAD {
        return Err(ApiError(AwsError::request_too_large(format!(
            "Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation"
        ))));
    }
    let payload = validate_payload(body)?;
    let client_context = header(&headers, "x-amz-client-context").map(decode_client_context).transpose()?;
    let tail = match header(&headers, "x-amz-log-type") {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(ApiError(AwsError::invalid_parameter(format!(
                "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
            ))));
        }
    };
    if invocation_type == "DryRun" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }

    let request_id = uuid::Uuid::new_v4().to_string();
    let invoked_function_arn = match &f.qualifier {
        Some(q) => node.ctx.qualified_arn(&f.name, q),
        None => node.ctx.function_arn(&f.name),
    };
    let request = weir_sandbox::Invocation {
        request_id: request_id.clone(),
        payload,
        deadline_epoch_ms: 0, // set at dispatch, after any cold start
        invoked_function_arn,
        client_context,
        cognito_identity: None,
        trace_id: Some(trace_id()),
    };
    let started_ms = wall_epoch_ms();
    let completion = node.engine.invoke(entry.id, version, request).await;
    // A failed invocation (timeout, init failure) has no tail from its
    // environment; its lines are in the function's log: those of this
    // request, and init output (no request id) written since it began.
    let failure_tail = (tail && matches!(completion, Ok(Completion::Failed { .. }))).then(|| {
        let lines = node.logs.recent(&f.name, started_ms, None);
        let ours = lines.iter().filter(|l| l.request_id.as_deref().is_none_or(|r| r == request_id));
        log_tail(ours)
    });
    render(completion, &request_id, version, tail, failure_tail)
}

/// The last 4 KB of these log lines (on a character boundary), as Lambda's
/// `LogResult`.
fn log_tail<'a>(lines: impl Iterator<Item = &'a crate::logs::LogLine>) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(line.line.trim_end_matches('\n'));
        text.push('\n');
    }
    let mut start = text.len().saturating_sub(weir_sandbox::LOG_TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.split_off(start)
}

/// `X-Amz-Client-Context` is base64 of a JSON object; the runtime gets the
/// JSON itself (`Lambda-Runtime-Client-Context`), as the official clients
/// (`lambda_runtime`, `awslambdaric`) expect.
fn decode_client_context(encoded: &str) -> Result<String, ApiError> {
    if encoded.len() > MAX_CLIENT_CONTEXT {
        return Err(ApiError(AwsError::invalid_parameter("Client context must be at most 3583 bytes of base64")));
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|json| String::from_utf8(json).ok())
        .filter(|json| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json).is_ok())
        .ok_or_else(|| {
            ApiError(AwsError::invalid_request_content("Client context must be a valid Base64-encoded JSON object."))
        })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Lambda requires the payload to be JSON; an empty body is the event `{}`.
pub fn validate_payload(body: Bytes) -> Result<Bytes, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::from_static(b"{}"));
    }
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        return Err(ApiError(AwsError::invalid_request_content(format!(
            "Could not parse request body into json: {err}"
        ))));
    }
    Ok(body)
}

/// An X-Ray trace header with a fresh root id.
fn trace_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secs = wall_epoch_ms() / 1_000;
    format!("Root=1-{secs:08x}-{};Parent={};Sampled=0", &id[..24], &id[16..32])
}

fn seconds(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64())
}

/// The body Lambda returns for a platform-level function error.
fn platform_error(error_type: &str, request_id: &str, message: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({ "errorType": error_type, "errorMessage": format!("RequestId: {request_id} Error: {message}") })
            .to_string(),
    )
}

fn render(
    completion: Result<Completion, Rejection>,
    request_id: &str,
    version: Version,
    tail: bool,
    failure_tail: Option<String>,
) -> ApiResult<Response> {
    let completion = match completion {
        Ok(completion) => completion,
        Err(Rejection::Throttled(t)) => {
            let retry = t.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            return Err(ApiError(AwsError::throttled(t.reason.as_str(), t.reason.message(), retry)));
        }
        Err(Rejection::HostBusy) => {
            return Err(ApiError(AwsError::service(
                "weir: this host runs its maximum number of execution environments and its wait line is full (see --max-environments)",
            )));
        }
        Err(Rejection::NotFound) => return Err(ApiError(AwsError::not_found("Function not found"))),
    };
    let (body, function_error, log_tail) = match completion {
        Completion::Finished(result) => {
            let log_tail = Some(result.log_tail);
            match result.outcome {
                Outcome::Response(body) => (body, None, log_tail),
                Outcome::FunctionError { payload, .. } => (payload, Some("Unhandled"), log_tail),
                Outcome::ResponseTooLarge { size } => (
                    Bytes::from(
                        serde_json::json!({
                            "errorMessage": format!("Response payload size ({size} bytes) exceeded maximum allowed payload size ({} bytes).", weir_sandbox::MAX_RESPONSE_BYTES),
                            "errorType": "Function.ResponseSizeTooLarge"
                        })
                        .to_string(),
                    ),
                    Some("Unhandled"),
                    log_tail,
                ),
                Outcome::EnvironmentDied(exit) => {
                    let kind = if exit.oom { "Runtime.OutOfMemory" } else { "Runtime.ExitError" };
                    (platform_error(kind, request_id, &format!("Runtime exited with error: {exit}")), Some("Unhandled"), log_tail)
                }
                Outcome::OutOfMemory => (
                    platform_error("Runtime.OutOfMemory", request_id, "Runtime exited with error: signal: killed"),
                    Some("Unhandled"),
                    log_tail,
                ),
                Outcome::Killed(KillReason::Timeout { after }) => (
                    platform_error("Sandbox.Timedout", request_id, &format!("Task timed out after {} seconds", seconds(after))),
                    Some("Unhandled"),
                    log_tail,
                ),
                Outcome::Killed(_) => (
                    platform_error("Runtime.ExitError", request_id, "Runtime exited with error: signal: killed"),
                    Some("Unhandled"),
                    log_tail,
                ),
            }
        }
        Completion::Failed { failure, init_failure } => {
            let body = match failure {
                InvocationFailure::TimedOut { timeout } => platform_error(
                    "Sandbox.Timedout",
                    request_id,
                    &format!("Task timed out after {} seconds", seconds(timeout)),
                ),
                InvocationFailure::InitTimedOut { limit } => platform_error(
                    "Sandbox.Timedout",
                    request_id,
                    &format!("Init phase timed out after {} seconds", seconds(limit)),
                ),
                InvocationFailure::InitFailed => match init_failure {
                    // As Lambda answers an init error: the runtime's report,
                    // with this invocation's request id.
                    Some(InitFailure::InitError { error_type, message, stack_trace }) => Bytes::from(
                        serde_json::json!({
                            "errorMessage": message,
                            "errorType": error_type,
                            "requestId": request_id,
                            "stackTrace": stack_trace,
                        })
                        .to_string(),
                    ),
                    Some(InitFailure::Exited(exit)) => {
                        let kind = if exit.oom { "Runtime.OutOfMemory" } else { "Runtime.ExitError" };
                        platform_error(kind, request_id, &format!("Runtime exited with error: {exit}"))
                    }
                    None => platform_error("Runtime.Unknown", request_id, "Runtime failed to start"),
                },
                InvocationFailure::EnvironmentLost => {
                    platform_error("Runtime.ExitError", request_id, "Runtime exited without providing a reason")
                }
                InvocationFailure::HostWaitExpired => {
                    return Err(ApiError(AwsError::service(
                        "weir: no host slot freed up in time for this invocation (see --max-environments)",
                    )));
                }
            };
            (body, Some("Unhandled"), failure_tail)
        }
    };
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-amz-executed-version", HeaderValue::from_str(&version.to_string()).expect("versions are ASCII"));
    headers.insert("x-amzn-requestid", HeaderValue::from_str(request_id).expect("uuids are ASCII"));
    if let Some(kind) = function_error {
        headers.insert("x-amz-function-error", HeaderValue::from_static(kind));
    }
    if tail && let Some(log) = log_tail {
        let encoded = base64::engine::general_purpose::STANDARD.encode(log.as_bytes());
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            headers.insert("x-amz-log-result", value);
        }
    }
    Ok(response)
}
