//! Queue-level SQS operations: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, PurgeQueue,
//! GetQueueAttributes, SetQueueAttributes, ListDeadLetterSourceQueues, TagQueue, UntagQueue,
//! ListQueueTags.
//!
//! Owns: the rules of queue names, attribute changes and redrive targets, and the
//! consistency of a queue's two halves (the store's queue and the catalog's document: the
//! store queue is created first and deleted first, so a crash in between leaves an empty
//! orphan that the next CreateQueue replaces, or a document whose queue is gone, which the
//! next CreateQueue overwrites). Never: message handling.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use weir_store::{CatalogOp, CatalogStore, Expect, QueueError, QueueKind, QueueStore};
use weir_wire::AwsError;
use weir_wire::sqs::{
    AttributesResult, CreateQueueRequest, GetQueueAttributesRequest, GetQueueUrlRequest,
    ListDeadLetterSourceQueuesRequest, ListDeadLetterSourceQueuesResult, ListQueuesRequest, ListQueuesResult,
    QueueUrlRequest, QueueUrlResult, SetQueueAttributesRequest, TagQueueRequest, TagsResult, UntagQueueRequest, errors,
    queue_name_from_arn, valid_queue_name,
};

use super::http::{EMPTY, parse, to_json};
use super::settings::{self, CATALOG_KIND, COMPUTED_ATTRIBUTES, QueueDoc, SETTABLE_ATTRIBUTES};
use super::{QueueState, queue_arn, queue_url, store_error};
use crate::Node;

/// Most tags on one queue.
const MAX_TAGS: usize = 50;
/// The PurgeQueue cool-down.
const PURGE_INTERVAL_MS: u64 = 60_000;

fn invalid_name() -> AwsError {
    errors::invalid_parameter_value(
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
    )
}

fn invalid_fifo_name() -> AwsError {
    errors::invalid_parameter_value(
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with \
         .fifo suffix and be 1 to 80 in length.",
    )
}

/// Normalises requested attributes; `FifoQueue` is checked against the queue kind.
fn normalise_all(
    attributes: &BTreeMap<String, String>,
    fifo: bool,
) -> Result<BTreeMap<String, Option<String>>, AwsError> {
    let mut normalised = BTreeMap::new();
    for (name, value) in attributes {
        let value = settings::normalise(name, value, fifo)?;
        if name == "FifoQueue" {
            if value.as_deref() != Some(if fifo { "true" } else { "false" }) {
                return Err(errors::invalid_attribute_value(
                    name,
                    "FifoQueue can only be set when the queue is created.",
                ));
            }
            continue;
        }
        normalised.insert(name.clone(), value);
    }
    Ok(normalised)
}

fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
    for (key, value) in tags {
        if key.is_empty() || key.len() > 128 || value.len() > 256 {
            return Err(errors::invalid_parameter_value(format!(
                "Tag key {key:?} must be 1 to 128 characters and its value at most 256."
            )));
        }
    }
    Ok(())
}

/// Checks that `source` may name the queue in `policy_text` as its dead-letter queue.
async fn check_redrive_target(node: &Node, source: &str, fifo: bool, policy_text: &str) -> Result<(), AwsError> {
    let policy = settings::parse_redrive_policy(policy_text)?;
    let invalid = |reason: &str| {
        errors::invalid_parameter_value(format!(
            "Value {policy_text} for parameter RedrivePolicy is invalid. Reason: {reason}"
        ))
    };
    let dlq_name = queue_name_from_arn(&policy.dead_letter_target_arn).unwrap_or_default();
    if dlq_name == source {
        return Err(invalid("A queue cannot be its own dead-letter queue."));
    }
    let dlq = node.sqs.state(node, dlq_name).await.map_err(|_| invalid("Dead letter target does not exist."))?;
    if dlq.meta.arn != policy.dead_letter_target_arn {
        return Err(invalid("Dead letter target does not exist."));
    }
    if dlq.meta.fifo != fifo {
        return Err(invalid("Dead-letter queue must be same type of queue as the source."));
    }
    if let Some(allow) = &dlq.settings.redrive_allow_policy
        && !allow.allows(&queue_arn(node, source))
    {
        return Err(invalid(&format!(
            "Queue {} does not allow this queue to use it as a dead-letter queue (RedriveAllowPolicy).",
            dlq.meta.arn
        )));
    }
    Ok(())
}

