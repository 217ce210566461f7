//! `weir serve`: flags (and matching environment variables) into a
//! [`weir_node::NodeConfig`], then run until Ctrl-C or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use weir_core::{AccountLimits, HostLimits, ScalingRate};
use weir_node::{ClockMode, NodeConfig};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9700";

#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "WEIR_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Where functions, queues and events are stored.
    #[arg(long, env = "WEIR_DATA_DIR", default_value = ".weir")]
    pub data_dir: PathBuf,
    /// The account's concurrency limit (Lambda's ConcurrentExecutions).
    #[arg(long, env = "WEIR_ACCOUNT_CONCURRENCY", default_value_t = 1_000)]
    pub account_concurrency: u32,
    /// Concurrency that must stay unreserved.
    #[arg(long, env = "WEIR_MINIMUM_UNRESERVED", default_value_t = 100)]
    pub minimum_unreserved: u32,
    /// Execution environments (processes) this machine may run at once.
    #[arg(long, env = "WEIR_MAX_ENVIRONMENTS", default_value_t = 512)]
    pub max_environments: u32,
    /// Invocations that may wait for a host slot.
    #[arg(long, env = "WEIR_MAX_HOST_WAITING", default_value_t = 10_000)]
    pub max_host_waiting: u32,
    /// How long an invocation may wait for a host slot.
    #[arg(long, env = "WEIR_MAX_HOST_WAIT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub max_host_wait: Duration,
    /// Idle time after which an on-demand environment is stopped.
    #[arg(long, env = "WEIR_IDLE_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// New environments per function per scaling window.
    #[arg(long, env = "WEIR_SCALING_RATE", default_value_t = 1_000)]
    pub scaling_rate: u32,
    /// The scaling window.
    #[arg(long, env = "WEIR_SCALING_WINDOW", default_value = "10s", value_parser = humantime::parse_duration)]
    pub scaling_window: Duration,
    /// `manual` freezes every platform timer until `POST /_weir/clock/advance`.
    #[arg(long, env = "WEIR_CLOCK", value_enum, default_value = "wall")]
    pub clock: ClockArg,
    #[arg(long, env = "WEIR_REGION", default_value = "us-east-1")]
    pub region: String,
    #[arg(long, env = "WEIR_ACCOUNT_ID", default_value = "000000000000")]
    pub account_id: String,
    /// Interpreter for python3.x functions.
    #[arg(long, env = "WEIR_PYTHON", default_value = "python3")]
    pub python: PathBuf,
    /// Runtime client for python3.x functions.
    #[arg(long, env = "WEIR_PYTHON_BOOTSTRAP", value_enum, default_value = "weir")]
    pub python_bootstrap: BootstrapArg,
    /// Threads running the server (HTTP, Runtime API, pollers). Default: half this
    /// machine's cores, at least one, since the functions' own processes need the rest.
    #[arg(long, env = "WEIR_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
}

impl ServeArgs {
    /// The server's worker thread count: the flag, or half the cores (at least one). Why
    /// half: on a 2-core host one worker served invokes faster than two, with a third less
    /// CPU per invocation, because workers handing tasks to each other cost context switches
    /// the functions needed (README, "Performance").
    pub fn worker_threads(&self) -> usize {
        self.worker_threads.filter(|&n| n > 0).unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            (cores / 2).max(1)
        })
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ClockArg {
    Wall,
    Manual,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum BootstrapArg {
    Weir,
    Awslambdaric,
}

impl ServeArgs {
    pub fn node_config(&self) -> NodeConfig {
        let mut config = NodeConfig::new(self.listen, self.data_dir.clone())
            .with_account(AccountLimits {
                concurrency_limit: self.account_concurrency,
                minimum_unreserved: self.minimum_unreserved,
            })
            .with_host(HostLimits {
                max_environments: self.max_environments,
                max_waiting: self.max_host_waiting,
                max_wait: self.max_host_wait,
            })
            .with_scaling_rate(ScalingRate { environments: self.scaling_rate, window: self.scaling_window });
        config.core.idle_timeout = self.idle_timeout;
        config.clock = match self.clock {
            ClockArg::Wall => ClockMode::Wall,
            ClockArg::Manual => ClockMode::Manual,
        };
        config.region = self.region.clone();
        config.account_id = self.account_id.clone();
        config.python = self.python.clone();
        config.python_bootstrap = match self.python_bootstrap {
            BootstrapArg::Weir => weir_sandbox::PythonBootstrap::Weir,
            BootstrapArg::Awslambdaric => weir_sandbox::PythonBootstrap::Awslambdaric,
        };
        config
    }
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    let mut running = weir_node::start(args.node_config()).await?;
    announce(running.addr);
    wait_for_signal(&mut running).await;
    running.shutdown().await;
    Ok(())
}

/// The one line scripts wait for.
pub fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "weir listening on http://{addr}");
    let _ = out.flush();
}

pub async fn wait_for_signal(running: &mut weir_node::Running) {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match terminate.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = running.wait() => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ServeArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn worker_threads(args: &[&str]) -> usize {
        Cli::try_parse_from(std::iter::once("weir").chain(args.iter().copied())).unwrap().serve.worker_threads()
    }

    #[test]
    fn worker_threads_default_to_half_the_cores_and_at_least_one() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(worker_threads(&[]), (cores / 2).max(1));
        assert_eq!(worker_threads(&["--worker-threads", "0"]), (cores / 2).max(1));
        assert_eq!(worker_threads(&["--worker-threads", "3"]), 3);
    }
}
