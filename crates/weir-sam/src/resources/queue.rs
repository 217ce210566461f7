//! `AWS::SQS::Queue` → [`QueuePlan`].
//!
//! Owns: the queue name rules (given name, else the logical id, `.fifo` for FIFO queues), the
//! SQS attribute ranges, and writing `RedrivePolicy` / `RedriveAllowPolicy` as the JSON strings
//! SQS's CreateQueue takes.
//! Never: checks the dead-letter queue a policy names (validation sees all queues).

use std::collections::BTreeMap;

use crate::node::{Node, Value};
use crate::plan::QueuePlan;
use crate::props::Props;
use crate::refs::ReturnValues;
use crate::resources::events::check_queue_arn;
use crate::resources::{Builder, Produced, ResolvedResource};

/// Attributes that are plain integers, with SQS's ranges and units.
const INTEGER_ATTRIBUTES: &[(&str, u32, u32, &str)] = &[
    ("VisibilityTimeout", 0, 43_200, " seconds"),
    ("MessageRetentionPeriod", 60, 1_209_600, " seconds"),
    ("DelaySeconds", 0, 900, " seconds"),
    ("ReceiveMessageWaitTimeSeconds", 0, 20, " seconds"),
    ("MaximumMessageSize", 1_024, 1_048_576, " bytes"),
];

pub(crate) fn build_queue(builder: &mut Builder<'_>, resource: &ResolvedResource<'_>) -> Produced {
    let mut props = Props::new(resource.properties_path(), resource.properties, resource.resource_type, builder.diags);
    let fifo = props.bool("FifoQueue").unwrap_or(false);
    let queue_name = match props.string("QueueName") {
        Some(name) => name,
        None if fifo => format!("{}.fifo", resource.logical_id),
        None => resource.logical_id.to_owned(),
    };
    if let Err(message) = check_queue_name(&queue_name, fifo) {
        props.error(if props.has("QueueName") { "QueueName" } else { "FifoQueue" }, message);
    }

    let mut attributes = BTreeMap::new();
    for (key, minimum, maximum, unit) in INTEGER_ATTRIBUTES {
        if let Some(value) = props.u32(key, *minimum..=*maximum, unit) {
            attributes.insert((*key).to_owned(), value.to_string());
        }
    }
    if fifo {
        attributes.insert("FifoQueue".to_owned(), "true".to_owned());
    }
    let fifo_only = |props: &mut Props<'_>, key: &str, attributes: &mut BTreeMap<String, String>, allowed: &[&str]| {
        let value = if allowed.is_empty() { props.bool(key).map(|flag| flag.to_string()) } else { props.string(key) };
        let Some(value) = value else { return };
        if !fifo {
            props.error(key, format!("{key} applies to FIFO queues only (set FifoQueue: true)"));
        } else if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            props.error(key, format!("{key} must be one of {}, got '{value}'", allowed.join(", ")));
        } else {
            attributes.insert(key.to_owned(), value);
        }
    };
    fifo_only(&mut props, "ContentBasedDeduplication", &mut attributes, &[]);
    fifo_only(&mut props, "DeduplicationScope", &mut attributes, &["messageGroup", "queue"]);
    fifo_only(&mut props, "FifoThroughputLimit", &mut attributes, &["perQueue", "perMessageGroupId"]);

    let dead_letter_target_arn = read_redrive_policy(&mut props, &mut attributes);
    read_redrive_allow_policy(&mut props, &mut attributes);
    let tags = read_tags(&mut props);
    props.accept_without_effect(&["KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"]);
    props.finish();

    let queue_arn = builder.ctx.queue_arn(&queue_name);
    let queue_url = builder.ctx.queue_url(&queue_name);
    builder.queues.push(QueuePlan {
        logical_id: resource.logical_id.to_owned(),
        queue_name: queue_name.clone(),
        queue_arn: queue_arn.clone(),
        queue_url: queue_url.clone(),
        fifo,
        attributes,
        tags,
        dead_letter_target_arn,
        generated_by: None,
    });
    vec![(resource.logical_id.to_owned(), ReturnValues::queue(&queue_name, &queue_arn, &queue_url))]
}

/// SQS's rule: 1–80 characters of letters, digits, `-` and `_`; FIFO names end in `.fifo`
/// (which counts towards the 80).
pub(crate) fn check_queue_name(name: &str, fifo: bool) -> Result<(), String> {
    let base = match (fifo, name.strip_suffix(".fifo")) {
        (true, Some(base)) => base,
        (true, None) => return Err(format!("the name of a FIFO queue must end with .fifo, got '{name}'")),
        (false, Some(_)) => {
            return Err(format!("queue name '{name}' ends with .fifo but FifoQueue is not true"));
        }
        (false, None) => name,
    };
    if base.is_empty() || name.len() > 80 {
        return Err(format!("queue name '{name}' must be 1 to 80 characters long"));
    }
    if !base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("queue name '{name}' may only contain letters, digits, hyphens and underscores"));
    }
    Ok(())
}

