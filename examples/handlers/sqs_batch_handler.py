"""Pattern: an SQS batch handler, all or nothing.

Lambda polls the queue and invokes the function with up to BatchSize messages in
event["Records"]. Without ReportBatchItemFailures the batch succeeds or fails as a whole:

- return normally  -> every message of the batch is deleted from the queue;
- raise            -> none is deleted; the whole batch becomes visible again after the queue's
                      VisibilityTimeout and is retried (until maxReceiveCount moves it to the
                      dead-letter queue).

So a handler like this one must be idempotent (a retried batch re-processes the messages that
had succeeded) and should only raise for failures worth retrying. For a batch where single
messages can be bad, see partial_batch_failure.py.

Handler: sqs_batch_handler.handler
"""

import json


def handler(event, context):
    total = 0
    for record in event["Records"]:
        # body is the message as sent; attributes carry ApproximateReceiveCount, SentTimestamp, ...
        payload = json.loads(record["body"])  # a bad message fails the whole batch
        total += int(payload.get("amount", 0))
    print(json.dumps({"message": "batch processed", "records": len(event["Records"]), "total": total}))
