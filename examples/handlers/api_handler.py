"""Pattern: an API handler (synchronous invoke, API Gateway / function URL style).

- Parse and validate the request; answer 4xx for the caller's mistakes instead of raising
  (an exception becomes a 200 with X-Amz-Function-Error on a direct invoke, a 502 behind a
  gateway: neither tells the caller what was wrong).
- Keep it short: the caller waits. Hand slow work to a queue (see the orders example).
- Return a proxy response: statusCode, headers, body as a string.

Handler: api_handler.handler
"""

import json


def handler(event, context):
    # Behind a gateway the payload is in event["body"] (a string); on a direct invoke it is the event.
    try:
        request = json.loads(event["body"]) if isinstance(event.get("body"), str) else event
    except json.JSONDecodeError:
        return respond(400, {"error": "the body is not JSON"})

    name = request.get("name") if isinstance(request, dict) else None
    if not isinstance(name, str) or not name.strip():
        return respond(400, {"error": "name (a non-empty string) is required"})

    # context gives the request id (for logs) and the time left before the function's Timeout.
    request_id = getattr(context, "aws_request_id", "local")
    return respond(200, {"greeting": f"hello, {name.strip()}", "request_id": request_id})


def respond(status_code, body):
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
