"""Run the template's Lambda handlers in-process, behind moto's docker-free Lambda backend.

Every invocation (from Step Functions, a gateway target, or a boto3 call) resolves the function in moto's Lambda
backend, takes the handler and environment from that record (what CloudFormation deployed), and runs the handler
with that environment. An exception becomes a Lambda function error whose ``errorType`` is the exception's class
name, exactly what ASL Retry/Catch match on AWS. Output (logs, prints) is captured per invocation and also written to
the function's CloudWatch log group in moto. With IAM on (sandbox.iam), each invocation acts as its function's
execution role: the role's credentials are in its environment and it has its own SDK state, as its own process would.
Each invocation runs in an execution environment of its function, as on AWS: an idle one is reused (warm, its module
state kept), a concurrent invocation gets a new one (a cold start: the handler module imported again). Each
environment has its own Powertools Loggers (context, correlation id, appended keys, level), boto3 default session and
parameter caches, as its own process would. Layer modules are imported once per sandbox and shared.
"""

from __future__ import annotations

import base64
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
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from unittest import mock

import boto3
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.logs.models import logs_backends

# IAM mode (sandbox.iam): a function's role credentials, as Lambda puts them in its environment, and whether Lambda
# may deliver its logs (function, log group, log stream, whether the group must be created).
CredentialsFor = Callable[[Any], Mapping[str, str]]
LogDeliveryCheck = Callable[[Any, str, str, bool], bool]


@dataclass
class FunctionCode:
    """Where a deployed function's code lives on this machine (its CodeUri and layers' ContentUri)."""

    code_dir: Path
    layer_dirs: list[Path] = field(default_factory=list)


@dataclass
class ExecutionEnvironment:
    """One execution environment of a function: its handler module once its cold start ran, and the key that its
    per-process state (loggers, SDK session, caches) is filed under."""

    key: str
    module: ModuleType | None = None


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


