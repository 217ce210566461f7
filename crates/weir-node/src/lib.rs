//! weir-node: the async shell around the concurrency core.
//!
//! It owns the [`weir_core::Controller`] (in [`engine`]), executes its
//! effects with real processes ([`weir_sandbox`]), persists the catalog in
//! the store, and serves every API on one HTTP listener ([`http`]). Lambda's
//! rules never live here: the node asks the core and does what it decides.
//!
//! Module map: `config` (validated settings), `clock` (the only place time
//! is read), `engine` (core driver), `control` (function management),
//! `registry` (function records), `code` (function code on disk), `logs`
//! (function logs), `async_invoke` (Event invocations and their dispatchers),
//! `event_invoke` (their settings), `destinations` (DLQs and destinations),
//! `metrics` (the node's own counters), `http` (the front door).

pub mod async_invoke;
pub mod clock;
pub mod code;
pub mod config;
pub mod control;
pub mod destinations;
pub mod engine;
pub mod esm;
pub mod event_invoke;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod registry;
pub mod sqs;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;

use weir_core::{Controller, EnvId, FunctionId, InitType, Version};
use weir_sandbox::{EnvSpec, MemoryEnforcement, Sandbox, SandboxConfig};
use weir_store_sqlite::{SqliteOptions, SqliteStore};
use weir_wire::lambda::ArnContext;

pub use config::{ClockMode, NodeConfig};

use crate::clock::Clock;
use crate::code::CodeStore;
use crate::control::Control;
use crate::engine::{Engine, SpecSource};
use crate::logs::LogStore;
use crate::registry::Registry;

/// A running weir node.
pub struct Node {
    pub config: NodeConfig,
    pub ctx: ArnContext,
    pub clock: Arc<Clock>,
    pub engine: Arc<Engine>,
    pub control: Control,
    pub logs: Arc<LogStore>,
    pub metrics: metrics::Metrics,
    pub async_invoker: async_invoke::AsyncInvoker,
    pub sqs: sqs::SqsService,
    pub mappings: esm::Mappings,
    pub telemetry: telemetry::Telemetry,
}

/// Builds environment specs from the registry.
struct Specs {
    registry: Arc<Registry>,
    ctx: ArnContext,
    endpoint_url: String,
}

impl SpecSource for Specs {
    fn env_spec(&self, env: EnvId, function: FunctionId, version: Version, init_type: InitType) -> Option<EnvSpec> {
        let entry = self.registry.by_id(function)?;
        let config = entry.record.config(version)?;
        let name = entry.record.name.clone();
        let day = weir_wire::lambda::format_last_modified(clock::wall_epoch_ms());
        let stream_day = day[..10].replace('-', "/");
        Some(EnvSpec {
            env_id: env.as_u64(),
            function_version: version.to_string(),
            memory_mb: config.memory_mb,
            timeout: std::time::Duration::from_secs(u64::from(config.timeout_s)),
            runtime: config.runtime.clone(),
            handler: config.handler.clone(),
            code_dir: config.code.dir.clone(),
            user_environment: config.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            platform_environment: vec![("AWS_ENDPOINT_URL".into(), self.endpoint_url.clone())],
            init_type: match init_type {
                InitType::OnDemand => weir_sandbox::InitType::OnDemand,
                InitType::ProvisionedConcurrency => weir_sandbox::InitType::ProvisionedConcurrency,
            },
            region: self.ctx.region.clone(),
            account_id: self.ctx.account_id.clone(),
            log_group_name: format!("/aws/lambda/{name}"),
            log_stream_name: format!("{stream_day}/[{version}]{:016x}{:016x}", env.as_u64(), rand_u64()),
            function_name: name,
        })
    }
}

fn rand_u64() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// Errors that stop a node from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("opening the store: {0}")]
    Store(#[from] weir_store::StoreError),
    #[error("starting the sandbox: {0}")]
    Sandbox(std::io::Error),
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("restoring functions: {0}")]
    Restore(weir_wire::AwsError),
}

/// A started node: its address, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub node: Arc<Node>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting requests, stops every environment, closes the store.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let _ = self.server.await;
        self.node.engine.stop_all().await;
    }

    /// Resolves when the server stops on its own (it normally never does).
    pub async fn wait(&mut self) {
        let _ = (&mut self.server).await;
    }
}

/// Starts a node: opens the store, restores functions, and listens.
pub async fn start(config: NodeConfig) -> Result<Running, StartError> {
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir)
        .map_err(|source| StartError::DataDir { path: data_dir.display().to_string(), source })?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen { addr: config.listen, source })?;
    let endpoint_url = format!("http://{addr}");

    let store = SqliteStore::open(data_dir.join("weir.db"), SqliteOptions::default())?;
    let code = CodeStore::new(data_dir)
        .map_err(|source| StartError::DataDir { path: data_dir.display().to_string(), source })?;
    let logs = LogStore::new();
    let mut sandbox_config = SandboxConfig::new(data_dir.join("sandbox"));
    sandbox_config.python = config.python.clone();
    sandbox_config.python_bootstrap = config.python_bootstrap;
    sandbox_config.shutdown_grace = config.shutdown_grace;
    sandbox_config.memory_enforcement = MemoryEnforcement::Auto;
    sandbox_config.log_sink = Some(logs.clone());
    let sandbox = Sandbox::new(sandbox_config).map_err(StartError::Sandbox)?;

    let ctx = ArnContext { region: config.region.clone(), account_id: config.account_id.clone() };
    let clock = Arc::new(Clock::new(config.clock));
    let registry = Arc::new(Registry::default());
    let specs = Arc::new(Specs { registry: registry.clone(), ctx: ctx.clone(), endpoint_url: endpoint_url.clone() });
    let engine = Engine::new(Controller::new(config.core), clock.clone(), sandbox, specs);
    let control =
        Control::new(registry, engine.clone(), store, code, logs.clone(), ctx.clone(), clock.clone(), endpoint_url);
    let restored = control.load().await.map_err(StartError::Restore)?;
    if restored > 0 {
        tracing::info!(functions = restored, "restored functions from the store");
    }
    let node = Arc::new(Node {
        config,
        ctx,
        clock,
        engine,
        control,
        logs,
        metrics: metrics::Metrics::default(),
        async_invoker: async_invoke::AsyncInvoker::default(),
        sqs: sqs::SqsService::default(),
        mappings: esm::Mappings::default(),
        telemetry: telemetry::Telemetry::default(),
    });
    async_invoke::AsyncInvoker::start(&node).await;
    sqs::SqsService::start(&node);
    sqs::move_tasks::resume(&node).await;
    esm::Mappings::start(&node).await;
    telemetry::Telemetry::start(&node);

    let app = http::router(node.clone());
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.await;
            })
            .await;
        if let Err(err) = result {
            tracing::error!(error = %err, "server stopped");
        }
    });
    Ok(Running { addr, node, shutdown, server })
}
