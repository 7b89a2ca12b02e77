"""AgentCore Gateway's data plane (MCP over streamable HTTP), served on 127.0.0.1.

`POST {base_url}/gateways/{gatewayId}/mcp` is one gateway's MCP endpoint, answered the way AgentCore answers it and
from the gateway record in moto's bedrock-agentcore-control backend as it is at that moment: unknown or deleted
gateway -> 404; more than one Authorization header, or one joining two credentials -> 403 whatever the authorizer;
the record's authorizer enforced (NONE = open, CUSTOM_JWT = the same bearer check as the runtime data plane: 401
without a token, 403 for a bad one; a token in the query string is never read, and query strings are dropped on
arrival so none is logged); gateway not READY -> 503. Admitted requests go to a real MCP server
(the `mcp` SDK's lowlevel Server behind a stateless StreamableHTTPSessionManager with JSON responses):

- tools/list: every READY target's inline tool schema, named as AgentCore names them, `<target>___<tool>`;
- tools/call: invokes the target's Lambda through moto's Lambda API (the tool arguments as the event, the tool name
  in the client context's `bedrockAgentCoreToolName`) and returns its JSON payload as text content; a function error
  is a tool result with isError; an unknown tool is a JSON-RPC error.

MCP sessions follow the record too (`protocolConfiguration.mcp.sessionConfiguration`): without it the gateway is
stateless (no `Mcp-Session-Id` issued, none required); with it, an admitted `initialize` answer carries a new
`Mcp-Session-Id` bound to the gateway and the verified caller for `sessionTimeoutInSeconds` (default 3600, absolute
from `initialize`), every later request must send it (missing -> 400; unknown, expired, another gateway's or another
caller's -> 404, so the client initializes again), and DELETE with it ends the session.

The gateway speaks the protocol versions of its record (`protocolConfiguration.mcp.supportedVersions`): a client
asking for another handshake version is answered with the newest supported one, and the 2026 per-request era
(`server/discover`) is refused, so 2.x clients fall back to the `initialize` handshake as they do against AWS.

Agents in the sandbox reach a gateway through `local_url()` / `rewrite_env()`: the AWS gateway URL in a runtime's
environment becomes this server's URL for that gateway. Every request is on record in `calls`, with the verified
caller's client id - never the token.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import boto3
import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.jwt_verify import SIGV4_SCHEME, Decision, JwtVerifier, ambiguous_authorization, default_verifier
from sandbox.loopback import LoopbackServer

logger = logging.getLogger(__name__)

TOOL_NAME_DELIMITER = "___"
TOOL_NAME_CONTEXT_KEY = "bedrockAgentCoreToolName"
MCP_PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
MCP_SESSION_ID_HEADER = "mcp-session-id"
# AgentCore's default when sessionConfiguration names no sessionTimeoutInSeconds.
DEFAULT_SESSION_TIMEOUT_SECONDS = 3600
PROTECTED_RESOURCE_PREFIX = "/.well-known/oauth-protected-resource"
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
# Used when a gateway record names no supportedVersions (AgentCore's documented MCP versions).
DEFAULT_SUPPORTED_VERSIONS = ("2025-03-26", "2025-06-18")
DELETED_STATUSES = {"DELETING", "DELETED"}  # DELETED: the behaviour layer's marker for a finished deletion
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# JSON-RPC error code for HTTP-level refusals (authentication/authorization): the server-error range.
AUTH_ERROR_CODE = -32001
# h11 answers 400 when it has to buffer more than 16 KiB of a request head (whether it must depends on how the bytes
# arrive); with room above the verifier's MAX_TOKEN_CHARS, an oversized token always gets the authorizer's 403.
MAX_REQUEST_HEAD_BYTES = 64 * 1024
_AWS_GATEWAY_URL = re.compile(
    r"^https://(?P<gateway_id>[0-9a-z][0-9a-z-]*)\.gateway\.bedrock-agentcore\.(?P<region>[a-z0-9-]+)"
    r"\.amazonaws\.com(?P<path>/mcp)?/?$"
)
_SCOPE_KEY = "sandbox_gateway_call"


@dataclass(frozen=True)
class GatewayCallRecord:
    """One request to a gateway as the data plane saw it. Identity is the verified client id, never the token."""

    time: float
    gateway_id: str
    gateway_name: str | None
    method: str | None
    tool_name: str | None
    client_id: str | None
    status: int
    reason: str
    request_id: str


@dataclass(frozen=True)
class _ToolView:
    target_name: str
    lambda_arn: str
    name: str
    description: str
    input_schema: dict[str, Any]

    @property
    def qualified_name(self) -> str:
        return f"{self.target_name}{TOOL_NAME_DELIMITER}{self.name}"


@dataclass(frozen=True)
class _GatewayView:
    """The fields of the gateway record (and its READY targets) one request needs, read once at request time."""

    gateway_id: str
    name: str
    status: str | None
    authorizer_type: str
    authorizer_configuration: dict[str, Any] | None
    supported_versions: tuple[str, ...]
    tools: tuple[_ToolView, ...]
    session_timeout: int | None = None  # seconds; None: sessions not enabled on the record (stateless)

    def tool(self, qualified_name: str) -> _ToolView | None:
        return next((t for t in self.tools if t.qualified_name == qualified_name), None)


@dataclass(frozen=True)
class _Session:
    """An MCP session the gateway issued: bound to the gateway and the verified caller, absolute expiry."""

    gateway_id: str
    client_id: str | None
    expires: float


@dataclass
class _CallState:
    """Per-request state shared between the HTTP layer and the MCP handlers (via the ASGI scope)."""

    gateway: _GatewayView
    client_id: str | None
    reason: str = "ok"


@dataclass
class _Peek:
    """What the HTTP layer reads from a JSON-RPC body without acting on it (for admission and the record)."""

    method: str | None = None
    tool_name: str | None = None
    request_id: Any = None
    messages: list[dict[str, Any]] = field(default_factory=list)


class _Refusal(Exception):
    def __init__(
        self, status: int, error_type: str, message: str, code: int, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.data: Any = None
        # Known once admission got that far: the record names the gateway and (past authorization) the caller.
        self.gateway_name: str | None = None
        self.client_id: str | None = None


def _peek(body: bytes) -> _Peek:
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return _Peek()
    messages = [m for m in (parsed if isinstance(parsed, list) else [parsed]) if isinstance(m, dict)]
    peek = _Peek(messages=messages)
    methods = [str(m["method"]) for m in messages if isinstance(m.get("method"), str)]
    peek.method = ",".join(methods) or None
    for message in messages:
        if peek.request_id is None and "id" in message:
            peek.request_id = message["id"]
        params = message.get("params")
        if message.get("method") == "tools/call" and isinstance(params, dict) and isinstance(params.get("name"), str):
            peek.tool_name = params["name"]
    return peek


def _tools_of(target: Any) -> list[_ToolView]:
    lambda_config = ((target.target_configuration or {}).get("mcp") or {}).get("lambda") or {}
    arn = lambda_config.get("lambdaArn")
    schema = (lambda_config.get("toolSchema") or {}).get("inlinePayload") or []
    if not isinstance(arn, str) or not isinstance(schema, list):
        return []  # only Lambda targets with an inline schema are emulated
    return [
        _ToolView(
            target_name=str(target.name),
            lambda_arn=arn,
            name=str(tool["name"]),
            description=str(tool.get("description") or ""),
            input_schema=dict(tool.get("inputSchema") or {"type": "object"}),
        )
        for tool in schema
        if isinstance(tool, dict) and isinstance(tool.get("name"), str)
    ]


class GatewayDataPlane(LoopbackServer):
    """Loopback AgentCore Gateway data plane over moto's control-plane records; a real MCP server per gateway."""

    label = "AgentCore gateway data plane"
    thread_name = "sandbox-gateway-dataplane"

    def __init__(
        self,
        account_id: str,
        region: str,
        host: str = "127.0.0.1",
        verifier: JwtVerifier | None = None,
        lambda_client: Any = None,
    ) -> None:
        super().__init__(host)
        self.account_id = account_id
        self.region = region
        self.verifier = verifier or default_verifier()
        self._lambda_client = lambda_client
        self._calls: list[GatewayCallRecord] = []
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def _serve(self) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))  # bound here, so the port is known before uvicorn runs and cannot be taken
        sock.listen(128)
        config = uvicorn.Config(
            _without_query_string(self._asgi_app()),
            log_config=None,  # never reconfigure the host process's logging
            access_log=False,
            lifespan="on",
            loop="asyncio",
            http="h11",
            h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=self.thread_name, daemon=True)
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout=STOP_TIMEOUT)
                sock.close()
                raise RuntimeError("AgentCore gateway data plane failed to start")
            time.sleep(0.01)
        self._uvicorn, self._thread, self._socket = server, thread, sock
        port: int = sock.getsockname()[1]
        return port

    def _shutdown(self) -> None:
        server, thread, sock = self._uvicorn, self._thread, self._socket
        self._uvicorn = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=STOP_TIMEOUT)
            if thread.is_alive():
                logger.warning("AgentCore gateway data plane did not stop within %ss", STOP_TIMEOUT)
        if sock is not None:
            sock.close()

    # -- addresses -------------------------------------------------------------------------------------------

    def mcp_url(self, gateway_id: str) -> str:
        return f"{self.base_url}/gateways/{gateway_id}/mcp"

    def resource_metadata_url(self, gateway_id: str) -> str:
        """RFC 9728 protected-resource metadata of a gateway (named in 401 challenges)."""
        return f"{self.base_url}{PROTECTED_RESOURCE_PREFIX}/gateways/{gateway_id}/mcp"

    def local_url(self, aws_url: str) -> str | None:
        """This server's URL for an AWS gateway URL of this region (`https://<id>.gateway...amazonaws.com/mcp`)."""
        match = _AWS_GATEWAY_URL.match(aws_url.strip())
        if match is None or match.group("region") != self.region:
            return None
        return self.mcp_url(match.group("gateway_id"))

    def rewrite_env(self, env: dict[str, str]) -> dict[str, str]:
        """The same variables, with every AWS gateway URL value pointed at this server (for agent processes)."""
        rewritten = {}
        for key, value in env.items():
            local = self.local_url(value) if isinstance(value, str) else None
            rewritten[key] = local if local is not None else value
        return rewritten

    # -- records ---------------------------------------------------------------------------------------------

    @property
    def calls(self) -> list[GatewayCallRecord]:
        with self._lock:
            return list(self._calls)

    def _record(self, record: GatewayCallRecord) -> None:
        with self._lock:
            self._calls.append(record)
        logger.info(
            "Gateway %s %s%s status=%s caller=%s (%s)",
            record.gateway_id,
            record.method or "-",
            f" tool={record.tool_name}" if record.tool_name else "",
            record.status,
            record.client_id or "-",
            record.reason,
        )

    # -- control-plane reads ---------------------------------------------------------------------------------

    def _gateway(self, gateway_id: str) -> _GatewayView | None:
        backend = bedrockagentcorecontrol_backends[self.account_id][self.region]
        gateway = backend.gateways.get(gateway_id)
        if gateway is None:
            return None
        status = gateway.status  # reading does not count as a poll: only GetGateway advances it
        if status in DELETED_STATUSES:
            return None
        tools: list[_ToolView] = []
        for (owner, _), target in list(backend.gateway_targets.items()):
            if owner == gateway_id and target.status == "READY":
                tools.extend(_tools_of(target))
        mcp_config = (gateway.protocol_configuration or {}).get("mcp") or {}
        versions = [v for v in mcp_config.get("supportedVersions") or [] if v in HANDSHAKE_PROTOCOL_VERSIONS]
        session_config = mcp_config.get("sessionConfiguration")
        session_timeout = None
        if isinstance(session_config, dict):
            session_timeout = int(session_config.get("sessionTimeoutInSeconds") or DEFAULT_SESSION_TIMEOUT_SECONDS)
        return _GatewayView(
            gateway_id=gateway.gateway_id,
            name=gateway.name,
            status=status,
            authorizer_type=str(gateway.authorizer_type or "NONE"),
            authorizer_configuration=gateway.authorizer_configuration or None,
            supported_versions=tuple(sorted(versions or DEFAULT_SUPPORTED_VERSIONS)),
            tools=tuple(tools),
            session_timeout=session_timeout,
        )

    # -- admission -------------------------------------------------------------------------------------------

    def _authorize(self, gateway: _GatewayView, authorization: str | None) -> Decision:
        if gateway.authorizer_type == "NONE":
            return Decision(200, "open gateway (authorizer NONE)")
        if gateway.authorizer_type == "CUSTOM_JWT":
            if not gateway.authorizer_configuration:
                # A JWT gateway without its configuration must not fall open.
                return Decision(403, "CUSTOM_JWT gateway has no authorizer configuration")
            return self.verifier.verify(
                authorization, gateway.authorizer_configuration, self.resource_metadata_url(gateway.gateway_id)
            )
        if gateway.authorizer_type == "AWS_IAM":
            if (authorization or "").startswith(f"{SIGV4_SCHEME} "):
                return Decision(200, "SigV4 request (signature not verified by the sandbox)")
            return Decision(403, "Authorization method mismatch: this gateway expects SigV4 (AWS_IAM)")
        return Decision(403, f"authorizer type {gateway.authorizer_type} is not emulated by the sandbox")

    def _admit(self, gateway_id: str, authorizations: list[str], protocol_header: str | None) -> _CallState:
        gateway = self._gateway(gateway_id)
        if gateway is None:
            raise _Refusal(404, "ResourceNotFoundException", f"Gateway {gateway_id} not found", types.INVALID_REQUEST)
        try:
            state = self._check(gateway, authorizations, protocol_header)
        except _Refusal as refusal:
            refusal.gateway_name = gateway.name
            raise
        return state

    def _check(self, gateway: _GatewayView, authorizations: list[str], protocol_header: str | None) -> _CallState:
        gateway_id = gateway.gateway_id
        # Whatever the authorizer: with two credentials one could be verified and another reach a target.
        ambiguous = ambiguous_authorization(authorizations)
        if ambiguous is not None:
            raise _Refusal(403, "AccessDeniedException", f"Authorization failed: {ambiguous.reason}", AUTH_ERROR_CODE)
        # Only the header counts: a token in the query string (?access_token=) is never read.
        decision = self._authorize(gateway, authorizations[0] if authorizations else None)
        if decision.status == 401:
            challenge = {"WWW-Authenticate": decision.www_authenticate} if decision.www_authenticate else {}
            raise _Refusal(
                401, "UnauthorizedException", f"Authentication required: {decision.reason}", AUTH_ERROR_CODE, challenge
            )
        if not decision.allowed:
            raise _Refusal(403, "AccessDeniedException", f"Authorization failed: {decision.reason}", AUTH_ERROR_CODE)
        # Authorization first: an unauthenticated caller learns nothing about the gateway's state or protocol.
        if gateway.status != "READY":
            refusal = _Refusal(
                503, "ServiceUnavailableException", f"Gateway {gateway_id} is {gateway.status}", types.INTERNAL_ERROR
            )
            refusal.client_id = decision.client_id
            raise refusal
        if protocol_header is not None and protocol_header not in gateway.supported_versions:
            refusal = _Refusal(
                400,
                "ValidationException",
                f"Unsupported MCP protocol version {protocol_header}",
                types.UNSUPPORTED_PROTOCOL_VERSION,
            )
            refusal.data = {"supported": list(gateway.supported_versions), "requested": protocol_header}
            refusal.client_id = decision.client_id
            raise refusal
        return _CallState(gateway, decision.client_id)

    # -- sessions --------------------------------------------------------------------------------------------

    def _check_session(self, state: _CallState, peek: _Peek, session_id: str | None) -> str | None:
        """For a gateway with sessions: the id to issue (initialize), or None once the request's session is valid."""
        gateway = state.gateway
        if gateway.session_timeout is None:
            return None  # stateless gateway: nothing issued, a session header means nothing
        if any(m.get("method") == "initialize" for m in peek.messages):
            return uuid.uuid4().hex
        if not session_id:
            raise _Refusal(
                400, "ValidationException", "Bad Request: Mcp-Session-Id header is required", types.INVALID_REQUEST
            )
        with self._lock:
            session = self._sessions.get(session_id)
        # Bound to the verified caller: a session id alone (leaked, guessed) lets no one else in.
        if (
            session is None
            or session.gateway_id != gateway.gateway_id
            or session.client_id != state.client_id
            or session.expires <= time.time()
        ):
            raise _Refusal(404, "ResourceNotFoundException", "Session not found or expired", types.INVALID_REQUEST)
        return None

    def _open_session(self, session_id: str, state: _CallState) -> None:
        timeout = state.gateway.session_timeout or DEFAULT_SESSION_TIMEOUT_SECONDS
        with self._lock:
            now = time.time()
            self._sessions = {k: v for k, v in self._sessions.items() if v.expires > now}
            self._sessions[session_id] = _Session(state.gateway.gateway_id, state.client_id, now + timeout)

    def _end_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    # -- MCP handlers ----------------------------------------------------------------------------------------

    @staticmethod
    def _state(ctx: ServerRequestContext[Any, Any]) -> _CallState:
        request = ctx.request
        state = request.scope.get("state", {}).get(_SCOPE_KEY) if isinstance(request, Request) else None
        if not isinstance(state, _CallState):
            raise MCPError(types.INTERNAL_ERROR, "request reached the MCP server without gateway admission")
        return state

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        state = self._state(ctx)
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.qualified_name, description=t.description, input_schema=t.input_schema)
                for t in state.gateway.tools
            ]
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        state = self._state(ctx)
        tool = state.gateway.tool(params.name)
        if tool is None:
            state.reason = f"unknown tool {params.name}"
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        arguments = dict(params.arguments or {})
        text, failure = await anyio.to_thread.run_sync(self._invoke_lambda, tool, arguments)
        if failure is not None:
            state.reason = failure
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=failure is not None)

    def _lambda(self) -> Any:
        with self._lock:  # boto3 session/client creation is not thread-safe; the client itself is
            if self._lambda_client is None:
                # Explicit fake credentials: even outside moto this client could never act on a real account.
                self._lambda_client = boto3.session.Session().client(
                    "lambda",
                    region_name=self.region,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    aws_session_token="testing",
                )
            return self._lambda_client

    def _invoke_lambda(self, tool: _ToolView, arguments: dict[str, Any]) -> tuple[str, str | None]:
        """Invoke the target's Lambda like AgentCore does; returns (text content, failure reason or None)."""
        client_context = {"custom": {TOOL_NAME_CONTEXT_KEY: tool.qualified_name}}
        try:
            response = self._lambda().invoke(
                FunctionName=tool.lambda_arn,
                InvocationType="RequestResponse",
                Payload=json.dumps(arguments).encode(),
                ClientContext=base64.b64encode(json.dumps(client_context).encode()).decode(),
            )
            raw = response["Payload"].read()
        except Exception as exc:  # botocore errors: the function is gone, throttled, ...
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
            logger.warning("Gateway target %s: Lambda invoke failed (%s)", tool.target_name, code)
            return json.dumps({"error": f"Lambda invocation failed ({code})"}), f"Lambda invocation failed ({code})"
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        if response.get("FunctionError"):
            error = payload if isinstance(payload, dict) else {"errorMessage": str(payload)}
            # The stack trace stays in the function's logs, not in the agent's context.
            shown = {k: error[k] for k in ("errorType", "errorMessage") if k in error}
            return json.dumps(shown), f"Lambda function error ({shown.get('errorType', 'Unhandled')})"
        return json.dumps(payload), None

    # -- HTTP ------------------------------------------------------------------------------------------------

    def _asgi_app(self) -> Starlette:
        server: Server[Any] = Server(
            "sandbox-agentcore-gateway", version="1.0", on_list_tools=self._list_tools, on_call_tool=self._call_tool
        )
        manager = StreamableHTTPSessionManager(
            app=server,
            json_response=True,
            stateless=True,  # AgentCore gateways hold no MCP session: every request stands alone
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=MAX_PAYLOAD_BYTES,
        )

        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            async with manager.run():
                yield

        async def metadata_endpoint(request: Request) -> Response:
            gateway = await anyio.to_thread.run_sync(self._gateway, request.path_params["gateway_id"])
            if gateway is None or gateway.authorizer_type != "CUSTOM_JWT" or not gateway.authorizer_configuration:
                return JSONResponse({"message": "Not found"}, status_code=404)
            jwt_config = gateway.authorizer_configuration.get("customJWTAuthorizer") or {}
            issuer = str(jwt_config.get("discoveryUrl", "")).removesuffix("/.well-known/openid-configuration")
            return JSONResponse(
                {
                    "resource": self.mcp_url(gateway.gateway_id),
                    "authorization_servers": [issuer] if issuer else [],
                    "bearer_methods_supported": ["header"],
                }
            )

        return Starlette(
            routes=[
                Route(
                    "/gateways/{gateway_id}/mcp",
                    endpoint=_MCPEndpoint(self, manager),
                    methods=["GET", "POST", "DELETE"],
                ),
                Route(f"{PROTECTED_RESOURCE_PREFIX}/gateways/{{gateway_id}}/mcp", endpoint=metadata_endpoint),
            ],
            lifespan=lifespan,
        )

    async def _handle_mcp(
        self, manager: StreamableHTTPSessionManager, scope: MutableMapping[str, Any], receive: Any, send: Any
    ) -> None:
        request = Request(scope, receive)
        gateway_id = str(request.path_params["gateway_id"])
        request_id = str(uuid.uuid4())

        def record(
            status: int,
            reason: str,
            *,
            method: str | None = None,
            tool_name: str | None = None,
            gateway_name: str | None = None,
            client_id: str | None = None,
        ) -> None:
            # The one place a request goes on record; gateway and caller are named once admission knows them.
            self._record(
                GatewayCallRecord(
                    time.time(), gateway_id, gateway_name, method, tool_name, client_id, status, reason, request_id
                )
            )

        body = b""
        if request.method == "POST":
            read = await _read_body(request)
            if read is None:
                record(413, "payload too large")
                await _send_refusal(
                    _Refusal(413, "ValidationException", "Payload too large", types.INVALID_REQUEST),
                    None,
                    request_id,
                    scope,
                    receive,
                    send,
                )
                return
            body = read
        peek = _peek(body)
        method = peek.method if request.method == "POST" else f"HTTP {request.method}"
        state: _CallState | None = None
        try:
            state = await anyio.to_thread.run_sync(
                self._admit,
                gateway_id,
                request.headers.getlist("authorization"),
                request.headers.get(MCP_PROTOCOL_VERSION_HEADER),
            )
            if any(m.get("method") == "server/discover" for m in peek.messages):
                # A pre-2026 server: the per-request era's probe is an unknown method, so clients fall back.
                raise _Refusal(200, "ValidationException", "Method not found: server/discover", types.METHOD_NOT_FOUND)
            session_id = request.headers.get(MCP_SESSION_ID_HEADER)
            issued = self._check_session(state, peek, session_id)
        except _Refusal as refusal:
            if state is not None:  # admitted, then refused for what the body asked
                refusal.gateway_name, refusal.client_id = state.gateway.name, state.client_id
            record(
                refusal.status,
                refusal.message,
                method=method,
                tool_name=peek.tool_name,
                gateway_name=refusal.gateway_name,
                client_id=refusal.client_id,
            )
            await _send_refusal(refusal, peek.request_id, request_id, scope, receive, send)
            return

        recorded = False

        async def send_and_record(message: MutableMapping[str, Any]) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                headers = [*message.get("headers", []), (b"x-amzn-requestid", request_id.encode())]
                if issued is not None and 200 <= int(message["status"]) < 300:
                    self._open_session(issued, state)
                    headers.append((MCP_SESSION_ID_HEADER.encode(), issued.encode()))
                message["headers"] = headers
                # On record before the body goes out, so a caller holding its answer also finds the record.
                record(
                    int(message["status"]),
                    state.reason,
                    method=method,
                    tool_name=peek.tool_name,
                    gateway_name=state.gateway.name,
                    client_id=state.client_id,
                )
            await send(message)

        if request.method == "DELETE" and state.gateway.session_timeout is not None and session_id:
            self._end_session(session_id)
            state.reason = "session ended"
            await Response(status_code=200)(scope, receive, send_and_record)
            return

        body = _negotiate_version(body, peek, state.gateway.supported_versions)
        scope["state"] = {**scope.get("state", {}), _SCOPE_KEY: state}  # a fresh dict: never shared across requests
        await manager.handle_request(scope, _replay(body, receive), send_and_record)


