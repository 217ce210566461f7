"""Sending a message to SQS from a function, with or without boto3.

With boto3 installed, it is used as usual; its endpoint comes from AWS_ENDPOINT_URL, which weir
sets for every function so SDK calls reach weir instead of AWS.

Without boto3 (a bare python3 on a laptop), the same call is one HTTP POST of the SQS JSON
protocol, made here with the standard library:

    POST {endpoint}/
    Content-Type: application/x-amz-json-1.0
    X-Amz-Target: AmazonSQS.SendMessage

    {"QueueUrl": "...", "MessageBody": "..."}

The request is signed with AWS Signature Version 4 when credentials are in the environment
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as Lambda and weir provide), and sent unsigned
otherwise.
"""

import datetime
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.parse
import urllib.request


def make_sender():
    """A function send(queue_url, body) -> message_id, built once and reused."""
    try:
        import boto3
    except ImportError:
        return send_with_urllib
    client = boto3.client(
        "sqs",
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL"),
        region_name=os.environ.get("AWS_REGION"),
    )

    def send_with_boto3(queue_url, body):
        return client.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]

    return send_with_boto3


# weir runs locally: talk to it directly, never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def send_with_urllib(queue_url, body):
    endpoint = sqs_endpoint(queue_url)
    payload = json.dumps({"QueueUrl": queue_url, "MessageBody": body}).encode()
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AmazonSQS.SendMessage",
    }
    headers.update(sigv4_headers(endpoint, headers, payload))
    request = urllib.request.Request(endpoint + "/", data=payload, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=5) as reply:
            return json.load(reply)["MessageId"]
    except urllib.error.HTTPError as error:
        # SQS errors are JSON: {"__type": "...#QueueDoesNotExist", "message": "..."}
        detail = error.read().decode(errors="replace")
        raise RuntimeError(f"SendMessage failed with HTTP {error.code}: {detail}") from None


def sqs_endpoint(queue_url):
    """AWS_ENDPOINT_URL_SQS, else AWS_ENDPOINT_URL, else the queue URL's scheme and host."""
    configured = os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL")
    if configured:
        return configured.rstrip("/")
    parts = urllib.parse.urlsplit(queue_url)
    return f"{parts.scheme}://{parts.netloc}"


def sigv4_headers(endpoint, headers, payload, now=None):
    """Signature Version 4 headers for a POST to `endpoint`/ (empty without credentials)."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key:
        return {}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    signed = {name.lower(): value for name, value in headers.items()}
    signed["host"] = urllib.parse.urlsplit(endpoint).netloc
    signed["x-amz-date"] = amz_date
    token = os.environ.get("AWS_SESSION_TOKEN")
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    canonical_request = "\n".join(
        ["POST", "/", ""]
        + [f"{name}:{signed[name].strip()}" for name in names]
        + ["", ";".join(names), hashlib.sha256(payload).hexdigest()]
    )
    scope = f"{amz_date[:8]}/{region}/sqs/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (amz_date[:8], region, "sqs", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    result = {
        "X-Amz-Date": amz_date,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}",
    }
    if token:
        result["X-Amz-Security-Token"] = token
    return result
