"""The security suite: the sandbox attacked the way an outsider (or a careless operator) would.

Two kinds of fixtures:
- `secured`: the whole deployed sandbox after a real rollout (SSM hijacks, dangerous inputs, end users, the JWT
  catalog against what the rollout left behind);
- `secured_planes`: one offline account with just a JWT-secured runtime and gateway and both data planes, with a
  stand-in agent behind the runtime (so a credential that got past the data plane would be seen there).

Every test adds rows to one table (attack -> expected -> observed), printed at the end of the run; any miss fails.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from sandbox.agent_host import AgentProcessPool
from sandbox.behaviour import read_until
from sandbox.cognito import CognitoServer
from sandbox.core import Sandbox
from sandbox.gateway_dataplane import GatewayDataPlane
from sandbox.runtime_dataplane import RuntimeDataPlane
from sandbox.seed import create_m2m_pool
from tests.security.helpers import (
    ACCOUNT_ID,
    REGION,
    ROWS,
    SCOPE,
    STANDIN_AGENT,
    LogRecords,
    Secured,
    drain,
    format_rows,
)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ROWS:
        terminalreporter.section("security: attack -> expected -> observed")
        terminalreporter.write_line(format_rows(ROWS))


@pytest.fixture(scope="module")
def secured() -> Iterator[Sandbox]:
    """A sandbox where the rollout already secured the tutorial's runtime and gateway."""
    with Sandbox(poll_seconds=0, max_polls=10) as sandbox:
        execution = sandbox.run_rollout({})
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        assert json.loads(execution["output"])["verified"] is True
        drain(sandbox)
        yield sandbox


@pytest.fixture(autouse=True)
def empty_inbox(request: pytest.FixtureRequest) -> None:
    """Every test on the shared secured sandbox starts with an empty notification inbox, whatever ran before it."""
    if "secured" in request.fixturenames:
        request.getfixturevalue("secured").notifications()


@pytest.fixture(scope="module")
def server_logs() -> Iterator[LogRecords]:
    """DEBUG records of the server side only (the test's own HTTP client logs the URLs it is given)."""
    handler = LogRecords()
    loggers = [logging.getLogger(name) for name in ("sandbox", "uvicorn", "uvicorn.access", "uvicorn.error", "mcp")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcessPool]:
    with AgentProcessPool(
        agent_entry=STANDIN_AGENT, startup_timeout=20.0, log_dir=tmp_path_factory.mktemp("agents")
    ) as pool:
        yield pool


@pytest.fixture(scope="module")
def runtime_plane(aws: None, agents: AgentProcessPool, server_logs: LogRecords) -> Iterator[RuntimeDataPlane]:
    with RuntimeDataPlane(ACCOUNT_ID, REGION, agents) as plane:
        yield plane


@pytest.fixture(scope="module")
def gateway_plane(aws: None, server_logs: LogRecords) -> Iterator[GatewayDataPlane]:
    with GatewayDataPlane(ACCOUNT_ID, REGION) as plane:
        yield plane


def _settle(read: Any, what: str) -> None:
    read_until(read, what, polls=10)


@pytest.fixture(scope="module")
def secured_planes(boto_session: boto3.session.Session, cognito: CognitoServer, http: httpx.Client) -> Secured:
    idp = boto_session.client("cognito-idp")
    control: Any = boto_session.client("bedrock-agentcore-control")
    pool_id, client_id, secret = create_m2m_pool(
        idp, "SecuritySuitePool", f"security-{uuid.uuid4().hex[:8]}", ("invoke", "admin"), "m2m"
    )
    response = http.post(
        cognito.token_url,
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, "the token endpoint refused the allowed client"
    authorizer = {
        "customJWTAuthorizer": {
            "discoveryUrl": cognito.discovery_url(pool_id),
            "allowedClients": [client_id],
            "allowedScopes": [SCOPE],
        }
    }
    runtime = control.create_agent_runtime(
        agentRuntimeName="SecuritySuiteAgent",
        agentRuntimeArtifact={
            "codeConfiguration": {
                "code": {"s3": {"bucket": "agent-code", "prefix": "SecuritySuiteAgent/code.zip"}},
                "runtime": "PYTHON_3_13",
                "entryPoint": ["main.py"],
            }
        },
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/AgentCoreRuntimeRole",
        networkConfiguration={"networkMode": "PUBLIC"},
        protocolConfiguration={"serverProtocol": "HTTP"},
        authorizerConfiguration=authorizer,
        requestHeaderConfiguration={"requestHeaderAllowlist": ["Authorization"]},
    )
    _settle(lambda: control.get_agent_runtime(agentRuntimeId=runtime["agentRuntimeId"]), "runtime")
    gateway = control.create_gateway(
        name="security-suite-gateway",
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/AgentCoreGatewayRole",
        protocolType="MCP",
        protocolConfiguration={"mcp": {"supportedVersions": ["2025-03-26"]}},
        authorizerType="CUSTOM_JWT",
        authorizerConfiguration=authorizer,
    )
    _settle(lambda: control.get_gateway(gatewayIdentifier=gateway["gatewayId"]), "gateway")
    return Secured(
        pool_id=pool_id,
        client_id=client_id,
        token=response.json()["access_token"],
        authorizer=authorizer,
        runtime_id=runtime["agentRuntimeId"],
        runtime_arn=runtime["agentRuntimeArn"],
        gateway_id=gateway["gatewayId"],
    )
