"""Run the template's Lambda handlers in-process, behind moto's docker-free Lambda backend.

Every invocation (from Step Functions, a gateway target, or a boto3 call) resolves the function in moto's Lambda
backend, takes the handler and environment from that record (what CloudFormation deployed), and runs the handler
with that environment. An exception becomes a Lambda function error whose ``errorType`` is the exception's class
name, exactly what ASL Retry/Catch match on AWS. Output (logs, prints) is captured per invocation and also written to
the function's CloudWatch log group in moto.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.logs.models import logs_backends


@dataclass
class FunctionCode:
    """Where a deployed function's code lives on this machine (its CodeUri and layers' ContentUri)."""

    code_dir: Path
    layer_dirs: list[Path] = field(default_factory=list)


@dataclass
class Invocation:
    function_name: str
    request_id: str
    error_type: str | None
    duration_ms: float
    log: str


class LambdaContextStub:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function: Any, request_id: str, client_context: dict[str, Any] | None) -> None:
        self.function_name = function.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size or 128)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}"
        self.identity = None
        self.client_context = SimpleNamespace(custom=(client_context or {}).get("custom", {}), env={}, client=None)
        self._deadline = time.monotonic() + float(function.timeout or 3)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class InProcessLambdas:
    """Registry of function name -> code, and the patch that routes moto's Lambda invoke to it."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._code: dict[str, FunctionCode] = {}
        self._modules: dict[str, ModuleType] = {}
        # Handlers share os.environ and the logging/stdout streams: one invocation at a time keeps each one's
        # environment and captured output its own (Parallel branches interleave between invocations).
        self._lock = threading.RLock()
        self.invocations: list[Invocation] = []
        self._patch: Any = None

    def register(self, function_name: str, code: FunctionCode) -> None:
        self._code[function_name] = code

    def install(self) -> None:
        runner = self

        def invoke(
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> bytes:
            function = backend.get_function(function_name, qualifier)
            client_context = _decode_client_context(headers)
            payload, error_type = runner.invoke(function, body, client_context)
            if error_type is not None:
                response_headers["x-amz-function-error"] = "Unhandled"
            return payload

        self._patch = mock.patch.object(LambdaSimpleBackend, "invoke", invoke)
        self._patch.start()

    def uninstall(self) -> None:
        if self._patch is not None:
            self._patch.stop()
            self._patch = None

    def logs_of(self, function_name_fragment: str = "") -> str:
        return "\n".join(i.log for i in self.invocations if function_name_fragment in i.function_name)

    # -- invocation ------------------------------------------------------------------------------------------

    def invoke(self, function: Any, body: Any, client_context: dict[str, Any] | None = None) -> tuple[bytes, str | None]:
        event = json.loads(body) if isinstance(body, str | bytes) and body else (body or {})
        request_id = str(uuid.uuid4())
        with self._lock:
            started = time.perf_counter()
            buffer = io.StringIO()
            error_type: str | None = None
            with self._function_environment(function), self._captured_output(buffer):
                print(f"START RequestId: {request_id} Version: $LATEST")
                try:
                    handler = self._handler(function)
                    result = handler(event, LambdaContextStub(function, request_id, client_context))
                    payload = json.dumps(result, default=str).encode()
                except Exception as exc:
                    error_type = type(exc).__name__
                    frames = traceback.format_tb(exc.__traceback__)
                    print(f"[ERROR] {error_type}: {exc}")
                    payload = json.dumps(
                        {"errorMessage": str(exc), "errorType": error_type, "stackTrace": frames}
                    ).encode()
                duration = (time.perf_counter() - started) * 1000
                print(f"END RequestId: {request_id}")
                print(f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms")
            log = buffer.getvalue()
            self.invocations.append(Invocation(function.function_name, request_id, error_type, duration, log))
            self._write_cloudwatch(function.function_name, request_id, log)
            return payload, error_type

    def _handler(self, function: Any) -> Callable[..., Any]:
        name = function.function_name
        code = self._code.get(name)
        if code is None:
            raise LookupError(f"sandbox has no code registered for Lambda function {name}")
        module_name, _, attribute = function.handler.rpartition(".")
        if name not in self._modules:
            for layer in code.layer_dirs:
                if str(layer) not in sys.path:
                    sys.path.append(str(layer))
            path = code.code_dir / (module_name.replace(".", "/") + ".py")
            spec = importlib.util.spec_from_file_location(f"sandbox_lambda_{len(self._modules)}_{module_name}", path)
            if spec is None or spec.loader is None:
                raise LookupError(f"cannot load handler module {path} for Lambda function {name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
            spec.loader.exec_module(module)  # first import happens inside the function's environment, like a cold start
            self._modules[name] = module
        handler: Callable[..., Any] = getattr(self._modules[name], attribute)
        return handler

    @contextlib.contextmanager
    def _function_environment(self, function: Any) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "_HANDLER": function.handler,
                # Sandbox has no X-Ray daemon; tracing stays configured but segments are not emitted.
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        os.environ.update({k: str(v) for k, v in (function.environment_vars or {}).items()})
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    @contextlib.contextmanager
    def _captured_output(self, buffer: io.StringIO) -> Iterator[None]:
        # Powertools' handler keeps a reference to the stream it was created with: point every stream handler of
        # every logger at the buffer for the duration of the invocation.
        redirected: list[tuple[logging.StreamHandler[Any], Any]] = []
        loggers = [logging.getLogger()] + [
            lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
        ]
        for lg in loggers:
            for handler in lg.handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.stderr):
                    redirected.append((handler, handler.setStream(buffer)))
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                yield
        finally:
            for handler, previous in redirected:
                handler.setStream(previous)
            self._redirect_new_handlers(buffer)

    @staticmethod
    def _redirect_new_handlers(buffer: io.StringIO) -> None:
        """Handlers created during the invocation (cold start) captured the buffer; point them back to stdout."""
        for lg in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            if isinstance(lg, logging.Logger):
                for handler in lg.handlers:
                    if isinstance(handler, logging.StreamHandler) and handler.stream is buffer:
                        handler.setStream(sys.stdout)

    def _write_cloudwatch(self, function_name: str, request_id: str, log: str) -> None:
        backend = logs_backends[self.account_id][self.region]
        group = f"/aws/lambda/{function_name}"
        backend.ensure_log_group(group)
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}"
        backend.create_log_stream(group, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in log.splitlines() if line.strip()]
        if events:
            backend.put_log_events(group, stream, events)


def _decode_client_context(headers: Any) -> dict[str, Any] | None:
    import base64

    raw = (headers or {}).get("X-Amz-Client-Context") or (headers or {}).get("x-amz-client-context")
    if not raw:
        return None
    try:
        decoded: dict[str, Any] = json.loads(base64.b64decode(raw))
        return decoded
    except ValueError:
        return None
