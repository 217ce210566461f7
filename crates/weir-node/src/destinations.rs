//! Where failed and finished asynchronous events go: dead-letter queues
//! and on-success / on-failure destinations, with Lambda's record format.
//!
//! Targets are parsed from ARNs into [`Target`]; a weir function or a weir
//! queue receives now, topics, buses and buckets are recognised and counted
//! as delivery failures until weir has them.

use bytes::Bytes;
use serde_json::{Value, json};
use weir_wire::lambda::parse_function_name;
use weir_wire::sqs::{MessageAttributeValue, StoredAttributes, queue_name_from_arn};

use crate::Node;

/// A destination or dead-letter target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Function { name: String, qualifier: Option<String> },
    Queue { name: String },
    Topic { arn: String },
    Bus { arn: String },
    Bucket { arn: String },
}

impl Target {
    pub fn parse(arn: &str) -> Option<Target> {
        let service = arn.split(':').nth(2)?;
        match service {
            "lambda" => {
                let f = parse_function_name(arn).ok()?;
                Some(Target::Function { name: f.name, qualifier: f.qualifier })
            }
            "sqs" => Some(Target::Queue { name: queue_name_from_arn(arn)?.to_string() }),
            "sns" => Some(Target::Topic { arn: arn.to_string() }),
            "events" => Some(Target::Bus { arn: arn.to_string() }),
            "s3" => Some(Target::Bucket { arn: arn.to_string() }),
            _ => None,
        }
    }
}

/// What an invocation record says about the attempt that ended it.
pub struct RecordInput<'a> {
    pub request_id: &'a str,
    pub function_arn: String,
    pub condition: &'a str,
    pub approximate_invoke_count: u32,
    pub request_payload: &'a [u8],
    /// Present when the function ran: executed version, function error, response.
    pub response: Option<(String, Option<&'a str>, &'a [u8])>,
    pub timestamp_ms: u64,
}

fn payload_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Lambda's invocation record (spec §7).
pub fn invocation_record(input: &RecordInput<'_>) -> Value {
    let mut record = json!({
        "version": "1.0",
        "timestamp": iso8601_ms(input.timestamp_ms),
        "requestContext": {
            "requestId": input.request_id,
            "functionArn": input.function_arn,
            "condition": input.condition,
            "approximateInvokeCount": input.approximate_invoke_count,
        },
        "requestPayload": payload_value(input.request_payload),
    });
    if let Some((executed_version, function_error, payload)) = &input.response {
        let mut context = json!({ "statusCode": 200, "executedVersion": executed_version });
        if let Some(error) = function_error {
            context["functionError"] = json!(error);
        }
        record["responseContext"] = context;
        record["responsePayload"] = payload_value(payload);
    }
    record
}

/// `2019-11-14T18:16:05.568Z`.
pub fn iso8601_ms(epoch_ms: u64) -> String {
    let lambda = weir_wire::lambda::format_last_modified(epoch_ms);
    format!("{}Z", &lambda[..23])
}

/// Sends an invocation record to a destination.
pub async fn deliver_record(node: &Node, arn: &str, record: &Value) -> Result<(), String> {
    let body = Bytes::from(record.to_string());
    match Target::parse(arn) {
        Some(Target::Function { name, qualifier }) => node
            .async_invoker
            .enqueue(node, &name, qualifier.as_deref(), body)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Some(Target::Queue { name }) => send_to_queue(node, &name, body, StoredAttributes::default()).await,
        Some(other) => Err(format!("destination {other:?} is not available in weir yet")),
        None => Err(format!("unrecognised destination {arn}")),
    }
}

/// Sends the original event to a dead-letter queue with Lambda's attributes.
pub async fn deliver_dead_letter(
    node: &Node,
    arn: &str,
    payload: &[u8],
    request_id: &str,
    error_code: u16,
    error_message: &str,
) -> Result<(), String> {
    let mut attributes = StoredAttributes::default();
    attributes.message_attributes.insert("RequestID".into(), MessageAttributeValue::string(request_id));
    attributes.message_attributes.insert("ErrorCode".into(), MessageAttributeValue::number(error_code));
    let message: String = error_message.chars().take(1024).collect();
    attributes.message_attributes.insert("ErrorMessage".into(), MessageAttributeValue::string(message));
    match Target::parse(arn) {
        Some(Target::Queue { name }) => send_to_queue(node, &name, Bytes::copy_from_slice(payload), attributes).await,
        Some(other) => Err(format!("dead-letter target {other:?} is not available in weir yet")),
        None => Err(format!("unrecognised dead-letter target {arn}")),
    }
}

/// Sends through the queue service, as SendMessage would (validation,
/// counters, the queue's delay).
async fn send_to_queue(node: &Node, name: &str, body: Bytes, attributes: StoredAttributes) -> Result<(), String> {
    let queue = node.sqs.queue_by_name(node, name).await.ok_or_else(|| format!("queue {name} does not exist"))?;
    crate::sqs::send_internal(node, &queue, body, attributes).await.map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_recognised_by_service() {
        assert_eq!(
            Target::parse("arn:aws:lambda:us-east-1:000000000000:function:next:live"),
            Some(Target::Function { name: "next".into(), qualifier: Some("live".into()) })
        );
        assert_eq!(Target::parse("arn:aws:sqs:us-east-1:000000000000:dlq"), Some(Target::Queue { name: "dlq".into() }));
        assert!(matches!(Target::parse("arn:aws:sns:us-east-1:000000000000:t"), Some(Target::Topic { .. })));
        assert_eq!(Target::parse("not-an-arn"), None);
    }

    #[test]
    fn records_follow_lambdas_format() {
        let record = invocation_record(&RecordInput {
            request_id: "r-1",
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST".into(),
            condition: "RetriesExhausted",
            approximate_invoke_count: 3,
            request_payload: br#"{"order":1}"#,
            response: Some(("$LATEST".into(), Some("Unhandled"), br#"{"errorMessage":"boom"}"#)),
            timestamp_ms: 1_573_755_365_568,
        });
        assert_eq!(record["timestamp"], "2019-11-14T18:16:05.568Z");
        assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(record["requestPayload"]["order"], 1);
        assert_eq!(record["responseContext"]["functionError"], "Unhandled");
        assert_eq!(record["responsePayload"]["errorMessage"], "boom");
    }
}
