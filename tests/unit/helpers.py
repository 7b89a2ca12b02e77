"""Shared constants and helpers for the unit tests (plain moto, no sandbox, no Step Functions)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import boto3
from botocore.exceptions import ClientError
from rollout_core import agentcore, desired
from rollout_core.settings import SETTINGS

if TYPE_CHECKING:
    from mypy_boto3_bedrock_agentcore_control import BedrockAgentCoreControlClient
    from rollout_core.state import CognitoConfig, Config, SwitchHandle

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"

ACCOUNT = "123456789012"
REGION = "us-east-1"
PREFIX = "/app/customersupport/agentcore"
POOL_ID = "us-east-1_AbCdEf123"
CLIENT_ID = "4example7clientid0abc"
DISCOVERY_URL = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}/.well-known/openid-configuration"
TOKEN_URL = f"https://customersupport.auth.{REGION}.amazoncognito.com/oauth2/token"
SCOPE = "customersupport/invoke"
WARRANTY_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:CustomerSupportWarrantyCheck"
OLD_WARRANTY_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:TutorialWarrantyCheck"
SHIPPING_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:CustomerSupportShippingEstimate"
RUNTIME_ROLE = f"arn:aws:iam::{ACCOUNT}:role/AgentCoreRuntimeRole"
GATEWAY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/AgentCoreGatewayRole"

SSM_VALUES: dict[str, str] = {
    "cognito_discovery_url": DISCOVERY_URL,
    "client_id": CLIENT_ID,
    "pool_id": POOL_ID,
    "cognito_token_url": TOKEN_URL,
    "cognito_auth_scope": SCOPE,
    "warranty_check_lambda_arn": WARRANTY_ARN,
}

# The deployment's settings as template.yaml passes them to every function: each setting's default, except for the
# unit tests' pool, the bucket RUNTIME_ARTIFACT's CodeZip lives in, and polls that never wait.
UNIT_DEPLOYMENT: dict[str, str | int] = {
    "userPoolId": POOL_ID,
    "artifactBucket": "customersupport-agent-code",
    "pollSeconds": 0,
    "maxPolls": 5,
}
DEFAULT_ENV: dict[str, str] = {s.env_var: str(UNIT_DEPLOYMENT.get(s.key, s.default)) for s in SETTINGS}

RUNTIME_ENV = {
    "AGENT_MODEL_PROVIDER": "offline-deterministic",
    "LOG_LEVEL": "INFO",
    "AGENTCORE_GATEWAY_MY_GATEWAY_URL": "https://placeholder.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp",
}
RUNTIME_DESCRIPTION = "Customer support agent (tutorial)"
RUNTIME_ARTIFACT = {
    "codeConfiguration": {
        "code": {"s3": {"bucket": "customersupport-agent-code", "prefix": "CustomerSupport/code.zip"}},
        "runtime": "PYTHON_3_13",
        "entryPoint": ["main.py"],
    }
}
RUNTIME_PROTOCOL = {"serverProtocol": "HTTP"}
RUNTIME_LIFECYCLE = {"idleRuntimeSessionTimeout": 900, "maxLifetime": 28800}
RUNTIME_NETWORK = {"networkMode": "PUBLIC"}
RUNTIME_HEADERS = {"requestHeaderAllowlist": ["X-Amzn-Bedrock-AgentCore-Runtime-Custom-Tenant"]}

SHIPPING_SCHEMA = [
    {
        "name": "estimate_shipping",
        "description": "Estimate shipping days to a postcode",
        "inputSchema": {"type": "object", "properties": {"postcode": {"type": "string"}}, "required": ["postcode"]},
    }
]


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' inject_lambda_context reads."""

    function_name: str = "unit-test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:unit-test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"


def client_error(code: str, message: str = "boom", operation: str = "UpdateAgentRuntime") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def fake_jwt(signature: str = "c2lnbmF0dXJl") -> str:
    return f"eyJhbGciOiJSUzI1NiJ9.eyJjbGllbnRfaWQiOiJhYmMifQ.{signature}"


