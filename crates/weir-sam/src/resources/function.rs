//! `AWS::Serverless::Function` and `AWS::Lambda::Function` → [`FunctionPlan`], plus what SAM
//! generates from a serverless function: the `AutoPublishAlias` version and alias, event source
//! mappings for `SQS` events, the `EventInvokeConfig` resource, and queues for its destinations
//! given without an ARN.
//!
//! Owns: the function properties weir understands, their defaults (128 MB, 3 s) and ranges,
//! code locations (local folder, local zip, inline), and the single-function rules (Handler and
//! Runtime required, provisioned concurrency needs an alias, reserved environment variables).
//! Never: checks account-wide rules (reservations against the account limit) or the queue a
//! mapping reads (validation does).

use crate::plan::{
    AliasPlan, CodeSource, DeadLetterKind, DeadLetterTarget, EventInvokeConfigPlan, FunctionPlan, VersionPlan,
};
use crate::props::Props;
use crate::refs::ReturnValues;
use crate::resources::events::build_function_events;
use crate::resources::lambda::read_event_invoke_settings;
use crate::resources::{
    Builder, Produced, ResolvedResource, ResourceKind, arn_service, check_function_name, local_path,
    remote_code_location,
};

use weir_wire::lambda::RESERVED_ENVIRONMENT_VARIABLES;

/// Properties that only concern IAM, tagging, tracing or signing on AWS. (`LoggingConfig`,
/// `Architectures` and `EphemeralStorage` are read by [`read_runtime_settings`].)
const WITHOUT_EFFECT: &[&str] = &[
    "Role",
    "Policies",
    "PermissionsBoundary",
    "AssumeRolePolicyDocument",
    "RolePath",
    "Tags",
    "PropagateTags",
    "Tracing",
    "TracingConfig",
    "KmsKeyArn",
    "CodeSigningConfigArn",
    "RuntimeManagementConfig",
    "RecursiveLoop",
    "SourceKMSKeyArn",
    "AutoPublishCodeSha256",
    "AutoPublishAliasAllProperties",
];

/// Properties that change behaviour on AWS and that weir does not implement.
const NOT_SUPPORTED: &[&str] = &[
    "Layers",
    "VpcConfig",
    "FileSystemConfigs",
    "SnapStart",
    "DeploymentPreference",
    "FunctionUrlConfig",
    "ImageConfig",
    "Connectors",
];

