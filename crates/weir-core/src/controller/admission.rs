//! Admission: the one answer each invocation request gets.
//!
//! In order: the emergency brake (reserved 0); a warm provisioned
//! environment of the version; on-demand capacity (the function's
//! reservation, or the account's unreserved pool); a warm on-demand
//! environment (most recently used first); otherwise a cold start, which
//! needs the function's scaling rate and a host slot (or a place in the
//! bounded host wait line).

use std::time::Duration;

use super::Controller;
use crate::api::{Admission, InitType, InvokeRequest};
use crate::ids::{FunctionId, InvocationId};
use crate::model::{Invocation, InvocationState};
use crate::throttle::{Throttle, ThrottleReason};
use crate::time::Instant;
use crate::timers::Timer;

/// `Retry-After` for concurrency throttles: capacity frees as soon as any
/// running invocation finishes, so ask the caller to come back soon.
const CONCURRENCY_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Controller {
    /// Decides whether an invocation runs now, after a cold start, after a
    /// host slot frees, or is throttled.
    pub fn handle_invoke(&mut self, now: Instant, request: InvokeRequest) -> Admission {
        let admission = self.admit(now, request);
        self.after_input(now);
        admission
    }

    fn admit(&mut self, now: Instant, request: InvokeRequest) -> Admission {
        let function_id = request.function;
        let unreserved_limit = self.unreserved_limit();
        let Some(function) = self.functions.get_mut(function_id.index()).filter(|f| !f.deleted) else {
            return Admission::NotFound;
        };
        let Some(pool_index) = function.pool_index(request.version) else {
            return Admission::NotFound;
        };
        if function.reserved == Some(0) {
            return self.throttle(
                function_id,
                ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded,
                CONCURRENCY_RETRY_AFTER,
            );
        }

        // A provisioned environment of this version is the first choice.
        let pool = &function.pools[pool_index];
        if let Some(&env) = pool.provisioned_available.last() {
            function.busy_provisioned += 1;
            function.counters.provisioned_invocations += 1;
            let invocation = self.new_invocation(function_id, request, InvocationState::Running(env), true);
            self.take_slot(function_id);
            self.dispatch(now, invocation, env, None);
            return Admission::Admitted(invocation);
        }

        // On-demand capacity: the function's own reservation, or the pool
        // shared by every function without one.
        match function.on_demand_reserved_cap() {
            Some(cap) if function.busy_on_demand >= cap => {
                return self.throttle(
                    function_id,
                    ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded,
                    CONCURRENCY_RETRY_AFTER,
                );
            }
            None if self.unreserved_busy >= unreserved_limit => {
                return self.throttle(
                    function_id,
                    ThrottleReason::ConcurrentInvocationLimitExceeded,
                    CONCURRENCY_RETRY_AFTER,
                );
            }
            _ => {}
        }
        let spillover = pool.provisioned_target > 0;

        // A warm on-demand environment: the most recently used one.
        if let Some(&env) = pool.available.last() {
            let invocation = self.admit_on_demand(function_id, request, InvocationState::Running(env), spillover);
            self.dispatch(now, invocation, env, None);
            return Admission::Admitted(invocation);
        }

        // A cold start: the scaling rate, then the host. A host waiter takes
        // its scaling grant when its environment really starts.
        let rate = self.config.scaling_rate;
        let function = &mut self.functions[function_id.index()];
        if let Err(retry_after) = function.scaling.check(now, rate) {
            return self.throttle(function_id, ThrottleReason::FunctionInvocationRateLimitExceeded, retry_after);
        }
        if self.host_has_room() {
            self.functions[function_id.index()].scaling.try_acquire(now, rate).expect("checked above");
            let invocation = self.admit_on_demand(function_id, request, InvocationState::WaitingForHost, spillover);
            let env = self.spawn_env(now, function_id, pool_index, InitType::OnDemand);
            self.bind(invocation, env);
            return Admission::Admitted(invocation);
        }
        if self.host_waiting >= self.config.host.max_waiting {
            self.host_rejections += 1;
            return Admission::HostBusy;
        }
        let invocation = self.admit_on_demand(function_id, request, InvocationState::WaitingForHost, spillover);
        self.functions[function_id.index()].pools[pool_index].host_waiters += 1;
        self.host_queue.push_back(invocation);
        self.host_waiting += 1;
        self.host_waits += 1;
        self.timers.push(now + self.config.host.max_wait, Timer::HostWait(invocation));
        self.evict_for_waiters();
        Admission::Admitted(invocation)
    }

    fn throttle(&mut self, function: FunctionId, reason: ThrottleReason, retry_after: Duration) -> Admission {
        let f = &mut self.functions[function.index()];
        f.counters.throttles[reason.index()] += 1;
        Admission::Throttled(Throttle { reason, retry_after, zero_reserved: f.reserved == Some(0) })
    }

    fn new_invocation(
        &mut self,
        function: FunctionId,
        request: InvokeRequest,
        state: InvocationState,
        provisioned: bool,
    ) -> InvocationId {
        InvocationId(self.invocations.insert_with(|_| Invocation {
            deadline: Instant::ZERO,
            function,
            version: request.version,
            state,
            provisioned,
        }))
    }

    fn admit_on_demand(
        &mut self,
        function_id: FunctionId,
        request: InvokeRequest,
        state: InvocationState,
        spillover: bool,
    ) -> InvocationId {
        let function = &mut self.functions[function_id.index()];
        function.busy_on_demand += 1;
        if spillover {
            function.counters.spillover_invocations += 1;
        }
        if function.reserved.is_none() {
            self.unreserved_busy += 1;
        }
        let invocation = self.new_invocation(function_id, request, state, false);
        self.take_slot(function_id);
        invocation
    }

    /// Account-wide bookkeeping for one more in-flight invocation.
    fn take_slot(&mut self, function: FunctionId) {
        self.total_busy += 1;
        self.peak_busy = self.peak_busy.max(self.total_busy);
        self.window_peak_busy = self.window_peak_busy.max(self.total_busy);
        let f = &mut self.functions[function.index()];
        let concurrent = f.concurrent();
        f.counters.peak_concurrent = f.counters.peak_concurrent.max(concurrent);
        f.counters.window_peak = f.counters.window_peak.max(concurrent);
    }

    /// If invocations wait for host slots and idle environments occupy
    /// slots, stop the least recently used idle on-demand environment
    /// (at most one per waiting invocation in flight).
    pub(crate) fn evict_for_waiters(&mut self) {
        if self.stopping >= self.host_waiting + self.provisioned_wanted_hint() {
            return;
        }
        let mut victim: Option<(Instant, crate::ids::EnvId)> = None;
        for function in &self.functions {
            for pool in &function.pools {
                if let Some(&env) = pool.available.first() {
                    let e = self.envs.get(env.0).expect("listed environments exist");
                    if e.in_flight() == 0 && victim.is_none_or(|(since, _)| e.idle_since < since) {
                        victim = Some((e.idle_since, env));
                    }
                }
            }
        }
        if let Some((_, env)) = victim {
            self.host_evictions += 1;
            self.stop_env(env, crate::api::StopReason::Evicted);
        }
    }

    /// 1 when a provisioned top-up is pending, so it may evict too.
    fn provisioned_wanted_hint(&self) -> u32 {
        u32::from(self.provisioned_dirty)
    }
}
