//! Turning one resolved resource into plan entries.
//!
//! Owns: [`ResourceKind`] (which types weir deploys), [`Builder`] (the plan being assembled plus
//! what later checks need: property paths, version numbering) and the helpers the resource
//! builders share (function references, ARN services, local code paths).
//! Never: resolves intrinsics or orders resources (the loader hands each builder resolved
//! properties in dependency order), and never checks rules spanning several resources
//! (`validate` does).

pub(crate) mod events;
pub(crate) mod function;
pub(crate) mod lambda;
pub(crate) mod queue;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::context::DeployContext;
use crate::error::Diagnostics;
use crate::node::Node;
use crate::plan::{
    AliasPlan, DestinationKind, EventInvokeConfigPlan, EventSourceMappingPlan, FunctionPlan, NotDeployed, QueuePlan,
    VersionPlan,
};
use crate::refs::ReturnValues;

/// The resource types weir deploys. Later kinds (SNS topics, Kinesis streams, DynamoDB
/// tables, HTTP APIs, schedules) become variants here and builders next to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    ServerlessFunction,
    LambdaFunction,
    Queue,
    EventSourceMapping,
    Alias,
    Version,
    EventInvokeConfig,
    NotDeployed,
}

impl ResourceKind {
    pub fn of(resource_type: &str) -> Self {
        match resource_type {
            "AWS::Serverless::Function" => Self::ServerlessFunction,
            "AWS::Lambda::Function" => Self::LambdaFunction,
            "AWS::SQS::Queue" => Self::Queue,
            "AWS::Lambda::EventSourceMapping" => Self::EventSourceMapping,
            "AWS::Lambda::Alias" => Self::Alias,
            "AWS::Lambda::Version" => Self::Version,
            "AWS::Lambda::EventInvokeConfig" => Self::EventInvokeConfig,
            _ => Self::NotDeployed,
        }
    }
}

/// One resource ready to build: its resolved properties and what the loader learnt about it.
pub(crate) struct ResolvedResource<'a> {
    pub logical_id: &'a str,
    pub resource_type: &'a str,
    pub kind: ResourceKind,
    pub properties: Option<&'a Node>,
    /// SAM `AutoPublishAlias`, evaluated early because it names generated resources.
    pub auto_publish_alias: Option<&'a str>,
}

impl ResolvedResource<'_> {
    pub fn properties_path(&self) -> String {
        format!("Resources.{}.Properties", self.logical_id)
    }
}

/// The plan under construction.
pub(crate) struct Builder<'a> {
    pub ctx: &'a DeployContext,
    pub base_dir: &'a Path,
    pub diags: &'a Diagnostics,
    pub functions: Vec<FunctionPlan>,
    pub queues: Vec<QueuePlan>,
    pub event_source_mappings: Vec<EventSourceMappingPlan>,
    pub versions: Vec<VersionPlan>,
    pub aliases: Vec<AliasPlan>,
    pub event_invoke_configs: Vec<EventInvokeConfigPlan>,
    pub not_deployed: Vec<NotDeployed>,
    /// Logical id → path of its properties in the template (SAM events included), so checks on
    /// the finished plan can name the property and find its line.
    pub properties_paths: HashMap<String, String>,
    /// Return values of resources generated while building another one (SAM's destination
    /// queues); handed to the loader with the builder's own.
    pub generated_return_values: Produced,
    /// Function name → versions published so far (the next is this + 1).
    version_counts: HashMap<String, u32>,
}

/// Return values to record for the logical ids a builder produced.
pub(crate) type Produced = Vec<(String, ReturnValues)>;

impl<'a> Builder<'a> {
    pub fn new(ctx: &'a DeployContext, base_dir: &'a Path, diags: &'a Diagnostics) -> Self {
        Self {
            ctx,
            base_dir,
            diags,
            functions: Vec::new(),
            queues: Vec::new(),
            event_source_mappings: Vec::new(),
            versions: Vec::new(),
            aliases: Vec::new(),
            event_invoke_configs: Vec::new(),
            not_deployed: Vec::new(),
            properties_paths: HashMap::new(),
            generated_return_values: Vec::new(),
            version_counts: HashMap::new(),
        }
    }

    pub fn build(&mut self, resource: &ResolvedResource<'_>) -> Produced {
        self.properties_paths.insert(resource.logical_id.to_owned(), resource.properties_path());
        let mut produced = match resource.kind {
            ResourceKind::ServerlessFunction | ResourceKind::LambdaFunction => function::build_function(self, resource),
            ResourceKind::Queue => queue::build_queue(self, resource),
            ResourceKind::EventSourceMapping => lambda::build_event_source_mapping(self, resource),
            ResourceKind::Alias => lambda::build_alias(self, resource),
            ResourceKind::Version => lambda::build_version(self, resource),
            ResourceKind::EventInvokeConfig => lambda::build_event_invoke_config(self, resource),
            ResourceKind::NotDeployed => {
                self.not_deployed.push(NotDeployed {
                    logical_id: resource.logical_id.to_owned(),
                    resource_type: resource.resource_type.to_owned(),
                });
                Vec::new()
            }
        };
        produced.append(&mut self.generated_return_values);
        produced
    }

