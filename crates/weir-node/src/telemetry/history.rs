//! The last hour of every metric, one point per second.
//!
//! Owns: the per-second series of the account, of each function, queue and
//! event source mapping (see the `*_SERIES` tables: which metric, which
//! statistic, which unit), filled from one [`Snapshot`] per second of the
//! platform clock; queries over them (`GET /_weir/metrics/history`) and the
//! windowed figures `weir top` shows (rates, duration percentiles,
//! sparklines). Memory is bounded: a [`Ring`] of 3,600 points per series,
//! which costs nothing while a series is constant and one to four bytes a
//! point otherwise; a series whose subject is gone is dropped after an hour.
//! Never: reads a source (the snapshot did) or the clock (the sampler
//! passes the second).

use std::collections::{HashMap, VecDeque};

use serde_json::{Value, json};
use weir_core::ThrottleReason;

use super::histogram::HistogramCounts;
use super::ring::{POINTS, Ring};
use super::snapshot::{FunctionSnapshot, Snapshot};

/// How a series' points relate to the metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesKind {
    /// The value at the sample.
    Gauge,
    /// The highest value since the previous sample (CloudWatch's Maximum
    /// statistic over one second): concurrency, so that a burst between
    /// two samples still shows.
    Maximum,
    /// The counter's increase during that second.
    Counter,
    /// A statistic (mean or quantile) of what was observed during that
    /// second; no point when nothing was.
    Statistic,
}

impl SeriesKind {
    fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Gauge => "gauge",
            SeriesKind::Maximum => "maximum",
            SeriesKind::Counter => "counter",
            SeriesKind::Statistic => "statistic",
        }
    }
}

/// One series of an entity: which metric it is and how points are stored.
#[derive(Clone, Copy, Debug)]
pub struct SeriesDef {
    /// The exported family name (see `names`).
    pub metric: &'static str,
    /// `avg`, `p50`, `p99` for statistics of a histogram.
    pub stat: Option<&'static str>,
    /// An extra label that tells apart series of one metric (`reason`).
    pub label: Option<(&'static str, &'static str)>,
    pub kind: SeriesKind,
    /// Stored integer × scale = the metric's unit (seconds, bytes, ratio).
    pub scale: f64,
}

const fn gauge(metric: &'static str) -> SeriesDef {
    SeriesDef { metric, stat: None, label: None, kind: SeriesKind::Gauge, scale: 1.0 }
}
const fn maximum(metric: &'static str) -> SeriesDef {
    SeriesDef { metric, stat: None, label: None, kind: SeriesKind::Maximum, scale: 1.0 }
}
const fn counter(metric: &'static str) -> SeriesDef {
    SeriesDef { metric, stat: None, label: None, kind: SeriesKind::Counter, scale: 1.0 }
}
const fn scaled(def: SeriesDef, scale: f64) -> SeriesDef {
    SeriesDef { scale, ..def }
}
const fn stat(metric: &'static str, stat: &'static str, scale: f64) -> SeriesDef {
    SeriesDef { metric, stat: Some(stat), label: None, kind: SeriesKind::Statistic, scale }
}
const fn throttles(reason: &'static str) -> SeriesDef {
    SeriesDef { label: Some(("reason", reason)), ..counter("weir_throttles_total") }
}
const fn checkpoints(kind: &'static str) -> SeriesDef {
    SeriesDef { label: Some(("kind", kind)), ..counter("weir_store_checkpoints_total") }
}

const MICROS: f64 = 1e-6;
const MILLIS: f64 = 1e-3;
const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// Series of each function, in the order [`function_raw`] fills them.
pub const FUNCTION_SERIES: &[SeriesDef] = &[
    maximum("weir_concurrent_executions"),
    gauge("weir_provisioned_concurrent_executions"),
    gauge("weir_reserved_concurrent_executions"),
    gauge("weir_environments"),
    counter("weir_invocations_total"),
    counter("weir_errors_total"),
    counter("weir_timeouts_total"),
    throttles("ConcurrentInvocationLimitExceeded"),
    throttles("ReservedFunctionConcurrentInvocationLimitExceeded"),
    throttles("FunctionInvocationRateLimitExceeded"),
    counter("weir_cold_starts_total"),
    counter("weir_provisioned_concurrency_invocations_total"),
    counter("weir_provisioned_concurrency_spillover_invocations_total"),
    stat("weir_duration_seconds", "avg", MICROS),
    stat("weir_duration_seconds", "p50", MICROS),
    stat("weir_duration_seconds", "p99", MICROS),
    stat("weir_init_duration_seconds", "avg", MICROS),
    scaled(gauge("weir_provisioned_concurrency_utilization"), MICROS),
    scaled(gauge("weir_max_memory_used_bytes"), MIB),
    counter("weir_async_events_received_total"),
    counter("weir_async_events_dropped_total"),
    counter("weir_dead_letter_errors_total"),
    counter("weir_destination_delivery_failures_total"),
    stat("weir_async_event_age_seconds", "avg", MILLIS),
    // Summed over the function's versions and aliases (`resource`).
    gauge("weir_provisioned_concurrency_requested"),
    gauge("weir_provisioned_concurrency_allocated"),
    gauge("weir_idle_environments"),
    counter("weir_environments_started_total"),
];
const F_CONCURRENT: usize = 0;
const F_INVOCATIONS: usize = 4;
const F_ERRORS: usize = 5;
const F_THROTTLES: [usize; 3] = [7, 8, 9];
const F_COLD_STARTS: usize = 10;

