//! Checks that span several resources of a built plan, made before anything is deployed so a
//! template Lambda would refuse halfway through fails up front.
//!
//! Owns: unique names; account concurrency (reservations must leave `minimum_unreserved`
//! unreserved); provisioned vs reserved concurrency; SQS event sources against their queue and
//! function (visibility timeout, FIFO batch size, batching window); dead-letter queue kinds;
//! the apply order of queues (dead-letter targets first).
//! Runs even when single resources had problems, on what could be built; a check whose input is
//! a value that was refused (and so only a default in the plan) is skipped, so it does not
//! report a consequence of that problem.
//! Never: checks single properties (the resource builders do, where the value is read).

use std::collections::{HashMap, HashSet};

use crate::context::DeployContext;
use crate::error::Diagnostics;
use crate::plan::{EventSourceKind, Plan};

/// Where a logical id's properties are in the template (for messages), or `Resources.<id>`.
fn properties_path(paths: &HashMap<String, String>, logical_id: &str) -> String {
    paths.get(logical_id).cloned().unwrap_or_else(|| format!("Resources.{logical_id}.Properties"))
}

pub(crate) fn validate_plan(plan: &Plan, paths: &HashMap<String, String>, ctx: &DeployContext, diags: &Diagnostics) {
    check_unique_names(plan, paths, diags);
    check_account_concurrency(plan, paths, ctx, diags);
    check_provisioned_within_reserved(plan, paths, diags);
    check_sqs_event_sources(plan, paths, diags);
    check_dead_letter_queue_kinds(plan, paths, diags);
}

fn check_unique_names(plan: &Plan, paths: &HashMap<String, String>, diags: &Diagnostics) {
    let mut functions: HashMap<&str, &str> = HashMap::new();
    for function in &plan.functions {
        if let Some(first) = functions.insert(&function.function_name, &function.logical_id) {
            diags.error_at(
                &properties_path(paths, &function.logical_id),
                format!("function name '{}' is also used by {first}", function.function_name),
            );
        }
    }
    let mut queues: HashMap<&str, &str> = HashMap::new();
    for queue in &plan.queues {
        if let Some(first) = queues.insert(&queue.queue_name, &queue.logical_id) {
            diags.error_at(
                &properties_path(paths, &queue.logical_id),
                format!("queue name '{}' is also used by {first}", queue.queue_name),
            );
        }
    }
    let mut aliases: HashSet<(&str, &str)> = HashSet::new();
    for alias in &plan.aliases {
        if !aliases.insert((&alias.function_name, &alias.alias_name)) {
            diags.error_at(
                &properties_path(paths, &alias.logical_id),
                format!("function {} already has an alias named {}", alias.function_name, alias.alias_name),
            );
        }
    }
}

/// Provisioned concurrency per function name, with the path of the first allocation.
fn provisioned_by_function(plan: &Plan, paths: &HashMap<String, String>) -> HashMap<String, (u32, String)> {
    let mut provisioned: HashMap<String, (u32, String)> = HashMap::new();
    let allocations = plan
        .aliases
        .iter()
        .map(|alias| {
            (&alias.function_name, alias.provisioned_concurrency, &alias.logical_id, alias.generated_by.as_ref())
        })
        .chain(plan.versions.iter().map(|version| {
            (
                &version.function_name,
                version.provisioned_concurrency,
                &version.logical_id,
                version.generated_by.as_ref(),
            )
        }));
    for (function_name, amount, logical_id, generated_by) in allocations {
        let Some(amount) = amount else { continue };
        let path =
            format!("{}.ProvisionedConcurrencyConfig", properties_path(paths, generated_by.unwrap_or(logical_id)));
        let entry = provisioned.entry(function_name.clone()).or_insert((0, path));
        entry.0 = entry.0.saturating_add(amount);
    }
    provisioned
}

