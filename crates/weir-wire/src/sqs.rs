//! SQS (JSON 1.0 protocol) shapes shared by the queue service and every
//! producer inside weir (async-invoke dead-letter queues, destinations).
//!
//! Owns: the message-attribute document stored with a message
//! ([`StoredAttributes`]), the request and response shapes as botocore sends
//! and parses them, the error table (each exception with its legacy query
//! code, which botocore reads from `x-amzn-query-error`), the MD5 digests SQS
//! returns (body, message attributes, system attributes), and the
//! validation rules of names, ids and message contents.
//! Never: IO, queue state, clocks.

use std::collections::BTreeMap;

use base64::Engine as _;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::error::{AwsError, ErrorBody};

// ---- message attributes ---------------------------------------------------------------------

/// `MessageAttributeValue` as the SQS JSON protocol writes it (binary
/// values are base64 strings). The reserved list members are ignored.
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
    /// A binary value (stored base64-encoded, as the wire carries it).
    pub fn binary(value: &[u8]) -> Self {
        MessageAttributeValue {
            data_type: "Binary".into(),
            string_value: None,
            binary_value: Some(base64::engine::general_purpose::STANDARD.encode(value)),
        }
    }

    fn is_binary(&self) -> bool {
        self.data_type.starts_with("Binary")
    }

    /// The value's bytes as SQS counts and digests them (binary values decoded).
    fn value_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        if self.is_binary() {
            let encoded = self.binary_value.as_deref().unwrap_or_default();
            match base64::engine::general_purpose::STANDARD.decode(encoded) {
                Ok(bytes) => std::borrow::Cow::Owned(bytes),
                Err(_) => std::borrow::Cow::Borrowed(encoded.as_bytes()),
            }
        } else {
            std::borrow::Cow::Borrowed(self.string_value.as_deref().unwrap_or_default().as_bytes())
        }
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

    pub fn is_empty(&self) -> bool {
        self.message_attributes.is_empty() && self.system_attributes.is_empty() && self.sender_id.is_none()
    }

    /// The bytes to store: empty when there is nothing to keep (the common case costs nothing).
    pub fn to_stored_bytes(&self) -> Vec<u8> {
        if self.is_empty() { Vec::new() } else { self.to_bytes() }
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

// ---- MD5 digests ------------------------------------------------------------------------------

/// Lower-case hex MD5 of `data` (`MD5OfMessageBody`, `MD5OfBody`).
pub fn md5_hex(data: &[u8]) -> String {
    hex(&Md5::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// `MD5OfMessageAttributes` / `MD5OfMessageSystemAttributes` of the given
/// attributes, `None` when there are none. SQS's algorithm: for each
/// attribute in name order, the name, the data type, one transport byte (1
/// for String and Number, 2 for Binary) and the value, each string and the
/// value preceded by its length as 4 bytes big-endian; MD5 over all of it.
pub fn md5_of_attributes<'a>(
    attributes: impl IntoIterator<Item = (&'a str, &'a MessageAttributeValue)>,
) -> Option<String> {
    let mut sorted: Vec<(&str, &MessageAttributeValue)> = attributes.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut digest = Md5::new();
    let length_prefixed = |digest: &mut Md5, bytes: &[u8]| {
        digest.update((bytes.len() as u32).to_be_bytes());
        digest.update(bytes);
    };
    for (name, value) in sorted {
        length_prefixed(&mut digest, name.as_bytes());
        length_prefixed(&mut digest, value.data_type.as_bytes());
        digest.update([if value.is_binary() { 2u8 } else { 1u8 }]);
        length_prefixed(&mut digest, &value.value_bytes());
    }
    Some(hex(&digest.finalize()))
}

// ---- validation ---------------------------------------------------------------------------------

/// Largest message (body plus attributes) any queue accepts: 1 MiB.
pub const MAX_MESSAGE_BYTES: usize = 1_048_576;
/// Most entries in one batch request.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most message attributes on one message.
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// Whether every character is in SQS's allowed set:
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
pub fn valid_message_contents(text: &str) -> bool {
    // Fast path: printable ASCII and the three allowed controls.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t' || b == b'\n' || b == b'\r') {
        return true;
    }
    text.chars().all(
        |c| matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..),
    )
}

