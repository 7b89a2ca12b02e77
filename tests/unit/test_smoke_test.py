"""smoke_test: token minting, tampering, URL building, SSE parsing, the runtime calls and the direct MCP checks of
the gateway, against local HTTP servers."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from rollout_core.agentcore import agentcore_control
from rollout_core.desired import jwt_authorizer
from rollout_core.errors import InvalidConfiguration, SmokeTestFailed, TokenRequestFailed
from rollout_core.settings import Deployment, deployment_from_environment
from rollout_core.state import Config

from functions.smoke_test import app
from tests.unit.helpers import (
    DEFAULT_ENV,
    RUNTIME_ARTIFACT,
    RUNTIME_NETWORK,
    RUNTIME_ROLE,
    SCOPE,
    LocalServer,
    Recorded,
    as_agentcore,
    fake_jwt,
    json_response,
    local_http_server,
)

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control.type_defs import AgentRuntimeArtifactTypeDef, NetworkConfigurationTypeDef

SECRET = "s3cr3t-client-secret-DO-NOT-LEAK-1f2e3d"
RUNTIME_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/CustomerSupport-abcdefghij"
GATEWAY_ID = "my-gateway-secure-k3j4h5g6f7"
GATEWAY_URL = f"https://{GATEWAY_ID}.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp"
GATEWAY_PATH = f"/gateways/{GATEWAY_ID}/mcp"
WARRANTY_TOOL = "WarrantyCheck___check_warranty"
SHIPPING_TOOL = "ShippingEstimate___estimate_shipping"
MINTED = fake_jwt("dmFsaWQtc2lnbmF0dXJl")  # the token the fake token endpoint issues
WARRANTY_ANSWER = {"product_id": "PROD-001", "warranty_months": 12, "status": "active"}
ANSWER_CHUNKS = ["Electronics can", " be returned", " within 30 days."]
ANSWER = "".join(ANSWER_CHUNKS)


def basic_credentials(recorded: Recorded) -> str:
    scheme, _, value = recorded.headers.get("authorization", "").partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(value).decode()


# --- tampered / invocation_url / _answer_text --------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["c2lnbmF0dXJl", "AbCdEf", "A", "Zm9v-_bar"])
def test_tampered_changes_only_the_signature(signature: str) -> None:
    token = fake_jwt(signature)
    forged = app.tampered(token)
    header, claims, forged_signature = forged.split(".")
    original_header, original_claims, _ = token.split(".")
    assert (header, claims) == (original_header, original_claims)
    assert forged_signature != signature
    assert len(forged_signature) == len(signature)
    assert forged_signature[1:] == signature[1:]


def test_invocation_url_encodes_the_arn() -> None:
    url = app.invocation_url("https://bedrock-agentcore.us-east-1.amazonaws.com/", RUNTIME_ARN)
    assert url == (
        "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/"
        "arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2FCustomerSupport-abcdefghij"
        "/invocations?qualifier=DEFAULT"
    )
    path = urllib.parse.urlsplit(url).path
    assert urllib.parse.unquote(path.split("/")[2]) == RUNTIME_ARN


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param('data: "Hello"\n\ndata: " world"\n\n', "text/event-stream", "Hello world", id="json-strings"),
        pytest.param(
            'event: message\ndata: "A"\n: keep-alive\nid: 1\n\ndata: "B"\r\n\r\n',
            "text/event-stream; charset=utf-8",
            "AB",
            id="ignores-other-fields",
        ),
        pytest.param('data: {"delta": 1}\n\n', "text/event-stream", '{"delta": 1}', id="json-object-redumped"),
        pytest.param("data: plain text\n\n", "text/event-stream", "plain text", id="not-json"),
        pytest.param('data:"no-space"\n', "text/event-stream", "no-space", id="no-space-after-colon"),
        pytest.param('{"result": "x"}', "application/json", '{"result": "x"}', id="json-body-verbatim"),
        pytest.param("", "text/event-stream", "", id="empty"),
        pytest.param("data:  two spaces kept \n\n", "text/event-stream", " two spaces kept ", id="keeps-spaces"),
        pytest.param("data: line one\ndata: line two\n\n", "text/event-stream", "line one\nline two", id="multi-line"),
    ],
)
def test_answer_text(body: str, content_type: str, expected: str) -> None:
    assert app.parse_stream(body.encode(), content_type).answer == expected


def test_answer_text_survives_invalid_utf8() -> None:
    assert app.parse_stream(b'data: "ok"\n\xff\n', "text/event-stream").answer == "ok"


@pytest.mark.parametrize(
    ("body", "errors", "answer"),
    [
        pytest.param(
            'data: "partial"\n\ndata: {"error": "boom", "error_type": "ValueError", "message": "x"}\n\n',
            ["ValueError"],
            "partial",
            id="bedrock-agentcore-error-object",
        ),
        pytest.param('event: error\ndata: "something broke"\n\n', ["error"], "", id="sse-error-event"),
        pytest.param('event: error\n\ndata: "after"\n\n', ["error"], "after", id="error-event-without-data"),
    ],
)
def test_sse_error_events_are_failures_not_answer_text(body: str, errors: list[str], answer: str) -> None:
    content = app.parse_stream(body.encode(), "text/event-stream")
    assert content.error_types == errors
    assert content.answer == answer


# --- mint_token -------------------------------------------------------------------------------------------------


def test_mint_token_rejection_names_status_and_error_but_never_the_secret() -> None:
    with local_http_server(lambda r: json_response(400, {"error": "invalid_client"})) as server:
        token_url = f"{server.base_url}/oauth2/token"
        with pytest.raises(TokenRequestFailed) as caught:
            app.mint_token(token_url, "client-1", SECRET, SCOPE)
    message = str(caught.value)
    assert "400" in message
    assert "invalid_client" in message
    assert token_url in message
    assert SECRET not in message
    assert base64.b64encode(f"client-1:{SECRET}".encode()).decode() not in message
    assert caught.value.__suppress_context__  # no HTTPError (with headers) chained onto the Lambda error
    # The secret really was sent (HTTP Basic), so its absence from the message is meaningful.
    (request,) = server.requests
    assert basic_credentials(request) == f"client-1:{SECRET}"


def test_mint_token_rejection_without_json_body() -> None:
    with (
        local_http_server(lambda r: (503, {"Content-Type": "text/html"}, b"<html>down</html>")) as server,
        pytest.raises(TokenRequestFailed, match=r"answered 503 \(no error code\)"),
    ):
        app.mint_token(f"{server.base_url}/oauth2/token", "client-1", SECRET, SCOPE)


def test_mint_token_success_sends_client_credentials() -> None:
    token = fake_jwt()
    with local_http_server(lambda r: json_response(200, {"access_token": token, "expires_in": 3600})) as server:
        assert app.mint_token(f"{server.base_url}/oauth2/token", "client-1", SECRET, SCOPE) == token
    (request,) = server.requests
    assert request.path == "/oauth2/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(request.body.decode()) == {"grant_type": ["client_credentials"], "scope": [SCOPE]}
    assert SECRET not in request.body.decode()  # only in the Authorization header


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param({"access_token": "opaque-token"}, "returned no JWT access_token", id="not-a-jwt"),
        pytest.param({"token_type": "Bearer"}, "returned no JWT access_token", id="no-token"),
        pytest.param({"access_token": 42}, "returned no JWT access_token", id="not-a-string"),
    ],
)
def test_mint_token_without_jwt(payload: dict[str, Any], expected: str) -> None:
    with (
        local_http_server(lambda r: json_response(200, payload)) as server,
        pytest.raises(TokenRequestFailed, match=expected),
    ):
        app.mint_token(f"{server.base_url}/oauth2/token", "client-1", SECRET, SCOPE)


def test_mint_token_non_object_json() -> None:
    with (
        local_http_server(lambda r: json_response(200, ["not", "an", "object"])) as server,
        pytest.raises(TokenRequestFailed, match="returned no JWT access_token"),
    ):
        app.mint_token(f"{server.base_url}/oauth2/token", "client-1", SECRET, SCOPE)


def test_mint_token_invalid_json() -> None:
    with (
        local_http_server(lambda r: (200, {"Content-Type": "application/json"}, b"not json")) as server,
        pytest.raises(TokenRequestFailed, match="unreachable or invalid: JSONDecodeError"),
    ):
        app.mint_token(f"{server.base_url}/oauth2/token", "client-1", SECRET, SCOPE)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_mint_token_unreachable() -> None:
    with pytest.raises(TokenRequestFailed, match="unreachable or invalid: URLError") as caught:
        app.mint_token(f"{closed_port_url()}/oauth2/token", "client-1", SECRET, SCOPE)
    assert SECRET not in str(caught.value)


# --- client_secret (moto Cognito) -------------------------------------------------------------------------------


@pytest.fixture
def cognito(aws: None) -> dict[str, str]:
    idp = boto3.client("cognito-idp")
    pool_id = idp.create_user_pool(PoolName="customersupport")["UserPool"]["Id"]
    idp.create_user_pool_domain(Domain="customersupport-unit", UserPoolId=pool_id)
    with_secret = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="m2m", GenerateSecret=True)
    without_secret = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="public")
    return {
        "pool_id": pool_id,
        "client_id": with_secret["UserPoolClient"]["ClientId"],
        "secret": with_secret["UserPoolClient"]["ClientSecret"],
        "public_client_id": without_secret["UserPoolClient"]["ClientId"],
    }


def test_client_secret_is_read_from_cognito(cognito: dict[str, str]) -> None:
    idp = boto3.client("cognito-idp")
    assert app.client_secret(idp, cognito["pool_id"], cognito["client_id"]) == cognito["secret"]


def test_client_without_secret(cognito: dict[str, str]) -> None:
    with pytest.raises(TokenRequestFailed, match="has no client secret; client_credentials needs one"):
        app.client_secret(boto3.client("cognito-idp"), cognito["pool_id"], cognito["public_client_id"])


def test_client_secret_unknown_pool(cognito: dict[str, str]) -> None:
    with pytest.raises(
        TokenRequestFailed, match="DescribeUserPoolClient us-east-1_Missing0/x failed: ResourceNotFound"
    ):
        app.client_secret(boto3.client("cognito-idp"), "us-east-1_Missing0", "x")


# --- invoke and the whole smoke test ----------------------------------------------------------------------------


class FakeAgentCore:
    """Token endpoint + runtime data plane + one gateway's MCP endpoint: each accepts exactly the minted token, like
    a JWT-secured runtime and gateway."""

    def __init__(self, client_id: str, secret: str) -> None:
        self.client_id, self.secret, self.token = client_id, secret, MINTED
        self.accept_anything = False
        self.refuse_tokens = False  # True: the runtime refuses every token (an authorizer that does not fit it)
        self.gateway_reachable = True  # False: an agent that does not forward the token to the gateway
        self.echo_authorization = False  # True: an agent that repeats the caller's header in its answer
        self.stream_error = False  # True: the answer stream ends in bedrock-agentcore's error event
        self.runtime_arn = RUNTIME_ARN
        # The gateway's MCP endpoint.
        self.gateway_open = False  # True: accepts any request (an open gateway)
        self.gateway_tools = [WARRANTY_TOOL, SHIPPING_TOOL]
        self.gateway_version = "2025-03-26"  # the version it answers initialize with
        self.tool_error = False  # True: tools/call answers an error result (the target Lambda failed)
        self.tool_result: Any = WARRANTY_ANSWER
        self.session_id: str | None = None  # set: issued on initialize, then required on every request
        self.sse = False  # True: answers as a text/event-stream of JSON-RPC messages
        self.page_size = 0  # > 0: tools/list answers in pages of this many tools (nextCursor)

    def __call__(self, request: Recorded) -> tuple[int, dict[str, str], bytes]:
        if request.path == "/oauth2/token":
            if basic_credentials(request) != f"{self.client_id}:{self.secret}":
                return json_response(400, {"error": "invalid_client"})
            return json_response(200, {"access_token": self.token, "token_type": "Bearer", "expires_in": 3600})
        if request.path == GATEWAY_PATH:
            return self.gateway(request)
        expected_path = f"/runtimes/{urllib.parse.quote(self.runtime_arn, safe='')}/invocations?qualifier=DEFAULT"
        assert request.path == expected_path
        assert 33 <= len(request.headers["x-amzn-bedrock-agentcore-runtime-session-id"]) <= 256
        authorization = request.headers.get("authorization")
        if self.accept_anything or (authorization == f"Bearer {self.token}" and not self.refuse_tokens):
            warranty = "warranty" in json.loads(request.body)["prompt"]
            chunks: list[Any] = ["PROD-001 warranty: active"] if warranty else list(ANSWER_CHUNKS)
            if self.echo_authorization:
                token = (authorization or "").removeprefix("Bearer ")
                chunks = [f"You sent {authorization}; part of it: {token[10:30]} and {token[-12:]}", *chunks]
            if self.stream_error:
                chunks.append({"error": "model failed", "error_type": "ModelThrottledException", "message": "x"})
            used = ["WarrantyCheck___check_warranty"] if warranty and self.gateway_reachable else ["get_return_policy"]
            chunks.append({"metadata": {"toolsUsed": used}})
            body = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks)
            return 200, {"Content-Type": "text/event-stream"}, body.encode()
        if authorization is None:
            return 401, {"WWW-Authenticate": 'Bearer resource_metadata="x"', "Content-Type": "application/json"}, b"{}"
        return 403, {"Content-Type": "application/json"}, b'{"message": "invalid token"}'

    def gateway(self, request: Recorded) -> tuple[int, dict[str, str], bytes]:
        authorization = request.headers.get("authorization")
        if request.method == "DELETE":
            assert request.headers.get("mcp-session-id") == self.session_id
            return 200, {}, b""
        message = json.loads(request.body)
        assert request.headers["accept"] == "application/json, text/event-stream"
        if not self.gateway_open and authorization != f"Bearer {self.token}":
            error = {"jsonrpc": "2.0", "id": message.get("id"), "error": {"code": -32001, "message": "denied"}}
            if authorization is None:
                return 401, {"WWW-Authenticate": 'Bearer resource_metadata="x"'}, json.dumps(error).encode()
            return 403, {"Content-Type": "application/json"}, json.dumps(error).encode()
        method, params = message["method"], message.get("params") or {}
        headers: dict[str, str] = {}
        if method == "initialize":
            assert "mcp-protocol-version" not in request.headers
            if self.session_id:
                headers["Mcp-Session-Id"] = self.session_id
            return self.rpc(message, {"protocolVersion": self.gateway_version, "capabilities": {}}, headers)
        # After initialize: the negotiated version and the issued session on every request.
        assert request.headers.get("mcp-protocol-version") == self.gateway_version
        assert request.headers.get("mcp-session-id") == self.session_id
        if method == "notifications/initialized":
            assert "id" not in message
            return 202, {}, b""
        if method == "tools/list":
            start = int(params.get("cursor") or 0)
            end = start + self.page_size if self.page_size else len(self.gateway_tools)
            result: dict[str, Any] = {"tools": [{"name": n, "inputSchema": {}} for n in self.gateway_tools[start:end]]}
            if end < len(self.gateway_tools):
                result["nextCursor"] = str(end)
            return self.rpc(message, result)
        if method == "tools/call":
            assert params == {"name": WARRANTY_TOOL, "arguments": {"product_id": "PROD-001"}}
            text = json.dumps({"errorType": "RuntimeError"} if self.tool_error else self.tool_result)
            return self.rpc(message, {"content": [{"type": "text", "text": text}], "isError": self.tool_error})
        raise AssertionError(f"unexpected MCP method {method}")

    def rpc(
        self, message: dict[str, Any], result: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        answer = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        if self.sse:
            body = f"event: message\ndata: {json.dumps(answer)}\n\n".encode()
            return 200, {"Content-Type": "text/event-stream", **(headers or {})}, body
        return 200, {"Content-Type": "application/json", **(headers or {})}, json.dumps(answer).encode()


@pytest.fixture
def agentcore(cognito: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalServer, FakeAgentCore]]:
    fake = FakeAgentCore(cognito["client_id"], cognito["secret"])
    with local_http_server(fake) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", server.base_url)
        yield server, fake


def smoke_config(cognito: dict[str, str], server: LocalServer, tool_check: str = "require") -> Config:
    # The parts of $.config the smoke test reads.
    partial = {
        "settings": {"targetName": "WarrantyCheck", "agentToolCheck": tool_check},
        "runtime": {"id": "CustomerSupport-abcdefghij", "arn": RUNTIME_ARN},
        "cognito": {
            "poolId": cognito["pool_id"],
            "clientId": cognito["client_id"],
            "discoveryUrl": f"{server.base_url}/{cognito['pool_id']}/.well-known/openid-configuration",
            "tokenUrl": f"{server.base_url}/oauth2/token",
            "scopes": [SCOPE],
        },
    }
    return cast(Config, partial)


def deployed_for(cognito: dict[str, str], server: LocalServer) -> Deployment:
    """A stack deployed in sandbox mode for this pool, with this loopback server as its Cognito and gateway plane."""
    return replace(
        deployment_from_environment(DEFAULT_ENV),
        userPoolId=cognito["pool_id"],
        sandboxCognitoEndpoint=server.base_url,
        sandboxGatewayEndpoint=server.base_url,
    )


def new_gateway(url: str | None = GATEWAY_URL, gateway_id: str = GATEWAY_ID) -> dict[str, Any]:
    """The new gateway as the rollout's state carries it ($.secured.gateway)."""
    return {"id": gateway_id, "name": "my-gateway-secure", "url": url}


