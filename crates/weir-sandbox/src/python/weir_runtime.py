"""weir's Python runtime client for Lambda `python3.x` functions.

Speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API over one persistent
HTTP/1.1 connection, loads the `module.function` handler named by $_HANDLER from
$LAMBDA_TASK_ROOT like the official runtime (awslambdaric), and calls it once per invocation
with (event, context). Module-level state survives across invocations (warm reuse).
Errors use Lambda's Python shape {"errorMessage","errorType","requestId","stackTrace"}.
Standard library only. Embedded into weir-sandbox with include_str!.
"""

import importlib
import importlib.machinery
import json
import os
import _socket  # not `socket`: its enum/selectors imports cost milliseconds of cold start
import sys
import time

API_PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


class RuntimeClient:
    """A minimal HTTP/1.1 client on one keep-alive socket.

    http.client is not used on purpose: importing it (email parsing, ssl) costs tens of
    milliseconds of cold start, and its header parsing dominates the warm path. weir's Runtime
    API always answers with Content-Length, which is all this client understands.
    """

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))
        self.sock = None
        self.pending = b""

    def _connect(self):
        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            sock.connect(self.address)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.pending = b""

    def _close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.pending = b""

    def request(self, method, path, body=b"", headers=()):
        head = "{} {}{} HTTP/1.1\r\nHost: runtime\r\nContent-Length: {}\r\n{}\r\n".format(
            method, API_PREFIX, path, len(body), "".join("{}: {}\r\n".format(k, v) for k, v in headers)
        ).encode("latin-1")
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self._connect()
                self.sock.sendall(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    self.sock.sendall(body)
                return self._read_response()
            except OSError:
                self._close()
                # A kept-alive connection may have been closed by the server: retry once.
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")

    def _read_response(self):
        buffer = self.pending
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            buffer += self._recv()
        lines = buffer[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        chunks = [buffer[end + 4 :]]
        received = len(chunks[0])
        while received < length:
            chunk = self._recv()
            chunks.append(chunk)
            received += len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        body, self.pending = data[:length], data[length:]
        if headers.get("connection", "").lower() == "close":
            self._close()
        return status, headers, body

    def _recv(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionResetError("runtime API closed the connection")
        return chunk

    def post_json(self, path, document, error_type=None):
        headers = [("Content-Type", "application/json")]
        if error_type:
            headers.append((ERROR_TYPE_HEADER, error_type))
        return self.request("POST", path, json.dumps(document).encode(), headers)


class CognitoIdentity:
    def __init__(self, data):
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class ClientContext:
    def __init__(self, data):
        self.client = data.get("client")
        self.custom = data.get("custom")
        self.env = data.get("env")


def _json_object(text):
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class LambdaContext:
    def __init__(self, request_id, deadline_ms, function_arn, client_context, identity):
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        identity_data = _json_object(identity)
        self.identity = CognitoIdentity(identity_data) if identity_data is not None else None
        context_data = _json_object(client_context)
        self.client_context = ClientContext(context_data) if context_data is not None else None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id={},function_name={},function_version={},"
            "invoked_function_arn={},memory_limit_in_mb={}])".format(
                self.aws_request_id,
                self.function_name,
                self.function_version,
                self.invoked_function_arn,
                self.memory_limit_in_mb,
            )
        )


# The request being handled, for log lines.
_request_id = ""


def _install_lambda_logging(logging):
    """Lambda's root-logger handler, as awslambdaric installs it: every record is written to
    stdout as `[LEVEL]\t<UTC time>\t<request id>\t<message>`, and a handler on the root
    logger means `logger.setLevel(logging.INFO)` makes info lines appear, as on Lambda.

    Installed the moment the function's code first imports `logging` (see
    `InstallLoggingOnImport`), so a module-level `logging.basicConfig()` finds the handler in
    place and does nothing, as on Lambda, and functions that never log pay no import at cold
    start.
    """

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            try:
                line = self.format(record)
                # An exception's traceback follows the format's own newline.
                sys.stdout.write(line if line.endswith("\n") else line + "\n")
                sys.stdout.flush()
            except Exception:
                self.handleError(record)

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id
            return True

    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler = LambdaLoggerHandler()
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)


class InstallLoggingOnImport:
    """A meta-path finder for `logging` alone: it finds the module as the path finder would and
    installs Lambda's handler right after the module runs, before the importing code goes on."""

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        inner = spec.loader

        class Loader:
            def create_module(self, spec):
                return inner.create_module(spec)

            def exec_module(self, module):
                inner.exec_module(module)
                _install_lambda_logging(module)

        spec.loader = Loader()
        return spec


class InitFault(Exception):
    def __init__(self, error_type, message, stack_trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def load_handler(handler):
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as e:
        raise InitFault("Runtime.MalformedHandlerName", "Bad handler '{}': {}".format(handler, e))
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise InitFault(
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module {} as a handler module".format(module_name),
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise InitFault(
            "Runtime.ImportModuleError",
            "Unable to import module '{}': {}".format(module_name, e),
        )
    except SyntaxError as e:
        raise InitFault(
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '{}': {}".format(module_name, e),
            ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)],
        )
    except Exception as e:
        raise InitFault(type(e).__name__, str(e), _stack_trace(e))
    function = getattr(module, function_name, None)
    if function is None:
        raise InitFault(
            "Runtime.HandlerNotFound",
            "Handler '{}' missing on module '{}'".format(function_name, module_name),
        )
    return function


def _stack_trace(exception):
    import traceback

    frames = traceback.extract_tb(exception.__traceback__)
    # Drop this file's own frames so the trace starts in user code.
    user_frames = [f for f in frames if not f.filename.endswith("weir_runtime.py")]
    return traceback.format_list(user_frames)


def log_error(error):
    lines = ["[ERROR] {}: {}".format(error["errorType"], error["errorMessage"])]
    if error.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        for entry in error["stackTrace"]:
            lines.extend(entry.rstrip("\n").splitlines())
    # One write, so the lines are not interleaved with other output.
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def main():
    global _request_id
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    if task_root not in sys.path:
        sys.path.insert(0, task_root)

    if "logging" in sys.modules:
        _install_lambda_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, InstallLoggingOnImport())
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except InitFault as fault:
        error = {
            "errorMessage": fault.message,
            "errorType": fault.error_type,
            "requestId": "",
            "stackTrace": fault.stack_trace,
        }
        log_error(error)
        client.post_json("/init/error", error, fault.error_type)
        sys.exit(1)

    while True:
        status, headers, body = client.request("GET", "/invocation/next")
        if status != 200:
            sys.stderr.write("weir runtime: /next answered {}: {!r}\n".format(status, body[:200]))
            sys.exit(1)
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        _request_id = request_id
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        context = LambdaContext(
            request_id,
            int(headers.get("lambda-runtime-deadline-ms") or 0),
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-client-context"),
            headers.get("lambda-runtime-cognito-identity"),
        )
        try:
            event = json.loads(body) if body else {}
            result = handler(event, context)
        except Exception as e:
            error = {
                "errorMessage": str(e),
                "errorType": type(e).__name__,
                "requestId": request_id,
                "stackTrace": _stack_trace(e),
            }
            log_error(error)
            client.post_json("/invocation/{}/error".format(request_id), error, "Unhandled")
            continue
        try:
            payload = json.dumps(result).encode("utf-8")
        except Exception as e:
            error = {
                "errorMessage": "Unable to marshal response: {}".format(e),
                "errorType": "Runtime.MarshalError",
                "requestId": request_id,
                "stackTrace": [],
            }
            log_error(error)
            client.post_json("/invocation/{}/error".format(request_id), error, "Runtime.MarshalError")
            continue
        client.request(
            "POST",
            "/invocation/{}/response".format(request_id),
            payload,
            (("Content-Type", "application/json"),),
        )


if __name__ == "__main__":
    main()