/// Queue names: 1 to 80 characters of alphanumerics, hyphens and
/// underscores; a FIFO queue's name ends with `.fifo` (counted in the 80).
pub fn valid_queue_name(name: &str) -> bool {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    !stem.is_empty() && name.len() <= 80 && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Batch entry ids: 1 to 80 alphanumerics, hyphens and underscores.
pub fn valid_batch_entry_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 80 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `MessageGroupId` / `MessageDeduplicationId` / `ReceiveRequestAttemptId`:
/// 1 to 128 alphanumerics and ASCII punctuation.
pub fn valid_fifo_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 128
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
}

/// Message attribute names: up to 256 of `[A-Za-z0-9_.-]`, no leading or
/// trailing period, no two periods in a row, not starting with `AWS.` or
/// `Amazon.` (any case).
fn valid_attribute_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

/// A `Number` attribute: a decimal with up to 38 significant digits,
/// between -10^128 and 10^126.
fn valid_number(text: &str) -> bool {
    let digits = text.trim_start_matches(['-', '+']);
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(at) => (&digits[..at], Some(&digits[at + 1..])),
        None => (digits, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next().unwrap_or_default();
    let well_formed = (!whole.is_empty() || !fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && exponent.is_none_or(|e| {
            let e = e.trim_start_matches(['-', '+']);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        });
    if !well_formed {
        return false;
    }
    let significant = format!("{whole}{fraction}");
    let significant = significant.trim_start_matches('0').trim_end_matches('0');
    if significant.len() > 38 {
        return false;
    }
    text.parse::<f64>().is_ok_and(|v| v.is_finite() && v.abs() <= 1e126 && v >= -1e128)
}

/// Checks message attributes (names, types, values, count) and returns
/// their size as SQS counts it towards the message size (name, type and
/// value bytes).
pub fn validate_message_attributes(attributes: &BTreeMap<String, MessageAttributeValue>) -> Result<usize, AwsError> {
    if attributes.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(errors::invalid_parameter_value(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    let mut size = 0;
    for (name, value) in attributes {
        if !valid_attribute_name(name) {
            return Err(errors::invalid_parameter_value(format!(
                "Message (user) attribute name '{name}' is invalid or reserved: use up to 256 alphanumerics, \
                 hyphens, underscores and periods, not starting with AWS. or Amazon."
            )));
        }
        size += name.len() + validate_attribute_value(name, value)?;
    }
    Ok(size)
}

/// Checks `MessageSystemAttributes` (only `AWSTraceHeader`, a String) and returns their size.
pub fn validate_system_attributes(attributes: &BTreeMap<String, MessageAttributeValue>) -> Result<usize, AwsError> {
    let mut size = 0;
    for (name, value) in attributes {
        if name != "AWSTraceHeader" {
            return Err(errors::invalid_parameter_value(format!("Message system attribute name '{name}' is invalid.")));
        }
        if value.data_type != "String" {
            return Err(errors::invalid_parameter_value(
                "Message system attribute 'AWSTraceHeader' must have the data type String.",
            ));
        }
        size += name.len() + validate_attribute_value(name, value)?;
    }
    Ok(size)
}

fn validate_attribute_value(name: &str, value: &MessageAttributeValue) -> Result<usize, AwsError> {
    let data_type = value.data_type.as_str();
    let base = data_type.split('.').next().unwrap_or_default();
    let custom_ok = data_type.len() <= 256 && data_type[base.len()..].chars().all(|c| c != '\0');
    if !matches!(base, "String" | "Number" | "Binary") || !custom_ok || data_type.ends_with('.') {
        return Err(errors::invalid_parameter_value(format!(
            "The message attribute '{name}' has an invalid message attribute type, the set of supported type \
             prefixes is Binary, Number, and String."
        )));
    }
    let empty = || {
        errors::invalid_parameter_value(format!(
            "The message attribute '{name}' must contain non-empty message attribute value for message attribute \
             type '{base}'."
        ))
    };
    let value_len = if base == "Binary" {
        let encoded = value.binary_value.as_deref().ok_or_else(empty)?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| {
            errors::invalid_parameter_value(format!("The message attribute '{name}' is not valid base64."))
        })?;
        if decoded.is_empty() {
            return Err(empty());
        }
        decoded.len()
    } else {
        let text = value.string_value.as_deref().filter(|s| !s.is_empty()).ok_or_else(empty)?;
        if !valid_message_contents(text) {
            return Err(errors::invalid_parameter_value(format!(
                "The message attribute '{name}' contains characters outside the allowed set."
            )));
        }
        if base == "Number" && !valid_number(text) {
            return Err(errors::invalid_parameter_value(format!(
                "Can't cast the value of message (user) attribute '{name}' to a number."
            )));
        }
        text.len()
    };
    Ok(data_type.len() + value_len)
}

// ---- errors -------------------------------------------------------------------------------------

/// The JSON 1.0 `__type` namespace of SQS exceptions.
pub const NAMESPACE: &str = "com.amazonaws.sqs";

/// The legacy query-protocol code of an SQS exception: what botocore puts in
/// `Error.Code` (from `x-amzn-query-error`) and what batch entries carry.
pub fn query_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue",
        "QueueNameExists" => "QueueAlreadyExists",
        "QueueDeletedRecently" => "AWS.SimpleQueueService.QueueDeletedRecently",
        "MessageNotInflight" => "AWS.SimpleQueueService.MessageNotInflight",
        "TooManyEntriesInBatchRequest" => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "EmptyBatchRequest" => "AWS.SimpleQueueService.EmptyBatchRequest",
        "BatchEntryIdsNotDistinct" => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "BatchRequestTooLong" => "AWS.SimpleQueueService.BatchRequestTooLong",
        "InvalidBatchEntryId" => "AWS.SimpleQueueService.InvalidBatchEntryId",
        "PurgeQueueInProgress" => "AWS.SimpleQueueService.PurgeQueueInProgress",
        "UnsupportedOperation" => "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidParameterValueException" => "InvalidParameterValue",
        "MissingRequiredParameterException" => "MissingParameter",
        "InvalidAttributeName" => "InvalidAttributeName",
        "InvalidAttributeValue" => "InvalidAttributeValue",
        "InvalidMessageContents" => "InvalidMessageContents",
        "ReceiptHandleIsInvalid" => "ReceiptHandleIsInvalid",
        "InvalidIdFormat" => "InvalidIdFormat",
        "OverLimit" => "OverLimit",
        "ResourceNotFoundException" => "ResourceNotFoundException",
        "InvalidAddress" => "InvalidAddress",
        "InvalidSecurity" => "InvalidSecurity",
        "RequestThrottled" => "RequestThrottled",
        "InternalError" => "InternalError",
        _ => return None,
    })
}

