//! weir-sam: load an AWS SAM / CloudFormation template into a validated deployment [`Plan`].
//!
//! Owns: parsing templates (YAML with the `!Ref`-style short tags, or JSON), SAM `Globals`,
//! `Parameters` (with `--parameter-overrides`), `Conditions`, `Mappings`, intrinsic functions,
//! physical names and ARNs, the resources weir deploys (functions, SQS queues, event source
//! mappings, versions, aliases, event invoke configs), `Outputs`, and the checks Lambda and SQS
//! would make at deploy time (concurrency reservations, visibility timeouts, batch sizes, ranges).
//! Never: performs IO beyond reading the template file, or deploys anything: the server applies
//! the plan through its own APIs, in [`Plan::apply_order`].
//!
//! ```
//! use std::path::Path;
//! use weir_sam::{DeployContext, load_template_str};
//!
//! let template = r#"
//! Transform: AWS::Serverless-2016-10-31
//! Resources:
//!   Jobs:
//!     Type: AWS::SQS::Queue
//!     Properties: { VisibilityTimeout: 60 }
//!   Worker:
//!     Type: AWS::Serverless::Function
//!     Properties:
//!       Runtime: python3.12
//!       Handler: app.handler
//!       CodeUri: worker/
//!       Timeout: 10
//!       Events:
//!         FromJobs: { Type: SQS, Properties: { Queue: !GetAtt Jobs.Arn } }
//! "#;
//! let ctx = DeployContext::new("us-east-1", "000000000000", "demo", "http://127.0.0.1:9000");
//! let plan = load_template_str(template, Path::new("/app"), &[], &ctx).unwrap();
//! assert_eq!(plan.functions[0].function_name, "Worker");
//! assert_eq!(plan.event_source_mappings[0].event_source_arn, "arn:aws:sqs:us-east-1:000000000000:Jobs");
//! ```

mod conditions;
mod context;
mod error;
mod globals;
mod intrinsics;
mod loader;
mod node;
mod parameters;
mod plan;
mod props;
mod refs;
mod resources;
mod validate;

pub use context::DeployContext;
pub use error::{Problem, TemplateError};
pub use loader::{SERVERLESS_TRANSFORM, load_template, load_template_str};
pub use plan::{
    AliasPlan, CodeSource, DeadLetterKind, DeadLetterTarget, Destination, DestinationKind, EventInvokeConfigPlan,
    EventInvokeSettings, EventSourceKind, EventSourceMappingPlan, FunctionPlan, NotDeployed, OutputValue, Plan,
    PlanStep, QueuePlan, VersionPlan,
};

/// Parses `--parameter-overrides` arguments: `Key=Value` pairs, as several arguments or
/// space-separated in one (`"Stage=prod Size=3"`), also in SAM CLI's
/// `ParameterKey=Stage,ParameterValue=prod` form.
pub fn parse_parameter_overrides<S: AsRef<str>>(arguments: &[S]) -> Result<Vec<(String, String)>, String> {
    let mut overrides = Vec::new();
    for argument in arguments {
        for pair in argument.as_ref().split_whitespace() {
            if let Some(rest) = pair.strip_prefix("ParameterKey=") {
                let Some((key, value)) = rest.split_once(",ParameterValue=") else {
                    return Err(format!("'{pair}' should be ParameterKey=Name,ParameterValue=Value"));
                };
                overrides.push((key.to_owned(), value.to_owned()));
                continue;
            }
            match pair.split_once('=') {
                Some((key, value)) if !key.is_empty() => overrides.push((key.to_owned(), value.to_owned())),
                _ => return Err(format!("'{pair}' should be Name=Value")),
            }
        }
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_overrides_in_both_forms() {
        assert_eq!(
            parse_parameter_overrides(&["Stage=prod Size=3", "ParameterKey=Name,ParameterValue=a=b"]).unwrap(),
            vec![
                ("Stage".to_owned(), "prod".to_owned()),
                ("Size".to_owned(), "3".to_owned()),
                ("Name".to_owned(), "a=b".to_owned()),
            ]
        );
        assert!(parse_parameter_overrides(&["novalue"]).is_err());
    }
}
