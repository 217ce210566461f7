//! The SQS-compatible queue service driven by unmodified clients: boto3 (botocore's JSON 1.0
//! protocol) for every operation, the AWS CLI for a round trip, and a crash test that
//! SIGKILLs weir under SendMessageBatch load.
//!
//! botocore does not verify SQS digests itself, so the scripts recompute every MD5 with an
//! independent implementation of SQS's algorithm and the tests assert they match.

#[path = "sqs_crash.rs"]
mod crash;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Shared Python: a client, SQS's attribute digest, and error capture.
const PRELUDE: &str = r#"
import base64, hashlib, json, struct, sys, threading, time, urllib.request, urllib.error
import boto3, botocore
from botocore.config import Config

endpoint = sys.argv[1]
def client(service="sqs"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="any", aws_secret_access_key="any",
                        config=Config(retries={"max_attempts": 0}, read_timeout=30))
sqs = client()
out = {}

def md5_attrs(attrs):
    """SQS's MD5OfMessageAttributes, written from AWS's documentation, independently of weir."""
    h = hashlib.md5()
    def lp(b):
        h.update(struct.pack(">I", len(b)))
        h.update(b)
    for name in sorted(attrs):
        v = attrs[name]
        lp(name.encode())
        lp(v["DataType"].encode())
        if "StringValue" in v:
            h.update(b"\x01")
            lp(v["StringValue"].encode())
        else:
            h.update(b"\x02")
            lp(v["BinaryValue"])
    return h.hexdigest()

def md5(text):
    return hashlib.md5(text.encode()).hexdigest()

def error_of(call, **kw):
    try:
        call(**kw)
    except botocore.exceptions.ClientError as e:
        return {"class": type(e).__name__, "code": e.response["Error"]["Code"],
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"], "message": e.response["Error"]["Message"]}
    return None

def advance(seconds):
    req = urllib.request.Request(endpoint + "/_weir/clock/advance", data=json.dumps({"seconds": seconds}).encode(),
                                 method="POST", headers={"content-type": "application/json"})
    urllib.request.urlopen(req).read()

def arn_of(url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
"#;

/// Runs `PRELUDE + script` with the test venv's Python against `endpoint`; returns its `out`.
async fn run_python(script: &'static str, endpoint: &str) -> Value {
    let python = weir_testfns::test_venv().join("bin/python");
    let endpoint = endpoint.to_string();
    let source = format!("{PRELUDE}\n{script}\nprint(json.dumps(out))\n");
    let output = tokio::task::spawn_blocking(move || Command::new(python).arg("-c").arg(source).arg(endpoint).output())
        .await
        .unwrap()
        .expect("run python");
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("python printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// Asserts `out[key]` is an error of botocore class `class` with query code `code`.
#[track_caller]
fn assert_error(out: &Value, key: &str, class: &str, code: &str) {
    let error = &out[key];
    assert_eq!(error["class"], class, "{key}: {error}");
    assert_eq!(error["code"], code, "{key}: {error}");
}

const QUEUES_AND_MESSAGES: &str = r#"
url = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "40"}, tags={"team": "a"})["QueueUrl"]
out["url"] = url
out["idempotent"] = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "40"})["QueueUrl"] == url
out["name_exists"] = error_of(sqs.create_queue, QueueName="orders", Attributes={"VisibilityTimeout": "41"})
out["bad_name"] = error_of(sqs.create_queue, QueueName="bad name")
out["fifo_without_suffix"] = error_of(sqs.create_queue, QueueName="nofifo", Attributes={"FifoQueue": "true"})
out["suffix_without_fifo"] = error_of(sqs.create_queue, QueueName="x.fifo")
out["bad_attribute"] = error_of(sqs.create_queue, QueueName="y", Attributes={"Bogus": "1"})
out["bad_value"] = error_of(sqs.create_queue, QueueName="y", Attributes={"VisibilityTimeout": "43201"})
out["cbd_on_standard"] = error_of(sqs.create_queue, QueueName="y", Attributes={"ContentBasedDeduplication": "true"})
for name in ["list-a", "list-b", "list-c"]:
    sqs.create_queue(QueueName=name)
out["get_url"] = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
out["missing_url"] = error_of(sqs.get_queue_url, QueueName="missing")
page1 = sqs.list_queues(QueueNamePrefix="list-", MaxResults=2)
page2 = sqs.list_queues(QueueNamePrefix="list-", MaxResults=2, NextToken=page1["NextToken"])
out["pages"] = [[u.rsplit("/", 1)[1] for u in page1["QueueUrls"]], [u.rsplit("/", 1)[1] for u in page2["QueueUrls"]],
                "NextToken" in page2]
out["paginated"] = [u.rsplit("/", 1)[1] for p in sqs.get_paginator("list_queues").paginate(
    QueueNamePrefix="list-", PaginationConfig={"PageSize": 1}) for u in p.get("QueueUrls", [])]
