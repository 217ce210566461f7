//! The sandbox's public data types: configuration, what to spawn, what to invoke, and every
//! result an environment can produce. Plain data only; no behaviour lives here.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::logs::LogSink;

/// Which Python runtime client runs `python3.x` functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PythonBootstrap {
    /// weir's own small runtime client (embedded in this crate), run as `python3 -u <script>`.
    #[default]
    Weir,
    /// The official client: `python3 -u -m awslambdaric <handler>`; it must be installed in
    /// the interpreter's environment (for example a venv's `bin/python`).
    Awslambdaric,
}

/// How an environment's memory limit (`memory_mb`) is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MemoryEnforcement {
    /// cgroup v2 (`memory.max`) when it is usable on this host, else the watchdog.
    #[default]
    Auto,
    /// The shared watchdog: resident memory of each process group, sampled periodically.
    Watchdog,
    /// No limit; memory is still measured for the REPORT line.
    Off,
}

/// Configuration of a [`crate::Sandbox`].
#[derive(Clone)]
pub struct SandboxConfig {
    /// Interpreter for `python3.x` runtimes (resolved with `PATH` once, at `Sandbox::new`).
    pub python: PathBuf,
    /// Runtime client used for `python3.x` runtimes.
    pub python_bootstrap: PythonBootstrap,
    /// Sandbox-private files: the embedded runtime script and one TMPDIR per environment.
    pub work_dir: PathBuf,
    /// How memory limits are enforced.
    pub memory_enforcement: MemoryEnforcement,
    /// Time between SIGTERM and SIGKILL in [`crate::Environment::shutdown`].
    pub shutdown_grace: Duration,
    /// How often the watchdog samples memory.
    pub memory_sample_interval: Duration,
    /// Receives every function log line (and START/END/REPORT) as it is produced.
    pub log_sink: Option<Arc<dyn LogSink>>,
}

impl SandboxConfig {
    /// Defaults: `python3`, weir's Python client, automatic memory enforcement, 2 s grace,
    /// 50 ms memory sampling, no log sink.
    pub fn new(work_dir: impl Into<PathBuf>) -> SandboxConfig {
        SandboxConfig {
            python: PathBuf::from("python3"),
            python_bootstrap: PythonBootstrap::Weir,
            work_dir: work_dir.into(),
            memory_enforcement: MemoryEnforcement::Auto,
            shutdown_grace: Duration::from_secs(2),
            memory_sample_interval: Duration::from_millis(50),
            log_sink: None,
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("python", &self.python)
            .field("python_bootstrap", &self.python_bootstrap)
            .field("work_dir", &self.work_dir)
            .field("memory_enforcement", &self.memory_enforcement)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("memory_sample_interval", &self.memory_sample_interval)
            .field("log_sink", &self.log_sink.is_some())
            .finish()
    }
}

/// How the environment was initialised (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InitType {
    /// `on-demand`
    #[default]
    OnDemand,
    /// `provisioned-concurrency`
    ProvisionedConcurrency,
}

impl InitType {
    /// The value of `AWS_LAMBDA_INITIALIZATION_TYPE`.
    pub fn as_env_value(self) -> &'static str {
        match self {
            InitType::OnDemand => "on-demand",
            InitType::ProvisionedConcurrency => "provisioned-concurrency",
        }
    }
}

/// Everything needed to start one execution environment.
#[derive(Clone, Debug)]
pub struct EnvSpec {
    /// Unique per sandbox; used in names (TMPDIR) and logs.
    pub env_id: u64,
    pub function_name: String,
    /// `$LATEST` or a published version number such as `3`.
    pub function_version: String,
    pub memory_mb: u32,
    /// The function timeout. Informational here: the caller enforces it with
    /// [`crate::Environment::kill`] and [`KillReason::Timeout`].
    pub timeout: Duration,
    /// `python3.x`, `provided`, `provided.al2` or `provided.al2023`.
    pub runtime: String,
    /// `module.function` for Python; passed as `_HANDLER` to every runtime.
    pub handler: String,
    /// Unpacked function code (`LAMBDA_TASK_ROOT`, and the working directory).
    pub code_dir: PathBuf,
    /// The function's own variables. They cannot override reserved variables
    /// (see [`crate::RESERVED_ENV_VARS`]); such entries are ignored with a warning.
    pub user_environment: Vec<(String, String)>,
    /// Variables the platform adds (for example `AWS_ENDPOINT_URL`); they override everything.
    pub platform_environment: Vec<(String, String)>,
    pub init_type: InitType,
    pub region: String,
    pub account_id: String,
    pub log_group_name: String,
    pub log_stream_name: String,
}

