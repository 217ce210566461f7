//! Property tests: random sequences of requests, completions, environment
//! failures, configuration changes and time steps, with the model's
//! invariants asserted after every step.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use weir_core::Instant;
use weir_core::{
    AccountLimits, Admission, ConfigChange, Controller, ControllerConfig, Effect, EnvEvent, EnvId, FunctionId,
    HostLimits, InitType, InvocationId, InvocationOutcome, InvokeRequest, RuntimeSettings, ScalingRate, StopReason,
    ThrottleReason, Version,
};

const FUNCTIONS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Invoke {
        function: usize,
        version: u8,
    },
    /// Finish the n-th running invocation (modulo how many run).
    Finish {
        pick: usize,
        error: bool,
        reusable: bool,
    },
    Ready {
        pick: usize,
    },
    InitFail {
        pick: usize,
    },
    Crash {
        pick: usize,
    },
    /// Stopped environments exit.
    ExitStopped,
    Advance {
        millis: u64,
    },
    Reserve {
        function: usize,
        reserved: Option<u32>,
    },
    Provision {
        function: usize,
        count: Option<u32>,
    },
    Publish {
        function: usize,
    },
    Retarget {
        function: usize,
        version: u8,
    },
    Update {
        function: usize,
    },
    AccountLimit {
        limit: u32,
    },
    Watch {
        function: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let f = 0..FUNCTIONS;
    prop_oneof![
        8 => (f.clone(), 0u8..3).prop_map(|(function, version)| Op::Invoke { function, version }),
        6 => (any::<usize>(), prop::bool::weighted(0.2), prop::bool::weighted(0.9))
            .prop_map(|(pick, error, reusable)| Op::Finish { pick, error, reusable }),
        4 => any::<usize>().prop_map(|pick| Op::Ready { pick }),
        1 => any::<usize>().prop_map(|pick| Op::InitFail { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Crash { pick }),
        3 => Just(Op::ExitStopped),
        4 => prop_oneof![0u64..50, 0u64..5_000, 0u64..400_000].prop_map(|millis| Op::Advance { millis }),
        2 => (f.clone(), prop::option::of(0u32..30)).prop_map(|(function, reserved)| Op::Reserve { function, reserved }),
        2 => (f.clone(), prop::option::of(1u32..6)).prop_map(|(function, count)| Op::Provision { function, count }),
        1 => f.clone().prop_map(|function| Op::Publish { function }),
        1 => (f.clone(), 0u8..3).prop_map(|(function, version)| Op::Retarget { function, version }),
        1 => f.clone().prop_map(|function| Op::Update { function }),
        1 => (20u32..60).prop_map(|limit| Op::AccountLimit { limit }),
        1 => f.prop_map(|function| Op::Watch { function }),
    ]
}

/// The node's view: what it was asked to run, and what it is doing.
struct World {
    core: Controller,
    now: Instant,
    functions: Vec<FunctionId>,
    published: Vec<u32>,
    initializing: Vec<EnvId>,
    running: Vec<(EnvId, InvocationId)>,
    stopped: Vec<EnvId>,
    alive: HashSet<EnvId>,
    provisioned_envs: HashSet<EnvId>,
    on_demand_spawns: HashMap<FunctionId, Vec<Instant>>,
    log: Vec<String>,
    limits_changed: bool,
    rate: ScalingRate,
    /// Highest concurrency seen after any input since the last
    /// `take_*_concurrency_peak` (per function, then the account's).
    window_peaks: Vec<u32>,
    account_window_peak: u32,
}

impl World {
    fn new() -> Self {
        let rate = ScalingRate { environments: 4, window: Duration::from_secs(10) };
        let config = ControllerConfig {
            account: AccountLimits { concurrency_limit: 40, minimum_unreserved: 10 },
            host: HostLimits { max_environments: 8, max_waiting: 3, max_wait: Duration::from_secs(30) },
            scaling_rate: rate,
            idle_timeout: Duration::from_secs(60),
            ..ControllerConfig::default()
        };
        let mut core = Controller::new(config);
        let now = Instant::from_secs(10);
        let settings = RuntimeSettings { timeout: Duration::from_secs(120), ..RuntimeSettings::default() };
        let functions =
            (0..FUNCTIONS).map(|i| core.create_function(now, &format!("f{i}"), settings).unwrap()).collect();
        let mut world = World {
            core,
            now,
            functions,
            published: vec![0; FUNCTIONS],
            initializing: Vec::new(),
            running: Vec::new(),
            stopped: Vec::new(),
            alive: HashSet::new(),
            provisioned_envs: HashSet::new(),
            on_demand_spawns: HashMap::new(),
            log: Vec::new(),
            limits_changed: false,
            rate,
            window_peaks: vec![0; FUNCTIONS],
            account_window_peak: 0,
        };
        world.drain();
        world
    }

    fn version(&self, function: usize, choice: u8) -> Version {
        match (choice, self.published[function]) {
            (0, _) | (_, 0) => Version::Latest,
            (1, n) => Version::Published(n),
            (_, n) => Version::Published(1.max(n - 1)),
        }
    }

    fn drain(&mut self) {
        while let Some(effect) = self.core.poll_effect() {
            self.log.push(format!("{:?} {effect:?}", self.now));
            match effect {
                Effect::SpawnEnv { env, function, init_type, .. } => {
                    assert!(self.alive.insert(env), "environment ids are never reused");
                    self.initializing.push(env);
                    if init_type == InitType::ProvisionedConcurrency {
                        self.provisioned_envs.insert(env);
                    } else {
                        let spawns = self.on_demand_spawns.entry(function).or_default();
                        spawns.push(self.now);
                        let window = self.rate.window;
                        let now = self.now;
                        let recent = spawns.iter().filter(|&&t| t + window > now).count();
                        assert!(
                            recent <= self.rate.environments as usize,
                            "{recent} new environments within one scaling window"
                        );
                    }
                }
                Effect::Dispatch { invocation, env, .. } => {
                    self.initializing.retain(|&e| e != env);
                    assert!(
                        !self.running.iter().any(|&(e, _)| e == env),
                        "an environment runs one invocation at a time"
                    );
                    self.running.push((env, invocation));
                }
                Effect::StopEnv { env, reason } => {
                    if matches!(reason, StopReason::Idle | StopReason::Evicted) {
                        let pc = self.provisioned_envs.contains(&env);
                        assert!(!pc, "a provisioned environment was reaped ({reason:?})");
                    }
                    if reason.is_kill() {
                        self.running.retain(|&(e, _)| e != env);
                    }
                    self.initializing.retain(|&e| e != env);
                    self.stopped.push(env);
                }
                Effect::InvocationFailed { invocation, .. } => {
                    self.running.retain(|&(_, i)| i != invocation);
                }
                Effect::CapacityAvailable { .. } => {}
            }
        }
        self.core.check_invariants().unwrap_or_else(|v| panic!("{v}\nlog:\n{}", self.log.join("\n")));
        for (i, &id) in self.functions.iter().enumerate() {
            let now = self.core.function_stats(id).unwrap().concurrent_executions;
            self.window_peaks[i] = self.window_peaks[i].max(now);
        }
        let now = self.core.account_stats().concurrent_executions;
        self.account_window_peak = self.account_window_peak.max(now);
    }

    /// A metrics sampler's read: each peak covers at least what was seen
    /// since the previous read, and the next window starts at the
    /// concurrency now.
    fn take_peaks(&mut self) {
        for (i, &id) in self.functions.iter().enumerate() {
            let stats = self.core.function_stats(id).unwrap();
            let peak = self.core.take_concurrency_peak(id).unwrap();
            assert!(peak >= self.window_peaks[i], "window peak {peak} below {} seen", self.window_peaks[i]);
            assert!(peak <= stats.peak_concurrent_executions);
            self.window_peaks[i] = stats.concurrent_executions;
            assert_eq!(self.core.take_concurrency_peak(id), Some(stats.concurrent_executions));
        }
        let account = self.core.account_stats();
        let peak = self.core.take_account_concurrency_peak();
        assert!(peak >= self.account_window_peak && peak <= account.peak_concurrent_executions);
        self.account_window_peak = account.concurrent_executions;
        assert_eq!(self.core.take_account_concurrency_peak(), account.concurrent_executions);
    }

    fn env_event(&mut self, env: EnvId, event: EnvEvent) {
        self.core.handle_env_event(self.now, env, event);
        self.drain();
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Invoke { function, version } => {
                let id = self.functions[function];
                let version = self.version(function, version);
                let before = self.core.function_stats(id).unwrap();
                let account_before = self.core.account_stats();
                let admission = self.core.handle_invoke(self.now, InvokeRequest { function: id, version });
                self.log.push(format!("{:?} {admission:?}", self.now));
                self.drain();
                let after = self.core.function_stats(id).unwrap();
                let account = self.core.account_stats();
                match admission {
                    Admission::Admitted(_) => {
                        let on_demand = after.concurrent_executions - after.provisioned_concurrent_executions;
                        if after.provisioned_concurrent_executions > before.provisioned_concurrent_executions {
                            assert!(after.provisioned_concurrent_executions <= after.provisioned_ready);
                        } else if let Some(reserved) = after.reserved_concurrency {
                            assert!(
                                on_demand <= reserved - after.provisioned_concurrency,
                                "on-demand {on_demand} beyond reservation {reserved}"
                            );
                        } else {
                            assert!(account.unreserved_concurrent_executions <= account.unreserved_limit);
                        }
                        if !self.limits_changed {
                            assert!(account.concurrent_executions <= account.concurrency_limit);
                        }
                    }
                    Admission::Throttled(t) => match t.reason {
                        // A throttle is only ever justified by real exhaustion.
                        ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded => {
                            let reserved = before.reserved_concurrency.expect("reserved throttle needs a reservation");
                            let on_demand = before.concurrent_executions - before.provisioned_concurrent_executions;
                            assert!(reserved == 0 || on_demand >= reserved - before.provisioned_concurrency);
                        }
                        ThrottleReason::ConcurrentInvocationLimitExceeded => {
                            assert!(before.reserved_concurrency.is_none());
                            assert!(account_before.unreserved_concurrent_executions >= account_before.unreserved_limit);
                        }
                        ThrottleReason::FunctionInvocationRateLimitExceeded => {}
                    },
                    Admission::HostBusy => {
                        assert!(account.environments >= account.host_environment_limit);
                    }
                    Admission::NotFound => {}
                }
            }
            Op::Finish { pick, error, reusable } => {
                if !self.running.is_empty() {
                    let (env, invocation) = self.running.remove(pick % self.running.len());
                    let outcome = if error { InvocationOutcome::FunctionError } else { InvocationOutcome::Success };
                    self.env_event(env, EnvEvent::InvocationFinished { invocation, outcome, reusable });
                }
            }
            Op::Ready { pick } => {
                if !self.initializing.is_empty() {
                    let env = self.initializing.remove(pick % self.initializing.len());
                    self.env_event(env, EnvEvent::Ready);
                }
            }
            Op::InitFail { pick } => {
                if !self.initializing.is_empty() {
                    let env = self.initializing.remove(pick % self.initializing.len());
                    self.env_event(env, EnvEvent::InitFailed);
                }
            }
            Op::Crash { pick } => {
                let alive: Vec<EnvId> = {
                    let mut v: Vec<EnvId> = self.alive.iter().copied().collect();
                    v.sort();
                    v
                };
                if !alive.is_empty() {
                    let env = alive[pick % alive.len()];
                    self.alive.remove(&env);
                    self.initializing.retain(|&e| e != env);
                    self.running.retain(|&(e, _)| e != env);
                    self.stopped.retain(|&e| e != env);
                    self.env_event(env, EnvEvent::Exited);
                }
            }
            Op::ExitStopped => {
                for env in std::mem::take(&mut self.stopped) {
                    self.alive.remove(&env);
                    self.running.retain(|&(e, _)| e != env);
                    self.env_event(env, EnvEvent::Exited);
                }
            }
            Op::Advance { millis } => {
                let until = self.now + Duration::from_millis(millis);
                while let Some(at) = self.core.poll_timeout().filter(|&at| at <= until) {
                    self.now = self.now.max(at);
                    self.core.handle_timeout(self.now);
                    self.drain();
                }
                self.now = until;
                self.take_peaks();
            }
            Op::Reserve { function, reserved } => {
                let function = self.functions[function];
                let change = match reserved {
                    Some(reserved) => ConfigChange::PutReservedConcurrency { function, reserved },
                    None => ConfigChange::DeleteReservedConcurrency { function },
                };
                let _ = self.core.handle_config(self.now, change);
                self.drain();
            }
            Op::Provision { function, count } => {
                let id = self.functions[function];
                let qualifier = "live".to_string();
                if self.core.resolve(id, Some("live")).is_none() && self.published[function] > 0 {
                    let version = Version::Published(self.published[function]);
                    let _ = self.core.handle_config(
                        self.now,
                        ConfigChange::PutAlias { function: id, name: qualifier.clone(), version },
                    );
                }
                let change = match count {
                    Some(count) => ConfigChange::PutProvisionedConcurrency { function: id, qualifier, count },
                    None => ConfigChange::DeleteProvisionedConcurrency { function: id, qualifier },
                };
                let _ = self.core.handle_config(self.now, change);
                self.drain();
            }
            Op::Publish { function } => {
                let version = self.published[function] + 1;
                let change = ConfigChange::PublishVersion { function: self.functions[function], version };
                self.core.handle_config(self.now, change).unwrap();
                self.published[function] = version;
                self.drain();
            }
            Op::Retarget { function, version } => {
                let version = self.version(function, version);
                let change =
                    ConfigChange::PutAlias { function: self.functions[function], name: "live".into(), version };
                let _ = self.core.handle_config(self.now, change);
                self.drain();
            }
            Op::Update { function } => {
                let settings = RuntimeSettings { timeout: Duration::from_secs(90), ..RuntimeSettings::default() };
                let change = ConfigChange::UpdateFunction { function: self.functions[function], settings };
                self.core.handle_config(self.now, change).unwrap();
                self.drain();
            }
            Op::AccountLimit { limit } => {
                let change =
                    ConfigChange::SetAccountLimits(AccountLimits { concurrency_limit: limit, minimum_unreserved: 10 });
                if self.core.handle_config(self.now, change).is_ok() {
                    self.limits_changed = true;
                }
                self.drain();
            }
            Op::Watch { function } => {
                self.core.watch_capacity(self.functions[function]);
            }
        }
    }
}