async fn put_doc(node: &Node, name: &str, doc: &QueueDoc) -> Result<(), AwsError> {
    let value = Bytes::from(serde_json::to_vec(doc).expect("queue documents serialise"));
    let op = CatalogOp::Put { kind: CATALOG_KIND.into(), key: name.to_string(), value, expect: Expect::Any };
    node.control.store.catalog_apply(vec![op]).await.map_err(store_error)?;
    node.sqs.invalidate();
    Ok(())
}

/// The queue's state if both halves exist and agree.
async fn existing(node: &Node, name: &str) -> Result<Option<std::sync::Arc<QueueState>>, AwsError> {
    let state = match node.sqs.state(node, name).await {
        Ok(state) => state,
        Err(err) if err.code == "QueueDoesNotExist" => return Ok(None),
        Err(err) => return Err(err),
    };
    let info = node.control.store.get_queue(name).await.map_err(store_error)?;
    Ok(info.filter(|info| info.id == state.meta.id).map(|_| state))
}

pub async fn create_queue(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: CreateQueueRequest = parse(body)?;
    let name = request.queue_name.ok_or_else(|| errors::missing_parameter("QueueName"))?;
    let fifo = match request.attributes.get("FifoQueue") {
        Some(value) => settings::normalise("FifoQueue", value, true)?.as_deref() == Some("true"),
        None => false,
    };
    if !valid_queue_name(&name) {
        return Err(if fifo { invalid_fifo_name() } else { invalid_name() });
    }
    match (fifo, name.ends_with(".fifo")) {
        (true, false) => return Err(invalid_fifo_name()),
        (false, true) => return Err(invalid_name()),
        _ => {}
    }
    let attributes = normalise_all(&request.attributes, fifo)?;
    validate_tags(&request.tags)?;
    if request.tags.len() > MAX_TAGS {
        return Err(errors::invalid_parameter_value(format!("Too many tags: at most {MAX_TAGS}.")));
    }

    let _admin = node.sqs.admin.lock().await;
    if let Some(state) = existing(node, &name).await? {
        // Idempotent when every given attribute has the same value.
        let same = state.doc.fifo == fifo
            && attributes.iter().all(|(key, value)| match value {
                Some(value) => state.doc.value(key) == Some(value.as_str()),
                None => state.doc.value(key).is_none(),
            });
        return if same {
            to_json(&QueueUrlResult { queue_url: &state.meta.url })
        } else {
            Err(errors::queue_name_exists(&name))
        };
    }
    if let Some(Some(policy)) = attributes.get("RedrivePolicy") {
        check_redrive_target(node, &name, fifo, policy).await?;
    }
    let store = &node.control.store;
    let now = node.clock.epoch_ms();
    let kind = if fifo { QueueKind::Fifo } else { QueueKind::Standard };
    let info = match store.create_queue(&name, kind, now).await {
        Ok(info) => info,
        Err(QueueError::QueueAlreadyExists(_)) => {
            // An orphan left by a crash between the two halves of a create: it never held an
            // acknowledged message. Replace it.
            if let Some(orphan) = store.get_queue(&name).await.map_err(store_error)? {
                store.delete_queue(orphan.id).await.map_err(store_error)?;
            }
            store.create_queue(&name, kind, now).await.map_err(store_error)?
        }
        Err(err) => return Err(store_error(err)),
    };
    let doc = QueueDoc {
        id: info.id.0,
        fifo,
        created_ms: now,
        last_modified_ms: now,
        attributes: attributes.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect(),
        tags: request.tags,
    };
    put_doc(node, &name, &doc).await?;
    to_json(&QueueUrlResult { queue_url: &queue_url(node, &name) })
}

pub async fn get_queue_url(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: GetQueueUrlRequest = parse(body)?;
    let name = request.queue_name.ok_or_else(|| errors::missing_parameter("QueueName"))?;
    let state = node.sqs.state(node, &name).await?;
    to_json(&QueueUrlResult { queue_url: &state.meta.url })
}

