//! The simulator's own future events (invocations finishing, environments
//! becoming ready, visibility timeouts, poller wake-ups), in time order.
//!
//! Ties are broken by insertion order, so a run is a pure function of its
//! seed. The core's deadlines are not here: the core keeps them and the
//! engine asks `poll_timeout`. Arrivals are not here either: each traffic
//! source knows its next arrival, which saves a push and a pop per request.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use weir_core::{EnvId, InvocationId};

/// Marks "no downstream" / "no batch" in the compact event fields.
pub const NONE: u32 = u32::MAX;

/// An invocation that will finish: everything needed to report it.
#[derive(Clone, Copy, Debug)]
pub struct Finish {
    pub invocation: InvocationId,
    pub env: EnvId,
    pub function: u32,
    /// Index of the batch it processes, or [`NONE`] for a synchronous request.
    pub batch: u32,
    pub batch_generation: u32,
    /// Index of the downstream whose connection it holds, or [`NONE`].
    pub downstream: u32,
    pub error: bool,
}

#[derive(Clone, Copy, Debug)]
pub enum Event {
    Finish(Finish),
    /// An environment finished init.
    Ready(EnvId),
    /// A batch's visibility timeout expired.
    VisibilityExpired { batch: u32, generation: u32 },
    /// A poller should look at its queue again.
    PollerWake { queue: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    at: u64,
    sequence: u64,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the heap's maximum is the earliest event.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.sequence).cmp(&(self.at, self.sequence))
    }
}

/// Pending events, earliest first.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Entry>,
    sequence: u64,
}

impl EventQueue {
    pub fn push(&mut self, at_nanos: u64, event: Event) {
        self.sequence += 1;
        self.heap.push(Entry { at: at_nanos, sequence: self.sequence, event });
    }

    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|e| e.at)
    }

    pub fn pop(&mut self) -> Option<(u64, Event)> {
        self.heap.pop().map(|e| (e.at, e.event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_time_order_and_ties_in_insertion_order() {
        let mut q = EventQueue::default();
        q.push(5, Event::PollerWake { queue: 1 });
        q.push(3, Event::PollerWake { queue: 2 });
        q.push(5, Event::PollerWake { queue: 3 });
        let order: Vec<(u64, u32)> = std::iter::from_fn(|| q.pop())
            .map(|(at, e)| match e {
                Event::PollerWake { queue } => (at, queue),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, vec![(3, 2), (5, 1), (5, 3)]);
    }
}