/// Lambda keeps `minimum_unreserved` of the account limit for functions without a reservation;
/// reserved concurrency (and provisioned concurrency of functions without a reservation, which
/// counts against the same pool) may not eat into it.
fn check_account_concurrency(plan: &Plan, paths: &HashMap<String, String>, ctx: &DeployContext, diags: &Diagnostics) {
    let provisioned = provisioned_by_function(plan, paths);
    let limit = u64::from(ctx.account_concurrency_limit);
    let minimum = u64::from(ctx.minimum_unreserved);
    let mut claimed: u64 = 0;
    for function in &plan.functions {
        let (claim, what, path) = match (function.reserved_concurrency, provisioned.get(&function.function_name)) {
            (Some(reserved), _) => (
                reserved,
                "reserves",
                format!("{}.ReservedConcurrentExecutions", properties_path(paths, &function.logical_id)),
            ),
            (None, Some((amount, path))) => (*amount, "provisions", path.clone()),
            (None, None) => continue,
        };
        claimed += u64::from(claim);
        if limit.saturating_sub(claimed) < minimum || claimed > limit {
            diags.error_at(
                &path,
                format!(
                    "Specified ReservedConcurrentExecutions for function decreases account's \
                     UnreservedConcurrentExecution below its minimum value of [{minimum}]. (function {} {what} {claim}; \
                     the template claims {claimed} of the account's {limit}, leaving {} unreserved)",
                    function.function_name,
                    limit.saturating_sub(claimed)
                ),
            );
            return;
        }
    }
}

fn check_provisioned_within_reserved(plan: &Plan, paths: &HashMap<String, String>, diags: &Diagnostics) {
    let provisioned = provisioned_by_function(plan, paths);
    for function in &plan.functions {
        let (Some(reserved), Some((amount, path))) =
            (function.reserved_concurrency, provisioned.get(&function.function_name))
        else {
            continue;
        };
        if *amount > reserved {
            diags.error_at(
                path,
                format!(
                    "provisioned concurrency {amount} of function {} is above its ReservedConcurrentExecutions \
                     {reserved}; Lambda does not allocate more provisioned concurrency than reserved concurrency",
                    function.function_name
                ),
            );
        }
    }
}

fn check_sqs_event_sources(plan: &Plan, paths: &HashMap<String, String>, diags: &Diagnostics) {
    for mapping in &plan.event_source_mappings {
        if mapping.source != EventSourceKind::Sqs {
            continue;
        }
        let path = properties_path(paths, &mapping.logical_id);
        let queue = plan.queue_by_arn(&mapping.event_source_arn);
        let queue_name = queue.map_or_else(
            || mapping.event_source_arn.rsplit(':').next().unwrap_or_default().to_owned(),
            |queue| queue.queue_name.clone(),
        );
        let fifo = queue.map_or(mapping.event_source_arn.ends_with(".fifo"), |queue| queue.fifo);
        let refused = |path: String| diags.has_problem_at(&path);
        let batching_refused = refused(format!("{path}.BatchSize"))
            || refused(format!("{path}.MaximumBatchingWindowInSeconds"))
            || queue.is_some_and(|queue| refused(format!("{}.FifoQueue", properties_path(paths, &queue.logical_id))));
        // A refused value stands as its default in the plan: nothing to check then.
        if !batching_refused {
            if fifo && mapping.batch_size > 10 {
                diags.error_at(
                    &format!("{path}.BatchSize"),
                    format!("BatchSize {} is above 10, the maximum for FIFO queue {queue_name}", mapping.batch_size),
                );
            } else if mapping.batch_size > 10 && mapping.maximum_batching_window_s < 1 {
                diags.error_at(
                    &format!("{path}.BatchSize"),
                    format!(
                        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater \
                         than 10 (BatchSize {}: set MaximumBatchingWindowInSeconds to at least 1)",
                        mapping.batch_size
                    ),
                );
            }
        }
        let Some(function) = plan.function(&mapping.function_name) else {
            continue;
        };
        if let (Some(maximum), Some(reserved)) = (mapping.maximum_concurrency, function.reserved_concurrency)
            && maximum > reserved
        {
            diags.warn(
                &format!("{path}.ScalingConfig"),
                diags.line_of(&format!("{path}.ScalingConfig")),
                format_args!(
                    "MaximumConcurrency {maximum} is above the ReservedConcurrentExecutions {reserved} of function {}; \
                         the extra pollers' batches would be throttled",
                    function.function_name
                ),
            );
        }
        let Some(queue) = queue else { continue };
        if refused(format!("{}.Timeout", properties_path(paths, &function.logical_id)))
            || refused(format!("{}.VisibilityTimeout", properties_path(paths, &queue.logical_id)))
        {
            continue;
        }
        let visibility_s = queue.visibility_timeout_s();
        if function.timeout_s > visibility_s {
            diags.error_at(
                &path,
                format!(
                    "Invalid request provided: Queue visibility timeout: {visibility_s} seconds is less than Function \
                     timeout: {} seconds (queue {}, function {}); Lambda refuses this event source mapping: raise the \
                     queue's VisibilityTimeout to at least 6 times the function's Timeout",
                    function.timeout_s, queue.queue_name, function.function_name
                ),
            );
            continue;
        }
        let recommended_s = 6 * function.timeout_s + mapping.maximum_batching_window_s;
        if visibility_s < recommended_s {
            diags.warn(
                &path,
                diags.line_of(&path),
                format_args!(
                    "queue {} has VisibilityTimeout {visibility_s} s; AWS recommends at least 6 times function {}'s \
                     Timeout plus MaximumBatchingWindowInSeconds ({recommended_s} s) so retried batches are not \
                     processed twice",
                    queue.queue_name, function.function_name
                ),
            );
        }
    }
}

