"""Pattern: an SQS batch handler reporting partial batch failures.

Turn it on in the event source (SAM):

    Events:
      Jobs:
        Type: SQS
        Properties:
          Queue: !GetAtt JobsQueue.Arn
          FunctionResponseTypes: [ReportBatchItemFailures]

Then return the messages that failed; only those become visible again and are retried, the rest
of the batch is deleted:

    {"batchItemFailures": [{"itemIdentifier": "<messageId>"}, ...]}

An empty list (or no batchItemFailures at all) means the whole batch succeeded. Raising still
fails the whole batch, which is right for failures that are not about one message (say, the
database is down): retrying individual messages would not help then.

On FIFO queues, stop at the first failure and report it and every message after it, so the
order within a message group is kept.

Handler: partial_batch_failure.handler
"""

import json


def handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            process(json.loads(record["body"]))
        except (ValueError, KeyError) as error:  # this message is bad; the others are fine
            print(json.dumps({"message": "record failed", "messageId": record["messageId"], "error": str(error)}))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def process(job):
    if not isinstance(job, dict) or "id" not in job:
        raise ValueError("a job is an object with an id")
    print(json.dumps({"message": "job done", "id": job["id"]}))
