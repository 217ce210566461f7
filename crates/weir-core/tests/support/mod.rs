//! A deterministic test driver for the core: it plays the node's part on a
//! virtual clock. Environments become ready after a modelled init time,
//! invocations finish after a modelled duration, stopped environments exit
//! at once. Tests read as stories on top of it.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

pub use weir_core::Instant;
use weir_core::{
    Admission, Controller, ControllerConfig, Effect, EnvEvent, EnvId, FunctionId, InitType, InvocationFailure,
    InvocationId, InvocationOutcome, InvokeRequest, RuntimeSettings, StopReason, ThrottleReason, Version,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scheduled {
    Ready(EnvId),
    InitFails(EnvId),
    Finish { env: EnvId, invocation: InvocationId },
    Exit(EnvId),
}

/// How the modelled functions behave.
#[derive(Clone, Copy, Debug)]
pub struct Behaviour {
    pub init: Duration,
    pub duration: Duration,
    pub init_fails: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { init: Duration::from_millis(200), duration: Duration::from_millis(100), init_fails: false }
    }
}

pub struct Harness {
    pub core: Controller,
    pub now: Instant,
    queue: BinaryHeap<Reverse<(Instant, u64, Scheduled)>>,
    seq: u64,
    pub behaviour: HashMap<FunctionId, Behaviour>,
    /// Every effect seen, in order, with its time.
    pub effects: Vec<(Instant, Effect)>,
    pub throttles: HashMap<(FunctionId, ThrottleReason), u64>,
    pub failures: Vec<(InvocationId, InvocationFailure)>,
    pub host_busy: u64,
    pub admitted: u64,
    /// Highest concurrency seen per function (sampled after every input).
    pub peak: HashMap<FunctionId, u32>,
    pub peak_total: u32,
}

impl Harness {
    pub fn new(config: ControllerConfig) -> Self {
        Harness {
            core: Controller::new(config),
            now: Instant::from_secs(1_000),
            queue: BinaryHeap::new(),
            seq: 0,
            behaviour: HashMap::new(),
            effects: Vec::new(),
            throttles: HashMap::new(),
            failures: Vec::new(),
            host_busy: 0,
            admitted: 0,
            peak: HashMap::new(),
            peak_total: 0,
        }
    }

    pub fn function(&mut self, name: &str, behaviour: Behaviour) -> FunctionId {
        let settings = RuntimeSettings { timeout: Duration::from_secs(900), ..RuntimeSettings::default() };
        self.function_with(name, settings, behaviour)
    }

    pub fn function_with(&mut self, name: &str, settings: RuntimeSettings, behaviour: Behaviour) -> FunctionId {
        let id = self.core.create_function(self.now, name, settings).expect("create function");
        self.behaviour.insert(id, behaviour);
        self.drain();
        id
    }

    pub fn config(&mut self, change: weir_core::ConfigChange) -> Result<(), weir_core::ConfigError> {
        let result = self.core.handle_config(self.now, change).map(|_| ());
        self.drain();
        result
    }

    pub fn invoke(&mut self, function: FunctionId) -> Admission {
        self.invoke_version(function, Version::Latest)
    }

    pub fn invoke_version(&mut self, function: FunctionId, version: Version) -> Admission {
        let admission = self.core.handle_invoke(self.now, InvokeRequest { function, version });
        match admission {
            Admission::Throttled(t) => *self.throttles.entry((function, t.reason)).or_default() += 1,
            Admission::HostBusy => self.host_busy += 1,
            Admission::Admitted(_) => self.admitted += 1,
            Admission::NotFound => {}
        }
        self.drain();
        admission
    }

    pub fn throttled(&self, function: FunctionId, reason: ThrottleReason) -> u64 {
        self.throttles.get(&(function, reason)).copied().unwrap_or(0)
    }

    pub fn cold_starts(&self) -> usize {
        self.effects.iter().filter(|(_, e)| matches!(e, Effect::Dispatch { init_duration: Some(_), .. })).count()
    }