pub(crate) fn build_function(builder: &mut Builder<'_>, resource: &ResolvedResource<'_>) -> Produced {
    let serverless = resource.kind == ResourceKind::ServerlessFunction;
    let logical_id = resource.logical_id;
    let diags = builder.diags;
    let mut props = Props::new(resource.properties_path(), resource.properties, resource.resource_type, diags);

    let function_name = match props.string("FunctionName") {
        Some(name) => {
            if let Err(message) = check_function_name(&name) {
                props.error("FunctionName", message);
            }
            name
        }
        None => logical_id.to_owned(),
    };
    let function_arn = builder.ctx.function_arn(&function_name);

    if let Some(package_type) = props.string("PackageType")
        && package_type != "Zip"
    {
        props.error(
            "PackageType",
            format!("PackageType {package_type} is not supported; weir runs zip functions (PackageType: Zip)"),
        );
    }
    let code =
        if serverless { read_serverless_code(builder, &mut props) } else { read_lambda_code(builder, &mut props) };
    let handler = props.required_string("Handler", " for zip-packaged functions");
    let runtime = props.required_string("Runtime", " for zip-packaged functions (e.g. python3.12)");
    let memory_mb = props.u32("MemorySize", 128..=10_240, " MB").unwrap_or(128);
    let timeout_s = props.u32("Timeout", 1..=900, " seconds").unwrap_or(3);
    let environment = props
        .object("Environment", "Environment")
        .and_then(|mut environment| {
            let variables = environment.string_map("Variables");
            if let Some(variables) = &variables {
                let reserved: Vec<&str> = variables
                    .keys()
                    .map(String::as_str)
                    .filter(|name| RESERVED_ENVIRONMENT_VARIABLES.contains(name))
                    .collect();
                if !reserved.is_empty() {
                    environment.error(
                        "Variables",
                        format!(
                            "Lambda was unable to configure your environment variables because the environment \
                             variables you have provided contains reserved keys that are currently not supported \
                             for modification. Reserved keys used in this request: {}",
                            reserved.join(", ")
                        ),
                    );
                }
                for name in variables.keys() {
                    let valid = name.chars().next().is_some_and(|first| first.is_ascii_alphabetic())
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid {
                        environment.error(
                            "Variables",
                            format!("environment variable name '{name}' must start with a letter and contain only letters, digits and underscores"),
                        );
                    }
                }
            }
            environment.finish();
            variables
        })
        .unwrap_or_default();
    let reserved_concurrency = props.u32("ReservedConcurrentExecutions", 0..=u32::MAX, "");
    let description = props.string("Description");

    let auto_publish_alias = if serverless {
        props.node("AutoPublishAlias");
        resource.auto_publish_alias.map(str::to_owned)
    } else {
        None
    };
    let provisioned_concurrency = if serverless {
        let provisioned =
            props.object("ProvisionedConcurrencyConfig", "ProvisionedConcurrencyConfig").and_then(|mut config| {
                let value = config.u32("ProvisionedConcurrentExecutions", 1..=u32::MAX, "");
                if value.is_none() && !config.has("ProvisionedConcurrentExecutions") {
                    config.error_here("ProvisionedConcurrentExecutions is required");
                }
                config.finish();
                value
            });
        if provisioned.is_some() && auto_publish_alias.is_none() {
            props.error(
                "ProvisionedConcurrencyConfig",
                "ProvisionedConcurrencyConfig requires AutoPublishAlias: without it the provisioned concurrency \
                 would be on $LATEST, which Lambda refuses (\"Provisioned Concurrency is not supported on the \
                 unpublished version of the function\"); add e.g. AutoPublishAlias: live",
            );
        }
        provisioned
    } else {
        if props.node("ProvisionedConcurrencyConfig").is_some() {
            props.error(
                "ProvisionedConcurrencyConfig",
                "AWS::Lambda::Function has no ProvisionedConcurrencyConfig: set it on an AWS::Lambda::Alias or \
                 AWS::Lambda::Version (Lambda refuses provisioned concurrency on $LATEST)",
            );
        }
        None
    };

    let dead_letter = if serverless {
        props.object("DeadLetterQueue", "DeadLetterQueue").and_then(|mut queue| {
            let kind = queue.required_string("Type", " (SQS or SNS)");
            let target_arn = queue.required_string("TargetArn", " (the queue or topic ARN)");
            let kind = match kind.as_deref() {
                Some("SQS") => Some(DeadLetterKind::Sqs),
                Some("SNS") => Some(DeadLetterKind::Sns),
                Some(other) => {
                    queue.error("Type", format!("Type must be SQS or SNS, got '{other}'"));
                    None
                }
                None => None,
            };
            let target = dead_letter_target(&queue, "TargetArn", kind, target_arn);
            queue.finish();
            target
        })
    } else {
        props.object("DeadLetterConfig", "DeadLetterConfig").and_then(|mut config| {
            let target_arn = config.string("TargetArn");
            let target = dead_letter_target(&config, "TargetArn", None, target_arn);
            config.finish();
            target
        })
    };

    let qualifier = auto_publish_alias.clone().unwrap_or_else(|| "$LATEST".to_owned());
    let event_invoke = if serverless {
        props.object("EventInvokeConfig", "EventInvokeConfig").and_then(|mut config| {
            let settings = read_event_invoke_settings(builder, &mut config, qualifier, true, logical_id);
            config.finish();
            settings
        })
    } else {
        None
    };

    let events = if serverless { props.node("Events") } else { None };
    let version_description = if serverless { props.string("VersionDescription") } else { None };
    if !serverless {
        props.node("Code");
    }
    read_runtime_settings(builder, &mut props);
    props.accept_without_effect(WITHOUT_EFFECT);
    props.warn_not_supported(NOT_SUPPORTED);
    props.finish();

    // Events are read even when the function itself has problems, so all of them are reported.
    if let Some(events) = events {
        build_function_events(
            builder,
            logical_id,
            &format!("{}.Events", resource.properties_path()),
            events,
            &function_name,
            auto_publish_alias.as_deref(),
        );
    }

    let (Some(code), Some(handler), Some(runtime)) = (code, handler, runtime) else {
        return Vec::new();
    };
    let mut produced: Produced =
        vec![(logical_id.to_owned(), ReturnValues::function(resource.resource_type, &function_name, &function_arn))];

    if let Some(alias_name) = &auto_publish_alias {
        let version_logical_id = format!("{logical_id}Version");
        let version = builder.version_number(&version_logical_id, &function_name);
        let version_arn = format!("{function_arn}:{version}");
        builder.versions.push(VersionPlan {
            logical_id: version_logical_id.clone(),
            generated_by: Some(logical_id.to_owned()),
            function_name: function_name.clone(),
            expected_version: version,
            description: version_description,
            provisioned_concurrency: None,
        });
        produced.push((version_logical_id.clone(), ReturnValues::version(&version_arn, version)));
        let alias_logical_id = format!("{logical_id}Alias{alias_name}");
        let alias_arn = format!("{function_arn}:{alias_name}");
        builder.aliases.push(AliasPlan {
            logical_id: alias_logical_id.clone(),
            generated_by: Some(logical_id.to_owned()),
            function_name: function_name.clone(),
            alias_name: alias_name.clone(),
            alias_arn: alias_arn.clone(),
            function_version: version.to_string(),
            version_logical_id: Some(version_logical_id),
            description: None,
            provisioned_concurrency,
        });
        builder.properties_paths.insert(alias_logical_id.clone(), resource.properties_path());
        produced.push((alias_logical_id, ReturnValues::alias(&alias_arn)));
    }

    if let Some(settings) = &event_invoke {
        // SAM generates an AWS::Lambda::EventInvokeConfig named {Function}EventInvokeConfig.
        builder.event_invoke_configs.push(EventInvokeConfigPlan {
            logical_id: format!("{logical_id}EventInvokeConfig"),
            generated_by: Some(logical_id.to_owned()),
            function_name: function_name.clone(),
            settings: settings.clone(),
        });
    }
    builder.functions.push(FunctionPlan {
        logical_id: logical_id.to_owned(),
        function_name,
        function_arn,
        runtime,
        handler,
        code,
        memory_mb,
        timeout_s,
        environment,
        reserved_concurrency,
        auto_publish_alias,
        provisioned_concurrency,
        dead_letter,
        event_invoke,
        description,
    });
    produced
}

