//! weir-sandbox: AWS Lambda execution environments as real child processes.
//!
//! Owns: starting one process per environment (its own process group, an empty environment
//! plus Lambda's variables, limits), that environment's own Runtime API listener on loopback,
//! log capture (START/END/REPORT, 4 KiB tails, a [`LogSink`]), memory measurement and limits
//! (a shared watchdog, or cgroup v2 where usable), kill and graceful shutdown.
//! Never: decides admission, concurrency, timeouts or when to spawn/kill/stop (weir-core
//! decides; the node calls this API), and never lets anything a function does panic or wedge it.
//!
//! ```no_run
//! # async fn demo(spec: weir_sandbox::EnvSpec, invocation: weir_sandbox::Invocation) {
//! use weir_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::new(SandboxConfig::new("/var/lib/weir/sandbox")).unwrap();
//! let env = sandbox.spawn(spec).await.unwrap();
//! let init_duration = env.wait_ready().await.unwrap();
//! let result = env.invoke(invocation).await;
//! env.shutdown().await;
//! # }
//! ```

mod env_vars;
mod environment;
mod logs;
mod memory;
mod process;
mod python;
mod runtime_api;
mod types;

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use tokio::net::TcpListener;

pub use env_vars::{DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, DUMMY_SESSION_TOKEN, RESERVED_ENV_VARS};
pub use environment::Environment;
pub use logs::{LOG_TAIL_BYTES, LogRecord, LogSink, MAX_LINE_BYTES};
pub use process::ENV_MAX_OPEN_FILES;
pub use types::{
    EnvSpec, ExitInfo, InitFailure, InitType, Invocation, InvocationResult, KillReason, MemoryEnforcement, Outcome,
    PythonBootstrap, Report, SandboxConfig, SpawnError,
};

use environment::{EnvShared, Supervised, supervise};
use logs::LogPump;
use memory::{CgroupV2Parent, MemoryTracker, MemoryWatchdog};
use process::{ChildProcess, ProcessSpec, Spawner};
use python::PythonInfo;

/// Largest function response (and error body) accepted: 6 MB (6,291,456 bytes).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

const MIB: u64 = 1024 * 1024;

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn resolve_python(configured: &Path) -> Result<PythonInfo, String> {
    let python = python::resolve(configured);
    if let Err(why) = &python {
        tracing::warn!(%why, "no usable Python interpreter: python3.x functions will not start");
    }
    python
}

impl SandboxInner {
    /// The interpreter, resolving it now if the background probe has not yet.
    fn python(&self) -> &Result<PythonInfo, String> {
        self.python.get_or_init(|| resolve_python(&self.config.python))
    }
}

/// Starts execution environments. Cheap to clone; all clones share one watchdog and one
/// spawner thread. Environments keep the sandbox's shared parts alive while they exist.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<SandboxInner>,
}

pub(crate) struct SandboxInner {
    pub(crate) config: SandboxConfig,
    runtime_dir: PathBuf,
    tmp_root: PathBuf,
    /// Resolved on a background thread at start (a pyenv shim can take
    /// hundreds of milliseconds), or by the first Python spawn, whichever
    /// comes first.
    python: Arc<OnceLock<Result<PythonInfo, String>>>,
    python_version_warned: Mutex<HashSet<String>>,
    pub(crate) watchdog: MemoryWatchdog,
    cgroup: Option<CgroupV2Parent>,
    spawner: Spawner,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.inner.config)
            .field("cgroup_v2", &self.inner.cgroup.is_some())
            .finish()
    }
}

