//! Lambda's REST shapes as botocore sends and parses them, and the parsing
//! of function names (plain name, `name:qualifier`, partial or full ARN).
//!
//! Request shapes accept what clients send and ignore members weir does not
//! use; response shapes always carry the members SDKs and the AWS CLI read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::AwsError;

// ---- function configuration -------------------------------------------------

/// Environment variable names Lambda sets itself and refuses in a function's
/// configuration (plus `AWS_DEFAULT_REGION`, which weir sets like the Runtime
/// Interface Emulator does).
pub const RESERVED_ENVIRONMENT_VARIABLES: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

// ---- function names and ARNs ----------------------------------------------

/// A `FunctionName` path parameter, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRef {
    pub name: String,
    /// A qualifier given inside the name (`name:alias`, or an ARN's suffix).
    pub qualifier: Option<String>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_qualifier(q: &str) -> bool {
    q == "$LATEST"
        || (!q.is_empty() && q.len() <= 128 && q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Parses `my-fn`, `my-fn:live`, `123456789012:function:my-fn[:q]` or
/// `arn:aws:lambda:us-east-1:123456789012:function:my-fn[:q]`.
pub fn parse_function_name(text: &str) -> Result<FunctionRef, AwsError> {
    let invalid = || {
        AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{text}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        ))
    };
    let parts: Vec<&str> = text.split(':').collect();
    let (name, qualifier) = match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        [_account, "function", name] => (*name, None),
        [_account, "function", name, q] => (*name, Some(*q)),
        ["arn", _partition, "lambda", _region, _account, "function", name] => (*name, None),
        ["arn", _partition, "lambda", _region, _account, "function", name, q] => (*name, Some(*q)),
        _ => return Err(invalid()),
    };
    if !valid_name(name) || qualifier.is_some_and(|q| !valid_qualifier(q)) {
        return Err(invalid());
    }
    Ok(FunctionRef { name: name.to_string(), qualifier: qualifier.map(str::to_string) })
}

/// Where ARNs say the function lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArnContext {
    pub region: String,
    pub account_id: String,
}

impl ArnContext {
    pub fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{}:function:{name}", self.region, self.account_id)
    }

    pub fn qualified_arn(&self, name: &str, qualifier: &str) -> String {
        format!("arn:aws:lambda:{}:{}:function:{name}:{qualifier}", self.region, self.account_id)
    }
}

// ---- shared members -------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentResponse {
    pub variables: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCode {
    /// Base64 of the zip (the JSON form of a blob).
    pub zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    pub image_uri: Option<String>,
}

