//! The Lambda resources around functions: `AWS::Lambda::EventSourceMapping`,
//! `AWS::Lambda::Alias`, `AWS::Lambda::Version` and `AWS::Lambda::EventInvokeConfig`, plus the
//! asynchronous-invocation settings a SAM function's `EventInvokeConfig` shares with the last.
//!
//! Owns: reading those resources, Lambda's ranges for them (retries 0–2, event age
//! 60–21600 s, provisioned concurrency ≥ 1), and destination kinds.
//! Never: checks them against the functions they name (validation does).

use crate::plan::{
    AliasPlan, Destination, DestinationKind, EventInvokeConfigPlan, EventInvokeSettings, EventSourceKind,
    EventSourceMappingPlan, NotDeployed, QueuePlan, VersionPlan,
};
use crate::props::Props;
use crate::refs::ReturnValues;
use crate::resources::events::read_sqs_settings;
use crate::resources::{
    Builder, Produced, ResolvedResource, arn_service, destination_kind_of_arn, parse_function_reference,
};

/// Event source mapping properties that only apply to streams, Kafka, MQ or DocumentDB.
const NOT_FOR_SQS: &[&str] = &[
    "StartingPosition",
    "StartingPositionTimestamp",
    "ParallelizationFactor",
    "BisectBatchOnFunctionError",
    "MaximumRecordAgeInSeconds",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "DestinationConfig",
    "Topics",
    "Queues",
    "SourceAccessConfigurations",
    "SelfManagedEventSource",
    "SelfManagedKafkaEventSourceConfig",
    "AmazonManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig",
];

/// Reads `FunctionName` (a name or ARN, possibly qualified) into name and qualifier.
fn read_function_name(props: &mut Props<'_>) -> Option<(String, Option<String>)> {
    let text = props.required_string("FunctionName", " (the function's name or ARN, e.g. !Ref MyFunction)")?;
    match parse_function_reference(&text) {
        Ok(reference) => Some(reference),
        Err(message) => {
            props.error("FunctionName", message);
            None
        }
    }
}

fn read_provisioned_concurrency(props: &mut Props<'_>) -> Option<u32> {
    let mut config = props.object("ProvisionedConcurrencyConfig", "ProvisionedConcurrencyConfig")?;
    let value = config.u32("ProvisionedConcurrentExecutions", 1..=u32::MAX, "");
    if value.is_none() && !config.has("ProvisionedConcurrentExecutions") {
        config.error_here("ProvisionedConcurrentExecutions is required");
    }
    config.finish();
    value
}

