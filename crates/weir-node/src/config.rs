//! The node's validated configuration: where it listens, where it keeps its
//! data, the emulated Lambda limits, the host's limits, and the clock.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use weir_core::{AccountLimits, ControllerConfig, HostLimits, ScalingRate};
use weir_sandbox::PythonBootstrap;

/// Which clock the platform's timers follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// Real time.
    #[default]
    Wall,
    /// Frozen until advanced through `POST /_weir/clock/advance`; every
    /// platform deadline (function timeouts, idle reaping, retries…) waits
    /// for it. Function processes still run in real time.
    Manual,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    pub core: ControllerConfig,
    pub clock: ClockMode,
    pub python: PathBuf,
    pub python_bootstrap: PythonBootstrap,
    /// Grace between SIGTERM and SIGKILL when stopping environments.
    pub shutdown_grace: Duration,
}

impl NodeConfig {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        NodeConfig {
            listen,
            data_dir,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            core: ControllerConfig::default(),
            clock: ClockMode::Wall,
            python: PathBuf::from("python3"),
            python_bootstrap: PythonBootstrap::Weir,
            shutdown_grace: Duration::from_secs(2),
        }
    }

    pub fn with_account(mut self, limits: AccountLimits) -> Self {
        self.core.account = limits;
        self
    }

    pub fn with_host(mut self, limits: HostLimits) -> Self {
        self.core.host = limits;
        self
    }

    pub fn with_scaling_rate(mut self, rate: ScalingRate) -> Self {
        self.core.scaling_rate = rate;
        self
    }
}
