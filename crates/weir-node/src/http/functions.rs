//! Lambda's function-management REST operations.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use weir_wire::AwsError;
use weir_wire::lambda::{self as wire, FunctionRef, parse_function_name};

use super::{ApiError, ApiResult, Query};
use crate::Node;
use crate::control::NewFunction;

/// Parses a JSON body, answering Lambda's error for malformed input.
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(text).map_err(|e| {
        ApiError(AwsError::invalid_request_content(format!("Could not parse request body into json: {e}")))
    })
}

/// The function name and qualifier from the path and the `Qualifier` query.
pub fn target(name: &str, query: &Query) -> Result<FunctionRef, ApiError> {
    let mut function = parse_function_name(name)?;
    if let Some(q) = query.get("Qualifier") {
        match &function.qualifier {
            Some(inline) if inline != q => {
                return Err(ApiError(AwsError::invalid_parameter(
                    "The derived qualifier from the function name does not match the specified qualifier.",
                )));
            }
            _ => function.qualifier = Some(q.clone()),
        }
    }
    Ok(function)
}

fn created<T: serde::Serialize>(value: T) -> Response {
    (StatusCode::CREATED, Json(value)).into_response()
}

pub async fn create(State(node): State<Arc<Node>>, body: Bytes) -> ApiResult<Response> {
    let req: wire::CreateFunctionRequest = json_body(&body)?;
    let function = parse_function_name(&req.function_name)?;
    if function.qualifier.is_some() {
        return Err(ApiError(AwsError::invalid_parameter("FunctionName must not carry a qualifier")));
    }
    refuse_layers(req.layers.as_deref())?;
    if req.package_type.as_deref() == Some("Image") || req.code.image_uri.is_some() {
        return Err(ApiError(AwsError::invalid_parameter(
            "Container image functions are not supported by weir; use a zip package",
        )));
    }
    let code = match (&req.code.zip_file, &req.code.s3_bucket) {
        (Some(zip), _) => node.control.code.store_base64_zip(zip)?,
        (None, Some(_)) => {
            return Err(ApiError(AwsError::invalid_parameter(
                "S3 code locations are not supported by weir; send Code.ZipFile",
            )));
        }
        (None, None) => return Err(ApiError(AwsError::invalid_parameter("Code.ZipFile is required"))),
    };
    let runtime = req.runtime.ok_or_else(|| AwsError::invalid_parameter("Runtime is required for a zip package"))?;
    let handler = req.handler.ok_or_else(|| AwsError::invalid_parameter("Handler is required for a zip package"))?;
    let new = NewFunction {
        name: function.name,
        runtime,
        handler,
        role: req.role,
        description: req.description.unwrap_or_default(),
        memory_mb: req.memory_size,
        timeout_s: req.timeout,
        environment: req.environment.map(|e| e.variables).unwrap_or_default(),
        code,
        dead_letter_target_arn: req.dead_letter_config.and_then(|d| d.target_arn).filter(|a| !a.is_empty()),
        tags: req.tags.unwrap_or_default(),
        publish: req.publish,
    };
    Ok(created(node.control.create_function(new).await?))
}

pub async fn list(State(node): State<Arc<Node>>, query: Query) -> Json<wire::ListFunctionsResponse> {
    let all = node.control.list_functions();
    let start: usize = query.get("Marker").and_then(|m| m.parse().ok()).unwrap_or(0);
    let max: usize = query.get("MaxItems").and_then(|m| m.parse().ok()).filter(|&m| m > 0).unwrap_or(50).min(10_000);
    let page: Vec<_> = all.iter().skip(start).take(max).cloned().collect();
    let next_marker = (start + page.len() < all.len()).then(|| (start + page.len()).to_string());
    Json(wire::ListFunctionsResponse { functions: page, next_marker })
}

pub async fn get(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
) -> ApiResult<Json<wire::GetFunctionResponse>> {
    let f = target(&name, &query)?;
    Ok(Json(node.control.get_function(&f.name, f.qualifier.as_deref())?))
}

pub async fn get_configuration(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
) -> ApiResult<Json<wire::FunctionConfiguration>> {
    let f = target(&name, &query)?;
    Ok(Json(node.control.get_configuration(&f.name, f.qualifier.as_deref())?))
}

