//! The discrete-event engine: drives weir-core's [`Controller`] with
//! virtual time, exactly as the node drives it with wall-clock time.
//!
//! Each step takes the earliest of: a core deadline (`poll_timeout` →
//! `handle_timeout`), a modelled event (an environment finishing init, an
//! invocation finishing, a visibility timeout, a poller wake-up), or a
//! traffic arrival (→ `handle_invoke`, or `SendMessage` to a queue). After
//! every `handle_*` call it drains `poll_effect` and plays each effect's
//! consequence forward in virtual time: `SpawnEnv` → ready after a sampled
//! init time; `Dispatch` → finished after a sampled duration plus
//! downstream latency; `StopEnv` → exited. Ties go to core deadlines, then
//! events in insertion order, then arrivals. In debug builds the core's
//! invariants are checked after every step.
//!
//! Every rule (admission, throttling, scaling, reuse, poller scaling,
//! batching, downstream latency) is weir-core's. The engine models only
//! the world around the core: traffic, durations, the SQS queue service,
//! and the passage of time.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use hdrhistogram::Histogram;
use weir_core::{
    AccountLimits, Admission, BatchDecision, BatchOutcome, ConfigChange, Controller, ControllerConfig,
    Downstream as DownstreamModel, Effect, EnvEvent, EnvId, FunctionId, HostLimits, InitType, Instant,
    InvocationFailure, InvocationId, InvocationOutcome, InvokeRequest, PollerScaler, ProvisionedState, RuntimeSettings,
    ScalingRate, ThrottleReason, Version,
};

use crate::cost::{self, Usage};
use crate::dist::SimRng;
use crate::events::{Event, EventQueue, Finish, NONE};
use crate::profile::Arrivals;
use crate::report::{
    AccountReport, Column, CostReport, DownstreamReport, FunctionReport, Latency, QueueReport, Report, Series,
};
use crate::scenario::{Scenario, ScenarioError};
use crate::sqs::{Run, SqsQueue};

const SECOND: u64 = 1_000_000_000;
/// How long provisioned concurrency may take to become READY before the
/// run gives up waiting and starts traffic anyway.
const PROVISIONING_LIMIT: Duration = Duration::from_secs(900);
/// How often (in steps) the progress callback is called.
const PROGRESS_EVERY: u64 = 1 << 16;