def smoke_failure(
    cognito: dict[str, str], server: LocalServer, config: Config | None = None, diagnose: Any = None
) -> str:
    """Runs the smoke test, which must fail: the failure's message."""
    with pytest.raises(SmokeTestFailed) as caught:
        run_smoke(cognito, server, config, diagnose=diagnose)
    return str(caught.value)


def run_smoke(
    cognito: dict[str, str],
    server: LocalServer,
    config: Config | None = None,
    gateway: dict[str, Any] | None = None,
    diagnose: Any = None,
) -> Any:
    return app.smoke_test(
        config or smoke_config(cognito, server),
        RUNTIME_ARN,
        gateway or new_gateway(),
        deployed_for(cognito, server),
        "us-east-1",
        boto3.client("cognito-idp"),
        diagnose=diagnose,
    )


def gateway_requests(server: LocalServer) -> list[tuple[str, str | None, str | None]]:
    """(HTTP method or JSON-RPC method, the Authorization kind, the session header) of every gateway request."""
    seen = []
    for request in server.requests:
        if request.path != GATEWAY_PATH:
            continue
        method = request.method if request.method != "POST" else json.loads(request.body)["method"]
        authorization = request.headers.get("authorization")
        kind = None if authorization is None else "minted" if authorization == f"Bearer {MINTED}" else "other"
        seen.append((method, kind, request.headers.get("mcp-session-id")))
    return seen


