//! `GET /_weir/metrics/summary`: one frame of `weir top`.
//!
//! Owns: the [`Summary`] shape (serialised by the server, deserialised by
//! `weir top`, so the two cannot drift) and building it from the latest
//! sample and the history: gauges and totals per function, rates over a
//! short window, duration percentiles over at most ten seconds, queues,
//! mappings, and concurrency sparklines for the functions asked for only
//! (the rows on screen), so a frame costs O(functions + rows × seconds).
//! Never: samples or reads a source itself.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use weir_core::ThrottleReason;

use super::history::History;
use super::snapshot::Snapshot;

/// Everything `weir top` draws.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Platform time of the sample, epoch milliseconds.
    pub epoch_ms: u64,
    pub window_seconds: u64,
    pub account: AccountSummary,
    pub functions: Vec<FunctionSummary>,
    pub queues: Vec<QueueSummary>,
    pub event_source_mappings: Vec<MappingSummary>,
    /// Concurrency per second (oldest first) of the functions asked for.
    pub sparklines: BTreeMap<String, Vec<u32>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub concurrency_limit: u32,
    pub unreserved_limit: u32,
    pub concurrent_executions: u32,
    pub unreserved_concurrent_executions: u32,
    pub claimed_account_concurrency: u32,
    pub peak_concurrent_executions: u32,
    pub environments: u32,
    pub host_environment_limit: u32,
    pub host_waiting: u32,
    pub environments_resident_bytes: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionSummary {
    pub name: String,
    pub concurrent: u32,
    pub peak: u32,
    pub reserved: Option<u32>,
    pub provisioned: u32,
    pub provisioned_ready: u32,
    pub environments: u32,
    pub invocations: u64,
    pub errors: u64,
    pub cold_starts: u64,
    /// Throttles by reason (wire names), since the server started.
    pub throttles: BTreeMap<String, u64>,
    pub invocations_per_second: f64,
    pub errors_per_second: f64,
    pub throttles_per_second: BTreeMap<String, f64>,
    pub cold_starts_per_second: f64,
    pub duration_p50_seconds: Option<f64>,
    pub duration_p99_seconds: Option<f64>,
    pub max_memory_used_bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueSummary {
    pub name: String,
    pub visible: u64,
    pub not_visible: u64,
    pub delayed: u64,
    pub oldest_age_seconds: Option<f64>,
    pub sent: u64,
    pub received: u64,
    pub deleted: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MappingSummary {
    pub uuid: String,
    pub function_name: String,
    pub queue_name: String,
    pub in_flight: u64,
    pub concurrency_limit: u64,
    pub polled: u64,
    pub failed: u64,
}

/// Builds a frame from the latest sample.
pub fn build(
    snapshot: &Snapshot,
    history: &History,
    window_seconds: u64,
    sparkline_seconds: u64,
    sparklines: &HashSet<String>,
) -> Summary {
    let a = &snapshot.account;
    let functions = snapshot
        .functions
        .iter()
        .map(|f| {
            let s = &f.stats;
            let window = history.function_window(&f.name, window_seconds);
            let by_reason = |pick: &dyn Fn(usize, ThrottleReason) -> f64| {
                ThrottleReason::ALL.iter().enumerate().map(|(i, r)| (r.as_str().to_owned(), pick(i, *r))).collect()
            };
            FunctionSummary {
                name: f.name.clone(),
                concurrent: s.concurrent_executions,
                peak: s.peak_concurrent_executions,
                reserved: s.reserved_concurrency,
                provisioned: s.provisioned_concurrency,
                provisioned_ready: s.provisioned_ready,
                environments: s.environments,
                invocations: s.invocations,
                errors: s.errors,
                cold_starts: s.cold_starts,
                throttles: ThrottleReason::ALL.iter().map(|r| (r.as_str().to_owned(), s.throttles_for(*r))).collect(),
                invocations_per_second: window.as_ref().map_or(0.0, |w| w.invocations_per_second),
                errors_per_second: window.as_ref().map_or(0.0, |w| w.errors_per_second),
                throttles_per_second: by_reason(&|i, _| window.as_ref().map_or(0.0, |w| w.throttles_per_second[i])),
                cold_starts_per_second: window.as_ref().map_or(0.0, |w| w.cold_starts_per_second),
                duration_p50_seconds: window.as_ref().and_then(|w| w.duration_p50_seconds),
                duration_p99_seconds: window.as_ref().and_then(|w| w.duration_p99_seconds),
                max_memory_used_bytes: u64::from(f.max_memory_used_mb) * 1024 * 1024,
            }
        })
        .collect();
    Summary {
        epoch_ms: snapshot.epoch_ms,
        window_seconds,
        account: AccountSummary {
            concurrency_limit: a.concurrency_limit,
            unreserved_limit: a.unreserved_limit,
            concurrent_executions: a.concurrent_executions,
            unreserved_concurrent_executions: a.unreserved_concurrent_executions,
            claimed_account_concurrency: a.claimed_account_concurrency,
            peak_concurrent_executions: a.peak_concurrent_executions,
            environments: a.environments,
            host_environment_limit: a.host_environment_limit,
            host_waiting: a.host_waiting,
            environments_resident_bytes: snapshot.environments_resident_bytes,
        },
        functions,
        queues: snapshot
            .queues
            .iter()
            .map(|q| QueueSummary {
                name: q.name.clone(),
                visible: q.visible,
                not_visible: q.not_visible,
                delayed: q.delayed,
                oldest_age_seconds: q.oldest_age_ms.map(|ms| ms as f64 / 1000.0),
                sent: q.sent,
                received: q.received,
                deleted: q.deleted,
            })
            .collect(),
        event_source_mappings: snapshot
            .mappings
            .iter()
            .map(|m| MappingSummary {
                uuid: m.uuid.clone(),
                function_name: m.function_name.clone(),
                queue_name: m.queue_name.clone(),
                in_flight: m.in_flight,
                concurrency_limit: m.concurrency_limit,
                polled: m.polled,
                failed: m.failed,
            })
            .collect(),
        sparklines: sparklines
            .iter()
            .map(|name| (name.clone(), history.concurrency_sparkline(name, sparkline_seconds)))
            .collect(),
    }
}
