//! The metrics contract: every metric weir exports, in one place.
//!
//! Owns: each family's name, kind, labels, help text and the CloudWatch
//! metric it mirrors, and the list of per-second history series. Naming:
//! `weir_` + the CloudWatch metric name in snake_case; counters end in
//! `_total`; times are in seconds, sizes in bytes; labels `function_name`,
//! `resource` (a version or alias), `reason` (throttles), `queue_name`,
//! `event_source_mapping` (a mapping's UUID).
//! Never: reads a value (see `snapshot`) or formats one (see `exposition`).

/// What a family is, in Prometheus terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported family.
#[derive(Clone, Copy, Debug)]
pub struct Family {
    /// The exposed name (counters with their `_total`).
    pub name: &'static str,
    pub kind: Kind,
    /// Label names its samples carry (the account-wide sample of a
    /// per-function family carries none).
    pub labels: &'static [&'static str],
    /// The CloudWatch metric it follows, if any.
    pub cloudwatch: Option<&'static str>,
    pub help: &'static str,
}

impl Family {
    /// The name prometheus-client's encoder takes (it appends `_total` to counters).
    pub fn encoder_name(&self) -> &'static str {
        match self.kind {
            Kind::Counter => self.name.strip_suffix("_total").expect("counter names end in _total"),
            Kind::Gauge | Kind::Histogram => self.name,
        }
    }
}

const F: &[&str] = &["function_name"];
const Q: &[&str] = &["queue_name"];
const M: &[&str] = &["event_source_mapping", "function_name", "queue_name"];
const NONE: &[&str] = &[];

macro_rules! family {
    ($id:ident, $name:literal, $kind:ident, $labels:expr, $cw:expr, $help:literal) => {
        pub const $id: Family =
            Family { name: $name, kind: Kind::$kind, labels: $labels, cloudwatch: $cw, help: $help };
    };
}