/// Account-wide and host series.
pub const ACCOUNT_SERIES: &[SeriesDef] = &[
    maximum("weir_concurrent_executions"),
    gauge("weir_unreserved_concurrent_executions"),
    gauge("weir_claimed_account_concurrency"),
    gauge("weir_account_concurrency_limit"),
    gauge("weir_unreserved_concurrency_limit"),
    gauge("weir_environments"),
    gauge("weir_host_waiting_invocations"),
    counter("weir_host_waits_total"),
    counter("weir_host_rejections_total"),
    counter("weir_host_wait_expirations_total"),
    counter("weir_host_evictions_total"),
    scaled(gauge("weir_environments_resident_memory_bytes"), KIB),
    counter("weir_store_commit_groups_total"),
    counter("weir_store_durable_commits_total"),
    counter("weir_store_committed_writes_total"),
    scaled(gauge("weir_metrics_history_bytes"), KIB),
    // Seconds spent committing during each second (µs resolution); divided
    // by the same second's weir_store_durable_commits_total point, the mean
    // commit latency.
    scaled(counter("weir_store_commit_seconds_total"), MICROS),
    checkpoints("background"),
    checkpoints("writer"),
    gauge("weir_host_environment_limit"),
];

/// Series of each queue.
pub const QUEUE_SERIES: &[SeriesDef] = &[
    scaled(gauge("weir_sqs_approximate_age_of_oldest_message_seconds"), MILLIS),
    gauge("weir_sqs_approximate_number_of_messages_visible"),
    gauge("weir_sqs_approximate_number_of_messages_not_visible"),
    gauge("weir_sqs_approximate_number_of_messages_delayed"),
    counter("weir_sqs_number_of_messages_sent_total"),
    counter("weir_sqs_number_of_messages_received_total"),
    counter("weir_sqs_number_of_messages_deleted_total"),
    counter("weir_sqs_number_of_empty_receives_total"),
];

/// Series of each event source mapping.
pub const MAPPING_SERIES: &[SeriesDef] = &[
    counter("weir_event_source_mapping_polled_messages_total"),
    counter("weir_event_source_mapping_invoked_batches_total"),
    counter("weir_event_source_mapping_failed_batches_total"),
    counter("weir_event_source_mapping_throttled_batches_total"),
    counter("weir_event_source_mapping_deleted_messages_total"),
    counter("weir_event_source_mapping_filtered_out_messages_total"),
    counter("weir_event_source_mapping_dead_lettered_messages_total"),
    gauge("weir_event_source_mapping_concurrency_limit"),
    gauge("weir_event_source_mapping_in_flight_batches"),
];

/// Longest window for duration percentiles (`weir top`).
pub const MAX_WINDOW_SECONDS: u64 = 10;

/// Statistics are estimates (within 25 %): they are stored in 16 bits as
/// an 11-bit mantissa and a 5-bit exponent (error below 0.05 %), so a
/// busy function's duration series take 2 bytes a point, not 4.
mod compact {
    const MANTISSA_BITS: u32 = 11;
    const MANTISSA_MASK: u32 = (1 << MANTISSA_BITS) - 1;

    pub fn encode(value: u64) -> u32 {
        let exponent = (u64::BITS - value.leading_zeros()).saturating_sub(MANTISSA_BITS);
        if exponent >= 1 << (16 - MANTISSA_BITS) {
            return u32::from(u16::MAX);
        }
        (exponent << MANTISSA_BITS) | (value >> exponent) as u32
    }

    pub fn decode(stored: u32) -> u64 {
        u64::from(stored & MANTISSA_MASK) << (stored >> MANTISSA_BITS)
    }

    #[test]
    fn round_trips_within_a_tenth_of_a_percent_in_16_bits() {
        for value in (0..5000).chain([65_535, 1_000_000, 123_456_789, 900_000_000, 4_000_000_000_000]) {
            let stored = encode(value);
            assert!(stored <= u32::from(u16::MAX));
            assert_eq!(stored == 0, value == 0);
            let back = decode(stored);
            assert!(back <= value && (value - back) as f64 <= value as f64 / 1024.0, "{value} -> {back}");
        }
    }
}

/// One sample's input for one series.
#[derive(Clone, Copy, Debug)]
enum Raw {
    Gauge(u64),
    /// The highest value since the previous sample.
    Maximum(u64),
    Total(u64),
    Mean {
        count: u64,
        sum: u64,
    },
    /// A statistic the sampler computed for this second (`None`: no data).
    Computed(Option<u64>),
}

