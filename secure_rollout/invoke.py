"""`secure-rollout invoke`: call the secured runtime as an OAuth client would, with a token minted from the stored
client credentials - the way the rollout's smoke test does. The client secret and the token stay in this process's
memory: never printed, logged or put in an error message. `--sigv4` calls as an IAM caller instead (a runtime without
an authorizer takes SigV4 only), signed with this session's credentials.

Parameter Store values are not trusted with where the secret goes (docs/security.md): the token endpoint must be the
deployed user pool's own, derived from the stack's UserPoolId as the rollout derives it.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError
from rollout_core import answer_stream
from rollout_core.answer_stream import StreamContent
from rollout_core.doctor import BEARER, SIGV4

from secure_rollout.errors import CliError
from secure_rollout.target import Target

HTTP_TIMEOUT_SECONDS = 120
MAX_TOKEN_RESPONSE_BYTES = 65536
TOKEN_PATH = "/oauth2/token"
SSM_NAMES = ("client_id", "pool_id", "cognito_token_url", "cognito_auth_scope")
SIGNING_SERVICE = "bedrock-agentcore"  # InvokeAgentRuntime's SigV4 signing name
ANONYMOUS = "anonymous"  # the caller methods besides the auth doctor's BEARER and SIGV4


@dataclass(frozen=True)
class Client:
    client_id: str
    token_url: str
    scope: str


def client_settings(target: Target) -> Client:
    prefix = target.parameters.get("ParameterPrefix", "/app/customersupport/agentcore").rstrip("/")
    names = [f"{prefix}/{name}" for name in SSM_NAMES]
    found = target.client("ssm").get_parameters(Names=names)
    values = {p["Name"].rsplit("/", 1)[-1]: str(p["Value"]).strip() for p in found.get("Parameters", [])}
    missing = [f"{prefix}/{name}" for name in SSM_NAMES if not values.get(name)]
    if missing:
        raise CliError(f"missing SSM parameter(s): {', '.join(missing)}", "the tutorial's stack creates them")
    pool_id = target.parameters.get("UserPoolId", "")
    if values["pool_id"] != pool_id:
        raise CliError(
            f"SSM {prefix}/pool_id is {values['pool_id']!r}, but the stack was deployed for user pool {pool_id!r}",
            "refusing to mint a token for another pool; fix the parameter",
        )
    expected = expected_token_urls(target, pool_id)
    if values["cognito_token_url"] not in expected:
        raise CliError(
            f"SSM {prefix}/cognito_token_url is {values['cognito_token_url']!r}, not the token endpoint of the "
            f"deployed pool ({' or '.join(expected) or 'the pool has no domain'})",
            "refusing to send the client secret there; fix the parameter",
        )
    return Client(values["client_id"], values["cognito_token_url"], values["cognito_auth_scope"])


def expected_token_urls(target: Target, pool_id: str) -> list[str]:
    """The deployed pool's own token endpoint(s), derived as the rollout derives them (rollout_core/cognito.py)."""
    pool = target.client("cognito-idp").describe_user_pool(UserPoolId=pool_id)["UserPool"]
    if not pool.get("Domain") and not pool.get("CustomDomain"):
        return []
    sandbox_endpoint = target.parameters.get("SandboxCognitoEndpoint", "")
    if sandbox_endpoint:
        return [f"{sandbox_endpoint}{TOKEN_PATH}"]
    urls = []
    if pool.get("Domain"):
        urls.append(f"https://{pool['Domain']}.auth.{target.region}.amazoncognito.com{TOKEN_PATH}")
    if pool.get("CustomDomain"):
        urls.append(f"https://{pool['CustomDomain']}{TOKEN_PATH}")
    return urls