/// A FIFO queue's dead-letter queue must be FIFO, a standard queue's must be standard.
fn check_dead_letter_queue_kinds(plan: &Plan, paths: &HashMap<String, String>, diags: &Diagnostics) {
    for queue in &plan.queues {
        let Some(target) = queue.dead_letter_target_arn.as_deref().and_then(|arn| plan.queue_by_arn(arn)) else {
            continue;
        };
        let fifo_refused = [queue, target]
            .iter()
            .any(|queue| diags.has_problem_at(&format!("{}.FifoQueue", properties_path(paths, &queue.logical_id))));
        if target.fifo != queue.fifo && !fifo_refused {
            let kind = |fifo: bool| if fifo { "FIFO" } else { "standard" };
            diags.error_at(
                &format!("{}.RedrivePolicy", properties_path(paths, &queue.logical_id)),
                format!(
                    "the dead-letter queue of {} queue {} must be a {} queue too, but {} is {}",
                    kind(queue.fifo),
                    queue.queue_name,
                    kind(queue.fifo),
                    target.queue_name,
                    kind(target.fifo)
                ),
            );
        }
    }
}

/// Puts every queue after the queue its `RedrivePolicy` names (SQS checks the dead-letter
/// queue exists when the policy is set). A redrive cycle is a problem.
pub(crate) fn order_queues(plan: &mut Plan, paths: &HashMap<String, String>, diags: &Diagnostics) {
    let mut remaining = std::mem::take(&mut plan.queues);
    let mut ordered = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let ready = remaining.iter().position(|queue| {
            queue.dead_letter_target_arn.as_deref().is_none_or(|target| {
                target == queue.queue_arn || !remaining.iter().any(|other| other.queue_arn == target)
            })
        });
        match ready {
            Some(index) => ordered.push(remaining.remove(index)),
            None => {
                let names: Vec<&str> = remaining.iter().map(|queue| queue.queue_name.as_str()).collect();
                diags.error_at(
                    &format!("{}.RedrivePolicy", properties_path(paths, &remaining[0].logical_id)),
                    format!("queues redrive to each other in a cycle: {}", names.join(", ")),
                );
                ordered.append(&mut remaining);
            }
        }
    }
    plan.queues = ordered;
}
