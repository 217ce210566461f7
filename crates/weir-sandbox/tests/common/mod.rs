//! Shared test helpers: a sandbox in a temporary directory with a collecting log sink, specs
//! for the Rust test function and Python handlers, and invocations.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use weir_sandbox::{EnvSpec, InitType, Invocation, LogRecord, LogSink, PythonBootstrap, Sandbox, SandboxConfig};

/// A line seen by the sink.
#[derive(Clone, Debug)]
pub struct SeenLine {
    pub request_id: Option<String>,
    pub line: String,
}

/// Keeps the first lines (bounded), counts all, and wakes waiters on every line.
#[derive(Default)]
pub struct CollectSink {
    pub lines: Mutex<Vec<SeenLine>>,
    pub count: AtomicU64,
    pub notify: Notify,
}

impl LogSink for CollectSink {
    fn record(&self, rec: LogRecord<'_>) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut lines = self.lines.lock().unwrap();
        if lines.len() < 10_000 {
            lines.push(SeenLine { request_id: rec.request_id.map(str::to_owned), line: rec.line.to_owned() });
        }
        drop(lines);
        self.notify.notify_waiters();
    }
}

impl CollectSink {
    /// Waits until a line containing `needle` was recorded.
    pub async fn wait_for_line(&self, needle: &str) -> SeenLine {
        loop {
            let notified = self.notify.notified();
            if let Some(found) = self.lines.lock().unwrap().iter().find(|l| l.line.contains(needle)) {
                return found.clone();
            }
            notified.await;
        }
    }

    pub fn lines_for(&self, request_id: &str) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.request_id.as_deref() == Some(request_id))
            .map(|l| l.line.clone())
            .collect()
    }
}

pub struct Harness {
    pub sandbox: Sandbox,
    pub sink: Arc<CollectSink>,
    pub dir: tempfile::TempDir,
    next_env_id: AtomicU64,
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

impl Harness {
    pub fn new() -> Harness {
        Harness::with(|_| {})
    }

    pub fn with(adjust: impl FnOnce(&mut SandboxConfig)) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = Arc::new(CollectSink::default());
        let mut config = SandboxConfig::new(dir.path().join("sandbox"));
        config.log_sink = Some(sink.clone());
        config.shutdown_grace = Duration::from_millis(500);
        adjust(&mut config);
        let sandbox = Sandbox::new(config).expect("sandbox");
        Harness { sandbox, sink, dir, next_env_id: AtomicU64::new(1) }
    }

    pub fn code_dir(&self, name: &str) -> PathBuf {
        let dir = self.dir.path().join("code").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A `provided.al2023` function whose bootstrap is the Rust `weir-testfn` binary.
    pub fn rust_spec(&self) -> EnvSpec {
        let dir = self.code_dir(&format!("rust-{}", self.next_env_id.load(Ordering::Relaxed)));
        let bootstrap = dir.join("bootstrap");
        if !bootstrap.exists() {
            std::os::unix::fs::symlink(weir_testfns::testfn_path(), &bootstrap).unwrap();
        }
        self.spec("provided.al2023", "bootstrap.is.ignored", &dir)
    }

    /// A `python3.12` function with `app.py` = `source`.
    pub fn python_spec(&self, source: &str) -> EnvSpec {
        let dir = self.code_dir(&format!("py-{}", self.next_env_id.load(Ordering::Relaxed)));
        std::fs::write(dir.join("app.py"), source).unwrap();
        self.spec("python3.12", "app.handler", &dir)
    }

    /// A `provided` function whose bootstrap is `script` (made executable).
    pub fn provided_spec(&self, script: &str) -> EnvSpec {
        let dir = self.code_dir(&format!("provided-{}", self.next_env_id.load(Ordering::Relaxed)));
        write_executable(&dir.join("bootstrap"), script);
        self.spec("provided", "handler.unused", &dir)
    }

    pub fn spec(&self, runtime: &str, handler: &str, code_dir: &Path) -> EnvSpec {
        let env_id = self.next_env_id.fetch_add(1, Ordering::Relaxed);
        EnvSpec {
            env_id,
            function_name: "testfn".into(),
            function_version: "$LATEST".into(),
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            runtime: runtime.into(),
            handler: handler.into(),
            code_dir: code_dir.to_path_buf(),
            user_environment: Vec::new(),
            platform_environment: Vec::new(),
            init_type: InitType::OnDemand,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            log_group_name: "/aws/lambda/testfn".into(),
            log_stream_name: format!("2026/11/25/[$LATEST]env{env_id}"),
        }
    }
}

/// Spawns an environment and waits for the end of its init.
pub async fn ready(sandbox: &Sandbox, spec: EnvSpec) -> weir_sandbox::Environment {
    let env = sandbox.spawn(spec).await.expect("spawn");
    env.wait_ready().await.expect("init");
    env
}

pub fn write_executable(path: &Path, content: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn invocation(payload: &str) -> Invocation {
    let n = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
    Invocation {
        request_id: format!("8476a536-e9f4-11e8-9739-{n:012x}"),
        payload: Bytes::from(payload.to_owned()),
        deadline_epoch_ms: epoch_ms() + 60_000,
        invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:testfn".into(),
        client_context: None,
        cognito_identity: None,
        trace_id: None,
    }
}

pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Our own resident memory in bytes.
pub fn own_rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

pub fn awslambdaric_python() -> PathBuf {
    weir_testfns::test_venv_python()
}

pub fn python_bootstrap_awslambdaric(config: &mut SandboxConfig) {
    config.python = awslambdaric_python();
    config.python_bootstrap = PythonBootstrap::Awslambdaric;
}

/// Runs a test body with an overall deadline so a wedged sandbox fails instead of hanging.
pub async fn within<T>(seconds: u64, body: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(seconds), body).await.expect("test exceeded its deadline")
}
