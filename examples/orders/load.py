#!/usr/bin/env python3
"""Push orders at a steady rate through the Lambda Invoke API and report what happened.

    python3 examples/orders/load.py --endpoint http://127.0.0.1:9700 --count 200 --rate 50

Each order is one `POST {endpoint}/2015-03-31/functions/{function}/invocations` with the order
as the payload, sent on schedule (open loop: a slow answer does not delay the next order) from a
pool of threads. At the end it prints how many orders were accepted, rejected by the function,
throttled (HTTP 429, counted by the `Reason` Lambda gives: ReservedFunctionConcurrentInvocation-
LimitExceeded, ConcurrentInvocationLimitExceeded, ...), failed, plus latency percentiles.

`--malformed-every K` makes every K-th order have a bad quantity: the API accepts it (it only
checks for a JSON object) and the worker reports it as a batch item failure, so after 5 receives
it lands in OrdersDLQ.

Standard library only. Requests are signed with SigV4 when AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY are set, and sent unsigned otherwise.
"""

import argparse
import collections
import concurrent.futures
import datetime
import hashlib
import hmac
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ITEMS = ["coffee", "tea", "croissant", "bagel", "juice"]

# weir runs locally: never route requests through an HTTP proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def main():
    args = parse_args()
    url = (
        f"{args.endpoint.rstrip('/')}/2015-03-31/functions/"
        f"{urllib.parse.quote(args.function, safe='')}/invocations"
    )
    orders = make_orders(args.count, args.malformed_every, args.seed)
    results = []
    results_lock = threading.Lock()

    def send(order):
        outcome = invoke(url, args.invocation_type, order, args.timeout)
        with results_lock:
            results.append(outcome)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for index, order in enumerate(orders):
            # Open loop: order i leaves at started + i / rate, whatever the earlier ones do.
            delay = started + index / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, order)
    elapsed = time.monotonic() - started

    summary = summarize(results, args, elapsed)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 0 if summary["counts"].get("error", 0) == 0 else 1


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="weir's URL, e.g. http://127.0.0.1:9700")
    parser.add_argument("--function", default="OrdersApi", help="function to invoke (default OrdersApi)")
    parser.add_argument("--count", type=int, default=100, help="orders to send (default 100)")
    parser.add_argument("--rate", type=float, default=20.0, help="orders per second (default 20)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most (default 32)")
    parser.add_argument("--malformed-every", type=int, default=0, metavar="K",
                        help="make every K-th order malformed (default 0: none)")
    parser.add_argument("--invocation-type", choices=["RequestResponse", "Event"], default="RequestResponse")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    parser.add_argument("--seed", type=int, default=1, help="seed for the order contents")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if args.count < 1 or args.rate <= 0 or args.concurrency < 1:
        parser.error("--count, --rate and --concurrency must be positive")
    return args


def make_orders(count, malformed_every, seed):
    rng = random.Random(seed)
    run = f"{int(time.time())}-{seed}"
    orders = []
    for number in range(1, count + 1):
        order = {"order_id": f"load-{run}-{number}", "item": rng.choice(ITEMS), "quantity": rng.randint(1, 5)}
        if malformed_every and number % malformed_every == 0:
            order["quantity"] = "many"  # the worker refuses this one
        orders.append(order)
    return orders