// ---- Lambda, per function (and account-wide where CloudWatch has it) ----
family!(
    INVOCATIONS,
    "weir_invocations_total",
    Counter,
    F,
    Some("Invocations"),
    "Invocations that ran, including those that ended in a function error; never a throttled request."
);
family!(
    ERRORS,
    "weir_errors_total",
    Counter,
    F,
    Some("Errors"),
    "Invocations that ended in a function error (timeouts and crashes included)."
);
family!(
    TIMEOUTS,
    "weir_timeouts_total",
    Counter,
    F,
    None,
    "Invocations that timed out (a subset of weir_errors_total)."
);
family!(
    THROTTLES,
    "weir_throttles_total",
    Counter,
    &["function_name", "reason"],
    Some("Throttles"),
    "Invocation requests throttled (HTTP 429), by Lambda's throttle reason."
);
family!(
    DURATION,
    "weir_duration_seconds",
    Histogram,
    F,
    Some("Duration"),
    "Time the function spent processing an event (REPORT Duration)."
);
family!(
    CONCURRENT_EXECUTIONS,
    "weir_concurrent_executions",
    Gauge,
    F,
    Some("ConcurrentExecutions"),
    "Invocations in flight now; the sample without labels is the account's."
);
family!(
    PEAK_CONCURRENT_EXECUTIONS,
    "weir_peak_concurrent_executions",
    Gauge,
    F,
    None,
    "Highest concurrency seen since the server started; the sample without labels is the account's."
);
family!(
    UNRESERVED_CONCURRENT_EXECUTIONS,
    "weir_unreserved_concurrent_executions",
    Gauge,
    NONE,
    Some("UnreservedConcurrentExecutions"),
    "Invocations in flight using the unreserved pool."
);
family!(
    CLAIMED_ACCOUNT_CONCURRENCY,
    "weir_claimed_account_concurrency",
    Gauge,
    NONE,
    Some("ClaimedAccountConcurrency"),
    "Concurrency unavailable for on-demand invocations: unreserved in use plus what functions hold."
);
family!(
    ACCOUNT_CONCURRENCY_LIMIT,
    "weir_account_concurrency_limit",
    Gauge,
    NONE,
    None,
    "The account's concurrency limit (AccountLimit.ConcurrentExecutions)."
);
family!(
    UNRESERVED_CONCURRENCY_LIMIT,
    "weir_unreserved_concurrency_limit",
    Gauge,
    NONE,
    None,
    "The unreserved pool's size (AccountLimit.UnreservedConcurrentExecutions)."
);
family!(
    RESERVED_CONCURRENT_EXECUTIONS,
    "weir_reserved_concurrent_executions",
    Gauge,
    F,
    None,
    "The function's reserved concurrency (only functions that have one)."
);
family!(
    PROVISIONED_CONCURRENT_EXECUTIONS,
    "weir_provisioned_concurrent_executions",
    Gauge,
    F,
    Some("ProvisionedConcurrentExecutions"),
    "Invocations in flight on provisioned environments."
);
family!(
    PROVISIONED_CONCURRENCY_UTILIZATION,
    "weir_provisioned_concurrency_utilization",
    Gauge,
    F,
    Some("ProvisionedConcurrencyUtilization"),
    "Provisioned concurrent executions divided by allocated provisioned concurrency (functions with some allocated)."
);
family!(
    PROVISIONED_CONCURRENCY_REQUESTED,
    "weir_provisioned_concurrency_requested",
    Gauge,
    &["function_name", "resource"],
    None,
    "Provisioned concurrency configured on a version or alias."
);
family!(
    PROVISIONED_CONCURRENCY_ALLOCATED,
    "weir_provisioned_concurrency_allocated",
    Gauge,
    &["function_name", "resource"],
    None,
    "Provisioned environments initialised and serving, per version or alias."
);
family!(
    PROVISIONED_CONCURRENCY_INVOCATIONS,
    "weir_provisioned_concurrency_invocations_total",
    Counter,
    F,
    Some("ProvisionedConcurrencyInvocations"),
    "Invocations that ran on provisioned environments."
);
family!(
    PROVISIONED_CONCURRENCY_SPILLOVER_INVOCATIONS,
    "weir_provisioned_concurrency_spillover_invocations_total",
    Counter,
    F,
    Some("ProvisionedConcurrencySpilloverInvocations"),
    "Invocations of a version with provisioned concurrency that ran on demand because all of it was busy."
);
family!(
    INIT_DURATION,
    "weir_init_duration_seconds",
    Histogram,
    F,
    None,
    "Init time of on-demand cold starts (REPORT Init Duration)."
);
family!(
    COLD_STARTS,
    "weir_cold_starts_total",
    Counter,
    F,
    None,
    "Invocations that waited for a new environment's init."
);
family!(
    ENVIRONMENTS_STARTED,
    "weir_environments_started_total",
    Counter,
    F,
    None,
    "Execution environments started (on-demand and provisioned)."
);
family!(
    ENVIRONMENTS,
    "weir_environments",
    Gauge,
    F,
    None,
    "Execution environments running (any state); the sample without labels is the host's."
);
family!(IDLE_ENVIRONMENTS, "weir_idle_environments", Gauge, F, None, "Environments ready and idle.");
family!(
    MAX_MEMORY_USED,
    "weir_max_memory_used_bytes",
    Gauge,
    F,
    None,
    "Largest REPORT Max Memory Used of the function's invocations."
);
family!(
    ASYNC_EVENTS_RECEIVED,
    "weir_async_events_received_total",
    Counter,
    F,
    Some("AsyncEventsReceived"),
    "Asynchronous events accepted (committed) for the function."
);
family!(
    ASYNC_EVENT_AGE,
    "weir_async_event_age_seconds",
    Histogram,
    F,
    Some("AsyncEventAge"),
    "Time from an event's acceptance to each invocation of it."
);
family!(
    ASYNC_EVENTS_DROPPED,
    "weir_async_events_dropped_total",
    Counter,
    F,
    Some("AsyncEventsDropped"),
    "Asynchronous events given up without a successful invocation."
);
family!(
    DEAD_LETTER_ERRORS,
    "weir_dead_letter_errors_total",
    Counter,
    F,
    Some("DeadLetterErrors"),
    "Failed deliveries to the function's dead-letter queue."
);
family!(
    DESTINATION_DELIVERY_FAILURES,
    "weir_destination_delivery_failures_total",
    Counter,
    F,
    Some("DestinationDeliveryFailures"),
    "Failed deliveries to an on-success or on-failure destination."
);