class _MCPEndpoint:
    """Raw ASGI endpoint (a class, so Starlette routes to it without wrapping it as a request handler)."""

    def __init__(self, plane: GatewayDataPlane, manager: StreamableHTTPSessionManager) -> None:
        self.plane = plane
        self.manager = manager

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await self.plane._handle_mcp(self.manager, scope, receive, send)


def _without_query_string(app: ASGIApp) -> ASGIApp:
    """The gateway reads nothing from a query string; dropping it on arrival keeps a token someone put there
    (`?access_token=`) out of everything below, uvicorn's access log included (it logs this same scope)."""

    async def app_without_query(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["query_string"] = b""
        await app(scope, receive, send)

    return app_without_query


async def _read_body(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PAYLOAD_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI receive that yields the already-read body once, then defers to the connection (disconnects)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()
        return message

    return replay


def _negotiate_version(body: bytes, peek: _Peek, supported: tuple[str, ...]) -> bytes:
    """Answer `initialize` with a version this gateway speaks: the requested one if supported, else the newest."""
    changed = False
    for message in peek.messages:
        params = message.get("params")
        requested = params.get("protocolVersion") if isinstance(params, dict) else None
        if message.get("method") == "initialize" and isinstance(params, dict) and requested not in supported:
            params["protocolVersion"] = supported[-1]
            changed = True
    if not changed:
        return body
    messages: Any = peek.messages if body.lstrip().startswith(b"[") else peek.messages[0]
    return json.dumps(messages).encode()


async def _send_refusal(refusal: _Refusal, rpc_id: Any, request_id: str, scope: Any, receive: Any, send: Any) -> None:
    error: dict[str, Any] = {"code": refusal.code, "message": refusal.message}
    if refusal.data is not None:
        error["data"] = refusal.data
    response = JSONResponse(
        {"jsonrpc": "2.0", "id": rpc_id, "error": error},
        status_code=refusal.status,
        headers={"x-amzn-ErrorType": refusal.error_type, "x-amzn-RequestId": request_id, **refusal.headers},
    )
    await response(scope, receive, send)
