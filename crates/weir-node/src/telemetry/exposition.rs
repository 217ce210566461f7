//! `GET /metrics`: a [`Snapshot`] in the Prometheus text exposition format.
//!
//! Owns: one prometheus-client [`Collector`] that encodes every family of
//! [`names`] from a snapshot, through an explicit [`Registry`] built per
//! scrape (so nothing is double-counted: the values are the sources' own).
//! Histograms with no observation yet are left out, so 1,000 idle
//! functions do not cost 60,000 bucket lines.
//! Never: reads a source (the snapshot did) or invents a value.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use weir_core::ThrottleReason;

use super::histogram::{AGE_EXPORT_BOUNDS_S, DURATION_EXPORT_BOUNDS_S, HistogramCounts, INIT_EXPORT_BOUNDS_S};
use super::names::{self, Family, Kind};
use super::snapshot::{FunctionSnapshot, MappingSnapshot, QueueSnapshot, Snapshot};

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

const MIB: u64 = 1024 * 1024;

/// Renders a snapshot as Prometheus text (format 0.0.4).
pub fn render(snapshot: Snapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut text = String::with_capacity(64 * 1024);
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).expect("writing to a String");
    text
}

#[derive(Debug)]
struct SnapshotCollector(Snapshot);

type Result = std::result::Result<(), std::fmt::Error>;

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
    }
}

/// Writes one family: its descriptor, then whatever `samples` writes.
fn family(
    encoder: &mut DescriptorEncoder,
    family: &Family,
    samples: impl FnOnce(&mut MetricEncoder) -> Result,
) -> Result {
    let mut metric = encoder.encode_descriptor(family.encoder_name(), family.help, None, metric_type(family.kind))?;
    samples(&mut metric)
}