/// Where an admitted invocation came from.
#[derive(Clone, Copy, Debug)]
enum Origin {
    Sync { arrival: u64 },
    Batch { batch: u32, generation: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Context {
    function: u32,
    origin: Origin,
}

/// An invocation that will run past its timeout: the core fails it.
#[derive(Clone, Copy, Debug)]
struct Doomed {
    context: Context,
    downstream: u32,
    provisioned: bool,
}

struct FunctionState {
    id: FunctionId,
    version: Version,
    timeout_nanos: u64,
    rng: SimRng,
    has_provisioned: bool,
    queues: Vec<u32>,
    in_flight: u32,
    peak_in_second: u32,
    /// ∫ concurrency dt over the traffic window (concurrency × ns).
    area: u128,
    area_since: u64,
    requests: u64,
    host_busy: u64,
    downstream_refused: u64,
    throttles_in_second: u32,
    admitted_in_second: u32,
    cold_starts_before: u64,
    latency_us: Histogram<u64>,
    on_demand_billed_ms: u64,
    provisioned_billed_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchState {
    Free,
    /// Received, throttled, waiting to be retried.
    Held,
    Running,
    /// The function failed: the messages wait for their visibility timeout.
    Failed,
}

struct Batch {
    queue: u32,
    generation: u32,
    state: BatchState,
    /// The visibility timeout already returned the messages.
    expired: bool,
    runs: Vec<Run>,
}

struct QueueState {
    function: u32,
    sqs: SqsQueue,
    scaler: PollerScaler,
    running: u32,
    held: VecDeque<u32>,
    gathering_since: Option<Instant>,
    wake_at: Option<Instant>,
    /// Held batches may be retried (capacity freed or a wake-up came).
    retry_due: bool,
    batches: u64,
    batches_failed: u64,
    batch_throttles: u64,
    peak_depth: u64,
    peak_age_nanos: u64,
    peak_pollers: u32,
    latency_us: Histogram<u64>,
}

enum Target {
    Function(u32),
    Queue(u32),
}

struct Source {
    arrivals: Arrivals,
    rng: SimRng,
    target: Target,
    /// Absolute time of the next arrival, `u64::MAX` when exhausted.
    next_at: u64,
}

struct DownstreamState {
    model: DownstreamModel,
    peak_in_second: u32,
}

/// One simulation run. Build with [`Engine::new`], run with [`Engine::run`].
pub struct Engine<'a> {
    scenario: &'a Scenario,
    core: Controller,
    now: Instant,
    /// When traffic began (after provisioning).
    start: Instant,
    end: Instant,
    events: EventQueue,
    functions: Vec<FunctionState>,
    /// weir-core function index → our index.
    by_core: Vec<u32>,
    queues: Vec<QueueState>,
    batches: Vec<Batch>,
    free_batches: Vec<u32>,
    downstreams: Vec<DownstreamState>,
    sources: Vec<Source>,
    /// Admitted, not yet dispatched (cold starts, host waits).
    pending: HashMap<InvocationId, Context>,
    doomed: HashMap<InvocationId, Doomed>,
    /// Environments that are provisioned (only for functions with provisioned concurrency).
    provisioned_envs: HashMap<EnvId, ()>,
    exits: Vec<EnvId>,
    woken_functions: Vec<FunctionId>,
    dirty_queues: Vec<u32>,
    in_flight: u32,
    account_peak_in_second: u32,
    next_tick: u64,
    series: SeriesBuilder,
    windows_closed: bool,
    steps: u64,
}

#[derive(Default)]
struct SeriesBuilder {
    account: Vec<f64>,
    functions: Vec<[Vec<f64>; 4]>,
    queues: Vec<[Vec<f64>; 4]>,
    downstreams: Vec<Vec<f64>>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is valid")
}

fn ceil_ms(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000)
}

impl<'a> Engine<'a> {
    /// Sets the scenario up in a fresh core (functions, reservations,
    /// provisioned concurrency), validated by the core like Lambda's control
    /// plane would.
    pub fn new(scenario: &'a Scenario, seed: u64) -> Result<Self, ScenarioError> {
        let a = &scenario.account;
        let host = match &scenario.host {
            Some(h) => {
                HostLimits { max_environments: h.max_environments, max_waiting: h.max_waiting, max_wait: h.max_wait }
            }
            None => {
                HostLimits { max_environments: u32::MAX, max_waiting: u32::MAX, max_wait: Duration::from_secs(3_600) }
            }
        };
        let config = ControllerConfig {
            account: AccountLimits { concurrency_limit: a.concurrency_limit, minimum_unreserved: a.minimum_unreserved },
            host,
            scaling_rate: ScalingRate { environments: a.scaling_environments, window: a.scaling_window },
            idle_timeout: a.idle_timeout,
            ..ControllerConfig::default()
        };
        let mut core = Controller::new(config);
        let now = Instant::ZERO;
        let lambda = |name: &str, e: weir_core::ConfigError| ScenarioError::Invalid(format!("function {name:?}: {e}"));
        let mut functions = Vec::new();
        let mut by_core = Vec::new();
        let mut stream = 0u64;
        let mut next_stream = || {
            stream += 1;
            stream
        };
        for (index, f) in scenario.functions.iter().enumerate() {
            let settings =
                RuntimeSettings { memory_mb: f.memory_mb, timeout: f.timeout, per_environment_concurrency: 1 };
            let id = core.create_function(now, &f.name, settings).map_err(|e| lambda(&f.name, e))?;
            let slot = id.as_u32() as usize;
            if by_core.len() <= slot {
                by_core.resize(slot + 1, u32::MAX);
            }
            by_core[slot] = index as u32;
            if let Some(reserved) = f.reserved_concurrency {
                core.handle_config(now, ConfigChange::PutReservedConcurrency { function: id, reserved })
                    .map_err(|e| lambda(&f.name, e))?;
            }
            let mut version = Version::Latest;
            if let Some(count) = f.provisioned_concurrency {
                // Provisioned concurrency lives on a published version behind
                // an alias; traffic goes to the alias.
                let changes = [
                    ConfigChange::PublishVersion { function: id, version: 1 },
                    ConfigChange::PutAlias { function: id, name: "live".into(), version: Version::Published(1) },
                    ConfigChange::PutProvisionedConcurrency { function: id, qualifier: "live".into(), count },
                ];
                for change in changes {
                    core.handle_config(now, change).map_err(|e| lambda(&f.name, e))?;
                }
                version = Version::Published(1);
            }
            functions.push(FunctionState {
                id,
                version,
                timeout_nanos: f.timeout.as_nanos() as u64,
                rng: SimRng::new(seed, next_stream()),
                has_provisioned: f.provisioned_concurrency.is_some(),
                queues: Vec::new(),
                in_flight: 0,
                peak_in_second: 0,
                area: 0,
                area_since: 0,
                requests: 0,
                host_busy: 0,
                downstream_refused: 0,
                throttles_in_second: 0,
                admitted_in_second: 0,
                cold_starts_before: 0,
                latency_us: histogram(),
                on_demand_billed_ms: 0,
                provisioned_billed_ms: 0,
            });
        }
        let mut queues = Vec::new();
        for (index, q) in scenario.queues.iter().enumerate() {
            functions[q.function].queues.push(index as u32);
            queues.push(QueueState {
                function: q.function as u32,
                sqs: SqsQueue::default(),
                scaler: PollerScaler::new(q.scaling, now),
                running: 0,
                held: VecDeque::new(),
                gathering_since: None,
                wake_at: None,
                retry_due: false,
                batches: 0,
                batches_failed: 0,
                batch_throttles: 0,
                peak_depth: 0,
                peak_age_nanos: 0,
                peak_pollers: 0,
                latency_us: histogram(),
            });
        }
        let downstreams = scenario
            .downstreams
            .iter()
            .map(|d| {
                DownstreamModel::new(d.config)
                    .map(|model| DownstreamState { model, peak_in_second: 0 })
                    .map_err(|e| ScenarioError::Invalid(format!("downstream {:?}: {e}", d.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut sources = Vec::new();
        for (index, f) in scenario.functions.iter().enumerate() {
            if let Some(t) = &f.traffic {
                sources.push(Source {
                    arrivals: Arrivals::new(t.rate.clone(), t.multiplier, t.arrivals),
                    rng: SimRng::new(seed, next_stream()),
                    target: Target::Function(index as u32),
                    next_at: u64::MAX,
                });
            }
        }
        for (index, q) in scenario.queues.iter().enumerate() {
            sources.push(Source {
                arrivals: Arrivals::new(q.producer.rate.clone(), q.producer.multiplier, q.producer.arrivals),
                rng: SimRng::new(seed, next_stream()),
                target: Target::Queue(index as u32),
                next_at: u64::MAX,
            });
        }
        let mut engine = Engine {
            scenario,
            core,
            now,
            start: now,
            end: now,
            events: EventQueue::default(),
            functions,
            by_core,
            queues,
            batches: Vec::new(),
            free_batches: Vec::new(),
            downstreams,
            sources,
            pending: HashMap::new(),
            doomed: HashMap::new(),
            provisioned_envs: HashMap::new(),
            exits: Vec::new(),
            woken_functions: Vec::new(),
            dirty_queues: Vec::new(),
            in_flight: 0,
            account_peak_in_second: 0,
            next_tick: u64::MAX,
            series: SeriesBuilder::default(),
            windows_closed: false,
            steps: 0,
        };
        engine.drain(None);
        Ok(engine)
    }

    /// Runs the scenario to the end of its traffic and until every
    /// invocation has finished; `progress` gets the fraction of traffic
    /// time simulated, now and then.
    pub fn run(mut self, progress: &mut dyn FnMut(f64)) -> Report {
        let provisioning = self.provision();
        self.start = self.now;
        self.end = self.start + self.scenario.duration;
        self.next_tick = self.start.as_nanos() + SECOND;
        for f in &mut self.functions {
            f.area_since = self.start.as_nanos();
        }
        self.series.functions = (0..self.functions.len()).map(|_| Default::default()).collect();
        self.series.queues = (0..self.queues.len()).map(|_| Default::default()).collect();
        self.series.downstreams = vec![Vec::new(); self.downstreams.len()];
        for index in 0..self.sources.len() {
            self.advance_source(index);
        }
        for (index, q) in self.scenario.queues.iter().enumerate() {
            if q.initial_messages > 0 {
                let mut left = q.initial_messages;
                while left > 0 {
                    let n = left.min(u64::from(u32::MAX)) as u32;
                    self.queues[index].sqs.send(self.start, n);
                    left -= u64::from(n);
                }
                self.note_depth(index as u32);
                self.dirty_queues.push(index as u32);
            }
        }
        self.settle();

        loop {
            let source = self.next_source();
            let source_at = source.map_or(u64::MAX, |i| self.sources[i].next_at);
            let event_at = self.events.peek_time().unwrap_or(u64::MAX);
            let timer_at = self.core.poll_timeout().map_or(u64::MAX, Instant::as_nanos);
            let at = source_at.min(event_at).min(timer_at);
            let traffic_over = source_at == u64::MAX;
            if traffic_over && self.in_flight == 0 && (self.now >= self.end || at > self.end.as_nanos()) {
                break;
            }
            if at == u64::MAX {
                break;
            }
            self.close_windows_before(at);
            self.emit_ticks_through(at);
            self.now = Instant::from_nanos(at.max(self.now.as_nanos()));
            if timer_at == at {
                self.core.handle_timeout(self.now);
                self.drain(None);
            } else if event_at == at {
                let (_, event) = self.events.pop().expect("peeked");
                self.handle_event(event);
            } else {
                let index = source.expect("an arrival is due");
                self.arrive(index);
            }
            self.settle();
            self.steps += 1;
            if self.steps.is_multiple_of(PROGRESS_EVERY) {
                let done = self.now.saturating_since(self.start).as_secs_f64() / self.scenario.duration.as_secs_f64();
                progress(done.min(1.0));
            }
        }
        let final_at = self.now.as_nanos().max(self.end.as_nanos());
        self.close_windows_before(final_at + 1);
        // Every second up to the last event, the last partial one included.
        let seconds = (final_at - self.start.as_nanos()).div_ceil(SECOND).max(1);
        self.emit_ticks_through(self.start.as_nanos() + seconds * SECOND);
        progress(1.0);
        self.report(provisioning)
    }

    // ---- setup -------------------------------------------------------------

    /// Runs virtual time until every provisioned concurrency configuration
    /// is READY (traffic starts then, as operators wait for READY).
    fn provision(&mut self) -> Duration {
        let limit = self.now + PROVISIONING_LIMIT;
        while !self.provisioned_ready() {
            let event_at = self.events.peek_time().unwrap_or(u64::MAX);
            let timer_at = self.core.poll_timeout().map_or(u64::MAX, Instant::as_nanos);
            let at = event_at.min(timer_at);
            if at == u64::MAX || at > limit.as_nanos() {
                break;
            }
            self.now = Instant::from_nanos(at);
            if timer_at == at {
                self.core.handle_timeout(self.now);
                self.drain(None);
            } else {
                let (_, event) = self.events.pop().expect("peeked");
                self.handle_event(event);
            }
            self.settle();
        }
        self.now.saturating_since(Instant::ZERO)
    }

    fn provisioned_ready(&self) -> bool {
        self.functions.iter().filter(|f| f.has_provisioned).all(|f| {
            self.core.provisioned_status(f.id, "live").is_some_and(|s| s.state != ProvisionedState::InProgress)
        })
    }

    // ---- the core's effects ------------------------------------------------

    /// Drains every effect after a `handle_*` call. `current` is the
    /// invocation just admitted, whose dispatch may be among the effects.
    fn drain(&mut self, mut current: Option<(InvocationId, Context)>) {
        loop {
            while let Some(effect) = self.core.poll_effect() {
                match effect {
                    Effect::SpawnEnv { env, function, init_type, .. } => {
                        let index = self.by_core[function.as_u32() as usize] as usize;
                        let f = &mut self.functions[index];
                        let init = self.scenario.functions[index].init.sample(&mut f.rng);
                        if f.has_provisioned && init_type == InitType::ProvisionedConcurrency {
                            self.provisioned_envs.insert(env, ());
                        }
                        if init_type == InitType::OnDemand {
                            // AWS bills INIT of on-demand environments (since 2025-08-01).
                            f.on_demand_billed_ms += ceil_ms(init);
                        }
                        self.events.push(self.now.as_nanos() + init, Event::Ready(env));
                    }
                    Effect::Dispatch { invocation, env, .. } => {
                        let context = match current {
                            Some((id, context)) if id == invocation => {
                                current = None;
                                context
                            }
                            _ => self.pending.remove(&invocation).expect("a dispatched invocation was admitted"),
                        };
                        self.start_running(invocation, env, context);
                    }
                    Effect::StopEnv { env, .. } => self.exits.push(env),
                    Effect::InvocationFailed { invocation, failure, .. } => self.invocation_failed(invocation, failure),
                    Effect::CapacityAvailable { function } => self.woken_functions.push(function),
                }
            }
            if self.exits.is_empty() {
                break;
            }
            let exits = std::mem::take(&mut self.exits);
            for &env in &exits {
                self.provisioned_envs.remove(&env);
                self.core.handle_env_event(self.now, env, EnvEvent::Exited);
            }
            self.exits = exits;
            self.exits.clear();
        }
        if let Some((id, context)) = current {
            self.pending.insert(id, context);
        }
        #[cfg(debug_assertions)]
        if let Err(violation) = self.core.check_invariants() {
            panic!("weir-core invariant broken at {:?} (seed {}): {violation}", self.now, self.scenario.seed);
        }
    }

    fn start_running(&mut self, invocation: InvocationId, env: EnvId, context: Context) {
        let index = context.function as usize;
        let spec = &self.scenario.functions[index];
        let f = &mut self.functions[index];
        let mut nanos = spec.duration.sample(&mut f.rng);
        let mut error = f.rng.chance(spec.error_probability);
        if let Origin::Batch { batch, .. } = context.origin {
            // The queue's failure probability: the whole batch fails.
            let queue = self.batches[batch as usize].queue as usize;
            error |= f.rng.chance(self.scenario.queues[queue].failure_probability);
        }
        let mut downstream = NONE;
        if let Some(d) = spec.downstream {
            let percent = self.scenario.downstreams[d].slowdown_percent(self.now.saturating_since(self.start));
            let state = &mut self.downstreams[d];
            match state.model.acquire(percent) {
                Ok(latency) => {
                    nanos += latency.as_nanos() as u64 * u64::from(spec.downstream_calls);
                    downstream = d as u32;
                    state.peak_in_second = state.peak_in_second.max(state.model.in_use());
                }
                Err(_) => {
                    error = true;
                    f.downstream_refused += 1;
                }
            }
        }
        let provisioned = f.has_provisioned && self.provisioned_envs.contains_key(&env);
        if nanos >= f.timeout_nanos {
            self.doomed.insert(invocation, Doomed { context, downstream, provisioned });
            return;
        }
        let finish_at = self.now.as_nanos() + nanos;
        if provisioned {
            f.provisioned_billed_ms += ceil_ms(nanos);
        } else {
            f.on_demand_billed_ms += ceil_ms(nanos);
        }
        let (batch, batch_generation) = match context.origin {
            Origin::Sync { arrival } => {
                let _ = f.latency_us.record((finish_at - arrival) / 1_000);
                (NONE, 0)
            }
            Origin::Batch { batch, generation } => (batch, generation),
        };
        self.events.push(
            finish_at,
            Event::Finish(Finish {
                invocation,
                env,
                function: context.function,
                batch,
                batch_generation,
                downstream,
                error,
            }),
        );
    }

    fn invocation_failed(&mut self, invocation: InvocationId, _failure: InvocationFailure) {
        let (context, downstream) = if let Some(doomed) = self.doomed.remove(&invocation) {
            // It ran into its timeout: billed for the whole timeout.
            let f = &mut self.functions[doomed.context.function as usize];
            let billed = ceil_ms(f.timeout_nanos);
            if doomed.provisioned {
                f.provisioned_billed_ms += billed;
            } else {
                f.on_demand_billed_ms += billed;
            }
            (doomed.context, doomed.downstream)
        } else if let Some(context) = self.pending.remove(&invocation) {
            (context, NONE)
        } else {
            return; // not ours to track (cannot happen: every admission is recorded)
        };
        if downstream != NONE {
            self.downstreams[downstream as usize].model.release();
        }
        self.leave(context.function);
        match context.origin {
            Origin::Sync { arrival } => {
                let f = &mut self.functions[context.function as usize];
                let _ = f.latency_us.record((self.now.as_nanos() - arrival) / 1_000);
            }
            Origin::Batch { batch, generation } => self.batch_finished(batch, generation, false),
        }
    }

    // ---- concurrency bookkeeping (observation only) ----------------------------

    fn enter(&mut self, function: u32) {
        let now = self.now.as_nanos();
        let f = &mut self.functions[function as usize];
        if !self.windows_closed {
            f.area += u128::from(f.in_flight) * u128::from(now.saturating_sub(f.area_since));
            f.area_since = f.area_since.max(now);
        }
        f.in_flight += 1;
        f.peak_in_second = f.peak_in_second.max(f.in_flight);
        f.admitted_in_second += 1;
        self.in_flight += 1;
        self.account_peak_in_second = self.account_peak_in_second.max(self.in_flight);
    }

    fn leave(&mut self, function: u32) {
        let now = self.now.as_nanos();
        let f = &mut self.functions[function as usize];
        if !self.windows_closed {
            f.area += u128::from(f.in_flight) * u128::from(now.saturating_sub(f.area_since));
            f.area_since = f.area_since.max(now);
        }
        f.in_flight -= 1;
        self.in_flight -= 1;
    }

    /// Stops accumulating the time-weighted concurrency at the end of the
    /// traffic window.
    fn close_windows_before(&mut self, at: u64) {
        if self.windows_closed || at <= self.end.as_nanos() || self.next_tick == u64::MAX {
            return;
        }
        let end = self.end.as_nanos();
        for f in &mut self.functions {
            f.area += u128::from(f.in_flight) * u128::from(end.saturating_sub(f.area_since));
            f.area_since = end;
        }
        self.windows_closed = true;
    }

    // ---- modelled events -------------------------------------------------------

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Ready(env) => {
                self.core.handle_env_event(self.now, env, EnvEvent::Ready);
                self.drain(None);
            }
            Event::Finish(finish) => {
                let outcome = if finish.error { InvocationOutcome::FunctionError } else { InvocationOutcome::Success };
                self.core.handle_env_event(
                    self.now,
                    finish.env,
                    EnvEvent::InvocationFinished { invocation: finish.invocation, outcome, reusable: true },
                );
                self.drain(None);
                if finish.downstream != NONE {
                    self.downstreams[finish.downstream as usize].model.release();
                }
                self.leave(finish.function);
                if finish.batch != NONE {
                    self.batch_finished(finish.batch, finish.batch_generation, !finish.error);
                }
            }
            Event::VisibilityExpired { batch, generation } => self.visibility_expired(batch, generation),
            Event::PollerWake { queue } => {
                let q = &mut self.queues[queue as usize];
                if q.wake_at == Some(self.now) {
                    q.wake_at = None;
                    q.retry_due = true;
                    self.dirty_queues.push(queue);
                }
            }
        }
    }

    // ---- traffic -----------------------------------------------------------------

    fn next_source(&self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (index, s) in self.sources.iter().enumerate() {
            if s.next_at != u64::MAX && best.is_none_or(|b| s.next_at < self.sources[b].next_at) {
                best = Some(index);
            }
        }
        best
    }

    fn advance_source(&mut self, index: usize) {
        let duration = self.scenario.duration.as_secs_f64();
        let start = self.start.as_nanos();
        let s = &mut self.sources[index];
        s.next_at = match s.arrivals.next(duration, &mut s.rng) {
            Some(t) => start + (t * 1e9 + 0.5) as u64,
            None => u64::MAX,
        };
    }

    fn arrive(&mut self, index: usize) {
        match self.sources[index].target {
            Target::Function(function) => self.invoke_sync(function),
            Target::Queue(queue) => {
                self.queues[queue as usize].sqs.send(self.now, 1);
                self.note_depth(queue);
                self.dirty_queues.push(queue);
            }
        }
        self.advance_source(index);
    }

    fn invoke_sync(&mut self, function: u32) {
        let f = &mut self.functions[function as usize];
        f.requests += 1;
        let request = InvokeRequest { function: f.id, version: f.version };
        match self.core.handle_invoke(self.now, request) {
            Admission::Admitted(invocation) => {
                self.enter(function);
                let context = Context { function, origin: Origin::Sync { arrival: self.now.as_nanos() } };
                self.drain(Some((invocation, context)));
            }
            Admission::Throttled(_) => {
                self.functions[function as usize].throttles_in_second += 1;
                self.drain(None);
            }
            Admission::HostBusy => {
                self.functions[function as usize].host_busy += 1;
                self.drain(None);
            }
            Admission::NotFound => unreachable!("scenario functions are never deleted"),
        }
    }

    // ---- SQS event source mappings ---------------------------------------------

    /// Handles work that effects asked for, outside the effect drain:
    /// capacity notifications and pollers whose queue changed. Called after
    /// every step and usually with nothing to do, so that check is inlined
    /// and the work is not.
    #[inline]
    fn settle(&mut self) {
        if !self.woken_functions.is_empty() || !self.dirty_queues.is_empty() {
            self.settle_work();
        }
    }

    #[inline(never)]
    fn settle_work(&mut self) {
        while !self.woken_functions.is_empty() || !self.dirty_queues.is_empty() {
            for function in std::mem::take(&mut self.woken_functions) {
                let index = self.by_core[function.as_u32() as usize] as usize;
                for k in 0..self.functions[index].queues.len() {
                    let queue = self.functions[index].queues[k];
                    self.queues[queue as usize].retry_due = true;
                    self.dirty_queues.push(queue);
                }
            }
            let mut dirty = std::mem::take(&mut self.dirty_queues);
            dirty.sort_unstable();
            dirty.dedup();
            for &queue in &dirty {
                self.pump(queue);
            }
            if self.dirty_queues.is_empty() {
                dirty.clear();
                self.dirty_queues = dirty; // keep the allocation
            }
        }
    }

    fn note_depth(&mut self, queue: u32) {
        let q = &mut self.queues[queue as usize];
        q.peak_depth = q.peak_depth.max(q.sqs.visible() + q.sqs.in_flight());
    }

    fn schedule_wake(&mut self, queue: u32, at: Instant) {
        let q = &mut self.queues[queue as usize];
        if q.wake_at.is_none_or(|w| at < w) {
            q.wake_at = Some(at);
            self.events.push(at.as_nanos(), Event::PollerWake { queue });
        }
    }

    /// Lets the mapping's pollers do what weir-core's scaler and batching
    /// rules allow: retry throttled batches, then receive new ones.
    fn pump(&mut self, queue: u32) {
        if self.now >= self.end && self.next_tick != u64::MAX {
            return; // traffic is over: pollers stop
        }
        let scenario = self.scenario;
        let spec = &scenario.queues[queue as usize];
        let limit = self.queues[queue as usize].scaler.limit_at(self.now);
        // Throttled batches first, oldest first, when their retry is due
        // (capacity freed or the throttle's retry-after passed).
        if std::mem::take(&mut self.queues[queue as usize].retry_due) {
            while let Some(&batch) = self.queues[queue as usize].held.front() {
                self.queues[queue as usize].held.pop_front();
                if !self.invoke_batch(queue, batch) {
                    self.queues[queue as usize].held.push_front(batch);
                    break;
                }
            }
        }
        loop {
            let q = &mut self.queues[queue as usize];
            let limit = limit.min(q.scaler.limit());
            if q.running + q.held.len() as u32 >= limit || !q.held.is_empty() {
                break;
            }
            match spec.batching.decide(self.now, q.sqs.visible(), q.gathering_since) {
                BatchDecision::Empty => {
                    q.gathering_since = None;
                    break;
                }
                BatchDecision::WaitUntil(at) => {
                    q.gathering_since.get_or_insert(self.now);
                    self.schedule_wake(queue, at);
                    break;
                }
                BatchDecision::Send(count) => {
                    q.gathering_since = None;
                    let batch = self.new_batch(queue);
                    let q = &mut self.queues[queue as usize];
                    let runs = &mut self.batches[batch as usize].runs;
                    if q.sqs.receive(count, spec.max_receive_count, runs) == 0 {
                        self.free_batch(batch); // all of them went to the dead-letter queue
                        continue;
                    }
                    q.batches += 1;
                    let generation = self.batches[batch as usize].generation;
                    self.events.push(
                        (self.now + spec.visibility_timeout).as_nanos(),
                        Event::VisibilityExpired { batch, generation },
                    );
                    if !self.invoke_batch(queue, batch) {
                        self.queues[queue as usize].held.push_back(batch);
                        break;
                    }
                }
            }
        }
        let q = &mut self.queues[queue as usize];
        let saturated = q.sqs.visible() > 0 && q.running + q.held.len() as u32 >= q.scaler.limit();
        q.scaler.observe(self.now, saturated);
        q.peak_pollers = q.peak_pollers.max(q.scaler.limit());
        if saturated && let Some(at) = q.scaler.next_growth() {
            self.schedule_wake(queue, at);
        }
    }

    /// Invokes the function with a batch; false when throttled (the batch
    /// is then held and retried when capacity frees or the throttle's
    /// retry-after passes).
    fn invoke_batch(&mut self, queue: u32, batch: u32) -> bool {
        let function = self.queues[queue as usize].function;
        let f = &self.functions[function as usize];
        let request = InvokeRequest { function: f.id, version: f.version };
        let generation = self.batches[batch as usize].generation;
        match self.core.handle_invoke(self.now, request) {
            Admission::Admitted(invocation) => {
                self.enter(function);
                self.queues[queue as usize].running += 1;
                self.batches[batch as usize].state = BatchState::Running;
                let context = Context { function, origin: Origin::Batch { batch, generation } };
                self.drain(Some((invocation, context)));
                true
            }
            Admission::Throttled(throttle) => {
                self.batch_held(queue, batch, function, throttle.retry_after);
                false
            }
            Admission::HostBusy => {
                self.functions[function as usize].host_busy += 1;
                self.batch_held(queue, batch, function, Duration::from_secs(1));
                false
            }
            Admission::NotFound => unreachable!("scenario functions are never deleted"),
        }
    }

    fn batch_held(&mut self, queue: u32, batch: u32, function: u32, retry_after: Duration) {
        self.drain(None);
        self.batches[batch as usize].state = BatchState::Held;
        let q = &mut self.queues[queue as usize];
        q.batch_throttles += 1;
        q.scaler.record(self.now, BatchOutcome::Throttled);
        self.functions[function as usize].throttles_in_second += 1;
        let id = self.functions[function as usize].id;
        self.core.watch_capacity(id);
        self.schedule_wake(queue, self.now + retry_after);
    }

    fn new_batch(&mut self, queue: u32) -> u32 {
        if let Some(index) = self.free_batches.pop() {
            let b = &mut self.batches[index as usize];
            b.queue = queue;
            b.state = BatchState::Held;
            b.expired = false;
            return index;
        }
        self.batches.push(Batch { queue, generation: 0, state: BatchState::Held, expired: false, runs: Vec::new() });
        (self.batches.len() - 1) as u32
    }

    fn free_batch(&mut self, batch: u32) {
        let b = &mut self.batches[batch as usize];
        b.state = BatchState::Free;
        b.generation = b.generation.wrapping_add(1);
        b.runs.clear();
        self.free_batches.push(batch);
    }

    fn batch_finished(&mut self, batch: u32, generation: u32, success: bool) {
        let b = &self.batches[batch as usize];
        if b.generation != generation || b.state != BatchState::Running {
            return;
        }
        let queue = b.queue;
        let q = &mut self.queues[queue as usize];
        q.running -= 1;
        let outcome = if success { BatchOutcome::Success } else { BatchOutcome::FunctionError };
        q.scaler.record(self.now, outcome);
        if b.expired {
            // Its messages are already back in the queue (a stale receipt).
            self.free_batch(batch);
        } else if success {
            q.sqs.delete(&b.runs);
            for run in &b.runs {
                let age = self.now.saturating_since(run.sent_at).as_micros() as u64;
                let _ = q.latency_us.record_n(age, u64::from(run.count));
            }
            self.free_batch(batch);
        } else {
            q.batches_failed += 1;
            self.batches[batch as usize].state = BatchState::Failed;
        }
        self.dirty_queues.push(queue);
    }

    fn visibility_expired(&mut self, batch: u32, generation: u32) {
        let b = &mut self.batches[batch as usize];
        if b.generation != generation || b.expired {
            return;
        }
        let queue = b.queue;
        let q = &mut self.queues[queue as usize];
        q.sqs.return_batch(&b.runs);
        match b.state {
            BatchState::Free => unreachable!("generation checked"),
            BatchState::Running => b.expired = true,
            BatchState::Held => {
                q.held.retain(|&h| h != batch);
                self.free_batch(batch);
            }
            BatchState::Failed => self.free_batch(batch),
        }
        self.dirty_queues.push(queue);
    }

    // ---- per-second series -------------------------------------------------------

    /// Closes every second that ends at or before `at`. Called every step,
    /// a second ends about once per 10,000 of them at 10,000 rps: the check
    /// is inlined, the work is not.
    #[inline]
    fn emit_ticks_through(&mut self, at: u64) {
        while self.next_tick <= at {
            self.tick();
            self.next_tick += SECOND;
        }
    }

    #[inline(never)]
    fn tick(&mut self) {
        let tick = Instant::from_nanos(self.next_tick);
        self.series.account.push(f64::from(self.account_peak_in_second));
        self.account_peak_in_second = self.in_flight;
        for (index, f) in self.functions.iter_mut().enumerate() {
            let cold_starts = self.core.function_stats(f.id).map_or(0, |s| s.cold_starts);
            let columns = &mut self.series.functions[index];
            columns[0].push(f64::from(f.peak_in_second));
            columns[1].push(f64::from(f.throttles_in_second));
            columns[2].push(f64::from(f.admitted_in_second));
            columns[3].push((cold_starts - f.cold_starts_before) as f64);
            f.cold_starts_before = cold_starts;
            f.peak_in_second = f.in_flight;
            f.throttles_in_second = 0;
            f.admitted_in_second = 0;
            #[cfg(debug_assertions)]
            {
                let core = self.core.function_stats(f.id).map_or(0, |s| s.concurrent_executions);
                assert_eq!(core, f.in_flight, "the engine's concurrency count follows the core's");
            }
        }
        for (index, q) in self.queues.iter_mut().enumerate() {
            let age = q.sqs.oldest_age_nanos(tick);
            q.peak_age_nanos = q.peak_age_nanos.max(age);
            let columns = &mut self.series.queues[index];
            columns[0].push(q.sqs.visible() as f64);
            columns[1].push(q.sqs.in_flight() as f64);
            columns[2].push(age as f64 / 1e9);
            columns[3].push(f64::from(q.scaler.limit()));
        }
        for (index, d) in self.downstreams.iter_mut().enumerate() {
            self.series.downstreams[index].push(f64::from(d.peak_in_second));
            d.peak_in_second = d.model.in_use();
        }
    }

    // ---- the report --------------------------------------------------------------

    fn report(self, provisioning: Duration) -> Report {
        let scenario = self.scenario;
        let traffic_s = scenario.duration.as_secs_f64();
        let drained_s = self.now.saturating_since(self.start).as_secs_f64().max(traffic_s);
        let account = self.core.account_stats();
        let mut total_cost = cost::Cost::default();
        let mut functions = Vec::new();
        let mut environments_started = 0;
        for (index, f) in self.functions.iter().enumerate() {
            let spec = &scenario.functions[index];
            let stats = self.core.function_stats(f.id).expect("scenario functions exist");
            environments_started += stats.environments_started;
            let throttles = ThrottleReason::ALL
                .iter()
                .map(|&reason| (reason.as_str().to_owned(), stats.throttles_for(reason)))
                .collect();
            let usage = Usage {
                requests: stats.invocations,
                on_demand_billed_ms: f.on_demand_billed_ms,
                provisioned_billed_ms: f.provisioned_billed_ms,
                memory_mb: spec.memory_mb,
                architecture: spec.architecture,
                provisioned_concurrency: spec.provisioned_concurrency.unwrap_or(0),
                provisioned_seconds: provisioning.as_secs_f64() + drained_s,
            };
            let cost = cost::estimate(&usage);
            total_cost.add(&cost);
            // Own work plus the downstream calls at the downstream's base latency.
            let downstream_s = spec.downstream.map_or(0.0, |d| {
                scenario.downstreams[d].config.base_latency.as_secs_f64() * f64::from(spec.downstream_calls)
            });
            let mean_duration_s = spec.duration.mean_nanos() / 1e9 + downstream_s;
            let peak_rate = match &spec.traffic {
                Some(t) => t.rate.peak(traffic_s) * t.multiplier,
                None => 0.0,
            } + scenario
                .queues
                .iter()
                .filter(|q| q.function == index)
                .map(|q| q.producer.rate.peak(traffic_s) * q.producer.multiplier / f64::from(q.batching.batch_size()))
                .sum::<f64>();
            functions.push(FunctionReport {
                name: spec.name.clone(),
                memory_mb: spec.memory_mb,
                architecture: spec.architecture,
                timeout_s: spec.timeout.as_secs_f64(),
                reserved_concurrency: spec.reserved_concurrency,
                provisioned_concurrency: spec.provisioned_concurrency,
                requests: f.requests,
                invocations: stats.invocations,
                errors: stats.errors,
                timeouts: stats.timeouts,
                throttles,
                throttles_total: stats.throttles_total(),
                host_busy: f.host_busy,
                cold_starts: stats.cold_starts,
                environments_started: stats.environments_started,
                provisioned_invocations: stats.provisioned_invocations,
                spillover_invocations: stats.spillover_invocations,
                peak_concurrency: stats.peak_concurrent_executions,
                mean_concurrency: round3(f.area as f64 / scenario.duration.as_nanos() as f64),
                arithmetic_concurrency: round3(peak_rate * mean_duration_s),
                latency_ms: latency(&f.latency_us),
                downstream_refused: f.downstream_refused,
                billed_gb_seconds: round3(
                    (f.on_demand_billed_ms + f.provisioned_billed_ms) as f64 / 1e3 * f64::from(spec.memory_mb) / 1024.0,
                ),
                cost_usd: round6(cost.total_usd),
            });
        }
        let queues = self
            .queues
            .iter()
            .enumerate()
            .map(|(index, q)| {
                let spec = &scenario.queues[index];
                QueueReport {
                    name: spec.name.clone(),
                    function: scenario.functions[spec.function].name.clone(),
                    messages_sent: q.sqs.sent,
                    messages_processed: q.sqs.deleted,
                    messages_dead_lettered: q.sqs.dead_lettered,
                    messages_returned: q.sqs.returned,
                    receives: q.sqs.received,
                    batches: q.batches,
                    batches_failed: q.batches_failed,
                    batch_throttles: q.batch_throttles,
                    peak_depth: q.peak_depth,
                    final_depth: q.sqs.visible() + q.sqs.in_flight(),
                    peak_oldest_age_s: round3(q.peak_age_nanos as f64 / 1e9),
                    final_oldest_age_s: round3(q.sqs.oldest_age_nanos(self.now) as f64 / 1e9),
                    peak_poller_concurrency: q.peak_pollers,
                    message_latency_ms: latency(&q.latency_us),
                }
            })
            .collect();
        let downstreams = self
            .downstreams
            .iter()
            .enumerate()
            .map(|(index, d)| DownstreamReport {
                name: scenario.downstreams[index].name.clone(),
                max_connections: d.model.config().max_connections,
                peak_connections: d.model.peak_in_use(),
                calls: d.model.calls(),
                refused: d.model.refused(),
            })
            .collect();
        let series = self.series.finish(scenario, &account);
        let month_factor = 730.0 * 3_600.0 / traffic_s;
        Report {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            simulated_seconds: round3(traffic_s),
            drained_seconds: round3(drained_s),
            provisioning_seconds: round3(provisioning.as_secs_f64()),
            functions,
            queues,
            downstreams,
            account: AccountReport {
                concurrency_limit: account.concurrency_limit,
                unreserved_limit: account.unreserved_limit,
                peak_concurrency: account.peak_concurrent_executions,
                environments_started,
                host_wait_expirations: account.host_wait_expirations,
            },
            cost: CostReport {
                region: cost::PRICES_REGION.to_owned(),
                prices_as_of: cost::PRICES_AS_OF.to_owned(),
                per_month_usd: round6(total_cost.total_usd * month_factor),
                total: cost::Cost {
                    requests_usd: round6(total_cost.requests_usd),
                    duration_usd: round6(total_cost.duration_usd),
                    provisioned_usd: round6(total_cost.provisioned_usd),
                    total_usd: round6(total_cost.total_usd),
                },
                not_included: "free tier, volume tiers, ephemeral storage, data transfer".to_owned(),
            },
            series,
        }
    }
}

impl SeriesBuilder {
    fn finish(self, scenario: &Scenario, account: &weir_core::AccountStats) -> Series {
        let mut columns = vec![Column { name: "account.concurrency".into(), values: self.account }];
        let names = ["concurrency", "throttles", "admitted", "cold_starts"];
        for (index, cols) in self.functions.into_iter().enumerate() {
            for (k, values) in cols.into_iter().enumerate() {
                columns.push(Column { name: format!("{}.{}", scenario.functions[index].name, names[k]), values });
            }
        }
        let names = ["visible", "in_flight", "oldest_age_s", "pollers"];
        for (index, cols) in self.queues.into_iter().enumerate() {
            for (k, values) in cols.into_iter().enumerate() {
                columns.push(Column { name: format!("{}.{}", scenario.queues[index].name, names[k]), values });
            }
        }
        for (index, values) in self.downstreams.into_iter().enumerate() {
            columns.push(Column { name: format!("{}.connections", scenario.downstreams[index].name), values });
        }
        let mut limits = vec![("account limit".to_owned(), f64::from(account.concurrency_limit))];
        if account.unreserved_limit != account.concurrency_limit {
            limits.push(("unreserved pool".to_owned(), f64::from(account.unreserved_limit)));
        }
        for f in &scenario.functions {
            if let Some(r) = f.reserved_concurrency {
                limits.push((format!("{} reserved", f.name), f64::from(r)));
            }
            if let Some(p) = f.provisioned_concurrency {
                limits.push((format!("{} provisioned", f.name), f64::from(p)));
            }
        }
        Series { columns, concurrency_limits: limits }
    }
}

fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let ms = |us: u64| round3(us as f64 / 1e3);
    Latency {
        count: h.len(),
        mean: round3(h.mean() / 1e3),
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