// ---- requests -------------------------------------------------------------

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionRequest {
    pub function_name: String,
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub code: FunctionCode,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    #[serde(default)]
    pub publish: bool,
    pub environment: Option<Environment>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    pub tags: Option<BTreeMap<String, String>>,
    pub architectures: Option<Vec<String>>,
    pub package_type: Option<String>,
    pub layers: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfigurationRequest {
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<Environment>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    pub revision_id: Option<String>,
    pub layers: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionCodeRequest {
    pub zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    pub image_uri: Option<String>,
    #[serde(default)]
    pub publish: bool,
    pub revision_id: Option<String>,
    pub architectures: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishVersionRequest {
    pub code_sha256: Option<String>,
    pub description: Option<String>,
    pub revision_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAliasRequest {
    pub name: String,
    pub function_version: String,
    pub description: Option<String>,
    pub routing_config: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAliasRequest {
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<serde_json::Value>,
    pub revision_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutFunctionConcurrencyRequest {
    pub reserved_concurrent_executions: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutProvisionedConcurrencyConfigRequest {
    pub provisioned_concurrent_executions: Option<i64>,
}

// ---- responses ------------------------------------------------------------

/// `FunctionConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    pub code_size: u64,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    pub last_modified: String,
    pub code_sha256: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    pub tracing_config: TracingConfig,
    pub revision_id: String,
    pub state: String,
    pub last_update_status: String,
    pub package_type: String,
    pub architectures: Vec<String>,
    pub ephemeral_storage: EphemeralStorage,
    pub logging_config: LoggingConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    pub mode: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    pub size: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    pub log_format: String,
    pub log_group: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Concurrency {
    pub reserved_concurrent_executions: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCodeLocation {
    pub repository_type: String,
    pub location: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionResponse {
    pub configuration: FunctionConfiguration,
    pub code: FunctionCodeLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsResponse {
    pub functions: Vec<FunctionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsResponse {
    pub versions: Vec<FunctionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasConfiguration {
    pub alias_arn: String,
    pub name: String,
    pub function_version: String,
    pub description: String,
    pub revision_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    pub aliases: Vec<AliasConfiguration>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionConcurrencyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_concurrent_executions: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedConcurrencyConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    pub requested_provisioned_concurrent_executions: u32,
    pub available_provisioned_concurrent_executions: u32,
    pub allocated_provisioned_concurrent_executions: u32,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub last_modified: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListProvisionedConcurrencyConfigsResponse {
    pub provisioned_concurrency_configs: Vec<ProvisionedConcurrencyConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountLimit {
    pub total_code_size: u64,
    pub code_size_unzipped: u64,
    pub code_size_zipped: u64,
    pub concurrent_executions: u32,
    pub unreserved_concurrent_executions: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountUsage {
    pub total_code_size: u64,
    pub function_count: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetAccountSettingsResponse {
    pub account_limit: AccountLimit,
    pub account_usage: AccountUsage,
}

/// Lambda's `LastModified` format: `2019-10-14T19:24:58.983+0000`.
pub fn format_last_modified(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let millis = epoch_ms % 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}+0000", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_parse_in_every_form_lambda_accepts() {
        let plain = parse_function_name("orders").unwrap();
        assert_eq!((plain.name.as_str(), plain.qualifier), ("orders", None));
        let qualified = parse_function_name("orders:live").unwrap();
        assert_eq!(qualified.qualifier.as_deref(), Some("live"));
        let partial = parse_function_name("123456789012:function:orders").unwrap();
        assert_eq!(partial.name, "orders");
        let arn = parse_function_name("arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST").unwrap();
        assert_eq!((arn.name.as_str(), arn.qualifier.as_deref()), ("orders", Some("$LATEST")));
        assert!(parse_function_name("bad name").is_err());
        assert!(parse_function_name("").is_err());
        assert!(parse_function_name("a:b:c:d:e").is_err());
    }

    #[test]
    fn last_modified_uses_lambdas_format() {
        assert_eq!(format_last_modified(1_571_081_098_983), "2019-10-14T19:24:58.983+0000");
        assert_eq!(format_last_modified(0), "1970-01-01T00:00:00.000+0000");
    }

    #[test]
    fn create_function_requests_parse_like_botocore_sends_them() {
        let body = r#"{"FunctionName":"f","Runtime":"python3.12","Role":"arn:aws:iam::1:role/r","Handler":"app.handler",
            "Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},"Timeout":5,"MemorySize":256,
            "Environment":{"Variables":{"A":"1"}},"Publish":true}"#;
        let req: CreateFunctionRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.function_name, "f");
        assert_eq!(req.memory_size, Some(256));
        assert!(req.publish);
        assert_eq!(req.environment.unwrap().variables["A"], "1");
    }
}

// ---- asynchronous invocation settings ---------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    #[serde(default)]
    pub on_success: Option<DestinationTarget>,
    #[serde(default)]
    pub on_failure: Option<DestinationTarget>,
}

/// `PutFunctionEventInvokeConfig` / `UpdateFunctionEventInvokeConfig` body.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfigRequest {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
    pub destination_config: Option<DestinationConfig>,
}

/// `FunctionEventInvokeConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfig {
    /// Epoch seconds (a JSON number, as botocore parses timestamps here).
    pub last_modified: f64,
    pub function_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<u32>,
    pub destination_config: DestinationConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListEventInvokeConfigsResponse {
    pub function_event_invoke_configs: Vec<EventInvokeConfig>,
}
