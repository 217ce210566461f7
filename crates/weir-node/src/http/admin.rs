//! weir's own endpoints: health, the manual clock, and function logs.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use weir_wire::AwsError;

use super::{ApiError, ApiResult, Query};
use crate::Node;

pub async fn health() -> &'static str {
    "ok"
}

pub async fn clock(State(node): State<Arc<Node>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "mode": if node.engine.clock_mode() == crate::config::ClockMode::Manual { "manual" } else { "wall" },
        "epoch_ms": node.clock.epoch_ms(),
    }))
}

#[derive(Deserialize)]
pub struct Advance {
    #[serde(default)]
    seconds: f64,
    #[serde(default)]
    millis: u64,
}

/// `POST /_weir/clock/advance` with `{"seconds": 60}` or `{"millis": 1500}`.
pub async fn advance_clock(
    State(node): State<Arc<Node>>,
    Json(body): Json<Advance>,
) -> ApiResult<Json<serde_json::Value>> {
    if !body.seconds.is_finite() || body.seconds < 0.0 {
        return Err(ApiError(AwsError::invalid_parameter("seconds must be a non-negative number")));
    }
    let by = Duration::from_secs_f64(body.seconds) + Duration::from_millis(body.millis);
    let advanced = match node.clock.mode() {
        crate::config::ClockMode::Manual => node.async_invoker.advance_clock_carrying_leases(&node, by).await,
        crate::config::ClockMode::Wall => false,
    };
    if !advanced {
        return Err(ApiError(AwsError::invalid_parameter("the clock is not manual: start weir with --clock manual")));
    }
    Ok(Json(serde_json::json!({ "epoch_ms": node.clock.epoch_ms() })))
}

/// `GET /_weir/logs/{function}?since_ms=&request_id=&follow=true`: one
/// JSON line per log line; with `follow`, the stream stays open.
pub async fn logs(State(node): State<Arc<Node>>, Path(function): Path<String>, query: Query) -> Response {
    let since = query.get("since_ms").and_then(|s| s.parse().ok()).unwrap_or(0);
    let request_id = query.get("request_id").cloned();
    let follow = query.get("follow").is_some_and(|f| f == "true" || f == "1");
    let mut body = String::new();
    let mut follower = follow.then(|| node.logs.follow(&function));
    for line in node.logs.recent(&function, since, request_id.as_deref()) {
        body.push_str(&serde_json::to_string(&line).expect("log lines serialise"));
        body.push('\n');
    }
    let Some(follower) = follower.take() else {
        return (StatusCode::OK, body).into_response();
    };
    // The recent lines first, then each new line as it arrives.
    let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let tail = futures_util::stream::unfold((follower, request_id), |(mut follower, request_id)| async move {
        loop {
            match follower.recv().await {
                Ok(line) if request_id.as_deref().is_none_or(|r| line.request_id.as_deref() == Some(r)) => {
                    let mut text = serde_json::to_string(&line).expect("log lines serialise");
                    text.push('\n');
                    return Some((Ok::<_, std::io::Error>(text), (follower, request_id)));
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    });
    (StatusCode::OK, Body::from_stream(futures_util::StreamExt::chain(head, tail))).into_response()
}

/// `GET /_weir/async/{function}`: the function's pending asynchronous
/// events (waiting, running, scheduled for a retry) and its counters.
pub async fn async_status(
    State(node): State<Arc<Node>>,
    Path(function): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    use weir_store::QueueStore;
    if node.control.registry.get(&function).is_none() {
        return Err(ApiError(AwsError::not_found(format!("Function not found: {}", node.ctx.function_arn(&function)))));
    }
    let store = &node.control.store;
    let queue = store
        .get_queue(&crate::async_invoke::queue_name(&function))
        .await
        .map_err(|e| ApiError(AwsError::service(e.to_string())))?;
    let stats = match queue {
        Some(q) => {
            store.stats(q.id, node.clock.epoch_ms()).await.map_err(|e| ApiError(AwsError::service(e.to_string())))?
        }
        None => weir_store::QueueStats::default(),
    };
    let counters = node.metrics.asynchronous(&function);
    use crate::metrics::AsyncCounters as C;
    Ok(Json(serde_json::json!({
        "waiting": stats.visible,
        "running": stats.in_flight,
        "scheduled": stats.delayed,
        "received": C::get(&counters.events_received),
        "dropped": C::get(&counters.events_dropped),
        "dead_letter_errors": C::get(&counters.dead_letter_errors),
        "destination_delivery_failures": C::get(&counters.destination_delivery_failures),
    })))
}
