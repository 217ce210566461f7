//! Function logs: every line an environment prints (and the platform's
//! START / END / REPORT lines), kept per function in a bounded ring and
//! streamed to followers (`weir logs FUNCTION --follow`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use weir_sandbox::{LogRecord, LogSink};

/// Lines kept per function.
pub const LINES_PER_FUNCTION: usize = 10_000;

/// One stored line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    pub epoch_ms: u64,
    pub log_stream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub line: String,
}

struct FunctionLog {
    lines: VecDeque<LogLine>,
    follow: broadcast::Sender<LogLine>,
}

#[derive(Default)]
pub struct LogStore {
    functions: Mutex<HashMap<String, FunctionLog>>,
}

impl LogStore {
    pub fn new() -> Arc<Self> {
        Arc::new(LogStore::default())
    }

    fn with_function<R>(&self, name: &str, f: impl FnOnce(&mut FunctionLog) -> R) -> R {
        let mut functions = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        let log = functions
            .entry(name.to_string())
            .or_insert_with(|| FunctionLog { lines: VecDeque::new(), follow: broadcast::channel(4_096).0 });
        f(log)
    }

    /// Lines of `function` since `since_ms`, optionally of one request only.
    pub fn recent(&self, function: &str, since_ms: u64, request_id: Option<&str>) -> Vec<LogLine> {
        self.with_function(function, |log| {
            log.lines
                .iter()
                .filter(|l| l.epoch_ms >= since_ms && request_id.is_none_or(|r| l.request_id.as_deref() == Some(r)))
                .cloned()
                .collect()
        })
    }

    /// New lines of `function` as they arrive.
    pub fn follow(&self, function: &str) -> broadcast::Receiver<LogLine> {
        self.with_function(function, |log| log.follow.subscribe())
    }

    pub fn forget(&self, function: &str) {
        self.functions.lock().unwrap_or_else(|p| p.into_inner()).remove(function);
    }
}

impl LogSink for LogStore {
    fn record(&self, rec: LogRecord<'_>) {
        let line = LogLine {
            epoch_ms: rec.epoch_ms,
            log_stream: rec.log_stream_name.to_string(),
            request_id: rec.request_id.map(str::to_string),
            line: rec.line.to_string(),
        };
        self.with_function(rec.function_name, |log| {
            if log.lines.len() == LINES_PER_FUNCTION {
                log.lines.pop_front();
            }
            let _ = log.follow.send(line.clone());
            log.lines.push_back(line);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(store: &LogStore, request_id: Option<&str>, epoch_ms: u64, line: &str) {
        store.record(LogRecord { function_name: "f", log_stream_name: "s", request_id, epoch_ms, line });
    }

    #[test]
    fn keeps_a_bounded_ring_and_filters_by_time_and_request() {
        let store = LogStore::default();
        for i in 0..(LINES_PER_FUNCTION as u64 + 5) {
            record(&store, Some(if i % 2 == 0 { "a" } else { "b" }), i, "x");
        }
        assert_eq!(store.recent("f", 0, None).len(), LINES_PER_FUNCTION);
        assert_eq!(store.recent("f", 0, Some("a")).len(), LINES_PER_FUNCTION / 2);
        assert_eq!(store.recent("f", LINES_PER_FUNCTION as u64, None).len(), 5);
        // Followers see new lines as they come.
        let mut follower = store.follow("f");
        record(&store, Some("c"), 99_999, "new");
        assert_eq!(follower.try_recv().unwrap().line, "new");
    }
}
