//! Lambda's event source mapping REST operations.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use weir_wire::lambda::parse_function_name;

use super::functions::json_body;
use super::{ApiResult, Query};
use crate::Node;
use crate::esm::{MappingRequest, Mappings};

pub async fn create(State(node): State<Arc<Node>>, body: Bytes) -> ApiResult<Response> {
    let req: MappingRequest = json_body(&body)?;
    let shape = node.mappings.create(&node, req).await?;
    Ok((StatusCode::ACCEPTED, Json(shape)).into_response())
}

pub async fn update(State(node): State<Arc<Node>>, Path(uuid): Path<String>, body: Bytes) -> ApiResult<Response> {
    let req: MappingRequest = json_body(&body)?;
    let shape = node.mappings.update(&node, &uuid, req).await?;
    Ok((StatusCode::ACCEPTED, Json(shape)).into_response())
}

pub async fn delete(State(node): State<Arc<Node>>, Path(uuid): Path<String>) -> ApiResult<Response> {
    let shape = node.mappings.delete(&node, &uuid).await?;
    Ok((StatusCode::ACCEPTED, Json(shape)).into_response())
}

pub async fn get(State(node): State<Arc<Node>>, Path(uuid): Path<String>) -> ApiResult<Json<Value>> {
    let record = node
        .mappings
        .get(&uuid)
        .ok_or_else(|| weir_wire::AwsError::not_found("The resource you requested does not exist."))?;
    Ok(Json(node.mappings.shape(&node, &record, Mappings::current_state(&record))))
}

pub async fn list(State(node): State<Arc<Node>>, query: Query) -> ApiResult<Json<Value>> {
    let function = match query.get("FunctionName") {
        Some(name) => Some(parse_function_name(name)?.name),
        None => None,
    };
    let source = query.get("EventSourceArn");
    let mappings: Vec<Value> = node
        .mappings
        .all()
        .iter()
        .filter(|m| function.as_ref().is_none_or(|f| &m.function_name == f))
        .filter(|m| source.is_none_or(|s| &m.event_source_arn == s))
        .map(|m| node.mappings.shape(&node, m, Mappings::current_state(m)))
        .collect();
    Ok(Json(json!({ "EventSourceMappings": mappings })))
}
