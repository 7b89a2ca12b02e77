"""`secure-rollout sandbox up`: one running sandbox that other processes reach over loopback HTTP.

The sandbox is moto in-process (`mock_aws`), so it lives in one process; commands in other processes need an
endpoint. `SandboxEndpoint` is that endpoint: it takes an AWS API request as boto3 sends it to an `endpoint_url`,
works out which service it is for from its SigV4 credential scope (as moto's own server does), and hands it to the
same dispatch `mock_aws` uses in-process - so it is served by the same backends, with the sandbox's AgentCore
behaviours. (moto's ThreadedMotoServer would do this too, but needs Flask, which this project does not install.)

Under `/_sandbox/` it also serves the sandbox's own controls - health, fault injection, another tool's redeploy of
the agent (an out-of-band change CloudTrail reports to the stack's rule), shutdown, and for tests
the stack roles' IAM denials and this fake account's secrets to scan for - guarded by a token from the state file
(secure_rollout/sandbox_state.py), which also says where everything is.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType
from typing import Any

from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from moto.core.botocore_stubber import BotocoreStubber

from sandbox.callers import redeploy_without_authorizer
from sandbox.core import Sandbox
from sandbox.leaks import credentials
from sandbox.loopback import HTTPLoopbackServer, owner_of
from secure_rollout.sandbox_state import CONTROL_PREFIX, CONTROL_TOKEN_HEADER, SandboxState

logger = logging.getLogger(__name__)

# SigV4: Credential=<key>/<date>/<region>/<signing name>/aws4_request
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
MAX_BODY_BYTES = 16 * 1024 * 1024
# Faults a test or an operator may inject into the next matching AgentCore operation (sandbox.behaviour.Faults).
FAULTS = (
    "runtime_update_failure",
    "endpoint_update_failure",
    "gateway_create_failure",
    "target_create_failure",
    "target_delete_failure",
)
REDEPLOY_SESSION = "agentcore-deploy"  # the role session name another tool's redeploy runs as


def _bedrock_agentcore_service(method: str, url_path: str) -> str:
    """Control and data plane share the signing name `bedrock-agentcore`: the operation's path tells them apart."""
    from moto.core.request import Request
    from moto.core.routing import get_service_router
    from werkzeug.exceptions import NotFound

    request = Request.from_primitives(method, f"https://bedrock-agentcore-control.amazonaws.com{url_path}", {}, b"")
    try:
        get_service_router("bedrock-agentcore-control").match(request)
    except (NotFound, NotImplementedError):
        return "bedrock-agentcore"
    return "bedrock-agentcore-control"