@dataclass
class Recorded:
    """One request as the server saw it; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Route = Callable[["Recorded"], tuple[int, dict[str, str], bytes]]


@dataclass
class LocalServer:
    """A tiny HTTP server on 127.0.0.1; `route` decides each answer, every request is recorded."""

    route: Route
    requests: list[Recorded] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    base_url: str = ""


@contextmanager
def local_http_server(route: Route) -> Iterator[LocalServer]:
    server_state = LocalServer(route=route)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.answer("POST")

        def do_DELETE(self) -> None:
            self.answer("DELETE")

        def answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            headers_lower = {key.lower(): value for key, value in self.headers.items()}  # names are case-insensitive
            recorded = Recorded(method, self.path, headers_lower, self.rfile.read(length))
            server_state.requests.append(recorded)
            try:
                status, headers, body = server_state.route(recorded)
            except Exception as exc:  # surface route assertion failures to the test instead of dropping the socket
                server_state.errors.append(repr(exc))
                status, headers, body = 500, {"Content-Type": "text/plain"}, repr(exc).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def json_response(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def put_ssm(values: dict[str, str]) -> None:
    ssm = boto3.client("ssm")
    for name, value in values.items():
        ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String", Overwrite=True)


@dataclass
class Seeded:
    runtime_id: str
    runtime_arn: str
    old_gateway_id: str
    old_gateway_url: str
    target_ids: dict[str, str]


def create_gateway_with_targets(client: Any, name: str, authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "name": name,
        "description": "Customer support tools (tutorial)",
        "roleArn": GATEWAY_ROLE,
        "protocolType": "MCP",
        "protocolConfiguration": {"mcp": {"supportedVersions": ["2025-03-26"], "searchType": "SEMANTIC"}},
        "authorizerType": "CUSTOM_JWT" if authorizer else "NONE",
    }
    if authorizer:
        request["authorizerConfiguration"] = authorizer
    return dict(client.create_gateway(**request))


def seed_tutorial(client: Any) -> Seeded:
    """The tutorial's end state: runtime CustomerSupport, open gateway my-gateway with two Lambda targets."""
    gateway = create_gateway_with_targets(client, "my-gateway")
    gateway_id = gateway["gatewayId"]
    target_ids = {}
    for name, arn, schema in (
        (
            "WarrantyCheck",
            OLD_WARRANTY_ARN,
            [{"name": "old_tool", "description": "stale schema", "inputSchema": {"type": "object"}}],
        ),
        ("ShippingEstimate", SHIPPING_ARN, SHIPPING_SCHEMA),
    ):
        target = client.create_gateway_target(
            gatewayIdentifier=gateway_id,
            name=name,
            description=f"{name} tool (tutorial)",
            targetConfiguration={"mcp": {"lambda": {"lambdaArn": arn, "toolSchema": {"inlinePayload": schema}}}},
            credentialProviderConfigurations=[{"credentialProviderType": "GATEWAY_IAM_ROLE"}],
        )
        target_ids[name] = target["targetId"]
    runtime = client.create_agent_runtime(
        agentRuntimeName="CustomerSupport",
        description=RUNTIME_DESCRIPTION,
        agentRuntimeArtifact=copy.deepcopy(RUNTIME_ARTIFACT),
        roleArn=RUNTIME_ROLE,
        networkConfiguration=copy.deepcopy(RUNTIME_NETWORK),
        protocolConfiguration=copy.deepcopy(RUNTIME_PROTOCOL),
        lifecycleConfiguration=copy.deepcopy(RUNTIME_LIFECYCLE),
        requestHeaderConfiguration=copy.deepcopy(RUNTIME_HEADERS),
        environmentVariables=dict(RUNTIME_ENV),
    )
    # AgentCore creates it with the runtime; plain moto does not.
    client.create_agent_runtime_endpoint(agentRuntimeId=runtime["agentRuntimeId"], name="DEFAULT")
    return Seeded(
        runtime_id=runtime["agentRuntimeId"],
        runtime_arn=runtime["agentRuntimeArn"],
        old_gateway_id=gateway_id,
        old_gateway_url=gateway["gatewayUrl"],
        target_ids=target_ids,
    )


class FakeCognitoIdp:
    """DescribeUserPool for the unit tests' pool (moto cannot create a pool with a chosen id); records reads."""

    def __init__(self, domain: str | None = "customersupport") -> None:
        self.domain = domain
        self.described: list[str] = []

    def describe_user_pool(self, UserPoolId: str) -> dict[str, Any]:
        self.described.append(UserPoolId)
        pool: dict[str, Any] = {"Id": UserPoolId}
        if self.domain:
            pool["Domain"] = self.domain
        return {"UserPool": pool}


