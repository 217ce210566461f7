#!/usr/bin/env python3
"""Push orders through the orders application and show its queue buffering and its throttling.

    python3 examples/orders/load.py --endpoint http://127.0.0.1:9700 --count 300 --rate 50

Two steps:

1. Orders. Each order is one `POST {endpoint}/2015-03-31/functions/OrdersApi/invocations` with
   the order as the payload, sent on schedule (open loop: a slow answer does not delay the next
   order) from a pool of threads. OrdersApi puts it on OrdersQueue; OrdersWorker (reserved
   concurrency 5, about 200 ms per order) drains the queue more slowly than 50 orders/s arrive,
   so the queue buffers them. While sending, and then until the queue is empty (or
   `--drain-timeout`), the script prints the queue's depth every `--poll-interval` seconds:
   messages visible (waiting), in flight (received by a worker, not yet deleted), the age of the
   oldest message (from weir's `/metrics`; AWS has it only in CloudWatch), and the
   dead-letter queue's depth, all read with SQS GetQueueAttributes.

2. Burst. `--burst N` (default 20) invocations of OrdersWorker itself, all at once, each with an
   SQS-shaped event holding one order. Its reserved concurrency is 5, so about N - 5 of them are
   refused with HTTP 429 and the Reason `ReservedFunctionConcurrentInvocationLimitExceeded`:
   the reservation protects the database. (The queue never sees those 429s: the event source
   mapping's MaximumConcurrency 5 keeps its pollers within the reservation.)

At the end it prints, for each step, how many invocations were accepted, rejected by the
function, throttled (HTTP 429, counted by the `Reason` Lambda gives), failed, plus latency
percentiles, and the queue's largest depth and how long it took to drain. `--json` prints the
same summary as JSON (the progress lines then go to stderr).

`--malformed-every K` makes every K-th order have a bad quantity: the API accepts it (it only
checks for a JSON object) and the worker reports it as a batch item failure; it becomes visible
again after the queue's 60 s visibility timeout, and after 5 receives it lands in OrdersDLQ (so
the queue does not drain within the default `--drain-timeout`).

Standard library only, so `python3` or the project's `.venv/bin/python` both run it. Requests are
signed with SigV4 when AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set, and sent unsigned
otherwise.
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
import re
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
    progress = sys.stderr if args.json else sys.stdout
    monitor = None
    if args.poll_interval > 0 and args.queue:
        monitor = QueueMonitor(args.endpoint, args.queue, args.dlq, args.poll_interval, progress)
        monitor.start()

    results, elapsed = send_orders(args, monitor)
    if monitor:
        monitor.wait_for_drain(args.drain_timeout)
        monitor.stop()
    burst = invoke_burst(args) if args.burst > 0 else None

    summary = summarize(results, args, elapsed)
    summary["queue"] = monitor.summary() if monitor else None
    summary["burst"] = summarize_burst(burst, args) if burst is not None else None
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    errors = summary["counts"].get("error", 0) + (summary["burst"] or {"counts": {}})["counts"].get("error", 0)
    return 0 if errors == 0 else 1


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="weir's URL, e.g. http://127.0.0.1:9700")
    parser.add_argument("--function", default="OrdersApi", help="function to send orders to (default OrdersApi)")
    parser.add_argument("--count", type=int, default=100, help="orders to send (default 100)")
    parser.add_argument("--rate", type=float, default=20.0, help="orders per second (default 20)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most (default 32)")
    parser.add_argument("--malformed-every", type=int, default=0, metavar="K",
                        help="make every K-th order malformed (default 0: none)")
    parser.add_argument("--invocation-type", choices=["RequestResponse", "Event"], default="RequestResponse")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    parser.add_argument("--seed", type=int, default=1, help="seed for the order contents")
    parser.add_argument("--queue", default="OrdersQueue",
                        help="queue to watch (default OrdersQueue; empty: do not watch)")
    parser.add_argument("--dlq", default="OrdersDLQ", help="its dead-letter queue (default OrdersDLQ; empty: none)")
    parser.add_argument("--poll-interval", type=float, default=1.0, metavar="S",
                        help="seconds between queue depth lines (default 1; 0: do not watch the queue)")
    parser.add_argument("--drain-timeout", type=float, default=30.0, metavar="S",
                        help="after the last order, watch the queue until it is empty or this many seconds pass "
                             "(default 30)")
    parser.add_argument("--burst", type=int, default=20, metavar="N",
                        help="then invoke --burst-function N times at once (default 20; 0: skip)")
    parser.add_argument("--burst-function", default="OrdersWorker",
                        help="the function with reserved concurrency to burst (default OrdersWorker)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if args.count < 1 or args.rate <= 0 or args.concurrency < 1:
        parser.error("--count, --rate and --concurrency must be positive")
    if args.burst < 0 or args.poll_interval < 0 or args.drain_timeout < 0:
        parser.error("--burst, --poll-interval and --drain-timeout cannot be negative")
    return args


def invocations_url(endpoint, function):
    return f"{endpoint.rstrip('/')}/2015-03-31/functions/{urllib.parse.quote(function, safe='')}/invocations"


def send_orders(args, monitor):
    """Step 1: the orders, at `--rate` per second. Returns (results, elapsed seconds)."""
    url = invocations_url(args.endpoint, args.function)
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
            if monitor:
                monitor.sent = index + 1
    return results, time.monotonic() - started


def make_orders(count, malformed_every, seed, prefix="load"):
    rng = random.Random(seed)
    run = f"{int(time.time())}-{seed}"
    orders = []
    for number in range(1, count + 1):
        order = {"order_id": f"{prefix}-{run}-{number}", "item": rng.choice(ITEMS), "quantity": rng.randint(1, 5)}
        if malformed_every and number % malformed_every == 0:
            order["quantity"] = "many"  # the worker refuses this one
        orders.append(order)
    return orders


def invoke_burst(args):
    """Step 2: `--burst` invocations of the reserved-concurrency function, released together."""
    url = invocations_url(args.endpoint, args.burst_function)
    orders = make_orders(args.burst, 0, args.seed, prefix="burst")
    events = [{"Records": [sqs_record(f"burst-{number}", json.dumps(order))]}
              for number, order in enumerate(orders, start=1)]
    barrier = threading.Barrier(len(events))

    def send(event):
        barrier.wait()  # every request leaves at the same moment
        return invoke(url, "RequestResponse", event, args.timeout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(events)) as pool:
        return list(pool.map(send, events))


def sqs_record(message_id, body):
    """One record of the event a Lambda SQS event source mapping sends."""
    return {
        "messageId": message_id,
        "receiptHandle": f"load-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }


def invoke(url, invocation_type, payload, timeout):
    """One Invoke call → {"outcome": ..., "reason": ..., "latency_ms": ...}."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": invocation_type}
    headers.update(sigv4_headers(url, headers, body, "lambda"))
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.monotonic()
    try:
        with OPENER.open(request, timeout=timeout) as reply:
            answer = reply.read()
            status, function_error = reply.status, reply.headers.get("X-Amz-Function-Error")
    except urllib.error.HTTPError as error:
        answer, status, function_error = error.read(), error.code, None
    except (urllib.error.URLError, OSError) as error:
        return {"outcome": "error", "reason": f"connection: {getattr(error, 'reason', error)}",
                "latency_ms": elapsed_ms(started)}
    latency_ms = elapsed_ms(started)

    if status == 202:
        return {"outcome": "queued", "reason": None, "latency_ms": latency_ms}
    if status == 200 and function_error:
        # The payload names the error (errorType), e.g. Sandbox.Timedout for a timeout.
        error = parse_json(answer)
        kind = error.get("errorType") if isinstance(error, dict) else None
        reason = f"{function_error}: {kind}" if kind else function_error
        return {"outcome": "function_error", "reason": reason, "latency_ms": latency_ms}
    if status == 200:
        # The API answers like API Gateway: {"statusCode": 202 | 400, "body": "..."}; the worker
        # with {"batchItemFailures": [...]}.
        answer = parse_json(answer)
        code = answer.get("statusCode") if isinstance(answer, dict) else None
        failed = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        rejected = (isinstance(code, int) and code >= 400) or bool(failed)
        return {"outcome": "rejected" if rejected else "accepted", "reason": None, "latency_ms": latency_ms}
    error = parse_json(answer)
    error = error if isinstance(error, dict) else {}
    if status == 429:
        # TooManyRequestsException carries the throttle's cause in "Reason".
        reason = error.get("Reason") or error.get("reason") or error.get("message") or "unknown"
        return {"outcome": "throttled", "reason": reason, "latency_ms": latency_ms}
    kind = error.get("Type") or error.get("__type") or error.get("message") or answer[:80].decode(errors="replace")
    return {"outcome": "error", "reason": f"HTTP {status} {kind}", "latency_ms": latency_ms}


