//! Queue attributes: the durable queue document kept in the catalog, the
//! validation and normalisation of every settable attribute, their defaults,
//! and the effective settings the service runs on.
//!
//! Owns: attribute names, ranges and defaults (SQS's), the redrive and
//! redrive-allow policy documents. Never: IO (checks that need other queues,
//! such as "the dead-letter queue exists", are made by the caller).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use weir_wire::AwsError;
use weir_wire::sqs::{MAX_MESSAGE_BYTES, errors};

/// The catalog kind of queue documents (key: the queue name).
pub const CATALOG_KIND: &str = "queue";

/// A queue as stored in the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDoc {
    /// The store's queue id.
    pub id: u64,
    pub fifo: bool,
    pub created_ms: u64,
    pub last_modified_ms: u64,
    /// Attributes set explicitly, normalised (`FifoQueue` excepted: see `fifo`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// `RedrivePolicy`: where messages go after `max_receive_count` receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

/// `RedriveAllowPolicy`: which source queues may name this queue as their dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedriveAllowPolicy {
    AllowAll,
    DenyAll,
    ByQueue(Vec<String>),
}

impl RedriveAllowPolicy {
    pub fn allows(&self, source_arn: &str) -> bool {
        match self {
            RedriveAllowPolicy::AllowAll => true,
            RedriveAllowPolicy::DenyAll => false,
            RedriveAllowPolicy::ByQueue(arns) => arns.iter().any(|arn| arn == source_arn),
        }
    }
}

/// The settings a queue runs on (explicit attributes over defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    pub visibility_timeout_s: u32,
    pub delay_s: u32,
    pub retention_s: u32,
    pub maximum_message_size: u32,
    pub receive_wait_s: u32,
    pub content_based_deduplication: bool,
    pub redrive_policy: Option<RedrivePolicy>,
    pub redrive_allow_policy: Option<RedriveAllowPolicy>,
}

/// Attributes GetQueueAttributes computes (never set).
pub const COMPUTED_ATTRIBUTES: &[&str] = &[
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
];

/// Every settable attribute name.
pub const SETTABLE_ATTRIBUTES: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

const FIFO_ONLY: &[&str] = &["FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"];

/// The value an attribute has when it was never set (`None`: not shown).
pub fn default_value(name: &str, fifo: bool) -> Option<&'static str> {
    let value = match name {
        "DelaySeconds" | "ReceiveMessageWaitTimeSeconds" => "0",
        "MaximumMessageSize" => "1048576",
        "MessageRetentionPeriod" => "345600",
        "VisibilityTimeout" => "30",
        "SqsManagedSseEnabled" => "true",
        "FifoQueue" if fifo => "true",
        "ContentBasedDeduplication" if fifo => "false",
        "DeduplicationScope" if fifo => "queue",
        "FifoThroughputLimit" if fifo => "perQueue",
        _ => return None,
    };
    Some(value)
}

fn integer(name: &str, value: &str, min: i64, max: i64) -> Result<String, AwsError> {
    match value.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
        _ => Err(errors::invalid_attribute_value(name, &format!("Must be an integer from {min} to {max}."))),
    }
}

fn boolean(name: &str, value: &str) -> Result<String, AwsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok("true".into()),
        "false" => Ok("false".into()),
        _ => Err(errors::invalid_attribute_value(name, "Must be true or false.")),
    }
}

fn one_of(name: &str, value: &str, allowed: &[&str]) -> Result<String, AwsError> {
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(errors::invalid_attribute_value(name, &format!("Must be one of {}.", allowed.join(", "))))
    }
}

