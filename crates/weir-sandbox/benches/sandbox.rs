//! Sandbox figures: warm invoke round trip (Rust `lambda_runtime` function), cold start
//! platform overhead, and the two Python bootstraps (weir's client vs awslambdaric).
//!
//! Run: `cargo bench -p weir-sandbox --bench sandbox` (add `-- quick` for a shorter run).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_sandbox::{
    EnvSpec, Environment, InitType, Invocation, MemoryEnforcement, Outcome, PythonBootstrap, Sandbox, SandboxConfig,
};

static ENV_IDS: AtomicU64 = AtomicU64::new(1);

fn spec(runtime: &str, handler: &str, code_dir: &Path) -> EnvSpec {
    let env_id = ENV_IDS.fetch_add(1, Ordering::Relaxed);
    EnvSpec {
        env_id,
        function_name: "bench".into(),
        function_version: "$LATEST".into(),
        memory_mb: 256,
        timeout: Duration::from_secs(3),
        runtime: runtime.into(),
        handler: handler.into(),
        code_dir: code_dir.to_path_buf(),
        user_environment: Vec::new(),
        platform_environment: Vec::new(),
        init_type: InitType::OnDemand,
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        log_group_name: "/aws/lambda/bench".into(),
        log_stream_name: format!("bench/{env_id}"),
    }
}

fn invocation(n: u64) -> Invocation {
    Invocation {
        request_id: format!("00000000-0000-0000-0000-{n:012x}"),
        payload: Bytes::from_static(br#"{"hello":"world"}"#),
        deadline_epoch_ms: u64::MAX / 2,
        invoked_function_arn: "arn:aws:lambda:us-east-1:000000000000:function:bench".into(),
        client_context: None,
        cognito_identity: None,
        trace_id: None,
    }
}

struct Stats {
    samples: Vec<Duration>,
}

impl Stats {
    fn new(mut samples: Vec<Duration>) -> Stats {
        samples.sort();
        Stats { samples }
    }
    fn pct(&self, p: f64) -> Duration {
        let i = ((self.samples.len() as f64 - 1.0) * p).round() as usize;
        self.samples[i]
    }
    fn line(&self, what: &str) {
        println!(
            "{what:<58} n={:<6} p50={:>9.1?} p90={:>9.1?} p99={:>9.1?} max={:>9.1?}",
            self.samples.len(),
            self.pct(0.50),
            self.pct(0.90),
            self.pct(0.99),
            self.samples[self.samples.len() - 1]
        );
    }
}

async fn warm_latency(env: &Environment, iterations: u64, label: &str) {
    for n in 0..200 {
        env.invoke(invocation(n)).await;
    }
    let mut samples = Vec::with_capacity(iterations as usize);
    let started = Instant::now();
    for n in 0..iterations {
        let t = Instant::now();
        let result = env.invoke(invocation(1_000 + n)).await;
        samples.push(t.elapsed());
        assert!(matches!(result.outcome, Outcome::Response(_)), "{:?}", result.outcome);
    }
    let elapsed = started.elapsed();
    Stats::new(samples).line(label);
    println!("{:<58} {:.0} invokes/s sequential", "", iterations as f64 / elapsed.as_secs_f64());
}

/// Spawn → ready, split into `spawn()` itself (platform: listener, TMPDIR, fork/exec) and the
/// rest (the runtime's own start until its first `/next`).
async fn cold_starts(sandbox: &Sandbox, make_spec: impl Fn() -> EnvSpec, n: usize, label: &str) {
    let mut spawn_calls = Vec::new();
    let mut ready = Vec::new();
    let mut first_invoke = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let env = sandbox.spawn(make_spec()).await.expect("spawn");
        spawn_calls.push(t.elapsed());
        env.wait_ready().await.expect("ready");
        ready.push(t.elapsed());
        let t_inv = Instant::now();
        env.invoke(invocation(0)).await;
        first_invoke.push(t_inv.elapsed());
        env.kill(weir_sandbox::KillReason::Stopped);
        env.exited().await;
    }
    Stats::new(spawn_calls).line(&format!("{label}: spawn() returns"));
    Stats::new(ready).line(&format!("{label}: spawn -> first /next (init)"));
    Stats::new(first_invoke).line(&format!("{label}: first invoke after init"));
}

/// The runtime's own start without the sandbox: exec the binary until it exits on purpose
/// before contacting the Runtime API (WEIR_TESTFN_INIT=fail).
fn bare_process_start(binary: &Path, n: usize) {
    let mut samples = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let status = std::process::Command::new(binary)
            .env_clear()
            .env("WEIR_TESTFN_INIT", "fail")
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        samples.push(t.elapsed());
        assert_eq!(status.code(), Some(3));
    }
    Stats::new(samples).line("rust testfn: bare exec -> exit (no sandbox, reference)");
}