def test_smoke_test_passes_against_a_locked_down_runtime(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any]
) -> None:
    server, fake = agentcore
    assert app.data_plane_endpoint() == server.base_url
    report = run_smoke(cognito, server)
    assert report["passed"] is True
    assert report["withToken"]["status"] == 200
    assert report["withToken"]["contentType"] == "text/event-stream"
    assert report["withToken"]["answerExcerpt"] == ANSWER
    assert report["withToken"]["streamedBytes"] > len(ANSWER)
    assert report["withoutToken"]["status"] == 401
    assert report["withoutToken"]["wwwAuthenticate"] is True
    assert report["tamperedToken"]["status"] == 403
    assert report["withToken"]["toolsUsed"] == ["get_return_policy"]
    assert report["warranty"]["status"] == 200
    assert report["warranty"]["toolsUsed"] == ["WarrantyCheck___check_warranty"]
    assert report["warranty"]["expectedTool"] == "WarrantyCheck___check_warranty"
    assert report["agentToolCheck"] == "require"
    assert report["warranty"]["gatewayToolUsed"] is True
    for key in ("withToken", "withoutToken", "tamperedToken", "warranty"):
        assert report[key]["endpoint"] == "runtime"
        assert report[key]["expected"]
    gateway = report["gateway"]
    assert gateway["url"] == GATEWAY_URL
    assert gateway["expectedTool"] == WARRANTY_TOOL
    for key in ("withoutToken", "tamperedToken", "initialize", "initialized", "toolsList", "toolsCall"):
        assert gateway[key]["endpoint"] == "gateway"
        assert gateway[key]["expected"]
        assert gateway[key]["passed"] is True
    assert (gateway["withoutToken"]["status"], gateway["withoutToken"]["wwwAuthenticate"]) == (401, True)
    assert gateway["tamperedToken"]["status"] == 403
    assert (gateway["initialize"]["status"], gateway["initialize"]["protocolVersion"]) == (200, "2025-03-26")
    assert gateway["initialize"]["sessionIssued"] is False
    assert gateway["initialized"]["status"] == 202
    assert gateway["toolsList"]["tools"] == [WARRANTY_TOOL, SHIPPING_TOOL]
    assert (gateway["toolsCall"]["status"], gateway["toolsCall"]["tools"]) == (200, [WARRANTY_TOOL])
    assert gateway["toolsCall"]["isError"] is False
    assert json.loads(gateway["toolsCall"]["answerExcerpt"]) == WARRANTY_ANSWER
    # Refused without and with a forged token; then one MCP conversation with the minted token.
    assert gateway_requests(server) == [
        ("initialize", None, None),
        ("initialize", "other", None),
        ("initialize", "minted", None),
        ("notifications/initialized", "minted", None),
        ("tools/list", "minted", None),
        ("tools/call", "minted", None),
    ]
    assert server.errors == []
    assert [r.path for r in server.requests].count("/oauth2/token") == 1  # minted once for every call
    serialized = json.dumps(report)
    assert cognito["secret"] not in serialized
    assert fake.token not in serialized


