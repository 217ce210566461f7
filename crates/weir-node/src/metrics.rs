//! Counters the node keeps itself (the core keeps the concurrency ones):
//! per function, the asynchronous-invocation metrics Lambda publishes.
//! Never: formats or exports them (that is `telemetry`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::telemetry::histogram::Histogram;

/// `AsyncEventsReceived`, `AsyncEventAge`, `AsyncEventsDropped`,
/// `DeadLetterErrors`, `DestinationDeliveryFailures` of one function.
#[derive(Debug, Default)]
pub struct AsyncCounters {
    pub events_received: AtomicU64,
    pub events_dropped: AtomicU64,
    pub dead_letter_errors: AtomicU64,
    pub destination_delivery_failures: AtomicU64,
    /// Event ages at each invocation.
    pub age: Histogram,
}

impl AsyncCounters {
    pub fn observe_age(&self, age: Duration) {
        self.age.record(age);
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
        if let Some(counters) = map.get(function) {
            return counters.clone();
        }
        map.entry(function.to_string()).or_default().clone()
    }

    /// Every function's counters (unordered).
    pub fn asynchronous_all(&self) -> Vec<(String, Arc<AsyncCounters>)> {
        let map = self.asynchronous.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