pub(crate) fn build_event_source_mapping(builder: &mut Builder<'_>, resource: &ResolvedResource<'_>) -> Produced {
    let mut props = Props::new(resource.properties_path(), resource.properties, resource.resource_type, builder.diags);
    let function = read_function_name(&mut props);
    let source_arn = props.required_string("EventSourceArn", " (the queue ARN, e.g. !GetAtt Queue.Arn)");
    let produced = vec![(resource.logical_id.to_owned(), ReturnValues::event_source_mapping())];
    let Some(source_arn) = source_arn else {
        props.finish();
        return produced;
    };
    match arn_service(&source_arn) {
        Some("sqs") => {}
        Some(service) => {
            // Not deployed: read everything so the listing is the only message about it.
            builder.not_deployed.push(NotDeployed {
                logical_id: resource.logical_id.to_owned(),
                resource_type: format!("{} ({service} source)", resource.resource_type),
            });
            return produced;
        }
        None => {
            let hint = if source_arn.starts_with("http") {
                " (that is a queue URL, which !Ref of a queue returns; use !GetAtt Queue.Arn)"
            } else {
                ""
            };
            props.error("EventSourceArn", format!("EventSourceArn must be an ARN, got '{source_arn}'{hint}"));
            props.finish();
            return produced;
        }
    }
    let settings = read_sqs_settings(&mut props, Some(source_arn));
    for key in NOT_FOR_SQS {
        if props.node(key).is_some() {
            props.warn(
                key,
                format_args!("{key} applies to stream, Kafka, MQ and DocumentDB sources; ignored for an SQS source"),
            );
        }
    }
    props.finish();
    if let (Some((function_name, qualifier)), Some(settings)) = (function, settings) {
        builder.event_source_mappings.push(EventSourceMappingPlan {
            logical_id: resource.logical_id.to_owned(),
            generated_by: None,
            function_name,
            qualifier,
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
    produced
}

pub(crate) fn build_alias(builder: &mut Builder<'_>, resource: &ResolvedResource<'_>) -> Produced {
    let mut props = Props::new(resource.properties_path(), resource.properties, resource.resource_type, builder.diags);
    let function = read_function_name(&mut props);
    if let Some((_, Some(qualifier))) = &function {
        props.error("FunctionName", format!("FunctionName of an alias cannot carry a qualifier (':{qualifier}')"));
    }
    let alias_name = props.required_string("Name", " (the alias name, e.g. live)");
    if let Some(name) = &alias_name {
        let valid = !name.is_empty()
            && name.len() <= 128
            && !name.chars().all(|c| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            props.error(
                "Name",
                format!(
                    "alias name '{name}' must be 1 to 128 letters, digits, hyphens or underscores, and not only digits"
                ),
            );
        }
    }
    let function_version =
        props.required_string("FunctionVersion", " (a version number, e.g. !GetAtt MyVersion.Version)");
    if let Some(version) = &function_version
        && version != "$LATEST"
        && version.parse::<u32>().is_err()
    {
        props.error("FunctionVersion", format!("FunctionVersion must be a version number or $LATEST, got '{version}'"));
    }
    let description = props.string("Description");
    let provisioned_concurrency = read_provisioned_concurrency(&mut props);
    if provisioned_concurrency.is_some() && function_version.as_deref() == Some("$LATEST") {
        props.error(
            "ProvisionedConcurrencyConfig",
            "provisioned concurrency cannot be allocated on an alias of $LATEST (Lambda refuses it on the unpublished version); point FunctionVersion at a published version",
        );
    }
    props.warn_not_supported(&["RoutingConfig"]);
    props.finish();
    let (Some((function_name, _)), Some(alias_name), Some(function_version)) = (function, alias_name, function_version)
    else {
        return Vec::new();
    };
    let alias_arn = format!("{}:{alias_name}", builder.ctx.function_arn(&function_name));
    let version_logical_id = builder
        .versions
        .iter()
        .find(|version| {
            version.function_name == function_name && version.expected_version.to_string() == function_version
        })
        .map(|version| version.logical_id.clone());
    builder.aliases.push(AliasPlan {
        logical_id: resource.logical_id.to_owned(),
        generated_by: None,
        function_name,
        alias_name,
        alias_arn: alias_arn.clone(),
        function_version,
        version_logical_id,
        description,
        provisioned_concurrency,
    });
    vec![(resource.logical_id.to_owned(), ReturnValues::alias(&alias_arn))]
}

pub(crate) fn build_version(builder: &mut Builder<'_>, resource: &ResolvedResource<'_>) -> Produced {
    let mut props = Props::new(resource.properties_path(), resource.properties, resource.resource_type, builder.diags);
    let function = read_function_name(&mut props);
    if let Some((_, Some(qualifier))) = &function {
        props.error("FunctionName", format!("FunctionName of a version cannot carry a qualifier (':{qualifier}')"));
    }
    let description = props.string("Description");
    let provisioned_concurrency = read_provisioned_concurrency(&mut props);
    props.accept_without_effect(&["CodeSha256", "Policy", "RuntimePolicy"]);
    props.finish();
    let Some((function_name, _)) = function else {
        return Vec::new();
    };
    let version = builder.version_number(resource.logical_id, &function_name);
    let version_arn = format!("{}:{version}", builder.ctx.function_arn(&function_name));
    builder.versions.push(VersionPlan {
        logical_id: resource.logical_id.to_owned(),
        generated_by: None,
        function_name,
        expected_version: version,
        description,
        provisioned_concurrency,
    });
    vec![(resource.logical_id.to_owned(), ReturnValues::version(&version_arn, version))]
}

pub(crate) fn build_event_invoke_config(builder: &mut Builder<'_>, resource: &ResolvedResource<'_>) -> Produced {
    let diags = builder.diags;
    let mut props = Props::new(resource.properties_path(), resource.properties, resource.resource_type, diags);
    let function = read_function_name(&mut props);
    let qualifier = props.required_string("Qualifier", " ($LATEST, a version number or an alias name)");
    let settings = qualifier
        .and_then(|qualifier| read_event_invoke_settings(builder, &mut props, qualifier, false, resource.logical_id));
    props.finish();
    if let (Some((function_name, _)), Some(settings)) = (function, settings) {
        builder.event_invoke_configs.push(EventInvokeConfigPlan {
            logical_id: resource.logical_id.to_owned(),
            generated_by: None,
            function_name,
            settings,
        });
    }
    vec![(resource.logical_id.to_owned(), ReturnValues::event_invoke_config())]
}

/// `MaximumRetryAttempts`, `MaximumEventAgeInSeconds` and `DestinationConfig` of an
/// `EventInvokeConfig`. With `sam`, destinations carry a `Type` and SAM creates an SQS queue
/// for an SQS destination given without an ARN (`{Function}EventInvokeConfigOnFailureQueue`).
pub(crate) fn read_event_invoke_settings(
    builder: &mut Builder<'_>,
    props: &mut Props<'_>,
    qualifier: String,
    sam: bool,
    owner_logical_id: &str,
) -> Option<EventInvokeSettings> {
    let maximum_retry_attempts = props.u32("MaximumRetryAttempts", 0..=2, "");
    let maximum_event_age_s = props.u32("MaximumEventAgeInSeconds", 60..=21_600, " seconds");
    let (mut on_success, mut on_failure) = (None, None);
    if let Some(mut destinations) = props.object("DestinationConfig", "DestinationConfig") {
        on_success = read_destination(builder, &mut destinations, "OnSuccess", sam, owner_logical_id);
        on_failure = read_destination(builder, &mut destinations, "OnFailure", sam, owner_logical_id);
        destinations.finish();
    }
    Some(EventInvokeSettings { qualifier, maximum_retry_attempts, maximum_event_age_s, on_success, on_failure })
}

fn read_destination(
    builder: &mut Builder<'_>,
    destinations: &mut Props<'_>,
    key: &str,
    sam: bool,
    owner_logical_id: &str,
) -> Option<Destination> {
    let mut destination = destinations.object(key, key)?;
    let declared_kind = if sam {
        let kind = destination.required_string("Type", " (SQS, SNS, Lambda, EventBridge or S3Bucket)");
        match kind.as_deref() {
            Some("SQS") => Some(DestinationKind::Sqs),
            Some("SNS") => Some(DestinationKind::Sns),
            Some("Lambda") => Some(DestinationKind::Lambda),
            Some("EventBridge") => Some(DestinationKind::EventBridge),
            Some("S3Bucket") => Some(DestinationKind::S3),
            Some(other) => {
                destination
                    .error("Type", format!("Type must be SQS, SNS, Lambda, EventBridge or S3Bucket, got '{other}'"));
                return None;
            }
            None => return None,
        }
    } else {
        None
    };
    let arn = destination.string("Destination");
    destination.finish();
    let Some(arn) = arn else {
        return match declared_kind {
            Some(DestinationKind::Sqs) => Some(generated_destination_queue(builder, owner_logical_id, key)),
            Some(DestinationKind::Sns) => {
                let logical_id = format!("{owner_logical_id}EventInvokeConfig{key}Topic");
                builder.not_deployed.push(NotDeployed { logical_id, resource_type: "AWS::SNS::Topic".to_owned() });
                destinations.warn(key, "SAM would create an SNS topic for this destination; weir does not deploy SNS topics, so the destination is left out");
                None
            }
            _ => {
                destinations.error(key, format!("{key}.Destination (an ARN) is required"));
                None
            }
        };
    };
    let arn_kind = destination_kind_of_arn(&arn);
    match (declared_kind, arn_kind) {
        (_, None) => {
            destinations.error(
                key,
                format!("{key}.Destination must be an SQS, SNS, Lambda, EventBridge or S3 ARN, got '{arn}'"),
            );
            None
        }
        (Some(declared), Some(actual)) if declared != actual => {
            destinations.error(key, format!("{key}.Destination '{arn}' does not match Type {declared:?}"));
            None
        }
        (_, Some(kind)) => Some(Destination { kind, arn }),
    }
}

/// The queue SAM creates for an SQS destination without an ARN.
fn generated_destination_queue(builder: &mut Builder<'_>, owner_logical_id: &str, key: &str) -> Destination {
    let logical_id = format!("{owner_logical_id}EventInvokeConfig{key}Queue");
    let queue_arn = builder.ctx.queue_arn(&logical_id);
    let queue_url = builder.ctx.queue_url(&logical_id);
    builder
        .generated_return_values
        .push((logical_id.clone(), ReturnValues::queue(&logical_id, &queue_arn, &queue_url)));
    builder.queues.push(QueuePlan {
        logical_id: logical_id.clone(),
        queue_name: logical_id,
        queue_arn: queue_arn.clone(),
        queue_url,
        fifo: false,
        attributes: Default::default(),
        tags: Default::default(),
        dead_letter_target_arn: None,
        generated_by: Some(owner_logical_id.to_owned()),
    });
    Destination { kind: DestinationKind::Sqs, arn: queue_arn }
}