/// An SQS error as the JSON 1.0 protocol answers it.
pub fn render_error(error: &AwsError) -> ErrorBody {
    error.to_json10(NAMESPACE, query_code(error.code))
}

/// Constructors for every SQS error weir returns (exception name, status, message).
pub mod errors {
    use crate::error::AwsError;

    pub fn queue_does_not_exist() -> AwsError {
        AwsError::new("QueueDoesNotExist", 400, "The specified queue does not exist.")
    }
    pub fn queue_name_exists(name: &str) -> AwsError {
        AwsError::new(
            "QueueNameExists",
            400,
            format!("A queue already exists with the same name ({name}) and a different value for an attribute."),
        )
    }
    pub fn invalid_parameter_value(message: impl Into<String>) -> AwsError {
        AwsError::new("InvalidParameterValueException", 400, message)
    }
    pub fn missing_parameter(name: &str) -> AwsError {
        AwsError::new(
            "MissingRequiredParameterException",
            400,
            format!("The request must contain the parameter {name}."),
        )
    }
    pub fn invalid_attribute_name(name: &str) -> AwsError {
        AwsError::new("InvalidAttributeName", 400, format!("Unknown Attribute {name}."))
    }
    pub fn invalid_attribute_value(name: &str, reason: &str) -> AwsError {
        AwsError::new("InvalidAttributeValue", 400, format!("Invalid value for the parameter {name}. Reason: {reason}"))
    }
    pub fn invalid_message_contents() -> AwsError {
        AwsError::new(
            "InvalidMessageContents",
            400,
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        )
    }
    pub fn receipt_handle_invalid(handle: &str) -> AwsError {
        AwsError::new(
            "ReceiptHandleIsInvalid",
            400,
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        )
    }
    pub fn message_not_inflight() -> AwsError {
        AwsError::new(
            "MessageNotInflight",
            400,
            "Message does not exist or is not available for visibility timeout change.",
        )
    }
    pub fn too_many_entries(count: usize) -> AwsError {
        AwsError::new(
            "TooManyEntriesInBatchRequest",
            400,
            format!("Maximum number of entries per request are {}. You have sent {count}.", super::MAX_BATCH_ENTRIES),
        )
    }
    pub fn empty_batch(entry_shape: &str) -> AwsError {
        AwsError::new("EmptyBatchRequest", 400, format!("There should be at least one {entry_shape} in the request."))
    }
    pub fn batch_ids_not_distinct(id: &str) -> AwsError {
        AwsError::new("BatchEntryIdsNotDistinct", 400, format!("Id {id} repeated."))
    }
    pub fn invalid_batch_entry_id() -> AwsError {
        AwsError::new(
            "InvalidBatchEntryId",
            400,
            "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
        )
    }
    pub fn batch_request_too_long(total: usize) -> AwsError {
        AwsError::new(
            "BatchRequestTooLong",
            400,
            format!(
                "Batch requests cannot be longer than {} bytes. You have sent {total} bytes.",
                super::MAX_MESSAGE_BYTES
            ),
        )
    }
    pub fn purge_in_progress(name: &str) -> AwsError {
        AwsError::new(
            "PurgeQueueInProgress",
            403,
            format!("Only one PurgeQueue operation on {name} is allowed every 60 seconds."),
        )
    }
    pub fn unsupported_operation(message: impl Into<String>) -> AwsError {
        AwsError::new("UnsupportedOperation", 400, message)
    }
    pub fn unknown_operation(target: &str) -> AwsError {
        AwsError::new("UnknownOperationException", 400, format!("Unknown operation {target}."))
    }
    pub fn resource_not_found(message: impl Into<String>) -> AwsError {
        AwsError::new("ResourceNotFoundException", 400, message)
    }
    pub fn serialization(message: impl Into<String>) -> AwsError {
        AwsError::new("SerializationException", 400, message)
    }
    pub fn internal(message: impl Into<String>) -> AwsError {
        AwsError::new("InternalError", 500, message)
    }
}