class PerEnvironmentMapping(MutableMapping[str, Any]):
    """A module-level cache dict that each execution environment sees on its own, as its own process on AWS; code
    outside any invocation keeps seeing the shared dict."""

    def __init__(self, shared: dict[str, Any], current_environment: Callable[[], str | None]) -> None:
        self._shared = shared
        self._current_environment = current_environment
        self._per_environment: dict[str, dict[str, Any]] = {}

    def _target(self) -> dict[str, Any]:
        key = self._current_environment()
        return self._shared if key is None else self._per_environment.setdefault(key, {})

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._target()))

    def __len__(self) -> int:
        return len(self._target())


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
        self._idle: dict[str, list[ExecutionEnvironment]] = {}  # function name -> environments free to reuse
        self._environments_created: dict[str, int] = {}  # function name -> environments it has had
        self._environments_lock = threading.Lock()
        # Invocations run concurrently, as on AWS (Parallel branches; a gateway calling a tool Lambda while the smoke
        # test's Lambda waits for the agent): environment and output are per thread, only cold starts serialise.
        self._import_lock = threading.Lock()
        self.invocations: list[Invocation] = []
        self._patch: Any = None
        self._logger_patch: Any = None
        self._credentials_for: CredentialsFor | None = None
        self._log_delivery: LogDeliveryCheck | None = None
        # (function name, environment key) of what this thread is running, innermost last (nested invokes)
        self._running = threading.local()

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
        self._logger_patch = _powertools_logger_per_environment(self.current_environment)
        if self._logger_patch is not None:
            self._logger_patch.start()

    def uninstall(self) -> None:
        if self._patch is not None:
            self._patch.stop()
            self._patch = None
            if self._logger_patch is not None:
                self._logger_patch.stop()
                self._logger_patch = None
            os.environ = self._original_environ  # noqa: B003
            sys.stdout, sys.stderr = self._saved_streams

    def current_function(self) -> str | None:
        """The name of the function this thread is running, if any."""
        running: list[tuple[str, str]] = getattr(self._running, "stack", [])
        return running[-1][0] if running else None

    def current_environment(self) -> str | None:
        """The key of the execution environment this thread is running in, if any."""
        running: list[tuple[str, str]] = getattr(self._running, "stack", [])
        return running[-1][1] if running else None

    def environments_of(self, function_name: str) -> int:
        """How many execution environments the function has had (each was a cold start)."""
        return self._environments_created.get(function_name, 0)

    @contextlib.contextmanager
    def acting_as_roles(self, credentials_for: CredentialsFor, log_delivery: LogDeliveryCheck) -> Iterator[None]:
        """IAM mode: every invocation acts as its function's execution role, and holds what its own process would on
        AWS - boto3's default session (it caches the credentials it resolved first) and Powertools' parameter
        providers (each caches a client) - instead of sharing the sandbox process's."""
        self._credentials_for, self._log_delivery = credentials_for, log_delivery
        sessions: dict[str, boto3.session.Session] = {}
        sessions_lock = threading.Lock()  # not the import lock: a handler may create clients while being imported
        shared_default_session = boto3._get_default_session

        def default_session() -> boto3.session.Session:
            environment = self.current_environment()
            if environment is None:
                return shared_default_session()
            with sessions_lock:  # creating sessions is not thread-safe
                if environment not in sessions:
                    sessions[environment] = boto3.session.Session()
                return sessions[environment]

        with contextlib.ExitStack() as stack:
            stack.enter_context(mock.patch.object(boto3, "_get_default_session", default_session))
            for module, shared in _powertools_provider_caches():
                routed = PerEnvironmentMapping(shared, self.current_environment)
                stack.enter_context(mock.patch.object(module, "DEFAULT_PROVIDERS", routed))
            try:
                yield
            finally:
                self._credentials_for, self._log_delivery = None, None

    def logs_of(self, function_name_fragment: str = "") -> str:
        return "\n".join(i.log for i in self.invocations if function_name_fragment in i.function_name)

    # -- invocation ------------------------------------------------------------------------------------------

    def invoke(
        self, function: Any, body: Any, client_context: dict[str, Any] | None = None
    ) -> tuple[bytes, str | None]:
        event = json.loads(body) if isinstance(body, str | bytes) and body else (body or {})
        request_id = str(uuid.uuid4())
        buffer = io.StringIO()
        environment = self._checkout(function.function_name)
        try:
            with self._function_environment(function, environment), self._captured_output(buffer):
                print(f"START RequestId: {request_id} Version: $LATEST")
                started = time.perf_counter()
                error_type: str | None = None
                try:
                    handler = self._handler(function, environment)
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
        finally:
            self._checkin(function.function_name, environment)
        log = buffer.getvalue()
        self.invocations.append(Invocation(function.function_name, request_id, error_type, duration, log))
        self._write_cloudwatch(function, request_id, log)
        return payload, error_type

    # -- execution environments ------------------------------------------------------------------------------

    def _checkout(self, function_name: str) -> ExecutionEnvironment:
        """An idle environment of the function (warm), else a new one (its first invocation is a cold start)."""
        with self._environments_lock:
            idle = self._idle.setdefault(function_name, [])
            if idle:
                return idle.pop()
            created = self._environments_created.get(function_name, 0) + 1
            self._environments_created[function_name] = created
            return ExecutionEnvironment(f"{function_name}#{created}")

    def _checkin(self, function_name: str, environment: ExecutionEnvironment) -> None:
        with self._environments_lock:
            self._idle.setdefault(function_name, []).append(environment)

    def _handler(self, function: Any, environment: ExecutionEnvironment) -> Callable[..., Any]:
        name = function.function_name
        code = self._code.get(name)
        if code is None:
            raise LookupError(f"sandbox has no code registered for Lambda function {name}")
        module_name, _, attribute = function.handler.rpartition(".")
        if environment.module is None:
            with self._import_lock:
                environment.module = self._cold_start(name, code, module_name, environment)
        handler: Callable[..., Any] = getattr(environment.module, attribute)
        return handler

    def _cold_start(
        self, name: str, code: FunctionCode, module_name: str, environment: ExecutionEnvironment
    ) -> ModuleType:
        """Import the handler module for this environment alone, inside the function's environment variables."""
        for layer in code.layer_dirs:
            if str(layer) not in sys.path:
                sys.path.append(str(layer))
        path = code.code_dir / (module_name.replace(".", "/") + ".py")
        unique = environment.key.replace("#", "_").replace("-", "_")
        spec = importlib.util.spec_from_file_location(f"sandbox_lambda_{unique}_{module_name}", path)
        if spec is None or spec.loader is None:
            raise LookupError(f"cannot load handler module {path} for Lambda function {name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
        spec.loader.exec_module(module)
        return module

    @contextlib.contextmanager
    def _function_environment(self, function: Any, environment: ExecutionEnvironment) -> Iterator[None]:
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
        if self._credentials_for is not None:
            values.update(self._credentials_for(function))  # Lambda's reserved variables win over the function's
        running: list[tuple[str, str]] = getattr(self._running, "stack", [])
        self._running.stack = [*running, (function.function_name, environment.key)]
        try:
            with self._environ.overlaid(values):
                yield
        finally:
            self._running.stack = running

    @contextlib.contextmanager
    def _captured_output(self, buffer: io.StringIO) -> Iterator[None]:
        # Whoever swapped sys.stdout since install (pytest does, between a test's phases) gets it back as fallback:
        # a handler's cold start must bind its loggers to the routed streams, as a Lambda's bind to its own stdout.
        _route_std_streams()
        with STDOUT.routed_to(buffer), STDERR.routed_to(buffer):
            yield

    def _write_cloudwatch(self, function: Any, request_id: str, log: str) -> None:
        function_name = function.function_name
        backend = logs_backends[self.account_id][self.region]
        group = f"/aws/lambda/{function_name}"
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}"
        if self._log_delivery is not None and not self._log_delivery(
            function, group, stream, group not in backend.groups
        ):
            return  # the role may not write its logs: AWS drops them silently
        backend.ensure_log_group(group)
        backend.create_log_stream(group, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in log.splitlines() if line.strip()]
        if events:
            backend.put_log_events(group, stream, events)


