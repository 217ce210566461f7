//! Log capture for one environment: reads the merged stdout/stderr pipe, splits it into bounded
//! lines, attributes each line to the invocation in progress, writes Lambda's START / END /
//! REPORT lines, keeps the 4 KiB tail of the current invocation, and hands every line to the
//! [`LogSink`] as it comes. Memory stays bounded whatever a function prints: one read buffer,
//! one partial line of at most [`MAX_LINE_BYTES`], one 4 KiB tail. It never stores a log.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::unix::pipe;
use tokio::sync::Notify;

use crate::lock;
use crate::types::Report;

/// Longer lines are split into pieces of this size.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Size of the per-invocation log tail (Lambda's `LogResult` is "the last 4 KB").
pub const LOG_TAIL_BYTES: usize = 4 * 1024;
/// Bytes drained from the pipe at the end of an invocation, at most (the pipe holds 64 KiB;
/// the bound only matters for a function that keeps printing after its response).
const FINAL_DRAIN_MAX_BYTES: usize = 1024 * 1024;
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Reads per wake-up before yielding to other tasks.
const READS_PER_WAKE: usize = 16;

/// Destination of function logs (for `weir logs`). Called inline from the log reader: keep it
/// fast and never block (hand lines to a channel or a buffer).
pub trait LogSink: Send + Sync {
    fn record(&self, rec: LogRecord<'_>);
}

/// One log line.
#[derive(Clone, Copy, Debug)]
pub struct LogRecord<'a> {
    pub function_name: &'a str,
    pub log_stream_name: &'a str,
    /// The invocation in progress when the line was read; `None` during init or between
    /// invocations.
    pub request_id: Option<&'a str>,
    pub epoch_ms: u64,
    /// Without the trailing newline; invalid UTF-8 is replaced.
    pub line: &'a str,
}

pub(crate) fn epoch_ms_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `2026-11-25T22:51:58.123Z` for an epoch in milliseconds (UTC, proleptic Gregorian).
pub(crate) fn format_rfc3339_ms(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let (days, secs_of_day) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
        epoch_ms % 1000
    )
}

/// Reader side of an environment's output pipe plus the line state shared by the background
/// reader task and the invocation path (which drains the pipe before completing).
pub(crate) struct LogPump {
    pipe: pipe::Receiver,
    state: Mutex<LogState>,
    eof: Notify,
}

struct LogState {
    read_buf: Box<[u8]>,
    lines: LineState,
}

struct LineState {
    function_name: Arc<str>,
    log_stream_name: Arc<str>,
    sink: Option<Arc<dyn LogSink>>,
    partial: Vec<u8>,
    current_request: Option<String>,
    tail: VecDeque<u8>,
    scratch: String,
    reached_eof: bool,
    /// An invocation has started: init output is behind us.
    invoked: bool,
}

enum Drained {
    WouldBlock,
    Eof,
    Budget,
}

impl LogPump {
    pub(crate) fn new(
        pipe: pipe::Receiver,
        function_name: Arc<str>,
        log_stream_name: Arc<str>,
        sink: Option<Arc<dyn LogSink>>,
    ) -> LogPump {
        LogPump {
            pipe,
            state: Mutex::new(LogState {
                read_buf: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
                lines: LineState {
                    function_name,
                    log_stream_name,
                    sink,
                    partial: Vec::new(),
                    current_request: None,
                    tail: VecDeque::with_capacity(LOG_TAIL_BYTES),
                    scratch: String::new(),
                    reached_eof: false,
                    invoked: false,
                },
            }),
            eof: Notify::new(),
        }
    }

