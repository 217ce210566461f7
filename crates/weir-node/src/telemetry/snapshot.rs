//! One consistent reading of every metric source, taken on demand.
//!
//! Owns: [`Snapshot::collect`], which reads the core's exact counters for
//! every live function and the account in one short critical section,
//! then the engine's invocation observations, the node's asynchronous
//! counters, each queue's counters and store statistics, each event source
//! mapping's poller counters and the store writer's statistics. A scrape
//! and the per-second history sampler both start from a snapshot, so they
//! can never disagree about a definition.
//! Never: counts anything itself, or keeps a snapshot (callers do).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use weir_core::{AccountStats, FunctionStats, ProvisionedStatus};
use weir_store::QueueStore;
use weir_store_sqlite::WriterStats;

use super::histogram::HistogramCounts;
use crate::Node;
use crate::esm::MappingCounters;

/// Everything the metrics say, at one instant of the platform clock.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub epoch_ms: u64,
    pub account: AccountStats,
    /// The account's highest concurrency since the previous sample (only in
    /// the sampler's snapshots, see [`Snapshot::sample`]).
    pub account_concurrency_peak: Option<u32>,
    /// Live functions, in creation order.
    pub functions: Vec<FunctionSnapshot>,
    /// Queues, by name.
    pub queues: Vec<QueueSnapshot>,
    /// Event source mappings, by UUID.
    pub mappings: Vec<MappingSnapshot>,
    pub store: WriterStats,
    /// Resident memory of all environments' processes, when measured.
    pub environments_resident_bytes: Option<u64>,
    /// Heap memory of the metrics history.
    pub history_bytes: u64,
}

#[derive(Clone, Debug, Default)]
pub struct FunctionSnapshot {
    pub name: String,
    /// The core's exact counters and gauges.
    pub stats: FunctionStats,
    /// Highest concurrency since the previous sample (only in the
    /// sampler's snapshots, see [`Snapshot::sample`]).
    pub concurrency_peak: Option<u32>,
    /// (qualifier, status) of each provisioned concurrency configuration.
    pub provisioned: Vec<(String, ProvisionedStatus)>,
    /// REPORT durations; `None` until the function has run.
    pub duration: Option<Box<HistogramCounts>>,
    /// REPORT init durations; `None` until the first cold start.
    pub init_duration: Option<Box<HistogramCounts>>,
    pub max_memory_used_mb: u32,
    pub asynchronous: AsyncSnapshot,
}

#[derive(Clone, Debug, Default)]
pub struct AsyncSnapshot {
    pub events_received: u64,
    pub events_dropped: u64,
    pub dead_letter_errors: u64,
    pub destination_delivery_failures: u64,
    /// Event ages at invocation; `None` until one was invoked.
    pub age: Option<Box<HistogramCounts>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    pub name: String,
    pub visible: u64,
    pub not_visible: u64,
    pub delayed: u64,
    /// Age of the oldest message; `None` for an empty queue.
    pub oldest_age_ms: Option<u64>,
    pub sent: u64,
    pub received: u64,
    pub deleted: u64,
    pub empty_receives: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappingSnapshot {
    pub uuid: String,
    pub function_name: String,
    pub queue_name: String,
    pub polled: u64,
    pub invoked: u64,
    pub failed: u64,
    pub throttled: u64,
    pub deleted: u64,
    pub filtered_out: u64,
    pub dead_lettered: u64,
    pub concurrency_limit: u64,
    pub in_flight: u64,
}

fn non_empty(counts: HistogramCounts) -> Option<Box<HistogramCounts>> {
    (counts.count() > 0).then(|| Box::new(counts))
}

impl Snapshot {
    /// Reads every source now (`GET /metrics`).
    pub async fn collect(node: &Node) -> Snapshot {
        Snapshot::read(node, false).await
    }

    /// Reads every source now, and each concurrency's peak since the
    /// previous sample, starting the next window (the core keeps one window
    /// per function and one for the account: only the history's sampler
    /// may call this).
    pub async fn sample(node: &Node) -> Snapshot {
        Snapshot::read(node, true).await
    }