// ---- request shapes ---------------------------------------------------------------------------

/// Integers arrive as JSON numbers from botocore; some clients send strings.
mod lenient {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(i64),
        Text(String),
    }

    pub fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
        match Option::<NumberOrText>::deserialize(deserializer)? {
            None => Ok(None),
            Some(NumberOrText::Number(n)) => Ok(Some(n)),
            Some(NumberOrText::Text(text)) => text.trim().parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// Every request that names only a queue (`DeleteQueue`, `PurgeQueue`, `ListQueueTags`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlRequest {
    pub queue_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueueRequest {
    pub queue_name: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default, rename = "tags")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueUrlRequest {
    pub queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    pub queue_owner_aws_account_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesRequest {
    pub queue_name_prefix: Option<String>,
    pub next_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListDeadLetterSourceQueuesRequest {
    pub queue_url: Option<String>,
    pub next_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetQueueAttributesRequest {
    pub queue_url: Option<String>,
    #[serde(default)]
    pub attribute_names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetQueueAttributesRequest {
    pub queue_url: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagQueueRequest {
    pub queue_url: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagQueueRequest {
    pub queue_url: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

/// The message members shared by `SendMessage` and a `SendMessageBatch` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OutgoingMessage {
    pub message_body: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub delay_seconds: Option<i64>,
    #[serde(default)]
    pub message_attributes: BTreeMap<String, MessageAttributeValue>,
    #[serde(default)]
    pub message_system_attributes: BTreeMap<String, MessageAttributeValue>,
    pub message_deduplication_id: Option<String>,
    pub message_group_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageRequest {
    pub queue_url: Option<String>,
    #[serde(flatten)]
    pub message: OutgoingMessage,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchEntry {
    pub id: Option<String>,
    pub message_body: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub delay_seconds: Option<i64>,
    #[serde(default)]
    pub message_attributes: BTreeMap<String, MessageAttributeValue>,
    #[serde(default)]
    pub message_system_attributes: BTreeMap<String, MessageAttributeValue>,
    pub message_deduplication_id: Option<String>,
    pub message_group_id: Option<String>,
}

impl SendMessageBatchEntry {
    /// The entry's message, leaving its id behind.
    pub fn into_message(self) -> (Option<String>, OutgoingMessage) {
        (
            self.id,
            OutgoingMessage {
                message_body: self.message_body,
                delay_seconds: self.delay_seconds,
                message_attributes: self.message_attributes,
                message_system_attributes: self.message_system_attributes,
                message_deduplication_id: self.message_deduplication_id,
                message_group_id: self.message_group_id,
            },
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchRequest {
    pub queue_url: Option<String>,
    pub entries: Option<Vec<SendMessageBatchEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageRequest {
    pub queue_url: Option<String>,
    #[serde(default)]
    pub attribute_names: Vec<String>,
    #[serde(default)]
    pub message_system_attribute_names: Vec<String>,
    #[serde(default)]
    pub message_attribute_names: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_number_of_messages: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub visibility_timeout: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub wait_time_seconds: Option<i64>,
    pub receive_request_attempt_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageRequest {
    pub queue_url: Option<String>,
    pub receipt_handle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageBatchEntry {
    pub id: Option<String>,
    pub receipt_handle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMessageBatchRequest {
    pub queue_url: Option<String>,
    pub entries: Option<Vec<DeleteMessageBatchEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityRequest {
    pub queue_url: Option<String>,
    pub receipt_handle: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub visibility_timeout: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityBatchEntry {
    pub id: Option<String>,
    pub receipt_handle: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub visibility_timeout: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeMessageVisibilityBatchRequest {
    pub queue_url: Option<String>,
    pub entries: Option<Vec<ChangeMessageVisibilityBatchEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartMessageMoveTaskRequest {
    pub source_arn: Option<String>,
    pub destination_arn: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_number_of_messages_per_second: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksRequest {
    pub source_arn: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskRequest {
    pub task_handle: Option<String>,
}

// ---- response shapes --------------------------------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueUrlResult<'a> {
    pub queue_url: &'a str,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListQueuesResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queue_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Note the model's lower-case `queueUrls`.
#[derive(Debug, Default, Serialize)]
pub struct ListDeadLetterSourceQueuesResult {
    #[serde(rename = "queueUrls")]
    pub queue_urls: Vec<String>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributesResult {
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagsResult {
    pub tags: BTreeMap<String, String>,
}

/// The digests and ids of one accepted message (`SendMessage`'s result, and
/// with `Id` a `SendMessageBatch` success entry).
#[derive(Debug, Default, Serialize)]
pub struct SentMessage {
    #[serde(rename = "Id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    pub md5_of_message_attributes: Option<String>,
    #[serde(rename = "MD5OfMessageSystemAttributes", skip_serializing_if = "Option::is_none")]
    pub md5_of_message_system_attributes: Option<String>,
    #[serde(rename = "SequenceNumber", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

/// A failed batch entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchResultErrorEntry {
    pub id: String,
    pub sender_fault: bool,
    pub code: &'static str,
    pub message: String,
}

impl BatchResultErrorEntry {
    /// The entry for `error`, coded as the query protocol codes it.
    pub fn from_error(id: String, error: &AwsError) -> Self {
        BatchResultErrorEntry {
            id,
            sender_fault: error.status < 500,
            code: query_code(error.code).unwrap_or(error.code),
            message: error.message.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessageBatchResult {
    pub successful: Vec<SentMessage>,
    pub failed: Vec<BatchResultErrorEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchResultId {
    pub id: String,
}

/// `DeleteMessageBatch` and `ChangeMessageVisibilityBatch` results.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdBatchResult {
    pub successful: Vec<BatchResultId>,
    pub failed: Vec<BatchResultErrorEntry>,
}

/// One received message.
#[derive(Debug, Serialize)]
pub struct MessageOut<'a> {
    #[serde(rename = "MessageId")]
    pub message_id: &'a str,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: &'a str,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    #[serde(rename = "Body")]
    pub body: &'a str,
    #[serde(rename = "Attributes", skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<&'static str, String>,
    #[serde(rename = "MD5OfMessageAttributes", skip_serializing_if = "Option::is_none")]
    pub md5_of_message_attributes: Option<String>,
    #[serde(rename = "MessageAttributes", skip_serializing_if = "BTreeMap::is_empty")]
    pub message_attributes: BTreeMap<&'a str, &'a MessageAttributeValue>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveMessageResult<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageOut<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartMessageMoveTaskResult {
    pub task_handle: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelMessageMoveTaskResult {
    pub approximate_number_of_messages_moved: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageMoveTaskEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_handle: Option<String>,
    pub status: &'static str,
    pub source_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_number_of_messages_per_second: Option<i64>,
    pub approximate_number_of_messages_moved: u64,
    pub approximate_number_of_messages_to_move: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub started_timestamp: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMessageMoveTasksResult {
    pub results: Vec<MessageMoveTaskEntry>,
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
        assert!(StoredAttributes::default().to_stored_bytes().is_empty());
    }

    #[test]
    fn queue_names_come_from_arns() {
        assert_eq!(queue_name_from_arn("arn:aws:sqs:us-east-1:000000000000:dlq"), Some("dlq"));
        assert_eq!(queue_name_from_arn("arn:aws:lambda:us-east-1:0:function:f"), None);
    }

    /// The attributes of the AWS SDK for Ruby's checksum test
    /// (`gems/aws-sdk-sqs/spec/client/verify_checksums_spec.rb`), whose expected
    /// digests came from SQS. The same digests were recomputed with an
    /// independent Python implementation of the documented algorithm
    /// (`hashlib.md5`, `struct.pack('>I', len)`), which also reproduces the
    /// prefixes and suffixes shown in the AWS CLI's `send-message-batch` example.
    fn ruby_sdk_attributes(type_suffix: &str) -> BTreeMap<String, MessageAttributeValue> {
        let with = |mut value: MessageAttributeValue| {
            value.data_type.push_str(type_suffix);
            value
        };
        BTreeMap::from([
            ("ccc".to_string(), with(MessageAttributeValue::string("test"))),
            ("aaa".to_string(), with(MessageAttributeValue::binary(&[2, 3, 4]))),
            ("zzz".to_string(), with(MessageAttributeValue::number("0230.01"))),
            ("öther_encodings".to_string(), with(MessageAttributeValue::string("Tüst"))),
        ])
    }

    #[test]
    fn attribute_digests_match_sqs() {
        let attrs = ruby_sdk_attributes("");
        assert_eq!(
            md5_of_attributes(attrs.iter().map(|(k, v)| (k.as_str(), v))).unwrap(),
            "756d7f4338696745d063b420a2f7e502"
        );
        let custom = ruby_sdk_attributes(".test");
        assert_eq!(
            md5_of_attributes(custom.iter().map(|(k, v)| (k.as_str(), v))).unwrap(),
            "5b7ef6c8a8d46001c7cdadaeea917aa4"
        );
        // The AWS CLI example (`awscli/examples/sqs/send-message-batch.rst` shows 10809b55...baf283ef).
        let cli: BTreeMap<String, MessageAttributeValue> = BTreeMap::from([
            ("SellerName".into(), MessageAttributeValue::string("Example Store")),
            ("City".into(), MessageAttributeValue::string("Any City")),
            ("Region".into(), MessageAttributeValue::string("WA")),
            ("PostalCode".into(), MessageAttributeValue::string("99065")),
            ("PricePerGallon".into(), MessageAttributeValue::number("1.99")),
        ]);
        assert_eq!(
            md5_of_attributes(cli.iter().map(|(k, v)| (k.as_str(), v))).unwrap(),
            "10809b55e3d9b22c17220b7dbaf283ef"
        );
        assert_eq!(md5_of_attributes(std::iter::empty()), None);
    }

    #[test]
    fn body_digests_are_plain_md5() {
        assert_eq!(md5_hex(b"test"), "098f6bcd4621d373cade4e832627b4f6");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex("Fuel report for account 0001 on 2015-09-16 at 02:07:31 PM.".as_bytes()),
            "203c4a38f1cee1cb10269e847943237e"
        );
    }

    #[test]
    fn message_contents_follow_the_allowed_set() {
        assert!(valid_message_contents("plain text\twith\ttabs\r\n"));
        assert!(valid_message_contents("ünïcödé ✓ 𝄞"));
        assert!(!valid_message_contents("bell\u{7}"));
        assert!(!valid_message_contents("nul\u{0}"));
        assert!(!valid_message_contents("\u{FFFE}"));
        assert!(!valid_message_contents("\u{FFFF}"));
        assert!(valid_message_contents("\u{FFFD}"));
    }

    #[test]
    fn names_and_ids_follow_sqs_rules() {
        assert!(valid_queue_name("orders"));
        assert!(valid_queue_name("orders-1_a.fifo"));
        assert!(valid_queue_name(&"q".repeat(80)));
        assert!(!valid_queue_name(&"q".repeat(81)));
        assert!(!valid_queue_name(""));
        assert!(!valid_queue_name(".fifo"));
        assert!(!valid_queue_name("a.b"));
        assert!(!valid_queue_name("__async/f"));
        assert!(valid_batch_entry_id("Entry-1_x"));
        assert!(!valid_batch_entry_id("entry 1"));
        assert!(!valid_batch_entry_id(&"a".repeat(81)));
        assert!(valid_fifo_token("group:1/{x}"));
        assert!(!valid_fifo_token("has space"));
        assert!(!valid_fifo_token(""));
    }

    #[test]
    fn message_attributes_are_validated_and_sized() {
        let ok = BTreeMap::from([
            ("name".to_string(), MessageAttributeValue::string("abc")),
            ("n".to_string(), MessageAttributeValue::number("-12.5e3")),
            ("bin".to_string(), MessageAttributeValue::binary(&[1, 2])),
        ]);
        // name + type + value: 4+6+3, 1+6+7, 3+6+2
        assert_eq!(validate_message_attributes(&ok).unwrap(), 13 + 14 + 11);
        let bad = |name: &str, value: MessageAttributeValue| {
            validate_message_attributes(&BTreeMap::from([(name.to_string(), value)])).unwrap_err().code
        };
        assert_eq!(bad("AWS.x", MessageAttributeValue::string("a")), "InvalidParameterValueException");
        assert_eq!(bad("a..b", MessageAttributeValue::string("a")), "InvalidParameterValueException");
        assert_eq!(bad("n", MessageAttributeValue::number("12abc")), "InvalidParameterValueException");
        assert_eq!(bad("s", MessageAttributeValue::string("")), "InvalidParameterValueException");
        let mut weird = MessageAttributeValue::string("x");
        weird.data_type = "Text".into();
        assert_eq!(bad("t", weird), "InvalidParameterValueException");
        let mut custom = MessageAttributeValue::string("x");
        custom.data_type = "String.custom".into();
        assert!(validate_message_attributes(&BTreeMap::from([("c".to_string(), custom)])).is_ok());
        let eleven: BTreeMap<String, MessageAttributeValue> =
            (0..11).map(|i| (format!("a{i}"), MessageAttributeValue::string("v"))).collect();
        assert!(validate_message_attributes(&eleven).is_err());
    }

    #[test]
    fn numbers_follow_sqs_precision_and_range() {
        for ok in ["0", "-1", "0230.01", "1e10", "12345678901234567890123456789012345678", ".5", "5."] {
            assert!(valid_number(ok), "{ok}");
        }
        for bad in ["", "-", "abc", "1e", "123456789012345678901234567890123456789", "1e200", "1.2.3"] {
            assert!(!valid_number(bad), "{bad}");
        }
    }

    #[test]
    fn errors_carry_their_query_codes() {
        let wire = render_error(&errors::queue_does_not_exist());
        assert!(
            wire.headers.contains(&("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender".into()))
        );
        assert!(wire.body.contains("com.amazonaws.sqs#QueueDoesNotExist"));
        let wire = render_error(&errors::invalid_parameter_value("bad"));
        assert!(wire.headers.contains(&("x-amzn-query-error", "InvalidParameterValue;Sender".into())));
        let entry = BatchResultErrorEntry::from_error("1".into(), &errors::message_not_inflight());
        assert_eq!(entry.code, "AWS.SimpleQueueService.MessageNotInflight");
        assert!(entry.sender_fault);
    }

    #[test]
    fn requests_parse_as_botocore_sends_them() {
        let send: SendMessageBatchRequest = serde_json::from_str(
            r#"{"QueueUrl":"http://h/000000000000/q","Entries":[{"Id":"1","MessageBody":"a\"b","DelaySeconds":5,
               "MessageAttributes":{"k":{"DataType":"Binary","BinaryValue":"AQI="}}},{"Id":"2","MessageBody":"c","DelaySeconds":"7"}]}"#,
        )
        .unwrap();
        let entries = send.entries.unwrap();
        assert_eq!(entries[0].message_body.as_deref(), Some("a\"b"));
        assert_eq!(entries[0].delay_seconds, Some(5));
        assert_eq!(entries[1].delay_seconds, Some(7));
        assert_eq!(entries[0].message_attributes["k"].binary_value.as_deref(), Some("AQI="));
        let single: SendMessageRequest =
            serde_json::from_str(r#"{"QueueUrl":"u","MessageBody":"x","MessageGroupId":"g"}"#).unwrap();
        assert_eq!(single.message.message_group_id.as_deref(), Some("g"));
        let receive: ReceiveMessageRequest = serde_json::from_str(
            r#"{"QueueUrl":"u","MaxNumberOfMessages":10,"WaitTimeSeconds":2,"MessageAttributeNames":["All"]}"#,
        )
        .unwrap();
        assert_eq!((receive.max_number_of_messages, receive.wait_time_seconds), (Some(10), Some(2)));
        assert!(serde_json::from_str::<ReceiveMessageRequest>(r#"{"MaxNumberOfMessages":"ten"}"#).is_err());
    }

    #[test]
    fn responses_render_in_the_model_shape() {
        let value = MessageAttributeValue::string("v");
        let out = ReceiveMessageResult {
            messages: vec![MessageOut {
                message_id: "m",
                receipt_handle: "r",
                md5_of_body: md5_hex(b"b"),
                body: "b",
                attributes: BTreeMap::from([("SentTimestamp", "1".to_string())]),
                md5_of_message_attributes: None,
                message_attributes: BTreeMap::from([("k", &value)]),
            }],
        };
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["Messages"][0]["MD5OfBody"], "92eb5ffee6ae2fec3ad71c777531578f");
        assert_eq!(json["Messages"][0]["MessageAttributes"]["k"]["StringValue"], "v");
        assert!(json["Messages"][0].get("MD5OfMessageAttributes").is_none());
        assert_eq!(serde_json::to_string(&ReceiveMessageResult::default()).unwrap(), "{}");
        let dlq = ListDeadLetterSourceQueuesResult { queue_urls: vec!["u".into()], next_token: None };
        assert_eq!(serde_json::to_string(&dlq).unwrap(), r#"{"queueUrls":["u"]}"#);
    }
}