def run_load_config(
    client: Any,
    raw: Any = None,
    env: dict[str, str] | None = None,
    cognito_idp: FakeCognitoIdp | None = None,
    s3: Any = None,
) -> Config:
    """load_config with the deployment's env, moto SSM and the fake Cognito (no execution: no queue wait)."""
    # Imported here, not with this module: conftest imports it before pytest collects (and sets Powertools up for)
    # the test modules that import the handlers.
    from functions.load_config import app

    idp: Any = cognito_idp or FakeCognitoIdp()  # DescribeUserPool only
    config: Config = app.load_config(
        raw,
        DEFAULT_ENV if env is None else env,
        client,
        region=REGION,
        account_id=ACCOUNT,
        ssm=boto3.client("ssm", region_name=REGION),
        cognito_idp=idp,
        s3=s3,
    )
    return config


# --- shared by the handlers' test files ---------------------------------------------------------------------------

SECURE = desired.jwt_authorizer(DISCOVERY_URL, CLIENT_ID, [SCOPE])
NEW_ENV_VAR = "AGENTCORE_GATEWAY_MY_GATEWAY_SECURE_URL"
NEW_GATEWAY = "my-gateway-secure"
NEW_URL = "https://my-gateway-secure-0123456789.gateway.bedrock-agentcore.us-east-1.amazonaws.com"


def make_ready(backend: Any, runtime_id: str) -> None:
    """moto leaves an updated runtime UPDATING forever; AWS settles it to READY, then DEFAULT serves the version."""
    runtime = backend.agent_runtimes[runtime_id]
    runtime.status = "READY"
    default_endpoint(backend, runtime_id).update(agent_runtime_version=runtime.agent_runtime_version, description=None)
    make_live(backend, runtime_id)


def default_endpoint(backend: Any, runtime_id: str) -> Any:
    return backend.agent_runtime_endpoints[(runtime_id, "DEFAULT")]


def make_live(backend: Any, runtime_id: str) -> None:
    endpoint = default_endpoint(backend, runtime_id)
    endpoint.status, endpoint.live_version = "READY", endpoint.target_version


def runtime_record(client: Any, runtime_id: str) -> dict[str, Any]:
    return agentcore.get_runtime(client, runtime_id)


def assert_secured_with_settings_kept(after: dict[str, Any], environment: dict[str, str]) -> None:
    """The runtime record after a securing update: the JWT authorizer, Authorization added to the header allowlist,
    `environment` as its variables, and every other setting as the tutorial deployed it."""
    assert after["authorizerConfiguration"] == SECURE
    assert after["requestHeaderConfiguration"] == {
        "requestHeaderAllowlist": [*RUNTIME_HEADERS["requestHeaderAllowlist"], "Authorization"]
    }
    assert after["environmentVariables"] == environment
    assert after["description"] == RUNTIME_DESCRIPTION
    assert after["protocolConfiguration"] == RUNTIME_PROTOCOL
    assert after["lifecycleConfiguration"] == RUNTIME_LIFECYCLE
    assert after["networkConfiguration"] == RUNTIME_NETWORK
    assert after["agentRuntimeArtifact"] == RUNTIME_ARTIFACT
    assert after["roleArn"] == RUNTIME_ROLE


def target_names(client: Any, gateway_id: str) -> list[str]:
    return sorted(t["name"] for t in client.list_gateway_targets(gatewayIdentifier=gateway_id)["items"])


def switch(client: Any, runtime_id: str, url: str = "", **kwargs: Any) -> SwitchHandle:
    """The switch with the unit tests' Cognito settings, pointing at `url` (NEW_URL by default)."""
    from functions.switch_runtime import app  # imported here for the reason run_load_config gives

    cognito = cast("CognitoConfig", {"discoveryUrl": DISCOVERY_URL, "clientId": CLIENT_ID, "scopes": [SCOPE]})
    return app.switch_runtime(client, runtime_id, cognito, NEW_ENV_VAR, url or NEW_URL, NEW_GATEWAY, **kwargs)


class RecordingClient:
    """Forwards to the moto client, recording the mutating calls in order."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not name.startswith("delete_"):
            return method

        def recorded(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs.get("targetId", kwargs.get("gatewayIdentifier"))))
            return method(**kwargs)

        return recorded


def as_agentcore(fake: object) -> BedrockAgentCoreControlClient:
    """A stand-in that has only the calls a test needs, passed where the typed AgentCore client is expected."""
    return cast("BedrockAgentCoreControlClient", fake)


T = TypeVar("T")


def present(value: T | None) -> T:
    """A value the test expects to be there (a plan's createRequest, afterCreate...): fails the test otherwise."""
    assert value is not None
    return value
