"""Step 6: prove the runtime and the new gateway are locked down, the way an OAuth caller sees them.

One client_credentials token is minted (Cognito bills and rate-limits M2M token requests) and used for every call:

- the runtime (the agent path): with the token (2xx + streamed answer), without it (401), with a tampered copy
  (401/403), and a warranty question. How strict that question is, is the `agentToolCheck` setting: `require` - the
  answer must report the gateway's warranty tool (which the agent can only reach with the caller's token); `answer` -
  a 2xx answer suffices, because a real model may answer it from `get_product_info`, which also knows warranty months;
- the new gateway itself, over MCP streamable HTTP (JSON-RPC), whatever tool a model picks: `initialize` (then
  `notifications/initialized`, sending back any `Mcp-Session-Id` and the negotiated protocol version), `tools/list`
  must list the warranty target's tool (`<TargetName>___<tool>`), `tools/call` with a known product id must return a
  tool answer (not an error result); without the token 401, with the tampered copy 401/403.

The gateway's URL comes from the rollout's state (the gateway this execution built or, on a no-op run, found) and must
be the AWS URL of a gateway with the deployed name in this region: the state is not trusted with where a token goes.
When a check fails, the auth doctor (rollout_core.doctor) compares the token's claims with the runtime's and the new
gateway's authorizers, and SmokeTestFailed names the checks that refuse it (`auth doctor: <check> (<status>): <cause>`).
The client secret and the token live only inside this function: never returned, logged, traced or raised.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from rollout_core import agentcore, answer_stream, desired, doctor
from rollout_core.answer_stream import StreamContent
from rollout_core.cognito import recheck_endpoints, user_pool_reader
from rollout_core.errors import InvalidConfiguration, RolloutError, SmokeTestFailed, TokenRequestFailed
from rollout_core.observability import task_handler
from rollout_core.redaction import pin_library_loggers, redact
from rollout_core.settings import (
    AGENT_TOOL_CHECK,
    AGENT_TOOL_CHECK_REQUIRE,
    SETTINGS_BY_KEY,
    Deployment,
    deployment_from_environment,
    describe_value,
)
from rollout_core.state import AwsRecord, Config, SmokeResult, SmokeTestEvent

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

# botocore logs DescribeUserPoolClient's response (the secret) at DEBUG: never let a DEBUG root reach it.
pin_library_loggers()

logger = Logger()
tracer = Tracer()
metrics = Metrics()

SMOKE_PROMPT = "What's the return policy for electronics?"
WARRANTY_PROMPT = "Check the warranty for PROD-001"
HTTP_TIMEOUT_SECONDS = 60
MAX_BODY_BYTES = 1_000_000
ANSWER_EXCERPT_CHARS = 200

# The gateway check. A product id the WarrantyCheck tool knows (the tutorial's catalogue: PROD-001..005).
WARRANTY_PRODUCT_ID = "PROD-001"
# MCP protocol versions this client speaks, preferred first (AgentCore gateways: 2025-03-26, 2025-06-18).
MCP_PROTOCOL_VERSIONS = ("2025-06-18", "2025-03-26")
MCP_ACCEPT = "application/json, text/event-stream"  # streamable HTTP: the server may answer either way
MCP_SESSION_HEADER = "Mcp-Session-Id"
MCP_VERSION_HEADER = "MCP-Protocol-Version"
CLIENT_INFO = {"name": "agentcore-secure-rollout-smoke-test", "version": "1.0"}
MAX_TOOL_PAGES = 20  # tools/list pages followed (nextCursor) before giving up: bounded like every other loop
MAX_TOOL_NAMES_REPORTED = 50


@dataclass(frozen=True)
class CallResult:
    status: int
    latency_ms: int
    streamed_bytes: int
    content_type: str
    content: StreamContent
    www_authenticate: bool

    def to_report(self, secrets: list[str], expected: str) -> dict[str, Any]:
        # The answer came from the agent: it may echo anything, a token included. Only a redacted excerpt leaves.
        return {
            "endpoint": "runtime",
            "expected": expected,
            "status": self.status,
            "toolsUsed": self.content.tools_used,
            "errorEvents": self.content.error_types,
            "latencyMs": self.latency_ms,
            "streamedBytes": self.streamed_bytes,
            "contentType": self.content_type,
            "answerExcerpt": redact(self.content.answer[:ANSWER_EXCERPT_CHARS], secrets),
            "wwwAuthenticate": self.www_authenticate,
        }


def client_secret(cognito_idp: CognitoIdentityProviderClient, pool_id: str, client_id: str) -> str:
    pin_library_loggers()
    try:
        described = cognito_idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise TokenRequestFailed(f"DescribeUserPoolClient {pool_id}/{client_id} failed: {code}") from None
    secret = described["UserPoolClient"].get("ClientSecret")
    if not secret:
        raise TokenRequestFailed(f"app client {client_id} has no client secret; client_credentials needs one")
    return str(secret)


def mint_token(token_url: str, client_id: str, secret: str, scope: str) -> str:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": scope}).encode()
    request = urllib.request.Request(
        token_url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            payload = json.loads(response.read(MAX_BODY_BYTES))
    except urllib.error.HTTPError as exc:
        error = _oauth_error(exc)
        raise TokenRequestFailed(f"token endpoint {token_url} answered {exc.code} ({error})") from None
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise TokenRequestFailed(f"token endpoint {token_url} unreachable or invalid: {type(exc).__name__}") from None
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or token.count(".") != 2:
        raise TokenRequestFailed(f"token endpoint {token_url} returned no JWT access_token")
    return token


def _oauth_error(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read(4096)).get("error", "no error code"))
    except (ValueError, AttributeError):
        return "no error code"


def tampered(token: str) -> str:
    """Same header and claims, broken signature: what a forger or a corrupted copy looks like."""
    header, claims, signature = token.split(".")
    flipped = "A" if signature[:1] != "A" else "B"
    return f"{header}.{claims}.{flipped}{signature[1:]}"


def invocation_url(endpoint: str, runtime_arn: str) -> str:
    quoted = urllib.parse.quote(runtime_arn, safe="")
    return f"{endpoint.rstrip('/')}/runtimes/{quoted}/invocations?qualifier=DEFAULT"


def data_plane_endpoint() -> str:
    """Resolved exactly as boto3 does for `bedrock-agentcore` (honours AWS_ENDPOINT_URL_BEDROCK_AGENTCORE)."""
    return str(boto3.client("bedrock-agentcore").meta.endpoint_url)


def parse_stream(body: bytes, content_type: str) -> StreamContent:
    """Answer text, the tool names of the agent's metadata event, and error events (never counted as answer)."""
    return answer_stream.parse(body, content_type)


