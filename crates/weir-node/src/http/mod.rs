//! The front door: one HTTP listener for every API weir speaks.
//!
//! Routing only: each handler parses the request into typed values, calls
//! the control plane or the engine, and renders the AWS-shaped answer. A
//! SigV4 verification layer would wrap this router as one tower layer.

mod admin;
mod functions;
pub mod invoke;
mod mappings;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use weir_wire::AwsError;

use crate::Node;

/// Largest request body accepted (a 50 MB zip, base64-encoded, plus JSON).
const MAX_BODY_BYTES: usize = 72 * 1024 * 1024;

/// An AWS error answered in Lambda's REST-JSON shape.
pub struct ApiError(pub AwsError);

impl From<AwsError> for ApiError {
    fn from(err: AwsError) -> Self {
        ApiError(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let wire = self.0.to_rest_json();
        let mut response =
            (StatusCode::from_u16(wire.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), wire.body).into_response();
        for (name, value) in wire.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Query parameters, case-sensitive as AWS sends them.
pub type Query = axum::extract::Query<HashMap<String, String>>;

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/", post(crate::sqs::http::handle))
        .route("/health", get(admin::health))
        .route("/_weir/clock", get(admin::clock))
        .route("/_weir/clock/advance", post(admin::advance_clock))
        .route("/_weir/logs/{function}", get(admin::logs))
        .route("/_weir/async/{function}", get(admin::async_status))
        .route("/metrics", get(crate::telemetry::http::metrics))
        .route("/_weir/metrics/history", get(crate::telemetry::http::history))
        .route("/_weir/metrics/summary", get(crate::telemetry::http::summary))
        .route("/2015-03-31/functions", post(functions::create).get(functions::list))
        .route("/2015-03-31/functions/", post(functions::create).get(functions::list))
        .route("/2015-03-31/functions/{name}", get(functions::get).delete(functions::delete))
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(functions::get_configuration).put(functions::update_configuration),
        )
        .route("/2015-03-31/functions/{name}/code", put(functions::update_code))
        .route("/2015-03-31/functions/{name}/invocations", post(invoke::invoke))
        .route("/2015-03-31/functions/{name}/versions", post(functions::publish_version).get(functions::list_versions))
        .route("/2015-03-31/functions/{name}/aliases", post(functions::create_alias).get(functions::list_aliases))
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(functions::get_alias).put(functions::update_alias).delete(functions::delete_alias),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(functions::put_concurrency).delete(functions::delete_concurrency),
        )
        .route("/2019-09-30/functions/{name}/concurrency", get(functions::get_concurrency))
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            get(functions::get_provisioned).put(functions::put_provisioned).delete(functions::delete_provisioned),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            get(functions::get_event_invoke)
                .put(functions::put_event_invoke)
                .post(functions::update_event_invoke)
                .delete(functions::delete_event_invoke),
        )
        .route("/2019-09-25/functions/{name}/event-invoke-config/list", get(functions::list_event_invoke))
        .route("/2015-03-31/event-source-mappings", post(mappings::create).get(mappings::list))
        .route("/2015-03-31/event-source-mappings/", post(mappings::create).get(mappings::list))
        .route(
            "/2015-03-31/event-source-mappings/{uuid}",
            get(mappings::get).put(mappings::update).delete(mappings::delete),
        )
        .route("/2016-08-19/account-settings", get(functions::account_settings))
        .route("/2016-08-19/account-settings/", get(functions::account_settings))
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(body_limit_in_aws_shape))
        .with_state(node)
}

/// axum answers a body over [`MAX_BODY_BYTES`] with a plain-text 413; AWS
/// clients need `RequestTooLargeException` to raise the right error.
async fn body_limit_in_aws_shape(response: Response) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || response.headers().contains_key("x-amzn-errortype") {
        return response;
    }
    ApiError(AwsError::request_too_large(format!("Request must be smaller than {MAX_BODY_BYTES} bytes")))
        .into_response()
}

async fn unknown_operation(uri: axum::http::Uri, method: axum::http::Method) -> ApiError {
    ApiError(AwsError::new(
        "UnknownOperationException",
        404,
        format!("weir does not implement {method} {}", uri.path()),
    ))
}