/// One invocation to deliver to an environment.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    /// `Lambda-Runtime-Deadline-Ms` (the node sets it when it dispatches the
    /// invocation, so a cold start does not shorten it).
    pub deadline_epoch_ms: u64,
    pub invoked_function_arn: String,
    /// Client context JSON (`Lambda-Runtime-Client-Context`; the Invoke API's
    /// `X-Amz-Client-Context` decoded from base64).
    pub client_context: Option<String>,
    /// JSON Cognito identity (`Lambda-Runtime-Cognito-Identity`).
    pub cognito_identity: Option<String>,
    /// X-Ray header (`Lambda-Runtime-Trace-Id`).
    pub trace_id: Option<String>,
}

/// Why the platform killed an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// The invocation ran past the function timeout `after`.
    Timeout { after: Duration },
    /// The platform decided the environment used too much memory.
    OutOfMemory,
    /// The environment was stopped (scale-down, shutdown, config change).
    Stopped,
}

/// How an environment's process ended.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ExitInfo {
    /// Exit status if the runtime process exited normally.
    pub code: Option<i32>,
    /// Signal number if it was killed by a signal.
    pub signal: Option<i32>,
    /// The memory limit killed it (watchdog or cgroup OOM killer).
    pub oom: bool,
    /// Set when the platform killed or stopped it.
    pub kill_reason: Option<KillReason>,
    /// Peak resident memory of the process group, in MiB (rounded up).
    pub max_memory_used_mb: u32,
}

impl fmt::Display for ExitInfo {
    /// Lambda's wording: `exit status 1` or `signal: killed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "exit status {code}"),
            (None, Some(9)) => write!(f, "signal: killed"),
            (None, Some(15)) => write!(f, "signal: terminated"),
            (None, Some(11)) => write!(f, "signal: segmentation fault"),
            (None, Some(6)) => write!(f, "signal: aborted"),
            (None, Some(signal)) => write!(f, "signal: {signal}"),
            (None, None) => write!(f, "unknown exit"),
        }
    }
}

/// Why an environment did not become ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitFailure {
    /// The runtime reported `/runtime/init/error`. The process may still be running: the caller
    /// should `kill` or `shutdown` the environment.
    InitError {
        error_type: String,
        message: String,
        /// The runtime's `stackTrace`, when it sent one.
        stack_trace: Vec<String>,
    },
    /// The process exited (or was killed) before its first `/invocation/next`.
    Exited(ExitInfo),
}

/// What an invocation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `/response`: the function's result.
    Response(Bytes),
    /// `/error`: `error_type` from `Lambda-Runtime-Function-Error-Type` (`Unhandled` if absent).
    FunctionError { error_type: String, payload: Bytes },
    /// The response exceeded [`crate::MAX_RESPONSE_BYTES`] (`Function.ResponseSizeTooLarge`).
    ResponseTooLarge { size: usize },
    /// The process exited mid-invocation (the caller answers `Runtime.ExitError`).
    EnvironmentDied(ExitInfo),
    /// The memory limit killed the environment mid-invocation.
    OutOfMemory,
    /// [`crate::Environment::kill`] (or shutdown) ended the invocation.
    Killed(KillReason),
}

/// Figures of the REPORT line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub duration: Duration,
    /// Duration rounded up to the next millisecond (minimum 1).
    pub billed_duration_ms: u64,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u32,
    /// Only on the first invocation after the environment's init.
    pub init_duration: Option<Duration>,
}

/// Result of [`crate::Environment::invoke`].
#[derive(Clone, Debug)]
pub struct InvocationResult {
    pub outcome: Outcome,
    /// The last 4 KiB of this invocation's log, START/END/REPORT lines included.
    pub log_tail: String,
    pub report: Report,
}

/// Why an environment could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("unsupported runtime {0:?}")]
    UnsupportedRuntime(String),
    /// Lambda's `Runtime.InvalidEntrypoint`: no executable bootstrap, or no interpreter.
    #[error("invalid entrypoint: {0}")]
    InvalidEntrypoint(String),
    #[error("spawning environment: {0}")]
    Io(#[from] std::io::Error),
}
