//! The deployment plan: what a template asks weir to create, fully resolved and validated.
//!
//! Owns: the plan types and the order they are applied in ([`Plan::apply_order`]).
//! Never: applies anything; the server does that through its own APIs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// Everything a template deploys, in an order that can be applied front to back.
///
/// Each list is already in apply order: queues that are dead-letter targets come before the
/// queues that redrive to them; versions before the aliases that point at them. Apply the lists
/// in the order of [`Plan::apply_order`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The template's `Description`.
    pub description: Option<String>,
    pub functions: Vec<FunctionPlan>,
    pub queues: Vec<QueuePlan>,
    pub event_source_mappings: Vec<EventSourceMappingPlan>,
    /// Published versions, including the one SAM's `AutoPublishAlias` generates.
    pub versions: Vec<VersionPlan>,
    /// Aliases, including the one SAM's `AutoPublishAlias` generates.
    pub aliases: Vec<AliasPlan>,
    /// `AWS::Lambda::EventInvokeConfig` resources, including the one SAM generates from a
    /// function's own `EventInvokeConfig` (also in [`FunctionPlan::event_invoke`]).
    pub event_invoke_configs: Vec<EventInvokeConfigPlan>,
    pub outputs: Vec<OutputValue>,
    /// Resources (and SAM events) of kinds weir does not deploy, to be listed to the user once.
    pub not_deployed: Vec<NotDeployed>,
    /// Things the user should know that do not stop the deployment (unknown properties,
    /// placeholders used for resources weir does not deploy, recommendations).
    pub warnings: Vec<String>,
}

/// One step of applying a plan, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlanStep<'a> {
    Queue(&'a QueuePlan),
    Function(&'a FunctionPlan),
    Version(&'a VersionPlan),
    Alias(&'a AliasPlan),
    EventInvokeConfig(&'a EventInvokeConfigPlan),
    EventSourceMapping(&'a EventSourceMappingPlan),
}

impl Plan {
    /// Every step in an order where each step only needs what earlier steps created: queues
    /// (dead-letter targets first), then functions (their DLQs and destinations exist), versions,
    /// aliases, event invoke configs, and last the event source mappings (function and queue
    /// exist, so Lambda's CreateEventSourceMapping checks can run).
    pub fn apply_order(&self) -> Vec<PlanStep<'_>> {
        let mut steps = Vec::new();
        steps.extend(self.queues.iter().map(PlanStep::Queue));
        steps.extend(self.functions.iter().map(PlanStep::Function));
        steps.extend(self.versions.iter().map(PlanStep::Version));
        steps.extend(self.aliases.iter().map(PlanStep::Alias));
        steps.extend(self.event_invoke_configs.iter().map(PlanStep::EventInvokeConfig));
        steps.extend(self.event_source_mappings.iter().map(PlanStep::EventSourceMapping));
        steps
    }

    pub fn function(&self, function_name: &str) -> Option<&FunctionPlan> {
        self.functions.iter().find(|function| function.function_name == function_name)
    }

    pub fn queue_by_arn(&self, queue_arn: &str) -> Option<&QueuePlan> {
        self.queues.iter().find(|queue| queue.queue_arn == queue_arn)
    }

    pub fn output(&self, logical_id: &str) -> Option<&OutputValue> {
        self.outputs.iter().find(|output| output.logical_id == logical_id)
    }
}

/// A function to create (`AWS::Serverless::Function` or `AWS::Lambda::Function`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionPlan {
    pub logical_id: String,
    /// `FunctionName`, else the logical id.
    pub function_name: String,
    pub function_arn: String,
    pub runtime: String,
    pub handler: String,
    pub code: CodeSource,
    /// `MemorySize`, default 128.
    pub memory_mb: u32,
    /// `Timeout`, default 3.
    pub timeout_s: u32,
    /// `Environment.Variables` (after `Globals` merge).
    pub environment: BTreeMap<String, String>,
    pub reserved_concurrency: Option<u32>,
    /// SAM `AutoPublishAlias`; the generated version and alias are in [`Plan::versions`] and
    /// [`Plan::aliases`].
    pub auto_publish_alias: Option<String>,
    /// SAM `ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions`; allocated on the
    /// generated alias (see [`AliasPlan::provisioned_concurrency`]).
    pub provisioned_concurrency: Option<u32>,
    pub dead_letter: Option<DeadLetterTarget>,
    /// SAM `EventInvokeConfig` (asynchronous invocation settings).
    pub event_invoke: Option<EventInvokeSettings>,
    pub description: Option<String>,
}

/// Where a function's code comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CodeSource {
    /// A local folder (absolute path), to be zipped by the server.
    Dir(PathBuf),
    /// A local `.zip` (or `.jar`) file (absolute path).
    ZipFile(PathBuf),
    /// Source text given in the template (SAM `InlineCode`, `Code.ZipFile`); Lambda stores it as
    /// `index.py` / `index.js` depending on the runtime.
    Inline(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeadLetterKind {
    Sqs,
    Sns,
}

/// A function's dead-letter queue (failed asynchronous events go there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterTarget {
    pub kind: DeadLetterKind,
    pub target_arn: String,
}

/// Asynchronous invocation settings for one qualifier of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInvokeSettings {
    /// `$LATEST`, a version number or an alias name (SAM: the `AutoPublishAlias`).
    pub qualifier: String,
    /// 0–2.
    pub maximum_retry_attempts: Option<u32>,
    /// 60–21600.
    pub maximum_event_age_s: Option<u32>,
    pub on_success: Option<Destination>,
    pub on_failure: Option<Destination>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DestinationKind {
    Sqs,
    Sns,
    Lambda,
    EventBridge,
    S3,
}

/// An asynchronous invocation destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    pub kind: DestinationKind,
    pub arn: String,
}

/// An `AWS::Lambda::EventInvokeConfig`, or the one SAM generates from a function's
/// `EventInvokeConfig` (logical id `{Function}EventInvokeConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventInvokeConfigPlan {
    pub logical_id: String,
    /// For SAM: the logical id of the function whose `EventInvokeConfig` it is.
    pub generated_by: Option<String>,
    pub function_name: String,
    pub settings: EventInvokeSettings,
}

/// An SQS queue to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuePlan {
    pub logical_id: String,
    /// `QueueName`, else the logical id (plus `.fifo` for FIFO queues).
    pub queue_name: String,
    pub queue_arn: String,
    pub queue_url: String,
    pub fifo: bool,
    /// SQS attribute name → value as CreateQueue takes it (`VisibilityTimeout` → `"30"`,
    /// `RedrivePolicy` → its JSON string). Only attributes the template sets (plus
    /// `FifoQueue`); SQS defaults apply to the rest.
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The ARN in `RedrivePolicy.deadLetterTargetArn`, if any.
    pub dead_letter_target_arn: Option<String>,
    /// Set when SAM generated the queue (an `EventInvokeConfig` destination without an ARN):
    /// the logical id of the function it belongs to.
    pub generated_by: Option<String>,
}