fn counter(metric: &mut MetricEncoder, value: impl EncodeCounterValue) -> Result {
    metric.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn gauge(metric: &mut MetricEncoder, value: impl EncodeGaugeValue) -> Result {
    metric.encode_gauge(&value)
}

fn histogram(metric: &mut MetricEncoder, counts: &HistogramCounts, bounds_s: &[f64]) -> Result {
    metric.encode_histogram::<NoLabelSet>(counts.sum_seconds(), counts.count(), &counts.export(bounds_s), None)
}

/// One sample per function: `value` picks the number (or skips the function).
fn per_function<'a, V>(
    metric: &mut MetricEncoder,
    functions: &'a [FunctionSnapshot],
    value: impl Fn(&'a FunctionSnapshot) -> Option<V>,
    write: impl Fn(&mut MetricEncoder, V) -> Result,
) -> Result {
    for f in functions {
        if let Some(v) = value(f) {
            write(&mut metric.encode_family(&[("function_name", f.name.as_str())])?, v)?;
        }
    }
    Ok(())
}

fn per_queue(
    metric: &mut MetricEncoder,
    queues: &[QueueSnapshot],
    write: impl Fn(&mut MetricEncoder, &QueueSnapshot) -> Result,
) -> Result {
    for q in queues {
        write(&mut metric.encode_family(&[("queue_name", q.name.as_str())])?, q)?;
    }
    Ok(())
}

fn per_mapping(
    metric: &mut MetricEncoder,
    mappings: &[MappingSnapshot],
    write: impl Fn(&mut MetricEncoder, &MappingSnapshot) -> Result,
) -> Result {
    for m in mappings {
        let labels = [
            ("event_source_mapping", m.uuid.as_str()),
            ("function_name", m.function_name.as_str()),
            ("queue_name", m.queue_name.as_str()),
        ];
        write(&mut metric.encode_family(&labels)?, m)?;
    }
    Ok(())
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result {
        let s = &self.0;
        let fns = &s.functions[..];
        let a = &s.account;
        use names::*;

        family(&mut e, &INVOCATIONS, |m| per_function(m, fns, |f| Some(f.stats.invocations), counter))?;
        family(&mut e, &ERRORS, |m| per_function(m, fns, |f| Some(f.stats.errors), counter))?;
        family(&mut e, &TIMEOUTS, |m| per_function(m, fns, |f| Some(f.stats.timeouts), counter))?;
        family(&mut e, &THROTTLES, |m| {
            for f in fns {
                for reason in ThrottleReason::ALL {
                    let labels = [("function_name", f.name.as_str()), ("reason", reason.as_str())];
                    counter(&mut m.encode_family(&labels)?, f.stats.throttles_for(reason))?;
                }
            }
            Ok(())
        })?;
        family(&mut e, &DURATION, |m| {
            per_function(m, fns, |f| f.duration.as_deref(), |m, c| histogram(m, c, DURATION_EXPORT_BOUNDS_S))
        })?;
        family(&mut e, &CONCURRENT_EXECUTIONS, |m| {
            gauge(m, a.concurrent_executions)?;
            per_function(m, fns, |f| Some(f.stats.concurrent_executions), gauge)
        })?;
        family(&mut e, &PEAK_CONCURRENT_EXECUTIONS, |m| {
            gauge(m, a.peak_concurrent_executions)?;
            per_function(m, fns, |f| Some(f.stats.peak_concurrent_executions), gauge)
        })?;
        family(&mut e, &UNRESERVED_CONCURRENT_EXECUTIONS, |m| gauge(m, a.unreserved_concurrent_executions))?;
        family(&mut e, &CLAIMED_ACCOUNT_CONCURRENCY, |m| gauge(m, a.claimed_account_concurrency))?;
        family(&mut e, &ACCOUNT_CONCURRENCY_LIMIT, |m| gauge(m, a.concurrency_limit))?;
        family(&mut e, &UNRESERVED_CONCURRENCY_LIMIT, |m| gauge(m, a.unreserved_limit))?;
        family(&mut e, &RESERVED_CONCURRENT_EXECUTIONS, |m| {
            per_function(m, fns, |f| f.stats.reserved_concurrency, gauge)
        })?;
        family(&mut e, &PROVISIONED_CONCURRENT_EXECUTIONS, |m| {
            per_function(m, fns, |f| Some(f.stats.provisioned_concurrent_executions), gauge)
        })?;
        family(&mut e, &PROVISIONED_CONCURRENCY_UTILIZATION, |m| per_function(m, fns, provisioned_utilization, gauge))?;
        family(&mut e, &PROVISIONED_CONCURRENCY_REQUESTED, |m| {
            for f in fns {
                for (qualifier, status) in &f.provisioned {
                    let labels = [("function_name", f.name.as_str()), ("resource", qualifier.as_str())];
                    gauge(&mut m.encode_family(&labels)?, status.requested)?;
                }
            }
            Ok(())
        })?;
        family(&mut e, &PROVISIONED_CONCURRENCY_ALLOCATED, |m| {
            for f in fns {
                for (qualifier, status) in &f.provisioned {
                    let labels = [("function_name", f.name.as_str()), ("resource", qualifier.as_str())];
                    gauge(&mut m.encode_family(&labels)?, status.allocated)?;
                }
            }
            Ok(())
        })?;
        family(&mut e, &PROVISIONED_CONCURRENCY_INVOCATIONS, |m| {
            per_function(m, fns, |f| Some(f.stats.provisioned_invocations), counter)
        })?;
        family(&mut e, &PROVISIONED_CONCURRENCY_SPILLOVER_INVOCATIONS, |m| {
            per_function(m, fns, |f| Some(f.stats.spillover_invocations), counter)
        })?;
        family(&mut e, &INIT_DURATION, |m| {
            per_function(m, fns, |f| f.init_duration.as_deref(), |m, c| histogram(m, c, INIT_EXPORT_BOUNDS_S))
        })?;
        family(&mut e, &COLD_STARTS, |m| per_function(m, fns, |f| Some(f.stats.cold_starts), counter))?;
        family(&mut e, &ENVIRONMENTS_STARTED, |m| {
            per_function(m, fns, |f| Some(f.stats.environments_started), counter)
        })?;
        family(&mut e, &ENVIRONMENTS, |m| {
            gauge(m, a.environments)?;
            per_function(m, fns, |f| Some(f.stats.environments), gauge)
        })?;
        family(&mut e, &IDLE_ENVIRONMENTS, |m| per_function(m, fns, |f| Some(f.stats.idle_environments), gauge))?;
        family(&mut e, &MAX_MEMORY_USED, |m| {
            per_function(m, fns, |f| (f.max_memory_used_mb > 0).then_some(u64::from(f.max_memory_used_mb) * MIB), gauge)
        })?;
        family(&mut e, &ASYNC_EVENTS_RECEIVED, |m| {
            per_function(m, fns, |f| Some(f.asynchronous.events_received), counter)
        })?;
        family(&mut e, &ASYNC_EVENT_AGE, |m| {
            per_function(m, fns, |f| f.asynchronous.age.as_deref(), |m, c| histogram(m, c, AGE_EXPORT_BOUNDS_S))
        })?;
        family(&mut e, &ASYNC_EVENTS_DROPPED, |m| {
            per_function(m, fns, |f| Some(f.asynchronous.events_dropped), counter)
        })?;
        family(&mut e, &DEAD_LETTER_ERRORS, |m| {
            per_function(m, fns, |f| Some(f.asynchronous.dead_letter_errors), counter)
        })?;
        family(&mut e, &DESTINATION_DELIVERY_FAILURES, |m| {
            per_function(m, fns, |f| Some(f.asynchronous.destination_delivery_failures), counter)
        })?;

        family(&mut e, &HOST_ENVIRONMENT_LIMIT, |m| gauge(m, a.host_environment_limit))?;
        family(&mut e, &HOST_WAITING_INVOCATIONS, |m| gauge(m, a.host_waiting))?;
        family(&mut e, &HOST_WAITS, |m| counter(m, a.host_waits))?;
        family(&mut e, &HOST_REJECTIONS, |m| counter(m, a.host_rejections))?;
        family(&mut e, &HOST_WAIT_EXPIRATIONS, |m| counter(m, a.host_wait_expirations))?;
        family(&mut e, &HOST_EVICTIONS, |m| counter(m, a.host_evictions))?;
        if let Some(bytes) = s.environments_resident_bytes {
            family(&mut e, &ENVIRONMENTS_RESIDENT_MEMORY, |m| gauge(m, bytes))?;
        }
        family(&mut e, &STORE_COMMIT_GROUPS, |m| counter(m, s.store.groups))?;
        family(&mut e, &STORE_DURABLE_COMMITS, |m| counter(m, s.store.durable_commits))?;
        family(&mut e, &STORE_COMMIT_SECONDS, |m| counter(m, s.store.commit_time.as_secs_f64()))?;
        family(&mut e, &STORE_COMMITTED_WRITES, |m| counter(m, s.store.commands))?;
        family(&mut e, &STORE_CHECKPOINTS, |m| {
            counter(&mut m.encode_family(&[("kind", "background")])?, s.store.background_checkpoints)?;
            counter(&mut m.encode_family(&[("kind", "writer")])?, s.store.writer_checkpoints)
        })?;
        family(&mut e, &HISTORY_MEMORY, |m| gauge(m, s.history_bytes))?;

        let qs = &s.queues[..];
        family(&mut e, &SQS_AGE_OF_OLDEST_MESSAGE, |m| {
            per_queue(m, qs, |m, q| gauge(m, q.oldest_age_ms.map_or(0.0, |ms| ms as f64 / 1000.0)))
        })?;
        family(&mut e, &SQS_MESSAGES_VISIBLE, |m| per_queue(m, qs, |m, q| gauge(m, q.visible)))?;
        family(&mut e, &SQS_MESSAGES_NOT_VISIBLE, |m| per_queue(m, qs, |m, q| gauge(m, q.not_visible)))?;
        family(&mut e, &SQS_MESSAGES_DELAYED, |m| per_queue(m, qs, |m, q| gauge(m, q.delayed)))?;
        family(&mut e, &SQS_MESSAGES_SENT, |m| per_queue(m, qs, |m, q| counter(m, q.sent)))?;
        family(&mut e, &SQS_MESSAGES_RECEIVED, |m| per_queue(m, qs, |m, q| counter(m, q.received)))?;
        family(&mut e, &SQS_MESSAGES_DELETED, |m| per_queue(m, qs, |m, q| counter(m, q.deleted)))?;
        family(&mut e, &SQS_EMPTY_RECEIVES, |m| per_queue(m, qs, |m, q| counter(m, q.empty_receives)))?;

        let ms = &s.mappings[..];
        family(&mut e, &ESM_POLLED_MESSAGES, |m| per_mapping(m, ms, |m, x| counter(m, x.polled)))?;
        family(&mut e, &ESM_INVOKED_BATCHES, |m| per_mapping(m, ms, |m, x| counter(m, x.invoked)))?;
        family(&mut e, &ESM_FAILED_BATCHES, |m| per_mapping(m, ms, |m, x| counter(m, x.failed)))?;
        family(&mut e, &ESM_THROTTLED_BATCHES, |m| per_mapping(m, ms, |m, x| counter(m, x.throttled)))?;
        family(&mut e, &ESM_DELETED_MESSAGES, |m| per_mapping(m, ms, |m, x| counter(m, x.deleted)))?;
        family(&mut e, &ESM_FILTERED_OUT_MESSAGES, |m| per_mapping(m, ms, |m, x| counter(m, x.filtered_out)))?;
        family(&mut e, &ESM_DEAD_LETTERED_MESSAGES, |m| per_mapping(m, ms, |m, x| counter(m, x.dead_lettered)))?;
        family(&mut e, &ESM_CONCURRENCY_LIMIT, |m| per_mapping(m, ms, |m, x| gauge(m, x.concurrency_limit)))?;
        family(&mut e, &ESM_IN_FLIGHT_BATCHES, |m| per_mapping(m, ms, |m, x| gauge(m, x.in_flight)))?;
        Ok(())
    }
}

/// `ProvisionedConcurrentExecutions` / allocated provisioned concurrency.
pub fn provisioned_utilization(f: &FunctionSnapshot) -> Option<f64> {
    let allocated = f.stats.provisioned_ready;
    (allocated > 0).then(|| f64::from(f.stats.provisioned_concurrent_executions) / f64::from(allocated))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::telemetry::histogram::Histogram;
    use std::time::Duration;

    fn sample_snapshot() -> Snapshot {
        let mut stats = weir_core::FunctionStats {
            invocations: 7,
            errors: 2,
            concurrent_executions: 1,
            reserved_concurrency: Some(5),
            ..Default::default()
        };
        stats.throttles[1] = 3;
        let duration = Histogram::default();
        duration.record(Duration::from_millis(3));
        duration.record(Duration::from_millis(30));
        Snapshot {
            account: weir_core::AccountStats {
                concurrency_limit: 1000,
                concurrent_executions: 1,
                ..Default::default()
            },
            functions: vec![
                FunctionSnapshot {
                    name: "orders".into(),
                    stats,
                    duration: Some(Box::new(duration.counts())),
                    ..Default::default()
                },
                FunctionSnapshot { name: "idle".into(), ..Default::default() },
            ],
            queues: vec![QueueSnapshot {
                name: "jobs".into(),
                visible: 4,
                oldest_age_ms: Some(2500),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn every_family_is_typed_and_named_by_the_contract() {
        let text = render(sample_snapshot());
        for family in names::ALL {
            if family.name == names::ENVIRONMENTS_RESIDENT_MEMORY.name {
                continue; // only when measured
            }
            let kind = match family.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            assert!(text.contains(&format!("# TYPE {} {kind}\n", family.name)), "{} missing:\n{text}", family.name);
        }
    }

    #[test]
    fn values_and_labels_are_the_snapshots() {
        let text = render(sample_snapshot());
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        has("weir_invocations_total{function_name=\"orders\"} 7");
        has("weir_errors_total{function_name=\"orders\"} 2");
        has("weir_invocations_total{function_name=\"idle\"} 0");
        has(
            "weir_throttles_total{function_name=\"orders\",reason=\"ReservedFunctionConcurrentInvocationLimitExceeded\"} 3",
        );
        has("weir_throttles_total{function_name=\"orders\",reason=\"ConcurrentInvocationLimitExceeded\"} 0");
        has("weir_concurrent_executions 1");
        has("weir_concurrent_executions{function_name=\"orders\"} 1");
        has("weir_reserved_concurrent_executions{function_name=\"orders\"} 5");
        has("weir_duration_seconds_bucket{function_name=\"orders\",le=\"0.005\"} 1");
        has("weir_duration_seconds_bucket{function_name=\"orders\",le=\"0.05\"} 2");
        has("weir_duration_seconds_bucket{function_name=\"orders\",le=\"+Inf\"} 2");
        has("weir_duration_seconds_count{function_name=\"orders\"} 2");
        has("weir_duration_seconds_sum{function_name=\"orders\"} 0.033");
        has("weir_sqs_approximate_age_of_oldest_message_seconds{queue_name=\"jobs\"} 2.5");
        has("weir_sqs_approximate_number_of_messages_visible{queue_name=\"jobs\"} 4");
        assert!(!text.contains("weir_duration_seconds_count{function_name=\"idle\"}"), "no empty histograms");
        assert!(!text.contains("weir_reserved_concurrent_executions{function_name=\"idle\"}"));
    }

    /// A snapshot of `n` functions with every histogram populated, and 10 queues.
    pub(crate) fn busy_snapshot(n: usize) -> Snapshot {
        let histogram = Histogram::default();
        for ms in [1u64, 3, 8, 20, 60, 150, 400, 1200, 3000, 9000] {
            histogram.record(Duration::from_millis(ms));
        }
        let counts = Box::new(histogram.counts());
        let functions = (0..n)
            .map(|i| {
                let mut stats = weir_core::FunctionStats {
                    invocations: 1_000_000 + i as u64,
                    errors: i as u64,
                    concurrent_executions: (i % 10) as u32,
                    reserved_concurrency: (i % 3 == 0).then_some(10),
                    ..Default::default()
                };
                stats.throttles = [i as u64, 2 * i as u64, 3 * i as u64];
                FunctionSnapshot {
                    name: format!("function-number-{i:04}"),
                    stats,
                    duration: Some(counts.clone()),
                    init_duration: Some(counts.clone()),
                    max_memory_used_mb: 128,
                    asynchronous: crate::telemetry::snapshot::AsyncSnapshot {
                        events_received: 10,
                        age: Some(counts.clone()),
                        ..Default::default()
                    },
                    ..Default::default()
                }
            })
            .collect();
        let queues =
            (0..10).map(|i| QueueSnapshot { name: format!("queue-{i}"), visible: 5, ..Default::default() }).collect();
        Snapshot { functions, queues, ..Default::default() }
    }

    /// `cargo test -p weir-node --release --lib render_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "prints a measurement; run in release"]
    fn render_cost_with_1000_busy_functions() {
        let snapshot = busy_snapshot(1000);
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..21 {
            let copy = snapshot.clone();
            let started = std::time::Instant::now();
            size = render(copy).len();
            times.push(started.elapsed());
        }
        times.sort();
        eprintln!("render of 1,000 busy functions: median {:?}, max {:?}, {} KiB", times[10], times[20], size / 1024);
    }
}