/// `LoggingConfig`, `Architectures` and `EphemeralStorage`: checked as Lambda checks them, and
/// warned about where they would make the function behave differently on AWS than on weir.
fn read_runtime_settings(builder: &Builder<'_>, props: &mut Props<'_>) {
    if let Some(mut logging) = props.object("LoggingConfig", "LoggingConfig") {
        let one_of = |logging: &Props<'_>, key: &str, value: &Option<String>, allowed: &[&str]| {
            if let Some(value) = value
                && !allowed.contains(&value.as_str())
            {
                logging.error(key, format!("{key} must be one of {}, got '{value}'", allowed.join(", ")));
            }
        };
        let format = logging.string("LogFormat");
        let application = logging.string("ApplicationLogLevel");
        let system = logging.string("SystemLogLevel");
        one_of(&logging, "LogFormat", &format, &["Text", "JSON"]);
        one_of(&logging, "ApplicationLogLevel", &application, &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]);
        one_of(&logging, "SystemLogLevel", &system, &["DEBUG", "INFO", "WARN"]);
        if format.as_deref() == Some("JSON") {
            logging.warn(
                "LogFormat",
                "LogFormat JSON is not applied by weir: the function logs as Text (Lambda's runtimes write \
                 logging calls as JSON objects and set AWS_LAMBDA_LOG_FORMAT=JSON)",
            );
        }
        if let Some(level) = application {
            logging.warn(
                "ApplicationLogLevel",
                format_args!(
                    "ApplicationLogLevel is not applied by weir: log lines below {level} are kept (Lambda drops \
                     them and sets AWS_LAMBDA_LOG_LEVEL={level})"
                ),
            );
        }
        if system.is_some() {
            logging.warn(
                "SystemLogLevel",
                "SystemLogLevel is not applied by weir: the START, END and REPORT lines are always written",
            );
        }
        // Where the logs go on AWS; weir keeps them per function.
        logging.accept_without_effect(&["LogGroup"]);
        logging.finish();
    }
    if let Some(architectures) = props.string_list("Architectures") {
        match architectures.as_slice() {
            [architecture] if architecture == "x86_64" || architecture == "arm64" => {
                let host = &builder.ctx.architecture;
                if architecture != host {
                    props.warn(
                        "Architectures",
                        format_args!(
                            "the function runs on this machine's {host}, not {architecture}: a binary (provided \
                             runtimes) or a native dependency built for {architecture} will not load"
                        ),
                    );
                }
            }
            [other] => props.error("Architectures", format!("Architectures must be x86_64 or arm64, got '{other}'")),
            _ => props.error("Architectures", "Architectures must list exactly one architecture (x86_64 or arm64)"),
        }
    }
    // The size of /tmp. weir does not limit /tmp, with or without it (the default on AWS is
    // 512 MB), so a larger size changes nothing here: only the range is checked.
    if let Some(mut storage) = props.object("EphemeralStorage", "EphemeralStorage") {
        if storage.u32("Size", 512..=10_240, " MB").is_none() && !storage.has("Size") {
            storage.error_here("Size is required (512 to 10240 MB)");
        }
        storage.finish();
    }
}

