"""Run the template's Lambda handlers in-process, behind moto's docker-free Lambda backend.

Every invocation (from Step Functions, a gateway target, or a boto3 call) resolves the function in moto's Lambda
backend, takes the handler and environment from that record (what CloudFormation deployed), and runs the handler
with that environment. An exception becomes a Lambda function error whose ``errorType`` is the exception's class
name, exactly what ASL Retry/Catch match on AWS. Output (logs, prints) is captured per invocation and also written to
the function's CloudWatch log group in moto.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
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


class ThreadRoutedStream(io.TextIOBase):
    """sys.stdout/sys.stderr stand-in that sends one thread's writes to that invocation's log buffer.

    Handlers (Powertools' Logger among them) keep the stream object they were created with, so this object stays in
    place for the life of the process; only its fallback (the real stream) is refreshed on each install.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.fallback: Any = None
        self._local = threading.local()

    def _target(self) -> Any:
        return getattr(self._local, "buffer", None) or self.fallback

    @contextlib.contextmanager
    def routed_to(self, buffer: io.StringIO) -> Iterator[None]:
        previous = getattr(self._local, "buffer", None)
        self._local.buffer = buffer
        try:
            yield
        finally:
            self._local.buffer = previous

    def write(self, text: str) -> int:
        written: int = self._target().write(text)
        return written

    def flush(self) -> None:
        target = self._target()
        if target is not None and not getattr(target, "closed", False):
            target.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.fallback, "encoding", "utf-8"))


STDOUT = ThreadRoutedStream("<stdout>")
STDERR = ThreadRoutedStream("<stderr>")


def _route_std_streams() -> tuple[Any, Any]:
    saved = (sys.stdout, sys.stderr)
    if sys.stdout is not STDOUT:
        STDOUT.fallback = sys.stdout
    if sys.stderr is not STDERR:
        STDERR.fallback = sys.stderr
    sys.stdout, sys.stderr = STDOUT, STDERR
    return saved


class ThreadOverlayEnviron(os._Environ):
    """os.environ whose values can be overridden for one thread only.

    Each in-process Lambda invocation sees its function's environment while other threads (the state machine's
    other Parallel branch, the HTTP servers) keep seeing the sandbox's own: swapping the process environment instead
    races with threads that iterate it (e.g. urllib's proxy lookup inside botocore).
    """

    def __init__(self, base: Any) -> None:
        super().__init__(base._data, base.encodekey, base.decodekey, base.encodevalue, base.decodevalue)
        self._local = threading.local()

    def _overlay(self) -> dict[str, str] | None:
        overlay: dict[str, str] | None = getattr(self._local, "overlay", None)
        return overlay

    @contextlib.contextmanager
    def overlaid(self, values: dict[str, str]) -> Iterator[None]:
        previous = self._overlay()
        self._local.overlay = {**(previous or {}), **values}
        try:
            yield
        finally:
            self._local.overlay = previous

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        value: str = super().__getitem__(key)
        return value

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        keys = list(super().__iter__())
        overlay = self._overlay()
        if overlay is not None:
            keys += [k for k in overlay if k not in keys]
        return iter(keys)

    def __len__(self) -> int:
        return len(list(iter(self)))

    def copy(self) -> dict[str, str]:
        return dict(self.items())


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
        # Invocations run concurrently, as on AWS (Parallel branches; a gateway calling a tool Lambda while the smoke
        # test's Lambda waits for the agent): environment and output are per thread, only cold starts serialise.
        self._import_lock = threading.Lock()
        self.invocations: list[Invocation] = []
        self._patch: Any = None

    def register(self, function_name: str, code: FunctionCode) -> None:
        self._code[function_name] = code

    def install(self) -> None:
        runner = self
        self._original_environ = os.environ
        self._environ = ThreadOverlayEnviron(os.environ)
        os.environ = self._environ  # noqa: B003 - same environment, seen per thread
        self._saved_streams = _route_std_streams()

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
            os.environ = self._original_environ  # noqa: B003
            sys.stdout, sys.stderr = self._saved_streams

    def logs_of(self, function_name_fragment: str = "") -> str:
        return "\n".join(i.log for i in self.invocations if function_name_fragment in i.function_name)

    # -- invocation ------------------------------------------------------------------------------------------

    def invoke(
        self, function: Any, body: Any, client_context: dict[str, Any] | None = None
    ) -> tuple[bytes, str | None]:
        event = json.loads(body) if isinstance(body, str | bytes) and body else (body or {})
        request_id = str(uuid.uuid4())
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
                payload = json.dumps({"errorMessage": str(exc), "errorType": error_type, "stackTrace": frames}).encode()
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
        with self._import_lock:
            return self._load_handler(name, code, module_name, attribute)

    def _load_handler(self, name: str, code: FunctionCode, module_name: str, attribute: str) -> Callable[..., Any]:
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
        values = {
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "_HANDLER": function.handler,
            # Sandbox has no X-Ray daemon; tracing stays configured but segments are not emitted.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        values.update({k: str(v) for k, v in (function.environment_vars or {}).items()})
        with self._environ.overlaid(values):
            yield

    @contextlib.contextmanager
    def _captured_output(self, buffer: io.StringIO) -> Iterator[None]:
        with STDOUT.routed_to(buffer), STDERR.routed_to(buffer):
            yield

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
    raw = (headers or {}).get("X-Amz-Client-Context") or (headers or {}).get("x-amz-client-context")
    if not raw:
        return None
    try:
        decoded: dict[str, Any] = json.loads(base64.b64decode(raw))
        return decoded
    except ValueError:
        return None