def mint_token(target: Target, client: Client) -> str:
    pool_id = target.parameters.get("UserPoolId", "")
    try:
        described = target.client("cognito-idp").describe_user_pool_client(
            UserPoolId=pool_id, ClientId=client.client_id
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise CliError(f"cannot read app client {client.client_id} of pool {pool_id} ({code})") from None
    secret = described["UserPoolClient"].get("ClientSecret")
    if not secret:
        raise CliError(f"app client {client.client_id} has no client secret; client_credentials needs one")
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    del secret, described
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": client.scope}).encode()
    request = urllib.request.Request(
        client.token_url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
    )
    del basic
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            payload = json.loads(response.read(MAX_TOKEN_RESPONSE_BYTES))
    except urllib.error.HTTPError as exc:
        raise CliError(f"the token endpoint {client.token_url} answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise CliError(f"the token endpoint {client.token_url} is unreachable ({type(exc).__name__})") from None
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or token.count(".") != 2:
        raise CliError(f"the token endpoint {client.token_url} returned no JWT access token")
    return token


def runtime_arn(target: Target) -> str:
    name = target.parameters.get("RuntimeName", "CustomerSupport")
    control = target.client("bedrock-agentcore-control")
    found: list[str] = []
    token: str | None = None
    for _ in range(100):  # pages
        page = control.list_agent_runtimes(maxResults=100, **({"nextToken": token} if token else {}))
        found += [r["agentRuntimeArn"] for r in page.get("agentRuntimes", []) if r.get("agentRuntimeName") == name]
        token = page.get("nextToken")
        if not token:
            break
    if len(found) != 1:
        raise CliError(f"{len(found)} runtimes are named {name} in {target.region}; expected exactly one")
    return found[0]


def invocation_url(target: Target, runtime_arn: str, qualifier: str = "DEFAULT") -> str:
    """Where an invocation of the runtime's `qualifier` endpoint goes (as the smoke test sends it)."""
    quoted = urllib.parse.quote(runtime_arn, safe="")
    return f"{target.data_plane_endpoint().rstrip('/')}/runtimes/{quoted}/invocations?qualifier={qualifier}"


@dataclass
class Answer:
    status: int
    content: StreamContent = field(default_factory=StreamContent)

    @property
    def tools_used(self) -> list[str]:
        return self.content.tools_used

    @property
    def errors(self) -> list[str]:
        return self.content.error_types

    @property
    def text(self) -> str:
        return self.content.answer


def invoke(
    target: Target, prompt: str, write: Callable[[str], None], session_id: str | None = None, method: str = BEARER
) -> Answer:
    """Stream the runtime's answer to `prompt` through `write` (text chunks as they come). `method`: a minted bearer
    token, a SigV4 signature with this session's credentials, or nothing at all."""
    arn = runtime_arn(target)
    token = mint_token(target, client_settings(target)) if method == BEARER else None
    url = invocation_url(target, arn)
    body = json.dumps({"prompt": prompt}).encode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream, application/json",
        # 33-256 characters, one conversation per call unless the caller names one
        "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session_id or f"secure-rollout-cli-{uuid.uuid4()}",
    }
    secrets = [token, token.split(".")[2]] if token else []
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    elif method == SIGV4:
        headers = _signed(target, url, headers, body)
        signature = headers.get("Authorization", "").rpartition("Signature=")[2]
        secrets += [s for s in (signature, headers.get("X-Amz-Security-Token")) if s]
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    del token
    headers.clear()
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            answer = Answer(response.status)
            content_type = response.headers.get("Content-Type", "")
            for kind, data in _events(response, content_type):
                if text := answer.content.take(kind, _redacted(data, secrets)):
                    write(text)
    except urllib.error.HTTPError as exc:
        raise refusal_error(exc.code, exc.reason, _refusal_message(exc, secrets), method) from None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise CliError(f"the runtime's data plane {url.split('/runtimes/')[0]} is unreachable: {exc}") from None
    return answer


def _signed(target: Target, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    credentials = target.session.get_credentials()
    if credentials is None:
        raise CliError("--sigv4 needs AWS credentials: none were found (profile, environment or instance role)")
    request = AWSRequest(method="POST", url=url, headers=headers, data=body)
    SigV4Auth(credentials.get_frozen_credentials(), SIGNING_SERVICE, target.region).add_auth(request)
    return dict(request.headers.items())


MAX_QUOTED_CHARS = 200
# AWS's signature-mismatch messages go on to quote the canonical request, signed headers (a session token) included.
_CANONICAL_QUOTE = re.compile(r"\s*The Canonical String.*", re.IGNORECASE | re.DOTALL)


def _refusal_message(exc: urllib.error.HTTPError, secrets: list[str]) -> str:
    """AgentCore's own message of a refusal ({"message": ...}): it names the cause. Only its first line, cut short,
    with anything it quotes of the request cut off and every credential this call sent redacted."""
    try:
        document = json.loads(exc.read(MAX_TOKEN_RESPONSE_BYTES) or b"{}")
    except (ValueError, OSError):
        return ""
    message = (document.get("message") or document.get("Message")) if isinstance(document, dict) else None
    if not isinstance(message, str):
        return ""
    lines = _CANONICAL_QUOTE.sub("", message).strip().splitlines()
    first = _redacted(lines[0], secrets) if lines else ""
    return first if len(first) <= MAX_QUOTED_CHARS else first[: MAX_QUOTED_CHARS - 3] + "..."


MISMATCH = "authorization method mismatch"


def refusal_error(status: int, reason: str, message: str, method: str) -> CliError:
    """What a refusal means for this caller, and what to do about it."""
    said = f": {message}" if message else ""
    if status == 403 and MISMATCH in message.lower():
        if method == SIGV4:
            hint = "the runtime has a JWT authorizer: it takes bearer tokens only - call it without --sigv4"
        else:
            hint = (
                "the runtime has no JWT authorizer (not secured yet?): it takes SigV4-signed IAM calls only - "
                "call it with --sigv4, or secure it with `secure-rollout apply`"
            )
        return CliError(f"the runtime answered 403 (a {method} call is the wrong method for it){said}", hint)
    if status == 403 and method == ANONYMOUS:
        hint = "the runtime takes SigV4-signed IAM calls only: call it with --sigv4"
        return CliError(f"the runtime answered 403 (no credentials sent){said}", hint)
    if status == 401:
        hint = "the runtime requires a bearer token: call it without --anonymous or --sigv4"
        if method == BEARER:
            hint = "compare the token with the runtime's authorizer: `secure-rollout doctor`"
        return CliError(f"the runtime answered 401 (no valid bearer token){said}", hint)
    if status == 403:
        hint = (
            "check the credentials you signed with (expired? another account?) and that they are allowed "
            "bedrock-agentcore:InvokeAgentRuntime on this runtime and its endpoint"
            if method == SIGV4
            else "compare the token with the runtime's authorizer (issuer, client, scopes): `secure-rollout doctor`"
        )
        return CliError(f"the runtime answered 403 (refused){said}", hint)
    if status == 404:
        return CliError(f"the runtime answered 404 (no such runtime or endpoint){said}")
    return CliError(f"the runtime answered {status} ({reason}){said}")


def _redacted(text: str, secrets: list[str]) -> str:
    # The agent may echo anything it was sent; never print a credential it echoes.
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text


def _events(response: Any, content_type: str) -> Iterator[tuple[str, str]]:
    """(event type, data) of an SSE stream as it arrives, or the whole body as one message."""
    if not answer_stream.is_event_stream(content_type):
        yield answer_stream.MESSAGE, response.read().decode("utf-8", errors="replace")
        return
    lines = iter(response.readline, b"")
    yield from answer_stream.events(raw.decode("utf-8", errors="replace").rstrip("\r\n") for raw in lines)
