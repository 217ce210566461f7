//! What a run found, and its renderings: the JSON object (`--json`), the
//! terminal summary table, and the per-second CSV.
//!
//! The report holds only values derived from virtual time and the seed
//! (never wall-clock figures), so the same seed gives byte-identical JSON.
//! This module formats; it never simulates.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::cost::Cost;
use crate::scenario::Architecture;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    /// Length of the traffic window (the scenario's `duration_s`).
    pub simulated_seconds: f64,
    /// When the last invocation finished, after traffic stopped.
    pub drained_seconds: f64,
    /// Virtual time spent bringing provisioned concurrency to READY before
    /// traffic started.
    pub provisioning_seconds: f64,
    pub functions: Vec<FunctionReport>,
    pub queues: Vec<QueueReport>,
    pub downstreams: Vec<DownstreamReport>,
    pub account: AccountReport,
    pub cost: CostReport,
    /// Per-second series (CSV and plots; not in the JSON).
    #[serde(skip)]
    pub series: Series,
}

#[derive(Clone, Debug, Serialize)]
pub struct FunctionReport {
    pub name: String,
    pub memory_mb: u32,
    pub architecture: Architecture,
    pub timeout_s: f64,
    pub reserved_concurrency: Option<u32>,
    pub provisioned_concurrency: Option<u32>,
    /// Synchronous requests that arrived (admitted, throttled or refused).
    pub requests: u64,
    /// Lambda's `Invocations`: invocations that ran (including errors).
    pub invocations: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// Lambda's `Throttles`, by Lambda's `Reason` string (every reason
    /// listed, zero included).
    pub throttles: BTreeMap<String, u64>,
    pub throttles_total: u64,
    /// Refused because a weir host was full (only with a `[host]` section;
    /// never a Lambda throttle).
    pub host_busy: u64,
    pub cold_starts: u64,
    pub environments_started: u64,
    pub provisioned_invocations: u64,
    pub spillover_invocations: u64,
    pub peak_concurrency: u32,
    /// Time-weighted mean over the traffic window.
    pub mean_concurrency: f64,
    /// The first lesson's arithmetic: peak request rate × mean duration
    /// (own work plus downstream calls at their base latency; for
    /// queue-fed functions, the producer's peak rate per batch).
    pub arithmetic_concurrency: f64,
    /// Synchronous request latency as the caller sees it: cold start and
    /// any host wait included; throttled requests excluded.
    pub latency_ms: Latency,
    /// Calls refused by the downstream (every connection in use); each
    /// made the invocation fail with a function error.
    pub downstream_refused: u64,
    pub billed_gb_seconds: f64,
    pub cost_usd: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// One of its figures for the terminal table: "-" when nothing was
    /// measured (not 0.0, which would read as instant).
    fn cell(&self, ms: f64) -> String {
        if self.count == 0 { "-".to_owned() } else { format!("{ms:.1}") }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct QueueReport {
    pub name: String,
    pub function: String,
    pub messages_sent: u64,
    /// Received, processed and deleted.
    pub messages_processed: u64,
    pub messages_dead_lettered: u64,
    /// Made visible again by a visibility timeout (failed or expired batches).
    pub messages_returned: u64,
    pub receives: u64,
    pub batches: u64,
    pub batches_failed: u64,
    /// Batch invocations throttled (each retry counts).
    pub batch_throttles: u64,
    /// Visible plus in flight.
    pub peak_depth: u64,
    pub final_depth: u64,
    /// `ApproximateAgeOfOldestMessage`, sampled every second.
    pub peak_oldest_age_s: f64,
    pub final_oldest_age_s: f64,
    /// The poller's concurrent-batch limit (weir-core's scaler).
    pub peak_poller_concurrency: u32,
    /// From send to delete, for processed messages.
    pub message_latency_ms: Latency,
}

#[derive(Clone, Debug, Serialize)]
pub struct DownstreamReport {
    pub name: String,
    pub max_connections: u32,
    pub peak_connections: u32,
    pub calls: u64,
    pub refused: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct AccountReport {
    pub concurrency_limit: u32,
    /// The unreserved pool once the scenario's reservations are applied.
    pub unreserved_limit: u32,
    pub peak_concurrency: u32,
    pub environments_started: u64,
    /// Admitted requests that waited for a weir host slot longer than
    /// `max_wait_s` (only with a `[host]` section).
    pub host_wait_expirations: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CostReport {
    pub region: String,
    pub prices_as_of: String,
    #[serde(flatten)]
    pub total: Cost,
    /// The same cost extrapolated to a 730-hour month.
    pub per_month_usd: f64,
    pub not_included: String,
}

/// One column of the per-second series.
#[derive(Clone, Debug, Default)]
pub struct Column {
    pub name: String,
    pub values: Vec<f64>,
}

/// Per-second series: row `i` covers `[i, i + 1)` seconds after traffic began.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub columns: Vec<Column>,
    /// Constant lines for the concurrency plot: (label, value).
    pub concurrency_limits: Vec<(String, f64)>,
}

impl Series {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    /// The series as CSV: a `second` column, then one per series.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("second");
        for c in &self.columns {
            out.push(',');
            out.push_str(&c.name);
        }
        out.push('\n');
        for row in 0..self.rows() {
            let _ = write!(out, "{row}");
            for c in &self.columns {
                let v = c.values[row];
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    let _ = write!(out, ",{}", v as i64);
                } else {
                    let _ = write!(out, ",{v:.3}");
                }
            }
            out.push('\n');
        }
        out
    }
}

impl Report {
    pub fn function(&self, name: &str) -> Option<&FunctionReport> {
        self.functions.iter().find(|f| f.name == name)
    }