fn run(ops: &[Op]) -> Vec<String> {
    let mut world = World::new();
    for op in ops {
        world.apply(op);
    }
    world.log
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_step(ops in prop::collection::vec(op(), 1..300)) {
        run(&ops);
    }

    #[test]
    fn the_same_inputs_give_the_same_decisions(ops in prop::collection::vec(op(), 1..200)) {
        prop_assert_eq!(run(&ops), run(&ops));
    }
}

/// Guards the generator: random sequences must reach every path the
/// invariants are meant to cover, or the properties above prove little.
#[test]
fn generated_sequences_exercise_every_path() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    const PATHS: [&str; 16] = [
        "Dispatch",
        "ProvisionedConcurrency",
        "Idle",
        "Evicted",
        "CapacityAvailable",
        "TimedOut",
        "HostWaitExpired",
        "ProvisionedReduced",
        "Stale",
        "HostBusy",
        "ConcurrentInvocationLimitExceeded",
        "ReservedFunctionConcurrentInvocationLimitExceeded",
        "FunctionInvocationRateLimitExceeded",
        "EnvironmentLost",
        "InitFailed",
        "InitTimedOut",
    ];
    let mut runner = TestRunner::deterministic();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for _ in 0..200 {
        let ops = prop::collection::vec(op(), 1..300).new_tree(&mut runner).unwrap().current();
        for line in run(&ops) {
            for path in PATHS {
                if line.contains(path) {
                    *seen.entry(path).or_default() += 1;
                }
            }
        }
    }
    for path in PATHS {
        assert!(seen.get(path).copied().unwrap_or(0) > 0, "no generated sequence reached {path}: {seen:?}");
    }
}