/// Page tokens are the base64 of the last name returned.
fn page<T>(
    items: Vec<(String, T)>,
    max_results: Option<i64>,
    token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let limit = match max_results {
        None => 1000,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(errors::invalid_parameter_value(format!(
                "Value {n} for parameter MaxResults is invalid. Reason: must be between 1 and 1000."
            )));
        }
    };
    let after = match token {
        None | Some("") => None,
        Some(token) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(token)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| errors::invalid_parameter_value("Invalid NextToken value."))?,
        ),
    };
    let mut remaining = items.into_iter().filter(|(key, _)| after.as_ref().is_none_or(|after| key > after)).peekable();
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < limit {
        let Some((key, item)) = remaining.next() else { break };
        last = Some(key);
        out.push(item);
    }
    let next = match (max_results, remaining.peek(), last) {
        (Some(_), Some(_), Some(last)) => Some(base64::engine::general_purpose::STANDARD.encode(last)),
        _ => None,
    };
    Ok((out, next))
}

pub async fn list_queues(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: ListQueuesRequest = parse(body)?;
    let prefix = request.queue_name_prefix.unwrap_or_default();
    let names = node.sqs.names(node, &prefix).await?;
    let items = names.into_iter().map(|name| (name.clone(), queue_url(node, &name))).collect();
    let (queue_urls, next_token) = page(items, request.max_results, request.next_token.as_deref())?;
    to_json(&ListQueuesResult { queue_urls, next_token })
}

pub async fn delete_queue(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: QueueUrlRequest = parse(body)?;
    let state = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let _admin = node.sqs.admin.lock().await;
    let store = &node.control.store;
    match store.delete_queue(state.meta.id).await {
        Ok(()) | Err(QueueError::QueueDoesNotExist(_)) => {}
        Err(err) => return Err(store_error(err)),
    }
    let op = CatalogOp::Delete { kind: CATALOG_KIND.into(), key: state.meta.name.clone(), expect: Expect::Any };
    store.catalog_apply(vec![op]).await.map_err(store_error)?;
    node.sqs.invalidate();
    node.sqs.counters.lock().unwrap_or_else(|p| p.into_inner()).remove(&state.meta.name);
    node.sqs.purges.lock().unwrap_or_else(|p| p.into_inner()).remove(&state.meta.id);
    Ok(EMPTY.to_vec())
}

pub async fn purge_queue(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: QueueUrlRequest = parse(body)?;
    let state = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let now = node.clock.epoch_ms();
    {
        let mut purges = node.sqs.purges.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&at) = purges.get(&state.meta.id)
            && now.saturating_sub(at) < PURGE_INTERVAL_MS
        {
            return Err(errors::purge_in_progress(&state.meta.url));
        }
        purges.insert(state.meta.id, now);
    }
    node.control.store.purge(state.meta.id).await.map_err(super::message_api::queue_error)?;
    Ok(EMPTY.to_vec())
}

pub async fn get_queue_attributes(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: GetQueueAttributesRequest = parse(body)?;
    let state = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let all = request.attribute_names.iter().any(|name| name == "All");
    for name in &request.attribute_names {
        if name != "All"
            && !SETTABLE_ATTRIBUTES.contains(&name.as_str())
            && !COMPUTED_ATTRIBUTES.contains(&name.as_str())
        {
            return Err(errors::invalid_attribute_name(name));
        }
    }
    let wanted = |name: &str| all || request.attribute_names.iter().any(|n| n == name);
    let mut attributes: BTreeMap<String, String> =
        state.doc.settable_values().into_iter().filter(|(name, _)| wanted(name)).collect();
    if wanted("QueueArn") {
        attributes.insert("QueueArn".into(), state.meta.arn.clone());
    }
    if wanted("CreatedTimestamp") {
        attributes.insert("CreatedTimestamp".into(), (state.doc.created_ms / 1000).to_string());
    }
    if wanted("LastModifiedTimestamp") {
        attributes.insert("LastModifiedTimestamp".into(), (state.doc.last_modified_ms / 1000).to_string());
    }
    let counts =
        ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"];
    if counts.iter().any(|name| wanted(name)) {
        let stats = node
            .control
            .store
            .stats(state.meta.id, node.clock.epoch_ms())
            .await
            .map_err(super::message_api::queue_error)?;
        for (name, value) in counts.iter().zip([stats.visible, stats.in_flight, stats.delayed]) {
            if wanted(name) {
                attributes.insert((*name).to_string(), value.to_string());
            }
        }
    }
    to_json(&AttributesResult { attributes })
}

