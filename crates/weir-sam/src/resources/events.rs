//! Event sources: a SAM function's `Events`, and the SQS settings shared with
//! `AWS::Lambda::EventSourceMapping`.
//!
//! Owns: [`FunctionEvent`] (one SAM event, by type), reading SQS mapping settings with Lambda's
//! ranges, and turning a SAM `SQS` event into an [`EventSourceMappingPlan`] the way SAM generates
//! an `AWS::Lambda::EventSourceMapping` (logical id `{Function}{Event}`, the alias as qualifier).
//! Never: checks settings against the queue or function (validation has both at hand).
//!
//! Adding an event type (Kinesis, DynamoDB, SNS, EventBridgeRule, HttpApi, Schedule) means a
//! [`FunctionEvent`] variant, its reader here, and its plan entry.

use crate::node::Node;
use crate::plan::{EventSourceKind, EventSourceMappingPlan, NotDeployed};
use crate::props::Props;
use crate::resources::{Builder, arn_service};

/// One entry of a SAM function's `Events`, by `Type`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FunctionEvent {
    Sqs(SqsSettings),
    /// A type weir does not deploy yet (listed in `Plan::not_deployed`).
    NotDeployed {
        event_type: String,
    },
}

/// Settings of an SQS event source mapping, as Lambda validates them individually.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SqsSettings {
    pub queue_arn: String,
    pub batch_size: u32,
    pub maximum_batching_window_s: u32,
    pub maximum_concurrency: Option<u32>,
    pub function_response_types: Vec<String>,
    pub enabled: bool,
    pub filter_criteria: Option<serde_json::Value>,
}

/// Reads the SQS settings from `props`, given the queue ARN read by the caller (SAM calls it
/// `Queue`, the CloudFormation resource `EventSourceArn`). Returns `None` after reporting a
/// problem.
pub(crate) fn read_sqs_settings(props: &mut Props<'_>, queue_arn: Option<String>) -> Option<SqsSettings> {
    let batch_size = props.u32("BatchSize", 1..=10_000, "").unwrap_or(10);
    let maximum_batching_window_s = props.u32("MaximumBatchingWindowInSeconds", 0..=300, " seconds").unwrap_or(0);
    let maximum_concurrency = props.object("ScalingConfig", "ScalingConfig").and_then(|mut scaling| {
        let value = scaling.u32("MaximumConcurrency", 2..=1000, "");
        scaling.finish();
        value
    });
    let function_response_types = props.string_list("FunctionResponseTypes").unwrap_or_default();
    for response_type in &function_response_types {
        if response_type != "ReportBatchItemFailures" {
            props.error(
                "FunctionResponseTypes",
                format!("FunctionResponseTypes may only contain ReportBatchItemFailures, got '{response_type}'"),
            );
        }
    }
    let enabled = props.bool("Enabled").unwrap_or(true);
    let filter_criteria = props.json("FilterCriteria");
    props.accept_without_effect(&["KmsKeyArn", "MetricsConfig", "Tags"]);
    props.warn_not_supported(&["ProvisionedPollerConfig"]);
    let queue_arn = queue_arn?;
    Some(SqsSettings {
        queue_arn,
        batch_size,
        maximum_batching_window_s,
        maximum_concurrency,
        function_response_types,
        enabled,
        filter_criteria,
    })
}

/// Checks that `arn` is an SQS queue ARN (a queue URL from `!Ref Queue` is the usual mistake).
pub(crate) fn check_queue_arn(props: &Props<'_>, key: &str, arn: &str) -> bool {
    if arn_service(arn) == Some("sqs") {
        return true;
    }
    let hint = if arn.starts_with("http://") || arn.starts_with("https://") {
        " (that is a queue URL, which !Ref of a queue returns; use !GetAtt Queue.Arn)"
    } else {
        ""
    };
    props.error(key, format!("{key} must be an SQS queue ARN, got '{arn}'{hint}"));
    false
}

/// Reads one SAM event (`Events.<name>`).
fn read_event(builder: &Builder<'_>, path: &str, node: &Node) -> Option<FunctionEvent> {
    let mut event = Props::new(path, Some(node), "a SAM event", builder.diags);
    let event_type = event.required_string("Type", " (SQS, SNS, Kinesis, Api, Schedule, …)");
    let properties = event.node("Properties");
    event.finish();
    let event_type = event_type?;
    match event_type.as_str() {
        "SQS" => {
            let mut props = Props::new(format!("{path}.Properties"), properties, "an SQS event", builder.diags);
            let queue = props.required_string("Queue", " for an SQS event (the queue ARN, e.g. !GetAtt Queue.Arn)");
            let queue = queue.filter(|queue| check_queue_arn(&props, "Queue", queue));
            let settings = read_sqs_settings(&mut props, queue);
            props.finish();
            settings.map(FunctionEvent::Sqs)
        }
        _ => Some(FunctionEvent::NotDeployed { event_type }),
    }
}

/// Reads a SAM function's `Events` into plan entries: each `SQS` event becomes an event source
/// mapping on `function_name` (through `qualifier`), every other type a `not_deployed` entry.
pub(crate) fn build_function_events(
    builder: &mut Builder<'_>,
    function_logical_id: &str,
    events_path: &str,
    events: &Node,
    function_name: &str,
    qualifier: Option<&str>,
) {
    let Some(events) = events.as_map() else {
        builder.diags.error(crate::error::Problem::new(
            events_path,
            events.line,
            format!("Events must be a mapping of event names, got {}", events.kind()),
        ));
        return;
    };
    for entry in &events.entries {
        let path = format!("{events_path}.{}", entry.key);
        let logical_id = format!("{function_logical_id}{}", entry.key);
        match read_event(builder, &path, &entry.value) {
            Some(FunctionEvent::Sqs(settings)) => {
                builder.properties_paths.insert(logical_id.clone(), format!("{path}.Properties"));
                builder
                    .generated_return_values
                    .push((logical_id.clone(), crate::refs::ReturnValues::event_source_mapping()));
                builder.event_source_mappings.push(EventSourceMappingPlan {
                    logical_id,
                    generated_by: Some(function_logical_id.to_owned()),
                    function_name: function_name.to_owned(),
                    qualifier: qualifier.map(str::to_owned),
                    source: EventSourceKind::Sqs,
                    event_source_arn: settings.queue_arn,
                    batch_size: settings.batch_size,
                    maximum_batching_window_s: settings.maximum_batching_window_s,
                    maximum_concurrency: settings.maximum_concurrency,
                    function_response_types: settings.function_response_types,
                    enabled: settings.enabled,
                    filter_criteria: settings.filter_criteria,
                });
            }
            Some(FunctionEvent::NotDeployed { event_type }) => {
                builder.not_deployed.push(NotDeployed {
                    logical_id,
                    resource_type: format!("{event_type} event of {function_logical_id}"),
                });
            }
            None => {}
        }
    }
}