    /// Background reader: runs until the pipe reaches end of file (all writers closed).
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            if self.pipe.readable().await.is_err() {
                break;
            }
            let outcome = {
                let mut state = lock(&self.state);
                state.drain(&self.pipe, READS_PER_WAKE * READ_CHUNK_BYTES)
            };
            match outcome {
                Drained::WouldBlock => {}
                Drained::Budget => tokio::task::yield_now().await,
                Drained::Eof => break,
            }
        }
        {
            let mut state = lock(&self.state);
            state.lines.reached_eof = true;
            state.lines.flush_partial();
        }
        self.eof.notify_waiters();
        self.eof.notify_one();
    }

    /// Resolves once the reader saw end of file.
    pub(crate) async fn wait_eof(&self) {
        loop {
            let notified = self.eof.notified();
            if lock(&self.state).lines.reached_eof {
                return;
            }
            notified.await;
        }
    }

    /// Logs what the process has written so far: before a report that the
    /// log must already explain (an init error after its traceback).
    pub(crate) fn drain_pending(&self) {
        let mut state = lock(&self.state);
        if !state.lines.reached_eof {
            let _ = state.drain(&self.pipe, FINAL_DRAIN_MAX_BYTES);
        }
        state.lines.flush_partial();
    }

    /// Marks the start of an invocation and writes its START line. Before
    /// the first, what the process printed during init is drained, so it
    /// comes before START, unattributed, and opens the tail, as Lambda shows
    /// it (warm invocations skip the extra read).
    pub(crate) fn start_invocation(&self, request_id: &str, function_version: &str) {
        let mut state = lock(&self.state);
        if !state.lines.invoked {
            state.lines.invoked = true;
            if !state.lines.reached_eof {
                let _ = state.drain(&self.pipe, FINAL_DRAIN_MAX_BYTES);
            }
            state.lines.flush_partial();
        }
        let lines = &mut state.lines;
        lines.current_request = Some(request_id.to_owned());
        let mut text = std::mem::take(&mut lines.scratch);
        text.clear();
        let _ = write!(text, "START RequestId: {request_id} Version: {function_version}");
        lines.emit_str(&text);
        lines.scratch = text;
    }

    /// Ends the current invocation: drains what the function printed before its result
    /// arrived, writes `extra_lines` (error/timeout lines), END and REPORT, and returns the tail.
    pub(crate) fn finish_invocation(&self, request_id: &str, report: &Report, extra_lines: &[String]) -> String {
        let mut state = lock(&self.state);
        if !state.lines.reached_eof {
            let _ = state.drain(&self.pipe, FINAL_DRAIN_MAX_BYTES);
        }
        let lines = &mut state.lines;
        lines.flush_partial();
        for line in extra_lines {
            lines.emit_str(line);
        }
        let mut text = std::mem::take(&mut lines.scratch);
        text.clear();
        let _ = write!(text, "END RequestId: {request_id}");
        lines.emit_str(&text);
        text.clear();
        write_report_line(&mut text, request_id, report);
        lines.emit_str(&text);
        lines.scratch = text;
        lines.current_request = None;
        let tail = lines.take_tail();
        lines.tail.clear();
        tail
    }
}