impl QueuePlan {
    /// `VisibilityTimeout`, or SQS's default of 30 s.
    pub fn visibility_timeout_s(&self) -> u32 {
        self.attributes.get("VisibilityTimeout").and_then(|value| value.parse().ok()).unwrap_or(30)
    }
}

/// What an event source mapping reads from. Later kinds (Kinesis, DynamoDB streams) add
/// variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum EventSourceKind {
    Sqs,
}

/// An event source mapping to create (`AWS::Lambda::EventSourceMapping` or a SAM `SQS` event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventSourceMappingPlan {
    /// The resource's logical id; for SAM events `{FunctionLogicalId}{EventName}` as SAM names it.
    pub logical_id: String,
    /// For SAM events: the logical id of the function whose `Events` declared it.
    pub generated_by: Option<String>,
    /// The function's name (an ARN in the template is reduced to the name).
    pub function_name: String,
    /// Alias or version the mapping invokes (SAM uses the `AutoPublishAlias`), `None` = `$LATEST`.
    pub qualifier: Option<String>,
    pub source: EventSourceKind,
    pub event_source_arn: String,
    /// Default 10.
    pub batch_size: u32,
    /// Default 0.
    pub maximum_batching_window_s: u32,
    /// `ScalingConfig.MaximumConcurrency` (2–1000).
    pub maximum_concurrency: Option<u32>,
    /// e.g. `["ReportBatchItemFailures"]`.
    pub function_response_types: Vec<String>,
    /// Default true.
    pub enabled: bool,
    /// `FilterCriteria` as written (`{"Filters": [{"Pattern": "…"}]}`).
    pub filter_criteria: Option<serde_json::Value>,
}

/// A version to publish (`AWS::Lambda::Version`, or generated by `AutoPublishAlias`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionPlan {
    pub logical_id: String,
    pub generated_by: Option<String>,
    pub function_name: String,
    /// The version number references in the template were resolved with: versions of a
    /// function are numbered 1, 2, … in plan order, as publishing them on a new function gives.
    pub expected_version: u32,
    pub description: Option<String>,
    pub provisioned_concurrency: Option<u32>,
}

/// An alias to create (`AWS::Lambda::Alias`, or generated by `AutoPublishAlias`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AliasPlan {
    pub logical_id: String,
    pub generated_by: Option<String>,
    pub function_name: String,
    pub alias_name: String,
    pub alias_arn: String,
    /// A version number or `$LATEST`.
    pub function_version: String,
    /// The plan's version this alias points at, when it is one.
    pub version_logical_id: Option<String>,
    pub description: Option<String>,
    pub provisioned_concurrency: Option<u32>,
}

/// A resolved template output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputValue {
    pub logical_id: String,
    pub value: String,
    pub description: Option<String>,
    pub export_name: Option<String>,
}

/// A resource (or SAM event) weir does not deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotDeployed {
    pub logical_id: String,
    /// The resource type, or for a SAM event `"<Type> event of <FunctionLogicalId>"`.
    pub resource_type: String,
}