    /// The number version resource `logical_id` of `function_name` resolves to: the one it was
    /// published as ([`DeployContext::deployed_versions`]), else the next of the function's
    /// versions in plan order.
    pub fn version_number(&mut self, logical_id: &str, function_name: &str) -> u32 {
        let count = self.version_counts.entry(function_name.to_owned()).or_insert(0);
        *count += 1;
        self.ctx.deployed_versions.get(logical_id).copied().unwrap_or(*count)
    }
}

/// A `FunctionName` as Lambda accepts it (name, `name:qualifier`, full or partial ARN) split
/// into name and qualifier.
pub(crate) fn parse_function_reference(text: &str) -> Result<(String, Option<String>), String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (name, qualifier) = match parts.as_slice() {
        [name] => (*name, None),
        [name, qualifier] => (*name, Some(*qualifier)),
        ["arn", _, "lambda", _, _, "function", name] => (*name, None),
        ["arn", _, "lambda", _, _, "function", name, qualifier] => (*name, Some(*qualifier)),
        [_, "function", name] => (*name, None),
        [_, "function", name, qualifier] => (*name, Some(*qualifier)),
        _ => return Err(format!("'{text}' is not a function name or function ARN")),
    };
    check_function_name(name)?;
    Ok((name.to_owned(), qualifier.map(str::to_owned)))
}

/// Lambda's function name rule: 1–64 characters of letters, digits, `-` and `_`.
pub(crate) fn check_function_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("function name '{name}' must be 1 to 64 characters long"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("function name '{name}' may only contain letters, digits, hyphens and underscores"));
    }
    Ok(())
}

/// The AWS service an ARN belongs to (`arn:aws:sqs:…` → `sqs`).
pub(crate) fn arn_service(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn")).then_some(())?;
    parts.next()?;
    parts.next().filter(|service| !service.is_empty())
}

pub(crate) fn destination_kind_of_arn(arn: &str) -> Option<DestinationKind> {
    match arn_service(arn)? {
        "sqs" => Some(DestinationKind::Sqs),
        "sns" => Some(DestinationKind::Sns),
        "lambda" => Some(DestinationKind::Lambda),
        "events" => Some(DestinationKind::EventBridge),
        "s3" => Some(DestinationKind::S3),
        _ => None,
    }
}

/// `path` relative to `base_dir` (the template's folder), normalised without touching the disk.
pub(crate) fn local_path(base_dir: &Path, path: &str) -> PathBuf {
    let joined = base_dir.join(path);
    let mut normalized = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !normalized.pop() {
                    normalized.push("..");
                }
            }
            other => normalized.push(other.as_os_str()),
        }
    }
    normalized
}

/// `Some(message)` when a code location is remote (S3, HTTP), which weir cannot deploy from.
pub(crate) fn remote_code_location(location: &str) -> Option<String> {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("s3://") || lower.starts_with("http://") || lower.starts_with("https://") {
        Some(format!(
            "'{location}' is a remote location; weir deploys local code: point it at a folder \
             (or .zip file) next to the template"
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_references_in_every_form() {
        let parse = |text: &str| parse_function_reference(text).unwrap();
        assert_eq!(parse("worker"), ("worker".to_owned(), None));
        assert_eq!(parse("worker:live"), ("worker".to_owned(), Some("live".to_owned())));
        assert_eq!(parse("arn:aws:lambda:us-east-1:000000000000:function:worker"), ("worker".to_owned(), None));
        assert_eq!(
            parse("arn:aws:lambda:us-east-1:000000000000:function:worker:3"),
            ("worker".to_owned(), Some("3".to_owned()))
        );
        assert_eq!(parse("000000000000:function:worker"), ("worker".to_owned(), None));
        assert!(parse_function_reference("arn:aws:sqs:us-east-1:000000000000:q").is_err());
        assert!(parse_function_reference("bad name").is_err());
    }

    #[test]
    fn local_paths_are_joined_and_normalised() {
        let base = Path::new("/templates/orders");
        assert_eq!(local_path(base, "src/"), PathBuf::from("/templates/orders/src"));
        assert_eq!(local_path(base, "./src/../lib"), PathBuf::from("/templates/orders/lib"));
        assert_eq!(local_path(base, "/abs/code"), PathBuf::from("/abs/code"));
        assert!(remote_code_location("s3://bucket/key.zip").is_some());
        assert!(remote_code_location("src").is_none());
    }

    #[test]
    fn arn_services() {
        assert_eq!(arn_service("arn:aws:sqs:us-east-1:1:q"), Some("sqs"));
        assert_eq!(arn_service("https://x"), None);
        assert_eq!(
            destination_kind_of_arn("arn:aws:events:us-east-1:1:event-bus/default"),
            Some(DestinationKind::EventBridge)
        );
    }
}