pub async fn set_queue_attributes(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: SetQueueAttributesRequest = parse(body)?;
    let state = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let requested = request.attributes.ok_or_else(|| errors::missing_parameter("Attributes"))?;
    let changes = normalise_all(&requested, state.meta.fifo)?;
    if let Some(Some(policy)) = changes.get("RedrivePolicy") {
        check_redrive_target(node, &state.meta.name, state.meta.fifo, policy).await?;
    }
    let _admin = node.sqs.admin.lock().await;
    let state = node.sqs.state(node, &state.meta.name).await?;
    let mut doc = state.doc.clone();
    for (name, value) in changes {
        match value {
            Some(value) => doc.attributes.insert(name, value),
            None => doc.attributes.remove(&name),
        };
    }
    doc.last_modified_ms = node.clock.epoch_ms();
    put_doc(node, &state.meta.name, &doc).await?;
    Ok(EMPTY.to_vec())
}

pub async fn list_dead_letter_source_queues(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: ListDeadLetterSourceQueuesRequest = parse(body)?;
    let dlq = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    let mut sources = Vec::new();
    for name in node.sqs.names(node, "").await? {
        let Ok(state) = node.sqs.state(node, &name).await else { continue };
        if state.settings.redrive_policy.as_ref().is_some_and(|policy| policy.dead_letter_target_arn == dlq.meta.arn) {
            sources.push((name, state.meta.url.clone()));
        }
    }
    let (queue_urls, next_token) = page(sources, request.max_results, request.next_token.as_deref())?;
    to_json(&ListDeadLetterSourceQueuesResult { queue_urls, next_token })
}

/// Applies `change` to the queue's tags.
async fn change_tags(
    node: &Node,
    url: Option<&str>,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), AwsError>,
) -> Result<Vec<u8>, AwsError> {
    let name = node.sqs.state_by_url(node, url).await?.meta.name.clone();
    let _admin = node.sqs.admin.lock().await;
    let state = node.sqs.state(node, &name).await?;
    let mut doc = state.doc.clone();
    change(&mut doc.tags)?;
    if doc.tags.len() > MAX_TAGS {
        return Err(errors::invalid_parameter_value(format!("Too many tags: a queue has at most {MAX_TAGS}.")));
    }
    put_doc(node, &name, &doc).await?;
    Ok(EMPTY.to_vec())
}

pub async fn tag_queue(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: TagQueueRequest = parse(body)?;
    let tags = request.tags.ok_or_else(|| errors::missing_parameter("Tags"))?;
    validate_tags(&tags)?;
    change_tags(node, request.queue_url.as_deref(), |current| {
        current.extend(tags);
        Ok(())
    })
    .await
}

pub async fn untag_queue(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: UntagQueueRequest = parse(body)?;
    let keys = request.tag_keys.ok_or_else(|| errors::missing_parameter("TagKeys"))?;
    change_tags(node, request.queue_url.as_deref(), |current| {
        for key in &keys {
            current.remove(key);
        }
        Ok(())
    })
    .await
}

pub async fn list_queue_tags(node: &Node, body: &[u8]) -> Result<Vec<u8>, AwsError> {
    let request: QueueUrlRequest = parse(body)?;
    let state = node.sqs.state_by_url(node, request.queue_url.as_deref()).await?;
    if state.doc.tags.is_empty() {
        return Ok(EMPTY.to_vec());
    }
    to_json(&TagsResult { tags: state.doc.tags.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(names: &[&str]) -> Vec<(String, String)> {
        names.iter().map(|n| (n.to_string(), n.to_string())).collect()
    }

    #[test]
    fn pages_continue_after_the_last_name() {
        let (first, token) = page(items(&["a", "b", "c"]), Some(2), None).unwrap();
        assert_eq!(first, ["a", "b"]);
        let (second, end) = page(items(&["a", "b", "c"]), Some(2), token.as_deref()).unwrap();
        assert_eq!(second, ["c"]);
        assert_eq!(end, None);
        let (all, none) = page(items(&["a", "b"]), None, None).unwrap();
        assert_eq!((all.len(), none), (2, None));
        assert!(page(items(&["a"]), Some(0), None).is_err());
        assert!(page(items(&["a"]), Some(1), Some("%%%")).is_err());
    }
}
