//! The core's deadlines, in one queue.
//!
//! Every deadline the core keeps (invocation timeouts, init limits, idle
//! expiry, host-wait limits) is one [`Timer`] variant. Entries are never
//! removed eagerly: the controller checks on expiry whether the timer still
//! applies (the invocation finished, the environment was reused…) and drops
//! it otherwise. To keep memory proportional to live timers, the queue is
//! compacted when stale entries dominate. Per-environment timers are armed
//! at most once at a time and re-armed on expiry, which keeps the queue about
//! as large as the number of environments.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::ids::{EnvId, InvocationId};
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The earliest function timeout among the environment's running
    /// invocations. One is armed per environment at a time: a later
    /// deadline is re-armed when this one fires, so a busy environment
    /// costs one timer per timeout period, not one per invocation.
    InvocationTimeout(EnvId),
    /// The environment's init limit.
    InitDeadline(EnvId),
    /// The environment may have been idle for the idle timeout (re-armed
    /// when it has been used since). One armed per environment at a time.
    Idle(EnvId),
    /// An invocation waiting for a host slot has waited too long.
    HostWait(InvocationId),
    /// A host waiter's function may start an environment again (its
    /// scaling-rate grant returns).
    HostRetry,
}

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    sequence: u64,
}

impl TimerQueue {
    pub(crate) fn push(&mut self, at: Instant, timer: Timer) {
        self.sequence += 1;
        self.heap.push(Reverse((at, self.sequence, timer)));
    }

    pub(crate) fn peek(&self) -> Option<(Instant, Timer)> {
        self.heap.peek().map(|Reverse((at, _, timer))| (*at, *timer))
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse((_, _, timer))| timer),
            _ => None,
        }
    }

    pub(crate) fn pop(&mut self) {
        self.heap.pop();
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops every entry for which `live` is false.
    pub(crate) fn retain(&mut self, mut live: impl FnMut(&Timer) -> bool) {
        self.heap.retain(|Reverse((_, _, timer))| live(timer));
    }
}