/// Validates one attribute of CreateQueue / SetQueueAttributes and returns
/// its normalised value (`None`: an empty policy, which removes it).
pub fn normalise(name: &str, value: &str, fifo: bool) -> Result<Option<String>, AwsError> {
    if FIFO_ONLY.contains(&name) && !fifo && name != "FifoQueue" {
        return Err(errors::invalid_attribute_name(name));
    }
    let normalised = match name {
        "DelaySeconds" => integer(name, value, 0, 900)?,
        "MaximumMessageSize" => integer(name, value, 1024, MAX_MESSAGE_BYTES as i64)?,
        "MessageRetentionPeriod" => integer(name, value, 60, 1_209_600)?,
        "ReceiveMessageWaitTimeSeconds" => integer(name, value, 0, 20)?,
        "VisibilityTimeout" => integer(name, value, 0, 43_200)?,
        "KmsDataKeyReusePeriodSeconds" => integer(name, value, 60, 86_400)?,
        "SqsManagedSseEnabled" | "ContentBasedDeduplication" | "FifoQueue" => boolean(name, value)?,
        "DeduplicationScope" => one_of(name, value, &["messageGroup", "queue"])?,
        "FifoThroughputLimit" => one_of(name, value, &["perQueue", "perMessageGroupId"])?,
        "KmsMasterKeyId" if value.is_empty() => return Ok(None),
        "KmsMasterKeyId" => value.to_string(),
        "Policy" | "RedrivePolicy" | "RedriveAllowPolicy" if value.trim().is_empty() => return Ok(None),
        "Policy" => {
            serde_json::from_str::<Value>(value)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| errors::invalid_attribute_value(name, "Invalid JSON policy document."))?;
            value.to_string()
        }
        "RedrivePolicy" => render_redrive_policy(&parse_redrive_policy(value)?),
        "RedriveAllowPolicy" => render_redrive_allow_policy(&parse_redrive_allow_policy(value)?),
        _ => return Err(errors::invalid_attribute_name(name)),
    };
    Ok(Some(normalised))
}

pub fn parse_redrive_policy(text: &str) -> Result<RedrivePolicy, AwsError> {
    let invalid = |reason: &str| {
        errors::invalid_parameter_value(format!(
            "Value {text} for parameter RedrivePolicy is invalid. Reason: {reason}"
        ))
    };
    let value: Value = serde_json::from_str(text).map_err(|_| invalid("Invalid JSON."))?;
    let arn = value
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn."))?;
    if weir_wire::sqs::queue_name_from_arn(arn).is_none() {
        return Err(invalid("Invalid value for deadLetterTargetArn."));
    }
    let count = match value.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        None => return Err(invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")),
        _ => None,
    };
    let count = count
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| invalid("Invalid value for maxReceiveCount: must be from 1 to 1000."))?;
    Ok(RedrivePolicy { dead_letter_target_arn: arn.to_string(), max_receive_count: count as u32 })
}

pub fn render_redrive_policy(policy: &RedrivePolicy) -> String {
    serde_json::json!({ "deadLetterTargetArn": policy.dead_letter_target_arn, "maxReceiveCount": policy.max_receive_count })
        .to_string()
}

pub fn parse_redrive_allow_policy(text: &str) -> Result<RedriveAllowPolicy, AwsError> {
    let invalid = |reason: &str| {
        errors::invalid_parameter_value(format!(
            "Value {text} for parameter RedriveAllowPolicy is invalid. Reason: {reason}"
        ))
    };
    let value: Value = serde_json::from_str(text).map_err(|_| invalid("Invalid JSON."))?;
    let arns: Option<Vec<String>> = value
        .get("sourceQueueArns")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect());
    match value.get("redrivePermission").and_then(Value::as_str) {
        Some("allowAll") => Ok(RedriveAllowPolicy::AllowAll),
        Some("denyAll") => Ok(RedriveAllowPolicy::DenyAll),
        Some("byQueue") => match arns {
            Some(arns) if (1..=10).contains(&arns.len()) => Ok(RedriveAllowPolicy::ByQueue(arns)),
            _ => Err(invalid("byQueue needs sourceQueueArns with 1 to 10 queue ARNs.")),
        },
        _ => Err(invalid("redrivePermission must be allowAll, denyAll or byQueue.")),
    }
}

pub fn render_redrive_allow_policy(policy: &RedriveAllowPolicy) -> String {
    match policy {
        RedriveAllowPolicy::AllowAll => r#"{"redrivePermission":"allowAll"}"#.to_string(),
        RedriveAllowPolicy::DenyAll => r#"{"redrivePermission":"denyAll"}"#.to_string(),
        RedriveAllowPolicy::ByQueue(arns) => {
            serde_json::json!({ "redrivePermission": "byQueue", "sourceQueueArns": arns }).to_string()
        }
    }
}