fn clamp(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The series of one subject (the account, a function, a queue, a mapping).
#[derive(Debug)]
struct Subject {
    rings: Vec<Ring>,
    /// Previous cumulative (count, sum) of counter and mean series.
    previous: Vec<(u64, u64)>,
    last_seen: u64,
}

impl Subject {
    fn new(second: u64, defs: &[SeriesDef], raw: &[Raw]) -> Subject {
        let mut subject =
            Subject { rings: Vec::with_capacity(defs.len()), previous: vec![(0, 0); defs.len()], last_seen: second };
        for (i, r) in raw.iter().enumerate() {
            let (_, value) = subject.point(i, *r);
            subject.rings.push(Ring::new(second, value));
        }
        subject
    }

    /// (gap value, value) of series `i` for this sample; updates `previous`.
    fn point(&mut self, i: usize, raw: Raw) -> (u32, u32) {
        match raw {
            Raw::Gauge(v) => {
                let gap = self.rings.get(i).and_then(|r| r.get(r.head())).unwrap_or(0);
                (gap, clamp(v))
            }
            // The peak covers the whole time since the previous sample, so
            // seconds skipped in between (a manual clock advanced by
            // several seconds, a late sampler) take it too: a maximum over
            // any period is never lower than the truth.
            Raw::Maximum(v) => (clamp(v), clamp(v)),
            Raw::Total(total) => {
                let (before, _) = self.previous[i];
                self.previous[i] = (total, 0);
                (0, clamp(if total >= before { total - before } else { total }))
            }
            Raw::Mean { count, sum } => {
                let (count_before, sum_before) = self.previous[i];
                self.previous[i] = (count, sum);
                let (dc, ds) = if count >= count_before {
                    (count - count_before, sum.saturating_sub(sum_before))
                } else {
                    (count, sum)
                };
                (0, ds.checked_div(dc).map_or(0, |mean| clamp(mean.max(1))))
            }
            Raw::Computed(v) => (0, v.map_or(0, |v| compact::encode(v.max(1)))),
        }
    }

    fn record(&mut self, second: u64, raw: &[Raw]) {
        for (i, r) in raw.iter().enumerate() {
            let (gap, value) = self.point(i, *r);
            self.rings[i].push(second, gap, value);
        }
        self.last_seen = second;
    }

    fn heap_bytes(&self) -> usize {
        self.rings.iter().map(|r| r.heap_bytes() + std::mem::size_of::<Ring>()).sum::<usize>()
            + self.previous.len() * 16
    }

    /// Sum of series `i` over the `window` seconds ending at `head`.
    fn sum(&self, i: usize, head: u64, window: u64) -> u64 {
        let ring = &self.rings[i];
        (head + 1 - window.min(head + 1)..=head).filter_map(|s| ring.get(s)).map(u64::from).sum()
    }

    /// Seconds of the window ending at `head` this subject has points for.
    fn covered(&self, head: u64, window: u64) -> u64 {
        let ring = &self.rings[0];
        (head + 1 - window.min(head + 1)..=head).filter(|&s| ring.get(s).is_some()).count() as u64
    }
}

/// A function's series, and its cumulative durations at the seconds they
/// changed (for per-second and windowed percentiles).
#[derive(Debug)]
struct FunctionHistory {
    subject: Subject,
    durations: VecDeque<(u64, Box<HistogramCounts>)>,
}

impl FunctionHistory {
    /// The duration counts as of `second` (the newest entry not after it).
    fn durations_at(&self, second: u64) -> Option<&HistogramCounts> {
        self.durations.iter().rev().find(|(s, _)| *s <= second).map(|(_, c)| &**c)
    }

    /// Durations observed in the `window` seconds ending at `head`.
    fn durations_within(&self, head: u64, window: u64) -> Option<HistogramCounts> {
        let now = self.durations.back().map(|(_, c)| &**c)?;
        let base = head.checked_sub(window).and_then(|s| self.durations_at(s));
        Some(match base {
            Some(base) => now.since(base),
            None => now.clone(),
        })
    }

    /// Notes the cumulative durations at `second`; returns this second's.
    fn note_durations(&mut self, second: u64, now: Option<&HistogramCounts>) -> Option<HistogramCounts> {
        let now = now?;
        let delta = match self.durations.back() {
            Some((_, before)) if before.count() == now.count() => return None,
            Some((_, before)) => now.since(before),
            None => now.clone(),
        };
        self.durations.push_back((second, Box::new(now.clone())));
        // Keep the newest entry at or before the longest window's start.
        let horizon = second.saturating_sub(MAX_WINDOW_SECONDS);
        while self.durations.len() >= 2 && self.durations[1].0 <= horizon {
            self.durations.pop_front();
        }
        Some(delta)
    }
}

fn function_raw(f: &FunctionSnapshot, this_second: Option<&HistogramCounts>) -> Vec<Raw> {
    let s = &f.stats;
    let mean = |c: Option<&HistogramCounts>, unit_us: u64| match c {
        Some(c) => Raw::Mean { count: c.count(), sum: c.sum_us / unit_us },
        None => Raw::Mean { count: 0, sum: 0 },
    };
    let utilization = super::exposition::provisioned_utilization(f).map_or(0, |u| (u * 1e6).round() as u64);
    let (requested, allocated) = f
        .provisioned
        .iter()
        .fold((0u64, 0u64), |(r, a), (_, p)| (r + u64::from(p.requested), a + u64::from(p.allocated)));
    vec![
        Raw::Maximum(u64::from(f.concurrency_peak.unwrap_or(s.concurrent_executions))),
        Raw::Gauge(u64::from(s.provisioned_concurrent_executions)),
        Raw::Gauge(u64::from(s.reserved_concurrency.unwrap_or(0))),
        Raw::Gauge(u64::from(s.environments)),
        Raw::Total(s.invocations),
        Raw::Total(s.errors),
        Raw::Total(s.timeouts),
        Raw::Total(s.throttles_for(ThrottleReason::ConcurrentInvocationLimitExceeded)),
        Raw::Total(s.throttles_for(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)),
        Raw::Total(s.throttles_for(ThrottleReason::FunctionInvocationRateLimitExceeded)),
        Raw::Total(s.cold_starts),
        Raw::Total(s.provisioned_invocations),
        Raw::Total(s.spillover_invocations),
        Raw::Computed(this_second.and_then(HistogramCounts::mean_us)),
        Raw::Computed(this_second.and_then(|c| c.quantile_us(0.5))),
        Raw::Computed(this_second.and_then(|c| c.quantile_us(0.99))),
        mean(f.init_duration.as_deref(), 1),
        Raw::Gauge(utilization),
        Raw::Gauge(u64::from(f.max_memory_used_mb)),
        Raw::Total(f.asynchronous.events_received),
        Raw::Total(f.asynchronous.events_dropped),
        Raw::Total(f.asynchronous.dead_letter_errors),
        Raw::Total(f.asynchronous.destination_delivery_failures),
        mean(f.asynchronous.age.as_deref(), 1000),
        Raw::Gauge(requested),
        Raw::Gauge(allocated),
        Raw::Gauge(u64::from(s.idle_environments)),
        Raw::Total(s.environments_started),
    ]
}

fn account_raw(s: &Snapshot) -> Vec<Raw> {
    let a = &s.account;
    vec![
        Raw::Maximum(u64::from(s.account_concurrency_peak.unwrap_or(a.concurrent_executions))),
        Raw::Gauge(u64::from(a.unreserved_concurrent_executions)),
        Raw::Gauge(u64::from(a.claimed_account_concurrency)),
        Raw::Gauge(u64::from(a.concurrency_limit)),
        Raw::Gauge(u64::from(a.unreserved_limit)),
        Raw::Gauge(u64::from(a.environments)),
        Raw::Gauge(u64::from(a.host_waiting)),
        Raw::Total(a.host_waits),
        Raw::Total(a.host_rejections),
        Raw::Total(a.host_wait_expirations),
        Raw::Total(a.host_evictions),
        Raw::Gauge(s.environments_resident_bytes.unwrap_or(0) / 1024),
        Raw::Total(s.store.groups),
        Raw::Total(s.store.durable_commits),
        Raw::Total(s.store.commands),
        Raw::Gauge(s.history_bytes / 1024),
        Raw::Total(s.store.commit_time.as_micros() as u64),
        Raw::Total(s.store.background_checkpoints),
        Raw::Total(s.store.writer_checkpoints),
        Raw::Gauge(u64::from(a.host_environment_limit)),
    ]
}

/// Which subject a query is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Account,
    Function(String),
    Queue(String),
    Mapping(String),
}