async fn python_bootstrap(bootstrap: PythonBootstrap, python: &Path, work: &Path, quick: bool) {
    let mut config = SandboxConfig::new(work.join(format!("sandbox-{bootstrap:?}")));
    config.python = python.to_path_buf();
    config.python_bootstrap = bootstrap;
    config.memory_enforcement = MemoryEnforcement::Watchdog;
    let sandbox = Sandbox::new(config).unwrap();
    let code = work.join(format!("py-{bootstrap:?}"));
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("app.py"), "def handler(event, context):\n    return event\n").unwrap();
    let label = format!("python {bootstrap:?}");
    cold_starts(&sandbox, || spec("python3.11", "app.handler", &code), if quick { 5 } else { 20 }, &label).await;
    let env = sandbox.spawn(spec("python3.11", "app.handler", &code)).await.unwrap();
    env.wait_ready().await.unwrap();
    warm_latency(&env, if quick { 1_000 } else { 5_000 }, &format!("{label}: warm invoke")).await;
    env.shutdown().await;
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let only = |part: &str| {
        let parts: Vec<String> = std::env::args().filter(|a| a.starts_with("only=")).collect();
        parts.is_empty() || parts.iter().any(|a| a == &format!("only={part}"))
    };
    let enforcement = match std::env::var("WEIR_BENCH_MEMORY").as_deref() {
        Ok("off") => MemoryEnforcement::Off,
        _ => MemoryEnforcement::Watchdog,
    };
    let testfn = weir_testfns::testfn_path();
    let venv_python = weir_testfns::test_venv_python();
    let work = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut config = SandboxConfig::new(work.path().join("sandbox"));
        config.memory_enforcement = enforcement;
        let sandbox = Sandbox::new(config).unwrap();
        let code = work.path().join("rust");
        std::fs::create_dir_all(&code).unwrap();
        std::os::unix::fs::symlink(&testfn, code.join("bootstrap")).unwrap();

        if only("warm") {
            println!("== Rust lambda_runtime testfn (provided.al2023), 2 tokio workers, 2 cores ==");
            let env = sandbox.spawn(spec("provided.al2023", "x", &code)).await.unwrap();
            env.wait_ready().await.unwrap();
            warm_latency(&env, if quick { 5_000 } else { 20_000 }, "rust: warm invoke round trip (1 env)").await;

            // Aggregate throughput with several environments invoked concurrently.
            let envs: Vec<Arc<Environment>> = {
                let mut envs = vec![Arc::new(env)];
                for _ in 0..3 {
                    let env = sandbox.spawn(spec("provided.al2023", "x", &code)).await.unwrap();
                    env.wait_ready().await.unwrap();
                    envs.push(Arc::new(env));
                }
                envs
            };
            let per_env = if quick { 2_000 } else { 10_000 };
            let started = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for (i, env) in envs.iter().enumerate() {
                let env = env.clone();
                tasks.spawn(async move {
                    for n in 0..per_env {
                        env.invoke(invocation((i as u64) << 32 | n)).await;
                    }
                });
            }
            tasks.join_all().await;
            let total = per_env * envs.len() as u64;
            println!(
                "{:<58} {:.0} invokes/s ({} envs, {} invokes)",
                "rust: concurrent throughput",
                total as f64 / started.elapsed().as_secs_f64(),
                envs.len(),
                total
            );
            for env in &envs {
                env.shutdown().await;
            }
            drop(envs);
        }

        // Simulate a bigger weir process: fork cost grows with the parent's mapped memory.
        let ballast_mb: usize = std::env::var("WEIR_BENCH_PARENT_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        let ballast = vec![1u8; ballast_mb * 1024 * 1024];
        if ballast_mb > 0 {
            println!("\n(parent holds {ballast_mb} MiB of touched memory)");
        }
        if only("cold") {
            println!("\n== Cold start ==");
            cold_starts(&sandbox, || spec("provided.al2023", "x", &code), if quick { 10 } else { 50 }, "rust").await;
            bare_process_start(&testfn, if quick { 10 } else { 50 });
        }

        drop(ballast);
        if only("python") {
            println!("\n== Python bootstraps ==");
            let system_python = sandbox.python_executable().unwrap().to_path_buf();
            python_bootstrap(PythonBootstrap::Weir, &system_python, work.path(), quick).await;
            python_bootstrap(PythonBootstrap::Awslambdaric, &venv_python, work.path(), quick).await;
        }
    });
}
