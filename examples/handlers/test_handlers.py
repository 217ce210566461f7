"""Tests of the handler patterns (stdlib only):

    python3 -m unittest discover -s examples/handlers -v
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))


def record(message_id, body):
    return {"messageId": message_id, "body": body}


class Context:
    aws_request_id = "req-1"


class PatternsTest(unittest.TestCase):
    def test_api_handler_answers_4xx_for_bad_requests(self):
        import api_handler
        ok = api_handler.handler({"body": json.dumps({"name": " weir "})}, Context())
        self.assertEqual((ok["statusCode"], json.loads(ok["body"])["greeting"]), (200, "hello, weir"))
        self.assertEqual(api_handler.handler({"name": "direct"}, Context())["statusCode"], 200)
        self.assertEqual(api_handler.handler({"body": "{"}, Context())["statusCode"], 400)
        self.assertEqual(api_handler.handler({"body": "{}"}, Context())["statusCode"], 400)

    def test_all_or_nothing_batch_raises_on_a_bad_message(self):
        import sqs_batch_handler
        with contextlib.redirect_stdout(io.StringIO()) as out:
            sqs_batch_handler.handler({"Records": [record("a", '{"amount": 2}'), record("b", '{"amount": 3}')]}, None)
        self.assertEqual(json.loads(out.getvalue())["total"], 5)
        with self.assertRaises(ValueError):
            sqs_batch_handler.handler({"Records": [record("a", '{"amount": 2}'), record("b", "oops")]}, None)

    def test_partial_batch_failure_reports_only_bad_messages(self):
        import partial_batch_failure
        event = {"Records": [record("a", '{"id": 1}'), record("b", "oops"), record("c", "[]"), record("d", '{"id": 4}')]}
        with contextlib.redirect_stdout(io.StringIO()):
            result = partial_batch_failure.handler(event, None)
        self.assertEqual(result, {"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "c"}]})

    def test_connection_is_reused_and_rebuilt_after_a_failure(self):
        with tempfile.TemporaryDirectory() as directory, \
                mock.patch.dict(os.environ, {"DB_PATH": os.path.join(directory, "visits.db")}):
            sys.modules.pop("db_connection_reuse", None)
            import db_connection_reuse as module
            first = module._connection
            self.assertEqual(module.handler({"page": "/a"}, None), {"page": "/a", "visits": 1})
            self.assertEqual(module.handler({"page": "/a"}, None), {"page": "/a", "visits": 2})
            self.assertIs(module._connection, first)
            first.close()  # the "database went away": the next call reconnects once
            self.assertEqual(module.handler({"page": "/a"}, None), {"page": "/a", "visits": 3})
            self.assertIsNot(module._connection, first)
            module._connection.close()


if __name__ == "__main__":
    unittest.main()
