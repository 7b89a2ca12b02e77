"""The loopback AgentCore Gateway data plane: real MCP clients, the live gateway record's authorizer, Lambda targets."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import boto3
import httpx
import httpx2
import jwt
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends
from strands.tools.mcp import MCPClient

from sandbox.agent_host import AgentProcessPool
from sandbox.behaviour import AgentCoreBehaviour, ManualClock, read_until
from sandbox.cognito import CognitoServer
from sandbox.gateway_dataplane import AUTH_ERROR_CODE, MCP_SESSION_ID_HEADER, GatewayDataPlane
from sandbox.jwt_verify import MAX_TOKEN_CHARS
from sandbox.lambdas import FunctionCode, InProcessLambdas
from sandbox.prerequisites.warranty_check.app import check_warranty
from sandbox.runtime_dataplane import RuntimeDataPlane
from sandbox.seed import PREREQUISITES, SHIPPING_SCHEMA, WARRANTY_SCHEMA
from tests.rollout_checks import mcp_initialize
from tests.sandbox.helpers import (
    ACCOUNT_ID,
    REGION,
    STANDIN_AGENT,
    Pool,
    assert_not_leaked,
    create_client,
    fetch_token,
    invoke_headers,
    jwt_authorizer,
)

T = TypeVar("T")
MakeGateway = Callable[..., dict[str, Any]]
REPO_ROOT = Path(__file__).resolve().parents[2]
WARRANTY_TOOL = "WarrantyCheck___check_warranty"
CLIENT_TIMEOUT = 15.0
GATEWAY_ENV = "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"
# Test-only Lambdas: one raises (a function error), one echoes what AgentCore hands a target.
TEST_HANDLERS = {
    "failing": "def lambda_handler(event, context):\n    raise ValueError('warranty database unavailable')\n",
    "echo": (
        "def lambda_handler(event, context):\n"
        "    return {'event': event, 'tool': context.client_context.custom.get('bedrockAgentCoreToolName')}\n"
    ),
}
ECHO_SCHEMA = [{"name": "echo", "description": "Echo the event.", "inputSchema": {"type": "object"}}]


CLOCK = ManualClock()
MINUTE = 60.0  # longer than any transition of the default latency profile


# -- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def behaviour(aws: None) -> Iterator[AgentCoreBehaviour]:
    agentcore = AgentCoreBehaviour(clock=CLOCK)  # AWS ids/URLs, DELETING, CREATING until the test moves time on
    agentcore.install()
    try:
        yield agentcore
    finally:
        agentcore.uninstall()


@pytest.fixture(scope="module")
def lambdas(aws: None) -> Iterator[InProcessLambdas]:
    runner = InProcessLambdas(ACCOUNT_ID, REGION)
    runner.install()
    try:
        yield runner
    finally:
        runner.uninstall()


@pytest.fixture(scope="module")
def functions(
    lambdas: InProcessLambdas, boto_session: boto3.session.Session, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Lambda ARNs by short name: the tutorial's two tools plus the failing and echoing test functions."""
    iam = boto_session.client("iam")
    role = iam.create_role(
        RoleName="GatewayTestLambdaRole",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    code_dirs = {"warranty": PREREQUISITES / "warranty_check", "shipping": PREREQUISITES / "shipping_estimate"}
    for name, source in TEST_HANDLERS.items():
        code_dir = tmp_path_factory.mktemp(f"lambda-{name}")
        (code_dir / "app.py").write_text(source)
        code_dirs[name] = code_dir
    lambda_client = boto_session.client("lambda")
    arns = {}
    for name, code_dir in code_dirs.items():
        function_name = f"GatewayTest{name.title()}"
        arns[name] = lambda_client.create_function(
            FunctionName=function_name,
            Runtime="python3.13",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": _zip(code_dir / "app.py")},  # the in-process runner runs it from code_dir
        )["FunctionArn"]
        lambdas.register(function_name, FunctionCode(code_dir))
    return arns


@pytest.fixture(scope="module")
def plane(aws: None) -> Iterator[GatewayDataPlane]:
    with GatewayDataPlane(ACCOUNT_ID, REGION) as gateway_plane:
        yield gateway_plane


def _zip(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(path, path.name)
    return buffer.getvalue()


def _settle(read: Callable[[], dict[str, Any]], what: str) -> None:
    read_until(read, what, polls=10, between=lambda: CLOCK.advance(MINUTE))


@pytest.fixture
def make_gateway(control: Any, behaviour: AgentCoreBehaviour, functions: dict[str, str]) -> MakeGateway:
    """Create a gateway + Lambda targets through the control plane API and wait for READY (unless told not to)."""

    def create(
        name: str,
        authorizer: dict[str, Any] | None = None,
        targets: tuple[str, ...] = ("WarrantyCheck", "ShippingEstimate"),
        settle: bool = True,
        mcp: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        settings: dict[str, Any] = {"authorizerType": "NONE"}
        if authorizer is not None:
            settings = {"authorizerType": "CUSTOM_JWT", "authorizerConfiguration": authorizer}
        gateway: dict[str, Any] = control.create_gateway(
            name=name,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/AgentCoreGatewayRole",
            protocolType="MCP",
            protocolConfiguration={"mcp": mcp or {"supportedVersions": ["2025-03-26"]}},
            **settings,
        )
        if not settle:
            return gateway
        gateway_id = gateway["gatewayId"]
        _settle(lambda: control.get_gateway(gatewayIdentifier=gateway_id), f"gateway {name}")
        schemas = {
            "WarrantyCheck": (functions["warranty"], json.loads(WARRANTY_SCHEMA.read_text())),
            "ShippingEstimate": (functions["shipping"], SHIPPING_SCHEMA),
            "Broken": (functions["failing"], [{**ECHO_SCHEMA[0], "name": "check"}]),
            "Echo": (functions["echo"], ECHO_SCHEMA),
        }
        for target_name in targets:
            arn, schema = schemas[target_name]
            target = control.create_gateway_target(
                gatewayIdentifier=gateway_id,
                name=target_name,
                targetConfiguration={"mcp": {"lambda": {"lambdaArn": arn, "toolSchema": {"inlinePayload": schema}}}},
                credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
            )
            _settle(
                functools.partial(
                    control.get_gateway_target, gatewayIdentifier=gateway_id, targetId=target["targetId"]
                ),
                f"target {target_name}",
            )
        return dict(control.get_gateway(gatewayIdentifier=gateway_id))  # gatewayUrl: GetGateway has it, create not

    return create


def gateway_record(gateway_id: str) -> Any:
    """moto's live record of a gateway (tests change it directly, as a finished update would)."""
    return bedrockagentcorecontrol_backends[ACCOUNT_ID][REGION].gateways[gateway_id]


# -- clients ---------------------------------------------------------------------------------------------------


def sdk_session(url: str, token: str | None, use: Callable[[ClientSession], Awaitable[T]]) -> T:
    """Run `use` on an initialized `mcp` SDK ClientSession whose HTTP client sends the token (like the agent's)."""

    async def run() -> T:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            httpx2.AsyncClient(
                headers=headers, timeout=CLIENT_TIMEOUT, follow_redirects=False, trust_env=False
            ) as http,
            streamable_http_client(url, http_client=http) as (read, write, *_),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await use(session)

    try:
        return asyncio.run(asyncio.wait_for(run(), CLIENT_TIMEOUT))
    except BaseExceptionGroup as group:
        # The client's task groups wrap what went wrong; tests assert on the error itself.
        leaf: BaseException = group
        while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
            leaf = leaf.exceptions[0]
        raise leaf from None


def strands_client(url: str, token: str | None) -> MCPClient:
    """strands' MCPClient over the same kind of transport the agent builds (agent/mcp_client/client.py)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    @asynccontextmanager
    async def transport() -> AsyncIterator[Any]:
        async with (
            httpx2.AsyncClient(
                headers=headers, timeout=CLIENT_TIMEOUT, follow_redirects=False, trust_env=False
            ) as http,
            streamable_http_client(url, http_client=http) as streams,
        ):
            yield streams

    factory: Callable[[], AbstractAsyncContextManager[Any]] = transport
    return MCPClient(factory, startup_timeout=int(CLIENT_TIMEOUT))


def post_initialize(http: httpx.Client, url: str, token: str | None = None) -> httpx.Response:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return http.post(url, headers=headers, json=mcp_initialize("t"))


def text_of(result: types.CallToolResult) -> str:
    (content,) = result.content
    assert isinstance(content, types.TextContent)
    return content.text


async def _list_names(session: ClientSession) -> list[str]:
    return [tool.name for tool in (await session.list_tools()).tools]


# -- open gateway ----------------------------------------------------------------------------------------------


def test_open_gateway_serves_the_mcp_sdk_client(
    plane: GatewayDataPlane, make_gateway: MakeGateway, lambdas: InProcessLambdas
) -> None:
    gateway = make_gateway("open-gateway")
    url = plane.mcp_url(gateway["gatewayId"])

    async def use(session: ClientSession) -> tuple[Any, Any]:
        return await session.list_tools(), await session.call_tool(WARRANTY_TOOL, {"product_id": "PROD-001"})

    tools, result = sdk_session(url, None, use)

    by_name = {tool.name: tool for tool in tools.tools}
    assert set(by_name) == {WARRANTY_TOOL, "ShippingEstimate___estimate_shipping"}
    schema = json.loads(WARRANTY_SCHEMA.read_text())[0]
    assert by_name[WARRANTY_TOOL].description == schema["description"]
    assert by_name[WARRANTY_TOOL].input_schema == schema["inputSchema"]
    assert result.is_error is False
    assert json.loads(text_of(result)) == check_warranty("PROD-001")  # the Lambda handler's answer
    assert lambdas.invocations[-1].function_name == "GatewayTestWarranty"
    calls = [c for c in plane.calls if c.gateway_id == gateway["gatewayId"]]
    assert [c.method for c in calls] == ["initialize", "notifications/initialized", "tools/list", "tools/call"]
    assert {(c.gateway_name, c.client_id, c.reason) for c in calls} == {("open-gateway", None, "ok")}
    assert calls[-1].tool_name == WARRANTY_TOOL
    assert [c.status for c in calls] == [200, 202, 200, 200]


def test_gateway_answers_initialize_with_a_version_of_its_record(
    plane: GatewayDataPlane, make_gateway: MakeGateway, http: httpx.Client
) -> None:
    gateway = make_gateway("versioned-gateway", targets=())
    url = plane.mcp_url(gateway["gatewayId"])
    body = {**mcp_initialize("t", "2025-11-25"), "id": 7}
    headers = {"Accept": "application/json, text/event-stream"}

    answer = http.post(url, headers=headers, json=body)
    modern = http.post(
        url,
        headers={**headers, "MCP-Protocol-Version": "2026-07-28"},
        json={"jsonrpc": "2.0", "id": 8, "method": "server/discover", "params": {}},
    )

    assert answer.status_code == 200
    assert answer.json()["result"]["protocolVersion"] == "2025-03-26"  # the record's supportedVersions
    assert modern.status_code == 400  # the 2026 per-request era is not spoken: clients fall back to initialize
    assert modern.json()["error"]["data"]["supported"] == ["2025-03-26"]


def test_strands_mcp_client_lists_and_calls_tools(plane: GatewayDataPlane, make_gateway: MakeGateway) -> None:
    gateway = make_gateway("strands-open-gateway")

    with strands_client(plane.mcp_url(gateway["gatewayId"]), None) as client:
        names = [tool.tool_name for tool in client.list_tools_sync()]
        result = client.call_tool_sync("tool-use-1", WARRANTY_TOOL, {"product_id": "PROD-001"})

    assert WARRANTY_TOOL in names
    assert result["status"] == "success"
    assert json.loads(result["content"][0]["text"]) == check_warranty("PROD-001")


def test_lambda_gets_the_arguments_and_the_agentcore_tool_name(
    plane: GatewayDataPlane, make_gateway: MakeGateway
) -> None:
    gateway = make_gateway("echo-gateway", targets=("Echo",))

    result = sdk_session(
        plane.mcp_url(gateway["gatewayId"]), None, lambda s: s.call_tool("Echo___echo", {"a": 1, "b": ["x"]})
    )

    assert json.loads(text_of(result)) == {"event": {"a": 1, "b": ["x"]}, "tool": "Echo___echo"}


def test_lambda_function_error_is_a_tool_error(plane: GatewayDataPlane, make_gateway: MakeGateway) -> None:
    gateway = make_gateway("broken-gateway", targets=("Broken",))

    result = sdk_session(plane.mcp_url(gateway["gatewayId"]), None, lambda s: s.call_tool("Broken___check", {}))

    assert result.is_error is True
    error = json.loads(text_of(result))
    assert error == {"errorType": "ValueError", "errorMessage": "warranty database unavailable"}
    record = plane.calls[-1]
    assert (record.method, record.status, record.reason) == ("tools/call", 200, "Lambda function error (ValueError)")


def test_unknown_tool_is_a_jsonrpc_error(plane: GatewayDataPlane, make_gateway: MakeGateway) -> None:
    gateway = make_gateway("unknown-tool-gateway", targets=("WarrantyCheck",))

    with pytest.raises(MCPError, match="Unknown tool") as raised:
        sdk_session(plane.mcp_url(gateway["gatewayId"]), None, lambda s: s.call_tool("WarrantyCheck___nope", {"x": 1}))

    assert raised.value.code == -32602
    assert plane.calls[-1].reason == "unknown tool WarrantyCheck___nope"


def test_only_ready_targets_are_listed(plane: GatewayDataPlane, make_gateway: MakeGateway, control: Any) -> None:
    gateway = make_gateway("pending-target-gateway", targets=("WarrantyCheck",))
    url = plane.mcp_url(gateway["gatewayId"])
    pending = control.create_gateway_target(
        gatewayIdentifier=gateway["gatewayId"],
        name="ShippingEstimate",
        targetConfiguration={
            "mcp": {
                "lambda": {
                    "lambdaArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:GatewayTestShipping",
                    "toolSchema": {"inlinePayload": SHIPPING_SCHEMA},
                }
            }
        },
        credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
    )

    while_creating = sdk_session(url, None, _list_names)
    _settle(
        lambda: control.get_gateway_target(gatewayIdentifier=gateway["gatewayId"], targetId=pending["targetId"]),
        "target",
    )
    once_ready = sdk_session(url, None, _list_names)

    assert while_creating == [WARRANTY_TOOL]
    assert sorted(once_ready) == ["ShippingEstimate___estimate_shipping", WARRANTY_TOOL]


# -- CUSTOM_JWT gateway ----------------------------------------------------------------------------------------


def test_jwt_gateway_with_valid_token_serves_both_clients_and_records_the_caller(
    plane: GatewayDataPlane,
    make_gateway: MakeGateway,
    cognito: CognitoServer,
    pool: Pool,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = make_gateway("jwt-gateway", jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id]))
    url = plane.mcp_url(gateway["gatewayId"])
    token = fetch_token(http, cognito, pool)
    before = len(plane.calls)

    result = sdk_session(url, token, lambda s: s.call_tool(WARRANTY_TOOL, {"product_id": "PROD-001"}))
    with strands_client(url, token) as client:
        names = [tool.tool_name for tool in client.list_tools_sync()]
        strands_result = client.call_tool_sync("tool-use-2", WARRANTY_TOOL, {"product_id": "PROD-001"})

    assert json.loads(text_of(result)) == check_warranty("PROD-001")
    assert WARRANTY_TOOL in names
    assert json.loads(strands_result["content"][0]["text"]) == check_warranty("PROD-001")
    calls = plane.calls[before:]
    # Every request is on record with the verified caller, strands' refused 2026-era probe included.
    assert {c.client_id for c in calls} == {pool.client_id}
    assert ("server/discover", 400) in [(c.method, c.status) for c in calls]
    assert [c.tool_name for c in calls if c.method == "tools/call"] == [WARRANTY_TOOL, WARRANTY_TOOL]
    # The token appears nowhere the data plane keeps or logs.
    assert token not in repr(plane.calls)
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_jwt_gateway_without_token_is_401_with_resource_metadata(
    plane: GatewayDataPlane, make_gateway: MakeGateway, cognito: CognitoServer, pool: Pool, http: httpx.Client
) -> None:
    gateway = make_gateway("jwt-no-token-gateway", jwt_authorizer(cognito, pool.pool_id), targets=())
    gateway_id = gateway["gatewayId"]
    url = plane.mcp_url(gateway_id)

    response = post_initialize(http, url)
    with pytest.raises(MCPError, match="Authentication required"):
        sdk_session(url, None, _list_names)

    assert response.status_code == 401
    assert (
        response.headers["www-authenticate"] == f'Bearer resource_metadata="{plane.resource_metadata_url(gateway_id)}"'
    )
    assert response.json()["error"]["message"] == "Authentication required: missing bearer token"
    metadata = http.get(plane.resource_metadata_url(gateway_id)).json()
    assert metadata == {
        "resource": url,
        "authorization_servers": [cognito.issuer(pool.pool_id)],
        "bearer_methods_supported": ["header"],
    }
    record = plane.calls[-1]
    assert (record.gateway_name, record.method, record.status, record.client_id) == (
        "jwt-no-token-gateway",
        "initialize",
        401,
        None,
    )


@pytest.mark.parametrize("case", ["client not allowed", "expired"])
def test_jwt_gateway_rejects_bad_tokens_with_403(
    plane: GatewayDataPlane,
    make_gateway: MakeGateway,
    cognito: CognitoServer,
    cognito_idp: Any,
    pool: Pool,
    http: httpx.Client,
    lambdas: InProcessLambdas,
    case: str,
) -> None:
    gateway = make_gateway(
        f"jwt-reject-{case.replace(' ', '-')}", jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    )
    url = plane.mcp_url(gateway["gatewayId"])
    if case == "expired":
        token = cognito.mint_token(pool.client_id, lifetime=-120)
        expected = "token expired"
    else:
        other_id, other_secret = create_client(cognito_idp, pool.pool_id, name=f"other-{case[:6]}")
        token = fetch_token(http, cognito, Pool(pool.pool_id, other_id, other_secret))
        expected = f"client {other_id!r} is not in allowedClients"
    invocations = len(lambdas.invocations)

    response = post_initialize(http, url, token)
    with pytest.raises(MCPError, match="Authorization failed"):
        sdk_session(url, token, lambda s: s.call_tool(WARRANTY_TOOL, {"product_id": "PROD-001"}))

    assert response.status_code == 403
    assert response.json()["error"]["message"] == f"Authorization failed: {expected}"
    assert "www-authenticate" not in response.headers
    assert token not in response.text
    assert len(lambdas.invocations) == invocations  # refused before any target ran
    assert {(c.status, c.client_id) for c in plane.calls[-2:]} == {(403, None)}


def test_authorizer_changes_on_the_record_apply_to_the_next_request(
    plane: GatewayDataPlane,
    make_gateway: MakeGateway,
    cognito: CognitoServer,
    pool: Pool,
    http: httpx.Client,
) -> None:
    gateway = make_gateway("changing-gateway", targets=("WarrantyCheck",))
    url = plane.mcp_url(gateway["gatewayId"])
    token = fetch_token(http, cognito, pool)
    record = gateway_record(gateway["gatewayId"])

    open_status = post_initialize(http, url).status_code
    record.authorizer_type = "CUSTOM_JWT"
    record.authorizer_configuration = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    secured = (post_initialize(http, url).status_code, post_initialize(http, url, token).status_code)
    tools = sdk_session(url, token, _list_names)
    record.authorizer_configuration = jwt_authorizer(cognito, pool.pool_id, allowedClients=["someone-else"])
    narrowed = post_initialize(http, url, token).status_code

    assert open_status == 200
    assert secured == (401, 200)
    assert tools == [WARRANTY_TOOL]
    assert narrowed == 403


# -- gateway lifecycle -----------------------------------------------------------------------------------------


def test_unknown_and_deleted_gateways_are_404(
    plane: GatewayDataPlane, make_gateway: MakeGateway, control: Any, http: httpx.Client
) -> None:
    gateway = make_gateway("doomed-gateway", targets=("WarrantyCheck",))
    gateway_id = gateway["gatewayId"]
    url = plane.mcp_url(gateway_id)
    assert post_initialize(http, url).status_code == 200

    for target in control.list_gateway_targets(gatewayIdentifier=gateway_id)["items"]:
        control.delete_gateway_target(gatewayIdentifier=gateway_id, targetId=target["targetId"])
        for _ in range(5):  # target deletion is asynchronous too: DELETING -> gone once its time has passed
            try:
                control.get_gateway_target(gatewayIdentifier=gateway_id, targetId=target["targetId"])
            except control.exceptions.ResourceNotFoundException:
                break
            CLOCK.advance(MINUTE)
        else:
            raise AssertionError("target deletion never finished")
    control.delete_gateway(gatewayIdentifier=gateway_id)
    while_deleting = post_initialize(http, url)
    for _ in range(5):  # DELETING -> gone once its time has passed
        try:
            control.get_gateway(gatewayIdentifier=gateway_id)
        except control.exceptions.ResourceNotFoundException:
            break
        CLOCK.advance(MINUTE)
    else:
        raise AssertionError("gateway deletion never finished")
    after_deletion = post_initialize(http, url)
    unknown = post_initialize(http, plane.mcp_url("no-such-gateway-abcdefghij"))

    assert (while_deleting.status_code, after_deletion.status_code, unknown.status_code) == (404, 404, 404)
    assert after_deletion.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert unknown.json()["error"]["message"] == "Gateway no-such-gateway-abcdefghij not found"
    assert plane.calls[-1].gateway_name is None


def test_gateway_not_ready_is_503(plane: GatewayDataPlane, make_gateway: MakeGateway, http: httpx.Client) -> None:
    gateway = make_gateway("creating-gateway", settle=False)

    response = post_initialize(http, plane.mcp_url(gateway["gatewayId"]))

    assert response.status_code == 503
    assert response.json()["error"]["message"] == f"Gateway {gateway['gatewayId']} is CREATING"


# -- plain JSON-RPC over HTTP (what the rollout's smoke test sends) and MCP sessions -----------------------------


def rpc(
    http: httpx.Client,
    url: str,
    token: str | None,
    method: str,
    params: dict[str, Any] | None = None,
    rpc_id: int | None = 1,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        body["params"] = params
    if rpc_id is not None:
        body["id"] = rpc_id
    return http.post(url, headers=sent, json=body)


INITIALIZE = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "smoke", "version": "1"}}


def test_plain_json_rpc_client_initializes_lists_and_calls(
    plane: GatewayDataPlane, make_gateway: MakeGateway, cognito: CognitoServer, pool: Pool, http: httpx.Client
) -> None:
    gateway = make_gateway("rpc-gateway", jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id]))
    url = plane.mcp_url(gateway["gatewayId"])
    token = fetch_token(http, cognito, pool)

    initialized = rpc(http, url, token, "initialize", INITIALIZE)
    version = initialized.json()["result"]["protocolVersion"]
    after = {"MCP-Protocol-Version": version}
    notified = rpc(http, url, token, "notifications/initialized", rpc_id=None, headers=after)
    listed = rpc(http, url, token, "tools/list", {}, rpc_id=2, headers=after)
    called = rpc(
        http, url, token, "tools/call", {"name": WARRANTY_TOOL, "arguments": {"product_id": "PROD-001"}}, 3, after
    )

    assert initialized.status_code == 200
    assert initialized.headers["content-type"].startswith("application/json")
    assert version == "2025-03-26"  # the record's only version, although the client asked for 2025-06-18
    assert MCP_SESSION_ID_HEADER not in initialized.headers  # no sessionConfiguration on the record: stateless
    assert notified.status_code == 202
    assert listed.json()["id"] == 2
    assert WARRANTY_TOOL in [tool["name"] for tool in listed.json()["result"]["tools"]]
    assert called.json()["id"] == 3
    assert called.json()["result"]["isError"] is False
    assert json.loads(called.json()["result"]["content"][0]["text"]) == check_warranty("PROD-001")


def test_gateway_with_sessions_issues_and_requires_a_caller_bound_session_id(
    plane: GatewayDataPlane,
    make_gateway: MakeGateway,
    cognito: CognitoServer,
    cognito_idp: Any,
    pool: Pool,
    http: httpx.Client,
) -> None:
    other = Pool(pool.pool_id, *create_client(cognito_idp, pool.pool_id, "other-m2m"))
    authorizer = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id, other.client_id])
    mcp = {"supportedVersions": ["2025-03-26"], "sessionConfiguration": {"sessionTimeoutInSeconds": 900}}
    gateway = make_gateway("session-gateway", authorizer, targets=("WarrantyCheck",), mcp=mcp)
    url = plane.mcp_url(gateway["gatewayId"])
    token = fetch_token(http, cognito, pool)
    other_token = fetch_token(http, cognito, other)
    version = {"MCP-Protocol-Version": "2025-03-26"}

    initialized = rpc(http, url, token, "initialize", INITIALIZE)
    session = initialized.headers[MCP_SESSION_ID_HEADER]
    with_session = {**version, "Mcp-Session-Id": session}
    missing = rpc(http, url, token, "tools/list", {}, 2, version)
    unknown = rpc(http, url, token, "tools/list", {}, 2, {**version, "Mcp-Session-Id": "0" * 32})
    someone_else = rpc(http, url, other_token, "tools/list", {}, 2, with_session)
    listed = rpc(http, url, token, "tools/list", {}, 2, with_session)
    ended = http.delete(url, headers={"Authorization": f"Bearer {token}", **with_session})
    after_end = rpc(http, url, token, "tools/list", {}, 2, with_session)
    # The SDK client keeps the session id it is given and sends it on every request.
    names = sdk_session(url, token, _list_names)

    assert initialized.status_code == 200
    assert missing.status_code == 400
    assert unknown.status_code == 404
    assert someone_else.status_code == 404  # a session id alone lets no other caller in
    assert listed.status_code == 200
    assert WARRANTY_TOOL in [tool["name"] for tool in listed.json()["result"]["tools"]]
    assert ended.status_code == 200
    ending = next(call for call in plane.calls if call.reason == "session ended")
    assert (ending.method, ending.gateway_name, ending.status) == ("HTTP DELETE", "session-gateway", 200)
    assert ending.client_id is not None
    assert ended.headers["x-amzn-RequestId"] == ending.request_id
    assert after_end.status_code == 404
    assert names == [WARRANTY_TOOL]
    assert token not in repr(plane.calls)


# -- URL mapping: how agents reach the gateway -------------------------------------------------------------------


def test_local_url_maps_only_this_regions_aws_gateway_urls(plane: GatewayDataPlane) -> None:
    aws_url = f"https://my-gateway-secure-abcdefghij.gateway.bedrock-agentcore.{REGION}.amazonaws.com/mcp"
    env = {GATEWAY_ENV: aws_url, "OTHER": "https://example.com/mcp", "LOG_LEVEL": "INFO"}

    rewritten = plane.rewrite_env(env)

    assert plane.local_url(aws_url) == f"{plane.base_url}/gateways/my-gateway-secure-abcdefghij/mcp"
    assert plane.local_url(aws_url.removesuffix("/mcp")) == plane.local_url(aws_url)  # moto's URL lacks /mcp
    assert plane.local_url(aws_url.replace(REGION, "eu-west-1")) is None
    assert plane.local_url("https://evil.example.com/gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp") is None
    assert rewritten == {**env, GATEWAY_ENV: plane.local_url(aws_url)}
    assert list(rewritten) == list(env)  # same keys: only values change


def test_agent_pool_launches_agents_with_the_local_gateway_url(
    plane: GatewayDataPlane, http: httpx.Client, tmp_path: Path
) -> None:
    aws_url = f"https://my-gateway-secure-abcdefghij.gateway.bedrock-agentcore.{REGION}.amazonaws.com/mcp"
    with AgentProcessPool(
        agent_entry=STANDIN_AGENT, startup_timeout=20.0, log_dir=tmp_path, env_transform=plane.rewrite_env
    ) as agents:
        base_url = agents.get("runtime-1", {GATEWAY_ENV: aws_url, "LOG_LEVEL": "INFO"})
        response = http.post(f"{base_url}/invocations", json={"prompt": "hi", "env": [GATEWAY_ENV, "LOG_LEVEL"]})

    first = json.loads(response.text.split("\n\n")[0].removeprefix("data: "))
    assert first["env"] == {GATEWAY_ENV: plane.local_url(aws_url), "LOG_LEVEL": "INFO"}


def test_token_travels_from_the_caller_through_the_agent_to_the_lambda(
    plane: GatewayDataPlane,
    make_gateway: MakeGateway,
    make_runtime: Callable[..., dict[str, Any]],
    behaviour: AgentCoreBehaviour,
    cognito: CognitoServer,
    pool: Pool,
    http: httpx.Client,
    tmp_path: Path,
) -> None:
    """The real agent (agent/main.py) behind the runtime data plane, pointed at a JWT gateway by its AWS URL."""
    authorizer = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    gateway = make_gateway("e2e-gateway", authorizer, targets=("WarrantyCheck",))
    with behaviour.instantly():  # a runtime that is READY and live on DEFAULT
        runtime = make_runtime(
            "GatewayE2EAgent",
            authorizerConfiguration=authorizer,
            requestHeaderConfiguration={"requestHeaderAllowlist": ["Authorization"]},
            environmentVariables={"AGENT_MODEL_PROVIDER": "offline-deterministic", GATEWAY_ENV: gateway["gatewayUrl"]},
        )
    token = fetch_token(http, cognito, pool)
    before = len(plane.calls)

    with (
        AgentProcessPool(
            agent_entry=REPO_ROOT / "agent" / "main.py",
            base_env={"AWS_DEFAULT_REGION": REGION},
            startup_timeout=30.0,
            log_dir=tmp_path,
            env_transform=plane.rewrite_env,
        ) as agents,
        RuntimeDataPlane(ACCOUNT_ID, REGION, agents) as runtime_plane,
    ):
        response = http.post(
            runtime_plane.invocation_url(runtime["agentRuntimeArn"]),
            headers=invoke_headers(token),
            json={"prompt": "Is my PROD-001 still under warranty?"},
            timeout=60.0,
        )
        agent_logs = agents.logs()

    assert response.status_code == 200, response.text
    expected = check_warranty("PROD-001")
    assert expected["expires"] in response.text  # answered from the Lambda behind the gateway
    tool_calls = [c for c in plane.calls[before:] if c.method == "tools/call"]
    assert [(c.gateway_id, c.tool_name, c.client_id, c.status) for c in tool_calls] == [
        (gateway["gatewayId"], WARRANTY_TOOL, pool.client_id, 200)
    ]
    assert token not in agent_logs


# -- ambiguous or unusual credentials --------------------------------------------------------------------------


def _mcp_headers(*authorizations: str) -> list[tuple[str, str]]:
    headers = [("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json")]
    return headers + [("Authorization" if i % 2 == 0 else "authorization", a) for i, a in enumerate(authorizations)]


def _tools_call(rpc_id: int = 1) -> dict[str, Any]:
    params = {"name": WARRANTY_TOOL, "arguments": {"product_id": "PROD-001"}}
    return {"jsonrpc": "2.0", "id": rpc_id, "method": "tools/call", "params": params}


def test_jwt_gateway_answers_403_not_500_to_a_crit_token(
    plane: GatewayDataPlane, make_gateway: MakeGateway, cognito: CognitoServer, pool: Pool, http: httpx.Client
) -> None:
    gateway = make_gateway("jwt-crit-gateway", jwt_authorizer(cognito, pool.pool_id), targets=())
    claims = jwt.decode(cognito.mint_token(pool.client_id), options={"verify_signature": False})
    token = cognito.sign(claims, {"crit": ["urn:example:ext"], "urn:example:ext": True})

    response = post_initialize(http, plane.mcp_url(gateway["gatewayId"]), token)

    assert response.status_code == 403
    assert "'crit'" in response.json()["error"]["message"]


@pytest.mark.parametrize("order", ["genuine then forged", "forged then genuine", "comma-joined"])
def test_jwt_gateway_refuses_more_than_one_credential_before_any_target(
    plane: GatewayDataPlane,
    make_gateway: MakeGateway,
    cognito: CognitoServer,
    pool: Pool,
    http: httpx.Client,
    lambdas: InProcessLambdas,
    order: str,
) -> None:
    authorizer = jwt_authorizer(cognito, pool.pool_id, allowedClients=[pool.client_id])
    gateway = make_gateway(f"jwt-dup-{order.split()[0]}", authorizer, targets=("WarrantyCheck",))
    genuine = f"Bearer {fetch_token(http, cognito, pool)}"
    forged = f"Bearer {cognito.mint_token(pool.client_id, foreign_key=True)}"
    authorizations = {
        "genuine then forged": (genuine, forged),
        "forged then genuine": (forged, genuine),
        "comma-joined": (f"{genuine}, {forged}",),
    }[order]
    invocations = len(lambdas.invocations)

    response = http.post(plane.mcp_url(gateway["gatewayId"]), headers=_mcp_headers(*authorizations), json=_tools_call())

    assert response.status_code == 403
    assert response.json()["error"]["code"] == AUTH_ERROR_CODE
    assert len(lambdas.invocations) == invocations  # no target ran
    record = plane.calls[-1]
    assert (record.method, record.tool_name, record.status, record.client_id) == (
        "tools/call",
        WARRANTY_TOOL,
        403,
        None,
    )
    assert "Authorization" in record.reason
    for credential in (genuine, forged):
        assert_not_leaked(credential, repr(record) + response.text)


def test_open_gateway_refuses_duplicate_authorization_too(
    plane: GatewayDataPlane, make_gateway: MakeGateway, http: httpx.Client
) -> None:
    gateway = make_gateway("open-dup-gateway", targets=())

    response = http.post(
        plane.mcp_url(gateway["gatewayId"]), headers=_mcp_headers("Bearer a.b.c", "Bearer d.e.f"), json=_tools_call()
    )

    assert response.status_code == 403


def test_jwt_gateway_ignores_a_token_in_the_query_string(
    plane: GatewayDataPlane,
    make_gateway: MakeGateway,
    cognito: CognitoServer,
    pool: Pool,
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = make_gateway("jwt-query-gateway", jwt_authorizer(cognito, pool.pool_id), targets=())
    gateway_id = gateway["gatewayId"]
    token = fetch_token(http, cognito, pool)

    statuses = [
        post_initialize(http, f"{plane.mcp_url(gateway_id)}?{parameter}={token}")
        for parameter in ("access_token", "token")
    ]

    assert [r.status_code for r in statuses] == [401, 401]
    assert statuses[0].headers["www-authenticate"] == (
        f'Bearer resource_metadata="{plane.resource_metadata_url(gateway_id)}"'
    )
    assert [c.status for c in plane.calls[-2:]] == [401, 401]
    # The server side only: the test's own httpx client logs the URL it was given.
    server_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("sandbox", "uvicorn", "mcp")))
    assert "jwt-query-gateway" in server_logs  # requests were logged (the check below is not vacuous) ...
    for text in (server_logs, repr(plane.calls)):
        assert_not_leaked(token, text)  # ... without their query string


def test_jwt_gateway_answers_an_oversized_token_with_the_authorizers_403(
    plane: GatewayDataPlane, make_gateway: MakeGateway, cognito: CognitoServer, pool: Pool, http: httpx.Client
) -> None:
    """Not h11's 400 for a large request head: the verifier decides (over MAX_TOKEN_CHARS: 403)."""
    gateway = make_gateway("jwt-big-gateway", jwt_authorizer(cognito, pool.pool_id), targets=())
    token = cognito.mint_token(pool.client_id, padding="x" * 13_000)

    response = post_initialize(http, plane.mcp_url(gateway["gatewayId"]), token)

    assert len(token) > MAX_TOKEN_CHARS
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Authorization failed: token too large"
