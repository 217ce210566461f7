//! The Lambda Runtime API (`2018-06-01`, lambda-semantics §6.1) served to ONE environment on
//! its own loopback listener, with hyper 1 and keep-alive. Translates HTTP into calls on the
//! environment's state machine ([`EnvShared`]) and back.
//!
//! Routes: `GET /runtime/invocation/next` (long poll), `POST /runtime/invocation/{id}/response`
//! (202, 413 over [`crate::MAX_RESPONSE_BYTES`]), `POST /runtime/invocation/{id}/error`,
//! `POST /runtime/init/error`; 400 for an unknown request id, 403 for an invalid state.
//! Never: stores more than [`crate::MAX_RESPONSE_BYTES`] of a body, or trusts anything the
//! runtime sends (garbage gets a 4xx, never a panic).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body as _, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::MAX_RESPONSE_BYTES;
use crate::environment::{CompleteError, EnvShared, InitErrorDecision, NextDecision};
use crate::types::{Invocation, Outcome};

const PREFIX: &str = "/2018-06-01/runtime/";
/// Largest `/init/error` body kept (the rest is read and discarded).
const MAX_INIT_ERROR_BYTES: usize = 256 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-request-id");
const DEADLINE_MS: HeaderName = HeaderName::from_static("lambda-runtime-deadline-ms");
const FUNCTION_ARN: HeaderName = HeaderName::from_static("lambda-runtime-invoked-function-arn");
const TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
const CLIENT_CONTEXT: HeaderName = HeaderName::from_static("lambda-runtime-client-context");
const COGNITO_IDENTITY: HeaderName = HeaderName::from_static("lambda-runtime-cognito-identity");
const ERROR_TYPE: HeaderName = HeaderName::from_static("lambda-runtime-function-error-type");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

type HttpResponse = Response<Full<Bytes>>;

/// Accepts connections until the task is aborted (which also aborts every connection).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<EnvShared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let shared = shared.clone();
                            async move { Ok::<_, Infallible>(route(&shared, request).await) }
                        });
                        // Title-Case header names, as Lambda sends them: some custom
                        // runtimes (shell bootstraps) match header names case-sensitively.
                        let _ = http1::Builder::new()
                            .keep_alive(true)
                            .title_case_headers(true)
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn route(shared: &EnvShared, request: Request<Incoming>) -> HttpResponse {
    let path = request.uri().path();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return not_found();
    };
    match (request.method(), route) {
        (&Method::GET, "invocation/next") => next(shared).await,
        (&Method::POST, "init/error") => init_error(shared, request).await,
        (&Method::POST, route) => match route.strip_prefix("invocation/").and_then(|r| r.split_once('/')) {
            Some((request_id, "response")) => {
                let request_id = request_id.to_owned();
                response(shared, &request_id, request).await
            }
            Some((request_id, "error")) => {
                let request_id = request_id.to_owned();
                invocation_error(shared, &request_id, request).await
            }
            _ => not_found(),
        },
        _ => not_found(),
    }
}

async fn next(shared: &EnvShared) -> HttpResponse {
    match shared.next() {
        NextDecision::Deliver(invocation) => next_response(invocation),
        NextDecision::Wait(waiting) => match waiting.await {
            Ok(invocation) => next_response(invocation),
            Err(_) => error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Runtime.ExitError",
                "Container error. Non-recoverable state. Runtime should exit promptly.",
            ),
        },
        NextDecision::InvalidState(why) => error_response(StatusCode::FORBIDDEN, "InvalidStateTransition", why),
    }
}

fn next_response(invocation: Invocation) -> HttpResponse {
    let Invocation {
        request_id,
        payload,
        deadline_epoch_ms,
        invoked_function_arn,
        client_context,
        cognito_identity,
        trace_id,
    } = invocation;
    let mut response = Response::new(Full::new(payload));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, APPLICATION_JSON);
    let mut put = |name: HeaderName, value: String| {
        if value.is_empty() {
            return;
        }
        match HeaderValue::try_from(value) {
            Ok(value) => {
                headers.insert(name, value);
            }
            Err(_) => tracing::warn!(header = %name, "dropping a header value that is not valid in HTTP"),
        }
    };
    put(REQUEST_ID, request_id);
    put(FUNCTION_ARN, invoked_function_arn);
    put(TRACE_ID, trace_id.unwrap_or_default());
    put(CLIENT_CONTEXT, client_context.unwrap_or_default());
    put(COGNITO_IDENTITY, cognito_identity.unwrap_or_default());
    headers.insert(DEADLINE_MS, HeaderValue::from(deadline_epoch_ms));
    response
}

