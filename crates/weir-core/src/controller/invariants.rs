//! What must hold after every input, checked by `check_invariants` (called
//! by the property tests and, in debug builds, by the simulator after every
//! step).

use std::fmt;

use super::Controller;
use crate::model::{EnvState, InvocationState};

/// A broken invariant, described for a test failure message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation(pub String);

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvariantViolation {}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(InvariantViolation(format!($($fmt)+)));
        }
    };
}

impl Controller {
    /// Recomputes every derived count from first principles and checks the
    /// structural rules of the model.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let limits = self.config.account;
        let held: u32 = self.functions.iter().map(|f| f.held()).sum();
        ensure!(held == self.held, "held {} != recomputed {}", self.held, held);
        ensure!(
            held <= limits.concurrency_limit.saturating_sub(limits.minimum_unreserved),
            "functions hold {held}, leaving less than the minimum unreserved {} of {}",
            limits.minimum_unreserved,
            limits.concurrency_limit
        );

        // Invocations: each counted once, in the right bucket.
        let mut busy_on_demand = vec![0u32; self.functions.len()];
        let mut busy_provisioned = vec![0u32; self.functions.len()];
        let mut waiting = 0u32;
        for (key, inv) in self.invocations.iter() {
            if inv.provisioned {
                busy_provisioned[inv.function.index()] += 1;
            } else {
                busy_on_demand[inv.function.index()] += 1;
            }
            match inv.state {
                InvocationState::WaitingForHost => waiting += 1,
                InvocationState::ColdStarting(env) => {
                    let e = self.envs.get(env.0);
                    ensure!(
                        e.is_some_and(|e| e.state == EnvState::Initializing && e.bound.map(|b| b.0) == Some(key)),
                        "cold-starting invocation {key:?} not bound to an initialising environment"
                    );
                }
                InvocationState::Running(env) => {
                    let e = self.envs.get(env.0);
                    ensure!(
                        e.is_some_and(|e| e.running.iter().any(|r| r.0 == key)),
                        "running invocation {key:?} not on its environment"
                    );
                    ensure!(
                        !inv.provisioned || e.is_some_and(|e| e.is_provisioned()),
                        "provisioned invocation {key:?} on an on-demand environment"
                    );
                }
            }
        }
        ensure!(waiting == self.host_waiting, "host waiting {} != recomputed {waiting}", self.host_waiting);
        ensure!(
            self.invocations.len() as u32 == self.total_busy,
            "total busy {} != invocations {}",
            self.total_busy,
            self.invocations.len()
        );
        let window = self.window_peak_busy;
        ensure!(window >= self.total_busy, "account window peak {window} below total busy {}", self.total_busy);
        let unreserved: u32 = self.functions.iter().map(|f| f.unreserved_use()).sum();
        ensure!(
            unreserved == self.unreserved_busy,
            "unreserved busy {} != recomputed {unreserved}",
            self.unreserved_busy
        );
        for (index, f) in self.functions.iter().enumerate() {
            let window = f.counters.window_peak;
            ensure!(
                window >= f.concurrent() && f.counters.peak_concurrent >= window,
                "function {} window peak {window} outside [{}, {}]",
                f.name,
                f.concurrent(),
                f.counters.peak_concurrent
            );
            ensure!(
                f.busy_on_demand == busy_on_demand[index] && f.busy_provisioned == busy_provisioned[index],
                "function {} busy counts ({}, {}) != recomputed ({}, {})",
                f.name,
                f.busy_on_demand,
                f.busy_provisioned,
                busy_on_demand[index],
                busy_provisioned[index]
            );
        }

        // Environments.
        let mut envs_per_function = vec![0u32; self.functions.len()];
        let mut stopping = 0u32;
        for (key, env) in self.envs.iter() {
            envs_per_function[env.function.index()] += 1;
            ensure!(
                env.in_flight() <= env.capacity,
                "environment {key:?} runs {} invocations with capacity {}",
                env.in_flight(),
                env.capacity
            );
            ensure!(
                env.state == EnvState::Ready || env.running.is_empty(),
                "environment {key:?} in state {:?} runs invocations",
                env.state
            );
            ensure!(
                env.bound.is_none() || env.state == EnvState::Initializing,
                "environment {key:?} holds a cold-start invocation after init"
            );
            if env.state == EnvState::ShuttingDown {
                stopping += 1;
                ensure!(!env.listed, "shutting-down environment {key:?} is listed");
            }
            let f = &self.functions[env.function.index()];
            let listed_in = f.pool_index(env.version).map(|i| {
                let pool = &f.pools[i];
                let list = if env.is_provisioned() { &pool.provisioned_available } else { &pool.available };
                list.iter().filter(|e| e.0 == key).count()
            });
            let expected = usize::from(env.listed);
            ensure!(
                listed_in.unwrap_or(0) == expected,
                "environment {key:?} listed flag {} but appears {:?} times",
                env.listed,
                listed_in
            );
            if env.listed {
                ensure!(env.has_spare_capacity(), "full environment {key:?} is listed");
            }
        }
        ensure!(stopping == self.stopping, "stopping {} != recomputed {stopping}", self.stopping);
        ensure!(
            self.envs.len() as u32 <= self.config.host.max_environments,
            "{} environments exceed the host limit {}",
            self.envs.len(),
            self.config.host.max_environments
        );
        for (index, f) in self.functions.iter().enumerate() {
            ensure!(
                f.environments == envs_per_function[index],
                "function {} counts {} environments, recomputed {}",
                f.name,
                f.environments,
                envs_per_function[index]
            );
            for pool in &f.pools {
                let (mut alive, mut ready) = (0u32, 0u32);
                for (_, env) in self.envs.iter() {
                    if env.function.index() == index && env.version == pool.version && env.is_provisioned() {
                        match env.state {
                            EnvState::Initializing => alive += 1,
                            EnvState::Ready => {
                                alive += 1;
                                ready += 1;
                            }
                            EnvState::ShuttingDown => {}
                        }
                    }
                }
                ensure!(
                    pool.provisioned_alive == alive && pool.provisioned_ready == ready,
                    "function {} version {} provisioned alive/ready {}/{} != recomputed {alive}/{ready}",
                    f.name,
                    pool.version,
                    pool.provisioned_alive,
                    pool.provisioned_ready
                );
                let configured: u32 =
                    f.provisioned.iter().filter(|p| p.version == pool.version).map(|p| p.requested).sum();
                ensure!(
                    pool.provisioned_target == configured,
                    "function {} version {} provisioned target {} != configured {configured}",
                    f.name,
                    pool.version,
                    pool.provisioned_target
                );
            }
            if let Some(reserved) = f.reserved {
                ensure!(
                    f.provisioned_total() <= reserved,
                    "function {} provisions {} above its reservation {reserved}",
                    f.name,
                    f.provisioned_total()
                );
            }
        }
        Ok(())
    }
}