def invoke(url, invocation_type, order, timeout):
    """One Invoke call → {"outcome": ..., "reason": ..., "latency_ms": ...}."""
    payload = json.dumps(order).encode()
    headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": invocation_type}
    headers.update(sigv4_headers(url, headers, payload))
    request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
    started = time.monotonic()
    try:
        with OPENER.open(request, timeout=timeout) as reply:
            body = reply.read()
            status, function_error = reply.status, reply.headers.get("X-Amz-Function-Error")
    except urllib.error.HTTPError as error:
        body, status, function_error = error.read(), error.code, None
    except (urllib.error.URLError, OSError) as error:
        return {"outcome": "error", "reason": f"connection: {getattr(error, 'reason', error)}",
                "latency_ms": elapsed_ms(started)}
    latency_ms = elapsed_ms(started)

    if status == 202:
        return {"outcome": "queued", "reason": None, "latency_ms": latency_ms}
    if status == 200 and function_error:
        return {"outcome": "function_error", "reason": function_error, "latency_ms": latency_ms}
    if status == 200:
        # The API answers like API Gateway: {"statusCode": 202 | 400, "body": "..."}.
        answer = parse_json(body)
        code = answer.get("statusCode") if isinstance(answer, dict) else None
        outcome = "rejected" if isinstance(code, int) and code >= 400 else "accepted"
        return {"outcome": outcome, "reason": None, "latency_ms": latency_ms}
    error = parse_json(body)
    error = error if isinstance(error, dict) else {}
    if status == 429:
        # TooManyRequestsException carries the throttle's cause in "Reason".
        reason = error.get("Reason") or error.get("reason") or error.get("message") or "unknown"
        return {"outcome": "throttled", "reason": reason, "latency_ms": latency_ms}
    kind = error.get("Type") or error.get("__type") or error.get("message") or body[:80].decode(errors="replace")
    return {"outcome": "error", "reason": f"HTTP {status} {kind}", "latency_ms": latency_ms}


def parse_json(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def elapsed_ms(started):
    return (time.monotonic() - started) * 1000.0


def summarize(results, args, elapsed):
    counts = collections.Counter(result["outcome"] for result in results)
    reasons = collections.defaultdict(collections.Counter)
    for result in results:
        if result["reason"]:
            reasons[result["outcome"]][result["reason"]] += 1
    latencies = sorted(result["latency_ms"] for result in results)

    def percentile(fraction):
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(fraction * len(latencies)))], 1)

    return {
        "function": args.function,
        "sent": len(results),
        "rate_per_s": args.rate,
        "elapsed_s": round(elapsed, 2),
        "counts": dict(counts),
        "reasons": {outcome: dict(counter) for outcome, counter in reasons.items()},
        "latency_ms": {"p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99),
                       "max": round(latencies[-1], 1) if latencies else None},
    }


def print_summary(summary):
    print(f"sent {summary['sent']} orders to {summary['function']} at {summary['rate_per_s']:g}/s "
          f"in {summary['elapsed_s']:.1f} s")
    labels = [
        ("accepted", "accepted by the API"),
        ("queued", "queued (asynchronous invoke, 202)"),
        ("rejected", "rejected by the API (statusCode 400)"),
        ("throttled", "throttled (429)"),
        ("function_error", "function errors"),
        ("error", "other errors"),
    ]
    for outcome, label in labels:
        count = summary["counts"].get(outcome, 0)
        if count or outcome in ("accepted", "throttled"):
            print(f"  {label:<38} {count:>6}")
        for reason, reason_count in sorted(summary["reasons"].get(outcome, {}).items()):
            print(f"      {reason:<50} {reason_count:>6}")
    latency = summary["latency_ms"]
    print(f"latency ms: p50 {latency['p50']}  p90 {latency['p90']}  p99 {latency['p99']}  max {latency['max']}")


def sigv4_headers(url, headers, payload):
    """Signature Version 4 for the Lambda service (empty without credentials in the environment)."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key:
        return {}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parts = urllib.parse.urlsplit(url)
    signed = {name.lower(): value for name, value in headers.items()}
    signed.update({"host": parts.netloc, "x-amz-date": amz_date})
    token = os.environ.get("AWS_SESSION_TOKEN")
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    canonical_request = "\n".join(
        ["POST", parts.path, parts.query]
        + [f"{name}:{signed[name].strip()}" for name in names]
        + ["", ";".join(names), hashlib.sha256(payload).hexdigest()]
    )
    scope = f"{amz_date[:8]}/{region}/lambda/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (amz_date[:8], region, "lambda", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    result = {"X-Amz-Date": amz_date,
              "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                               f"SignedHeaders={';'.join(names)}, Signature={signature}"}
    if token:
        result["X-Amz-Security-Token"] = token
    return result


if __name__ == "__main__":
    sys.exit(main())
