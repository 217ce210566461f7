//! Counters the node keeps itself (the core keeps the concurrency ones):
//! per function, the asynchronous-invocation metrics Lambda publishes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `AsyncEventsReceived`, `AsyncEventAge`, `AsyncEventsDropped`,
/// `DeadLetterErrors`, `DestinationDeliveryFailures` of one function.
#[derive(Debug, Default)]
pub struct AsyncCounters {
    pub events_received: AtomicU64,
    pub events_dropped: AtomicU64,
    pub dead_letter_errors: AtomicU64,
    pub destination_delivery_failures: AtomicU64,
    /// Event ages at invocation: count, sum and maximum, in milliseconds.
    pub age_count: AtomicU64,
    pub age_sum_ms: AtomicU64,
    pub age_max_ms: AtomicU64,
}

impl AsyncCounters {
    pub fn observe_age(&self, age: Duration) {
        let ms = age.as_millis() as u64;
        self.age_count.fetch_add(1, Ordering::Relaxed);
        self.age_sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.age_max_ms.fetch_max(ms, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    asynchronous: Mutex<HashMap<String, Arc<AsyncCounters>>>,
}

impl Metrics {
    pub fn asynchronous(&self, function: &str) -> Arc<AsyncCounters> {
        let mut map = self.asynchronous.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(function.to_string()).or_default().clone()
    }

    pub fn asynchronous_all(&self) -> Vec<(String, Arc<AsyncCounters>)> {
        let map = self.asynchronous.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}