def aws_url(method: str, path: str, authorization: str) -> str | None:
    """The AWS URL the request would have gone to without an endpoint_url (None: not a SigV4 request)."""
    scope = CREDENTIAL_SCOPE.search(authorization)
    if scope is None:
        return None
    region, service = scope.groups()
    if service == "bedrock-agentcore":
        service = _bedrock_agentcore_service(method, path)
    return f"https://{service}.{region}.amazonaws.com{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "secure-rollout-sandbox"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        endpoint: SandboxEndpoint = owner_of(self)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(413, {"Content-Type": "text/plain"}, b"request body too large")
            return
        body = self.rfile.read(length) if length else b""
        if self.path.startswith(CONTROL_PREFIX + "/"):
            status, payload = endpoint.control(self.command, self.path, self.headers.get(CONTROL_TOKEN_HEADER), body)
            self._reply(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())
            return
        status, headers, content = endpoint.dispatch(self.command, self.path, dict(self.headers.items()), body)
        self._reply(status, headers, content)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in {"content-length", "transfer-encoding", "connection", "server", "date"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class SandboxEndpoint(HTTPLoopbackServer):
    """The sandbox's AWS APIs (every service at one URL) and its controls, on 127.0.0.1."""

    label = "sandbox AWS endpoint"
    thread_name = "sandbox-aws-endpoint"

    def __init__(self, sandbox: Sandbox, control_token: str, on_shutdown: Callable[[], None]) -> None:
        super().__init__(_Handler)
        self.sandbox = sandbox
        self.control_token = control_token
        self.on_shutdown = on_shutdown
        self._stubber = BotocoreStubber()

    def dispatch(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        url = aws_url(method, path, headers.get("Authorization", ""))
        if url is None:
            message = {"message": "the sandbox serves SigV4-signed AWS API requests (any credentials)"}
            return 403, {"Content-Type": "application/json"}, json.dumps(message).encode()
        request_headers = HTTPHeaders()
        for name, value in headers.items():
            if name.lower() != "host":
                request_headers[name] = value
        request_headers["Host"] = url.split("/")[2]
        request = AWSPreparedRequest(method=method, url=url, headers=request_headers, body=body, stream_output=False)
        result = self._stubber.process_request(request)
        if result is None:
            return 404, {"Content-Type": "text/plain"}, f"no sandbox service serves {url}".encode()
        status, response_headers, content = result
        encoded = content.encode() if isinstance(content, str) else bytes(content or b"")
        return int(status), {str(k): str(v) for k, v in (response_headers or {}).items() if k != "status"}, encoded

    def control(self, method: str, path: str, token: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        if token is None or not secrets.compare_digest(token, self.control_token):
            return 403, {"message": f"sandbox controls need the {CONTROL_TOKEN_HEADER} header from the state file"}
        action = path[len(CONTROL_PREFIX) + 1 :]
        if (method, action) == ("GET", "health"):
            return 200, {"ok": True, "stackName": self.sandbox.stack_name}
        if (method, action) == ("POST", "shutdown"):
            self.on_shutdown()
            return 202, {"stopping": True}
        if (method, action) == ("POST", "faults"):
            return self._inject(body)
        if (method, action) == ("POST", "redeploy"):
            return self._redeploy()
        if (method, action) == ("GET", "denials"):
            # Calls of the stack's roles IAM denied since the last ask (tests fail on any, as in-process ones do).
            return 200, {"denials": [list(d) for d in self.sandbox.take_stack_role_denials()]}
        if (method, action) == ("GET", "credentials"):
            # This fake account's real secrets - the client secret and every token issued - for leak scans.
            return 200, {"values": credentials(self.sandbox)}
        return 404, {"message": f"unknown sandbox control {method} {action}"}

    def _inject(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            request = json.loads(body or b"{}")
            name, message = request["fault"], request["message"]
        except (ValueError, KeyError, TypeError):
            return 400, {"message": 'expected {"fault": <name>, "message": <text>}'}
        if name not in FAULTS or not isinstance(message, str) or not message:
            return 400, {"message": f"fault must be one of {', '.join(FAULTS)} with a non-empty message"}
        setattr(self.sandbox.behaviour.faults, name, message)
        return 200, {"fault": name, "armed": True}

    def _redeploy(self) -> tuple[int, dict[str, Any]]:
        """Another tool's full-replace UpdateAgentRuntime as the DeveloperRole, without the authorizer: the account's
        trail reports it to the stack's out-of-band change rule, which starts a rollout (the executions it started
        are returned)."""
        if not self.sandbox.trail:
            return 409, {"message": "this sandbox runs without a CloudTrail trail (sandbox up --no-trail)"}
        # The account where an omitted authorizer is cleared (AWS's semantics are unconfirmed; see sandbox.callers).
        self.sandbox.behaviour.faults.omitted_authorizer_clears = True
        already = len(self.sandbox.events.started_executions)
        redeploy_without_authorizer(self.sandbox, REDEPLOY_SESSION)
        runtime = self.sandbox.client("bedrock-agentcore-control").get_agent_runtime(
            agentRuntimeId=self.sandbox.seeded.runtime_id
        )
        return 200, {
            "runtimeName": runtime["agentRuntimeName"],
            "principal": f"{self.sandbox.developer_role_arn} (session {REDEPLOY_SESSION})",
            "call": "UpdateAgentRuntime",
            "authorizerConfiguration": runtime.get("authorizerConfiguration"),
            "requestHeaderAllowlist": (runtime.get("requestHeaderConfiguration") or {}).get(
                "requestHeaderAllowlist", []
            ),
            "startedExecutions": self.sandbox.events.started_executions[already:],
        }


def serve(
    state_file: Path,
    on_ready: Callable[[SandboxState, float], None],
    poll_seconds: int = 0,
    parameter_overrides: dict[str, str] | None = None,
    stop: threading.Event | None = None,
    trail: bool = True,
) -> None:
    """Start a sandbox and its endpoint, write the state file, and serve until `stop` is set (SIGTERM and SIGINT
    set it when this runs in the main thread); the state file is removed before the sandbox stops. `trail`: the
    account logs AgentCore writes to CloudTrail, so another principal's change starts the stack's repair."""
    stop = stop or threading.Event()
    started = time.monotonic()
    previous = _stop_on_signals(stop)
    try:
        with (
            Sandbox(
                poll_seconds=poll_seconds, max_polls=30, parameter_overrides=parameter_overrides, trail=trail
            ) as sandbox,
            SandboxEndpoint(sandbox, secrets.token_urlsafe(24), stop.set) as endpoint,
        ):
            state = SandboxState(
                endpoint=endpoint.base_url,
                region=sandbox.region,
                stackName=sandbox.stack_name,
                stateMachineArn=sandbox.deployment.state_machine_arn,
                pid=os.getpid(),
                controlToken=endpoint.control_token,
                endpoints={"bedrock-agentcore": sandbox.runtime_plane.base_url},
            )
            state.write(state_file)
            try:
                on_ready(state, time.monotonic() - started)
                while not stop.wait(0.5):
                    pass
            finally:
                state_file.unlink(missing_ok=True)
    finally:
        _restore_signals(previous)


def _stop_on_signals(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