/// A history query (`GET /_weir/metrics/history`).
#[derive(Clone, Debug)]
pub struct Query {
    pub metric: String,
    pub scope: Scope,
    pub stat: Option<String>,
    /// Label filters (`reason`); series of the metric that differ only in
    /// an unfiltered label are summed.
    pub labels: Vec<(String, String)>,
    pub seconds: u64,
}

/// Every series, one [`Ring`] each.
#[derive(Debug, Default)]
pub struct History {
    /// The latest second sampled.
    head: Option<u64>,
    account: Option<Subject>,
    functions: HashMap<String, FunctionHistory>,
    queues: HashMap<String, Subject>,
    mappings: HashMap<String, Subject>,
}

impl History {
    pub fn head(&self) -> Option<u64> {
        self.head
    }

    /// Adds the sample taken at `second` (ignored unless after the head).
    pub fn record(&mut self, second: u64, snapshot: &Snapshot) {
        if self.head.is_some_and(|head| second <= head) {
            return;
        }
        self.head = Some(second);
        let raw = account_raw(snapshot);
        match &mut self.account {
            Some(account) => account.record(second, &raw),
            None => self.account = Some(Subject::new(second, ACCOUNT_SERIES, &raw)),
        }
        for f in &snapshot.functions {
            match self.functions.get_mut(&f.name) {
                Some(history) => {
                    let this_second = history.note_durations(second, f.duration.as_deref());
                    history.subject.record(second, &function_raw(f, this_second.as_ref()));
                }
                None => {
                    let mut history =
                        FunctionHistory { subject: Subject::new(second, &[], &[]), durations: VecDeque::new() };
                    let this_second = history.note_durations(second, f.duration.as_deref());
                    history.subject = Subject::new(second, FUNCTION_SERIES, &function_raw(f, this_second.as_ref()));
                    self.functions.insert(f.name.clone(), history);
                }
            }
        }
        for q in &snapshot.queues {
            let raw = [
                Raw::Gauge(q.oldest_age_ms.unwrap_or(0)),
                Raw::Gauge(q.visible),
                Raw::Gauge(q.not_visible),
                Raw::Gauge(q.delayed),
                Raw::Total(q.sent),
                Raw::Total(q.received),
                Raw::Total(q.deleted),
                Raw::Total(q.empty_receives),
            ];
            record_subject(&mut self.queues, &q.name, second, QUEUE_SERIES, &raw);
        }
        for m in &snapshot.mappings {
            let raw = [
                Raw::Total(m.polled),
                Raw::Total(m.invoked),
                Raw::Total(m.failed),
                Raw::Total(m.throttled),
                Raw::Total(m.deleted),
                Raw::Total(m.filtered_out),
                Raw::Total(m.dead_lettered),
                Raw::Gauge(m.concurrency_limit),
                Raw::Gauge(m.in_flight),
            ];
            record_subject(&mut self.mappings, &m.uuid, second, MAPPING_SERIES, &raw);
        }
        // Subjects gone for an hour have nothing left to show.
        let stale = |last_seen: u64| second - last_seen >= POINTS;
        self.functions.retain(|_, f| !stale(f.subject.last_seen));
        self.queues.retain(|_, q| !stale(q.last_seen));
        self.mappings.retain(|_, m| !stale(m.last_seen));
    }

