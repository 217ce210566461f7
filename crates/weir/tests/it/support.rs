//! Test support: a running `weir` server, an HTTP client, function zips.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// A `weir serve` child process on a free loopback port, stopped on drop.
pub struct Weir {
    pub endpoint: String,
    pub data_dir: PathBuf,
    child: Child,
    _tmp: Option<tempfile::TempDir>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Weir {
    pub fn start(args: &[&str]) -> Weir {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let mut weir = Weir::start_in(&data_dir, args);
        weir._tmp = Some(tmp);
        weir
    }

    pub fn start_in(data_dir: &Path, args: &[&str]) -> Weir {
        Weir::launch(&["serve"], data_dir, args)
    }

    /// `weir up TEMPLATE …` on a fresh data directory.
    pub fn up(template: &Path, args: &[&str]) -> Weir {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let mut weir = Weir::launch(&["up", template.to_str().unwrap()], &data_dir, args);
        weir._tmp = Some(tmp);
        weir
    }

    fn launch(command: &[&str], data_dir: &Path, args: &[&str]) -> Weir {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(command)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("WEIR_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start weir");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("weir printed a line").expect("readable");
        let endpoint = first
            .strip_prefix("weir listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        std::thread::spawn(move || for _ in lines {});
        Weir {
            endpoint,
            data_dir: data_dir.to_path_buf(),
            child,
            _tmp: None,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Stops this server (SIGTERM) and starts another on the same data.
    pub fn restart(mut self, args: &[&str]) -> Weir {
        self.stop();
        let mut next = Weir::start_in(&self.data_dir.clone(), args);
        next._tmp = self._tmp.take();
        next
    }

    /// SIGTERM, then SIGKILL if it does not exit within 10 s.
    pub fn stop(&mut self) {
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response {
        let mut request = Request::builder().method(method).uri(format!("{}{path}", self.endpoint));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.client.request(request.body(Full::new(body.into())).unwrap()).await.expect("request");
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        Response { status, headers, body }
    }

    /// Like [`Weir::call`], but `None` when the server cannot be reached.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Option<Response> {
        let mut request = Request::builder().method(method).uri(format!("{}{path}", self.endpoint));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.client.request(request.body(Full::new(body.into())).unwrap()).await.ok()?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some(Response { status, headers, body })
    }

    /// SIGKILLs the server: no shutdown of any kind.
    pub fn sigkill(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill weir");
    }

    pub async fn json(&self, method: &str, path: &str, body: Value) -> Response {
        self.call(method, path, &[("content-type", "application/json")], body.to_string()).await
    }

    pub async fn create_function(&self, spec: Value) -> Response {
        let r = self.json("POST", "/2015-03-31/functions", spec).await;
        assert_eq!(r.status, 201, "create function: {}", r.text());
        r
    }

    pub async fn invoke(&self, function: &str, payload: Value) -> Response {
        self.call(
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            &[("x-amz-log-type", "Tail")],
            payload.to_string(),
        )
        .await
    }

    /// One SQS JSON 1.0 call (`AmazonSQS.<operation>`); panics on an error.
    pub async fn sqs(&self, operation: &str, body: Value) -> Value {
        let target = format!("AmazonSQS.{operation}");
        let r = self
            .call(
                "POST",
                "/",
                &[("x-amz-target", &target), ("content-type", "application/x-amz-json-1.0")],
                body.to_string(),
            )
            .await;
        assert_eq!(r.status, 200, "{operation}: {}", r.text());
        if r.body.is_empty() { Value::Null } else { r.json() }
    }

    pub async fn put_reserved(&self, function: &str, reserved: u32) {
        let r = self
            .json(
                "PUT",
                &format!("/2017-10-31/functions/{function}/concurrency"),
                json!({"ReservedConcurrentExecutions": reserved}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

impl Drop for Weir {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    /// The decoded `X-Amz-Log-Result`.
    pub fn log(&self) -> String {
        let encoded = self.header("x-amz-log-result").unwrap_or_default();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap()
    }
}

/// A zip of the given files (name, contents, executable).
pub fn zip_of(files: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut out);
        for (name, data, executable) in files {
            let mode = if *executable { 0o755 } else { 0o644 };
            let options = zip::write::SimpleFileOptions::default().unix_permissions(mode);
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap();
    }
    out.into_inner()
}

pub fn base64_zip(files: &[(&str, &[u8], bool)]) -> String {
    base64::engine::general_purpose::STANDARD.encode(zip_of(files))
}

/// CreateFunction JSON for a Python handler in `app.py`.
pub fn python_function(name: &str, source: &str) -> Value {
    json!({
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/test",
        "Handler": "app.handler",
        "Code": {"ZipFile": base64_zip(&[("app.py", source.as_bytes(), false)])},
        "Timeout": 30,
    })
}

/// CreateFunction JSON for the Rust `lambda_runtime` test function as `bootstrap`.
pub fn rust_function(name: &str) -> Value {
    let binary = std::fs::read(weir_testfns::testfn_path()).expect("test function binary");
    json!({
        "FunctionName": name,
        "Runtime": "provided.al2023",
        "Role": "arn:aws:iam::000000000000:role/test",
        "Handler": "bootstrap",
        "Code": {"ZipFile": base64_zip(&[("bootstrap", &binary, true)])},
        "Timeout": 30,
    })
}

pub fn has_init_duration(log: &str) -> bool {
    log.lines().any(|l| l.starts_with("REPORT") && l.contains("Init Duration:"))
}

/// Polls until `f` is true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Runs the AWS CLI from the test venv against `endpoint` for one
/// `service` (`lambda`, `sqs`, …): any credentials, us-east-1, JSON out.
/// Blocking: call it from `spawn_blocking`. Panics when the CLI fails.
pub fn aws_cli(endpoint: &str, service: &str, args: &[&str]) -> Value {
    let output = std::process::Command::new(weir_testfns::test_venv().join("bin/aws"))
        .args(["--endpoint-url", endpoint, "--output", "json", service])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "any")
        .env("AWS_SECRET_ACCESS_KEY", "any")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("run aws");
    assert!(output.status.success(), "aws {service} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    if output.stdout.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(&output.stdout).expect("aws printed JSON")
}

/// A parsed Prometheus text exposition: `name{sorted labels}` → value.
pub struct Scrape(pub BTreeMap<String, f64>);

/// The key of a series in a [`Scrape`].
pub fn key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    labels.sort();
    if labels.is_empty() { name.to_string() } else { format!("{name}{{{}}}", labels.join(",")) }
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut samples = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("malformed line {line:?}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("malformed value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series, Vec::new()),
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split(',')
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').unwrap();
                            (k, v.trim_matches('"'))
                        })
                        .collect();
                    (name, labels)
                }
            };
            assert!(samples.insert(key(name, &labels), value).is_none(), "duplicate series {series}");
        }
        Scrape(samples)
    }

    /// The value of one series; panics if absent.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let key = key(name, labels);
        *self.0.get(&key).unwrap_or_else(|| panic!("no series {key}"))
    }
}