    pub fn queue(&self, name: &str) -> Option<&QueueReport> {
        self.queues.iter().find(|q| q.name == name)
    }

    pub fn downstream(&self, name: &str) -> Option<&DownstreamReport> {
        self.downstreams.iter().find(|d| d.name == name)
    }

    /// The report as one pretty-printed JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises")
    }

    /// The terminal summary: one table per kind of resource.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scenario {:?}, seed {}, {} s of traffic (drained at {:.1} s)\n",
            self.scenario, self.seed, self.simulated_seconds, self.drained_seconds
        );
        let mut rows = vec![vec![
            "function".to_owned(),
            "requests".to_owned(),
            "invocations".to_owned(),
            "peak conc".to_owned(),
            "mean conc".to_owned(),
            "arith conc".to_owned(),
            "throttles (acct/reserved/rate)".to_owned(),
            "cold starts".to_owned(),
            "sync p50 ms".to_owned(),
            "sync p99 ms".to_owned(),
            "errors".to_owned(),
        ]];
        for f in &self.functions {
            let t = |reason: &str| f.throttles.get(reason).copied().unwrap_or(0);
            rows.push(vec![
                f.name.clone(),
                f.requests.to_string(),
                f.invocations.to_string(),
                f.peak_concurrency.to_string(),
                format!("{:.1}", f.mean_concurrency),
                format!("{:.1}", f.arithmetic_concurrency),
                format!(
                    "{} ({}/{}/{})",
                    f.throttles_total,
                    t("ConcurrentInvocationLimitExceeded"),
                    t("ReservedFunctionConcurrentInvocationLimitExceeded"),
                    t("FunctionInvocationRateLimitExceeded")
                ),
                f.cold_starts.to_string(),
                f.latency_ms.cell(f.latency_ms.p50),
                f.latency_ms.cell(f.latency_ms.p99),
                format!("{} ({} timeouts)", f.errors, f.timeouts),
            ]);
        }
        table(&mut out, &rows);
        if !self.queues.is_empty() {
            out.push('\n');
            let mut rows = vec![vec![
                "queue".to_owned(),
                "sent".to_owned(),
                "processed".to_owned(),
                "to DLQ".to_owned(),
                "peak depth".to_owned(),
                "final depth".to_owned(),
                "peak oldest age s".to_owned(),
                "peak pollers".to_owned(),
                "batch throttles".to_owned(),
                "msg latency p50 ms".to_owned(),
                "msg latency p99 ms".to_owned(),
            ]];
            for q in &self.queues {
                rows.push(vec![
                    q.name.clone(),
                    q.messages_sent.to_string(),
                    q.messages_processed.to_string(),
                    q.messages_dead_lettered.to_string(),
                    q.peak_depth.to_string(),
                    q.final_depth.to_string(),
                    format!("{:.1}", q.peak_oldest_age_s),
                    q.peak_poller_concurrency.to_string(),
                    q.batch_throttles.to_string(),
                    q.message_latency_ms.cell(q.message_latency_ms.p50),
                    q.message_latency_ms.cell(q.message_latency_ms.p99),
                ]);
            }
            table(&mut out, &rows);
        }
        if !self.downstreams.is_empty() {
            out.push('\n');
            let mut rows = vec![vec![
                "downstream".to_owned(),
                "max connections".to_owned(),
                "peak connections".to_owned(),
                "calls".to_owned(),
                "refused".to_owned(),
            ]];
            for d in &self.downstreams {
                rows.push(vec![
                    d.name.clone(),
                    d.max_connections.to_string(),
                    d.peak_connections.to_string(),
                    d.calls.to_string(),
                    d.refused.to_string(),
                ]);
            }
            table(&mut out, &rows);
        }
        if self.functions.iter().any(|f| f.latency_ms.count == 0 && f.invocations > 0) {
            let _ = writeln!(
                out,
                "\nsync p50/p99: synchronous requests as callers see them; \"-\": none (a queue-fed function's \
                 latency is its queue's message latency, send to delete)"
            );
        }
        let a = &self.account;
        let _ = writeln!(
            out,
            "\naccount: peak concurrency {} of {} (unreserved pool {}), {} environments started",
            a.peak_concurrency, a.concurrency_limit, a.unreserved_limit, a.environments_started
        );
        let c = &self.cost;
        let _ = writeln!(
            out,
            "cost ({}, prices of {}): ${:.4} (requests ${:.4}, duration ${:.4}, provisioned ${:.4}); ${:.2} per month at this rate",
            c.region,
            c.prices_as_of,
            c.total.total_usd,
            c.total.requests_usd,
            c.total.duration_usd,
            c.total.provisioned_usd,
            c.per_month_usd
        );
        out
    }
}

fn table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows[0].len();
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 0 {
                let _ = write!(line, "{cell:<w$}", w = widths[c]);
            } else {
                let _ = write!(line, "  {cell:>w$}", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (columns - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_has_a_header_and_one_row_per_second() {
        let series = Series {
            columns: vec![
                Column { name: "a.concurrency".into(), values: vec![1.0, 2.0] },
                Column { name: "q.oldest_age_s".into(), values: vec![0.5, 1.25] },
            ],
            concurrency_limits: vec![],
        };
        assert_eq!(series.to_csv(), "second,a.concurrency,q.oldest_age_s\n0,1,0.500\n1,2,1.250\n");
    }
}