    pub fn spawns(&self, init_type: InitType) -> usize {
        self.effects
            .iter()
            .filter(|(_, e)| matches!(e, Effect::SpawnEnv { init_type: t, .. } if *t == init_type))
            .count()
    }

    pub fn stops(&self, reason: StopReason) -> usize {
        self.effects.iter().filter(|(_, e)| matches!(e, Effect::StopEnv { reason: r, .. } if *r == reason)).count()
    }

    pub fn concurrency(&self, function: FunctionId) -> u32 {
        self.core.function_stats(function).unwrap().concurrent_executions
    }

    /// Runs every effect, scheduling its modelled consequence.
    fn drain(&mut self) {
        while let Some(effect) = self.core.poll_effect() {
            self.effects.push((self.now, effect));
            match effect {
                Effect::SpawnEnv { env, function, .. } => {
                    let b = self.behaviour[&function];
                    let what = if b.init_fails { Scheduled::InitFails(env) } else { Scheduled::Ready(env) };
                    self.schedule(self.now + b.init, what);
                }
                Effect::Dispatch { invocation, env, .. } => {
                    let (function, _) = self.core.env_target(env).expect("dispatch to a known environment");
                    let d = self.behaviour[&function].duration;
                    self.schedule(self.now + d, Scheduled::Finish { env, invocation });
                }
                Effect::StopEnv { env, .. } => self.schedule(self.now, Scheduled::Exit(env)),
                Effect::InvocationFailed { invocation, failure, .. } => self.failures.push((invocation, failure)),
                Effect::CapacityAvailable { .. } => {}
            }
        }
        self.core.check_invariants().unwrap_or_else(|v| panic!("invariant broken at {:?}: {v}", self.now));
        let total = self.core.account_stats().concurrent_executions;
        self.peak_total = self.peak_total.max(total);
        let ids: Vec<FunctionId> = self.core.function_ids().collect();
        for f in ids {
            let c = self.concurrency(f);
            let p = self.peak.entry(f).or_default();
            *p = (*p).max(c);
        }
    }

    fn schedule(&mut self, at: Instant, what: Scheduled) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, what)));
    }

    /// Kills an environment from outside (a crash).
    pub fn crash(&mut self, env: EnvId) {
        self.core.handle_env_event(self.now, env, EnvEvent::Exited);
        self.drain();
    }

    /// Moves the clock to `until`, delivering every modelled event and
    /// core deadline in time order.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_event = self.queue.peek().map(|Reverse((at, _, _))| *at);
            let next_timer = self.core.poll_timeout();
            let next = match (next_event, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if next_event == Some(next) {
                let Reverse((_, _, what)) = self.queue.pop().unwrap();
                let (env, event) = match what {
                    Scheduled::Ready(env) => (env, EnvEvent::Ready),
                    Scheduled::InitFails(env) => (env, EnvEvent::InitFailed),
                    Scheduled::Finish { env, invocation } => (
                        env,
                        EnvEvent::InvocationFinished {
                            invocation,
                            outcome: InvocationOutcome::Success,
                            reusable: true,
                        },
                    ),
                    Scheduled::Exit(env) => (env, EnvEvent::Exited),
                };
                self.core.handle_env_event(self.now, env, event);
            } else {
                self.core.handle_timeout(self.now);
            }
            self.drain();
        }
        self.now = self.now.max(until);
    }

    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        self.run_until(until);
    }

    /// Sends `rate` requests per second, evenly spaced, for `seconds`.
    pub fn steady_traffic(&mut self, function: FunctionId, rate: u32, seconds: u32) {
        let gap = Duration::from_nanos(1_000_000_000 / u64::from(rate));
        for _ in 0..rate * seconds {
            self.invoke(function);
            self.advance(gap);
        }
    }

    pub fn admitted_ids(admission: Admission) -> Option<InvocationId> {
        match admission {
            Admission::Admitted(id) => Some(id),
            _ => None,
        }
    }
}
