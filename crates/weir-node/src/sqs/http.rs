//! `POST /` with `X-Amz-Target: AmazonSQS.<Operation>` (AWS JSON 1.0): dispatch to the
//! operation, and render its result or its error (`__type` in the body, the legacy query code
//! in `x-amzn-query-error`, so botocore raises the modelled exception class).
//!
//! Owns: the operation table and the wire rendering. Never: SQS semantics (the `*_api`
//! modules) or a panic on bad input (malformed JSON is a `SerializationException`, an unknown
//! operation an `UnknownOperationException`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_wire::AwsError;
use weir_wire::sqs::{errors, render_error};

use super::{message_api, move_tasks, queue_api};
use crate::Node;

/// The body of an operation without output members.
pub const EMPTY: &[u8] = b"{}";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// Parses a request body (an empty body is an empty object).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { EMPTY } else { body };
    serde_json::from_slice(body).map_err(|err| errors::serialization(format!("The request body is not valid: {err}")))
}

pub fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, AwsError> {
    serde_json::to_vec(value).map_err(|err| errors::internal(format!("rendering the response: {err}")))
}

pub async fn handle(State(node): State<Arc<Node>>, headers: HeaderMap, body: Bytes) -> Response {
    super::SqsService::start(&node);
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let result = match target.strip_prefix("AmazonSQS.") {
        Some(operation) => dispatch(&node, operation, &body).await,
        None if target.is_empty() => Err(errors::unsupported_operation(
            "weir serves SQS over the AWS JSON 1.0 protocol only: send X-Amz-Target: AmazonSQS.<Operation> \
             (botocore >= 1.31.64 and current AWS SDKs do)",
        )),
        None => Err(errors::unknown_operation(target)),
    };
    match result {
        Ok(body) => respond(StatusCode::OK, Vec::new(), body),
        Err(err) => {
            if err.status >= 500 {
                tracing::error!(target, error = %err, "SQS request failed");
            }
            let wire = render_error(&err);
            let status = StatusCode::from_u16(wire.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            respond(status, wire.headers, wire.body.into_bytes())
        }
    }
}

async fn dispatch(node: &Arc<Node>, operation: &str, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    match operation {
        "SendMessage" => message_api::send_message(node, body).await,
        "SendMessageBatch" => message_api::send_message_batch(node, body).await,
        "ReceiveMessage" => message_api::receive_message(node, body).await,
        "DeleteMessage" => message_api::delete_message(node, body).await,
        "DeleteMessageBatch" => message_api::delete_message_batch(node, body).await,
        "ChangeMessageVisibility" => message_api::change_message_visibility(node, body).await,
        "ChangeMessageVisibilityBatch" => message_api::change_message_visibility_batch(node, body).await,
        "CreateQueue" => queue_api::create_queue(node, body).await,
        "GetQueueUrl" => queue_api::get_queue_url(node, body).await,
        "ListQueues" => queue_api::list_queues(node, body).await,
        "DeleteQueue" => queue_api::delete_queue(node, body).await,
        "PurgeQueue" => queue_api::purge_queue(node, body).await,
        "GetQueueAttributes" => queue_api::get_queue_attributes(node, body).await,
        "SetQueueAttributes" => queue_api::set_queue_attributes(node, body).await,
        "ListDeadLetterSourceQueues" => queue_api::list_dead_letter_source_queues(node, body).await,
        "TagQueue" => queue_api::tag_queue(node, body).await,
        "UntagQueue" => queue_api::untag_queue(node, body).await,
        "ListQueueTags" => queue_api::list_queue_tags(node, body).await,
        "StartMessageMoveTask" => move_tasks::start_message_move_task(node, body).await,
        "ListMessageMoveTasks" => move_tasks::list_message_move_tasks(node, body).await,
        "CancelMessageMoveTask" => move_tasks::cancel_message_move_task(node, body).await,
        "AddPermission" | "RemovePermission" => Err(errors::unsupported_operation(format!(
            "weir does not implement {operation}: set the queue's Policy attribute instead"
        ))),
        other => Err(errors::unknown_operation(&format!("AmazonSQS.{other}"))),
    }
}

/// Request ids: unique per process, cheap.
static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

fn respond(status: StatusCode, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    let request_id = format!("{:016x}-{:08x}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed), std::process::id());
    if let Ok(value) = HeaderValue::try_from(request_id) {
        map.insert(HeaderName::from_static("x-amzn-requestid"), value);
    }
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            map.insert(name, value);
        }
    }
    response
}
