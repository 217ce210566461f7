//! The SQS event Lambda sends to a function, and the partial batch response
//! it reads back (`ReportBatchItemFailures`, spec §8.5–8.6).

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use weir_store::ReceivedMessage;
use weir_wire::sqs::{StoredAttributes, md5_hex, md5_of_attributes};

/// One SQS record as Lambda's event lists it.
pub fn sqs_record(message: &ReceivedMessage, queue_arn: &str, region: &str, fifo: bool) -> Value {
    let m = &message.message;
    let stored = StoredAttributes::from_bytes(&m.attributes);
    let mut attributes = Map::new();
    attributes.insert("ApproximateReceiveCount".into(), json!(m.receive_count.to_string()));
    attributes.insert("SentTimestamp".into(), json!(m.sent_at_ms.to_string()));
    // As ReceiveMessage reports it: the sender, else the queue's account.
    let account = queue_arn.split(':').nth(4).unwrap_or_default();
    attributes.insert("SenderId".into(), json!(stored.sender_id.as_deref().unwrap_or(account)));
    attributes.insert(
        "ApproximateFirstReceiveTimestamp".into(),
        json!(m.first_receive_at_ms.unwrap_or(m.sent_at_ms).to_string()),
    );
    if let Some(trace) = stored.system_attributes.get("AWSTraceHeader").and_then(|v| v.string_value.clone()) {
        attributes.insert("AWSTraceHeader".into(), json!(trace));
    }
    if fifo {
        attributes.insert("SequenceNumber".into(), json!(format!("{:020}", m.seq)));
        if let Some(group) = &m.group_id {
            attributes.insert("MessageGroupId".into(), json!(group));
        }
        if let Some(dedup) = &m.dedup_id {
            attributes.insert("MessageDeduplicationId".into(), json!(dedup));
        }
    }
    let mut message_attributes = Map::new();
    for (name, value) in &stored.message_attributes {
        let mut entry = Map::new();
        if let Some(s) = &value.string_value {
            entry.insert("stringValue".into(), json!(s));
        }
        if let Some(b) = &value.binary_value {
            entry.insert("binaryValue".into(), json!(b));
        }
        entry.insert("stringListValues".into(), json!([]));
        entry.insert("binaryListValues".into(), json!([]));
        entry.insert("dataType".into(), json!(value.data_type));
        message_attributes.insert(name.clone(), Value::Object(entry));
    }
    let mut record = json!({
        "messageId": m.message_id,
        "receiptHandle": message.receipt_handle,
        "body": String::from_utf8_lossy(&m.body),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": md5_hex(&m.body),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    });
    if let Some(md5) = md5_of_attributes(stored.message_attributes.iter().map(|(k, v)| (k.as_str(), v))) {
        record["md5OfMessageAttributes"] = json!(md5);
    }
    record
}

/// Largest event Lambda sends a function from a mapping (its synchronous
/// invocation payload limit, spec §8.1).
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;
/// The bytes of `{"Records":[` and `]}`.
const EVENT_FRAME_BYTES: usize = 14;

/// `{"Records": [...]}` from records already serialised.
pub fn sqs_event(records: &[String]) -> String {
    let mut event = String::with_capacity(event_bytes(records.len(), records.iter().map(String::len).sum()));
    event.push_str("{\"Records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            event.push(',');
        }
        event.push_str(record);
    }
    event.push_str("]}");
    event
}

/// The size of the event holding `count` records of `record_bytes` in all.
pub fn event_bytes(count: usize, record_bytes: usize) -> usize {
    EVENT_FRAME_BYTES + record_bytes + count.saturating_sub(1)
}

/// Which messages of a batch failed, from the function's response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchResponse {
    /// Every message succeeded (empty or null `batchItemFailures`, or no
    /// partial response at all).
    AllSucceeded,
    /// Only these message ids failed.
    Failed(HashSet<String>),
    /// The response cannot be trusted: the whole batch failed (spec §8.5:
    /// invalid JSON, an empty, null or malformed identifier, or an id not in
    /// the batch).
    WholeBatchFailed,
}

/// Reads a `ReportBatchItemFailures` response for a batch of `batch_ids`.
pub fn parse_batch_response(response: &[u8], batch_ids: &HashSet<&str>) -> BatchResponse {
    let text = std::str::from_utf8(response).unwrap_or("").trim();
    if text.is_empty() || text == "null" {
        return BatchResponse::AllSucceeded;
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return BatchResponse::WholeBatchFailed;
    };
    let failures = match value.get("batchItemFailures") {
        None | Some(Value::Null) => return BatchResponse::AllSucceeded,
        Some(Value::Array(items)) => items,
        Some(_) => return BatchResponse::WholeBatchFailed,
    };
    if failures.is_empty() {
        return BatchResponse::AllSucceeded;
    }
    let mut failed = HashSet::new();
    for item in failures {
        match item.get("itemIdentifier") {
            Some(Value::String(id)) if !id.is_empty() && batch_ids.contains(id.as_str()) => {
                failed.insert(id.clone());
            }
            _ => return BatchResponse::WholeBatchFailed,
        }
    }
    BatchResponse::Failed(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> HashSet<&'static str> {
        ["a", "b", "c"].into_iter().collect()
    }

    #[test]
    fn the_event_is_its_records_in_a_records_list_and_its_size_is_known() {
        for records in [vec![], vec![json!({"a": 1})], vec![json!({"a": 1}), json!({"b": "x"}), json!([])]] {
            let serialised: Vec<String> = records.iter().map(Value::to_string).collect();
            let event = sqs_event(&serialised);
            let parsed: Value = serde_json::from_str(&event).unwrap();
            assert_eq!(parsed, json!({ "Records": records }));
            assert_eq!(event.len(), event_bytes(serialised.len(), serialised.iter().map(String::len).sum()));
        }
    }

    #[test]
    fn partial_batch_responses_follow_lambdas_rules() {
        assert_eq!(parse_batch_response(b"", &ids()), BatchResponse::AllSucceeded);
        assert_eq!(parse_batch_response(b"null", &ids()), BatchResponse::AllSucceeded);
        assert_eq!(parse_batch_response(br#"{"batchItemFailures": []}"#, &ids()), BatchResponse::AllSucceeded);
        assert_eq!(parse_batch_response(br#"{"batchItemFailures": null}"#, &ids()), BatchResponse::AllSucceeded);
        assert_eq!(parse_batch_response(br#"{"other": 1}"#, &ids()), BatchResponse::AllSucceeded);
        assert_eq!(
            parse_batch_response(br#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#, &ids()),
            BatchResponse::Failed(["b".to_string()].into_iter().collect())
        );
        for whole in [
            &br#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#[..],
            br#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
            br#"{"batchItemFailures": [{"id": "a"}]}"#,
            br#"{"batchItemFailures": [{"itemIdentifier": "zzz"}]}"#,
            br#"{"batchItemFailures": "a"}"#,
            b"not json",
        ] {
            assert_eq!(
                parse_batch_response(whole, &ids()),
                BatchResponse::WholeBatchFailed,
                "{}",
                String::from_utf8_lossy(whole)
            );
        }
    }
}