// ---- host ----
family!(
    HOST_ENVIRONMENT_LIMIT,
    "weir_host_environment_limit",
    Gauge,
    NONE,
    None,
    "Execution environments this machine may run (--max-environments)."
);
family!(
    HOST_WAITING_INVOCATIONS,
    "weir_host_waiting_invocations",
    Gauge,
    NONE,
    None,
    "Admitted invocations waiting for a host slot now."
);
family!(HOST_WAITS, "weir_host_waits_total", Counter, NONE, None, "Invocations that had to wait for a host slot.");
family!(
    HOST_REJECTIONS,
    "weir_host_rejections_total",
    Counter,
    NONE,
    None,
    "Invocations refused because the host's waiting line was full (500, never a throttle)."
);
family!(
    HOST_WAIT_EXPIRATIONS,
    "weir_host_wait_expirations_total",
    Counter,
    NONE,
    None,
    "Invocations whose wait for a host slot expired."
);
family!(
    HOST_EVICTIONS,
    "weir_host_evictions_total",
    Counter,
    NONE,
    None,
    "Idle environments stopped to make room for other functions."
);
family!(
    ENVIRONMENTS_RESIDENT_MEMORY,
    "weir_environments_resident_memory_bytes",
    Gauge,
    NONE,
    None,
    "Resident memory of every environment's process tree, sampled each second (Linux /proc)."
);
family!(
    STORE_COMMIT_GROUPS,
    "weir_store_commit_groups_total",
    Counter,
    NONE,
    None,
    "Transactions the store's writer committed (each one group of writes)."
);
family!(
    STORE_DURABLE_COMMITS,
    "weir_store_durable_commits_total",
    Counter,
    NONE,
    None,
    "Committed groups that changed the database (one WAL fsync each)."
);
family!(
    STORE_COMMIT_SECONDS,
    "weir_store_commit_seconds_total",
    Counter,
    NONE,
    None,
    "Time spent committing those groups, fsync included (divide by weir_store_durable_commits_total for the mean commit latency)."
);
family!(
    STORE_COMMITTED_WRITES,
    "weir_store_committed_writes_total",
    Counter,
    NONE,
    None,
    "Writes committed; divided by weir_store_commit_groups_total, the mean group size."
);
family!(
    STORE_CHECKPOINTS,
    "weir_store_checkpoints_total",
    Counter,
    &["kind"],
    None,
    "WAL checkpoints, by who ran them (background, writer)."
);
family!(
    HISTORY_MEMORY,
    "weir_metrics_history_bytes",
    Gauge,
    NONE,
    None,
    "Heap memory held by the per-second metrics history."
);

// ---- SQS, per queue ----
family!(
    SQS_AGE_OF_OLDEST_MESSAGE,
    "weir_sqs_approximate_age_of_oldest_message_seconds",
    Gauge,
    Q,
    Some("ApproximateAgeOfOldestMessage"),
    "Age of the oldest message still in the queue."
);
family!(
    SQS_MESSAGES_VISIBLE,
    "weir_sqs_approximate_number_of_messages_visible",
    Gauge,
    Q,
    Some("ApproximateNumberOfMessagesVisible"),
    "Messages available for retrieval."
);
family!(
    SQS_MESSAGES_NOT_VISIBLE,
    "weir_sqs_approximate_number_of_messages_not_visible",
    Gauge,
    Q,
    Some("ApproximateNumberOfMessagesNotVisible"),
    "Messages in flight (received, not yet deleted or visible again)."
);
family!(
    SQS_MESSAGES_DELAYED,
    "weir_sqs_approximate_number_of_messages_delayed",
    Gauge,
    Q,
    Some("ApproximateNumberOfMessagesDelayed"),
    "Messages delayed and not yet available."
);
family!(
    SQS_MESSAGES_SENT,
    "weir_sqs_number_of_messages_sent_total",
    Counter,
    Q,
    Some("NumberOfMessagesSent"),
    "Messages added to the queue."
);
family!(
    SQS_MESSAGES_RECEIVED,
    "weir_sqs_number_of_messages_received_total",
    Counter,
    Q,
    Some("NumberOfMessagesReceived"),
    "Messages returned by receive calls (weir's pollers included)."
);
family!(
    SQS_MESSAGES_DELETED,
    "weir_sqs_number_of_messages_deleted_total",
    Counter,
    Q,
    Some("NumberOfMessagesDeleted"),
    "Messages deleted."
);
family!(
    SQS_EMPTY_RECEIVES,
    "weir_sqs_number_of_empty_receives_total",
    Counter,
    Q,
    Some("NumberOfEmptyReceives"),
    "Receive calls that returned no message."
);

// ---- event source mappings (SQS pollers) ----
family!(
    ESM_POLLED_MESSAGES,
    "weir_event_source_mapping_polled_messages_total",
    Counter,
    M,
    None,
    "Messages the mapping's poller received from its queue."
);
family!(
    ESM_INVOKED_BATCHES,
    "weir_event_source_mapping_invoked_batches_total",
    Counter,
    M,
    None,
    "Batches sent to the function."
);
family!(
    ESM_FAILED_BATCHES,
    "weir_event_source_mapping_failed_batches_total",
    Counter,
    M,
    None,
    "Batches that failed in whole or in part."
);
family!(
    ESM_THROTTLED_BATCHES,
    "weir_event_source_mapping_throttled_batches_total",
    Counter,
    M,
    None,
    "Batches throttled before reaching the function."
);
family!(
    ESM_DELETED_MESSAGES,
    "weir_event_source_mapping_deleted_messages_total",
    Counter,
    M,
    None,
    "Messages deleted after the function processed them."
);
family!(
    ESM_FILTERED_OUT_MESSAGES,
    "weir_event_source_mapping_filtered_out_messages_total",
    Counter,
    M,
    None,
    "Messages no filter of the mapping's FilterCriteria matched, deleted without invoking (Lambda's FilteredOutEventCount)."
);
family!(
    ESM_DEAD_LETTERED_MESSAGES,
    "weir_event_source_mapping_dead_lettered_messages_total",
    Counter,
    M,
    None,
    "Messages the poller's receives moved to the queue's dead-letter queue (maxReceiveCount reached)."
);
family!(
    ESM_CONCURRENCY_LIMIT,
    "weir_event_source_mapping_concurrency_limit",
    Gauge,
    M,
    None,
    "Concurrent batches the poller allows itself now (its scaling limit)."
);
family!(
    ESM_IN_FLIGHT_BATCHES,
    "weir_event_source_mapping_in_flight_batches",
    Gauge,
    M,
    None,
    "Batches being processed now."
);