impl QueueDoc {
    /// The attribute's effective value: explicit, else default.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str).or_else(|| default_value(name, self.fifo))
    }

    /// Every settable attribute with a value (explicit or default), as GetQueueAttributes shows them.
    pub fn settable_values(&self) -> BTreeMap<String, String> {
        let mut values = BTreeMap::new();
        for name in SETTABLE_ATTRIBUTES {
            if let Some(value) = self.value(name) {
                values.insert((*name).to_string(), value.to_string());
            }
        }
        values
    }

    pub fn settings(&self) -> QueueSettings {
        let number = |name: &str| self.value(name).and_then(|v| v.parse::<u32>().ok()).unwrap_or_default();
        QueueSettings {
            visibility_timeout_s: number("VisibilityTimeout"),
            delay_s: number("DelaySeconds"),
            retention_s: number("MessageRetentionPeriod"),
            maximum_message_size: number("MaximumMessageSize"),
            receive_wait_s: number("ReceiveMessageWaitTimeSeconds"),
            content_based_deduplication: self.value("ContentBasedDeduplication") == Some("true"),
            redrive_policy: self.value("RedrivePolicy").and_then(|v| parse_redrive_policy(v).ok()),
            redrive_allow_policy: self.value("RedriveAllowPolicy").and_then(|v| parse_redrive_allow_policy(v).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(fifo: bool) -> QueueDoc {
        QueueDoc { id: 1, fifo, created_ms: 0, last_modified_ms: 0, attributes: BTreeMap::new(), tags: BTreeMap::new() }
    }

    #[test]
    fn defaults_follow_sqs() {
        let settings = doc(false).settings();
        assert_eq!(settings.visibility_timeout_s, 30);
        assert_eq!(settings.retention_s, 345_600);
        assert_eq!(settings.maximum_message_size, 1_048_576);
        assert_eq!((settings.delay_s, settings.receive_wait_s), (0, 0));
        assert!(!doc(false).settable_values().contains_key("FifoQueue"));
        assert_eq!(doc(true).settable_values()["FifoQueue"], "true");
    }

    #[test]
    fn ranges_and_names_are_checked() {
        assert_eq!(normalise("VisibilityTimeout", " 60", false).unwrap().unwrap(), "60");
        assert_eq!(normalise("VisibilityTimeout", "43201", false).unwrap_err().code, "InvalidAttributeValue");
        assert_eq!(normalise("DelaySeconds", "901", false).unwrap_err().code, "InvalidAttributeValue");
        assert_eq!(normalise("MaximumMessageSize", "1023", false).unwrap_err().code, "InvalidAttributeValue");
        assert_eq!(normalise("MessageRetentionPeriod", "59", false).unwrap_err().code, "InvalidAttributeValue");
        assert_eq!(normalise("Bogus", "1", false).unwrap_err().code, "InvalidAttributeName");
        assert_eq!(normalise("ContentBasedDeduplication", "true", false).unwrap_err().code, "InvalidAttributeName");
        assert_eq!(normalise("ContentBasedDeduplication", "TRUE", true).unwrap().unwrap(), "true");
        assert_eq!(normalise("RedrivePolicy", "", false).unwrap(), None);
    }

    #[test]
    fn redrive_policies_parse_and_normalise() {
        let text = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}"#;
        let policy = parse_redrive_policy(text).unwrap();
        assert_eq!(policy.max_receive_count, 3);
        assert_eq!(
            render_redrive_policy(&policy),
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":3}"#
        );
        assert!(parse_redrive_policy(r#"{"deadLetterTargetArn":"x","maxReceiveCount":3}"#).is_err());
        assert!(parse_redrive_policy(r#"{"deadLetterTargetArn":"arn:aws:sqs:r:a:q","maxReceiveCount":0}"#).is_err());
        let allow =
            parse_redrive_allow_policy(r#"{"redrivePermission":"byQueue","sourceQueueArns":["arn:aws:sqs:r:a:src"]}"#)
                .unwrap();
        assert!(allow.allows("arn:aws:sqs:r:a:src"));
        assert!(!allow.allows("arn:aws:sqs:r:a:other"));
        assert!(parse_redrive_allow_policy(r#"{"redrivePermission":"byQueue"}"#).is_err());
        assert!(!parse_redrive_allow_policy(r#"{"redrivePermission":"denyAll"}"#).unwrap().allows("x"));
    }
}