out["attrs"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
out["one_attr"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
out["bad_attr_name"] = error_of(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Nope"])
sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "50", "MaximumMessageSize": "2048"})
out["after_set"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "MaximumMessageSize"])["Attributes"]
out["set_bad"] = error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes={"DelaySeconds": "901"})
out["other_host"] = arn_of(url.replace("127.0.0.1", "localhost"))

sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
out["tags"] = sqs.list_queue_tags(QueueUrl=url).get("Tags")

# Send with every kind of attribute; check every digest.
user = {"City": {"DataType": "String", "StringValue": "Any City"},
        "Count": {"DataType": "Number", "StringValue": "12.5"},
        "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        "ns.one": {"DataType": "String.custom", "StringValue": "1"}}
system = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
body = "h\u00e9llo w\u00f6rld \u2713 \U0001d11e"
r = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=user, MessageSystemAttributes=system)
out["send_md5"] = [r["MD5OfMessageBody"] == md5(body), r["MD5OfMessageAttributes"] == md5_attrs(user),
                   r["MD5OfMessageSystemAttributes"] == md5_attrs(system)]
m = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])["Messages"][0]
out["received"] = {"body": m["Body"] == body, "md5_body": m["MD5OfBody"] == md5(body),
                   "md5_attrs": m["MD5OfMessageAttributes"] == md5_attrs(m["MessageAttributes"]) == md5_attrs(user),
                   "blob": m["MessageAttributes"]["Blob"]["BinaryValue"] == b"\x00\x01\xff",
                   "trace": m["Attributes"]["AWSTraceHeader"], "count": m["Attributes"]["ApproximateReceiveCount"],
                   "id": m["MessageId"] == r["MessageId"], "attrs": sorted(m["Attributes"])}
sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
m2 = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["ns.*", "City"],
                         AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
out["selected"] = {"names": sorted(m2["MessageAttributes"]), "attrs": m2["Attributes"],
                   "md5": m2["MD5OfMessageAttributes"] == md5_attrs(m2["MessageAttributes"]),
                   "same_id": m2["MessageId"] == m["MessageId"]}
out["stale_visibility"] = error_of(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                   VisibilityTimeout=10)
out["in_flight_hidden"] = "Messages" not in sqs.receive_message(QueueUrl=url)
sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
out["delete_again"] = sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])["ResponseMetadata"]["HTTPStatusCode"]
out["bad_handle"] = error_of(sqs.delete_message, QueueUrl=url, ReceiptHandle="not-a-handle")

# Batches.
b = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": f"batch-{i}"} for i in range(10)])
out["batch_ok"] = [len(b["Successful"]), len(b.get("Failed", [])),
                   all(s["MD5OfMessageBody"] == md5("batch-" + s["Id"][1:]) for s in b["Successful"])]
partial = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "ok", "MessageBody": "fine"},
                                                        {"Id": "bad", "MessageBody": "bell\x07"},
                                                        {"Id": "big", "MessageBody": "x" * 3000}])
out["batch_partial"] = [[s["Id"] for s in partial["Successful"]],
                        sorted((f["Id"], f["Code"], f["SenderFault"]) for f in partial["Failed"])]
out["too_many"] = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)])
out["empty_batch"] = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[])
out["not_distinct"] = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}])
out["bad_entry_id"] = error_of(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "a b", "MessageBody": "x"}])
out["too_big"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="x" * 2049)
out["bad_chars"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="nul\x00")
out["dedup_on_standard"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
out["bad_delay"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="x", DelaySeconds=901)
out["reserved_attr"] = error_of(sqs.send_message, QueueUrl=url, MessageBody="x",
                                MessageAttributes={"AWS.x": {"DataType": "String", "StringValue": "v"}})

got = []
while True:
    msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
    if not msgs:
        break
    got += msgs
out["received_count"] = len(got)
vb = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
    {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0},
    {"Id": "b", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 0},
    {"Id": "c", "ReceiptHandle": "junk", "VisibilityTimeout": 0}])
out["visibility_batch"] = [sorted(s["Id"] for s in vb["Successful"]), [(f["Id"], f["Code"]) for f in vb["Failed"]]]
again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"])["Messages"]
out["visible_again"] = sorted([m["Body"] == got[0]["Body"] or m["Body"] == got[1]["Body"], m["Attributes"]["ApproximateReceiveCount"]]
                              for m in again)
handles = [m["ReceiptHandle"] for m in again] + [m["ReceiptHandle"] for m in got[2:]]
deleted = 0
for start in range(0, len(handles), 10):
    part = handles[start:start + 10]
    db = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(part)])
    deleted += len(db["Successful"])
out["deleted"] = deleted
db = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "x", "ReceiptHandle": "junk"}])
out["delete_batch_bad"] = [[f["Id"], f["Code"], f["SenderFault"]] for f in db["Failed"]]
counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
out["counts_after"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]

sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
out["delayed"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]
out["delayed_hidden"] = "Messages" not in sqs.receive_message(QueueUrl=url)
sqs.purge_queue(QueueUrl=url)
out["purge_again"] = error_of(sqs.purge_queue, QueueUrl=url)
out["after_purge"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]
out["bad_wait"] = error_of(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=21)
out["bad_max"] = error_of(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
out["add_permission"] = error_of(sqs.add_permission, QueueUrl=url, Label="l", AWSAccountIds=["1"], Actions=["SendMessage"])

dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
policy = json.dumps({"deadLetterTargetArn": arn_of(dlq), "maxReceiveCount": "3"})
sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": policy})
out["redrive_policy"] = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])
out["dlq_sources"] = [u.rsplit("/", 1)[1] for u in sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]]
out["redrive_missing"] = error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn_of(dlq) + "-nope", "maxReceiveCount": 3})})
sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
out["redrive_removed"] = "RedrivePolicy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="list-a")["QueueUrl"])
out["deleted_queue"] = error_of(sqs.get_queue_url, QueueName="list-a")
out["send_to_deleted"] = error_of(sqs.send_message, QueueUrl=endpoint + "/000000000000/list-a", MessageBody="x")

# weir's internal async-invoke queues stay invisible.
lam = client("lambda")
import io, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return event\n")
lam.create_function(FunctionName="bg", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/x",
                    Handler="app.handler", Code={"ZipFile": buf.getvalue()})
lam.invoke(FunctionName="bg", InvocationType="Event", Payload=b"{}")
out["all_queues"] = sorted(u.rsplit("/", 1)[1] for u in sqs.list_queues()["QueueUrls"])
out["internal_url"] = error_of(sqs.get_queue_url, QueueName="__async/bg")