async fn response(shared: &EnvShared, request_id: &str, request: Request<Incoming>) -> HttpResponse {
    let body = match read_limited(request.into_body(), MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(_) => return truncated_body(),
    };
    let (outcome, accepted) = match body {
        LimitedBody::Complete(bytes) => (Outcome::Response(bytes), true),
        LimitedBody::TooLarge { size } => (Outcome::ResponseTooLarge { size }, false),
    };
    let size = match &outcome {
        Outcome::ResponseTooLarge { size } => *size,
        _ => 0,
    };
    match shared.complete(request_id, outcome) {
        Ok(()) if accepted => accepted_response(),
        Ok(()) => too_large_response(size),
        Err(error) => complete_error_response(error),
    }
}

async fn invocation_error(shared: &EnvShared, request_id: &str, request: Request<Incoming>) -> HttpResponse {
    let error_type = request
        .headers()
        .get(&ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("Unhandled")
        .to_owned();
    let body = match read_limited(request.into_body(), MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(_) => return truncated_body(),
    };
    let (outcome, size) = match body {
        LimitedBody::Complete(payload) => (Outcome::FunctionError { error_type, payload }, None),
        LimitedBody::TooLarge { size } => (Outcome::ResponseTooLarge { size }, Some(size)),
    };
    match (shared.complete(request_id, outcome), size) {
        (Ok(()), None) => accepted_response(),
        (Ok(()), Some(size)) => too_large_response(size),
        (Err(error), _) => complete_error_response(error),
    }
}

async fn init_error(shared: &EnvShared, request: Request<Incoming>) -> HttpResponse {
    let header_type =
        request.headers().get(&ERROR_TYPE).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_owned);
    let body = match read_limited(request.into_body(), MAX_INIT_ERROR_BYTES).await {
        Ok(LimitedBody::Complete(bytes)) => bytes,
        Ok(LimitedBody::TooLarge { .. }) => Bytes::new(),
        Err(_) => return truncated_body(),
    };
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let field = |name: &str| parsed.as_ref().and_then(|v| v.get(name)).and_then(|v| v.as_str()).map(str::to_owned);
    let error_type = header_type.or_else(|| field("errorType")).unwrap_or_else(|| "Runtime.Unknown".to_owned());
    let message = field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let stack_trace = parsed
        .as_ref()
        .and_then(|v| v.get("stackTrace"))
        .and_then(|v| v.as_array())
        .map(|frames| frames.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    match shared.init_error(error_type, message, stack_trace) {
        InitErrorDecision::Accepted => accepted_response(),
        InitErrorDecision::InvalidState => {
            error_response(StatusCode::FORBIDDEN, "InvalidStateTransition", "init error reported after init")
        }
    }
}

/// A request body, kept whole when it fits in the limit; otherwise only its size is kept.
pub(crate) enum LimitedBody {
    Complete(Bytes),
    TooLarge { size: usize },
}

/// Reads the whole body, storing at most `limit` bytes. A body over the limit is still read to
/// its end (so the runtime's request completes and the connection stays usable), but only
/// counted. A single-chunk body is returned without copying.
pub(crate) async fn read_limited(mut body: Incoming, limit: usize) -> Result<LimitedBody, hyper::Error> {
    let declared = body.size_hint().exact().map(|n| n as usize);
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        size = size.saturating_add(data.len());
        if size > limit {
            first = None;
            joined = None;
            continue;
        }
        match (&mut first, &mut joined) {
            (None, None) => first = Some(data),
            (Some(head), None) => {
                let capacity = declared.unwrap_or(0).clamp(head.len() + data.len(), limit);
                let mut buffer = BytesMut::with_capacity(capacity);
                buffer.extend_from_slice(head);
                buffer.extend_from_slice(&data);
                first = None;
                joined = Some(buffer);
            }
            (_, Some(buffer)) => buffer.extend_from_slice(&data),
        }
    }
    if size > limit {
        return Ok(LimitedBody::TooLarge { size });
    }
    Ok(LimitedBody::Complete(match (first, joined) {
        (Some(bytes), _) => bytes,
        (None, Some(buffer)) => buffer.freeze(),
        (None, None) => Bytes::new(),
    }))
}

fn accepted_response() -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")));
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(CONTENT_TYPE, APPLICATION_JSON);
    response
}

fn too_large_response(size: usize) -> HttpResponse {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Function.ResponseSizeTooLarge",
        &format!(
            "Response payload size ({size} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
        ),
    )
}

fn complete_error_response(error: CompleteError) -> HttpResponse {
    match error {
        CompleteError::UnknownRequest => {
            error_response(StatusCode::BAD_REQUEST, "InvalidRequestID", "Invalid request ID")
        }
        CompleteError::NotFetched => error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "invocation was not delivered to the runtime",
        ),
    }
}

fn truncated_body() -> HttpResponse {
    error_response(StatusCode::BAD_REQUEST, "Runtime.TruncatedResponse", "request body could not be read")
}

fn not_found() -> HttpResponse {
    error_response(StatusCode::NOT_FOUND, "NotFound", "unknown Runtime API route")
}

fn error_response(status: StatusCode, error_type: &str, message: &str) -> HttpResponse {
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, APPLICATION_JSON);
    response
}