    /// Heap memory held, in bytes (an estimate that counts every allocation of note).
    pub fn heap_bytes(&self) -> usize {
        let subjects = self.account.iter().map(Subject::heap_bytes).sum::<usize>()
            + self.queues.iter().map(|(k, s)| k.len() + s.heap_bytes()).sum::<usize>()
            + self.mappings.iter().map(|(k, s)| k.len() + s.heap_bytes()).sum::<usize>();
        let functions: usize = self
            .functions
            .iter()
            .map(|(k, f)| {
                k.len() + f.subject.heap_bytes() + f.durations.len() * (8 + std::mem::size_of::<HistogramCounts>() + 8)
            })
            .sum();
        subjects + functions
    }

    fn subject(&self, scope: &Scope) -> Option<(&Subject, &'static [SeriesDef])> {
        match scope {
            Scope::Account => self.account.as_ref().map(|s| (s, ACCOUNT_SERIES)),
            Scope::Function(name) => self.functions.get(name).map(|f| (&f.subject, FUNCTION_SERIES)),
            Scope::Queue(name) => self.queues.get(name).map(|s| (s, QUEUE_SERIES)),
            Scope::Mapping(uuid) => self.mappings.get(uuid).map(|s| (s, MAPPING_SERIES)),
        }
    }

    /// The points of one metric (`None`: no such series).
    pub fn query(&self, query: &Query) -> Result<Value, String> {
        let defs = match &query.scope {
            Scope::Account => ACCOUNT_SERIES,
            Scope::Function(_) => FUNCTION_SERIES,
            Scope::Queue(_) => QUEUE_SERIES,
            Scope::Mapping(_) => MAPPING_SERIES,
        };
        let matching: Vec<usize> = (0..defs.len())
            .filter(|&i| {
                let d = &defs[i];
                d.metric == query.metric
                    && (d.kind != SeriesKind::Statistic || d.stat == Some(query.stat.as_deref().unwrap_or("avg")))
                    && query.labels.iter().all(|(k, v)| d.label.is_some_and(|(dk, dv)| dk == k && dv == v))
            })
            .collect();
        let Some(&first) = matching.first() else {
            return Err(format!(
                "no series {} for this subject (see GET /_weir/metrics/history for the list)",
                query.metric
            ));
        };
        let def = defs[first];
        let Some((subject, _)) = self.subject(&query.scope) else {
            return Err("no history for this subject".into());
        };
        let head = self.head.unwrap_or(0);
        let seconds = query.seconds.clamp(1, POINTS);
        let mut points = Vec::new();
        for second in head + 1 - seconds.min(head + 1)..=head {
            let mut any = false;
            let mut total = 0u64;
            for &i in &matching {
                if let Some(v) = subject.rings[i].get(second) {
                    any = true;
                    total += match def.kind {
                        SeriesKind::Statistic => compact::decode(v),
                        SeriesKind::Gauge | SeriesKind::Maximum | SeriesKind::Counter => u64::from(v),
                    };
                }
            }
            if !any || (def.kind == SeriesKind::Statistic && total == 0) {
                continue;
            }
            let value = total as f64 * def.scale;
            points.push(json!([second, value]));
        }
        Ok(json!({
            "metric": def.metric,
            "stat": if def.kind == SeriesKind::Statistic { def.stat } else { None },
            "kind": def.kind.as_str(),
            "labels": labels_of(&query.scope, &query.labels),
            "step_seconds": 1,
            "head_epoch_s": self.head,
            "points": points,
        }))
    }

    /// What can be queried: the series of each kind of subject, and the subjects.
    pub fn index(&self) -> Value {
        let describe = |defs: &[SeriesDef]| -> Vec<Value> {
            defs.iter()
                .map(|d| {
                    json!({
                        "metric": d.metric,
                        "stat": d.stat,
                        "label": d.label.map(|(k, v)| json!({ k: v })),
                        "kind": d.kind.as_str(),
                    })
                })
                .collect()
        };
        let mut functions: Vec<&String> = self.functions.keys().collect();
        let mut queues: Vec<&String> = self.queues.keys().collect();
        let mut mappings: Vec<&String> = self.mappings.keys().collect();
        functions.sort();
        queues.sort();
        mappings.sort();
        json!({
            "head_epoch_s": self.head,
            "points_per_series": POINTS,
            "series": {
                "account": describe(ACCOUNT_SERIES),
                "function": describe(FUNCTION_SERIES),
                "queue": describe(QUEUE_SERIES),
                "event_source_mapping": describe(MAPPING_SERIES),
            },
            "functions": functions,
            "queues": queues,
            "event_source_mappings": mappings,
        })
    }