def raw(target, data):
    req = urllib.request.Request(endpoint + "/", data=data, method="POST",
                                 headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"})
    try:
        with urllib.request.urlopen(req) as resp:
            return [resp.status, json.loads(resp.read()), None]
    except urllib.error.HTTPError as e:
        return [e.code, json.loads(e.read()), e.headers.get("x-amzn-query-error")]
out["unknown_op"] = raw("AmazonSQS.Frobnicate", b"{}")
out["malformed"] = raw("AmazonSQS.SendMessage", b"{not json")
"#;

#[tokio::test]
async fn boto3_drives_every_queue_and_message_operation() {
    let weir = Weir::start(&[]);
    let out = run_python(QUEUES_AND_MESSAGES, &weir.endpoint).await;
    let url = format!("{}/000000000000/orders", weir.endpoint);

    // Queues.
    assert_eq!(out["url"], url);
    assert_eq!(out["get_url"], url);
    assert_eq!(out["idempotent"], true);
    assert_error(&out, "name_exists", "QueueNameExists", "QueueAlreadyExists");
    assert_error(&out, "bad_name", "ClientError", "InvalidParameterValue");
    assert_error(&out, "fifo_without_suffix", "ClientError", "InvalidParameterValue");
    assert_error(&out, "suffix_without_fifo", "ClientError", "InvalidParameterValue");
    assert_error(&out, "bad_attribute", "InvalidAttributeName", "InvalidAttributeName");
    assert_error(&out, "bad_value", "InvalidAttributeValue", "InvalidAttributeValue");
    assert_error(&out, "cbd_on_standard", "InvalidAttributeName", "InvalidAttributeName");
    assert_error(&out, "missing_url", "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue");
    assert_eq!(out["missing_url"]["status"], 400);
    assert_eq!(out["pages"], serde_json::json!([["list-a", "list-b"], ["list-c"], false]));
    assert_eq!(out["paginated"], serde_json::json!(["list-a", "list-b", "list-c"]));
    let attrs = &out["attrs"];
    assert_eq!(attrs["VisibilityTimeout"], "40");
    assert_eq!(attrs["QueueArn"], "arn:aws:sqs:us-east-1:000000000000:orders");
    assert_eq!(attrs["MessageRetentionPeriod"], "345600");
    assert_eq!(attrs["MaximumMessageSize"], "1048576");
    assert_eq!(attrs["ApproximateNumberOfMessages"], "0");
    assert!(attrs["CreatedTimestamp"].as_str().unwrap().parse::<u64>().unwrap() > 1_600_000_000);
    assert!(attrs.get("FifoQueue").is_none(), "{attrs}");
    assert_eq!(out["one_attr"], serde_json::json!({"VisibilityTimeout": "40"}));
    assert_error(&out, "bad_attr_name", "InvalidAttributeName", "InvalidAttributeName");
    assert_eq!(out["after_set"], serde_json::json!({"VisibilityTimeout": "50", "MaximumMessageSize": "2048"}));
    assert_error(&out, "set_bad", "InvalidAttributeValue", "InvalidAttributeValue");
    assert_eq!(out["other_host"], "arn:aws:sqs:us-east-1:000000000000:orders");
    assert_eq!(out["tags"], serde_json::json!({"env": "test"}));

    // Messages and their digests.
    assert_eq!(out["send_md5"], serde_json::json!([true, true, true]));
    let received = &out["received"];
    for key in ["body", "md5_body", "md5_attrs", "blob", "id"] {
        assert_eq!(received[key], true, "{key}: {received}");
    }
    assert_eq!(received["trace"], "Root=1-5759e988-bd862e3fe1be46a994272793");
    assert_eq!(received["count"], "1");
    assert_eq!(
        received["attrs"],
        serde_json::json!([
            "AWSTraceHeader",
            "ApproximateFirstReceiveTimestamp",
            "ApproximateReceiveCount",
            "SenderId",
            "SentTimestamp"
        ])
    );
    assert_eq!(out["selected"]["names"], serde_json::json!(["City", "ns.one"]));
    assert_eq!(out["selected"]["attrs"], serde_json::json!({"ApproximateReceiveCount": "2"}));
    assert_eq!(out["selected"]["md5"], true);
    assert_eq!(out["selected"]["same_id"], true);
    assert_error(&out, "stale_visibility", "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight");
    assert_eq!(out["in_flight_hidden"], true);
    assert_eq!(out["delete_again"], 200, "deleting twice succeeds, as on SQS");
    assert_error(&out, "bad_handle", "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid");

    // Batches and limits.
    assert_eq!(out["batch_ok"], serde_json::json!([10, 0, true]));
    assert_eq!(
        out["batch_partial"],
        serde_json::json!([["ok"], [["bad", "InvalidMessageContents", true], ["big", "InvalidParameterValue", true]]])
    );
    assert_error(
        &out,
        "too_many",
        "TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    );
    assert_error(&out, "empty_batch", "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest");
    assert_error(&out, "not_distinct", "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
    assert_error(&out, "bad_entry_id", "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId");
    assert_error(&out, "too_big", "ClientError", "InvalidParameterValue");
    assert!(out["too_big"]["message"].as_str().unwrap().contains("shorter than 2048 bytes"), "{}", out["too_big"]);
    assert_error(&out, "bad_chars", "InvalidMessageContents", "InvalidMessageContents");
    assert_error(&out, "dedup_on_standard", "ClientError", "InvalidParameterValue");
    assert_error(&out, "bad_delay", "ClientError", "InvalidParameterValue");
    assert_error(&out, "reserved_attr", "ClientError", "InvalidParameterValue");

    // Visibility and deletes: 10 batch messages + "fine".
    assert_eq!(out["received_count"], 11);
    assert_eq!(out["visibility_batch"], serde_json::json!([["a", "b"], [["c", "ReceiptHandleIsInvalid"]]]));
    assert_eq!(out["visible_again"], serde_json::json!([[true, "2"], [true, "2"]]));
    assert_eq!(out["deleted"], 11);
    assert_eq!(out["delete_batch_bad"], serde_json::json!([["x", "ReceiptHandleIsInvalid", true]]));
    let zero = serde_json::json!({"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0", "ApproximateNumberOfMessagesDelayed": "0"});
    assert_eq!(out["counts_after"], zero);
    assert_eq!(out["delayed"]["ApproximateNumberOfMessagesDelayed"], "1");
    assert_eq!(out["delayed_hidden"], true);
    assert_error(&out, "purge_again", "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress");
    assert_eq!(out["after_purge"], zero);
    assert_error(&out, "bad_wait", "ClientError", "InvalidParameterValue");
    assert_error(&out, "bad_max", "ClientError", "InvalidParameterValue");
    assert_error(&out, "add_permission", "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation");

    // Dead-letter configuration.
    assert_eq!(
        out["redrive_policy"],
        serde_json::json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:orders-dlq", "maxReceiveCount": 3})
    );
    assert_eq!(out["dlq_sources"], serde_json::json!(["orders"]));
    assert_error(&out, "redrive_missing", "ClientError", "InvalidParameterValue");
    assert_eq!(out["redrive_removed"], true);

    // Deletion, internal queues, raw protocol errors.
    assert_error(&out, "deleted_queue", "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue");
    assert_error(&out, "send_to_deleted", "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue");
    assert_eq!(out["all_queues"], serde_json::json!(["list-b", "list-c", "orders", "orders-dlq"]));
    assert_error(&out, "internal_url", "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue");
    assert_eq!(out["unknown_op"][0], 400);
    assert_eq!(out["unknown_op"][1]["__type"], "com.amazonaws.sqs#UnknownOperationException");
    assert_eq!(out["malformed"][0], 400);
    assert_eq!(out["malformed"][1]["__type"], "com.amazonaws.sqs#SerializationException");
}

const LONG_POLLING: &str = r#"
url = sqs.create_queue(QueueName="poll")["QueueUrl"]
waiter = client()

def timed_receive(result, **kw):
    t0 = time.monotonic()
    r = waiter.receive_message(QueueUrl=url, **kw)
    result.update(started=t0, done=time.monotonic(), bodies=[m["Body"] for m in r.get("Messages", [])],
                  handles=[m["ReceiptHandle"] for m in r.get("Messages", [])])

# 1. A send wakes a waiting receive at once.
res = {}
th = threading.Thread(target=timed_receive, args=(res,), kwargs={"WaitTimeSeconds": 5})
th.start()
time.sleep(1.0)
sent = time.monotonic()
sqs.send_message(QueueUrl=url, MessageBody="wake")
th.join()
out["send_wake"] = {"after_send": res["done"] - sent, "waited": res["done"] - res["started"], "bodies": res["bodies"]}
sqs.delete_message(QueueUrl=url, ReceiptHandle=res["handles"][0])

# 2. A visibility change to 0 wakes a waiting receive.
sqs.send_message(QueueUrl=url, MessageBody="again")
held = sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)["Messages"][0]
res = {}
th = threading.Thread(target=timed_receive, args=(res,), kwargs={"WaitTimeSeconds": 5})
th.start()
time.sleep(1.0)
released = time.monotonic()
sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=held["ReceiptHandle"], VisibilityTimeout=0)
th.join()
out["visibility_wake"] = {"after_release": res["done"] - released, "bodies": res["bodies"]}
sqs.delete_message(QueueUrl=url, ReceiptHandle=res["handles"][0])

# 3. A delayed message is returned when its delay ends, within the wait.
sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=1)
res = {}
timed_receive(res, WaitTimeSeconds=5)
out["delay_wake"] = {"waited": res["done"] - res["started"], "bodies": res["bodies"]}
sqs.delete_message(QueueUrl=url, ReceiptHandle=res["handles"][0])

