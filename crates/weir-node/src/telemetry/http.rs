//! The telemetry endpoints.
//!
//! - `GET /metrics`: Prometheus text exposition (format 0.0.4).
//! - `GET /_weir/metrics/history?metric=NAME[&function=F|&queue=Q|&event_source_mapping=UUID][&stat=avg|p50|p99][&reason=R][&kind=K][&seconds=N]`:
//!   one series, a point per second (`[epoch_s, value]`) for the last N
//!   seconds (default 300, at most 3,600). Counters give the increase
//!   during each second; concurrency the highest value since the previous
//!   point; statistics have points only for seconds that saw observations.
//!   Without `metric`: the list of series and subjects.
//! - `GET /_weir/metrics/summary[?window=5][&sparkline_seconds=60][&sparklines=a,b]`:
//!   one frame of `weir top` (see [`super::summary::Summary`]).
//!
//! Never: computes a metric (the [`super::Telemetry`] does).

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::history::{Query, Scope};
use crate::Node;
use crate::http::Query as Params;

pub async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let text = node.telemetry.scrape(&node).await;
    ([(header::CONTENT_TYPE, super::exposition::CONTENT_TYPE)], text).into_response()
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "message": message }))).into_response()
}

pub async fn history(State(node): State<Arc<Node>>, params: Params) -> Response {
    let Some(metric) = params.get("metric") else {
        return Json(node.telemetry.history_index(&node).await).into_response();
    };
    let scope = match (params.get("function"), params.get("queue"), params.get("event_source_mapping")) {
        (None, None, None) => Scope::Account,
        (Some(f), None, None) => Scope::Function(f.clone()),
        (None, Some(q), None) => Scope::Queue(q.clone()),
        (None, None, Some(m)) => Scope::Mapping(m.clone()),
        _ => return bad_request("give at most one of function, queue, event_source_mapping".into()),
    };
    let seconds = match params.get("seconds").map(|s| s.parse::<u64>()) {
        None => 300,
        Some(Ok(n)) if (1..=3_600).contains(&n) => n,
        Some(_) => return bad_request("seconds must be a whole number from 1 to 3600".into()),
    };
    let query = Query {
        metric: metric.clone(),
        scope,
        stat: params.get("stat").cloned(),
        labels: ["reason", "kind"]
            .into_iter()
            .filter_map(|label| params.get(label).map(|v| (label.to_owned(), v.clone())))
            .collect(),
        seconds,
    };
    match node.telemetry.history_query(&node, &query).await {
        Ok(value) => Json(value).into_response(),
        Err(message) => (StatusCode::NOT_FOUND, Json(serde_json::json!({ "message": message }))).into_response(),
    }
}

pub async fn summary(State(node): State<Arc<Node>>, params: Params) -> Response {
    let number = |key: &str, default: u64, max: u64| -> Result<u64, String> {
        match params.get(key).map(|s| s.parse::<u64>()) {
            None => Ok(default),
            Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(format!("{key} must be a whole number from 1 to {max}")),
        }
    };
    let (window, sparkline_seconds) = match (number("window", 5, 60), number("sparkline_seconds", 60, 600)) {
        (Ok(window), Ok(sparkline)) => (window, sparkline),
        (Err(message), _) | (_, Err(message)) => return bad_request(message),
    };
    let sparklines: HashSet<String> = params
        .get("sparklines")
        .map(|list| list.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    Json(node.telemetry.summary(&node, window, sparkline_seconds, &sparklines).await).into_response()
}
