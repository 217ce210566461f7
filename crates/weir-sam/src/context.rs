//! Where a plan will be deployed: the account, region, stack name and endpoint that CloudFormation
//! would know, and the account concurrency limits that validation checks reservations against.
//!
//! Owns: [`DeployContext`] and the ARN / URL formats derived from it.
//! Never: reads the environment or configuration files (the caller fills it in).

use std::collections::BTreeMap;

use serde::Serialize;

/// The deployment target a template is resolved against (pseudo parameters, ARNs, URLs, limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployContext {
    /// `AWS::Region`, e.g. `us-east-1`.
    pub region: String,
    /// `AWS::AccountId`, twelve digits, e.g. `000000000000`.
    pub account_id: String,
    /// `AWS::StackName`.
    pub stack_name: String,
    /// Base URL clients reach weir at (no trailing slash), e.g. `http://127.0.0.1:9000`; queue
    /// URLs are `{endpoint_url}/{account_id}/{queue_name}`.
    pub endpoint_url: String,
    /// The account's concurrent executions limit (Lambda's default is 1000).
    pub account_concurrency_limit: u32,
    /// Concurrency that reservations must leave unreserved (Lambda: 100).
    pub minimum_unreserved: u32,
    /// The instruction set functions run on (`x86_64` or `arm64`): this machine's, as weir runs
    /// them on it. A function declaring the other one is warned about.
    pub architecture: String,
    /// Versions already published for the template's version resources (logical id, e.g.
    /// `WorkerVersion`, → version number). References (`!Ref Worker.Version`,
    /// `!GetAtt V.Version`, outputs, aliases) resolve to these numbers; versions not listed are
    /// numbered 1, 2, … per function, as publishing them on a new function gives. Empty for a
    /// first plan; the deployer fills it from what it published to resolve the outputs it prints.
    pub deployed_versions: BTreeMap<String, u32>,
}

impl DeployContext {
    /// A context with Lambda's default limits (1000 concurrent executions, 100 kept unreserved).
    pub fn new(
        region: impl Into<String>,
        account_id: impl Into<String>,
        stack_name: impl Into<String>,
        endpoint_url: impl Into<String>,
    ) -> Self {
        let endpoint_url: String = endpoint_url.into();
        Self {
            region: region.into(),
            account_id: account_id.into(),
            stack_name: stack_name.into(),
            endpoint_url: endpoint_url.trim_end_matches('/').to_owned(),
            account_concurrency_limit: 1000,
            minimum_unreserved: 100,
            architecture: host_architecture().to_owned(),
            deployed_versions: BTreeMap::new(),
        }
    }

    /// `arn:aws:lambda:{region}:{account}:function:{name}`.
    pub fn function_arn(&self, function_name: &str) -> String {
        format!("arn:aws:lambda:{}:{}:function:{function_name}", self.region, self.account_id)
    }

    /// `arn:aws:sqs:{region}:{account}:{name}`.
    pub fn queue_arn(&self, queue_name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{queue_name}", self.region, self.account_id)
    }

    /// `{endpoint_url}/{account}/{name}`.
    pub fn queue_url(&self, queue_name: &str) -> String {
        format!("{}/{}/{queue_name}", self.endpoint_url, self.account_id)
    }

    /// `AWS::StackId`: a stable made-up id (CloudFormation appends a UUID; weir has none).
    pub fn stack_id(&self) -> String {
        format!("arn:aws:cloudformation:{}:{}:stack/{}/weir", self.region, self.account_id, self.stack_name)
    }
}

/// This machine's instruction set, named as Lambda's `Architectures` names it.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}