pub async fn delete(State(node): State<Arc<Node>>, Path(name): Path<String>, query: Query) -> ApiResult<StatusCode> {
    let f = target(&name, &query)?;
    node.control.delete_function(&f.name, f.qualifier.as_deref()).await?;
    if f.qualifier.is_none() {
        node.async_invoker.function_deleted(&node, &f.name).await;
        node.mappings.function_deleted(&node, &f.name).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update_configuration(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<wire::FunctionConfiguration>> {
    let f = parse_function_name(&name)?;
    let req: wire::UpdateFunctionConfigurationRequest = json_body(&body)?;
    refuse_layers(req.layers.as_deref())?;
    Ok(Json(node.control.update_configuration(&f.name, req).await?))
}

/// Layers are not supported: refused, so a function never runs without
/// the code it expects.
fn refuse_layers(layers: Option<&[String]>) -> Result<(), ApiError> {
    match layers {
        Some(layers) if !layers.is_empty() => Err(ApiError(AwsError::invalid_parameter(
            "weir does not support layers; put the layer's content in the function's zip",
        ))),
        _ => Ok(()),
    }
}

/// Weighted alias routing is not supported: refused, never ignored.
fn refuse_routing(routing: Option<&serde_json::Value>) -> Result<(), ApiError> {
    let weighted = routing
        .and_then(|r| r.get("AdditionalVersionWeights"))
        .and_then(serde_json::Value::as_object)
        .is_some_and(|weights| !weights.is_empty());
    if weighted {
        return Err(ApiError(AwsError::invalid_parameter(
            "weir does not support weighted alias routing (RoutingConfig.AdditionalVersionWeights)",
        )));
    }
    Ok(())
}

pub async fn update_code(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<wire::FunctionConfiguration>> {
    let f = parse_function_name(&name)?;
    let req: wire::UpdateFunctionCodeRequest = json_body(&body)?;
    let code = match (&req.zip_file, &req.s3_bucket, &req.image_uri) {
        (Some(zip), _, _) => node.control.code.store_base64_zip(zip)?,
        _ => {
            return Err(ApiError(AwsError::invalid_parameter(
                "ZipFile is required (S3 and image code are not supported by weir)",
            )));
        }
    };
    Ok(Json(node.control.update_code(&f.name, code, req.publish, req.revision_id.as_deref()).await?))
}

pub async fn publish_version(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let f = parse_function_name(&name)?;
    let req: wire::PublishVersionRequest = json_body(&body)?;
    Ok(created(node.control.publish_version(&f.name, req).await?))
}

pub async fn list_versions(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
) -> ApiResult<Json<wire::ListVersionsResponse>> {
    let f = parse_function_name(&name)?;
    Ok(Json(wire::ListVersionsResponse { versions: node.control.list_versions(&f.name)?, next_marker: None }))
}

pub async fn create_alias(State(node): State<Arc<Node>>, Path(name): Path<String>, body: Bytes) -> ApiResult<Response> {
    let f = parse_function_name(&name)?;
    let req: wire::CreateAliasRequest = json_body(&body)?;
    refuse_routing(req.routing_config.as_ref())?;
    Ok(created(node.control.create_alias(&f.name, req).await?))
}

pub async fn list_aliases(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
) -> ApiResult<Json<wire::ListAliasesResponse>> {
    let f = parse_function_name(&name)?;
    Ok(Json(wire::ListAliasesResponse { aliases: node.control.list_aliases(&f.name)? }))
}

pub async fn get_alias(
    State(node): State<Arc<Node>>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<Json<wire::AliasConfiguration>> {
    let f = parse_function_name(&name)?;
    Ok(Json(node.control.get_alias(&f.name, &alias)?))
}

pub async fn update_alias(
    State(node): State<Arc<Node>>,
    Path((name, alias)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<wire::AliasConfiguration>> {
    let f = parse_function_name(&name)?;
    let req: wire::UpdateAliasRequest = json_body(&body)?;
    refuse_routing(req.routing_config.as_ref())?;
    Ok(Json(node.control.update_alias(&f.name, &alias, req).await?))
}

pub async fn delete_alias(
    State(node): State<Arc<Node>>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let f = parse_function_name(&name)?;
    node.control.delete_alias(&f.name, &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn put_concurrency(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let f = parse_function_name(&name)?;
    let req: wire::PutFunctionConcurrencyRequest = json_body(&body)?;
    let reserved = node.control.put_concurrency(&f.name, req.reserved_concurrent_executions).await?;
    Ok(Json(serde_json::json!({ "ReservedConcurrentExecutions": reserved })))
}

pub async fn get_concurrency(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
) -> ApiResult<Json<wire::GetFunctionConcurrencyResponse>> {
    let f = parse_function_name(&name)?;
    Ok(Json(wire::GetFunctionConcurrencyResponse {
        reserved_concurrent_executions: node.control.get_concurrency(&f.name)?,
    }))
}

pub async fn delete_concurrency(State(node): State<Arc<Node>>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let f = parse_function_name(&name)?;
    node.control.delete_concurrency(&f.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn put_provisioned(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
    body: Bytes,
) -> ApiResult<Response> {
    let f = target(&name, &query)?;
    let req: wire::PutProvisionedConcurrencyConfigRequest = json_body(&body)?;
    let shape =
        node.control.put_provisioned(&f.name, f.qualifier.as_deref(), req.provisioned_concurrent_executions).await?;
    Ok((StatusCode::ACCEPTED, Json(shape)).into_response())
}

pub async fn get_provisioned(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
) -> ApiResult<Response> {
    if query.get("List").is_some_and(|l| l == "ALL") {
        let f = parse_function_name(&name)?;
        let configs = node.control.list_provisioned(&f.name)?;
        return Ok(Json(wire::ListProvisionedConcurrencyConfigsResponse { provisioned_concurrency_configs: configs })
            .into_response());
    }
    let f = target(&name, &query)?;
    let qualifier = f.qualifier.ok_or_else(|| AwsError::invalid_parameter("Qualifier is required"))?;
    Ok(Json(node.control.get_provisioned(&f.name, &qualifier)?).into_response())
}

pub async fn delete_provisioned(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
) -> ApiResult<StatusCode> {
    let f = target(&name, &query)?;
    let qualifier = f.qualifier.ok_or_else(|| AwsError::invalid_parameter("Qualifier is required"))?;
    node.control.delete_provisioned(&f.name, &qualifier).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn account_settings(State(node): State<Arc<Node>>) -> Json<wire::GetAccountSettingsResponse> {
    Json(node.control.account_settings())
}

pub async fn put_event_invoke(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
    body: Bytes,
) -> ApiResult<Json<wire::EventInvokeConfig>> {
    let f = target(&name, &query)?;
    let req: wire::EventInvokeConfigRequest = json_body(&body)?;
    Ok(Json(node.control.put_event_invoke(&f.name, f.qualifier.as_deref(), req, crate::event_invoke::Mode::Put).await?))
}

pub async fn update_event_invoke(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
    body: Bytes,
) -> ApiResult<Json<wire::EventInvokeConfig>> {
    let f = target(&name, &query)?;
    let req: wire::EventInvokeConfigRequest = json_body(&body)?;
    Ok(Json(
        node.control.put_event_invoke(&f.name, f.qualifier.as_deref(), req, crate::event_invoke::Mode::Update).await?,
    ))
}

pub async fn get_event_invoke(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
) -> ApiResult<Json<wire::EventInvokeConfig>> {
    let f = target(&name, &query)?;
    Ok(Json(node.control.get_event_invoke(&f.name, f.qualifier.as_deref())?))
}

pub async fn delete_event_invoke(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    query: Query,
) -> ApiResult<StatusCode> {
    let f = target(&name, &query)?;
    node.control.delete_event_invoke(&f.name, f.qualifier.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_event_invoke(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
) -> ApiResult<Json<wire::ListEventInvokeConfigsResponse>> {
    let f = parse_function_name(&name)?;
    Ok(Json(wire::ListEventInvokeConfigsResponse {
        function_event_invoke_configs: node.control.list_event_invoke(&f.name)?,
    }))
}
