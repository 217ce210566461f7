//! The simulator's own future events (invocations finishing, environments
//! becoming ready, visibility timeouts, poller wake-ups), in time order.
//!
//! A timing wheel: 4,096 buckets of about a millisecond each (2^20 ns), a
//! bitmap of the occupied ones, and a binary heap for the few events
//! beyond the wheel's 4.3-second horizon (visibility timeouts). Only the
//! bucket being drained is sorted, so an event costs a push into a vector
//! and a share of sorting a handful of entries, instead of two walks down
//! a heap of every pending event (profiling showed the heap's `pop` as the
//! largest cost of a 10,000-requests-per-second run).
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
    VisibilityExpired {
        batch: u32,
        generation: u32,
    },
    /// A poller should look at its queue again.
    PollerWake {
        queue: u32,
    },
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

const BUCKET_SHIFT: u32 = 20;
const BUCKETS: u64 = 4_096;

fn bucket_of(at: u64) -> u64 {
    at >> BUCKET_SHIFT
}

/// Pending events, earliest first.
#[derive(Debug)]
pub struct EventQueue {
    /// Bucket `b` (absolute number) lives in slot `b % BUCKETS` while
    /// `current < b < current + BUCKETS`.
    wheel: Vec<Vec<Entry>>,
    occupied: Vec<u64>,
    /// Every event of bucket `current`, sorted so the earliest is last.
    ready: Vec<Entry>,
    current: u64,
    /// Events at or beyond `current + BUCKETS`.
    overflow: BinaryHeap<Entry>,
    sequence: u64,
    /// The next event's time, cached between pops (`None`: unknown).
    next_at: Option<Option<u64>>,
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue {
            wheel: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: vec![0; (BUCKETS / 64) as usize],
            ready: Vec::new(),
            current: 0,
            overflow: BinaryHeap::new(),
            sequence: 0,
            next_at: None,
        }
    }
}

impl EventQueue {
    /// Schedules `event` at `at_nanos`, which must not be earlier than the
    /// last event popped.
    pub fn push(&mut self, at_nanos: u64, event: Event) {
        self.sequence += 1;
        self.place(Entry { at: at_nanos, sequence: self.sequence, event });
        // A push can only bring the next event forward.
        if let Some(next) = self.next_at {
            self.next_at = Some(Some(next.map_or(at_nanos, |n| n.min(at_nanos))));
        }
    }

    fn place(&mut self, entry: Entry) {
        let bucket = bucket_of(entry.at);
        debug_assert!(bucket >= self.current, "events are never scheduled in the past");
        if bucket <= self.current {
            // `Entry`'s order is reversed (earlier is greater), so ascending
            // order puts the earliest last.
            let at = self.ready.partition_point(|e| e < &entry);
            self.ready.insert(at, entry);
        } else if bucket < self.current + BUCKETS {
            let slot = (bucket % BUCKETS) as usize;
            self.wheel[slot].push(entry);
            self.occupied[slot / 64] |= 1 << (slot % 64);
        } else {
            self.overflow.push(entry);
        }
    }

    /// The next occupied bucket after `current` on the wheel, if any.
    fn next_wheel_bucket(&self) -> Option<u64> {
        let start = self.current + 1;
        let mut offset = 0u64;
        while offset < BUCKETS {
            let slot = (start + offset) % BUCKETS;
            let word = self.occupied[(slot / 64) as usize] >> (slot % 64);
            if word != 0 {
                let found = offset + u64::from(word.trailing_zeros());
                return (found < BUCKETS - 1).then_some(start + found);
            }
            offset += 64 - slot % 64;
        }
        None
    }

    /// The bucket the next event is in, when `ready` is empty.
    fn next_bucket(&self) -> Option<u64> {
        let wheel = self.next_wheel_bucket();
        let overflow = self.overflow.peek().map(|e| bucket_of(e.at));
        match (wheel, overflow) {
            (Some(w), Some(o)) => Some(w.min(o)),
            (w, o) => w.or(o),
        }
    }

    pub fn peek_time(&mut self) -> Option<u64> {
        if let Some(next) = self.next_at {
            return next;
        }
        let next = self.find_next();
        self.next_at = Some(next);
        next
    }

    fn find_next(&self) -> Option<u64> {
        if let Some(entry) = self.ready.last() {
            return Some(entry.at);
        }
        let bucket = self.next_bucket()?;
        let mut earliest = u64::MAX;
        if bucket < self.current + BUCKETS {
            earliest = self.wheel[(bucket % BUCKETS) as usize].iter().map(|e| e.at).min().unwrap_or(u64::MAX);
        }
        if let Some(e) = self.overflow.peek()
            && bucket_of(e.at) == bucket
        {
            earliest = earliest.min(e.at);
        }
        Some(earliest)
    }

    pub fn pop(&mut self) -> Option<(u64, Event)> {
        self.next_at = None;
        if self.ready.is_empty() {
            let bucket = self.next_bucket()?;
            self.advance_to(bucket);
        }
        self.ready.pop().map(|e| (e.at, e.event))
    }

    /// Makes `bucket` current: its events go to `ready`, and overflow
    /// events now within the horizon go to the wheel.
    fn advance_to(&mut self, bucket: u64) {
        let old_horizon = self.current + BUCKETS;
        if bucket < old_horizon {
            let slot = (bucket % BUCKETS) as usize;
            std::mem::swap(&mut self.ready, &mut self.wheel[slot]);
            self.occupied[slot / 64] &= !(1 << (slot % 64));
        }
        self.current = bucket;
        while let Some(e) = self.overflow.peek()
            && bucket_of(e.at) < self.current + BUCKETS
        {
            let entry = self.overflow.pop().expect("peeked");
            self.place(entry);
        }
        self.ready.sort_unstable();
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

    /// The wheel against a plain binary heap, with events near and far,
    /// pushed while popping, as the engine does.
    #[test]
    fn the_wheel_pops_in_the_same_order_as_a_heap() {
        let mut rng = crate::dist::SimRng::new(5, 0);
        let mut wheel = EventQueue::default();
        let mut heap: BinaryHeap<Entry> = BinaryHeap::new();
        let mut sequence = 0u64;
        let mut now = 0u64;
        let mut popped = 0;
        for step in 0..200_000u32 {
            if rng.unit() < 0.55 {
                let delay = match rng.index(4) {
                    0 => 0,
                    1 => rng.index(2_000_000) as u64,
                    2 => rng.index(3_000_000_000) as u64,
                    _ => rng.index(60_000_000_000) as u64,
                };
                sequence += 1;
                let event = Event::PollerWake { queue: step };
                wheel.push(now + delay, event);
                heap.push(Entry { at: now + delay, sequence, event });
            } else {
                assert_eq!(wheel.peek_time(), heap.peek().map(|e| e.at));
                let expected = heap.pop().map(|e| (e.at, e.event));
                let got = wheel.pop();
                match (expected, got) {
                    (None, None) => {}
                    (Some((a, Event::PollerWake { queue: x })), Some((b, Event::PollerWake { queue: y }))) => {
                        assert_eq!((a, x), (b, y));
                        now = a;
                        popped += 1;
                    }
                    other => panic!("diverged: {other:?}"),
                }
            }
        }
        assert!(popped > 50_000);
    }
}
