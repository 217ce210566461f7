//! The SQS-compatible queue service (JSON 1.0 protocol) on weir's port.
//! (Being built: see the issue on queues.)

pub mod http;

/// The queue service's shared state (queue metadata cache, counters).
#[derive(Default)]
pub struct SqsService {}