# 4. An empty long poll lasts its wait; the queue's ReceiveMessageWaitTimeSeconds is the default.
res = {}
timed_receive(res, WaitTimeSeconds=1)
out["empty_wait"] = res["done"] - res["started"]
sqs.set_queue_attributes(QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "1"})
res = {}
timed_receive(res)
out["queue_default_wait"] = res["done"] - res["started"]
"#;

#[tokio::test]
async fn long_polling_returns_as_soon_as_a_message_is_receivable() {
    let weir = Weir::start(&[]);
    let out = run_python(LONG_POLLING, &weir.endpoint).await;
    let secs = |v: &Value| v.as_f64().unwrap();
    let send = &out["send_wake"];
    assert_eq!(send["bodies"], serde_json::json!(["wake"]));
    assert!(secs(&send["waited"]) >= 0.9, "the receive was waiting before the send: {send}");
    assert!(secs(&send["after_send"]) < 0.5, "woken within 0.5 s of the send: {send}");
    let visibility = &out["visibility_wake"];
    assert_eq!(visibility["bodies"], serde_json::json!(["again"]));
    assert!(secs(&visibility["after_release"]) < 0.5, "{visibility}");
    let delay = &out["delay_wake"];
    assert_eq!(delay["bodies"], serde_json::json!(["delayed"]));
    assert!((0.7..2.0).contains(&secs(&delay["waited"])), "{delay}");
    assert!((0.9..2.0).contains(&secs(&out["empty_wait"])), "{}", out["empty_wait"]);
    assert!((0.9..2.0).contains(&secs(&out["queue_default_wait"])), "{}", out["queue_default_wait"]);
}

const FIFO: &str = r#"
q = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"})["QueueUrl"]
attrs = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
out["attrs"] = {k: attrs[k] for k in ["FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"]}
ids, seqs = {}, []
for group, i in [("A", 1), ("B", 1), ("A", 2), ("B", 2), ("A", 3)]:
    r = sqs.send_message(QueueUrl=q, MessageBody=f"{group}{i}", MessageGroupId=group, MessageDeduplicationId=f"{group}{i}")
    ids[f"{group}{i}"] = r["MessageId"]
    seqs.append(int(r["SequenceNumber"]))
out["sequence_increasing"] = seqs == sorted(seqs) and len(set(seqs)) == 5
dup = sqs.send_message(QueueUrl=q, MessageBody="A1 again", MessageGroupId="A", MessageDeduplicationId="A1")
out["duplicate_keeps_id"] = dup["MessageId"] == ids["A1"]

def receive(url, **kw):
    r = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], **kw)
    return r.get("Messages", [])

first = receive(q, MaxNumberOfMessages=2)
out["first"] = [m["Body"] for m in first]
out["first_attrs"] = {k: first[0]["Attributes"].get(k) for k in ["MessageGroupId", "MessageDeduplicationId"]}
out["first_sequence"] = first[0]["Attributes"]["SequenceNumber"] == str(seqs[0]).zfill(20)
second = receive(q, MaxNumberOfMessages=10)
out["second"] = [m["Body"] for m in second]
out["all_groups_busy"] = [m["Body"] for m in receive(q, MaxNumberOfMessages=10)]
for m in first:
    sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])