impl Sandbox {
    /// Prepares the work directory (writes the embedded Python runtime), resolves the Python
    /// interpreter (a missing one only fails later `python3.x` spawns), probes cgroup v2 and
    /// starts the memory watchdog and the spawner thread.
    pub fn new(config: SandboxConfig) -> io::Result<Sandbox> {
        // Absolute: children run with the function's code directory as their cwd.
        let work_dir = std::path::absolute(&config.work_dir)?;
        let runtime_dir = work_dir.join("runtime");
        let tmp_root = work_dir.join("tmp");
        std::fs::create_dir_all(&runtime_dir)?;
        std::fs::create_dir_all(&tmp_root)?;
        let script = runtime_dir.join(python::RUNTIME_SCRIPT_NAME);
        if std::fs::read_to_string(&script).ok().as_deref() != Some(python::RUNTIME_SCRIPT) {
            // Write then rename, so a concurrently starting environment never sees half a file.
            let partial = runtime_dir.join(format!(".{}.{}", python::RUNTIME_SCRIPT_NAME, std::process::id()));
            std::fs::write(&partial, python::RUNTIME_SCRIPT)?;
            std::fs::rename(&partial, &script)?;
        }
        // Resolving the interpreter can be slow (shims): never on the start path.
        let python = Arc::new(OnceLock::new());
        {
            let (python, configured) = (python.clone(), config.python.clone());
            std::thread::Builder::new().name("weir-python-probe".into()).spawn(move || {
                python.get_or_init(|| resolve_python(&configured));
            })?;
        }
        let cgroup = match config.memory_enforcement {
            MemoryEnforcement::Auto => memory::probe_cgroup_v2(),
            MemoryEnforcement::Watchdog | MemoryEnforcement::Off => None,
        };
        tracing::info!(
            cgroup_v2 = cgroup.is_some(),
            enforcement = ?config.memory_enforcement,
            "sandbox memory enforcement"
        );
        let watchdog = MemoryWatchdog::start(config.memory_sample_interval)?;
        let spawner = Spawner::start()?;
        Ok(Sandbox {
            inner: Arc::new(SandboxInner {
                config,
                runtime_dir,
                tmp_root,
                python,
                python_version_warned: Mutex::new(HashSet::new()),
                watchdog,
                cgroup,
                spawner,
            }),
        })
    }

    /// True when memory limits are enforced by cgroup v2 (else by the watchdog, or not at all).
    pub fn uses_cgroup_v2(&self) -> bool {
        self.inner.cgroup.is_some()
    }

    /// The Python interpreter `python3.x` functions run with, if one was found.
    pub fn python_executable(&self) -> Option<&Path> {
        self.inner.python().as_ref().ok().map(|p| p.executable.as_path())
    }