class QueueMonitor:
    """Polls a queue's depth (SQS GetQueueAttributes) and the age of its oldest message (weir's
    `/metrics`) on a thread, printing one line per poll."""

    def __init__(self, endpoint, queue, dlq, interval, out):
        self.endpoint = endpoint.rstrip("/")
        self.queue, self.dlq = queue, dlq
        self.interval, self.out = interval, out
        self.sent = 0
        self.samples = []
        self.started = time.monotonic()
        self.drained_after_s = None
        self.unavailable = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._urls = {}

    def start(self):
        dlq = f", and {self.dlq}'s depth" if self.dlq else ""
        print(f"watching {self.queue} every {self.interval:g} s: messages visible (waiting for a worker), in flight "
              f"(being processed), age of the oldest{dlq}", file=self.out, flush=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self):
        """One sample: {"t": s, "sent": n, "visible": n, "in_flight": n, "oldest_s": s, "dlq": n}."""
        try:
            depth = self.depth(self.queue)
            dlq = self.depth(self.dlq)["visible"] if self.dlq else None
        except QueueUnavailable as error:
            if self.unavailable is None:
                self.unavailable = str(error)
                print(f"not watching queue {self.queue}: {error}", file=self.out, flush=True)
            return None
        sample = {"t": round(time.monotonic() - self.started, 2), "sent": self.sent, **depth,
                  "oldest_s": oldest_age(self.endpoint, self.queue), "dlq": dlq}
        self.samples.append(sample)
        print(format_sample(sample, self.queue, self.dlq), file=self.out, flush=True)
        return sample

    def depth(self, queue):
        if queue not in self._urls:
            self._urls[queue] = sqs_call(self.endpoint, "GetQueueUrl", {"QueueName": queue})["QueueUrl"]
        attributes = sqs_call(self.endpoint, "GetQueueAttributes", {
            "QueueUrl": self._urls[queue],
            "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }).get("Attributes", {})
        return {"visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))}

    def wait_for_drain(self, timeout):
        """After the last order: poll until the queue is empty or `timeout` seconds pass."""
        sending_ended = time.monotonic()
        deadline = sending_ended + timeout
        while self.unavailable is None:
            last = self.samples[-1] if self.samples else None
            if last and last["t"] >= sending_ended - self.started and last["visible"] == 0 \
                    and last["in_flight"] == 0:
                self.drained_after_s = round(max(0.0, last["t"] - (sending_ended - self.started)), 1)
                return
            if time.monotonic() >= deadline:
                return
            time.sleep(min(self.interval, 0.25))

    def summary(self):
        if self.unavailable is not None:
            return {"queue": self.queue, "unavailable": self.unavailable, "samples": []}
        ages = [s["oldest_s"] for s in self.samples if s["oldest_s"] is not None]
        last = self.samples[-1] if self.samples else {}
        return {
            "queue": self.queue,
            "dlq": self.dlq or None,
            "samples": self.samples,
            "max_visible": max((s["visible"] for s in self.samples), default=0),
            "max_in_flight": max((s["in_flight"] for s in self.samples), default=0),
            "max_oldest_s": max(ages) if ages else None,
            "drained": self.drained_after_s is not None,
            "drained_after_s": self.drained_after_s,
            "left": {"visible": last.get("visible"), "in_flight": last.get("in_flight"), "dlq": last.get("dlq")},
        }


class QueueUnavailable(Exception):
    pass


def format_sample(sample, queue, dlq):
    oldest = f"oldest {sample['oldest_s']:.1f} s" if sample["oldest_s"] is not None else "oldest ?"
    line = (f"  t={sample['t']:6.1f}s  sent {sample['sent']:>5}   {queue}: {sample['visible']:>5} visible "
            f"{sample['in_flight']:>4} in flight  {oldest:<14}")
    if dlq:
        line += f"  {dlq}: {sample['dlq']}"
    return line


def sqs_call(endpoint, operation, request):
    """One SQS JSON-protocol call; raises QueueUnavailable on any failure."""
    url = endpoint + "/"
    body = json.dumps(request).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{operation}"}
    headers.update(sigv4_headers(url, headers, body, "sqs"))
    try:
        with OPENER.open(urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=10) as reply:
            return json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        detail = parse_json(error.read())
        kind = detail.get("__type", "").split("#")[-1] if isinstance(detail, dict) else ""
        raise QueueUnavailable(f"{operation}: HTTP {error.code} {kind}".rstrip()) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise QueueUnavailable(f"{operation}: {getattr(error, 'reason', error)}") from None


METRIC_LINE = re.compile(r'^weir_sqs_approximate_age_of_oldest_message_seconds\{([^}]*)\}\s+(\S+)')


def oldest_age(endpoint, queue):
    """Age in seconds of the queue's oldest message from weir's /metrics, or None."""
    try:
        with OPENER.open(f"{endpoint}/metrics", timeout=5) as reply:
            text = reply.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return None
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if match and f'queue_name="{queue}"' in match.group(1):
            try:
                return float(match.group(2))
            except ValueError:
                return None
    return None


def parse_json(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def elapsed_ms(started):
    return (time.monotonic() - started) * 1000.0


def count_outcomes(results):
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
        "counts": dict(counts),
        "reasons": {outcome: dict(counter) for outcome, counter in reasons.items()},
        "latency_ms": {"p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99),
                       "max": round(latencies[-1], 1) if latencies else None},
    }


def summarize(results, args, elapsed):
    return {"function": args.function, "sent": len(results), "rate_per_s": args.rate,
            "elapsed_s": round(elapsed, 2), **count_outcomes(results)}


def summarize_burst(results, args):
    return {"function": args.burst_function, "sent": len(results), **count_outcomes(results)}


def print_counts(summary, labels, always):
    for outcome, label in labels:
        count = summary["counts"].get(outcome, 0)
        if count or outcome in always:
            print(f"  {label:<38} {count:>6}")
        for reason, reason_count in sorted(summary["reasons"].get(outcome, {}).items()):
            print(f"      {reason:<50} {reason_count:>6}")
    latency = summary["latency_ms"]
    print(f"  latency ms: p50 {latency['p50']}  p90 {latency['p90']}  p99 {latency['p99']}  max {latency['max']}")


def print_summary(summary):
    print(f"sent {summary['sent']} orders to {summary['function']} at {summary['rate_per_s']:g}/s "
          f"in {summary['elapsed_s']:.1f} s")
    print_counts(summary, [
        ("accepted", "accepted by the API"),
        ("queued", "queued (asynchronous invoke, 202)"),
        ("rejected", "rejected by the API (statusCode 400)"),
        ("throttled", "throttled (429)"),
        ("function_error", "function errors"),
        ("error", "other errors"),
    ], always=("accepted", "throttled"))
    queue = summary.get("queue")
    if queue and queue.get("unavailable"):
        print(f"queue {queue['queue']}: not watched ({queue['unavailable']})")
    elif queue:
        oldest = f"{queue['max_oldest_s']:.1f} s" if queue["max_oldest_s"] is not None else "?"
        print(f"queue {queue['queue']} (buffering for the worker): at most {queue['max_visible']} waiting and "
              f"{queue['max_in_flight']} in flight, oldest message {oldest}")
        left = queue["left"]
        if queue["drained"]:
            print(f"  drained {queue['drained_after_s']:.1f} s after the last order")
        else:
            print(f"  not drained yet: {left['visible']} waiting, {left['in_flight']} in flight (failed orders "
                  "wait out the visibility timeout before each retry)")
        if queue["dlq"]:
            print(f"  {queue['dlq']}: {left['dlq']} messages")
    burst = summary.get("burst")
    if burst:
        print(f"burst: {burst['sent']} invocations of {burst['function']} at once")
        print_counts(burst, [
            ("accepted", "ran"),
            ("rejected", "ran, reported failed records"),
            ("throttled", "throttled (429)"),
            ("function_error", "function errors"),
            ("error", "other errors"),
        ], always=("accepted", "throttled"))


def sigv4_headers(url, headers, payload, service):
    """Signature Version 4 for `service` (empty without credentials in the environment)."""
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
        ["POST", parts.path or "/", parts.query]
        + [f"{name}:{signed[name].strip()}" for name in names]
        + ["", ";".join(names), hashlib.sha256(payload).hexdigest()]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
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
