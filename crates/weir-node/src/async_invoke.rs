//! Asynchronous invocation (`X-Amz-Invocation-Type: Event`).

use axum::response::Response;
use bytes::Bytes;
use weir_core::Version;
use weir_wire::AwsError;

use crate::Node;
use crate::http::{ApiError, ApiResult};
use crate::registry::FunctionEntry;

/// Accepts an `Event` invocation.
pub async fn accept(
    _node: &Node,
    _entry: &FunctionEntry,
    _qualifier: Option<&str>,
    _version: Version,
    _body: &Bytes,
) -> ApiResult<Response> {
    Err(ApiError(AwsError::invalid_parameter(
        "weir does not accept Event (asynchronous) invocations yet; invoke with RequestResponse",
    )))
}
