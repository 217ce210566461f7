//! SQS (JSON 1.0 protocol) shapes shared by the queue service and every
//! producer inside weir (async-invoke dead-letter queues, destinations):
//! message attributes and the attribute document stored with a message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `MessageAttributeValue` as the SQS JSON protocol writes it (binary
/// values are base64 strings).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttributeValue {
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
}

impl MessageAttributeValue {
    pub fn string(value: impl Into<String>) -> Self {
        MessageAttributeValue { data_type: "String".into(), string_value: Some(value.into()), binary_value: None }
    }
    pub fn number(value: impl ToString) -> Self {
        MessageAttributeValue { data_type: "Number".into(), string_value: Some(value.to_string()), binary_value: None }
    }
}

/// What weir stores beside a message body (opaque bytes to the store).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttributes {
    #[serde(rename = "MessageAttributes", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub message_attributes: BTreeMap<String, MessageAttributeValue>,
    #[serde(rename = "MessageSystemAttributes", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub system_attributes: BTreeMap<String, MessageAttributeValue>,
    #[serde(rename = "SenderId", default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
}

impl StoredAttributes {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("attributes serialise")
    }

    /// Empty attributes for an empty or unreadable document.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            return StoredAttributes::default();
        }
        serde_json::from_slice(bytes).unwrap_or_default()
    }
}

/// A queue ARN's name part: `arn:aws:sqs:region:account:name`.
pub fn queue_name_from_arn(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, _, name] if !name.is_empty() => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_attributes_round_trip_in_the_sqs_json_shape() {
        let mut attrs = StoredAttributes::default();
        attrs.message_attributes.insert("RequestID".into(), MessageAttributeValue::string("abc"));
        attrs.message_attributes.insert("ErrorCode".into(), MessageAttributeValue::number(200));
        let bytes = attrs.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""ErrorCode":{"DataType":"Number","StringValue":"200"}"#), "{text}");
        assert_eq!(StoredAttributes::from_bytes(&bytes), attrs);
        assert_eq!(StoredAttributes::from_bytes(b""), StoredAttributes::default());
    }

    #[test]
    fn queue_names_come_from_arns() {
        assert_eq!(queue_name_from_arn("arn:aws:sqs:us-east-1:000000000000:dlq"), Some("dlq"));
        assert_eq!(queue_name_from_arn("arn:aws:lambda:us-east-1:0:function:f"), None);
    }
}