/// Every exported family, in exposition order.
pub const ALL: &[Family] = &[
    INVOCATIONS,
    ERRORS,
    TIMEOUTS,
    THROTTLES,
    DURATION,
    CONCURRENT_EXECUTIONS,
    PEAK_CONCURRENT_EXECUTIONS,
    UNRESERVED_CONCURRENT_EXECUTIONS,
    CLAIMED_ACCOUNT_CONCURRENCY,
    ACCOUNT_CONCURRENCY_LIMIT,
    UNRESERVED_CONCURRENCY_LIMIT,
    RESERVED_CONCURRENT_EXECUTIONS,
    PROVISIONED_CONCURRENT_EXECUTIONS,
    PROVISIONED_CONCURRENCY_UTILIZATION,
    PROVISIONED_CONCURRENCY_REQUESTED,
    PROVISIONED_CONCURRENCY_ALLOCATED,
    PROVISIONED_CONCURRENCY_INVOCATIONS,
    PROVISIONED_CONCURRENCY_SPILLOVER_INVOCATIONS,
    INIT_DURATION,
    COLD_STARTS,
    ENVIRONMENTS_STARTED,
    ENVIRONMENTS,
    IDLE_ENVIRONMENTS,
    MAX_MEMORY_USED,
    ASYNC_EVENTS_RECEIVED,
    ASYNC_EVENT_AGE,
    ASYNC_EVENTS_DROPPED,
    DEAD_LETTER_ERRORS,
    DESTINATION_DELIVERY_FAILURES,
    HOST_ENVIRONMENT_LIMIT,
    HOST_WAITING_INVOCATIONS,
    HOST_WAITS,
    HOST_REJECTIONS,
    HOST_WAIT_EXPIRATIONS,
    HOST_EVICTIONS,
    ENVIRONMENTS_RESIDENT_MEMORY,
    STORE_COMMIT_GROUPS,
    STORE_DURABLE_COMMITS,
    STORE_COMMIT_SECONDS,
    STORE_COMMITTED_WRITES,
    STORE_CHECKPOINTS,
    HISTORY_MEMORY,
    SQS_AGE_OF_OLDEST_MESSAGE,
    SQS_MESSAGES_VISIBLE,
    SQS_MESSAGES_NOT_VISIBLE,
    SQS_MESSAGES_DELAYED,
    SQS_MESSAGES_SENT,
    SQS_MESSAGES_RECEIVED,
    SQS_MESSAGES_DELETED,
    SQS_EMPTY_RECEIVES,
    ESM_POLLED_MESSAGES,
    ESM_INVOKED_BATCHES,
    ESM_FAILED_BATCHES,
    ESM_THROTTLED_BATCHES,
    ESM_DELETED_MESSAGES,
    ESM_FILTERED_OUT_MESSAGES,
    ESM_DEAD_LETTERED_MESSAGES,
    ESM_CONCURRENCY_LIMIT,
    ESM_IN_FLIGHT_BATCHES,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for family in ALL {
            assert!(family.name.starts_with("weir_"), "{}", family.name);
            assert!(seen.insert(family.name), "{} twice", family.name);
            assert_eq!(family.kind == Kind::Counter, family.name.ends_with("_total"), "{}", family.name);
            assert!(family.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            if family.kind == Kind::Histogram {
                assert!(family.name.ends_with("_seconds"), "{} is a time", family.name);
            }
            if let Some(cloudwatch) = family.cloudwatch {
                let snake: String = cloudwatch
                    .chars()
                    .enumerate()
                    .flat_map(|(i, c)| {
                        let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                        sep.into_iter().chain(std::iter::once(c.to_ascii_lowercase()))
                    })
                    .collect();
                let stem = family.name.trim_start_matches("weir_").trim_start_matches("sqs_");
                assert!(stem.starts_with(&snake), "{} follows CloudWatch's {cloudwatch}", family.name);
            }
        }
    }
}