    /// Starts an environment. Returns as soon as the process is running; use
    /// [`Environment::wait_ready`] for the end of init.
    pub async fn spawn(&self, spec: EnvSpec) -> Result<Environment, SpawnError> {
        let inner = &self.inner;
        let spawned_at = Instant::now();
        let (program, args) = self.command_for(&spec)?;
        let cwd = std::path::absolute(&spec.code_dir)?;

        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let runtime_api = listener.local_addr()?.to_string();
        let tmp_dir = inner.tmp_root.join(format!("env-{}", spec.env_id));
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir)?;
        }
        std::fs::create_dir_all(&tmp_dir)?;

        let python_bin_dir = match (env_vars::is_python_runtime(&spec.runtime), inner.python()) {
            (true, Ok(python)) => python.bin_dir(),
            _ => None,
        };
        let env = env_vars::build(
            &spec,
            &env_vars::EnvPaths {
                runtime_api: &runtime_api,
                runtime_dir: &inner.runtime_dir,
                tmp_dir: &tmp_dir,
                task_root: &cwd,
                python_bin_dir,
            },
        );

        // stdout and stderr share one pipe: one reader, and their lines keep their order.
        let (pipe_writer, pipe_reader) = tokio::net::unix::pipe::pipe()?;
        let output = pipe_writer.into_blocking_fd()?;

        let memory_limit_bytes = u64::from(spec.memory_mb) * MIB;
        let cgroup = match &inner.cgroup {
            Some(parent) => Some(parent.create(spec.env_id, memory_limit_bytes)?),
            None => None,
        };
        let (cgroup, cgroup_procs) = match cgroup {
            Some((group, procs)) => (Some(group), Some(procs)),
            None => (None, None),
        };
        let process = ProcessSpec { program, args, env, cwd, output, cgroup_procs };
        let started = inner.spawner.spawn(process).await;
        let child = match started.and_then(ChildProcess::new) {
            Ok(child) => child,
            Err(e) => {
                if let Some(group) = &cgroup {
                    group.remove();
                }
                let _ = std::fs::remove_dir_all(&tmp_dir);
                return Err(e.into());
            }
        };
        let pid = child.pid();

        let watchdog_limit = match inner.config.memory_enforcement {
            MemoryEnforcement::Off => None,
            _ if cgroup.is_some() => None, // the kernel enforces it
            _ => Some(memory_limit_bytes),
        };
        let tracker = Arc::new(MemoryTracker::new(pid as i32, watchdog_limit));
        inner.watchdog.register(tracker.clone());

        let log = Arc::new(LogPump::new(
            pipe_reader,
            spec.function_name.as_str().into(),
            spec.log_stream_name.as_str().into(),
            inner.config.log_sink.clone(),
        ));
        let shared = Arc::new(EnvShared::new(
            spec.env_id,
            &spec.function_version,
            spec.init_type == InitType::OnDemand,
            spec.memory_mb,
            pid,
            spawned_at,
            log.clone(),
            tracker,
        ));
        let log_task = tokio::spawn(log.run());
        let listener_task = tokio::spawn(runtime_api::serve(listener, shared.clone())).abort_handle();
        let runtime_api_addr = runtime_api.parse().expect("a socket address we formatted");
        tokio::spawn(supervise(
            shared.clone(),
            inner.clone(),
            Supervised { child, listener_task, log_task, tmp_dir, cgroup },
        ));
        Ok(Environment { shared, runtime_api_addr, sandbox: inner.clone() })
    }

    /// The program (an absolute path) and its arguments for the spec's runtime.
    fn command_for(&self, spec: &EnvSpec) -> Result<(PathBuf, Vec<OsString>), SpawnError> {
        let inner = &self.inner;
        if spec.runtime.starts_with("provided") {
            if !matches!(spec.runtime.as_str(), "provided" | "provided.al2" | "provided.al2023") {
                return Err(SpawnError::UnsupportedRuntime(spec.runtime.clone()));
            }
            let bootstrap = spec.code_dir.join("bootstrap");
            let executable =
                std::fs::metadata(&bootstrap).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if !executable {
                return Err(SpawnError::InvalidEntrypoint(format!(
                    "{} is missing or not executable",
                    bootstrap.display()
                )));
            }
            return Ok((std::path::absolute(bootstrap)?, Vec::new()));
        }
        let Some(minor) = spec.runtime.strip_prefix("python3.") else {
            return Err(SpawnError::UnsupportedRuntime(spec.runtime.clone()));
        };
        if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SpawnError::UnsupportedRuntime(spec.runtime.clone()));
        }
        let python = inner.python().as_ref().map_err(|why| SpawnError::InvalidEntrypoint(why.clone()))?;
        let wanted = &spec.runtime["python".len()..];
        if wanted != python.version && lock(&inner.python_version_warned).insert(spec.runtime.clone()) {
            tracing::warn!(runtime = %spec.runtime, interpreter = %python.version,
                "running a {} function with Python {}", spec.runtime, python.version);
        }
        // -u: unbuffered, so log lines reach the pipe before the response.
        // -B: never write bytecode into the code directory (Lambda's is
        // read-only; a `weir up --watch` folder must never run stale .pyc).
        let mut args: Vec<OsString> = vec!["-u".into(), "-B".into()];
        match inner.config.python_bootstrap {
            PythonBootstrap::Weir => {
                args.push(inner.runtime_dir.join(python::RUNTIME_SCRIPT_NAME).into());
            }
            PythonBootstrap::Awslambdaric => {
                args.extend(["-m".into(), "awslambdaric".into(), spec.handler.clone().into()]);
            }
        }
        Ok((python.executable.clone(), args))
    }
}