def invoke(url: str, session_id: str, bearer: str | None, prompt: str = SMOKE_PROMPT) -> CallResult:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream, application/json",
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session_id,
    }
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=json.dumps({"prompt": prompt}).encode(), method="POST", headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            status, response_headers = response.status, response.headers
            body = bytearray()
            while len(body) < MAX_BODY_BYTES and (chunk := response.read1(65536)):
                body.extend(chunk)
    except urllib.error.HTTPError as exc:
        status, response_headers, body = exc.code, exc.headers, bytearray(exc.read(65536))
    except (urllib.error.URLError, TimeoutError) as exc:
        raise SmokeTestFailed(f"runtime data plane {url.split('?')[0]} unreachable: {type(exc).__name__}") from None
    content_type = response_headers.get("Content-Type", "")
    content = parse_stream(bytes(body), content_type) if 200 <= status < 300 else StreamContent()
    return CallResult(
        status=status,
        latency_ms=round((time.perf_counter() - started) * 1000),
        streamed_bytes=len(body),
        content_type=content_type,
        content=content,
        www_authenticate=bool(response_headers.get("WWW-Authenticate")),
    )


# --- the gateway, checked directly over MCP ------------------------------------------------------------------


def new_gateway(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """The gateway this execution proves: the one it built or fixed ($.secured.gateway), or on a no-op run the one the
    plan found already in the desired state ($.plan.gateway.existing)."""
    secured = (state.get("secured") or {}).get("gateway")
    gateway = secured if secured is not None else ((state.get("plan") or {}).get("gateway") or {}).get("existing")
    if not isinstance(gateway, dict) or not gateway.get("id"):
        raise SmokeTestFailed("the rollout state names no new gateway to check ($.secured.gateway or $.plan.gateway)")
    return gateway


def gateway_endpoint(gateway: Mapping[str, Any], deployment: Deployment, region: str) -> tuple[str, str]:
    """(the gateway's AWS URL, the URL requests go to). The token only goes to a gateway with the deployed name."""
    gateway_id, url = gateway.get("id"), gateway.get("url")
    # AgentCore gateway ids are the lower-cased name plus a 10-character suffix; IAM scopes them the same way.
    if not isinstance(gateway_id, str) or not re.fullmatch(
        re.escape(deployment.gatewayName) + r"-[0-9a-z]{10}", gateway_id
    ):
        raise InvalidConfiguration(
            f"the gateway to check, {describe_value(gateway_id)}, is not a gateway named {deployment.gatewayName!r} "
            "(template parameter GatewayName); the smoke test sends the token to the deployed gateway only"
        )
    aws_url = f"https://{gateway_id}.gateway.bedrock-agentcore.{region}.amazonaws.com/mcp"
    if url != aws_url:
        raise InvalidConfiguration(
            f"the URL of gateway {gateway_id} in the rollout state is {describe_value(url)}, expected {aws_url} "
            "(AgentCore's gatewayUrl); the smoke test sends the token to the deployed gateway only"
        )
    if deployment.sandboxGatewayEndpoint:  # offline sandbox: the loopback stand-in serves every gateway by id
        return aws_url, f"{deployment.sandboxGatewayEndpoint}/gateways/{gateway_id}/mcp"
    return aws_url, aws_url


@dataclass(frozen=True)
class RpcResult:
    """One HTTP exchange with the gateway's MCP endpoint: status, headers that matter, this request's answer."""

    status: int
    latency_ms: int
    content_type: str
    www_authenticate: bool
    session_id: str | None
    message: dict[str, Any] | None  # the JSON-RPC response carrying this request's id

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def result(self) -> dict[str, Any] | None:
        result = (self.message or {}).get("result")
        return result if isinstance(result, dict) else None

    def report(self, expected: str, passed: bool, tools: list[str] | None = None) -> dict[str, Any]:
        error = (self.message or {}).get("error")
        return {
            "endpoint": "gateway",
            "expected": expected,
            "status": self.status,
            "tools": (tools or [])[:MAX_TOOL_NAMES_REPORTED],
            "passed": passed,
            "latencyMs": self.latency_ms,
            "contentType": self.content_type,
            "wwwAuthenticate": self.www_authenticate,
            # The code only: a server's error text may echo what it was sent.
            "rpcErrorCode": error.get("code") if isinstance(error, dict) else None,
        }


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def jsonrpc_response(body: bytes, content_type: str, rpc_id: int) -> dict[str, Any] | None:
    """The JSON-RPC response with `rpc_id` from a JSON body (object or batch) or an SSE stream of messages."""
    text = body.decode("utf-8", errors="replace")
    decoded: list[Any] = []
    if answer_stream.is_event_stream(content_type):
        decoded += [_json_or_none(data) for _, data in answer_stream.events(text.splitlines())]
    else:
        decoded.append(_json_or_none(text))
    messages = [m for item in decoded for m in (item if isinstance(item, list) else [item])]
    return next(
        (m for m in messages if isinstance(m, dict) and m.get("id") == rpc_id and ("result" in m or "error" in m)),
        None,
    )


def mcp_request(
    url: str,
    bearer: str | None,
    method: str,
    params: dict[str, Any] | None = None,
    rpc_id: int | None = None,
    session_id: str | None = None,
    protocol_version: str | None = None,
    shown_url: str | None = None,
) -> RpcResult:
    """POST one JSON-RPC message (a request when `rpc_id` is given, else a notification) to an MCP endpoint."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if rpc_id is not None:
        message["id"] = rpc_id
    headers = {"Content-Type": "application/json", "Accept": MCP_ACCEPT}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    if session_id is not None:
        headers[MCP_SESSION_HEADER] = session_id
    if protocol_version is not None:
        headers[MCP_VERSION_HEADER] = protocol_version
    request = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST", headers=headers)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            status, response_headers = response.status, response.headers
            body = response.read(MAX_BODY_BYTES)
    except urllib.error.HTTPError as exc:
        status, response_headers, body = exc.code, exc.headers, exc.read(65536)
    except (urllib.error.URLError, TimeoutError) as exc:
        where = shown_url or url
        raise SmokeTestFailed(f"gateway {where} ({method}) unreachable: {type(exc).__name__}") from None
    content_type = response_headers.get("Content-Type", "")
    return RpcResult(
        status=status,
        latency_ms=round((time.perf_counter() - started) * 1000),
        content_type=content_type,
        www_authenticate=bool(response_headers.get("WWW-Authenticate")),
        session_id=response_headers.get(MCP_SESSION_HEADER) or None,
        message=jsonrpc_response(body, content_type, rpc_id) if rpc_id is not None else None,
    )


def end_session(url: str, bearer: str, session_id: str, protocol_version: str) -> None:
    """MCP: a client that no longer needs a session should DELETE it. Cleanup only: its outcome proves nothing, and the
    gateway expires sessions anyway, so a refusal (405: termination not supported) or a network error is ignored."""
    headers = {
        "Authorization": f"Bearer {bearer}",
        MCP_SESSION_HEADER: session_id,
        MCP_VERSION_HEADER: protocol_version,
    }
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, method="DELETE", headers=headers), timeout=HTTP_TIMEOUT_SECONDS
        ):
            pass
    except (urllib.error.URLError, TimeoutError):
        pass


def _tool_text(result: dict[str, Any]) -> str:
    content = result.get("content")
    items = content if isinstance(content, list) else []
    return "".join(str(i.get("text", "")) for i in items if isinstance(i, dict) and i.get("type") == "text")


def warranty_tool(target_name: str) -> tuple[str, dict[str, str]]:
    """The gateway's name for the warranty tool (`<target>___<tool>`, as AgentCore names target tools) and the
    arguments of a call for a known product, both from the packaged tool schema."""
    schema = desired.warranty_tool_schema()[0]
    required = schema.get("inputSchema", {}).get("required") or []
    return f"{target_name}___{schema['name']}", {str(name): WARRANTY_PRODUCT_ID for name in required}


@dataclass
class McpSession:
    """One MCP client conversation with the gateway: where to send, the caller's token, what initialize agreed on."""

    url: str
    shown_url: str  # the AWS URL: what error messages name
    bearer: str
    protocol_version: str | None = None
    session_id: str | None = None
    next_id: int = 1

    def request(self, method: str, params: dict[str, Any] | None = None, *, notify: bool = False) -> RpcResult:
        rpc_id = None
        if not notify:  # a notification has no id and gets no answer
            rpc_id, self.next_id = self.next_id, self.next_id + 1
        return mcp_request(
            self.url, self.bearer, method, params, rpc_id, self.session_id, self.protocol_version, self.shown_url
        )


def initialize_params() -> dict[str, Any]:
    return {"protocolVersion": MCP_PROTOCOL_VERSIONS[0], "capabilities": {}, "clientInfo": CLIENT_INFO}


def list_tools(mcp: McpSession) -> tuple[RpcResult, list[str]]:
    """tools/list, following nextCursor for at most MAX_TOOL_PAGES pages: (the last answer, every tool name)."""
    names: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        listing = mcp.request("tools/list", {"cursor": cursor} if cursor else {})
        tools = (listing.result or {}).get("tools")
        if not listing.ok or not isinstance(tools, list):
            return listing, names
        names += [str(t["name"]) for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
        cursor = (listing.result or {}).get("nextCursor") or None
        if not isinstance(cursor, str):
            return listing, names
    return listing, names


def check_gateway_rejections(url: str, shown_url: str, forged: str) -> tuple[dict[str, Any], list[str]]:
    """The secured gateway refuses an initialize without a token (401) and with a tampered one (401/403)."""
    report: dict[str, Any] = {}
    problems: list[str] = []
    without = mcp_request(url, None, "initialize", initialize_params(), 1, shown_url=shown_url)
    report["withoutToken"] = without.report("401", without.status == 401)
    if without.status != 401:
        problems.append(f"gateway without a token: expected 401, got {without.status}")
    bad = mcp_request(url, forged, "initialize", initialize_params(), 1, shown_url=shown_url)
    report["tamperedToken"] = bad.report("401 or 403", bad.status in (401, 403))
    if bad.status not in (401, 403):
        problems.append(f"gateway with a tampered token: expected 401 or 403, got {bad.status}")
    return report, problems


def check_gateway_tool(
    mcp: McpSession, tool: str, arguments: dict[str, str], secrets: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """With the token: initialize (+ notifications/initialized), tools/list lists `tool`, tools/call answers."""
    versions = " or ".join(MCP_PROTOCOL_VERSIONS)
    init = mcp.request("initialize", initialize_params())
    version = (init.result or {}).get("protocolVersion")
    initialized = init.ok and isinstance(version, str) and version in MCP_PROTOCOL_VERSIONS
    report: dict[str, Any] = {
        "initialize": {
            **init.report(f"2xx with an initialize result in protocol version {versions}", initialized),
            "protocolVersion": version if isinstance(version, str) else None,
            "sessionIssued": init.session_id is not None,
        }
    }
    if not initialized:
        return report, [
            f"gateway initialize with the token: expected 2xx with an initialize result in protocol version "
            f"{versions}, got {init.status} with version {describe_value(version)}"
        ]
    # Every later request carries the negotiated version and the session the gateway issued, if it issued one.
    mcp.protocol_version, mcp.session_id = str(version), init.session_id
    problems: list[str] = []
    notified = mcp.request("notifications/initialized", notify=True)
    report["initialized"] = notified.report("2xx (202 Accepted)", notified.ok)
    if not notified.ok:
        problems.append(f"gateway notifications/initialized: expected 2xx, got {notified.status}")

    listing, names = list_tools(mcp)
    listed = listing.ok and tool in names
    report["toolsList"] = listing.report(f"2xx listing {tool}", listed, names)
    if not listed:
        problems.append(
            f"gateway tools/list: expected 2xx listing {tool}, got {listing.status} with tools "
            f"{names[:MAX_TOOL_NAMES_REPORTED]}"
        )
        return report, problems

    call = mcp.request("tools/call", {"name": tool, "arguments": arguments})
    result = call.result
    answer = _tool_text(result) if result is not None else ""
    is_error = bool((result or {}).get("isError"))
    answered = call.ok and result is not None and not is_error and bool(answer.strip())
    expected = f"2xx with a tool answer (not an error result) for {describe_value(arguments)}"
    report["toolsCall"] = {
        **call.report(expected, answered, [tool]),
        "isError": is_error,
        # The tool's answer is not ours: it may echo anything. Only a redacted excerpt leaves.
        "answerExcerpt": redact(answer[:ANSWER_EXCERPT_CHARS], secrets),
    }
    if not answered:
        got = "an error result" if is_error else "no tool answer" if call.ok else "no result"
        problems.append(f"gateway tools/call {tool}: expected {expected}, got {call.status} with {got}")
    return report, problems


def check_gateway(
    aws_url: str, url: str, token: str, forged: str, tool: str, arguments: dict[str, str], secrets: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The secured gateway itself, whatever tool a model would pick: (report, problems)."""
    rejections, problems = check_gateway_rejections(url, aws_url, forged)
    mcp = McpSession(url, aws_url, token)
    try:
        tool_report, tool_problems = check_gateway_tool(mcp, tool, arguments, secrets)
    finally:
        if mcp.session_id is not None and mcp.protocol_version is not None:
            end_session(url, token, mcp.session_id, mcp.protocol_version)
    return {"url": aws_url, "expectedTool": tool, **rejections, **tool_report}, problems + tool_problems


def smoke_test(
    config: Config,
    runtime_arn: str,
    gateway: Mapping[str, Any],
    deployment: Deployment,
    region: str,
    cognito_idp: CognitoIdentityProviderClient,
    diagnose: Callable[[str], str] | None = None,
) -> SmokeResult:
    """The checks above; SmokeTestFailed names every failed one and, if `diagnose` is given, the auth doctor's
    verdict on the token (which check of which authorizer refuses it), computed only on failure."""
    cognito = config["cognito"]
    # The state says where to send the secret; the deployment decides whether that is the pool's own endpoint.
    recheck_endpoints(cognito, deployment, region, user_pool_reader(cognito_idp))
    # And where the token goes: only the deployed gateway's own endpoint.
    gateway_url, gateway_target = gateway_endpoint(gateway, deployment, region)
    tool_check = config["settings"].get("agentToolCheck", deployment.agentToolCheck)
    if not isinstance(tool_check, str) or not AGENT_TOOL_CHECK.fullmatch(tool_check):
        raise InvalidConfiguration(
            f"setting agentToolCheck must be {SETTINGS_BY_KEY['agentToolCheck'].description}; "
            f"got {describe_value(tool_check)}"
        )
    tool, arguments = warranty_tool(config["settings"]["targetName"])
    secret = client_secret(cognito_idp, cognito["poolId"], cognito["clientId"])
    token = mint_token(cognito["tokenUrl"], cognito["clientId"], secret, " ".join(cognito["scopes"]))
    url = invocation_url(data_plane_endpoint(), runtime_arn)
    session = f"secure-rollout-smoke-{uuid.uuid4()}"  # 57 chars: within the 33-256 the service requires
    forged = tampered(token)
    with_token = invoke(url, session, token)
    without_token = invoke(url, session, None)
    bad_token = invoke(url, session, forged)
    warranty = invoke(url, session, token, WARRANTY_PROMPT)
    secrets = [token, forged, secret, token.split(".")[2]]
    gateway_report, gateway_problems = check_gateway(
        gateway_url, gateway_target, token, forged, tool, arguments, secrets
    )

    problems = []
    if not (
        200 <= with_token.status < 300 and with_token.content.answer.strip() and not with_token.content.error_types
    ):
        problems.append(
            f"with a valid token: expected 2xx and a streamed answer without error events, got {with_token.status}"
            + (f" with error event(s) {with_token.content.error_types}" if with_token.content.error_types else "")
        )
    if without_token.status != 401:
        problems.append(f"without a token: expected 401, got {without_token.status}")
    if bad_token.status not in (401, 403):
        problems.append(f"with a tampered token: expected 401 or 403, got {bad_token.status}")
    tool_used = tool in warranty.content.tools_used
    answered = 200 <= warranty.status < 300 and bool(warranty.content.answer.strip())
    if tool_check == AGENT_TOOL_CHECK_REQUIRE:
        warranty_expected = f"2xx answer from the gateway tool {tool}"
        warranty_ok = answered and tool_used and not warranty.content.error_types
        why = "the agent must forward the caller's token to the secured gateway"
    else:
        warranty_expected = "2xx answer without error events (any tool)"
        warranty_ok = answered and not warranty.content.error_types
        why = "the gateway itself is checked directly"
    if not warranty_ok:
        problems.append(
            f"warranty question (agentToolCheck={tool_check}): expected a {warranty_expected} ({why}); got "
            f"{warranty.status} with tools {warranty.content.tools_used} and error events "
            f"{warranty.content.error_types}"
        )
    problems += gateway_problems
    if problems and diagnose is not None:
        problems.append(f"auth doctor: {diagnose(token)}")
    del token, forged, secret
    report: SmokeResult = {
        "prompt": SMOKE_PROMPT,
        "runtimeArn": runtime_arn,
        "agentToolCheck": tool_check,
        "withToken": with_token.to_report(secrets, "2xx and a streamed answer without error events"),
        "withoutToken": without_token.to_report(secrets, "401"),
        "tamperedToken": bad_token.to_report(secrets, "401 or 403"),
        "warranty": {
            "prompt": WARRANTY_PROMPT,
            "expectedTool": tool,
            "gatewayToolUsed": tool_used,
            **warranty.to_report(secrets, warranty_expected),
        },
        "gateway": gateway_report,
        "passed": not problems,
    }
    del secrets
    if problems:
        raise SmokeTestFailed("; ".join(problems))
    return report


def auth_doctor(control: BedrockAgentCoreControlClient, runtime: AwsRecord, gateway_id: str) -> Callable[[str], str]:
    """The auth doctor (rollout_core.doctor) on the smoke test's own token, for a failure's message: the failing
    checks of the runtime's and the new gateway's authorizers, or that every check passes. Never the token."""

    def run(token: str) -> str:
        note = ""
        try:
            gateway = agentcore.get_gateway_or_none(control, gateway_id)
        except RolloutError as exc:  # the runtime can still be checked; the failure stays the smoke test's
            gateway, note = None, f" (gateway {gateway_id} not read: {type(exc).__name__})"
        findings = doctor.diagnose(token, runtime, gateway, now=time.time())
        failing = doctor.failures_line(findings)
        return (failing or "every check passes: the token fits the authorizers, the cause is elsewhere") + note

    return run


@task_handler(logger, tracer)
@metrics.log_metrics
def lambda_handler(event: SmokeTestEvent, context: LambdaContext) -> SmokeResult:
    pin_library_loggers()
    region = os.environ["AWS_REGION"]
    state = event["state"]  # the whole rollout state (SmokeTest and BakeCheck pass `$`)
    control = agentcore.agentcore_control()
    runtime = agentcore.get_runtime(control, state["config"]["runtime"]["id"])
    gateway = new_gateway(state)
    report = smoke_test(
        state["config"],
        runtime["agentRuntimeArn"],
        gateway,
        deployment_from_environment(os.environ),
        region,
        boto3.client("cognito-idp", region_name=region),
        diagnose=auth_doctor(control, runtime, str(gateway["id"])),
    )
    metrics.add_metric(name="SmokeLatency", unit=MetricUnit.Milliseconds, value=report["withToken"]["latencyMs"])
    checked = {k: report[k]["status"] for k in ("withToken", "withoutToken", "tamperedToken", "warranty")}
    gateway_checks = ("withoutToken", "tamperedToken", "initialize", "toolsList", "toolsCall")
    checked |= {f"gateway.{k}": report["gateway"][k]["status"] for k in gateway_checks}
    logger.info("smoke test passed", extra=checked)
    return report
