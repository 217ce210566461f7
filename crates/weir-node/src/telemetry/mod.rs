//! Telemetry: CloudWatch-named metrics, their last hour, and `weir top`'s feed.
//!
//! Owns: the metrics contract ([`names`]), the engine's per-invocation
//! observations ([`observations`], recorded on the invoke path with a few
//! atomic adds), a [`snapshot`] of every source read on demand, its
//! Prometheus rendering ([`exposition`], `GET /metrics`), the per-second
//! history ([`history`], `GET /_weir/metrics/history`) filled by one
//! sampler task on the platform clock, and the frame `weir top` draws
//! ([`summary`], `GET /_weir/metrics/summary`).
//! Never: counts what a source already counts (invocations, errors and
//! throttles are the core's exact counters, read when asked), or touches
//! the invoke path beyond [`observations::Observations::record`].

pub mod exposition;
pub mod histogram;
pub mod history;
pub mod http;
pub mod names;
pub mod observations;
pub mod resident;
pub mod ring;
pub mod snapshot;
pub mod summary;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::Node;
use history::History;
use snapshot::Snapshot;

/// `u64::MAX` in [`Telemetry::resident_bytes`]: not measured.
const UNMEASURED: u64 = u64::MAX;

/// The node's telemetry state.
pub struct Telemetry {
    history: Mutex<History>,
    /// The snapshot of the latest sample.
    latest: Mutex<Option<Arc<Snapshot>>>,
    /// Serialises sampling (the sampler task and on-demand catch-ups).
    sampling: tokio::sync::Mutex<()>,
    resident_bytes: AtomicU64,
    resident_ticks: AtomicU64,
    history_bytes: AtomicU64,
    started: AtomicBool,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            history: Mutex::default(),
            latest: Mutex::default(),
            sampling: tokio::sync::Mutex::new(()),
            resident_bytes: AtomicU64::new(UNMEASURED),
            resident_ticks: AtomicU64::new(0),
            history_bytes: AtomicU64::new(0),
            started: AtomicBool::new(false),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Telemetry {
    /// Starts the sampler: one sample per second of the platform clock (on
    /// a manual clock, one each time it is advanced past a second). Ends
    /// when the node is dropped.
    pub fn start(node: &Arc<Node>) {
        if node.telemetry.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(node);
        let clock = node.clock.clone();
        tokio::spawn(async move {
            loop {
                let next_ms = {
                    let Some(node) = weak.upgrade() else { return };
                    node.telemetry.measure_resident_memory(&node).await;
                    node.telemetry.sample_if_due(&node).await;
                    (node.clock.epoch_ms() / 1000 + 1) * 1000
                };
                clock.sleep_until_epoch_ms(next_ms).await;
            }
        });
    }

    fn history(&self) -> MutexGuard<'_, History> {
        lock(&self.history)
    }

    fn resident(&self) -> Option<u64> {
        Some(self.resident_bytes.load(Ordering::Relaxed)).filter(|&b| b != UNMEASURED)
    }

    /// Reads the environments' resident memory (a walk of `/proc`, on a
    /// blocking thread). It costs about 25 µs per environment, so with many
    /// environments it runs every few sampler ticks (every `1 + n / 100`):
    /// at most ~2.5 ms of CPU a second.
    async fn measure_resident_memory(&self, node: &Node) {
        let environments = node.engine.read(|core| core.account_stats().environments);
        let tick = self.resident_ticks.fetch_add(1, Ordering::Relaxed);
        if environments > 0 && !tick.is_multiple_of(1 + u64::from(environments) / 100) {
            return;
        }
        let bytes = if environments == 0 {
            Some(0)
        } else {
            tokio::task::spawn_blocking(resident::environments_resident_bytes).await.ok().flatten()
        };
        self.resident_bytes.store(bytes.unwrap_or(UNMEASURED), Ordering::Relaxed);
    }

    /// Takes the sample of the platform clock's current second, unless it
    /// was taken. Readers call it first, so a query right after a manual
    /// clock advance sees the new second without waiting for the sampler.
    pub async fn sample_if_due(&self, node: &Node) {
        let due = |t: &Telemetry, second: u64| t.history().head().is_none_or(|head| head < second);
        if !due(self, node.clock.epoch_ms() / 1000) {
            return;
        }
        let _sampling = self.sampling.lock().await;
        let second = node.clock.epoch_ms() / 1000;
        if !due(self, second) {
            return;
        }
        let mut snapshot = Snapshot::sample(node).await;
        snapshot.environments_resident_bytes = self.resident();
        let history_bytes = {
            let mut history = self.history();
            snapshot.history_bytes = self.history_bytes.load(Ordering::Relaxed);
            history.record(second, &snapshot);
            history.heap_bytes() as u64
        };
        self.history_bytes.store(history_bytes, Ordering::Relaxed);
        *lock(&self.latest) = Some(Arc::new(snapshot));
    }

    /// `GET /metrics`: every metric now, in Prometheus text.
    pub async fn scrape(&self, node: &Node) -> String {
        let mut snapshot = Snapshot::collect(node).await;
        snapshot.environments_resident_bytes = self.resident();
        snapshot.history_bytes = self.history_bytes.load(Ordering::Relaxed);
        exposition::render(snapshot)
    }

    /// One history query (after catching up with the clock).
    pub async fn history_query(&self, node: &Node, query: &history::Query) -> Result<serde_json::Value, String> {
        self.sample_if_due(node).await;
        self.history().query(query)
    }

    /// What the history holds.
    pub async fn history_index(&self, node: &Node) -> serde_json::Value {
        self.sample_if_due(node).await;
        self.history().index()
    }

    /// One frame of `weir top`.
    pub async fn summary(
        &self,
        node: &Node,
        window_seconds: u64,
        sparkline_seconds: u64,
        sparklines: &HashSet<String>,
    ) -> summary::Summary {
        self.sample_if_due(node).await;
        let latest = lock(&self.latest).clone().unwrap_or_default();
        let history = self.history();
        summary::build(&latest, &history, window_seconds, sparkline_seconds, sparklines)
    }
}