    /// A function's windowed figures for `weir top`.
    pub fn function_window(&self, name: &str, window: u64) -> Option<FunctionWindow> {
        let f = self.functions.get(name)?;
        let head = self.head?;
        let covered = f.subject.covered(head, window).max(1) as f64;
        let rate = |i: usize| f.subject.sum(i, head, window) as f64 / covered;
        let durations = f.durations_within(head, window.min(MAX_WINDOW_SECONDS));
        let quantile = |q: f64| durations.as_ref().and_then(|d| d.quantile_us(q)).map(|us| us as f64 * MICROS);
        Some(FunctionWindow {
            invocations_per_second: rate(F_INVOCATIONS),
            errors_per_second: rate(F_ERRORS),
            throttles_per_second: F_THROTTLES.map(rate),
            cold_starts_per_second: rate(F_COLD_STARTS),
            duration_p50_seconds: quantile(0.5),
            duration_p99_seconds: quantile(0.99),
        })
    }

    /// A function's concurrency at each of the last `seconds` seconds
    /// (0 where it has no point).
    pub fn concurrency_sparkline(&self, name: &str, seconds: u64) -> Vec<u32> {
        let (Some(f), Some(head)) = (self.functions.get(name), self.head) else { return Vec::new() };
        let ring = &f.subject.rings[F_CONCURRENT];
        (head + 1 - seconds.min(head + 1)..=head).map(|s| ring.get(s).unwrap_or(0)).collect()
    }
}

/// Rates over a window and duration percentiles, for one function.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionWindow {
    pub invocations_per_second: f64,
    pub errors_per_second: f64,
    /// In [`ThrottleReason::ALL`] order.
    pub throttles_per_second: [f64; 3],
    pub cold_starts_per_second: f64,
    pub duration_p50_seconds: Option<f64>,
    pub duration_p99_seconds: Option<f64>,
}

fn record_subject(map: &mut HashMap<String, Subject>, key: &str, second: u64, defs: &[SeriesDef], raw: &[Raw]) {
    match map.get_mut(key) {
        Some(subject) => subject.record(second, raw),
        None => {
            map.insert(key.to_owned(), Subject::new(second, defs, raw));
        }
    }
}