out["after_delete"] = [m["Body"] for m in receive(q, MaxNumberOfMessages=10)]
advance(31)  # group B's visibility timeout ends (and A3's)
again = receive(q, MaxNumberOfMessages=10)
out["after_timeout"] = [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again]
for m in again:
    sqs.delete_message(QueueUrl=q, ReceiptHandle=m["ReceiptHandle"])

# The deduplication window is five minutes of platform time.
r = sqs.send_message(QueueUrl=q, MessageBody="late", MessageGroupId="C", MessageDeduplicationId="A2")
out["within_window"] = r["MessageId"] == ids["A2"] and receive(q) == []
advance(301)
r = sqs.send_message(QueueUrl=q, MessageBody="late", MessageGroupId="C", MessageDeduplicationId="A2")
out["after_window"] = r["MessageId"] != ids["A2"] and [m["Body"] for m in receive(q)] == ["late"]

cq = sqs.create_queue(QueueName="cbd.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
a = sqs.send_message(QueueUrl=cq, MessageBody="same body", MessageGroupId="g")
b = sqs.send_message(QueueUrl=cq, MessageBody="same body", MessageGroupId="g")
c = sqs.send_message(QueueUrl=cq, MessageBody="other body", MessageGroupId="g")
out["content_dedup"] = [a["MessageId"] == b["MessageId"], a["MessageId"] != c["MessageId"]]
got = sqs.receive_message(QueueUrl=cq, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1",
                          AttributeNames=["MessageDeduplicationId"])["Messages"]
retry = sqs.receive_message(QueueUrl=cq, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-1")["Messages"]
other = sqs.receive_message(QueueUrl=cq, MaxNumberOfMessages=10, ReceiveRequestAttemptId="try-2").get("Messages", [])
out["attempt_replay"] = {"bodies": [m["Body"] for m in got],
                         "same_handles": [m["ReceiptHandle"] for m in got] == [m["ReceiptHandle"] for m in retry],
                         "other_attempt": len(other),
                         "dedup_is_sha256": got[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same body").hexdigest()}

gq = sqs.create_queue(QueueName="scoped.fifo", Attributes={"FifoQueue": "true", "DeduplicationScope": "messageGroup",
                                                            "FifoThroughputLimit": "perMessageGroupId"})["QueueUrl"]
x = sqs.send_message(QueueUrl=gq, MessageBody="x", MessageGroupId="g1", MessageDeduplicationId="same")
y = sqs.send_message(QueueUrl=gq, MessageBody="y", MessageGroupId="g2", MessageDeduplicationId="same")
z = sqs.send_message(QueueUrl=gq, MessageBody="z", MessageGroupId="g1", MessageDeduplicationId="same")
scoped = sqs.receive_message(QueueUrl=gq, MaxNumberOfMessages=10, AttributeNames=["MessageDeduplicationId"])["Messages"]
out["group_scope"] = {"distinct_groups": x["MessageId"] != y["MessageId"], "same_group_dup": z["MessageId"] == x["MessageId"],
                      "received": sorted((m["Body"], m["Attributes"]["MessageDeduplicationId"]) for m in scoped)}

out["no_group"] = error_of(sqs.send_message, QueueUrl=q, MessageBody="x", MessageDeduplicationId="z")
out["no_dedup"] = error_of(sqs.send_message, QueueUrl=q, MessageBody="x", MessageGroupId="g")
out["delay_on_fifo"] = error_of(sqs.send_message, QueueUrl=q, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="y", DelaySeconds=5)
out["fifo_dlq_mismatch"] = error_of(sqs.set_queue_attributes, QueueUrl=q, Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn_of(sqs.create_queue(QueueName="std")["QueueUrl"]), "maxReceiveCount": 1})})
"#;

#[tokio::test]
async fn fifo_queues_keep_group_order_one_batch_per_group_and_deduplicate_for_five_minutes() {
    let weir = Weir::start(&["--clock", "manual"]);
    let out = run_python(FIFO, &weir.endpoint).await;
    assert_eq!(
        out["attrs"],
        serde_json::json!({"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"})
    );
    assert_eq!(out["sequence_increasing"], true);
    assert_eq!(out["duplicate_keeps_id"], true);
    assert_eq!(out["first"], serde_json::json!(["A1", "A2"]));
    assert_eq!(out["first_attrs"], serde_json::json!({"MessageGroupId": "A", "MessageDeduplicationId": "A1"}));
    assert_eq!(out["first_sequence"], true);
    assert_eq!(out["second"], serde_json::json!(["B1", "B2"]), "group A is in flight: only B");
    assert_eq!(out["all_groups_busy"], serde_json::json!([]));
    assert_eq!(out["after_delete"], serde_json::json!(["A3"]));
    assert_eq!(out["after_timeout"], serde_json::json!([["B1", "2"], ["B2", "2"], ["A3", "2"]]));
    assert_eq!(out["within_window"], true);
    assert_eq!(out["after_window"], true);
    assert_eq!(out["content_dedup"], serde_json::json!([true, true]));
    let replay = &out["attempt_replay"];
    assert_eq!(replay["bodies"], serde_json::json!(["same body", "other body"]));
    assert_eq!(replay["same_handles"], true);
    assert_eq!(replay["other_attempt"], 0);
    assert_eq!(replay["dedup_is_sha256"], true);
    assert_eq!(
        out["group_scope"],
        serde_json::json!({"distinct_groups": true, "same_group_dup": true, "received": [["x", "same"], ["y", "same"]]})
    );
    assert_error(&out, "no_group", "ClientError", "MissingParameter");
    assert_error(&out, "no_dedup", "ClientError", "InvalidParameterValue");
    assert_error(&out, "delay_on_fifo", "ClientError", "InvalidParameterValue");
    assert_error(&out, "fifo_dlq_mismatch", "ClientError", "InvalidParameterValue");
}

const REDRIVE: &str = r#"
dlq = sqs.create_queue(QueueName="dead", Attributes={"RedriveAllowPolicy": json.dumps(
    {"redrivePermission": "byQueue", "sourceQueueArns": ["arn:aws:sqs:us-east-1:000000000000:src"]})})["QueueUrl"]
dlq_arn = arn_of(dlq)
src = sqs.create_queue(QueueName="src", Attributes={"VisibilityTimeout": "30", "RedrivePolicy": json.dumps(
    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
other = sqs.create_queue(QueueName="other")["QueueUrl"]
out["not_allowed"] = error_of(sqs.set_queue_attributes, QueueUrl=other, Attributes={"RedrivePolicy": json.dumps(
    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})
sent = sqs.send_message(QueueUrl=src, MessageBody="poison")["MessageId"]

counts = []
for _ in range(2):
    m = sqs.receive_message(QueueUrl=src, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    counts.append(m["Attributes"]["ApproximateReceiveCount"])
    advance(31)
out["receive_counts"] = counts
out["third_receive"] = sqs.receive_message(QueueUrl=src).get("Messages", [])
dead = sqs.receive_message(QueueUrl=dlq, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
out["in_dlq"] = [dead["Body"], dead["MessageId"] == sent, dead["Attributes"]["ApproximateReceiveCount"]]
sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=dead["ReceiptHandle"], VisibilityTimeout=0)
out["sources"] = [u.rsplit("/", 1)[1] for u in sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]]

out["not_a_dlq"] = error_of(sqs.start_message_move_task, SourceArn=arn_of(other))
out["missing_source"] = error_of(sqs.start_message_move_task, SourceArn="arn:aws:sqs:us-east-1:000000000000:nope")
task = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
deadline = time.monotonic() + 10
while True:
    listed = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
    if listed[0]["Status"] != "RUNNING" or time.monotonic() > deadline:
        break
    time.sleep(0.05)
out["task"] = {k: listed[0].get(k) for k in ["Status", "SourceArn", "ApproximateNumberOfMessagesMoved",
                                             "ApproximateNumberOfMessagesToMove"]}
back = sqs.receive_message(QueueUrl=src, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
out["back_in_source"] = [back["Body"], back["MessageId"] == sent, back["Attributes"]["ApproximateReceiveCount"]]
out["cancel_unknown"] = error_of(sqs.cancel_message_move_task, TaskHandle="nope")
out["cancel_finished"] = error_of(sqs.cancel_message_move_task, TaskHandle=task)

# Retention: a message older than MessageRetentionPeriod disappears (the sweep runs each platform minute).
sqs.set_queue_attributes(QueueUrl=other, Attributes={"MessageRetentionPeriod": "60"})
sqs.send_message(QueueUrl=other, MessageBody="old")
advance(61)
deadline = time.monotonic() + 10
while sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] != "0":
    if time.monotonic() > deadline:
        break
    time.sleep(0.05)
out["after_retention"] = sqs.receive_message(QueueUrl=other).get("Messages", [])
"#;

#[tokio::test]
async fn redrive_moves_messages_to_the_dead_letter_queue_and_a_move_task_brings_them_back() {
    let weir = Weir::start(&["--clock", "manual"]);
    let out = run_python(REDRIVE, &weir.endpoint).await;
    assert_error(&out, "not_allowed", "ClientError", "InvalidParameterValue");
    assert_eq!(out["receive_counts"], serde_json::json!(["1", "2"]));
    assert_eq!(out["third_receive"], serde_json::json!([]), "after maxReceiveCount receives the message moved");
    assert_eq!(out["in_dlq"], serde_json::json!(["poison", true, "1"]));
    assert_eq!(out["sources"], serde_json::json!(["src"]));
    assert_error(&out, "not_a_dlq", "ClientError", "InvalidParameterValue");
    assert_error(&out, "missing_source", "ResourceNotFoundException", "ResourceNotFoundException");
    assert_eq!(
        out["task"],
        serde_json::json!({"Status": "COMPLETED", "SourceArn": "arn:aws:sqs:us-east-1:000000000000:dead",
                           "ApproximateNumberOfMessagesMoved": 1, "ApproximateNumberOfMessagesToMove": 1})
    );
    assert_eq!(out["back_in_source"], serde_json::json!(["poison", true, "1"]));
    assert_error(&out, "cancel_unknown", "ResourceNotFoundException", "ResourceNotFoundException");
    assert_error(&out, "cancel_finished", "ClientError", "InvalidParameterValue");
    assert_eq!(out["after_retention"], serde_json::json!([]));
}

#[tokio::test]
async fn the_aws_cli_round_trips_a_message() {
    let weir = Weir::start(&[]);
    let endpoint = weir.endpoint.clone();
    let run = move |args: &[&str]| aws_cli(&endpoint, "sqs", args);
    let out = tokio::task::spawn_blocking(move || {
        let url = run(&["create-queue", "--queue-name", "cli"])["QueueUrl"].as_str().unwrap().to_string();
        let sent = run(&[
            "send-message",
            "--queue-url",
            &url,
            "--message-body",
            "from the cli",
            "--message-attributes",
            r#"{"k":{"DataType":"String","StringValue":"v"}}"#,
        ]);
        let received = run(&["receive-message", "--queue-url", &url, "--message-attribute-names", "All"]);
        let handle = received["Messages"][0]["ReceiptHandle"].as_str().unwrap().to_string();
        run(&["delete-message", "--queue-url", &url, "--receipt-handle", &handle]);
        let attributes = run(&["get-queue-attributes", "--queue-url", &url, "--attribute-names", "All"]);
        (url, sent, received, attributes)
    })
    .await
    .unwrap();
    let (url, sent, received, attributes) = out;
    assert_eq!(url, format!("{}/000000000000/cli", weir.endpoint));
    let message = &received["Messages"][0];
    assert_eq!(message["Body"], "from the cli");
    assert_eq!(message["MessageId"], sent["MessageId"]);
    assert_eq!(message["MD5OfBody"], sent["MD5OfMessageBody"]);
    assert_eq!(message["MD5OfMessageAttributes"], sent["MD5OfMessageAttributes"]);
    assert_eq!(message["MessageAttributes"]["k"]["StringValue"], "v");
    assert_eq!(attributes["Attributes"]["ApproximateNumberOfMessages"], "0");
    assert_eq!(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"], "0");
}

#[tokio::test]
async fn a_message_move_task_survives_a_crash_and_finishes_after_restart() {
    let weir = Weir::start(&[]);
    let dead = weir.sqs("CreateQueue", json!({"QueueName": "dead"})).await["QueueUrl"].as_str().unwrap().to_string();
    let dead_arn = "arn:aws:sqs:us-east-1:000000000000:dead";
    let redrive = json!({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "1"}).to_string();
    let src = weir.sqs("CreateQueue", json!({"QueueName": "src", "Attributes": {"RedrivePolicy": redrive}})).await
        ["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    for n in 0..4 {
        weir.sqs("SendMessage", json!({"QueueUrl": dead, "MessageBody": format!("lost-{n}")})).await;
    }
    let list = async |weir: &Weir| {
        weir.sqs("ListMessageMoveTasks", json!({"SourceArn": dead_arn, "MaxResults": 10})).await["Results"].clone()
    };
    // One message a second: the task is still running when weir dies.
    let started =
        weir.sqs("StartMessageMoveTask", json!({"SourceArn": dead_arn, "MaxNumberOfMessagesPerSecond": 1})).await;
    let handle = started["TaskHandle"].as_str().unwrap().to_string();
    assert!(
        eventually(Duration::from_secs(10), async || list(&weir).await[0]["ApproximateNumberOfMessagesMoved"] == 1)
            .await
    );
    weir.sigkill();

    let weir = weir.restart(&[]);
    let finished = eventually(Duration::from_secs(20), async || list(&weir).await[0]["Status"] == "COMPLETED").await;
    let tasks = list(&weir).await;
    assert!(finished, "{tasks}");
    assert_eq!(tasks.as_array().unwrap().len(), 1, "{tasks}");
    assert_eq!(tasks[0]["ApproximateNumberOfMessagesToMove"], 4);
    assert_eq!(tasks[0]["ApproximateNumberOfMessagesMoved"], 4);
    assert_eq!(tasks[0]["MaxNumberOfMessagesPerSecond"], 1);
    let depth = async |url: &str| {
        weir.sqs("GetQueueAttributes", json!({"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]}))
            .await["Attributes"]["ApproximateNumberOfMessages"]
            .clone()
    };
    assert_eq!(depth(&src).await, "4", "every message is back in its source queue");
    assert_eq!(depth(&dead).await, "0");
    // The finished task's handle is no longer cancellable, and is known.
    let refused = weir
        .call(
            "POST",
            "/",
            &[("x-amz-target", "AmazonSQS.CancelMessageMoveTask"), ("content-type", "application/x-amz-json-1.0")],
            json!({"TaskHandle": handle}).to_string(),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("Only active tasks can be cancelled."), "{}", refused.text());
}
