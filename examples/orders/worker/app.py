"""OrdersWorker: write each order of an SQS batch to SQLite, reporting bad ones individually.

The event source mapping (template: FunctionResponseTypes [ReportBatchItemFailures]) lets the
function return which messages failed:

    {"batchItemFailures": [{"itemIdentifier": "<messageId>"}, ...]}

Only those messages become visible again and are retried; the rest of the batch is deleted.
A malformed order therefore does not make its nine neighbours run again, and after 5 receives
(the queue's maxReceiveCount) SQS moves it to OrdersDLQ.
"""

import json
import os
import sqlite3
import time

DB_PATH = os.environ.get("ORDERS_DB_PATH", "/tmp/weir-orders.db")
# Time each order takes besides the write (the template sets 200 ms): it stands in for the real
# work of a worker (a payment call, an e-mail), and makes the worker slower than orders can
# arrive, so OrdersQueue visibly buffers them (load.py prints its depth).
WORK_SECONDS = int(os.environ.get("ORDERS_WORK_MS", "0")) / 1000.0

# The connection is opened ONCE per execution environment, when the module is imported (the cold
# start), not inside the handler. Lambda, and weir, keep the environment alive between
# invocations, so every warm invocation reuses it: no connect per batch, and at most one
# connection per concurrent environment (reserved concurrency 5 = at most 5 connections).
CONNECTION = sqlite3.connect(DB_PATH, timeout=5, isolation_level=None)
CONNECTION.execute("PRAGMA journal_mode=WAL")  # up to 5 environments write at once
CONNECTION.execute(
    """CREATE TABLE IF NOT EXISTS orders (
           order_id    TEXT PRIMARY KEY,
           item        TEXT NOT NULL,
           quantity    INTEGER NOT NULL,
           message_id  TEXT NOT NULL,
           saved_at    REAL NOT NULL
       )"""
)


class MalformedOrder(ValueError):
    """The message is not an order this worker can save; retrying will not help."""


def handler(event, context):
    failures = []
    for record in event.get("Records", []):
        message_id = record["messageId"]
        try:
            save(parse_order(record["body"]), message_id)
        except (MalformedOrder, sqlite3.Error) as error:
            # Report this message only; the others of the batch are done.
            log("order not saved", message_id=message_id, error=str(error))
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}


def parse_order(body):
    try:
        order = json.loads(body)
    except json.JSONDecodeError as error:
        raise MalformedOrder(f"body is not JSON: {error}") from None
    if not isinstance(order, dict):
        raise MalformedOrder("an order is a JSON object")
    order_id, item, quantity = order.get("order_id"), order.get("item"), order.get("quantity")
    if not isinstance(order_id, str) or not order_id:
        raise MalformedOrder("order_id must be a non-empty string")
    if not isinstance(item, str) or not item:
        raise MalformedOrder("item must be a non-empty string")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise MalformedOrder(f"quantity must be a positive integer, got {quantity!r}")
    return {"order_id": order_id, "item": item, "quantity": quantity}


def save(order, message_id):
    if WORK_SECONDS:
        time.sleep(WORK_SECONDS)
    # SQS delivers at least once: the same order can arrive twice. Keyed by order_id, a
    # redelivery overwrites the row instead of duplicating it.
    CONNECTION.execute(
        "INSERT OR REPLACE INTO orders (order_id, item, quantity, message_id, saved_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (order["order_id"], order["item"], order["quantity"], message_id, time.time()),
    )


def log(message, **fields):
    # One JSON line per event: weir (like CloudWatch) keeps the function's stdout as its log.
    print(json.dumps({"level": "WARN", "message": message, **fields}), flush=True)