/// A policy given as a mapping or as a JSON string, as a mapping node.
fn policy_node(props: &mut Props<'_>, key: &str) -> Option<Node> {
    let node = props.node(key)?;
    match &node.value {
        Value::Map(_) => Some(node.clone()),
        Value::Str(text) => match serde_json::from_str::<serde_json::Value>(text) {
            // Lines inside the string are not the template's: only the string's own line is kept.
            Ok(json @ serde_json::Value::Object(_)) => Some(Node::new(Node::from_json(&json).value, node.line)),
            _ => {
                props.error(key, format!("{key} must be a mapping or a JSON object string"));
                None
            }
        },
        _ => {
            props.error(key, format!("{key} must be a mapping, got {}", node.kind()));
            None
        }
    }
}

fn read_redrive_policy(props: &mut Props<'_>, attributes: &mut BTreeMap<String, String>) -> Option<String> {
    let node = policy_node(props, "RedrivePolicy")?;
    let path = props.path_of("RedrivePolicy");
    let mut policy = Props::new(path, Some(&node), "RedrivePolicy", props.diags());
    let target = policy.required_string("deadLetterTargetArn", " (the dead-letter queue's ARN, e.g. !GetAtt DLQ.Arn)");
    let target = target.filter(|arn| check_queue_arn(&policy, "deadLetterTargetArn", arn));
    let max_receive_count = policy.u32("maxReceiveCount", 1..=1000, "");
    if max_receive_count.is_none() && !policy.has("maxReceiveCount") {
        policy.error_here("maxReceiveCount is required");
    }
    policy.finish();
    let (target, max_receive_count) = (target?, max_receive_count?);
    attributes.insert(
        "RedrivePolicy".to_owned(),
        serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": max_receive_count}).to_string(),
    );
    Some(target)
}

fn read_redrive_allow_policy(props: &mut Props<'_>, attributes: &mut BTreeMap<String, String>) {
    let Some(node) = policy_node(props, "RedriveAllowPolicy") else { return };
    let path = props.path_of("RedriveAllowPolicy");
    let mut policy = Props::new(path, Some(&node), "RedriveAllowPolicy", props.diags());
    let permission = policy.required_string("redrivePermission", " (allowAll, denyAll or byQueue)");
    let sources = policy.string_list("sourceQueueArns");
    policy.finish();
    let Some(permission) = permission else { return };
    if !["allowAll", "denyAll", "byQueue"].contains(&permission.as_str()) {
        props.error(
            "RedriveAllowPolicy",
            format!("redrivePermission must be allowAll, denyAll or byQueue, got '{permission}'"),
        );
        return;
    }
    if permission == "byQueue" && sources.as_ref().is_none_or(Vec::is_empty) {
        props.error("RedriveAllowPolicy", "redrivePermission byQueue needs sourceQueueArns");
        return;
    }
    let mut json = serde_json::json!({"redrivePermission": permission});
    if let Some(sources) = sources {
        json["sourceQueueArns"] = serde_json::json!(sources);
    }
    attributes.insert("RedriveAllowPolicy".to_owned(), json.to_string());
}

/// CloudFormation tags: a list of `{Key, Value}`.
fn read_tags(props: &mut Props<'_>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let Some(node) = props.node("Tags") else { return tags };
    let Some(items) = node.as_list() else {
        props.error("Tags", format!("Tags must be a list of {{Key, Value}}, got {}", node.kind()));
        return tags;
    };
    for item in items {
        let pair =
            item.as_map().and_then(|map| Some((map.get("Key")?.scalar_string()?, map.get("Value")?.scalar_string()?)));
        match pair {
            Some((key, value)) => {
                tags.insert(key, value);
            }
            None => props.error("Tags", "each tag must be a mapping with Key and Value strings"),
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names() {
        assert!(check_queue_name("orders", false).is_ok());
        assert!(check_queue_name("orders.fifo", true).is_ok());
        assert!(check_queue_name("orders", true).unwrap_err().contains("must end with .fifo"));
        assert!(check_queue_name("orders.fifo", false).unwrap_err().contains("FifoQueue is not true"));
        assert!(check_queue_name("a b", false).unwrap_err().contains("may only contain"));
        assert!(check_queue_name(&"x".repeat(81), false).unwrap_err().contains("1 to 80"));
    }
}
