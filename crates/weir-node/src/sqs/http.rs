//! `POST /` with `X-Amz-Target: AmazonSQS.<Operation>`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use weir_wire::AwsError;

use crate::Node;
use crate::http::ApiError;

pub async fn handle(State(_node): State<Arc<Node>>, headers: HeaderMap, _body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    ApiError(AwsError::new("UnknownOperationException", 400, format!("weir does not implement {target} yet")))
        .into_response()
}
