//! A model of one SQS standard queue: visible messages, messages in
//! flight, receive counts, and redrive to a dead-letter queue after
//! `maxReceiveCount` receives. The queue service is not Lambda, so its
//! model lives here rather than in weir-core; the poller's decisions (how
//! many batches, when to send one) come from weir-core.
//!
//! Messages sent in the same millisecond with the same receive count are
//! stored as one run, so a backlog of millions costs a few megabytes and
//! a batch is a handful of runs. Ages are therefore exact to 1 ms. The
//! visible queue is oldest first; messages returning after a visibility
//! timeout go to the front (they are the oldest).

use std::collections::VecDeque;

use weir_core::Instant;

/// Messages sent in the same millisecond that share a receive count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub sent_at: Instant,
    pub count: u32,
    /// How often these messages have been received (`ApproximateReceiveCount`).
    pub receives: u32,
}

const RUN_GRANULARITY_NANOS: u64 = 1_000_000;

#[derive(Debug, Default)]
pub struct SqsQueue {
    visible: VecDeque<Run>,
    visible_count: u64,
    in_flight: u64,
    pub sent: u64,
    pub received: u64,
    pub deleted: u64,
    pub returned: u64,
    pub dead_lettered: u64,
}

impl SqsQueue {
    /// `SendMessage` of `count` messages at `now`.
    pub fn send(&mut self, now: Instant, count: u32) {
        if count == 0 {
            return;
        }
        self.sent += u64::from(count);
        self.visible_count += u64::from(count);
        if let Some(tail) = self.visible.back_mut()
            && tail.receives == 0
            && now.as_nanos() / RUN_GRANULARITY_NANOS == tail.sent_at.as_nanos() / RUN_GRANULARITY_NANOS
        {
            tail.count += count;
            return;
        }
        self.visible.push_back(Run { sent_at: now, count, receives: 0 });
    }

    /// `ReceiveMessage` of up to `max` messages into `batch` (cleared
    /// first). Messages already received `max_receive_count` times move to
    /// the dead-letter queue instead. Returns how many were received.
    pub fn receive(&mut self, max: u32, max_receive_count: Option<u32>, batch: &mut Vec<Run>) -> u32 {
        batch.clear();
        let mut taken = 0u32;
        while taken < max {
            let Some(front) = self.visible.front_mut() else { break };
            if max_receive_count.is_some_and(|limit| front.receives >= limit) {
                self.visible_count -= u64::from(front.count);
                self.dead_lettered += u64::from(front.count);
                self.visible.pop_front();
                continue;
            }
            let n = front.count.min(max - taken);
            batch.push(Run { sent_at: front.sent_at, count: n, receives: front.receives + 1 });
            taken += n;
            front.count -= n;
            if front.count == 0 {
                self.visible.pop_front();
            }
        }
        self.visible_count -= u64::from(taken);
        self.in_flight += u64::from(taken);
        self.received += u64::from(taken);
        taken
    }

    /// `DeleteMessage` for a processed batch.
    pub fn delete(&mut self, batch: &[Run]) {
        let n: u64 = batch.iter().map(|r| u64::from(r.count)).sum();
        self.in_flight -= n;
        self.deleted += n;
    }

    /// The visibility timeout of a batch expired: its messages are visible
    /// again (at the front, keeping their receive counts).
    pub fn return_batch(&mut self, batch: &[Run]) {
        for run in batch.iter().rev() {
            self.visible.push_front(*run);
        }
        let n: u64 = batch.iter().map(|r| u64::from(r.count)).sum();
        self.in_flight -= n;
        self.visible_count += n;
        self.returned += n;
    }

    /// `ApproximateNumberOfMessagesVisible`.
    pub fn visible(&self) -> u64 {
        self.visible_count
    }

    /// `ApproximateNumberOfMessagesNotVisible`.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// `ApproximateAgeOfOldestMessage`: the age of the oldest visible
    /// message, except that, as AWS documents for queues with a redrive
    /// policy, messages already received three times or more are skipped
    /// (the metric points at the oldest message received fewer times).
    /// Returned messages sit at the front, so this scans only those.
    pub fn oldest_age_nanos(&self, now: Instant) -> u64 {
        let mut oldest: Option<Instant> = None;
        for run in &self.visible {
            if run.receives >= 3 {
                continue;
            }
            oldest = Some(oldest.map_or(run.sent_at, |o| o.min(run.sent_at)));
            if run.receives == 0 {
                break; // never received: everything behind it is newer
            }
        }
        oldest.map_or(0, |t| now.saturating_since(t).as_nanos() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn messages_of_one_millisecond_share_a_run_and_are_received_oldest_first() {
        let mut q = SqsQueue::default();
        q.send(ms(0), 1);
        q.send(ms(0), 1);
        q.send(ms(5), 3);
        assert_eq!(q.visible(), 5);
        let mut batch = Vec::new();
        assert_eq!(q.receive(3, None, &mut batch), 3);
        assert_eq!(
            batch,
            vec![Run { sent_at: ms(0), count: 2, receives: 1 }, Run { sent_at: ms(5), count: 1, receives: 1 }]
        );
        assert_eq!((q.visible(), q.in_flight()), (2, 3));
        assert_eq!(q.oldest_age_nanos(ms(10)), 5_000_000);
    }

    #[test]
    fn returned_messages_come_back_first_and_redrive_after_max_receives() {
        let mut q = SqsQueue::default();
        q.send(ms(0), 2);
        let mut batch = Vec::new();
        for _ in 0..3 {
            assert_eq!(q.receive(10, Some(3), &mut batch), 2);
            q.return_batch(&batch);
        }
        q.send(ms(100), 1);
        assert_eq!(q.oldest_age_nanos(ms(200)), 100_000_000, "messages received three times are not counted");
        // Received three times: the next receive moves them to the DLQ.
        assert_eq!(q.receive(10, Some(3), &mut batch), 1);
        assert_eq!(q.dead_lettered, 2);
        assert_eq!(q.returned, 6);
        q.delete(&batch);
        assert_eq!((q.visible(), q.in_flight(), q.deleted), (0, 0, 1));
    }
}
