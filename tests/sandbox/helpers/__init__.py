"""Helpers shared by the sandbox tests (a plain module: `conftest` is not importable by name across test dirs)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from moto.bedrockagentcorecontrol.models import bedrockagentcorecontrol_backends

from sandbox.cognito import CognitoServer
from sandbox.runtime_dataplane import SESSION_HEADER, SIGNING_SERVICE
from sandbox.sigv4 import sign

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
RESOURCE_SERVER = "customersupport"
SCOPE = f"{RESOURCE_SERVER}/invoke"
STANDIN_AGENT = Path(__file__).resolve().parents[1] / "standin_agent.py"


@dataclass(frozen=True)
class Pool:
    pool_id: str
    client_id: str
    client_secret: str


def create_client(cognito_idp: Any, pool_id: str, name: str = "m2m", **overrides: Any) -> tuple[str, str]:
    """An app client with a secret and the client_credentials flow (overridable); returns (id, secret)."""
    settings: dict[str, Any] = {
        "GenerateSecret": True,
        "AllowedOAuthFlows": ["client_credentials"],
        "AllowedOAuthScopes": [SCOPE],
        "AllowedOAuthFlowsUserPoolClient": True,
        **overrides,
    }
    client = cognito_idp.create_user_pool_client(UserPoolId=pool_id, ClientName=name, **settings)["UserPoolClient"]
    return client["ClientId"], client.get("ClientSecret", "")


def fetch_token(http: httpx.Client, cognito: CognitoServer, pool: Pool, **form: str) -> str:
    response = http.post(
        cognito.token_url,
        data={"grant_type": "client_credentials", **form},
        auth=(pool.client_id, pool.client_secret),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def runtime_record(runtime_id: str) -> Any:
    """moto's live record of a runtime (tests change it directly, as a finished update would)."""
    return bedrockagentcorecontrol_backends[ACCOUNT_ID][REGION].agent_runtimes[runtime_id]


def jwt_authorizer(cognito: CognitoServer, pool_id: str, **extra: Any) -> dict[str, Any]:
    return {"customJWTAuthorizer": {"discoveryUrl": cognito.discovery_url(pool_id), **extra}}


def new_session_id() -> str:
    return f"session-{uuid.uuid4().hex}"  # 40 characters: inside AgentCore's 33-256


def invoke_headers(token: str | None = None, session_id: str | None = None, **extra: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream, application/json",
        SESSION_HEADER: session_id or new_session_id(),
        **extra,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def harness_credentials() -> dict[str, str]:
    """The process's own credentials (what the data plane accepts, unrestricted, without a key registry)."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def signed(
    url: str, headers: Mapping[str, str], body: bytes, credentials: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`headers` SigV4-signed for InvokeAgentRuntime at `url`, as an SDK caller with `credentials` sends them."""
    return sign("POST", url, headers, body, credentials or harness_credentials(), REGION, SIGNING_SERVICE)


def assert_not_leaked(secret: str, text: str, where: str = "the text") -> None:
    """Fail if `secret` or its signature segment is in `text`, without showing either (a plain `assert ... not in`
    would print both on failure)."""
    __tracebackhide__ = True
    signature = secret.rsplit(".", 1)[-1]
    if secret in text or (len(signature) >= 20 and signature in text):
        raise AssertionError(f"a credential was found in {where}")
