//! Shared pieces of weir's platform benchmarks: a `weir` server process, a
//! keep-alive HTTP client, closed-loop load with latency histograms, and
//! function zips. Benchmarks print figures; they assert nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The release `weir` binary next to this benchmark's own executable.
pub fn weir_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("exe dir");
    let candidate = dir.join("weir");
    if candidate.is_file() {
        return candidate;
    }
    panic!("{} not found: build it first (cargo build --release -p weir)", candidate.display());
}

/// A `weir serve` process on a free port, stopped (SIGTERM) on drop.
pub struct Server {
    pub endpoint: String,
    pub child: Child,
    pub started_in: Duration,
    _data: tempfile_dir::TempDir,
}

mod tempfile_dir {
    /// A directory removed on drop (no extra crate needed for this).
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Server {
    /// Starts weir and waits for `GET /health`; `started_in` is the time
    /// from spawn to the first 200.
    pub async fn start(args: &[&str]) -> Server {
        let data = std::env::temp_dir().join(format!("weir-bench-{}-{}", std::process::id(), nanos()));
        let begun = Instant::now();
        let mut child = Command::new(weir_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .env("WEIR_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start weir");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next().expect("a line").expect("readable");
        let endpoint = line.strip_prefix("weir listening on ").expect("listening line").to_string();
        std::thread::spawn(move || for _ in lines {});
        let http = Http::new();
        loop {
            if let Ok(r) = http.get(&format!("{endpoint}/health")).await
                && r.0 == 200
            {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let started_in = begun.elapsed();
        Server { endpoint, child, started_in, _data: tempfile_dir::TempDir(data) }
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").parse().ok()))
        })
        .flatten()
        .unwrap_or(0)
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
}

/// A keep-alive HTTP/1.1 client.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Http { client: Client::builder(TokioExecutor::new()).pool_max_idle_per_host(4096).build(connector) }
    }

    pub async fn get(&self, uri: &str) -> anyhow::Result<(u16, Bytes)> {
        let response = self.client.request(Request::get(uri).body(Full::new(Bytes::new()))?).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }

    pub async fn post(&self, uri: &str, headers: &[(&str, &str)], body: Bytes) -> anyhow::Result<(u16, Bytes)> {
        let mut request = Request::post(uri);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = self.client.request(request.body(Full::new(body))?).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }

    pub async fn json(&self, method: &str, uri: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))?;
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) }))
    }

    /// One SQS JSON 1.0 call.
    pub async fn sqs(&self, endpoint: &str, operation: &str, body: &Value) -> anyhow::Result<Value> {
        let target = format!("AmazonSQS.{operation}");
        let (status, bytes) = self
            .post(
                &format!("{endpoint}/"),
                &[("x-amz-target", &target), ("content-type", "application/x-amz-json-1.0")],
                Bytes::from(body.to_string()),
            )
            .await?;
        anyhow::ensure!(status == 200, "{operation}: {status} {}", String::from_utf8_lossy(&bytes));
        Ok(if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes)? })
    }
}

/// What a closed-loop run measured.
pub struct LoadReport {
    pub requests: u64,
    pub failures: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

impl LoadReport {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1_000.0
    }
    pub fn line(&self, label: &str) -> String {
        format!(
            "{label:<44} {:>9.0} req/s  p50 {:>7.1} µs  p90 {:>7.1} µs  p99 {:>8.1} µs  max {:>9.1} µs  ({} requests, {} failed)",
            self.rate(),
            self.percentile_us(0.50),
            self.percentile_us(0.90),
            self.percentile_us(0.99),
            self.latency.max() as f64 / 1_000.0,
            self.requests,
            self.failures
        )
    }
}

/// One closed-loop load point.
pub struct Load<'a> {
    pub uri: &'a str,
    pub headers: &'a [(&'static str, &'static str)],
    pub body: Bytes,
    pub expected_status: u16,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// `concurrency` clients, each sending the same request back to back for
/// `duration` after `warmup`; latency in nanoseconds per request.
pub async fn closed_loop(http: &Http, load: Load<'_>) -> LoadReport {
    let Load { uri, headers, body, expected_status, concurrency, warmup, duration } = load;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, uri, headers, body) = (http.clone(), uri.to_string(), headers.to_vec(), body.clone());
        let (measuring, stop) = (measuring.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
            let (mut requests, mut failures) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let begun = Instant::now();
                let result = http.post(&uri, &headers, body.clone()).await;
                let took = begun.elapsed();
                if measuring.load(Ordering::Relaxed) {
                    requests += 1;
                    match result {
                        Ok((status, _)) if status == expected_status => {
                            histogram.record(took.as_nanos() as u64).ok();
                        }
                        _ => failures += 1,
                    }
                }
            }
            (histogram, requests, failures)
        }));
    }
    tokio::time::sleep(warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let begun = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = begun.elapsed();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let (mut requests, mut failures) = (0, 0);
    for task in tasks {
        let (h, r, f) = task.await.unwrap();
        latency.add(h).unwrap();
        requests += r;
        failures += f;
    }
    LoadReport { requests: requests - failures, failures, elapsed, latency }
}

/// A zip of files (name, contents, executable), base64 for CreateFunction.
pub fn zip_base64(files: &[(&str, &[u8], bool)]) -> String {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        for (name, data, executable) in files {
            let options =
                zip::write::SimpleFileOptions::default().unix_permissions(if *executable { 0o755 } else { 0o644 });
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap();
    }
    base64::engine::general_purpose::STANDARD.encode(out.into_inner())
}

/// CreateFunction for the `lambda_runtime` test function (release build).
pub fn rust_function(name: &str, binary: &Path, timeout_s: u32) -> Value {
    let bytes = std::fs::read(binary).expect("test function binary");
    json!({
        "FunctionName": name, "Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/bench",
        "Handler": "bootstrap", "Timeout": timeout_s, "MemorySize": 128,
        "Code": {"ZipFile": zip_base64(&[("bootstrap", &bytes, true)])},
    })
}

/// CreateFunction for a Python handler in `app.py`.
pub fn python_function(name: &str, source: &str, timeout_s: u32) -> Value {
    json!({
        "FunctionName": name, "Runtime": "python3.12", "Role": "arn:aws:iam::000000000000:role/bench",
        "Handler": "app.handler", "Timeout": timeout_s,
        "Code": {"ZipFile": zip_base64(&[("app.py", source.as_bytes(), false)])},
    })
}

pub async fn create(http: &Http, endpoint: &str, spec: &Value) {
    let (status, body) = http.json("POST", &format!("{endpoint}/2015-03-31/functions"), spec).await.expect("create");
    assert_eq!(status, 201, "create function: {body}");
}