fn labels_of(scope: &Scope, extra: &[(String, String)]) -> Value {
    let mut labels = serde_json::Map::new();
    match scope {
        Scope::Account => {}
        Scope::Function(name) => {
            labels.insert("function_name".into(), json!(name));
        }
        Scope::Queue(name) => {
            labels.insert("queue_name".into(), json!(name));
        }
        Scope::Mapping(uuid) => {
            labels.insert("event_source_mapping".into(), json!(uuid));
        }
    }
    for (k, v) in extra {
        labels.insert(k.clone(), json!(v));
    }
    Value::Object(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::histogram::Histogram;
    use crate::telemetry::snapshot::QueueSnapshot;
    use std::time::Duration;

    fn query(metric: &str, scope: Scope, seconds: u64) -> Query {
        Query { metric: metric.into(), scope, stat: None, labels: Vec::new(), seconds }
    }

    fn points(v: &Value) -> Vec<(u64, f64)> {
        v["points"].as_array().unwrap().iter().map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap())).collect()
    }

    fn function(name: &str, invocations: u64, concurrent: u32) -> FunctionSnapshot {
        FunctionSnapshot {
            name: name.into(),
            stats: weir_core::FunctionStats { invocations, concurrent_executions: concurrent, ..Default::default() },
            ..Default::default()
        }
    }

    #[test]
    fn counters_become_per_second_increases_that_sum_to_the_counter() {
        let mut history = History::default();
        let mut snapshot = Snapshot::default();
        for (second, total) in [(100, 0), (101, 3), (102, 3), (103, 10), (110, 12)] {
            let mut f = function("f", total, 0);
            f.stats.environments = (total % 4) as u32;
            snapshot.functions = vec![f];
            history.record(second, &snapshot);
        }
        let v = history.query(&query("weir_invocations_total", Scope::Function("f".into()), 60)).unwrap();
        let got = points(&v);
        assert_eq!(got.len(), 11, "one point per second, gaps included: {got:?}");
        assert_eq!(got.iter().map(|(_, v)| v).sum::<f64>(), 12.0);
        assert_eq!(got[1], (101, 3.0));
        assert_eq!(got[3], (103, 7.0));
        assert_eq!(got[10], (110, 2.0));
        assert_eq!(got[5], (105, 0.0), "a skipped second saw no increase");
        let c = points(&history.query(&query("weir_environments", Scope::Function("f".into()), 60)).unwrap());
        assert_eq!(c[5], (105, 2.0), "a skipped second keeps the gauge's value");
        assert_eq!(c[10], (110, 0.0));
    }

    /// A function at 100 rps × 5 ms is rarely busy at the instant of a
    /// sample: its concurrency points are the peak since the previous one.
    #[test]
    fn concurrency_points_are_the_peak_since_the_previous_sample() {
        let mut history = History::default();
        let sample = |concurrent: u32, peak: u32, account_peak: u32| {
            let mut f = function("f", 0, concurrent);
            f.concurrency_peak = Some(peak);
            Snapshot { functions: vec![f], account_concurrency_peak: Some(account_peak), ..Default::default() }
        };
        history.record(100, &sample(0, 0, 0));
        history.record(101, &sample(0, 3, 4));
        history.record(102, &sample(1, 1, 1));
        history.record(106, &sample(0, 2, 2));
        let scope = Scope::Function("f".into());
        let v = history.query(&query("weir_concurrent_executions", scope, 60)).unwrap();
        assert_eq!(v["kind"], "maximum");
        let expected = [(100, 0.0), (101, 3.0), (102, 1.0), (103, 2.0), (104, 2.0), (105, 2.0), (106, 2.0)];
        assert_eq!(points(&v), expected, "skipped seconds take the peak of the window that covers them");
        let account = points(&history.query(&query("weir_concurrent_executions", Scope::Account, 60)).unwrap());
        assert_eq!(account[1], (101, 4.0));
        assert_eq!(history.concurrency_sparkline("f", 7), vec![0, 3, 1, 2, 2, 2, 2], "weir top sees the burst");
        // A snapshot without peaks (a scrape's) falls back to the value now.
        history.record(107, &Snapshot { functions: vec![function("f", 0, 5)], ..Default::default() });
        assert_eq!(history.concurrency_sparkline("f", 1), vec![5]);
    }

    #[test]
    fn provisioned_concurrency_and_store_series() {
        use weir_core::{ProvisionedState, ProvisionedStatus, Version};
        let mut history = History::default();
        let status = |requested, allocated| ProvisionedStatus {
            version: Version::Published(1),
            requested,
            allocated,
            state: ProvisionedState::InProgress,
        };
        let mut f = function("f", 0, 0);
        let mut snapshot = Snapshot::default();
        for (second, allocated, commit_ms, durable, background) in
            [(10, 0, 0, 0, 0), (11, 2, 7, 3, 1), (12, 5, 10, 5, 1)]
        {
            f.provisioned = vec![("live".into(), status(4, allocated.min(4))), ("2".into(), status(1, allocated / 5))];
            snapshot.functions = vec![f.clone()];
            snapshot.store.commit_time = Duration::from_millis(commit_ms);
            snapshot.store.durable_commits = durable;
            snapshot.store.background_checkpoints = background;
            snapshot.store.writer_checkpoints = second - 10;
            history.record(second, &snapshot);
        }
        let of = |metric: &str, scope: Scope| points(&history.query(&query(metric, scope, 10)).unwrap());
        let f = || Scope::Function("f".into());
        assert_eq!(of("weir_provisioned_concurrency_requested", f()), [(10, 5.0), (11, 5.0), (12, 5.0)]);
        assert_eq!(of("weir_provisioned_concurrency_allocated", f()), [(10, 0.0), (11, 2.0), (12, 5.0)]);
        let commit = of("weir_store_commit_seconds_total", Scope::Account);
        assert_eq!(commit.len(), 3);
        assert!((commit[1].1 - 0.007).abs() < 1e-9 && (commit[2].1 - 0.003).abs() < 1e-9, "{commit:?}");
        assert_eq!(of("weir_store_checkpoints_total", Scope::Account), [(10, 0.0), (11, 2.0), (12, 1.0)]);
        let mut writer = query("weir_store_checkpoints_total", Scope::Account, 10);
        writer.labels = vec![("kind".into(), "writer".into())];
        assert_eq!(points(&history.query(&writer).unwrap()), [(10, 0.0), (11, 1.0), (12, 1.0)]);
    }

    #[test]
    fn throttles_are_kept_by_reason_and_summed_without_one() {
        let mut history = History::default();
        let mut f = function("f", 0, 0);
        history.record(1, &Snapshot { functions: vec![f.clone()], ..Default::default() });
        f.stats.throttles = [1, 2, 4];
        history.record(2, &Snapshot { functions: vec![f], ..Default::default() });
        let scope = Scope::Function("f".into());
        let all = points(&history.query(&query("weir_throttles_total", scope.clone(), 10)).unwrap());
        assert_eq!(all, vec![(1, 0.0), (2, 7.0)]);
        let mut by_reason = query("weir_throttles_total", scope, 10);
        by_reason.labels = vec![("reason".into(), "ReservedFunctionConcurrentInvocationLimitExceeded".into())];
        assert_eq!(points(&history.query(&by_reason).unwrap()), vec![(1, 0.0), (2, 2.0)]);
    }

    #[test]
    fn duration_statistics_are_per_second_and_windowed() {
        let mut history = History::default();
        let durations = Histogram::default();
        let mut f = function("f", 0, 0);
        history.record(10, &Snapshot { functions: vec![f.clone()], ..Default::default() });
        for ms in [10u64, 10, 10, 200] {
            durations.record(Duration::from_millis(ms));
        }
        f.duration = Some(Box::new(durations.counts()));
        history.record(11, &Snapshot { functions: vec![f.clone()], ..Default::default() });
        history.record(12, &Snapshot { functions: vec![f.clone()], ..Default::default() });
        let mut q = query("weir_duration_seconds", Scope::Function("f".into()), 10);
        let avg = points(&history.query(&q).unwrap());
        assert_eq!(avg.len(), 1, "only the second that saw invocations: {avg:?}");
        assert_eq!(avg[0].0, 11);
        assert!((avg[0].1 - 0.0575).abs() < 1e-4, "{avg:?}");
        q.stat = Some("p99".into());
        let p99 = points(&history.query(&q).unwrap())[0].1;
        assert!((0.15..=0.2).contains(&p99), "{p99}");
        let window = history.function_window("f", 5).unwrap();
        assert!(window.duration_p50_seconds.unwrap() <= 0.0125);
        // Ten seconds later the window is empty again.
        for second in 13..=25 {
            history.record(second, &Snapshot { functions: vec![f.clone()], ..Default::default() });
        }
        assert_eq!(history.function_window("f", 10).unwrap().duration_p50_seconds, None);
    }

    #[test]
    fn windowed_rates_and_sparklines() {
        let mut history = History::default();
        for second in 0..=20u64 {
            let snapshot = Snapshot { functions: vec![function("f", second * 4, second as u32)], ..Default::default() };
            history.record(1000 + second, &snapshot);
        }
        let window = history.function_window("f", 5).unwrap();
        assert_eq!(window.invocations_per_second, 4.0);
        assert_eq!(history.concurrency_sparkline("f", 3), vec![18, 19, 20]);
    }

    #[test]
    fn queue_series_and_gone_subjects() {
        let mut history = History::default();
        let q =
            QueueSnapshot { name: "jobs".into(), visible: 3, oldest_age_ms: Some(1500), sent: 3, ..Default::default() };
        history.record(50, &Snapshot { queues: vec![q], ..Default::default() });
        let age =
            history.query(&query("weir_sqs_approximate_age_of_oldest_message_seconds", Scope::Queue("jobs".into()), 5));
        assert_eq!(points(&age.unwrap()), vec![(50, 1.5)]);
        history.record(50 + POINTS, &Snapshot::default());
        assert!(
            history.query(&query("weir_sqs_number_of_messages_sent_total", Scope::Queue("jobs".into()), 5)).is_err()
        );
    }

    /// Every function busy every second of the hour: concurrency, invocations,
    /// errors, cold starts and durations all change each second.
    #[test]
    fn an_hour_of_busy_functions_fits_in_bounded_memory() {
        const FUNCTIONS: usize = 100;
        let mut history = History::default();
        let durations: Vec<Histogram> = (0..FUNCTIONS).map(|_| Histogram::default()).collect();
        let mut snapshot = Snapshot {
            functions: (0..FUNCTIONS).map(|i| function(&format!("fn-{i}"), 0, 0)).collect(),
            ..Default::default()
        };
        for second in 0..POINTS + 600 {
            for (i, f) in snapshot.functions.iter_mut().enumerate() {
                let spin = second + i as u64;
                f.stats.invocations += spin % 300;
                f.stats.errors += spin % 3;
                f.stats.cold_starts += spin % 2;
                f.stats.concurrent_executions = (spin % 50) as u32;
                durations[i].record(Duration::from_micros(1_000 + spin % 5_000));
                durations[i].record(Duration::from_micros(200_000 + spin % 90_000));
                f.duration = Some(Box::new(durations[i].counts()));
            }
            history.record(second, &snapshot);
        }
        let per_function = history.heap_bytes() / FUNCTIONS;
        eprintln!(
            "history of a busy function: {:.1} KiB (1,000 of them: {:.1} MiB)",
            per_function as f64 / 1024.0,
            per_function as f64 * 1000.0 / (1024.0 * 1024.0)
        );
        assert!(per_function < 48 * 1024, "{per_function} bytes per function");
    }

    /// `cargo test -p weir-node --release --lib sampling_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "prints a measurement; run in release"]
    fn sampling_cost_with_1000_busy_functions() {
        let mut snapshot = crate::telemetry::exposition::tests::busy_snapshot(1000);
        let durations = Histogram::default();
        let mut history = History::default();
        let mut record = Vec::new();
        let mut summary = Vec::new();
        let visible: std::collections::HashSet<String> = (0..40).map(|i| format!("function-number-{i:04}")).collect();
        for second in 0..300u64 {
            durations.record(Duration::from_millis(second % 90 + 1));
            let counts = Box::new(durations.counts());
            for f in &mut snapshot.functions {
                f.stats.invocations += second % 13;
                f.stats.concurrent_executions = (second % 9) as u32;
                f.duration = Some(counts.clone());
            }
            let started = std::time::Instant::now();
            history.record(second, &snapshot);
            record.push(started.elapsed());
            let started = std::time::Instant::now();
            let frame = crate::telemetry::summary::build(&snapshot, &history, 5, 60, &visible);
            summary.push(started.elapsed());
            assert_eq!(frame.functions.len(), 1000);
        }
        record.sort();
        summary.sort();
        eprintln!(
            "1,000 functions: recording one second {:?} (median), one weir top frame {:?} (median, 40 sparklines)",
            record[150], summary[150]
        );
    }
}