fn dead_letter_target(
    props: &Props<'_>,
    key: &str,
    kind: Option<DeadLetterKind>,
    target_arn: Option<String>,
) -> Option<DeadLetterTarget> {
    let target_arn = target_arn?;
    let arn_kind = match arn_service(&target_arn) {
        Some("sqs") => Some(DeadLetterKind::Sqs),
        Some("sns") => Some(DeadLetterKind::Sns),
        _ => None,
    };
    match (kind, arn_kind) {
        (_, None) => {
            props.error(key, format!("{key} must be an SQS queue or SNS topic ARN, got '{target_arn}'"));
            None
        }
        (Some(kind), Some(arn_kind)) if kind != arn_kind => {
            props.error(key, format!("{key} '{target_arn}' does not match Type {kind:?}"));
            None
        }
        (_, Some(kind)) => Some(DeadLetterTarget { kind, target_arn }),
    }
}

/// SAM: `CodeUri` (local folder or zip) or `InlineCode`; S3 locations and images are errors.
fn read_serverless_code(builder: &Builder<'_>, props: &mut Props<'_>) -> Option<CodeSource> {
    if props.node("ImageUri").is_some() {
        props.error("ImageUri", "container image functions are not supported; use CodeUri with a local folder");
        return None;
    }
    let inline = props.string("InlineCode");
    let code_uri = props.node("CodeUri");
    match (inline, code_uri) {
        (Some(_), Some(_)) => {
            props.error("InlineCode", "specify either CodeUri or InlineCode, not both");
            None
        }
        (Some(source), None) => Some(CodeSource::Inline(source)),
        (None, Some(node)) => match node.scalar_string() {
            Some(location) => local_code(builder, props, "CodeUri", &location),
            None => {
                props.error(
                    "CodeUri",
                    "CodeUri is an S3 location (Bucket/Key); weir deploys local code: set CodeUri to a folder next to the template",
                );
                None
            }
        },
        (None, None) => {
            props.error_here("CodeUri (a local folder) or InlineCode is required");
            None
        }
    }
}

/// CloudFormation: `Code.ZipFile` (inline) or a local path (as the SAM CLI accepts); S3 and
/// images are errors.
fn read_lambda_code(builder: &Builder<'_>, props: &mut Props<'_>) -> Option<CodeSource> {
    let Some(node) = props.node("Code") else {
        props.error_here("Code is required (Code.ZipFile with inline source, or a local folder)");
        return None;
    };
    if let Some(location) = node.scalar_string() {
        return local_code(builder, props, "Code", &location);
    }
    let mut code = props.object("Code", "Code")?;
    let source = if let Some(source) = code.string("ZipFile") {
        Some(CodeSource::Inline(source))
    } else if code.has("S3Bucket") || code.has("S3Key") {
        code.error(
            "S3Bucket",
            "Code in S3 (S3Bucket/S3Key) is not supported; weir deploys local code: use Code.ZipFile or a local folder",
        );
        None
    } else if code.has("ImageUri") {
        code.error("ImageUri", "container image functions are not supported");
        None
    } else {
        code.error_here("Code needs ZipFile (inline source) or a local folder");
        None
    };
    code.accept_without_effect(&["S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri", "SourceKMSKeyArn"]);
    code.finish();
    source
}

fn local_code(builder: &Builder<'_>, props: &Props<'_>, key: &str, location: &str) -> Option<CodeSource> {
    if let Some(message) = remote_code_location(location) {
        props.error(key, format!("{key} {message}"));
        return None;
    }
    let path = local_path(builder.base_dir, location);
    let lower = location.to_ascii_lowercase();
    Some(if lower.ends_with(".zip") || lower.ends_with(".jar") {
        CodeSource::ZipFile(path)
    } else {
        CodeSource::Dir(path)
    })
}
