"""Tests of the orders example: the worker against a real SQLite file, the API against a local
HTTP server speaking the SQS JSON protocol, and load.py as a real process against a local
server answering like the Lambda Invoke API.

    python3 -m unittest discover -s examples -p 'test_*.py' -v

Standard library only (the SigV4 check also uses botocore when it is installed).
"""

import contextlib
import datetime
import http.server
import io
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent


def load_module(name, path, extra_sys_path=None):
    """Imports a handler file under a unique name (both handlers are called app.py)."""
    if extra_sys_path and str(extra_sys_path) not in sys.path:
        sys.path.insert(0, str(extra_sys_path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sqs_record(message_id, body):
    return {"messageId": message_id, "receiptHandle": f"rh-{message_id}", "body": body,
            "eventSource": "aws:sqs", "attributes": {"ApproximateReceiveCount": "1"}}


class RecordingServer:
    """A real HTTP server on 127.0.0.1 that records requests and answers with `respond`.

    With `sqs`, SQS JSON-protocol calls (X-Amz-Target: AmazonSQS.<Operation>) are answered by
    `sqs(operation, request)` instead and recorded in `sqs_calls`; with `metrics`, GET /metrics
    answers `metrics()`.
    """

    def __init__(self, respond, sqs=None, metrics=None):
        self.requests = []
        self.sqs_calls = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                if sqs and target.startswith("AmazonSQS."):
                    operation = target.split(".", 1)[1]
                    recorder.sqs_calls.append(operation)
                    self.answer(200, {"Content-Type": "application/x-amz-json-1.0"},
                                json.dumps(sqs(operation, json.loads(body))).encode())
                    return
                recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.answer(*respond(len(recorder.requests), self.path, body))

            def do_GET(self):
                if metrics and self.path == "/metrics":
                    self.answer(200, {"Content-Type": "text/plain"}, metrics().encode())
                else:
                    self.answer(404, {}, b"")

            def answer(self, status, headers, payload):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class WorkerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db_path = os.path.join(self.tmp.name, "orders.db")
        with mock.patch.dict(os.environ, {"ORDERS_DB_PATH": self.db_path}):
            self.worker = load_module("orders_worker_app", HERE / "worker" / "app.py")

    def tearDown(self):
        self.worker.CONNECTION.close()
        self.tmp.cleanup()

    def rows(self):
        with sqlite3.connect(self.db_path) as connection:
            return connection.execute("SELECT order_id, item, quantity, message_id FROM orders ORDER BY order_id").fetchall()

    def test_saves_good_orders_and_reports_only_malformed_ones(self):
        event = {"Records": [
            sqs_record("m1", json.dumps({"order_id": "o1", "item": "tea", "quantity": 2})),
            sqs_record("m2", "not json"),
            sqs_record("m3", json.dumps({"order_id": "o3", "item": "coffee", "quantity": "many"})),
            sqs_record("m4", json.dumps({"order_id": "o4", "item": "juice", "quantity": 1})),
            sqs_record("m5", json.dumps(["a", "list"])),
        ]}
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            result = self.worker.handler(event, None)
        self.assertEqual(result, {"batchItemFailures": [
            {"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}, {"itemIdentifier": "m5"}]})
        lines = [json.loads(line) for line in log.getvalue().splitlines()]
        self.assertEqual([line["message_id"] for line in lines], ["m2", "m3", "m5"])
        self.assertIn("quantity must be a positive integer", lines[1]["error"])
        self.assertEqual(self.rows(), [("o1", "tea", 2, "m1"), ("o4", "juice", 1, "m4")])

    def test_warm_invocations_reuse_the_module_connection_and_redelivery_is_idempotent(self):
        connection = self.worker.CONNECTION
        first = {"Records": [sqs_record("m1", json.dumps({"order_id": "o1", "item": "tea", "quantity": 2}))]}
        self.assertEqual(self.worker.handler(first, None), {"batchItemFailures": []})
        # A redelivery of the same order (at-least-once) in a later, warm invocation.
        again = {"Records": [sqs_record("m9", json.dumps({"order_id": "o1", "item": "tea", "quantity": 2}))]}
        self.assertEqual(self.worker.handler(again, None), {"batchItemFailures": []})
        self.assertIs(self.worker.CONNECTION, connection)
        self.assertEqual(self.rows(), [("o1", "tea", 2, "m9")])

    def test_a_database_error_fails_only_that_record(self):
        good = sqs_record("m1", json.dumps({"order_id": "o1", "item": "tea", "quantity": 2}))
        self.worker.CONNECTION.execute("CREATE TRIGGER refuse BEFORE INSERT ON orders WHEN NEW.item = 'poison' "
                                       "BEGIN SELECT RAISE(ABORT, 'refused'); END")
        poison = sqs_record("m2", json.dumps({"order_id": "o2", "item": "poison", "quantity": 1}))
        with contextlib.redirect_stdout(io.StringIO()):
            result = self.worker.handler({"Records": [good, poison]}, None)
        self.assertEqual(result, {"batchItemFailures": [{"itemIdentifier": "m2"}]})
        self.assertEqual(self.rows(), [("o1", "tea", 2, "m1")])


class ApiTest(unittest.TestCase):
    def test_queues_the_order_through_the_sqs_json_protocol(self):
        # With boto3 when it is installed, and always through the stdlib fallback
        # (sys.modules["boto3"] = None makes `import boto3` fail).
        variants = {"fallback": {"boto3": None}}
        if importlib.util.find_spec("boto3") is not None:
            variants["boto3"] = {}
        for variant, modules in variants.items():
            with self.subTest(variant), mock.patch.dict(sys.modules, modules):
                self.check_api_queues_the_order()

    def check_api_queues_the_order(self):
        def respond(count, path, body):
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(
                {"MessageId": f"msg-{count}", "MD5OfMessageBody": "x"}).encode()

        with RecordingServer(respond) as sqs:
            queue_url = f"{sqs.url}/000000000000/OrdersQueue"
            environment = {"ORDERS_QUEUE_URL": queue_url, "AWS_ENDPOINT_URL": sqs.url,
                           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
            with mock.patch.dict(os.environ, environment):
                api = load_module("orders_api_app", HERE / "api" / "app.py", extra_sys_path=HERE / "api")
                direct = api.handler({"item": "tea", "quantity": 2}, None)
                proxied = api.handler({"body": json.dumps({"order_id": "given", "item": "tea", "quantity": 1})}, None)
                refused = api.handler({"body": "[1, 2]"}, None)

        self.assertEqual(direct["statusCode"], 202)
        self.assertEqual(json.loads(proxied["body"]), {"order_id": "given", "message_id": "msg-2"})
        self.assertEqual(refused["statusCode"], 400)
        self.assertEqual(len(sqs.requests), 2)
        request = sqs.requests[0]
        self.assertEqual(request["path"], "/")
        self.assertEqual(request["headers"]["X-Amz-Target"], "AmazonSQS.SendMessage")
        self.assertTrue(request["headers"]["Content-Type"].startswith("application/x-amz-json-1.0"))
        self.assertIn("AWS4-HMAC-SHA256", request["headers"]["Authorization"])
        sent = json.loads(request["body"])
        self.assertEqual(sent["QueueUrl"], queue_url)
        order = json.loads(sent["MessageBody"])
        self.assertEqual((order["item"], order["quantity"]), ("tea", 2))
        self.assertEqual(order["order_id"], json.loads(direct["body"])["order_id"])

    def test_urllib_fallback_reports_sqs_errors(self):
        def respond(count, path, body):
            return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(
                {"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "no queue"}).encode()

        sys.path.insert(0, str(HERE / "api"))
        import sqs_client
        with RecordingServer(respond) as sqs, mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL": sqs.url}):
            with self.assertRaisesRegex(RuntimeError, "HTTP 400.*QueueDoesNotExist"):
                sqs_client.send_with_urllib(f"{sqs.url}/000000000000/missing", "{}")

    def test_signature_matches_botocore(self):
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
        except ImportError:
            self.skipTest("botocore is not installed")
        sys.path.insert(0, str(HERE / "api"))
        import sqs_client
        payload = b'{"QueueUrl": "http://127.0.0.1:9700/000000000000/q", "MessageBody": "x"}'
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"}
        request = AWSRequest(method="POST", url="http://127.0.0.1:9700/", data=payload, headers=dict(headers))
        SigV4Auth(Credentials("AKIDEXAMPLE", "secret", "token"), "sqs", "eu-west-1").add_auth(request)
        signed_at = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
        credentials = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
                       "AWS_SESSION_TOKEN": "token", "AWS_REGION": "eu-west-1"}
        with mock.patch.dict(os.environ, credentials):
            mine = sqs_client.sigv4_headers("http://127.0.0.1:9700", headers, payload, now=signed_at)
        self.assertEqual(mine["Authorization"], request.headers["Authorization"])


class LoadScriptTest(unittest.TestCase):
    def test_counts_accepted_and_throttled_with_reason(self):
        def respond(count, path, body):
            if count % 4 == 0:
                return 429, {"Content-Type": "application/json"}, json.dumps({
                    "Type": "User", "message": "Rate Exceeded.",
                    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}).encode()
            order = json.loads(body)
            status = 400 if order["quantity"] == "many" else 202
            return 200, {"Content-Type": "application/json"}, json.dumps({"statusCode": status, "body": "{}"}).encode()

        with RecordingServer(respond) as lambda_api:
            completed = subprocess.run(
                [sys.executable, str(HERE / "load.py"), "--endpoint", lambda_api.url, "--count", "20",
                 "--rate", "400", "--concurrency", "1", "--malformed-every", "5", "--json",
                 "--poll-interval", "0", "--burst", "0"],
                capture_output=True, text=True, timeout=60, env={**os.environ, "AWS_ACCESS_KEY_ID": ""})
        self.assertEqual(completed.returncode, 0, completed.stderr)
        summary = json.loads(completed.stdout)
        self.assertEqual(summary["sent"], 20)
        self.assertEqual(summary["counts"]["throttled"], 5)
        self.assertEqual(summary["reasons"]["throttled"], {"ReservedFunctionConcurrentInvocationLimitExceeded": 5})
        self.assertEqual(summary["counts"]["accepted"] + summary["counts"].get("rejected", 0), 15)
        self.assertEqual(lambda_api.requests[0]["path"], "/2015-03-31/functions/OrdersApi/invocations")
        self.assertEqual(lambda_api.requests[0]["headers"]["X-Amz-Invocation-Type"], "RequestResponse")

    def test_prints_a_readable_summary(self):
        def respond(count, path, body):
            return 200, {"Content-Type": "application/json"}, b'{"statusCode": 202, "body": "{}"}'

        with RecordingServer(respond) as lambda_api:
            completed = subprocess.run(
                [sys.executable, str(HERE / "load.py"), "--endpoint", lambda_api.url, "--count", "3", "--rate", "100",
                 "--poll-interval", "0", "--burst", "0"],
                capture_output=True, text=True, timeout=60)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertIn("sent 3 orders to OrdersApi", completed.stdout)
        self.assertRegex(completed.stdout, r"accepted by the API\s+3")
        self.assertRegex(completed.stdout, r"throttled \(429\)\s+0")

    def test_watches_the_queue_until_it_drains(self):
        # The queue fills while orders arrive and drains afterwards: (visible, in flight) per poll.
        depths = iter([(0, 0), (30, 5), (12, 5), (0, 3)])
        lock = threading.Lock()

        def sqs(operation, request):
            if operation == "GetQueueUrl":
                return {"QueueUrl": f"http://x/000000000000/{request['QueueName']}"}
            if request["QueueUrl"].endswith("/OrdersDLQ"):
                return {"Attributes": {"ApproximateNumberOfMessages": "2", "ApproximateNumberOfMessagesNotVisible": "0"}}
            with lock:
                visible, in_flight = next(depths, (0, 0))
            return {"Attributes": {"ApproximateNumberOfMessages": str(visible),
                                   "ApproximateNumberOfMessagesNotVisible": str(in_flight)}}

        def metrics():
            return ('# TYPE weir_sqs_approximate_age_of_oldest_message_seconds gauge\n'
                    'weir_sqs_approximate_age_of_oldest_message_seconds{queue_name="OrdersDLQ"} 9.0\n'
                    'weir_sqs_approximate_age_of_oldest_message_seconds{queue_name="OrdersQueue"} 4.5\n')

        def respond(count, path, body):
            return 200, {"Content-Type": "application/json"}, b'{"statusCode": 202, "body": "{}"}'

        with RecordingServer(respond, sqs=sqs, metrics=metrics) as weir:
            completed = subprocess.run(
                [sys.executable, str(HERE / "load.py"), "--endpoint", weir.url, "--count", "5", "--rate", "50",
                 "--poll-interval", "0.05", "--drain-timeout", "10", "--burst", "0", "--json"],
                capture_output=True, text=True, timeout=60, env={**os.environ, "AWS_ACCESS_KEY_ID": ""})
        self.assertEqual(completed.returncode, 0, completed.stderr)
        queue = json.loads(completed.stdout)["queue"]
        self.assertEqual(queue["queue"], "OrdersQueue")
        self.assertEqual((queue["max_visible"], queue["max_in_flight"], queue["max_oldest_s"]), (30, 5, 4.5))
        self.assertTrue(queue["drained"], queue)
        self.assertEqual(queue["left"], {"visible": 0, "in_flight": 0, "dlq": 2})
        self.assertIn("GetQueueAttributes", weir.sqs_calls)
        # Progress lines go to stderr with --json.
        self.assertRegex(completed.stderr, r"OrdersQueue:\s+30 visible\s+5 in flight\s+oldest 4.5 s\s+OrdersDLQ: 2")

    def test_bursts_the_worker_past_its_reservation(self):
        lock = threading.Lock()
        running = {"worker": 0}

        def respond(count, path, body):
            if path.endswith("/OrdersApi/invocations"):
                return 200, {"Content-Type": "application/json"}, b'{"statusCode": 202, "body": "{}"}'
            with lock:
                running["worker"] += 1
                admitted = running["worker"] <= 5  # a reservation of 5
            if not admitted:
                return 429, {"Content-Type": "application/json"}, json.dumps({
                    "Type": "User", "message": "Rate Exceeded.",
                    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}).encode()
            return 200, {"Content-Type": "application/json"}, b'{"batchItemFailures": []}'

        with RecordingServer(respond) as lambda_api:
            completed = subprocess.run(
                [sys.executable, str(HERE / "load.py"), "--endpoint", lambda_api.url, "--count", "1",
                 "--poll-interval", "0", "--burst", "12"],
                capture_output=True, text=True, timeout=60, env={**os.environ, "AWS_ACCESS_KEY_ID": ""})
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertIn("burst: 12 invocations of OrdersWorker at once", completed.stdout)
        self.assertRegex(completed.stdout, r"ran\s+5")
        self.assertRegex(completed.stdout, r"ReservedFunctionConcurrentInvocationLimitExceeded\s+7")
        worker_calls = [r for r in lambda_api.requests if r["path"] == "/2015-03-31/functions/OrdersWorker/invocations"]
        self.assertEqual(len(worker_calls), 12)
        # Each is an SQS-shaped event with one order, as the event source mapping would send.
        record = json.loads(worker_calls[0]["body"])["Records"][0]
        self.assertEqual(record["eventSource"], "aws:sqs")
        self.assertEqual(set(json.loads(record["body"])), {"order_id", "item", "quantity"})


if __name__ == "__main__":
    unittest.main()
