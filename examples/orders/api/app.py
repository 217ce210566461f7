"""OrdersApi: accept an order and put it on the orders queue for OrdersWorker.

Invoke it with the order as the event (the Lambda Invoke API: `load.py`, `aws lambda invoke`):

    {"item": "coffee", "quantity": 2}

An API Gateway / function URL proxy event works too: its `body` is the order's JSON.

This function only checks that the order is a JSON object and gives it an `order_id`; the
business rules (item, quantity) are the worker's. That keeps the front door fast and shows the
worker's partial batch failure path when a bad order gets through.
"""

import json
import os
import uuid

from sqs_client import make_sender

# Read once per execution environment: the template sets it to `!Ref OrdersQueue` (the URL).
QUEUE_URL = os.environ["ORDERS_QUEUE_URL"]

# Also created once per execution environment (cold start) and reused by every warm
# invocation: boto3 when the runtime has it, otherwise a stdlib urllib client speaking the SQS
# JSON protocol (see sqs_client.py).
send_message = make_sender()


def handler(event, context):
    try:
        order = read_order(event)
    except ValueError as error:
        return response(400, {"error": str(error)})

    order.setdefault("order_id", str(uuid.uuid4()))
    message_id = send_message(QUEUE_URL, json.dumps(order))
    return response(202, {"order_id": order["order_id"], "message_id": message_id})


def read_order(event):
    """The order from a direct invoke (the event itself) or a proxy event (its JSON body)."""
    if isinstance(event, dict) and isinstance(event.get("body"), str):
        try:
            event = json.loads(event["body"])
        except json.JSONDecodeError as error:
            raise ValueError(f"body is not JSON: {error}") from None
    if not isinstance(event, dict):
        raise ValueError("an order is a JSON object, e.g. {\"item\": \"coffee\", \"quantity\": 2}")
    return dict(event)


def response(status_code, body):
    """An API Gateway-style response, so the function also works behind an HTTP route."""
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