def test_smoke_test_fails_when_the_runtime_is_open(cognito: dict[str, str], agentcore: tuple[LocalServer, Any]) -> None:
    server, fake = agentcore
    fake.accept_anything = True
    message = smoke_failure(cognito, server)
    assert message == ("without a token: expected 401, got 200; with a tampered token: expected 401 or 403, got 200")
    assert fake.token not in message


def test_smoke_test_with_wrong_secret_never_invokes(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any]
) -> None:
    server, fake = agentcore
    fake.secret = "rotated"
    with pytest.raises(TokenRequestFailed, match="answered 400 \\(invalid_client\\)") as caught:
        run_smoke(cognito, server)
    assert cognito["secret"] not in str(caught.value)
    assert [r.path for r in server.requests] == ["/oauth2/token"]


class StubControl:
    """GetGateway of the new gateway (what auth_doctor reads), or a failure to read it."""

    def __init__(self, gateway: dict[str, Any] | None, code: str | None = None) -> None:
        self.gateway, self.code, self.calls = gateway, code, 0

    def get_gateway(self, gatewayIdentifier: str) -> dict[str, Any]:
        self.calls += 1
        if self.code:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "GetGateway")
        assert gatewayIdentifier == GATEWAY_ID
        return dict(self.gateway or {})


