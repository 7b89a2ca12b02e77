"""Step 6: prove the runtime is locked down, the way an OAuth caller sees it.

One client_credentials token is minted (Cognito bills and rate-limits M2M token requests) and used for four
calls: with the token (2xx + streamed answer), without it (401), with a tampered copy (401/403), and a warranty
question that must be answered by the gateway's WarrantyCheck tool - which only works if the agent forwarded the
caller's token to the secured gateway.
The client secret and the token live only inside this function: never returned, logged, traced or raised.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from rollout_core import control
from rollout_core.cognito import recheck_endpoints, user_pool_reader
from rollout_core.errors import SmokeTestFailed, TokenRequestFailed
from rollout_core.redaction import pin_library_loggers, redact
from rollout_core.settings import Deployment, deployment_from_environment

if TYPE_CHECKING:
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


@dataclass(frozen=True)
class StreamContent:
    """What an SSE (or plain) answer contained: text, the tools the agent reports, and error events."""

    answer: str
    tools_used: list[str]
    error_types: list[str]


@dataclass(frozen=True)
class CallResult:
    status: int
    latency_ms: int
    streamed_bytes: int
    content_type: str
    content: StreamContent
    www_authenticate: bool

    def to_report(self, secrets: list[str]) -> dict[str, Any]:
        # The answer came from the agent: it may echo anything, a token included. Only a redacted excerpt leaves.
        return {
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


def _sse_field(line: str, name: str) -> str | None:
    """The value of an SSE field line `name: value` (one optional space after the colon), else None."""
    if not line.startswith(f"{name}:"):
        return None
    value = line[len(name) + 1 :]
    return value[1:] if value.startswith(" ") else value


def parse_stream(body: bytes, content_type: str) -> StreamContent:
    """Answer text, the tool names of the agent's metadata event, and error events (never counted as answer)."""
    text = body.decode("utf-8", errors="replace")
    if "text/event-stream" not in content_type:
        return StreamContent(text, [], [])
    # SSE: an event's "data:" lines join with newlines; `event:` names its type; events end at a blank line.
    chunks: list[str] = []
    tools_used: list[str] = []
    errors: list[str] = []
    data_lines: list[str] = []
    event_type = "message"
    for line in [*text.splitlines(), ""]:
        if (data := _sse_field(line, "data")) is not None:
            data_lines.append(data)
        elif (named := _sse_field(line, "event")) is not None:
            event_type = named.strip() or "message"
        elif not line and (data_lines or event_type != "message"):
            data = "\n".join(data_lines)
            try:
                decoded: Any = json.loads(data)
            except ValueError:
                decoded = data
            if event_type == "error" or (isinstance(decoded, dict) and "error" in decoded):
                # bedrock-agentcore streams a failure as {"error", "error_type", "message"}; only the type is kept.
                error_type = decoded.get("error_type") if isinstance(decoded, dict) else None
                errors.append(str(error_type) if isinstance(error_type, str) else "error")
            elif isinstance(decoded, dict) and isinstance(decoded.get("metadata"), dict):
                tools_used += [str(name) for name in decoded["metadata"].get("toolsUsed") or []]
            else:
                chunks.append(decoded if isinstance(decoded, str) else json.dumps(decoded))
            data_lines, event_type = [], "message"
    return StreamContent("".join(chunks), tools_used, errors)


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
    content = parse_stream(bytes(body), content_type) if 200 <= status < 300 else StreamContent("", [], [])
    return CallResult(
        status=status,
        latency_ms=round((time.perf_counter() - started) * 1000),
        streamed_bytes=len(body),
        content_type=content_type,
        content=content,
        www_authenticate=bool(response_headers.get("WWW-Authenticate")),
    )


def smoke_test(
    config: dict[str, Any],
    runtime_arn: str,
    deployment: Deployment,
    region: str,
    cognito_idp: CognitoIdentityProviderClient,
) -> dict[str, Any]:
    cognito = config["cognito"]
    # The state says where to send the secret; the deployment decides whether that is the pool's own endpoint.
    recheck_endpoints(cognito, deployment, region, user_pool_reader(cognito_idp))
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
    del token, forged, secret
    warranty_tool = f"{config['settings']['targetName']}___{control.warranty_tool_schema()[0]['name']}"

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
    if not (
        200 <= warranty.status < 300
        and warranty_tool in warranty.content.tools_used
        and not warranty.content.error_types
    ):
        problems.append(
            f"warranty question: expected a 2xx answer from the gateway tool {warranty_tool} (the agent must forward "
            f"the caller's token to the secured gateway); got {warranty.status} with tools "
            f"{warranty.content.tools_used} and error events {warranty.content.error_types}"
        )
    report = {
        "prompt": SMOKE_PROMPT,
        "runtimeArn": runtime_arn,
        "withToken": with_token.to_report(secrets),
        "withoutToken": without_token.to_report(secrets),
        "tamperedToken": bad_token.to_report(secrets),
        "warranty": {"prompt": WARRANTY_PROMPT, "expectedTool": warranty_tool, **warranty.to_report(secrets)},
        "passed": not problems,
    }
    del secrets
    if problems:
        raise SmokeTestFailed("; ".join(problems))
    return report


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    pin_library_loggers()
    region = os.environ["AWS_REGION"]
    runtime = control.get_runtime(control.agentcore_control(), event["config"]["runtime"]["id"])
    report = smoke_test(
        event["config"],
        runtime["agentRuntimeArn"],
        deployment_from_environment(os.environ),
        region,
        boto3.client("cognito-idp", region_name=region),
    )
    metrics.add_metric(name="SmokeLatency", unit=MetricUnit.Milliseconds, value=report["withToken"]["latencyMs"])
    logger.info(
        "smoke test passed",
        extra={k: report[k]["status"] for k in ("withToken", "withoutToken", "tamperedToken", "warranty")},
    )
    return report