def _powertools_logger_per_environment(current_environment: Callable[[], str | None]) -> Any:
    """A patch giving each execution environment's Powertools Loggers their own stdlib logger, or None without
    Powertools.

    Powertools names the stdlib logger after the service (POWERTOOLS_SERVICE_NAME, one value for every function of
    the stack) and keeps the Lambda context, correlation id, appended keys and level on that logger's one handler and
    formatter, so in one process every function's Logger would share them: a function's lines could carry another's
    function_name and correlation id. On AWS each execution environment is its own process; here the Loggers an
    environment creates (at its cold start, inside its invocation) get a stdlib logger of their own. The `service`
    key they log is unchanged; root handlers still suppress them (Powertools filters names starting with the
    service)."""
    try:
        from aws_lambda_powertools.logging.logger import Logger
    except ImportError:
        return None
    original: Callable[[Any], logging.Logger] = Logger._get_logger

    def get_logger(self: Any) -> logging.Logger:
        stdlib_logger = original(self)
        environment = current_environment()
        if environment is None:
            return stdlib_logger  # outside any invocation: the process's own
        service = str(self.service)
        child = stdlib_logger.name.removeprefix(service)  # "" or ".<file>" for Logger(child=True)
        return logging.getLogger(f"{service}[{environment}]{child}")

    return mock.patch.object(Logger, "_get_logger", get_logger)


def _powertools_provider_caches() -> list[tuple[ModuleType, dict[str, Any]]]:
    """Every Powertools parameters module holding the process-wide DEFAULT_PROVIDERS dict (one object, imported by
    name into several modules)."""
    try:
        from aws_lambda_powertools.utilities.parameters import constants
    except ImportError:
        return []
    shared: dict[str, Any] = constants.DEFAULT_PROVIDERS
    prefix = "aws_lambda_powertools.utilities.parameters"
    return [
        (module, shared)
        for name, module in list(sys.modules.items())
        if name.startswith(prefix) and getattr(module, "DEFAULT_PROVIDERS", None) is shared
    ]


def _decode_client_context(headers: Any) -> dict[str, Any] | None:
    raw = (headers or {}).get("X-Amz-Client-Context") or (headers or {}).get("x-amz-client-context")
    if not raw:
        return None
    try:
        decoded: dict[str, Any] = json.loads(base64.b64decode(raw))
        return decoded
    except ValueError:
        return None