/// Lambda's REPORT line (tab-separated, with a trailing tab).
pub(crate) fn write_report_line(out: &mut String, request_id: &str, report: &Report) {
    let _ = write!(
        out,
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        millis(report.duration),
        report.billed_duration_ms,
        report.memory_size_mb,
        report.max_memory_used_mb,
    );
    if let Some(init) = report.init_duration {
        let _ = write!(out, "Init Duration: {:.2} ms\t", millis(init));
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl LogState {
    fn drain(&mut self, pipe: &pipe::Receiver, budget_bytes: usize) -> Drained {
        let mut read_total = 0;
        loop {
            if read_total >= budget_bytes {
                return Drained::Budget;
            }
            match pipe.try_read(&mut self.read_buf) {
                Ok(0) => return Drained::Eof,
                Ok(n) => {
                    read_total += n;
                    self.lines.push_bytes(&self.read_buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drained::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Drained::Eof,
            }
        }
    }
}

impl LineState {
    fn push_bytes(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    let (line, rest) = (&data[..newline], &data[newline + 1..]);
                    if self.partial.is_empty() && line.len() <= MAX_LINE_BYTES {
                        self.emit_bytes(line);
                    } else {
                        self.append_partial(line);
                        self.flush_partial();
                    }
                    data = rest;
                }
                None => {
                    self.append_partial(data);
                    data = &[];
                }
            }
        }
    }

    /// Appends to the partial line, emitting full pieces of [`MAX_LINE_BYTES`].
    fn append_partial(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = MAX_LINE_BYTES - self.partial.len();
            let take = room.min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() == MAX_LINE_BYTES {
                self.flush_partial();
            }
        }
    }

    fn flush_partial(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let partial = std::mem::take(&mut self.partial);
        self.emit_bytes(&partial);
        self.partial = partial;
        self.partial.clear();
        if self.partial.capacity() > MAX_LINE_BYTES {
            self.partial.shrink_to(MAX_LINE_BYTES);
        }
    }

    fn emit_bytes(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        self.emit_str(&line);
    }

    fn emit_str(&mut self, line: &str) {
        if let Some(sink) = &self.sink {
            sink.record(LogRecord {
                function_name: &self.function_name,
                log_stream_name: &self.log_stream_name,
                request_id: self.current_request.as_deref(),
                epoch_ms: epoch_ms_now(),
                line,
            });
        }
        // Every line feeds the tail, also between invocations: a cold
        // start's init output opens its first invocation's tail.
        let bytes = line.as_bytes();
        let keep = &bytes[bytes.len().saturating_sub(LOG_TAIL_BYTES - 1)..];
        let overflow = (self.tail.len() + keep.len() + 1).saturating_sub(LOG_TAIL_BYTES);
        self.tail.drain(..overflow.min(self.tail.len()));
        self.tail.extend(keep);
        self.tail.push_back(b'\n');
    }

    fn take_tail(&self) -> String {
        let (a, b) = self.tail.as_slices();
        // The cut may have landed inside a UTF-8 sequence: skip continuation bytes.
        let skip = a.iter().chain(b).position(|&byte| (byte & 0xC0) != 0x80).unwrap_or(a.len() + b.len());
        let mut bytes = Vec::with_capacity(a.len() + b.len() - skip);
        if skip < a.len() {
            bytes.extend_from_slice(&a[skip..]);
            bytes.extend_from_slice(b);
        } else {
            bytes.extend_from_slice(&b[skip - a.len()..]);
        }
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_with_millis() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339_ms(1_551_820_841_398), "2019-03-05T21:20:41.398Z");
        assert_eq!(format_rfc3339_ms(1_709_164_800_001), "2024-02-29T00:00:00.001Z");
    }

    #[test]
    fn report_line_matches_lambda_layout() {
        let mut line = String::new();
        let report = Report {
            duration: Duration::from_micros(1234),
            billed_duration_ms: 2,
            memory_size_mb: 128,
            max_memory_used_mb: 40,
            init_duration: Some(Duration::from_micros(12_340)),
        };
        write_report_line(&mut line, "abc", &report);
        assert_eq!(
            line,
            "REPORT RequestId: abc\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 12.34 ms\t"
        );
    }

    struct Collect(Mutex<Vec<String>>);
    impl LogSink for Collect {
        fn record(&self, rec: LogRecord<'_>) {
            lock(&self.0).push(rec.line.to_owned());
        }
    }

    fn line_state(sink: Arc<Collect>) -> LineState {
        LineState {
            function_name: "f".into(),
            log_stream_name: "s".into(),
            sink: Some(sink),
            partial: Vec::new(),
            current_request: Some("r".into()),
            tail: VecDeque::new(),
            scratch: String::new(),
            reached_eof: false,
            invoked: true,
        }
    }

    #[test]
    fn splits_lines_across_reads_and_bounds_long_lines() {
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let mut state = line_state(sink.clone());
        state.push_bytes(b"hel");
        state.push_bytes(b"lo\nwor");
        state.push_bytes(b"ld\n");
        let long = vec![b'y'; MAX_LINE_BYTES * 2 + 10];
        state.push_bytes(&long);
        state.push_bytes(b"\n");
        let lines = lock(&sink.0).clone();
        assert_eq!(lines[0], "hello");
        assert_eq!(lines[1], "world");
        assert_eq!(lines[2].len(), MAX_LINE_BYTES);
        assert_eq!(lines[3].len(), MAX_LINE_BYTES);
        assert_eq!(lines[4].len(), 10);
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn tail_keeps_the_last_4_kib_on_char_boundaries() {
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let mut state = line_state(sink);
        for i in 0..1000 {
            state.push_bytes(format!("é line {i}\n").as_bytes());
        }
        let tail = state.take_tail();
        assert!(tail.len() <= LOG_TAIL_BYTES);
        assert!(tail.len() > LOG_TAIL_BYTES - 20);
        assert!(tail.ends_with("é line 999\n"));
    }
}