    async fn read(node: &Node, take_peaks: bool) -> Snapshot {
        let epoch_ms = node.clock.epoch_ms();
        let (account, account_concurrency_peak, core_functions) = node.engine.sample(|core| {
            let mut functions = Vec::new();
            let ids: Vec<_> = core.function_ids().collect();
            for id in ids {
                let peak = if take_peaks { core.take_concurrency_peak(id) } else { None };
                let (Some(name), Some(stats)) = (core.function_name(id), core.function_stats(id)) else { continue };
                let provisioned = if stats.provisioned_concurrency > 0 {
                    core.provisioned_qualifiers(id)
                        .into_iter()
                        .filter_map(|q| core.provisioned_status(id, &q).map(|status| (q, status)))
                        .collect()
                } else {
                    Vec::new()
                };
                functions.push((id, name.to_owned(), stats, peak, provisioned));
            }
            let account_peak = take_peaks.then(|| core.take_account_concurrency_peak());
            (core.account_stats(), account_peak, functions)
        });
        let asynchronous: HashMap<String, _> = node.metrics.asynchronous_all().into_iter().collect();
        let functions = core_functions
            .into_iter()
            .map(|(id, name, stats, concurrency_peak, provisioned)| {
                let observed = node.engine.observations.get(id);
                let asynchronous = asynchronous.get(&name).map_or_else(AsyncSnapshot::default, |c| AsyncSnapshot {
                    events_received: c.events_received.load(Ordering::Relaxed),
                    events_dropped: c.events_dropped.load(Ordering::Relaxed),
                    dead_letter_errors: c.dead_letter_errors.load(Ordering::Relaxed),
                    destination_delivery_failures: c.destination_delivery_failures.load(Ordering::Relaxed),
                    age: non_empty(c.age.counts()),
                });
                FunctionSnapshot {
                    duration: observed.and_then(|o| non_empty(o.duration.counts())),
                    init_duration: observed.and_then(|o| non_empty(o.init_duration.counts())),
                    max_memory_used_mb: observed.map_or(0, |o| o.max_memory_used_mb.load(Ordering::Relaxed)),
                    name,
                    stats,
                    concurrency_peak,
                    provisioned,
                    asynchronous,
                }
            })
            .collect();

        let mut queues = Vec::new();
        for queue in node.sqs.list(node).await {
            let stats = node.control.store.stats(queue.id, epoch_ms).await.unwrap_or_default();
            let counters = node.sqs.counters(&queue.name);
            queues.push(QueueSnapshot {
                visible: stats.visible,
                not_visible: stats.in_flight,
                delayed: stats.delayed,
                oldest_age_ms: stats.oldest_sent_at_ms.map(|sent| epoch_ms.saturating_sub(sent)),
                sent: counters.sent.load(Ordering::Relaxed),
                received: counters.received.load(Ordering::Relaxed),
                deleted: counters.deleted.load(Ordering::Relaxed),
                empty_receives: counters.empty_receives.load(Ordering::Relaxed),
                name: queue.name,
            });
        }

        let mappings = node
            .mappings
            .all()
            .into_iter()
            .map(|record| {
                let counters = node.mappings.counters(&record.uuid);
                let read = |pick: fn(&MappingCounters) -> &std::sync::atomic::AtomicU64| {
                    counters.as_deref().map_or(0, |c| pick(c).load(Ordering::Relaxed))
                };
                MappingSnapshot {
                    queue_name: weir_wire::sqs::queue_name_from_arn(&record.event_source_arn)
                        .unwrap_or(&record.event_source_arn)
                        .to_owned(),
                    polled: read(|c| &c.polled),
                    invoked: read(|c| &c.invoked),
                    failed: read(|c| &c.failed),
                    throttled: read(|c| &c.throttled),
                    deleted: read(|c| &c.deleted),
                    filtered_out: read(|c| &c.filtered_out),
                    dead_lettered: read(|c| &c.dead_lettered),
                    concurrency_limit: read(|c| &c.concurrency_limit),
                    in_flight: read(|c| &c.in_flight),
                    function_name: record.function_name,
                    uuid: record.uuid,
                }
            })
            .collect();

        Snapshot {
            epoch_ms,
            account,
            account_concurrency_peak,
            functions,
            queues,
            mappings,
            store: node.control.store.writer_stats(),
            environments_resident_bytes: None,
            history_bytes: 0,
        }
    }
}