def doctor_records(cognito: dict[str, str], server: LocalServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The runtime and the new gateway as the rollout secures them, for the deployed client and scope."""
    discovery = f"{server.base_url}/{cognito['pool_id']}/.well-known/openid-configuration"
    authorizer = jwt_authorizer(discovery, cognito["client_id"], [SCOPE])
    runtime = {
        "agentRuntimeArn": RUNTIME_ARN,
        "agentRuntimeName": "CustomerSupport",
        "authorizerConfiguration": authorizer,
        "requestHeaderConfiguration": {"requestHeaderAllowlist": ["Authorization"]},
    }
    gateway = {"gatewayId": GATEWAY_ID, "name": "my-gateway-secure", "authorizerType": "CUSTOM_JWT"}
    return runtime, {**gateway, "authorizerConfiguration": authorizer}


def rs256_token(cognito: dict[str, str], server: LocalServer, client_id: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {
        "iss": f"{server.base_url}/{cognito['pool_id']}",
        "client_id": client_id,
        "sub": client_id,
        "token_use": "access",
        "scope": SCOPE,
        "iat": int(time.time()),
        "exp": int(time.time()) + 3600,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "unit"})


def test_a_failed_smoke_test_names_the_auth_doctors_verdict_never_the_token(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any]
) -> None:
    """The token endpoint hands out a token of another client: the runtime and the gateway refuse it (403), and the
    failure says which check of which authorizer refuses it."""
    server, fake = agentcore
    fake.token = rs256_token(cognito, server, "another-client-0123456789")
    fake.refuse_tokens = True
    runtime, gateway = doctor_records(cognito, server)
    control = StubControl(gateway)
    message = smoke_failure(cognito, server, diagnose=app.auth_doctor(as_agentcore(control), runtime, GATEWAY_ID))
    assert message.startswith("with a valid token: expected 2xx and a streamed answer without error events, got 403")
    allowed = f"is not in allowedClients ['{cognito['client_id']}']"
    assert f"; auth doctor: runtime.client (403): client_id 'another-client-0123456789' {allowed}" in message
    assert f"; gateway.client (403): client_id 'another-client-0123456789' {allowed}" in message
    assert control.calls == 1
    for secret in (fake.token, fake.token.split(".")[2], fake.token.split(".")[2][:16], cognito["secret"]):
        assert secret not in message


def test_the_auth_doctor_says_when_the_token_fits_and_when_the_gateway_cannot_be_read(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any]
) -> None:
    server, fake = agentcore
    fake.token = rs256_token(cognito, server, cognito["client_id"])
    fake.refuse_tokens = True  # refused for a reason the claims do not show (e.g. a key the JWKS lacks)
    runtime, _ = doctor_records(cognito, server)
    diagnose = app.auth_doctor(as_agentcore(StubControl(None, "AccessDeniedException")), runtime, GATEWAY_ID)
    message = smoke_failure(cognito, server, diagnose=diagnose)
    assert message.endswith(
        "auth doctor: every check passes: the token fits the authorizers, the cause is elsewhere "
        f"(gateway {GATEWAY_ID} not read: AgentCoreReadFailed)"
    )
    assert fake.token not in message


def test_a_passing_smoke_test_never_runs_the_auth_doctor(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any]
) -> None:
    server, _ = agentcore
    called: list[str] = []

    def diagnose(token: str) -> str:
        called.append("doctor")
        return ""

    report = run_smoke(cognito, server, diagnose=diagnose)
    assert report["passed"] is True
    assert called == []


class RecordingCognitoIdp:
    """The real (moto) client, recording which operations the smoke test called."""

    def __init__(self) -> None:
        self.client = boto3.client("cognito-idp")
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.client, name)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tokenUrl", "https://collector.example.net/oauth2/token"),
        ("tokenUrl", "http://127.0.0.1:9/oauth2/token"),
        ("poolId", "us-east-1_Other9999"),
        ("discoveryUrl", "https://issuer.example.net/.well-known/openid-configuration"),
    ],
)
def test_smoke_test_refuses_endpoints_the_deployment_did_not_derive_before_reading_the_secret(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any], key: str, value: str
) -> None:
    server, _ = agentcore
    config = smoke_config(cognito, server)
    cast(dict[str, str], config["cognito"])[key] = value  # a str key: the parametrized field
    idp: Any = RecordingCognitoIdp()
    with pytest.raises(InvalidConfiguration):
        app.smoke_test(config, RUNTIME_ARN, new_gateway(), deployed_for(cognito, server), "us-east-1", idp)
    assert "describe_user_pool_client" not in idp.calls
    assert server.requests == []


def test_smoke_report_never_copies_token_text_an_agent_echoes(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any]
) -> None:
    server, fake = agentcore
    fake.echo_authorization = True
    report = run_smoke(cognito, server)
    serialized = json.dumps(report)
    assert "You sent" in report["withToken"]["answerExcerpt"]  # the excerpt is there, redacted
    for fragment_start in range(0, len(fake.token) - 8):
        assert fake.token[fragment_start : fragment_start + 8] not in serialized
    assert cognito["secret"] not in serialized


def test_smoke_test_fails_on_an_error_event_in_the_answer_stream(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any]
) -> None:
    server, fake = agentcore
    fake.stream_error = True
    with pytest.raises(SmokeTestFailed, match=r"error event\(s\) \['ModelThrottledException'\]"):
        run_smoke(cognito, server)


def test_debug_logging_everywhere_never_prints_the_secret(
    cognito: dict[str, str], agentcore: tuple[LocalServer, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    """Lambda's application log level DEBUG sets the root logger to DEBUG: botocore would log the response body."""
    server, fake = agentcore
    root = logging.getLogger()
    handler = logging.StreamHandler()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("botocore", "botocore.parsers", "botocore.endpoint", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)  # as if someone turned wire logging on
    try:
        report = run_smoke(cognito, server)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
    output = capfd.readouterr()
    assert report["passed"] is True
    assert cognito["secret"] not in output.out + output.err
    assert fake.token not in output.out + output.err


def test_invoke_unreachable() -> None:
    url = app.invocation_url(closed_port_url(), RUNTIME_ARN)
    with pytest.raises(SmokeTestFailed, match="unreachable: URLError") as caught:
        app.invoke(url, "s" * 40, "token")
    assert "qualifier" not in str(caught.value)


def test_smoke_handler(
    cognito: dict[str, str],
    agentcore: tuple[LocalServer, Any],
    context: LambdaContext,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, fake = agentcore
    client = agentcore_control()
    runtime = client.create_agent_runtime(
        agentRuntimeName="CustomerSupport",
        agentRuntimeArtifact=cast("AgentRuntimeArtifactTypeDef", RUNTIME_ARTIFACT),
        roleArn=RUNTIME_ROLE,
        networkConfiguration=cast("NetworkConfigurationTypeDef", RUNTIME_NETWORK),
    )
    fake.runtime_arn = runtime["agentRuntimeArn"]  # the handler reads the ARN from the control plane
    config = smoke_config(cognito, server)
    config["runtime"]["id"] = runtime["agentRuntimeId"]
    for name, value in DEFAULT_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ROLLOUT_USER_POOL_ID", cognito["pool_id"])
    monkeypatch.setenv("ROLLOUT_SANDBOX_COGNITO_ENDPOINT", server.base_url)
    monkeypatch.setenv("ROLLOUT_SANDBOX_GATEWAY_ENDPOINT", server.base_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    # The whole rollout state: the gateway to check is the one this execution built.
    state = {"config": config, "plan": {}, "secured": {"gateway": new_gateway()}}
    report = app.lambda_handler({"state": state, "executionArn": "arn:execution"}, context)
    assert report["passed"] is True
    assert report["runtimeArn"] == runtime["agentRuntimeArn"]
    assert report["gateway"]["url"] == GATEWAY_URL
    output = capsys.readouterr().out
    assert "SmokeLatency" in output  # the EMF metric was flushed
    assert cognito["secret"] not in output
    assert fake.token not in output


# --- the gateway, checked directly over MCP ---------------------------------------------------------------------


@pytest.mark.parametrize("tool_check", ["require", "answer"])
def test_agent_tool_check_decides_whether_the_agent_must_use_the_gateway_tool(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore], tool_check: str
) -> None:
    """The agent answers the warranty question without the gateway tool (as a Bedrock model may)."""
    server, fake = agentcore
    fake.gateway_reachable = False
    config = smoke_config(cognito, server, tool_check)
    if tool_check == "require":
        message = smoke_failure(cognito, server, config)
        assert message.startswith("warranty question (agentToolCheck=require): expected a 2xx answer from")
        assert "gateway tool WarrantyCheck___check_warranty" in message
        assert "['get_return_policy']" in message
        assert fake.token not in message
    else:
        report = run_smoke(cognito, server, config)
        assert report["passed"] is True
        assert report["agentToolCheck"] == "answer"
        assert report["warranty"]["gatewayToolUsed"] is False
        assert report["warranty"]["expected"] == "2xx answer without error events (any tool)"
    # Either way the gateway itself was proven with the token.
    assert ("tools/call", "minted", None) in gateway_requests(server)


def test_agent_tool_check_defaults_to_the_deployment(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, fake = agentcore
    fake.gateway_reachable = False
    config = smoke_config(cognito, server)
    del cast(dict[str, Any], config["settings"])["agentToolCheck"]  # an older deployment's settings
    assert run_smoke(cognito, server, config)["agentToolCheck"] == "answer"  # DEFAULT_ENV's value


def test_a_gateway_tool_error_fails_even_when_the_agent_answers(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, fake = agentcore
    fake.tool_error = True
    message = smoke_failure(cognito, server, smoke_config(cognito, server, "answer"))
    assert message == (
        "gateway tools/call WarrantyCheck___check_warranty: expected 2xx with a tool answer (not an error result) for "
        "{'product_id': 'PROD-001'}, got 200 with an error result"
    )


def test_a_gateway_without_the_warranty_tool_fails_and_is_not_called(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, fake = agentcore
    fake.gateway_tools = [SHIPPING_TOOL]
    with pytest.raises(SmokeTestFailed, match=r"^gateway tools/list: expected 2xx listing WarrantyCheck___check_"):
        run_smoke(cognito, server)
    assert "tools/call" not in [method for method, _, _ in gateway_requests(server)]


def test_the_tool_name_follows_the_target_name_setting(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, _ = agentcore
    config = smoke_config(cognito, server, "answer")
    config["settings"]["targetName"] = "Warranty-Lookup"
    message = smoke_failure(cognito, server, config)
    assert "expected 2xx listing Warranty-Lookup___check_warranty" in message


def test_an_open_gateway_fails_the_rejection_checks(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, fake = agentcore
    fake.gateway_open = True
    message = smoke_failure(cognito, server)
    assert message == (
        "gateway without a token: expected 401, got 200; gateway with a tampered token: expected 401 or 403, got 200"
    )


def test_the_gateways_session_and_sse_answers_and_pages_are_honoured(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, fake = agentcore
    fake.session_id = "7f0e0b3c9d2a4e51"
    fake.sse = True
    fake.page_size = 1
    fake.gateway_version = "2025-06-18"
    report = run_smoke(cognito, server)
    gateway = report["gateway"]
    assert gateway["initialize"]["sessionIssued"] is True
    assert gateway["initialize"]["protocolVersion"] == "2025-06-18"
    assert gateway["toolsList"]["tools"] == [WARRANTY_TOOL, SHIPPING_TOOL]
    assert gateway["toolsCall"]["contentType"] == "text/event-stream"
    session = fake.session_id
    assert gateway_requests(server)[2:] == [
        ("initialize", "minted", None),
        ("notifications/initialized", "minted", session),
        ("tools/list", "minted", session),
        ("tools/list", "minted", session),  # nextCursor followed
        ("tools/call", "minted", session),
        ("DELETE", "minted", session),  # the session is ended
    ]
    assert server.errors == []


def test_a_protocol_version_this_client_does_not_speak_fails_initialize(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, fake = agentcore
    fake.gateway_version = "2024-11-05"
    message = smoke_failure(cognito, server)
    assert "gateway initialize with the token" in message
    assert "'2024-11-05'" in message
    assert [m for m, _, _ in gateway_requests(server)] == ["initialize"] * 3  # nothing sent after a failed handshake


def test_a_tool_answer_echoing_the_token_is_redacted(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, fake = agentcore
    fake.tool_result = {"note": f"you sent {fake.token}", "product_id": "PROD-001"}
    report = run_smoke(cognito, server)
    serialized = json.dumps(report)
    assert "PROD-001" in report["gateway"]["toolsCall"]["answerExcerpt"]
    for start in range(0, len(fake.token) - 8):
        assert fake.token[start : start + 8] not in serialized


@pytest.mark.parametrize(
    ("gateway", "named"),
    [
        pytest.param(new_gateway(url="https://collector.example.net/mcp"), "collector.example.net", id="foreign-url"),
        pytest.param(new_gateway(url=GATEWAY_URL.replace("us-east-1", "eu-west-1")), "eu-west-1", id="other-region"),
        pytest.param(new_gateway(url=None), "None", id="no-url"),
        pytest.param(
            new_gateway(
                url="https://other-team-gw-k3j4h5g6f7.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp",
                gateway_id="other-team-gw-k3j4h5g6f7",
            ),
            "other-team-gw-k3j4h5g6f7",
            id="other-gateway-name",
        ),
    ],
)
def test_the_token_goes_only_to_the_deployed_gateways_own_url(
    cognito: dict[str, str],
    agentcore: tuple[LocalServer, FakeAgentCore],
    gateway: dict[str, Any],
    named: str,
) -> None:
    server, _ = agentcore
    idp: Any = RecordingCognitoIdp()
    with pytest.raises(InvalidConfiguration) as caught:
        app.smoke_test(
            smoke_config(cognito, server), RUNTIME_ARN, gateway, deployed_for(cognito, server), "us-east-1", idp
        )
    assert named in str(caught.value)
    assert "describe_user_pool_client" not in idp.calls  # refused before the secret is read
    assert server.requests == []


def test_without_a_sandbox_endpoint_the_gateway_is_called_at_its_aws_url() -> None:
    deployment = deployment_from_environment(DEFAULT_ENV)
    assert app.gateway_endpoint(new_gateway(), deployment, "us-east-1") == (GATEWAY_URL, GATEWAY_URL)


def test_the_gateway_to_check_comes_from_the_rollout_state() -> None:
    built = new_gateway()
    found = {**new_gateway(), "status": "READY"}
    assert app.new_gateway({"plan": {"gateway": {"existing": found}}, "secured": {"gateway": built}}) == built
    assert app.new_gateway({"plan": {"gateway": {"existing": found}}}) == found  # a no-op run
    with pytest.raises(SmokeTestFailed, match="names no new gateway"):
        app.new_gateway({"plan": {"gateway": {"existing": None}}})


def test_an_unreachable_gateway_is_named_by_its_aws_url(
    cognito: dict[str, str], agentcore: tuple[LocalServer, FakeAgentCore]
) -> None:
    server, _ = agentcore
    deployment = replace(deployed_for(cognito, server), sandboxGatewayEndpoint=closed_port_url())
    with pytest.raises(SmokeTestFailed) as caught:
        app.smoke_test(
            smoke_config(cognito, server),
            RUNTIME_ARN,
            new_gateway(),
            deployment,
            "us-east-1",
            boto3.client("cognito-idp"),
        )
    assert str(caught.value) == f"gateway {GATEWAY_URL} (initialize) unreachable: URLError"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        pytest.param('{"jsonrpc": "2.0", "id": 3, "result": {}}', "application/json", {}, id="json"),
        pytest.param(
            '[{"jsonrpc": "2.0", "id": 2, "result": {"a": 1}}, {"jsonrpc": "2.0", "id": 3, "result": {"b": 2}}]',
            "application/json",
            {"b": 2},
            id="batch",
        ),
        pytest.param(
            'event: message\ndata: {"jsonrpc": "2.0", "method": "notifications/progress"}\n\n'
            'data: {"jsonrpc": "2.0", "id": 3,\ndata:  "result": {"c": 3}}\n\n',
            "text/event-stream",
            {"c": 3},
            id="sse-after-a-notification-multi-line",
        ),
        pytest.param('{"jsonrpc": "2.0", "id": 4, "result": {}}', "application/json", None, id="other-id"),
        pytest.param("<html>bad gateway</html>", "text/html", None, id="not-json"),
    ],
)
def test_jsonrpc_response_finds_the_answer_to_this_request(
    body: str, content_type: str, expected: dict[str, Any] | None
) -> None:
    found = app.jsonrpc_response(body.encode(), content_type, 3)
    assert (found or {}).get("result") == expected
